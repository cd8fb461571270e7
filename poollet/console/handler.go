package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/streaming/pkg/httpstream/wsstream"

	"github.com/ferrite-dev/ferrite/apis/compute"
	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// Handler is the endpoint's HTTP handler (the TLS layer has verified the client certificate).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(compute.MachineConsolePathPrefix+"{namespace}/{name}", s.serveConsole)
	return mux
}

func (s *Server) serveConsole(w http.ResponseWriter, r *http.Request) {
	// GET and POST, as the apiserver's machines/console connects with either.
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		writeError(w, apierrors.NewMethodNotSupported(compute.Resource("machines/console"), r.Method))
		return
	}
	if err := s.authorize(r); err != nil {
		writeError(w, err)
		return
	}
	query := r.URL.Query()
	tail, err := tailBytes(query.Get(compute.MachineConsoleTailBytesParam))
	if err != nil {
		writeError(w, err)
		return
	}
	machine, err := s.machine(r.Context(), r.PathValue("namespace"), r.PathValue("name"), types.UID(query.Get(compute.MachineConsoleUIDParam)))
	if err != nil {
		writeError(w, err)
		return
	}
	if query.Get(compute.MachineConsoleLogsParam) == "true" {
		s.serveLog(w, r, machine, tail)
		return
	}
	if !wsstream.IsWebSocketRequest(r) {
		writeError(w, apierrors.NewBadRequest("a console session is a WebSocket upgrade speaking "+protocolV5+"; add logs=true for the scrollback"))
		return
	}
	if query.Get("stdout") != "true" {
		writeError(w, apierrors.NewBadRequest("a console session needs stdout=true"))
		return
	}
	if query.Get(compute.MachineConsoleTailBytesParam) == "" {
		tail = compute.MachineConsoleDefaultTailBytes
	}
	s.serveSession(w, r, machine, tail, query.Get("stdin") == "true")
}

// authorize checks the client certificate's names against AllowedNames, when set.
func (s *Server) authorize(r *http.Request) error {
	if len(s.AllowedNames) == 0 {
		return nil
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return apierrors.NewUnauthorized("a client certificate is required")
	}
	subject := r.TLS.PeerCertificates[0].Subject
	if slices.Contains(s.AllowedNames, subject.CommonName) || slices.ContainsFunc(subject.Organization, func(o string) bool { return slices.Contains(s.AllowedNames, o) }) {
		return nil
	}
	return apierrors.NewForbidden(compute.Resource("machines/console"), "", fmt.Errorf("client certificate %q is not one of --console-allowed-names", subject.CommonName))
}

// machine returns the Machine namespace/name from the cache when it is bound to this pool (and
// has uid, when given).
func (s *Server) machine(ctx context.Context, namespace, name string, uid types.UID) (*computev1alpha1.Machine, error) {
	notHere := &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound,
		Details: &metav1.StatusDetails{Group: compute.GroupName, Kind: "machines", Name: name},
		Message: fmt.Sprintf("machine %s/%s is not on machine pool %s", namespace, name, s.Pool)}}
	m := &computev1alpha1.Machine{}
	if err := s.Machines.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, m); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, notHere
		}
		return nil, apierrors.NewInternalError(err)
	}
	if m.Spec.MachinePoolRef == nil || m.Spec.MachinePoolRef.Name != s.Pool || (uid != "" && m.UID != uid) {
		return nil, notHere
	}
	return m, nil
}

// serveLog answers with the last tail bytes of the console (all it retains for 0).
func (s *Server) serveLog(w http.ResponseWriter, r *http.Request, m *computev1alpha1.Machine, tail uint64) {
	log, err := s.Runtime.ReadConsoleLog(r.Context(), &runtimev1alpha1.ReadConsoleLogRequest{MachineId: string(m.UID), TailBytes: tail})
	if err != nil {
		writeError(w, runtimeError(m, err))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-Console-Offset", strconv.FormatUint(log.GetOffset(), 10))
	w.Header().Set("X-Console-Total-Bytes", strconv.FormatUint(log.GetTotalBytes(), 10))
	w.WriteHeader(http.StatusOK)
	w.Write(log.GetData())
}

func tailBytes(value string) (uint64, error) {
	if value == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(value, 10, 64)
	if err != nil {
		return 0, apierrors.NewBadRequest(fmt.Sprintf("%s=%q is not a byte count", compute.MachineConsoleTailBytesParam, value))
	}
	return n, nil
}

// runtimeError turns a runtime call's error into the status the user sees.
func runtimeError(m *computev1alpha1.Machine, err error) *apierrors.StatusError {
	name := m.Namespace + "/" + m.Name
	switch grpcstatus.Code(err) {
	case codes.NotFound:
		return apierrors.NewConflict(compute.Resource("machines"), m.Name,
			fmt.Errorf("machine %s is not created on its pool yet (state %q)", name, m.Status.State))
	case codes.Unavailable, codes.DeadlineExceeded:
		return apierrors.NewServiceUnavailable(fmt.Sprintf("the machine runtime of pool %s does not answer: %s", m.Spec.MachinePoolRef.Name, grpcstatus.Convert(err).Message()))
	default:
		return apierrors.NewInternalError(fmt.Errorf("the console of machine %s: %s", name, grpcstatus.Convert(err).Message()))
	}
}

// writeError writes err as a metav1.Status, as the apiserver would, so that clients show its
// message.
func writeError(w http.ResponseWriter, err error) {
	status := apierrors.NewInternalError(err).ErrStatus
	if statusError, ok := err.(apierrors.APIStatus); ok {
		status = statusError.Status()
	}
	status.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	status.Status = metav1.StatusFailure
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(status.Code))
	if err := json.NewEncoder(w).Encode(status); err != nil {
		klog.Background().V(2).Info("writing a console error", "err", err)
	}
}
