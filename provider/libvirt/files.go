package libvirt

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ferrite-dev/ferrite/provider/disk"
	"github.com/ferrite-dev/ferrite/provider/image"
	"github.com/ferrite-dev/ferrite/provider/nocloud"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// A machine's files, all in its directory STATE/machines/ID: the root disk overlay, one qcow2
// file per empty disk, the user data as given (root only), the Ignition file or NoCloud drive
// made from it (the hypervisor's), and the console log that virtlogd writes.

const (
	// rootDevice is the guest device of the root disk.
	rootDevice       = "vda"
	rootDiskFile     = "root.qcow2"
	userDataFile     = "user-data"
	ignitionFile     = "ignition.json"
	cloudInitFile    = "cidata.iso"
	consoleLogFile   = "console.log"
	volumeFilePrefix = "volume-"
	volumeFileSuffix = ".qcow2"
)

func (p *Provider) rootDiskPath(id string) string {
	return filepath.Join(p.machineDir(id), rootDiskFile)
}

func (p *Provider) volumePath(id, name string) string {
	return filepath.Join(p.machineDir(id), volumeFilePrefix+name+volumeFileSuffix)
}

func (p *Provider) consoleLogPath(id string) string {
	return filepath.Join(p.machineDir(id), consoleLogFile)
}

// volumeNameOf returns the volume whose file path is, when it is one of machine id's empty disks.
func (p *Provider) volumeNameOf(id, path string) (string, bool) {
	if filepath.Dir(path) != p.machineDir(id) {
		return "", false
	}
	base := filepath.Base(path)
	if !strings.HasPrefix(base, volumeFilePrefix) || !strings.HasSuffix(base, volumeFileSuffix) {
		return "", false
	}
	return strings.TrimSuffix(strings.TrimPrefix(base, volumeFilePrefix), volumeFileSuffix), true
}

// volumeDevice is the guest device of a volume: the spec's, or the one the provider chose.
func volumeDevice(m *machine, v *runtimev1alpha1.Volume) string {
	if d := v.GetDevice(); d != "" {
		return d
	}
	return m.rec.device(v.GetName())
}

// nicNames returns the MAC address and tap device of a NIC: the spec's, or the derived defaults.
func nicNames(id string, n *runtimev1alpha1.NetworkInterface) (mac, tap string) {
	mac, tap = strings.ToLower(n.GetMacAddress()), n.GetTapName()
	if mac == "" {
		mac = DefaultMAC(id, n.GetName())
	}
	if tap == "" {
		tap = DefaultTap(id, n.GetName())
	}
	return mac, tap
}

// handOver gives a file QEMU reads to the hypervisor's user, readable by it (and root) only.
func (p *Provider) handOver(path string) error {
	if p.opts.HypervisorOwner == nil {
		return nil
	}
	if err := os.Chown(path, p.opts.HypervisorOwner.UID, p.opts.HypervisorOwner.GID); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}

// writeUserData keeps the user data as given, for rebuilding the spec after a restart.
func (p *Provider) writeUserData(id string, data []byte) error {
	return writeFileAtomic(filepath.Join(p.machineDir(id), userDataFile), data, 0o600)
}

func (p *Provider) readUserData(id string) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(p.machineDir(id), userDataFile))
	if os.IsNotExist(err) {
		return nil, nil
	}
	return data, err
}

// prepareRootDisk creates the root disk: a qcow2 overlay on the image's cached disk, grown to
// the requested size; for an image with a kernel but no disk, an empty disk of the requested size
// (none when that is 0). It returns the disk's size (0: no root disk).
func (p *Provider) prepareRootDisk(ctx context.Context, id string, rd *runtimev1alpha1.RootDisk, img *image.Image) (uint64, error) {
	path := p.rootDiskPath(id)
	size := max(rd.GetSizeBytes(), img.RootDiskSize)
	switch {
	case img.RootDisk != "":
		if err := disk.CreateOverlay(ctx, path, img.RootDisk, img.RootDiskFormat, size); err != nil {
			return 0, err
		}
	case size > 0:
		if err := disk.CreateEmpty(ctx, path, size); err != nil {
			return 0, err
		}
	default:
		return 0, nil
	}
	if err := p.handOver(path); err != nil {
		return 0, err
	}
	return disk.VirtualSize(ctx, path)
}

// prepareVolume creates an empty disk's file (idempotent: an existing file is kept, grown when
// smaller than asked).
func (p *Provider) prepareVolume(ctx context.Context, id string, v *runtimev1alpha1.Volume) error {
	if v.GetEmptyDisk() == nil {
		return fmt.Errorf("volume %q: only empty disks are supported", v.GetName())
	}
	path := p.volumePath(id, v.GetName())
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return err
	}
	if err := disk.CreateEmpty(ctx, path, v.GetEmptyDisk().GetSizeBytes()); err != nil {
		return err
	}
	return p.handOver(path)
}

// prepareUserData writes what the guest reads its user data from: the Ignition file passed
// through fw_cfg, or the NoCloud drive. It returns the paths for the domain (one of them set).
func (p *Provider) prepareUserData(id string, spec *runtimev1alpha1.MachineSpec, labels map[string]string) (ignition, cloudInit string, err error) {
	ud := spec.GetUserData()
	if ud == nil {
		return "", "", nil
	}
	dir := p.machineDir(id)
	switch ud.GetFormat() {
	case runtimev1alpha1.UserDataFormat_USER_DATA_FORMAT_IGNITION:
		ignition = filepath.Join(dir, ignitionFile)
		if err := writeFileAtomic(ignition, ud.GetData(), 0o600); err != nil {
			return "", "", err
		}
		return ignition, "", p.handOver(ignition)
	case runtimev1alpha1.UserDataFormat_USER_DATA_FORMAT_CLOUD_INIT:
		cloudInit = filepath.Join(dir, cloudInitFile)
		cfg := nocloud.Config{InstanceID: id, Hostname: hostnameOf(id, labels), UserData: ud.GetData()}
		for _, n := range spec.GetNetworkInterfaces() {
			mac, _ := nicNames(id, n)
			cfg.NetworkInterfaces = append(cfg.NetworkInterfaces, nocloud.Interface{MACAddress: mac, IPs: n.GetIps()})
		}
		if err := nocloud.Write(cloudInit, cfg); err != nil {
			return "", "", err
		}
		return "", cloudInit, p.handOver(cloudInit)
	}
	return "", "", fmt.Errorf("user data format %v: unsupported", ud.GetFormat())
}

// machineNameLabel is the label the machinepoollet puts the Machine's name in.
const machineNameLabel = "machinepoollet.ferrite.dev/machine-name"

// hostnameOf is the hostname a NoCloud guest gets: its Machine's name when the labels carry it.
func hostnameOf(id string, labels map[string]string) string {
	if name := labels[machineNameLabel]; name != "" {
		return name
	}
	return id
}

// writeFileAtomic writes data through a temporary file renamed into place.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
