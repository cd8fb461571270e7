package dpdk

import (
	"context"
	"crypto/rand"
	"fmt"

	pb "github.com/ferrite-dev/ferrite/net/dataplane/dpdk/fastpathpb"
)

// session makes sure the fast path speaks this contract and is initialized with this host's
// underlay, and returns its identity. A new identity means the fast path lost its tables; the
// diff that follows then replays everything. Called with d.applying held.
func (d *Dataplane) session(ctx context.Context) (string, error) {
	st, err := call(ctx, d, d.client.CheckInitialized, &pb.CheckInitializedRequest{})
	if err != nil {
		return "", fmt.Errorf("fast path %s: check initialized: %w", d.address, err)
	}
	underlay, _ := AddrFromProto(st.GetUnderlay())
	ready := st.GetInitialized() && st.GetIdentity() != "" && underlay == d.underlay
	if ready && st.GetIdentity() == d.identity {
		return d.identity, nil
	}
	v, err := call(ctx, d, d.client.GetVersion, &pb.GetVersionRequest{})
	if err != nil {
		return "", fmt.Errorf("fast path %s: get version: %w", d.address, err)
	}
	if v.GetProtoVersion() != ProtoVersion {
		return "", fmt.Errorf("fast path %s speaks %q, want %q", d.address, v.GetProtoVersion(), ProtoVersion)
	}
	identity := st.GetIdentity()
	if !ready {
		if st.GetInitialized() {
			d.log.Warn("fast path has another underlay address; reinitializing it", "address", d.address,
				"has", underlay, "want", d.underlay)
		}
		proposed := newUUID()
		r, err := call(ctx, d, d.client.Initialize, &pb.InitializeRequest{Underlay: d.underlay.AsSlice(), Identity: proposed})
		if err != nil {
			return "", fmt.Errorf("fast path %s: initialize: %w", d.address, err)
		}
		identity = r.GetIdentity()
		if identity == "" {
			identity = proposed
		}
	}
	if d.identity != "" {
		d.log.Info("fast path restarted; replaying the whole state", "address", d.address, "old", d.identity, "new", identity)
	} else {
		d.log.Info("fast path connected", "address", d.address, "identity", identity, "version", v.GetServiceVersion())
	}
	d.identity = identity
	return identity, nil
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
