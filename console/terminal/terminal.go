// Package terminal bridges a browser's WebSocket to the serial console of a Machine: it opens
// the machines/console subresource as the logged-in user (the Kubernetes streaming protocol,
// through client-go's WebSocket executor) and copies keystrokes one way and console output the
// other, as binary frames. A refusal of the API (403, 404, 503...) reaches the browser as one
// text frame {"type":"error","message":"..."} before the close, since a browser's WebSocket
// cannot read the HTTP status of a failed handshake.
package terminal

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/ferrite-dev/ferrite/apis/compute"
	"github.com/ferrite-dev/ferrite/console/browsersocket"
	"github.com/ferrite-dev/ferrite/console/jsonreply"
	"github.com/ferrite-dev/ferrite/console/session"
	computeclient "github.com/ferrite-dev/ferrite/generated/clientset/versioned/typed/compute/v1alpha1"
)

// Path is where the browser opens a console session.
const Path = "/console/ws"

// Handler serves Path. The request's context must carry its session (session.NewContext).
type Handler struct {
	Log *slog.Logger
}

// target is the Machine a request asks for and how much earlier output the session starts with.
type target struct {
	namespace, name string
	// tailBytes is passed on as tailBytes: by default none, because the app has just written
	// the scrollback it fetched with logs=true.
	tailBytes string
}

// ServeHTTP checks the request (same-origin Origin, the session's CSRF token in the csrf query
// parameter, a valid namespace and name), upgrades it and runs the bridge until either side
// ends.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, ok := browsersocket.Authorize(w, r)
	if !ok {
		return
	}
	t, err := parseTarget(r.URL.Query())
	if err != nil {
		jsonreply.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	conn, ok := browsersocket.Upgrade(w, r, "a console session")
	if !ok {
		return
	}
	h.bridge(r.Context(), conn, s, t)
}

// parseTarget reads and checks the query parameters namespace, name and tailBytes.
func parseTarget(query url.Values) (target, error) {
	t := target{namespace: query.Get("namespace"), name: query.Get("name"), tailBytes: query.Get(compute.MachineConsoleTailBytesParam)}
	if problems := validation.IsDNS1123Label(t.namespace); len(problems) > 0 {
		return t, fmt.Errorf("query parameter namespace %q: %s", t.namespace, strings.Join(problems, "; "))
	}
	if problems := validation.IsDNS1123Subdomain(t.name); len(problems) > 0 {
		return t, fmt.Errorf("query parameter name %q: %s", t.name, strings.Join(problems, "; "))
	}
	if t.tailBytes == "" {
		t.tailBytes = "0"
	}
	if _, err := strconv.ParseUint(t.tailBytes, 10, 64); err != nil {
		return t, fmt.Errorf("query parameter %s %q is not a byte count", compute.MachineConsoleTailBytesParam, t.tailBytes)
	}
	return t, nil
}

// consoleURL is the URL of t's interactive console session on the API server of s.
func consoleURL(s *session.Session, t target) (string, error) {
	client, err := computeclient.NewForConfig(s.Config)
	if err != nil {
		return "", err
	}
	request := client.RESTClient().Get().Namespace(t.namespace).Resource("machines").Name(t.name).SubResource("console").
		Param("stdin", "true").Param("stdout", "true").Param("tty", "true").Param(compute.MachineConsoleTailBytesParam, t.tailBytes)
	return request.URL().String(), nil
}

// message is err as the user reads it: the API's message when it sent a Status.
func message(err error) string {
	var upgrade *httpstream.UpgradeFailureError
	if errors.As(err, &upgrade) && upgrade.Cause != nil {
		err = upgrade.Cause
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Message != "" {
		return status.Status().Message
	}
	return err.Error()
}
