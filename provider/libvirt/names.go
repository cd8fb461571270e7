package libvirt

import (
	"crypto/sha256"
	"fmt"
	"net"
	"strings"

	"github.com/google/uuid"
)

// Names derived from a machine ID: the domain's name and UUID, and the defaults for a NIC's MAC
// address and tap device. Each is a pure function of the ID (and NIC name), so a retried create,
// a provider restart and a reaper all arrive at the same names.

// DomainPrefix starts the name of every domain the provider defines.
const DomainPrefix = "ferrite-"

// DomainName is the name of the domain of a machine.
func DomainName(id string) string { return DomainPrefix + id }

// machineIDOf returns the machine ID a domain name stands for, or "" for a name the provider does
// not give. Only the domain's metadata proves that the domain is the provider's.
func machineIDOf(name string) string {
	id, ok := strings.CutPrefix(name, DomainPrefix)
	if !ok {
		return ""
	}
	return id
}

// DomainUUID is the UUID of the domain of a machine: the ID itself when it is a UUID (Kubernetes
// UIDs are), otherwise a name-based UUID (version 5) of the ID, so that libvirt refuses a second
// domain for one machine even under another name.
func DomainUUID(id string) string {
	if u, err := uuid.Parse(id); err == nil && len(id) == 36 {
		return u.String()
	}
	return uuid.NewSHA1(uuidNamespace, []byte(id)).String()
}

// uuidNamespace is the namespace of the name-based domain UUIDs (itself derived from the metadata
// namespace, so it is stable and the provider's own).
var uuidNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte(MetadataNamespace))

// DefaultMAC is the guest MAC address of a NIC whose spec leaves it empty: 02 (locally
// administered, unicast) and five bytes of a hash of the machine ID and NIC name.
func DefaultMAC(id, nic string) string {
	sum := sha256.Sum256([]byte(id + "/" + nic))
	return net.HardwareAddr(append([]byte{0x02}, sum[:5]...)).String()
}

// DefaultTap is the host tap device of a NIC whose spec leaves it empty: "fr" and 13 hex digits
// of a hash of the machine ID and NIC name (15 characters, the Linux limit).
func DefaultTap(id, nic string) string {
	sum := sha256.Sum256([]byte("tap/" + id + "/" + nic))
	return fmt.Sprintf("fr%x", sum[:7])[:15]
}
