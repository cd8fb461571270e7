package ceph

import (
	"context"
	"fmt"

	"github.com/ceph/go-ceph/rbd"
)

// recover rebuilds the tables from the pool and cleans up after a crashed run: it removes
// temporary import images, images of creates that did not finish (the caller's retry makes them
// again), finishes deletes, and removes the users and passphrases of volumes that are gone.
func (p *Provider) recover(ctx context.Context) error {
	all, err := rbd.GetImageNames(p.conn.ioctx)
	if err != nil {
		return fmt.Errorf("listing the images of pool %s: %w", p.opts.Pool, err)
	}
	images := map[string]bool{}
	for _, name := range all {
		if err := ctx.Err(); err != nil {
			return err
		}
		if p.names.isImportLeftover(name) {
			if err := p.removeImport(name); err != nil {
				return err
			}
			continue
		}
		id, ok := p.names.volumeID(name)
		if !ok {
			continue
		}
		keep, err := p.recoverImage(id, name)
		if err != nil {
			return err
		}
		if keep {
			images[id] = true
		}
	}
	return p.removeStrays(images)
}

// recoverImage loads one volume image into the tables, or finishes it off; it reports whether the
// image stays.
func (p *Provider) recoverImage(id, name string) (bool, error) {
	img, err := rbd.OpenImage(p.conn.ioctx, name, rbd.NoSnapshot)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("image %s: %w", name, err)
	}
	rec, err := readImage(img)
	if err == nil {
		for _, sid := range rec.orphaned {
			if err = img.RemoveMetadata(metaSnapshotPrefix + sid); err != nil && !isNotFound(err) {
				break
			}
			err = nil
		}
	}
	img.Close()
	if err != nil {
		return false, err
	}
	switch {
	case rec.volume == nil || (rec.state != stateAvailable && rec.state != stateDeleting):
		p.log.Info("removing the image of an unfinished create", "volume", id, "image", name)
		return false, p.removeVolumeImage(id, name)
	case rec.state == stateDeleting && len(rec.snaps) == 0:
		p.log.Info("finishing the delete of a volume", "volume", id, "image", name)
		return false, p.removeVolumeImage(id, name)
	}
	if rec.state == stateDeleting && !rec.hidden {
		// The delete got as far as the metadata: it keeps the image for its snapshots.
		if err := p.deleteUser(id); err != nil {
			return false, err
		}
		rec.hidden = true
		if img, err := rbd.OpenImage(p.conn.ioctx, name, rbd.NoSnapshot); err == nil {
			err = img.SetMetadata(metaDeleted, "true")
			img.Close()
			if err != nil {
				return false, fmt.Errorf("image %s: %w", name, err)
			}
		}
	}
	v, err := p.volumeFromRecord(rec)
	if err != nil {
		return false, err
	}
	p.putVolume(v)
	for _, s := range rec.snaps {
		p.putSnapshot(&snapshot{obj: s, volumeID: id})
	}
	return true, nil
}

// removeStrays removes the users and passphrases of volumes whose image is gone.
func (p *Provider) removeStrays(images map[string]bool) error {
	users, err := p.volumeUsers()
	if err != nil {
		return err
	}
	for _, id := range users {
		if !images[id] {
			if err := p.deleteUser(id); err != nil {
				return err
			}
		}
	}
	keys, err := p.passphraseIDs()
	if err != nil {
		return err
	}
	for _, id := range keys {
		if !images[id] {
			if err := p.deletePassphrase(id); err != nil {
				return err
			}
		}
	}
	return nil
}
