// Package tapdevice derives the host tap device name and the guest MAC address of a
// NetworkInterface from its UID. The machinepoollet passes both to the machine runtime, and the
// network agent on the same host derives them again to find the tap of a NetworkInterface, so
// the two never need to exchange a mapping.
package tapdevice

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// Prefix starts every tap name Ferrite derives, so the network agent can tell Ferrite's taps
// from others on the host.
const Prefix = "fr"

// Name is the tap device of the NetworkInterface with this UID: "fr" and 13 hex digits of a
// hash of the UID, 15 characters, the kernel's limit for an interface name.
func Name(uid string) string {
	sum := sha256.Sum256([]byte("tap/" + uid))
	return Prefix + hex.EncodeToString(sum[:])[:13]
}

// MACAddress is the guest MAC address of the NetworkInterface with this UID: a locally
// administered unicast address (first byte 0x02) and five bytes of a hash of the UID.
func MACAddress(uid string) string {
	sum := sha256.Sum256([]byte("mac/" + uid))
	return fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", sum[0], sum[1], sum[2], sum[3], sum[4])
}
