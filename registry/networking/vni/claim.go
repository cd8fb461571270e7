package vni

import (
	"encoding/json"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Holder is the Network a VNI is claimed for.
type Holder struct {
	Namespace string
	Name      string
	// UID tells a network from a later one with the same name.
	UID types.UID
}

// String returns namespace/name.
func (h Holder) String() string { return h.Namespace + "/" + h.Name }

// Claim is what the etcd key of one VNI holds.
type Claim struct {
	// VNI is the claimed identifier.
	VNI int32
	// Holder is the network the VNI was claimed for; its UID is empty in claims written
	// before claims carried UIDs.
	Holder Holder
	// Released is when the network was found gone; nil while the network holds the VNI. A
	// released claim is in quarantine: its key carries an etcd lease, and etcd deletes it when
	// the quarantine ends.
	Released *time.Time
	// Revision is the etcd modification revision of the key, for compare-and-swap.
	Revision int64
}

// HeldBy reports whether the claim is live and belongs to h (by name alone for a claim
// without a UID).
func (c Claim) HeldBy(h Holder) bool {
	return c.Released == nil && c.Holder.Namespace == h.Namespace && c.Holder.Name == h.Name &&
		(c.Holder.UID == "" || c.Holder.UID == h.UID)
}

// record is the JSON stored in the claim key.
type record struct {
	Namespace string     `json:"namespace"`
	Name      string     `json:"name"`
	UID       types.UID  `json:"uid,omitempty"`
	Released  *time.Time `json:"released,omitempty"`
}

func encodeClaim(h Holder, released *time.Time) string {
	data, err := json.Marshal(record{Namespace: h.Namespace, Name: h.Name, UID: h.UID, Released: released})
	if err != nil {
		panic(err) // strings and a time always marshal
	}
	return string(data)
}

// decodeClaim reads a claim value: JSON, or "namespace/name" as written by earlier versions.
// A value that is neither still counts as a claim (of nobody known), so its VNI is never
// handed out twice.
func decodeClaim(vni int32, value []byte, revision int64) Claim {
	claim := Claim{VNI: vni, Revision: revision}
	var r record
	if len(value) > 0 && value[0] == '{' && json.Unmarshal(value, &r) == nil {
		claim.Holder = Holder{Namespace: r.Namespace, Name: r.Name, UID: r.UID}
		claim.Released = r.Released
		return claim
	}
	claim.Holder.Namespace, claim.Holder.Name, _ = strings.Cut(string(value), "/")
	return claim
}
