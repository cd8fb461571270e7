package cluster

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// etcdBinary returns bin/etcd of the repository, or skips the test.
func etcdBinary(t *testing.T) string {
	bin, _ := filepath.Abs("../../../../bin/etcd")
	if _, err := os.Stat(bin); err != nil {
		t.Skip("bin/etcd is missing; `make api-etcd` builds it")
	}
	return bin
}

// TestEtcdClusterSurvivesLeaderKill starts three members with TLS, kills the leader, writes
// through the other two, and restarts it.
func TestEtcdClusterSurvivesLeaderKill(t *testing.T) {
	c, err := StartEtcdCluster(etcdBinary(t), t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := c.Client.Put(ctx, "/test/a", "1"); err != nil {
		t.Fatal(err)
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leader.Kill()
	// A request on the connection to the killed member fails; the next go to the others.
	for {
		_, err := c.Client.Put(ctx, "/test/b", "2")
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("writing with the leader %s killed: %v", leader.Name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := leader.Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitMember(ctx, leader); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Client.Get(ctx, "/test/", clientv3.WithPrefix())
	if err != nil || resp.Count != 2 {
		t.Fatalf("reading back: %v, %v", resp, err)
	}
}
