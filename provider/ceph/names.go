package ceph

import "strings"

// Names of everything the provider makes in the pool. With an instance, "ferrite-" becomes
// "ferrite-<instance>-" so that two providers on one pool never see each other's objects.

// names derives the provider's names from its instance.
type names struct {
	prefix string // "ferrite-" or "ferrite-<instance>-"
}

func newNames(instance string) names {
	if instance == "" {
		return names{prefix: "ferrite-"}
	}
	return names{prefix: "ferrite-" + instance + "-"}
}

// volumeImage is the RBD image of a volume.
func (n names) volumeImage(id string) string { return n.prefix + "volume-" + id }

// volumeID is the volume ID of a volume image name, or false.
func (n names) volumeID(imageName string) (string, bool) {
	return strings.CutPrefix(imageName, n.prefix+"volume-")
}

// baseImage is the RBD image an OCI image's root disk is imported into, by manifest digest hex.
func (n names) baseImage(digestHex string) string { return n.prefix + "image-" + digestHex }

// importingImage is the temporary name of a base image being imported.
func (n names) importingImage(digestHex string) string {
	return n.prefix + "importing-" + digestHex
}

// isImportLeftover reports whether imageName is a temporary import image.
func (n names) isImportLeftover(imageName string) bool {
	return strings.HasPrefix(imageName, n.prefix+"importing-")
}

// user is the cephx entity of a volume's own user ("client.ferrite-volume-<id>").
func (n names) user(id string) string { return "client." + n.volumeImage(id) }

// userVolumeID is the volume ID of a cephx entity name, or false.
func (n names) userVolumeID(entity string) (string, bool) {
	return strings.CutPrefix(entity, "client."+n.prefix+"volume-")
}

// keysObject is the RADOS object whose omap holds the volumes' LUKS passphrases. Only the
// provider's user can read it: the volumes' users have caps on their own image's objects only.
func (n names) keysObject() string {
	return strings.ReplaceAll(n.prefix, "-", "_") + "volume_keys"
}

// baseSnapshot is the snapshot of a base image that volumes are cloned from.
const baseSnapshot = "base"

// snapshotPrefix starts the RBD snapshot name of a Ferrite snapshot.
const snapshotPrefix = "ferrite-snapshot-"

// snapshotName is the RBD snapshot of a Ferrite snapshot.
func snapshotName(id string) string { return snapshotPrefix + id }
