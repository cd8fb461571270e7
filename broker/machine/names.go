package machine

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
)

// Labels and annotations the broker sets on the objects it makes in the lower cluster.
const (
	// LabelID carries the runtime ID (the upper object's UID) on every object a create makes, in
	// the short form of Ref.
	LabelID = "broker.ferrite.dev/id"
	// LabelNetworkUID carries the upper Network's UID on the lower Network made for it.
	LabelNetworkUID = "broker.ferrite.dev/network-uid"
	// AnnotationID is the runtime ID in full.
	AnnotationID = "broker.ferrite.dev/id"
	// AnnotationLabels holds the runtime labels of the machine (JSON), which ListMachines
	// filters by.
	AnnotationLabels = "broker.ferrite.dev/labels"
	// AnnotationSpec holds the runtime spec the machine was created with (protobuf JSON, without
	// user data and secret key data), so that the caller reads back what it asked for.
	AnnotationSpec = "broker.ferrite.dev/spec"
	// AnnotationLastRebootID is the reboot_id of the last RebootMachine carried out.
	AnnotationLastRebootID = "broker.ferrite.dev/last-reboot-id"
	// AnnotationRebootRequest is the lower machinepoollet's reboot annotation
	// (poollet/machine.AnnotationRebootRequest).
	AnnotationRebootRequest = "compute.ferrite.dev/reboot-requested-at"
	// IgnitionKey is the key of the user data in the lower Secret.
	IgnitionKey = "ignition.json"
)

// dnsLabel is what a runtime ID must look like to be used unchanged in names and label values.
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$`)

// Ref is the form of a runtime ID used in lower object names and the ID label: the ID itself
// when it is a short lowercase DNS label (an upper UID is), else "x" and 40 hex digits of its
// SHA-256, so that any valid ID yields valid names.
func Ref(id string) string {
	if dnsLabel.MatchString(id) {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "x" + hex.EncodeToString(sum[:20])
}

// MachineName is the lower Machine of runtime ID id.
func MachineName(id string) string { return "m-" + Ref(id) }

// SecretName is the lower Secret holding the user data of runtime ID id.
func SecretName(id string) string { return MachineName(id) + "-ignition" }

// NetworkInterfaceName is the lower NetworkInterface of the machine's interface nic.
func NetworkInterfaceName(id, nic string) string { return MachineName(id) + "-" + nic }

// NetworkName is the lower Network standing for the upper Network with UID uid.
func NetworkName(uid string) string { return "n-" + Ref(strings.ToLower(uid)) }
