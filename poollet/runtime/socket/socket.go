// Package socket serves a runtime's gRPC service on a unix socket, the way a runtime is reached
// by its poollet (poollet/runtimeconn dials it). The in-memory machine and volume runtimes
// (the fakes) serve through it.
package socket

import (
	"net"
	"os"

	"google.golang.org/grpc"
)

// Serve serves the gRPC services that register adds on a new unix socket at path (a stale socket
// file is removed first) until the returned stop function is called. stop calls closeRuntime
// first, so that the runtime's open streams end, then stops the server.
func Serve(path string, register func(grpc.ServiceRegistrar), closeRuntime func()) (stop func(), err error) {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	listener, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	server := grpc.NewServer()
	register(server)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = server.Serve(listener)
	}()
	return func() {
		closeRuntime()
		server.Stop()
		<-done
	}, nil
}
