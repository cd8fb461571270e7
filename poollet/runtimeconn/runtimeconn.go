// Package runtimeconn opens a poollet's connection to its runtime (machine or volume): a gRPC
// client on the runtime's unix socket.
package runtimeconn

import (
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Dial returns a client connection to endpoint, which must be unix:///path (the runtime's
// socket; local, so no transport security). It connects lazily, on the first call.
func Dial(endpoint string) (*grpc.ClientConn, error) {
	if !strings.HasPrefix(endpoint, "unix://") {
		return nil, fmt.Errorf("--runtime-endpoint must be unix:///path, not %q", endpoint)
	}
	return grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
}
