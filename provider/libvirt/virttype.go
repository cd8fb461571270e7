package libvirt

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// Choosing the domain type. KVM is much faster than TCG, but /dev/kvm may be missing, or present
// and broken: a nested-KVM guest can hang with a KVM internal error, and under some nested
// hypervisors QEMU aborts while setting the host CPU model's MSRs. So "auto" boots a tiny test
// guest under KVM with the CPU guests get — a boot sector that prints a marker on the serial
// port — and uses KVM only when the marker shows up within the timeout; otherwise TCG.

// guestCPU is the <cpu> of every domain of virtType, the probe's included: the host's CPU model
// under KVM, QEMU's default under TCG.
func guestCPU(virtType string) *libvirtxml.DomainCPU {
	if virtType == "kvm" {
		return &libvirtxml.DomainCPU{Mode: "host-model"}
	}
	return nil
}

// probeMarker is what the probe guest prints.
const probeMarker = "GUEST-OK"

// probeDomainName names the transient probe domain (no Ferrite metadata: never reaped).
const probeDomainName = "ferrite-probe-virt-type"

// bootSector is a 512-byte MBR boot sector that writes probeMarker and CRLF to COM1 (port 0x3f8)
// and halts.
func bootSector() []byte {
	code := []byte{
		0xFA,                   // cli
		0x31, 0xC0, 0x8E, 0xD8, // xor ax,ax; mov ds,ax
		0xBE, 0x16, 0x7C, // mov si,0x7c16 (the message, right after this code)
		0xBA, 0xF8, 0x03, // mov dx,0x3f8
		0xAC, 0x84, 0xC0, // loop: lodsb; test al,al
		0x74, 0x03, 0xEE, // jz halt; out dx,al
		0xEB, 0xF8, // jmp loop
		0xF4, 0xEB, 0xFD, // halt: hlt; jmp halt
	}
	sector := append(code, []byte(probeMarker+"\r\n\x00")...)
	sector = append(sector, make([]byte, 510-len(sector))...)
	return append(sector, 0x55, 0xAA)
}

// ProbeVirtType resolves a --virt-type value: "kvm" and "qemu" are taken as they are; "auto"
// returns "kvm" when /dev/kvm exists and a test guest boots under KVM within timeout, "qemu"
// otherwise, with the reason. dir holds the probe's files.
func ProbeVirtType(ctx context.Context, uri, want, dir string, timeout time.Duration) (string, string, error) {
	switch want {
	case "kvm", "qemu":
		return want, "asked for", nil
	case "auto":
	default:
		return "", "", fmt.Errorf("--virt-type %q: want auto, kvm or qemu", want)
	}
	if _, err := os.Stat("/dev/kvm"); err != nil {
		return "qemu", "no /dev/kvm", nil
	}
	if err := ProbeBoot(ctx, uri, "kvm", dir, timeout); err != nil {
		return "qemu", "a KVM test guest did not boot: " + err.Error(), nil
	}
	return "kvm", "a KVM test guest booted", nil
}

// ProbeBoot boots the test guest as a transient domain of virtType and waits up to timeout for
// its marker on the serial console; the domain is destroyed either way.
func ProbeBoot(ctx context.Context, uri, virtType, dir string, timeout time.Duration) error {
	if err := startEventLoop(); err != nil {
		return err
	}
	lv, err := libvirt.NewConnect(uri)
	if err != nil {
		return err
	}
	defer lv.Close()
	// A probe left over from a crashed run.
	if dom, err := lv.LookupDomainByName(probeDomainName); err == nil {
		_ = dom.Destroy()
		dom.Free()
	}
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return err
	}
	img, logPath := filepath.Join(dir, "probe.img"), filepath.Join(dir, "probe.log")
	if err := os.WriteFile(img, append(bootSector(), make([]byte, 1<<20-512)...), 0o644); err != nil {
		return err
	}
	_ = os.Remove(logPath)
	port := uint(0)
	d := &libvirtxml.Domain{
		Type:   virtType,
		Name:   probeDomainName,
		Memory: &libvirtxml.DomainMemory{Value: 64, Unit: "MiB"},
		VCPU:   &libvirtxml.DomainVCPU{Value: 1},
		CPU:    guestCPU(virtType),
		OS: &libvirtxml.DomainOS{
			Type:        &libvirtxml.DomainOSType{Arch: "x86_64", Type: "hvm"},
			BootDevices: []libvirtxml.DomainBootDevice{{Dev: "hd"}},
		},
		OnPoweroff: "destroy",
		Devices: &libvirtxml.DomainDeviceList{
			Disks: []libvirtxml.DomainDisk{{
				Device: "disk",
				Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"},
				Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: img}},
				Target: &libvirtxml.DomainDiskTarget{Dev: "hda", Bus: "ide"},
			}},
			Serials: []libvirtxml.DomainSerial{{
				Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}},
				Target: &libvirtxml.DomainSerialTarget{Port: &port},
				Log:    &libvirtxml.DomainChardevLog{File: logPath},
			}},
			MemBalloon: &libvirtxml.DomainMemBalloon{Model: "none"},
		},
	}
	xml, err := d.Marshal()
	if err != nil {
		return err
	}
	dom, err := lv.DomainCreateXML(xml, 0)
	if err != nil {
		return err
	}
	defer func() {
		_ = dom.Destroy()
		dom.Free()
	}()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if data, err := os.ReadFile(logPath); err == nil && bytes.Contains(data, []byte(probeMarker)) {
			return nil
		}
		if active, err := dom.IsActive(); err == nil && !active {
			return fmt.Errorf("the test guest stopped without printing %s", probeMarker)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	data, _ := os.ReadFile(logPath)
	return fmt.Errorf("no %s within %s (console: %q)", probeMarker, timeout, strings.TrimSpace(string(data)))
}
