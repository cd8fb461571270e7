package libvirt

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// Secrets of network disks. The cephx key and the LUKS2 passphrase of each RBD volume live in
// two places:
//   - the machine's directory, root only (keys/VOLUME.key, keys/VOLUME.passphrase: the SecretKey
//     as protobuf), because the spec in the domain's metadata leaves secrets out and the provider
//     must be able to hand them to libvirt again after a restart;
//   - libvirt, as private, ephemeral secrets (never on libvirt's disk, unreadable through the
//     API, gone when libvirtd restarts) that the domain's disks name by UUID. QEMU reads them
//     when it starts or hot-plugs a disk.
//
// ensureSecrets (re)creates the libvirt secrets the spec needs, and removeStaleSecrets removes
// the machine's secrets that neither the spec nor a definition of the domain uses: both run on
// every device pass and sync, so a libvirtd restart, a rotation or a detach converge.

// secretKind is which secret of a volume.
type secretKind string

const (
	// kindKey is the cephx key (libvirt usage "ceph").
	kindKey secretKind = "key"
	// kindPassphrase is the LUKS2 passphrase (libvirt usage "volume", as libvirt's disk
	// encryption looks it up).
	kindPassphrase secretKind = "passphrase"
)

// keysDir holds the volumes' secrets in a machine's directory.
const keysDir = "keys"

// secretUsagePrefix starts the usage name of every libvirt secret of machine id.
func secretUsagePrefix(id string) string { return "ferrite/" + id + "/" }

// secretUsage is the usage name of the libvirt secret of one volume's key: a new key ID (a
// rotation) is a new secret.
func secretUsage(id, volume string, kind secretKind, keyID string) string {
	return secretUsagePrefix(id) + volume + "/" + string(kind) + "/" + keyID
}

// secretUUID is the UUID of the libvirt secret with the given usage name: a pure function of it,
// so a retried define finds the same secret.
func secretUUID(usage string) string {
	return uuid.NewSHA1(uuidNamespace, []byte("secret/"+usage)).String()
}

// volumeSecret is one libvirt secret a volume needs.
type volumeSecret struct {
	volume string
	kind   secretKind
	keyID  string
	usage  string
	uuid   string
}

// secretsOf returns the secrets of a network disk: its key and, when encrypted, its passphrase.
func secretsOf(id string, v *runtimev1alpha1.Volume) []volumeSecret {
	rbd := v.GetNetworkDisk().GetRbd()
	if rbd == nil {
		return nil
	}
	var out []volumeSecret
	add := func(kind secretKind, keyID string) {
		usage := secretUsage(id, v.GetName(), kind, keyID)
		out = append(out, volumeSecret{volume: v.GetName(), kind: kind, keyID: keyID, usage: usage, uuid: secretUUID(usage)})
	}
	add(kindKey, rbd.GetKey().GetId())
	if enc := rbd.GetEncryption(); enc != nil {
		add(kindPassphrase, enc.GetPassphrase().GetId())
	}
	return out
}

func (p *Provider) keyPath(id, volume string, kind secretKind) string {
	return filepath.Join(p.machineDir(id), keysDir, volume+"."+string(kind))
}

// writeVolumeKeys stores the secrets of a network disk in the machine's directory (root only).
func (p *Provider) writeVolumeKeys(id string, v *runtimev1alpha1.Volume) error {
	rbd := v.GetNetworkDisk().GetRbd()
	if rbd == nil {
		return nil
	}
	keys := map[secretKind]*runtimev1alpha1.SecretKey{kindKey: rbd.GetKey()}
	if enc := rbd.GetEncryption(); enc != nil {
		keys[kindPassphrase] = enc.GetPassphrase()
	}
	if err := os.MkdirAll(filepath.Join(p.machineDir(id), keysDir), 0o700); err != nil {
		return err
	}
	for kind, key := range keys {
		data, err := proto.Marshal(key)
		if err != nil {
			return err
		}
		if err := writeFileAtomic(p.keyPath(id, v.GetName(), kind), data, 0o600); err != nil {
			return fmt.Errorf("storing the %s of volume %q: %w", kind, v.GetName(), err)
		}
	}
	return nil
}

// readVolumeKey returns the stored secret of a volume, which must have the ID keyID.
func (p *Provider) readVolumeKey(id, volume string, kind secretKind, keyID string) ([]byte, error) {
	data, err := os.ReadFile(p.keyPath(id, volume, kind))
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	key := &runtimev1alpha1.SecretKey{}
	if err := proto.Unmarshal(data, key); err != nil {
		return nil, fmt.Errorf("the stored %s of volume %q: %w", kind, volume, err)
	}
	if key.GetId() != keyID || len(key.GetData()) == 0 {
		return nil, fmt.Errorf("volume %q: the %s %q is not stored on this host (stored: %q); send it again with UpdateVolume", volume, kind, keyID, key.GetId())
	}
	return key.GetData(), nil
}

// removeStaleKeys deletes the stored secrets of volumes that left the spec.
func (p *Provider) removeStaleKeys(id string, spec *runtimev1alpha1.MachineSpec) {
	files, _ := filepath.Glob(filepath.Join(p.machineDir(id), keysDir, "*"))
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
		if volumeIndex(spec, name) < 0 {
			if err := os.Remove(file); err != nil && !os.IsNotExist(err) {
				p.log.Error(err, "removing the stored secret of a detached volume", "machine", id, "file", file)
			}
		}
	}
}

