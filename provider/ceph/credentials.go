package ceph

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ceph/go-ceph/rbd"
)

// Every volume gets a cephx user of its own, client.ferrite-volume-<id>, whose OSD caps name the
// objects of that one image by their prefix (rbd_data.<image id>, rbd_header.<image id>,
// rbd_object_map.<image id>), read-only the objects of the images it is cloned from, and what
// librbd reads to open an image by name. Caps per RBD namespace would be simpler, but libvirt
// 9.0 cannot open images inside RBD namespaces. The key opens this volume and nothing else:
// another volume's image, listing the pool and the passphrase object are refused.

// volumeCaps are the OSD caps of the user of the image imageName with internal ID imageID whose
// clone chain has the parent image IDs parents.
func (p *Provider) volumeCaps(imageName, imageID string, parents []string) string {
	pool := p.opts.Pool
	caps := []string{
		fmt.Sprintf("allow rwx pool=%s object_prefix rbd_data.%s", pool, imageID),
		fmt.Sprintf("allow rwx pool=%s object_prefix rbd_header.%s", pool, imageID),
		fmt.Sprintf("allow rwx pool=%s object_prefix rbd_object_map.%s", pool, imageID),
		fmt.Sprintf("allow rx pool=%s object_prefix rbd_id.%s", pool, imageName),
		fmt.Sprintf("allow rx pool=%s object_prefix rbd_info", pool),
	}
	if len(parents) > 0 {
		// librbd opens a parent by its ID and asks the directory for its name: that one class
		// method, not the right to list the directory.
		caps = append(caps, fmt.Sprintf("allow pool=%s object_prefix rbd_directory class rbd dir_get_name", pool))
	}
	for _, pid := range parents {
		caps = append(caps,
			fmt.Sprintf("allow rx pool=%s object_prefix rbd_data.%s", pool, pid),
			fmt.Sprintf("allow rx pool=%s object_prefix rbd_header.%s", pool, pid),
			fmt.Sprintf("allow rx pool=%s object_prefix rbd_object_map.%s", pool, pid),
		)
	}
	return strings.Join(caps, ", ")
}

// parentIDs returns the internal IDs of the images img is cloned from, nearest first.
func (p *Provider) parentIDs(img *rbd.Image) ([]string, error) {
	var ids []string
	cur := img
	for {
		parent, err := cur.GetParent()
		if cur != img {
			cur.Close()
		}
		if isNotFound(err) {
			return ids, nil
		}
		if err != nil {
			return nil, fmt.Errorf("image %s: parent: %w", img.GetName(), err)
		}
		ids = append(ids, parent.Image.ImageID)
		if len(ids) > 64 {
			return nil, fmt.Errorf("image %s: clone chain longer than 64", img.GetName())
		}
		cur, err = rbd.OpenImageByIdReadOnly(p.conn.ioctx, parent.Image.ImageID, rbd.NoSnapshot)
		if err != nil {
			return nil, fmt.Errorf("image %s: opening parent %s: %w", img.GetName(), parent.Image.ImageName, err)
		}
	}
}

// ensureUser makes (or updates) the cephx user of volume id for its open image and returns its
// key. It is idempotent: the caps are set every time, so a user left by an earlier image of the
// same ID (a create that was redone) gets the current image's caps.
func (p *Provider) ensureUser(id string, img *rbd.Image) (string, error) {
	imageID, err := img.GetId()
	if err != nil {
		return "", fmt.Errorf("image %s: id: %w", img.GetName(), err)
	}
	parents, err := p.parentIDs(img)
	if err != nil {
		return "", err
	}
	entity := p.names.user(id)
	caps := []string{"mon", "profile rbd", "osd", p.volumeCaps(img.GetName(), imageID, parents)}
	// One monitor write in the usual case: every write waits for a Paxos round, which under load
	// is what bounds the rate of creates. A user left with other caps (a create redone on a new
	// image) makes get-or-create fail; its caps are then set, and its key read.
	out, err := p.conn.monCommand(map[string]any{"prefix": "auth get-or-create", "entity": entity, "caps": caps})
	if err == nil {
		var keyring []struct {
			Key string `json:"key"`
		}
		if err := json.Unmarshal(out, &keyring); err == nil && len(keyring) == 1 && keyring[0].Key != "" {
			return keyring[0].Key, nil
		}
	}
	if _, err := p.conn.monCommand(map[string]any{"prefix": "auth get-or-create", "entity": entity}); err != nil {
		return "", fmt.Errorf("user %s: %w", entity, err)
	}
	if _, err := p.conn.monCommand(map[string]any{"prefix": "auth caps", "entity": entity, "caps": caps}); err != nil {
		return "", fmt.Errorf("user %s: caps: %w", entity, err)
	}
	return p.userKey(id)
}

// userKey returns the key of volume id's user; "" and no error when the user does not exist.
func (p *Provider) userKey(id string) (string, error) {
	entity := p.names.user(id)
	out, err := p.conn.monCommand(map[string]any{"prefix": "auth get-key", "entity": entity})
	if isNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("user %s: key: %w", entity, err)
	}
	var key struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(out, &key); err != nil {
		return "", fmt.Errorf("user %s: key: %w", entity, err)
	}
	return key.Key, nil
}

// deleteUser removes volume id's user; a missing user is no error.
func (p *Provider) deleteUser(id string) error {
	entity := p.names.user(id)
	if _, err := p.conn.monCommand(map[string]any{"prefix": "auth del", "entity": entity}); err != nil && !isNotFound(err) {
		return fmt.Errorf("user %s: delete: %w", entity, err)
	}
	return nil
}

// volumeUsers lists the volume IDs that have a user.
func (p *Provider) volumeUsers() ([]string, error) {
	out, err := p.conn.monCommand(map[string]any{"prefix": "auth ls"})
	if err != nil {
		return nil, err
	}
	var list struct {
		AuthDump []struct {
			Entity string `json:"entity"`
		} `json:"auth_dump"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		return nil, fmt.Errorf("auth ls: %w", err)
	}
	var ids []string
	for _, e := range list.AuthDump {
		if id, ok := p.names.userVolumeID(e.Entity); ok {
			ids = append(ids, id)
		}
	}
	return ids, nil
}
