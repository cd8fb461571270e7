// Package nocloud writes cloud-init NoCloud config drives: ISO 9660 images labelled "cidata"
// holding user-data, meta-data and network-config.
package nocloud

import "errors"

// Config is what a config drive tells the guest.
type Config struct {
	InstanceID        string
	Hostname          string
	UserData          []byte
	NetworkInterfaces []Interface
}

// Interface is a guest NIC, matched by its MAC address.
type Interface struct {
	Name       string
	MACAddress string
	IPs        []string // CIDR ("10.0.0.5/24") or bare ("10.0.0.5")
}

// Write writes the config drive for c to path (through a temporary file renamed into place, mode
// 0600).
func Write(path string, c Config) error {
	return errors.New("nocloud.Write: not implemented yet")
}