// ensureSecrets defines the libvirt secrets of the spec's network disks that libvirt lacks and
// sets their values (every time: a define that crashed before its value was set converges).
func (p *Provider) ensureSecrets(lv *libvirt.Connect, id string, spec *runtimev1alpha1.MachineSpec) error {
	for _, v := range spec.GetVolumes() {
		for _, s := range secretsOf(id, v) {
			data, err := p.readVolumeKey(id, s.volume, s.kind, s.keyID)
			if err != nil {
				return err
			}
			if err := defineSecret(lv, s, data); err != nil {
				return fmt.Errorf("libvirt secret of the %s of volume %q: %w", s.kind, s.volume, err)
			}
		}
	}
	return nil
}

func defineSecret(lv *libvirt.Connect, s volumeSecret, data []byte) error {
	sec, err := lv.LookupSecretByUUIDString(s.uuid)
	if err != nil {
		if !isNoSecret(err) {
			return err
		}
		def := &libvirtxml.Secret{
			Ephemeral:   "yes",
			Private:     "yes",
			UUID:        s.uuid,
			Description: fmt.Sprintf("Ferrite volume %s: %s %s", s.volume, s.kind, s.keyID),
			Usage:       &libvirtxml.SecretUsage{Type: "ceph", Name: s.usage},
		}
		if s.kind == kindPassphrase {
			def.Usage = &libvirtxml.SecretUsage{Type: "volume", Volume: s.usage}
		}
		xml, err := def.Marshal()
		if err != nil {
			return err
		}
		if sec, err = lv.SecretDefineXML(xml, 0); err != nil {
			return err
		}
	}
	defer sec.Free()
	if s.kind == kindKey {
		// Ceph prints a cephx key in base64; libvirt wants (and QEMU gets) its bytes.
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
		if err != nil {
			return fmt.Errorf("the key %q is not a cephx key (base64): %w", s.keyID, err)
		}
		data = raw
	}
	return sec.SetValue(data, 0)
}

// removeStaleSecrets undefines the libvirt secrets of machine id that neither the spec (keep
// from secretsOf) nor a definition of the domain (inUse) uses; with spec nil, all of them.
func removeStaleSecrets(lv *libvirt.Connect, id string, spec *runtimev1alpha1.MachineSpec, inUse []string) error {
	keep := slices.Clone(inUse)
	for _, v := range spec.GetVolumes() {
		for _, s := range secretsOf(id, v) {
			keep = append(keep, s.uuid)
		}
	}
	return forSecrets(lv, func(usage string) bool { return strings.HasPrefix(usage, secretUsagePrefix(id)) }, func(sec *libvirt.Secret, uuid string) error {
		if slices.Contains(keep, uuid) {
			return nil
		}
		return sec.Undefine()
	})
}

// forSecrets calls fn for every libvirt secret whose usage name match accepts. A driver without
// secrets (the test driver) has none.
func forSecrets(lv *libvirt.Connect, match func(usage string) bool, fn func(sec *libvirt.Secret, uuid string) error) error {
	secrets, err := lv.ListAllSecrets(0)
	if isNoSupport(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing libvirt secrets: %w", err)
	}
	defer func() {
		for i := range secrets {
			secrets[i].Free()
		}
	}()
	var errs []error
	for i := range secrets {
		sec := &secrets[i]
		usage, err := sec.GetUsageID()
		if err != nil || !match(usage) {
			continue
		}
		uuid, err := sec.GetUUIDString()
		if err != nil {
			continue
		}
		if err := fn(sec, uuid); err != nil && !isNoSecret(err) {
			errs = append(errs, fmt.Errorf("secret %s: %w", usage, err))
		}
	}
	return errors.Join(errs...)
}

// reapSecrets removes the libvirt secrets of machines that have neither a machine of this
// provider nor a domain (a deletion that crashed after undefining the domain).
func (p *Provider) reapSecrets(lv *libvirt.Connect) {
	err := forSecrets(lv, func(usage string) bool { return strings.HasPrefix(usage, "ferrite/") }, func(sec *libvirt.Secret, _ string) error {
		usage, _ := sec.GetUsageID()
		id, _, _ := strings.Cut(strings.TrimPrefix(usage, "ferrite/"), "/")
		p.mu.Lock()
		_, held := p.machines[id]
		p.mu.Unlock()
		if held {
			return nil
		}
		dom, err := lv.LookupDomainByName(DomainName(id))
		if err == nil {
			dom.Free()
			return nil
		}
		if !isNoDomain(err) {
			return err
		}
		p.log.Info("reaper: removing a libvirt secret of a machine without a domain", "machine", id, "usage", usage)
		return sec.Undefine()
	})
	if err != nil {
		p.log.Error(err, "reaper: libvirt secrets")
	}
}

// isNoSecret reports whether err says the secret does not exist.
func isNoSecret(err error) bool {
	var lerr libvirt.Error
	return errors.As(err, &lerr) && lerr.Code == libvirt.ERR_NO_SECRET
}

// isNoSupport reports whether err says the driver lacks the API.
func isNoSupport(err error) bool {
	var lerr libvirt.Error
	return errors.As(err, &lerr) && lerr.Code == libvirt.ERR_NO_SUPPORT
}
