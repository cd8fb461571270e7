package kernel

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// overlayMTU returns the configured MTU, or the underlay device's minus the VXLAN overhead.
func (d *Dataplane) overlayMTU() (int, error) {
	if d.cfg.MTU != 0 {
		return d.cfg.MTU, nil
	}
	addrs, err := d.nl.AddrList(nil, unix.AF_INET)
	if err != nil {
		return 0, fmt.Errorf("underlay mtu: list addresses: %w", err)
	}
	for _, a := range addrs {
		if a.IP.Equal(d.cfg.Underlay.AsSlice()) {
			l, err := d.nl.LinkByIndex(a.LinkIndex)
			if err != nil {
				return 0, fmt.Errorf("underlay mtu: device of %s: %w", d.cfg.Underlay, err)
			}
			return l.Attrs().MTU - vxlanOverhead, nil
		}
	}
	return 0, fmt.Errorf("underlay mtu: no device has the underlay address %s", d.cfg.Underlay)
}

// vniOf returns the VNI of a Ferrite VXLAN device name (fvx<VNI>).
func vniOf(name string) (uint32, bool) {
	s, ok := strings.CutPrefix(name, "fvx")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 32)
	return uint32(v), err == nil && DeviceName(uint32(v)) == name
}

// ensureDevice makes the VNI's VXLAN device exist with the right settings, up, with mtu (when
// known). Settings the kernel cannot change in place (VNI, port, source, learning) make it
// recreate the device.
func (d *Dataplane) ensureDevice(vni uint32, mtu int, have netlink.Link) (netlink.Link, error) {
	name := DeviceName(vni)
	mac := RouterMAC(d.cfg.Underlay)
	if vx, ok := have.(*netlink.Vxlan); have != nil && (!ok || vx.VxlanId != int(vni) || vx.Port != d.cfg.Port ||
		vx.Learning || !vx.SrcAddr.Equal(d.cfg.Underlay.AsSlice())) {
		d.log.Info("vni device differs, recreating", "device", name)
		if err := d.nl.LinkDel(have); err != nil {
			return nil, fmt.Errorf("vni %d: delete mismatched %s: %w", vni, name, err)
		}
		have = nil
	}
	if have == nil {
		vx := &netlink.Vxlan{
			LinkAttrs: netlink.LinkAttrs{Name: name, HardwareAddr: mac, MTU: mtu},
			VxlanId:   int(vni),
			SrcAddr:   d.cfg.Underlay.AsSlice(),
			Port:      d.cfg.Port,
			Learning:  false,
		}
		if err := d.nl.LinkAdd(vx); err != nil {
			return nil, fmt.Errorf("vni %d: create vxlan %s: %w", vni, name, err)
		}
		d.log.Info("vni device created", "vni", vni, "device", name, "table", d.Table(vni))
		var err error
		if have, err = d.nl.LinkByName(name); err != nil {
			return nil, fmt.Errorf("vni %d: %s: %w", vni, name, err)
		}
	}
	if !bytes.Equal(have.Attrs().HardwareAddr, mac) {
		if err := d.nl.LinkSetHardwareAddr(have, mac); err != nil {
			return nil, fmt.Errorf("vni %d: set %s mac: %w", vni, name, err)
		}
	}
	if mtu > 0 && have.Attrs().MTU != mtu {
		if err := d.nl.LinkSetMTU(have, mtu); err != nil {
			return nil, fmt.Errorf("vni %d: set %s mtu %d: %w", vni, name, mtu, err)
		}
	}
	if have.Attrs().Flags&net.FlagUp == 0 {
		if err := d.nl.LinkSetUp(have); err != nil {
			return nil, fmt.Errorf("vni %d: set %s up: %w", vni, name, err)
		}
	}
	// Decapsulated packets come from hosts' guests whose sources the main table (which the
	// kernel's reverse-path check uses) does not know.
	if err := sysctl("net/ipv4/conf/"+name+"/rp_filter", "0"); err != nil {
		return nil, fmt.Errorf("vni %d: %w", vni, err)
	}
	return have, nil
}

// ensureInterface prepares a local interface: up, overlay MTU, and proxy ARP answering at once
// for every address its VNI's table routes elsewhere (the kernel delays proxy replies by up to
// 0.8 s by default, which loses a machine's first packets).
func (d *Dataplane) ensureInterface(link netlink.Link, mtu int) error {
	name := link.Attrs().Name
	var errs []error
	if mtu > 0 && link.Attrs().MTU != mtu {
		if err := d.nl.LinkSetMTU(link, mtu); err != nil {
			errs = append(errs, fmt.Errorf("interface %s: set mtu %d: %w", name, mtu, err))
		}
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		if err := d.nl.LinkSetUp(link); err != nil {
			errs = append(errs, fmt.Errorf("interface %s: set up: %w", name, err))
		}
	}
	for _, s := range [][2]string{
		{"net/ipv4/conf/" + name + "/proxy_arp", "1"},
		{"net/ipv4/neigh/" + name + "/proxy_delay", "0"},
		// The kernel checks sources against the main table, which does not know the VNI's
		// prefixes; isolation comes from the iif rule and the VNI table instead.
		{"net/ipv4/conf/" + name + "/rp_filter", "0"},
	} {
		if err := sysctl(s[0], s[1]); err != nil {
			errs = append(errs, fmt.Errorf("interface %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}
