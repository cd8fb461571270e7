// Package nocloud writes cloud-init NoCloud config drives: ISO 9660 images labelled "cidata"
// holding user-data, meta-data and network-config (version 2, NICs matched by MAC address).
package nocloud

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kdomanski/iso9660"
)

// VolumeLabel is the ISO 9660 volume label cloud-init looks for.
const VolumeLabel = "cidata"

// Config is what a config drive tells the guest.
type Config struct {
	InstanceID        string
	Hostname          string
	UserData          []byte
	NetworkInterfaces []Interface
}

// Interface is a guest NIC, matched by its MAC address.
type Interface struct {
	// Name is the name the guest gives the NIC ("eth0"); empty keeps the guest's own name.
	Name       string
	MACAddress string
	// IPs are static addresses, CIDR ("10.0.0.5/24") or bare ("10.0.0.5", taken as /32 or
	// /128). A NIC without IPs asks for DHCP (v4).
	IPs []string
}

// Write writes the config drive for c to path: through a temporary file in the same directory
// renamed into place, so a crash never leaves a half image under path; mode 0600.
func Write(path string, c Config) error {
	files, err := Files(c)
	if err != nil {
		return err
	}
	w, err := iso9660.NewWriter()
	if err != nil {
		return fmt.Errorf("nocloud: %w", err)
	}
	defer w.Cleanup()
	for _, name := range []string{"meta-data", "user-data", "network-config"} {
		if err := w.AddFile(bytes.NewReader(files[name]), name); err != nil {
			return fmt.Errorf("nocloud: adding %s: %w", name, err)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("nocloud: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	defer tmp.Close()
	if err := w.WriteTo(tmp, VolumeLabel); err != nil {
		return fmt.Errorf("nocloud: writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("nocloud: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("nocloud: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("nocloud: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("nocloud: %w", err)
	}
	return nil
}

// Files returns the contents of the drive's files ("meta-data", "user-data", "network-config")
// for c, or an error naming the field of c that is wrong.
func Files(c Config) (map[string][]byte, error) {
	if c.InstanceID == "" {
		return nil, errors.New("nocloud: InstanceID is required")
	}
	var meta strings.Builder
	fmt.Fprintf(&meta, "instance-id: %s\n", strconv.Quote(c.InstanceID))
	if c.Hostname != "" {
		fmt.Fprintf(&meta, "local-hostname: %s\n", strconv.Quote(c.Hostname))
	}
	network, err := networkConfig(c.NetworkInterfaces)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		"meta-data":      []byte(meta.String()),
		"user-data":      c.UserData,
		"network-config": network,
	}, nil
}

// networkConfig renders cloud-init's network config version 2. Every scalar is double-quoted
// so that no value is read as another YAML type; one item per line keeps it easy to read for a
// minimal guest too.
func networkConfig(nics []Interface) ([]byte, error) {
	var b strings.Builder
	b.WriteString("version: 2\n")
	if len(nics) == 0 {
		return []byte(b.String()), nil
	}
	b.WriteString("ethernets:\n")
	seen := map[string]bool{}
	for i, nic := range nics {
		mac, err := net.ParseMAC(nic.MACAddress)
		if err != nil || len(mac) != 6 {
			return nil, fmt.Errorf("nocloud: NetworkInterfaces[%d].MACAddress %q is not a MAC address", i, nic.MACAddress)
		}
		key := nic.Name
		if key == "" {
			key = fmt.Sprintf("nic%d", i)
		}
		if seen[key] {
			return nil, fmt.Errorf("nocloud: NetworkInterfaces[%d].Name %q is used twice", i, key)
		}
		seen[key] = true
		fmt.Fprintf(&b, "  %s:\n", strconv.Quote(key))
		fmt.Fprintf(&b, "    match:\n      macaddress: %s\n", strconv.Quote(mac.String()))
		if nic.Name != "" {
			fmt.Fprintf(&b, "    set-name: %s\n", strconv.Quote(nic.Name))
		}
		if len(nic.IPs) == 0 {
			b.WriteString("    dhcp4: true\n")
			continue
		}
		b.WriteString("    addresses:\n")
		for j, ip := range nic.IPs {
			prefix, err := parseAddress(ip)
			if err != nil {
				return nil, fmt.Errorf("nocloud: NetworkInterfaces[%d].IPs[%d] %q: %w", i, j, ip, err)
			}
			fmt.Fprintf(&b, "      - %s\n", strconv.Quote(prefix.String()))
		}
	}
	return []byte(b.String()), nil
}

// parseAddress reads "10.0.0.5/24" or a bare "10.0.0.5" (a host address).
func parseAddress(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, errors.New("not an address in CIDR notation")
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, errors.New("not an IP address")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
