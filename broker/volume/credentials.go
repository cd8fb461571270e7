package volume

import (
	"maps"
	"sync"

	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
)

// credentialCache keeps the credentials read for each lower Volume, so that an informer resync
// or a status change costs no Secret reads. An entry is read again when the Volume's access
// names other Secrets, and dropped with the Volume.
type credentialCache struct {
	mu      sync.Mutex
	entries map[string]credentialEntry
}

type credentialEntry struct {
	// source names the Secrets the data came from.
	source string
	data   map[string][]byte
}

// source names the Secrets a lower Volume's credentials come from.
func credentialSource(lv *storagev1alpha1.Volume) string {
	a := lv.Status.Access
	ref := ""
	if a.SecretRef != nil {
		ref = a.SecretRef.Name
	}
	return ref + "\x00" + a.Attributes[attributeEncryptionSecret]
}

// get returns lv's credentials, read with read when not cached (failures are not cached).
func (c *credentialCache) get(lv *storagev1alpha1.Volume, read func() (map[string][]byte, error)) (map[string][]byte, error) {
	key, source := string(lv.UID), credentialSource(lv)
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && e.source == source {
		return maps.Clone(e.data), nil
	}
	data, err := read()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]credentialEntry{}
	}
	c.entries[key] = credentialEntry{source: source, data: data}
	c.mu.Unlock()
	return maps.Clone(data), nil
}

// forget drops the credentials of the lower Volume with uid.
func (c *credentialCache) forget(uid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, uid)
}
