package ceph

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/ceph/go-ceph/rados"
	"github.com/ceph/go-ceph/rbd"
)

// An encrypted volume is a LUKS2 image formatted by librbd. Its passphrase is 32 random bytes
// (hex, so that every tool takes it as typed) kept in the omap of the pool's keys object, one
// entry per volume ID. Only the provider's user reads that object; the volumes' users have caps on
// their own images' objects only, and an image's metadata is no place for it since its user reads
// the image's header. Pacific cannot layer encryption on a clone, so every encrypted volume is a
// full image of its own: formatted empty, or a copy.

// passphrase returns the passphrase of volume id, or nil when it has none.
func (p *Provider) passphrase(id string) ([]byte, error) {
	vals, err := p.conn.ioctx.GetOmapValues(p.names.keysObject(), "", id, 1)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("passphrase of volume %s: %w", id, err)
	}
	return vals[id], nil
}

// ensurePassphrase returns the passphrase of volume id, generating and storing it first when it
// has none. A retried create reuses the one an earlier attempt stored.
func (p *Provider) ensurePassphrase(id string) ([]byte, error) {
	if pass, err := p.passphrase(id); err != nil || pass != nil {
		return pass, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	pass := []byte(hex.EncodeToString(raw))
	return pass, p.storePassphrase(id, pass)
}

// storePassphrase writes the passphrase of volume id.
func (p *Provider) storePassphrase(id string, pass []byte) error {
	op := rados.CreateWriteOp()
	defer op.Release()
	op.Create(rados.CreateIdempotent)
	op.SetOmap(map[string][]byte{id: pass})
	if err := op.Operate(p.conn.ioctx, p.names.keysObject(), rados.OperationNoFlag); err != nil {
		return fmt.Errorf("storing the passphrase of volume %s: %w", id, err)
	}
	return nil
}

// deletePassphrase removes the passphrase of volume id; a missing one is no error.
func (p *Provider) deletePassphrase(id string) error {
	err := p.conn.ioctx.RmOmapKeys(p.names.keysObject(), []string{id})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("removing the passphrase of volume %s: %w", id, err)
	}
	return nil
}

// passphraseIDs lists the volume IDs that have a passphrase.
func (p *Provider) passphraseIDs() ([]string, error) {
	vals, err := p.conn.ioctx.GetAllOmapValues(p.names.keysObject(), "", "", 256)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("passphrases: %w", err)
	}
	ids := make([]string, 0, len(vals))
	for id := range vals {
		ids = append(ids, id)
	}
	return ids, nil
}

// luks2 are the librbd encryption options of a passphrase.
func luks2(pass []byte) rbd.EncryptionOptionsLUKS2 {
	return rbd.EncryptionOptionsLUKS2{Alg: rbd.EncryptionAlgorithmAES256, Passphrase: pass}
}

// formatEncrypted formats the open image img (whose raw size is visible + a guess of the header)
// as LUKS2 with pass, then sets its raw size so that the guest sees exactly visible bytes. It
// returns the header size. img is left with the encryption loaded.
func formatEncrypted(img *rbd.Image, pass []byte, visible uint64) (uint64, error) {
	raw, err := img.GetSize()
	if err != nil {
		return 0, err
	}
	if err := img.EncryptionFormat(luks2(pass)); err != nil {
		return 0, fmt.Errorf("image %s: LUKS2 format: %w", img.GetName(), err)
	}
	seen, err := img.GetSize()
	if err != nil {
		return 0, err
	}
	header := raw - seen
	if seen != visible {
		return 0, fmt.Errorf("image %s: LUKS2 header is %d bytes, the image was made for %d", img.GetName(), header, raw-visible)
	}
	return header, nil
}

// luksHeaderBytes is the size librbd's LUKS2 format gives its header (pacific: 16 MiB); the raw
// image of an encrypted volume is this much bigger than the volume. formatEncrypted checks it.
const luksHeaderBytes = 16 << 20
