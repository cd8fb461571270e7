package machine

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/ferrite-dev/ferrite/apis/compute"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/validation"
)

// consoleURL is the lower Machine's console subresource with params.
func (b *Broker) consoleURL(id string, params map[string]string) *url.URL {
	req := b.opts.Client.ComputeV1alpha1().RESTClient().Get().Namespace(b.opts.Namespace).
		Resource("machines").Name(MachineName(id)).SubResource("console")
	for k, v := range params {
		req = req.Param(k, v)
	}
	return req.URL()
}

// consoleMachine checks that the console of id can be reached: the broker has the lower
// cluster's REST config and the machine exists.
func (b *Broker) consoleMachine(ctx context.Context, id string) error {
	if err := validation.ID("machine_id", id); err != nil {
		return err
	}
	if b.opts.Config == nil {
		return status.Error(codes.Unimplemented, "console: the broker was started without the lower cluster's REST config")
	}
	m, err := b.cached(ctx, id)
	if apierrors.IsNotFound(err) || (err == nil && m.Annotations[AnnotationID] != id) {
		return status.Errorf(codes.NotFound, "machine %s not found", id)
	}
	if err != nil {
		return apiStatus(err)
	}
	return nil
}

// ReadConsoleLog reads the lower Machine's console scrollback (machines/console?logs=true).
func (b *Broker) ReadConsoleLog(ctx context.Context, req *runtimev1alpha1.ReadConsoleLogRequest) (*runtimev1alpha1.ReadConsoleLogResponse, error) {
	if err := b.consoleMachine(ctx, req.GetMachineId()); err != nil {
		return nil, err
	}
	u := b.consoleURL(req.GetMachineId(), map[string]string{
		compute.MachineConsoleLogsParam:      "true",
		compute.MachineConsoleTailBytesParam: strconv.FormatUint(req.GetTailBytes(), 10),
	})
	client, err := rest.HTTPClientFor(b.opts.Config)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "console: %v", err)
	}
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "console: %v", err)
	}
	resp, err := client.Do(httpReq)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "console of lower Machine %s: %v", MachineName(req.GetMachineId()), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "console of lower Machine %s: %v", MachineName(req.GetMachineId()), err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, status.Errorf(httpCode(resp.StatusCode), "console of lower Machine %s: %s: %s", MachineName(req.GetMachineId()), resp.Status, data)
	}
	offset, _ := strconv.ParseUint(resp.Header.Get("X-Console-Offset"), 10, 64)
	total, err := strconv.ParseUint(resp.Header.Get("X-Console-Total-Bytes"), 10, 64)
	if err != nil {
		total = offset + uint64(len(data))
	}
	return &runtimev1alpha1.ReadConsoleLogResponse{Data: data, Offset: offset, TotalBytes: total}, nil
}

// Console attaches to the lower Machine's console subresource (WebSocket, v5.channel.k8s.io):
// input and terminal sizes go down, output comes up, starting with the scrollback asked for.
func (b *Broker) Console(stream grpc.BidiStreamingServer[runtimev1alpha1.ConsoleRequest, runtimev1alpha1.ConsoleResponse]) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	open := first.GetOpen()
	if open == nil {
		return status.Error(codes.InvalidArgument, "the first console request must be an open")
	}
	ctx := stream.Context()
	if err := b.consoleMachine(ctx, open.GetMachineId()); err != nil {
		return err
	}
	u := b.consoleURL(open.GetMachineId(), map[string]string{
		"stdin": "true", "stdout": "true", "tty": "true",
		compute.MachineConsoleTailBytesParam: strconv.FormatUint(open.GetScrollbackBytes(), 10),
	})
	executor, err := remotecommand.NewWebSocketExecutor(b.opts.Config, http.MethodGet, u.String())
	if err != nil {
		return status.Errorf(codes.Internal, "console: %v", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	input, inputWriter := io.Pipe()
	sizes := &sizeQueue{sizes: make(chan *remotecommand.TerminalSize, 4), done: ctx.Done()}
	go func() {
		for {
			req, err := stream.Recv()
			if err != nil {
				// The caller's end of input: the lower session goes on with output.
				inputWriter.Close()
				return
			}
			switch {
			case req.GetResize() != nil:
				select {
				case sizes.sizes <- &remotecommand.TerminalSize{Width: uint16(req.GetResize().GetColumns()), Height: uint16(req.GetResize().GetRows())}:
				default: // a resize nobody reads yet is dropped; the next one carries the size
				}
			case req.GetInput() != nil:
				if _, err := inputWriter.Write(req.GetInput()); err != nil {
					return
				}
			}
		}
	}()
	output := writerFunc(func(p []byte) (int, error) {
		if err := stream.Send(&runtimev1alpha1.ConsoleResponse{Output: append([]byte(nil), p...)}); err != nil {
			return 0, err
		}
		return len(p), nil
	})
	err = executor.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: input, Stdout: output, Tty: true, TerminalSizeQueue: sizes})
	switch {
	case err == nil:
		return nil
	case stream.Context().Err() != nil:
		return status.FromContextError(stream.Context().Err()).Err()
	default:
		var apiStatus apierrors.APIStatus
		if errors.As(err, &apiStatus) && apiStatus.Status().Code != 0 {
			return status.Errorf(httpCode(int(apiStatus.Status().Code)), "console of lower Machine %s: %s", MachineName(open.GetMachineId()), apiStatus.Status().Message)
		}
		return status.Errorf(codes.Unavailable, "console of lower Machine %s: %v", MachineName(open.GetMachineId()), err)
	}
}

// sizeQueue passes terminal sizes to the executor.
type sizeQueue struct {
	sizes chan *remotecommand.TerminalSize
	done  <-chan struct{}
}

// Next returns the next size, nil once the session ends.
func (q *sizeQueue) Next() *remotecommand.TerminalSize {
	select {
	case s := <-q.sizes:
		return s
	case <-q.done:
		return nil
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// httpCode maps the lower console's HTTP status onto a gRPC code.
func httpCode(code int) codes.Code {
	switch code {
	case http.StatusNotFound:
		return codes.NotFound
	case http.StatusConflict:
		return codes.FailedPrecondition
	case http.StatusForbidden, http.StatusUnauthorized:
		return codes.PermissionDenied
	case http.StatusBadRequest:
		return codes.InvalidArgument
	default:
		return codes.Unavailable
	}
}
