package ceph

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	api "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

// The tables mirror the pool. Every change goes through these helpers, which record it in the
// history under p.mu, so that a list and its revision always agree with Watch.

// errClosed is returned by calls after Close.
var errClosed = status.Error(codes.Unavailable, "ceph-provider is stopping")

// putVolume stores v (ADDED when its ID is new, else MODIFIED unless the served object did not
// change) and returns a copy of the served object.
func (p *Provider) putVolume(v *volume) *api.Volume {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.volumes[v.obj.GetMetadata().GetId()]
	p.volumes[v.obj.GetMetadata().GetId()] = v
	switch {
	case v.hidden && (old == nil || old.hidden):
		// Never served: nothing to tell.
	case v.hidden:
		p.history.Volume(api.ChangeType_CHANGE_TYPE_DELETED, v.obj)
	case old == nil || old.hidden:
		p.history.Volume(api.ChangeType_CHANGE_TYPE_ADDED, v.obj)
	default:
		v.obj.Metadata.Revision = old.obj.GetMetadata().GetRevision()
		if !sameObject(old.obj, v.obj) {
			p.history.Volume(api.ChangeType_CHANGE_TYPE_MODIFIED, v.obj)
		}
	}
	return clone(v.obj)
}

// dropVolume forgets volume id (DELETED when it was served).
func (p *Provider) dropVolume(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := p.volumes[id]
	if v == nil {
		return
	}
	delete(p.volumes, id)
	if !v.hidden {
		p.history.Volume(api.ChangeType_CHANGE_TYPE_DELETED, v.obj)
	}
}

// getVolume returns the volume of id, hidden ones too, or nil.
func (p *Provider) getVolume(id string) *volume {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := p.volumes[id]
	if v == nil {
		return nil
	}
	c := *v
	c.obj = clone(v.obj)
	return &c
}

// putSnapshot stores s (ADDED when new).
func (p *Provider) putSnapshot(s *snapshot) *api.Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.snapshots[s.obj.GetMetadata().GetId()]
	p.snapshots[s.obj.GetMetadata().GetId()] = s
	if old == nil {
		p.history.Snapshot(api.ChangeType_CHANGE_TYPE_ADDED, s.obj)
	} else {
		s.obj.Metadata.Revision = old.obj.GetMetadata().GetRevision()
		if !sameObject(old.obj, s.obj) {
			p.history.Snapshot(api.ChangeType_CHANGE_TYPE_MODIFIED, s.obj)
		}
	}
	return clone(s.obj)
}

// dropSnapshot forgets snapshot id (DELETED).
func (p *Provider) dropSnapshot(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.snapshots[id]
	if s == nil {
		return
	}
	delete(p.snapshots, id)
	p.history.Snapshot(api.ChangeType_CHANGE_TYPE_DELETED, s.obj)
}

// getSnapshot returns snapshot id or nil.
func (p *Provider) getSnapshot(id string) *snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.snapshots[id]
	if s == nil {
		return nil
	}
	return &snapshot{obj: clone(s.obj), volumeID: s.volumeID}
}

// snapshotsOf returns the IDs of the snapshots on volume id's image.
func (p *Provider) snapshotsOf(volumeID string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for id, s := range p.snapshots {
		if s.volumeID == volumeID {
			ids = append(ids, id)
		}
	}
	return ids
}

// event records an event about an object.
func (p *Provider) event(objectID string, typ api.EventType, reason, format string, args ...any) {
	p.history.Event(objectID, typ, reason, format, args...)
}

// sameObject compares two served objects, revision aside.
func sameObject[T interface {
	comparable
	GetMetadata() *api.ObjectMetadata
}](a, b T) bool {
	ma, mb := a.GetMetadata(), b.GetMetadata()
	if ma == nil || mb == nil {
		return ma == mb
	}
	ra, rb := ma.Revision, mb.Revision
	ma.Revision, mb.Revision = 0, 0
	defer func() { ma.Revision, mb.Revision = ra, rb }()
	return protoEqual(any(a), any(b))
}
