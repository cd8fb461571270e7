package compute

// ClassProtectionFinalizer keeps a MachineClass that Machines still use from being deleted. The
// apiserver adds it to every new class; the controller manager adds it to older classes and
// removes it once the class is being deleted and no Machine uses it.
const ClassProtectionFinalizer = "compute.ferrite.dev/class-protection"
