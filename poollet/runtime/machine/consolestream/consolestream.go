// Package consolestream serves one viewer on a machine runtime's Console stream, the same for
// every provider: scrollback first, then the console's output as it comes, while the caller's
// input goes to the guest.
package consolestream

import (
	"context"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// Stream is the server side of a Console call.
type Stream = grpc.BidiStreamingServer[runtimev1alpha1.ConsoleRequest, runtimev1alpha1.ConsoleResponse]

// Serve sends scrollback, then each chunk from output, and passes each input of the caller to
// write, until the viewer ends (done is closed: the output sent before it is delivered, then
// result() is the stream's result), writing or the stream fails, or the caller cancels. A caller
// that closes its side keeps receiving output until it cancels.
func Serve(stream Stream, scrollback []byte, output <-chan []byte, done <-chan struct{}, result func() error, write func([]byte) error) error {
	if len(scrollback) > 0 {
		if err := stream.Send(&runtimev1alpha1.ConsoleResponse{Output: scrollback}); err != nil {
			return err
		}
	}
	ctx := stream.Context()
	inputDone := make(chan error, 1)
	go func() { inputDone <- readInput(ctx, stream, write) }()
	for {
		select {
		case data := <-output:
			if err := stream.Send(&runtimev1alpha1.ConsoleResponse{Output: data}); err != nil {
				return err
			}
		case <-done:
			for {
				select {
				case data := <-output:
					if err := stream.Send(&runtimev1alpha1.ConsoleResponse{Output: data}); err != nil {
						return err
					}
				default:
					return result()
				}
			}
		case err := <-inputDone:
			if err != nil {
				return err
			}
			inputDone = nil // the caller closed its side: keep sending output until it cancels
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// readInput passes the caller's input to write until the caller closes its side (nil) or the
// stream or a write fails.
func readInput(ctx context.Context, stream Stream, write func([]byte) error) error {
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch r := req.GetRequest().(type) {
		case *runtimev1alpha1.ConsoleRequest_Input:
			if err := write(r.Input); err != nil {
				return err
			}
		case *runtimev1alpha1.ConsoleRequest_Resize:
			// A serial console has no size.
		case *runtimev1alpha1.ConsoleRequest_Open:
			return status.Error(codes.InvalidArgument, "the console is open already")
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}
