package networking

// NetworkProtectionFinalizer keeps a Network in etcd while NetworkInterfaces use it. The
// apiserver adds it at create; the controller manager's network protection controller removes
// it once no interface references the network.
const NetworkProtectionFinalizer = "networking.ferrite.dev/network-protection"
