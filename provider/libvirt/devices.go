package libvirt

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"libvirt.org/go/libvirt"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// Volumes and NICs. A change is first stored in the spec (the domain's metadata), then
// applyDevices brings the domain in line with the spec: level-triggered, so a change the domain
// did not take (libvirt down, a crash in between) is made by the next attempt, sync or event.

// applyDevices attaches the spec's disks and NICs that the domain lacks and detaches the
// provider's disks and NICs that the spec no longer has: in the persistent definition and, when
// the domain runs, live (hot-plug). A live detach completes when the guest releases the device
// (the device-removed event brings the provider back here). Files of empty disks that are in
// neither the spec nor the domain are deleted, and so are libvirt secrets no disk uses. The caller
// holds m.op.
func (p *Provider) applyDevices(lv *libvirt.Connect, m *machine) error {
	p.mu.Lock()
	spec, rec := cloneSpec(m.spec), m.rec
	p.mu.Unlock()
	if !rec.Prepared {
		return nil
	}
	wantDisks := map[string]diskConfig{}
	for _, v := range spec.GetVolumes() {
		c := p.volumeDisk(m.id, spec, rec, v)
		wantDisks[c.Device] = c
		if v.GetEmptyDisk() == nil {
			continue
		}
		if _, err := os.Stat(c.Path); os.IsNotExist(err) {
			if err := p.prepareVolume(context.Background(), m.id, v); err != nil {
				return fmt.Errorf("volume %q: %w", v.GetName(), err)
			}
		}
	}
	if err := p.ensureSecrets(lv, m.id, spec); err != nil {
		return err
	}
	wantNICs := map[string]nicConfig{}
	for _, n := range spec.GetNetworkInterfaces() {
		mac, tap := nicNames(m.id, n)
		wantNICs[mac] = nicConfig{MAC: mac, Tap: tap}
	}
	var inUse, secretsInUse []string
	err := withDomain(lv, m.id, func(dom *libvirt.Domain) error {
		active, err := dom.IsActive()
		if err != nil {
			return err
		}
		defs := []libvirt.DomainXMLFlags{libvirt.DOMAIN_XML_INACTIVE}
		if active {
			defs = append(defs, 0)
		}
		for _, flags := range defs {
			xml, err := dom.GetXMLDesc(flags)
			if err != nil {
				return err
			}
			have, err := parseDevices(xml)
			if err != nil {
				return err
			}
			for _, d := range have.disks {
				inUse = append(inUse, d.Source)
				if flags == 0 {
					// A running guest keeps the secrets of its live disks (until it releases a
					// detached one); the persistent definition only those of the spec once applied.
					secretsInUse = append(secretsInUse, d.Disk.secrets()...)
				}
			}
			if err := p.applyDefinition(dom, m.id, flags == 0, have, wantDisks, wantNICs); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	p.removeStaleVolumes(m.id, spec, inUse)
	p.removeStaleKeys(m.id, spec)
	return removeStaleSecrets(lv, m.id, spec, secretsInUse)
}

// volumeDisk is the disk of a volume of spec.
func (p *Provider) volumeDisk(id string, spec *runtimev1alpha1.MachineSpec, rec *record, v *runtimev1alpha1.Volume) diskConfig {
	dev := v.GetDevice()
	if dev == "" {
		dev = rec.device(v.GetName())
	}
	c := diskConfig{Path: p.volumePath(id, v.GetName()), Format: "qcow2", Device: dev, ReadOnly: v.GetReadOnly()}
	rbd := v.GetNetworkDisk().GetRbd()
	if rbd == nil {
		return c
	}
	c.Path, c.Format = "", ""
	c.RBD = &rbdConfig{
		Pool: rbd.GetPool(), Image: rbd.GetImage(), User: rbd.GetUser(), Monitors: rbd.GetMonitors(), Volume: v.GetName(),
	}
	for _, s := range secretsOf(id, v) {
		if s.kind == kindKey {
			c.RBD.KeySecret = s.uuid
		} else {
			c.RBD.PassphraseSecret = s.uuid
		}
	}
	if rootVolume(spec) == v.GetName() {
		c.Boot = 1
	}
	return c
}

// rootVolume is the name of the volume the machine boots from; empty when it has none.
func rootVolume(spec *runtimev1alpha1.MachineSpec) string {
	return spec.GetRootDisk().GetVolume()
}

// applyDefinition attaches and detaches devices in one definition of the domain: the live one
// (live true) or the persistent one. A network disk whose credentials or monitors changed is
// replaced in the persistent definition only: the running guest keeps its connection, and the
// next start uses the new definition.
func (p *Provider) applyDefinition(dom *libvirt.Domain, id string, live bool, have domainDevices, wantDisks map[string]diskConfig, wantNICs map[string]nicConfig) error {
	flags := libvirt.DOMAIN_DEVICE_MODIFY_CONFIG
	if live {
		flags = libvirt.DOMAIN_DEVICE_MODIFY_LIVE
	}
	for _, dev := range sortedKeys(wantDisks) {
		want := wantDisks[dev]
		cur, ok := have.disks[dev]
		if ok && cur.Source == want.source() && (live || cur.Disk.definition() == want.definition()) {
			continue
		}
		if live && !ok && want.RBD != nil && want.RBD.PassphraseSecret != "" {
			// libvirt 9.0 hot-plugs an encrypted RBD disk before it gives QEMU the passphrase
			// ("No secret with id ...-format-encryption-secret0"): it is in the persistent
			// definition, and the guest gets it at its next start.
			continue
		}
		if ok && cur.Source == want.source() {
			old, err := diskDeviceXML(cur.Disk)
			if err != nil {
				return err
			}
			if err := dom.DetachDeviceFlags(old, libvirt.DOMAIN_DEVICE_MODIFY_CONFIG); err != nil {
				return fmt.Errorf("replacing disk %s: %w", dev, err)
			}
		}
		xml, err := diskDeviceXML(want)
		if err != nil {
			return err
		}
		if err := dom.AttachDeviceFlags(xml, flags); err != nil {
			return fmt.Errorf("attaching disk %s: %w", dev, err)
		}
	}
	for _, dev := range sortedKeys(have.disks) {
		cur := have.disks[dev]
		if _, isVolume := p.volumeNameOf(id, cur.Source); !isVolume && cur.Disk.RBD == nil {
			continue // the root disk, the NoCloud drive, or not the provider's
		}
		if want, ok := wantDisks[dev]; ok && want.source() == cur.Source {
			continue
		}
		if err := detach(dom, live, cur.Alias, func() (string, error) {
			return diskDeviceXML(cur.Disk)
		}); err != nil {
			return fmt.Errorf("detaching disk %s: %w", dev, err)
		}
	}
	for _, mac := range sortedKeys(wantNICs) {
		if _, ok := have.nics[mac]; ok {
			continue
		}
		xml, err := nicDeviceXML(wantNICs[mac])
		if err != nil {
			return err
		}
		if err := dom.AttachDeviceFlags(xml, flags); err != nil {
			return fmt.Errorf("attaching NIC %s: %w", mac, err)
		}
	}
	for _, mac := range sortedKeys(have.nics) {
		if _, ok := wantNICs[mac]; ok {
			continue
		}
		cur := have.nics[mac]
		if err := detach(dom, live, cur.Alias, func() (string, error) {
			return nicDeviceXML(nicConfig{MAC: mac, Tap: cur.Source})
		}); err != nil {
			return fmt.Errorf("detaching NIC %s: %w", mac, err)
		}
	}
	return nil
}

// detach removes a device: from a running domain by its alias, without waiting for the guest;
// from the persistent definition by its XML.
func detach(dom *libvirt.Domain, live bool, alias string, xml func() (string, error)) error {
	if live && alias != "" {
		return dom.DetachDeviceAlias(alias, libvirt.DOMAIN_DEVICE_MODIFY_LIVE)
	}
	x, err := xml()
	if err != nil {
		return err
	}
	flags := libvirt.DOMAIN_DEVICE_MODIFY_CONFIG
	if live {
		flags = libvirt.DOMAIN_DEVICE_MODIFY_LIVE
	}
	return dom.DetachDeviceFlags(x, flags)
}

// removeStaleVolumes deletes empty disk files that neither the spec nor the domain refers to.
func (p *Provider) removeStaleVolumes(id string, spec *runtimev1alpha1.MachineSpec, inUse []string) {
	files, _ := filepath.Glob(filepath.Join(p.machineDir(id), volumeFilePrefix+"*"+volumeFileSuffix))
	for _, file := range files {
		name, _ := p.volumeNameOf(id, file)
		wanted := slices.ContainsFunc(spec.GetVolumes(), func(v *runtimev1alpha1.Volume) bool { return v.GetName() == name })
		if !wanted && !slices.Contains(inUse, file) {
			if err := os.Remove(file); err != nil && !os.IsNotExist(err) {
				p.log.Error(err, "removing a detached disk", "machine", id, "file", file)
			}
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func volumeIndex(spec *runtimev1alpha1.MachineSpec, name string) int {
	return slices.IndexFunc(spec.GetVolumes(), func(v *runtimev1alpha1.Volume) bool { return v.GetName() == name })
}

func nicIndex(spec *runtimev1alpha1.MachineSpec, name string) int {
	return slices.IndexFunc(spec.GetNetworkInterfaces(), func(n *runtimev1alpha1.NetworkInterface) bool { return n.GetName() == name })
}

// devicesChanged brings the domain in line after a spec change; a failure is reported to the
// caller, who retries (the retried request finds the spec changed and applies again).
func (p *Provider) devicesChanged(lv *libvirt.Connect, m *machine, what string) error {
	err := p.applyDevices(lv, m)
	if rerr := p.refresh(lv, m); err == nil {
		err = rerr
	}
	if err != nil {
		p.event(m, runtimev1alpha1.EventType_EVENT_TYPE_WARNING, "DeviceUpdateFailed", "%s: %v", what, err)
		return grpcError(what, err)
	}
	return nil
}
