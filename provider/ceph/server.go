package ceph

import (
	"context"
	"net"
	"os"

	"google.golang.org/grpc"

	api "github.com/ferrite-dev/ferrite/poollet/runtime/volume/v1alpha1"
)

// Serve starts p (Start) and serves it on a new unix socket at path (mode 0600; a stale socket
// file is removed) until the returned stop function is called; stop also closes p.
func (p *Provider) Serve(ctx context.Context, path string) (stop func(), err error) {
	if err := p.Start(ctx); err != nil {
		p.Close()
		return nil, err
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		p.Close()
		return nil, err
	}
	listener, err := net.Listen("unix", path)
	if err != nil {
		p.Close()
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		listener.Close()
		p.Close()
		return nil, err
	}
	server := grpc.NewServer()
	api.RegisterVolumeRuntimeServer(server, p)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = server.Serve(listener)
	}()
	return func() {
		// Watches end first, so that the graceful stop waits only for unary calls.
		p.history.Close()
		server.GracefulStop()
		<-done
		p.Close()
	}, nil
}
