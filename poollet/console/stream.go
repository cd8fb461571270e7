package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	grpcstatus "google.golang.org/grpc/status"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/klog/v2"
	"k8s.io/streaming/pkg/httpstream/wsstream"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// protocolV5 is the only WebSocket subprotocol served: its stream-close signal lets a client
// end its input (a pipe) and still read the output.
const protocolV5 = remotecommand.StreamProtocolV5Name

// idleTimeout ends a session in which nothing was read or written for this long (a client that
// vanished without closing its connection), as the kubelet does.
const idleTimeout = 4 * time.Hour

// Channels of the protocol (remotecommand's stream numbers).
const (
	channelStdin  = remotecommand.StreamStdIn
	channelStdout = remotecommand.StreamStdOut
	channelError  = remotecommand.StreamErr
	channelResize = remotecommand.StreamResize
)

// serveSession upgrades the request and connects it to the runtime's Console stream: input
// (channel 0) to the guest, output (channel 1) to the client, starting with the last tail
// bytes, and terminal sizes (channel 4) as ConsoleResize. It ends when the client disconnects
// (the connection's channels close), or when the runtime ends the console, which the client
// learns from a metav1.Status on channel 3.
func (s *Server) serveSession(w http.ResponseWriter, r *http.Request, m *computev1alpha1.Machine, tail uint64, stdin bool) {
	logger := klog.FromContext(r.Context()).WithValues("machine", m.Namespace+"/"+m.Name)
	// Check that the runtime has the machine before the upgrade, so that a machine not created
	// yet is an HTTP error the client can show, not a session that ends at once.
	if _, err := s.Runtime.ReadConsoleLog(r.Context(), &runtimev1alpha1.ReadConsoleLogRequest{MachineId: string(m.UID), TailBytes: 1}); err != nil {
		writeError(w, runtimeError(m, err))
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	console, err := s.Runtime.Console(ctx)
	if err == nil {
		err = console.Send(&runtimev1alpha1.ConsoleRequest{Request: &runtimev1alpha1.ConsoleRequest_Open{
			Open: &runtimev1alpha1.ConsoleOpen{MachineId: string(m.UID), ScrollbackBytes: tail}}})
	}
	if err != nil {
		writeError(w, runtimeError(m, err))
		return
	}

	stdinChannel := wsstream.IgnoreChannel
	if stdin {
		stdinChannel = wsstream.ReadChannel
	}
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		protocolV5: {Binary: true, Channels: []wsstream.ChannelType{
			channelStdin: stdinChannel, channelStdout: wsstream.WriteChannel, remotecommand.StreamStdErr: wsstream.IgnoreChannel,
			channelError: wsstream.WriteChannel, channelResize: wsstream.ReadChannel,
		}},
	})
	conn.SetIdleTimeout(idleTimeout)
	// Open answers the handshake (an unsupported subprotocol included) and hijacks the
	// connection.
	_, channels, err := conn.Open(w, r)
	if err != nil {
		logger.V(2).Info("console handshake failed", "err", err)
		return
	}
	defer conn.Close()
	// An empty message tells the client the session is up.
	if _, err := channels[channelStdout].Write(nil); err != nil {
		return
	}
	logger.V(1).Info("console session opened")

	session := &session{console: console, cancel: cancel}
	if stdin {
		go session.copyInput(channels[channelStdin])
	}
	go session.copyResizes(channels[channelResize])
	result := session.copyOutput(channels[channelStdout])
	if ctx.Err() != nil {
		// The client left: nobody reads a status.
		logger.V(1).Info("console session closed by the client")
		return
	}
	status := metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess}
	if result != nil {
		status.Status, status.Reason = metav1.StatusFailure, metav1.StatusReasonInternalError
		status.Message = fmt.Sprintf("the console of machine %s/%s ended: %s", m.Namespace, m.Name, result)
	} else {
		status.Status, status.Reason = metav1.StatusFailure, "ConsoleClosed"
		status.Message = fmt.Sprintf("the console of machine %s/%s was closed by the machine runtime (the machine was deleted)", m.Namespace, m.Name)
	}
	if data, err := json.Marshal(status); err == nil {
		conn.SetWriteDeadline(10 * time.Second)
		channels[channelError].Write(data)
	}
	logger.V(1).Info("console session ended by the runtime", "result", result)
}

// session copies between one client connection and one runtime Console stream.
type session struct {
	console runtimev1alpha1.MachineRuntime_ConsoleClient
	cancel  context.CancelFunc
	// sendMu serializes Sends (input and resizes) and CloseSend.
	sendMu sync.Mutex
	closed bool
}

func (s *session) send(req *runtimev1alpha1.ConsoleRequest) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if s.closed {
		return nil
	}
	return s.console.Send(req)
}

// copyInput passes the client's input to the guest. The client's end of input (a pipe that
// ended, the stream-close signal) ends the runtime stream's input; the output goes on.
func (s *session) copyInput(stdin io.Reader) {
	buffer := make([]byte, 32<<10)
	for {
		n, err := stdin.Read(buffer)
		if n > 0 {
			input := append([]byte(nil), buffer[:n]...)
			if sendErr := s.send(&runtimev1alpha1.ConsoleRequest{Request: &runtimev1alpha1.ConsoleRequest_Input{Input: input}}); sendErr != nil {
				s.cancel()
				return
			}
		}
		if err != nil {
			s.sendMu.Lock()
			if !s.closed {
				s.closed = true
				s.console.CloseSend()
			}
			s.sendMu.Unlock()
			return
		}
	}
}

// copyResizes passes terminal sizes on. The client never closes this channel itself, so its
// end means the connection is gone: the session ends.
func (s *session) copyResizes(resizes io.Reader) {
	defer s.cancel()
	decoder := json.NewDecoder(resizes)
	for {
		var size struct{ Width, Height uint16 }
		if err := decoder.Decode(&size); err != nil {
			return
		}
		if err := s.send(&runtimev1alpha1.ConsoleRequest{Request: &runtimev1alpha1.ConsoleRequest_Resize{
			Resize: &runtimev1alpha1.ConsoleResize{Rows: uint32(size.Height), Columns: uint32(size.Width)}}}); err != nil {
			return
		}
	}
}

// copyOutput writes the console's output to the client until the runtime ends the console
// (nil), the stream fails (its error) or the client is gone (the context is cancelled).
func (s *session) copyOutput(stdout io.Writer) error {
	for {
		response, err := s.console.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return errors.New(grpcstatus.Convert(err).Message())
		}
		if len(response.GetOutput()) == 0 {
			continue
		}
		if _, err := stdout.Write(response.GetOutput()); err != nil {
			s.cancel()
			return err
		}
	}
}
