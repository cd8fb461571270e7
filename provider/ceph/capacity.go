package ceph

import (
	"context"
	"encoding/json"
	"fmt"

	api "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/volume/validation"
)

// poolUsage is the pool's line of the mon command "df": stored is the bytes the pool's objects
// hold (before replication), max_avail what it can still take (after replication and the
// fullest OSD are accounted for).
type poolUsage struct {
	Stored   uint64 `json:"stored"`
	MaxAvail uint64 `json:"max_avail"`
}

// usage reads the pool's usage.
func (p *Provider) usage() (*poolUsage, error) {
	out, err := p.conn.monCommand(map[string]any{"prefix": "df"})
	if err != nil {
		return nil, err
	}
	var df struct {
		Pools []struct {
			Name  string    `json:"name"`
			Stats poolUsage `json:"stats"`
		} `json:"pools"`
	}
	if err := json.Unmarshal(out, &df); err != nil {
		return nil, fmt.Errorf("df: %w", err)
	}
	for _, pool := range df.Pools {
		if pool.Name == p.opts.Pool {
			return &pool.Stats, nil
		}
	}
	return nil, fmt.Errorf("df: pool %s is not listed", p.opts.Pool)
}

// Status reports the pool's physical capacity and what the volumes of each class were given.
func (p *Provider) Status(_ context.Context, req *api.StatusRequest) (*api.StatusResponse, error) {
	if err := validation.Status(req); err != nil {
		return nil, err
	}
	if p.isClosed() {
		return nil, errClosed
	}
	u, err := p.usage()
	if err != nil {
		return nil, err
	}
	physical := &api.PhysicalCapacity{
		TotalBytes:     u.Stored + u.MaxAvail,
		UsedBytes:      u.Stored,
		AvailableBytes: u.MaxAvail,
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	resp := &api.StatusResponse{Physical: physical, Revision: p.history.Revision(), SnapshotCount: uint32(len(p.snapshots))}
	classes := map[string]*api.ClassCapacity{}
	for _, name := range req.GetClasses() {
		c := &api.ClassCapacity{Name: name, Physical: clone(physical)}
		classes[name] = c
		resp.Classes = append(resp.Classes, c)
	}
	for _, v := range p.volumes {
		if v.hidden {
			continue
		}
		resp.VolumeCount++
		if c := classes[v.obj.GetSpec().GetClass()]; c != nil {
			c.ProvisionedBytes += v.obj.GetStatus().GetSizeBytes()
			c.VolumeCount++
		}
	}
	return resp, nil
}
