package storage

// ClassProtectionFinalizer keeps a VolumeClass that Volumes (or Machines' ephemeral volume
// templates) still use from being deleted. The apiserver adds it to every new class; the
// controller manager adds it to older classes and removes it once the class is being deleted
// and nothing uses it.
const ClassProtectionFinalizer = "storage.ferrite.dev/class-protection"
