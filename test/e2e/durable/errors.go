package durable

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/net/http2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Classify names the kind of a failed request and tells whether it leaves the request's
// outcome open, so that the client must send it again: no answer at all (connection refused,
// reset or closed, the request's HTTP/2 stream reset, a timeout) or an answer that asks to come
// back later (429, 5xx). Any other answer is definite, and a client that gets one on a create
// it must retry has met a bug.
func Classify(err error) (kind string, retryable bool) {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		s := status.Status()
		switch {
		case s.Reason == metav1.StatusReasonTimeout || s.Reason == metav1.StatusReasonServerTimeout || s.Code == http.StatusGatewayTimeout:
			return fmt.Sprintf("timeout (%d %s)", s.Code, s.Reason), true
		case s.Code == http.StatusTooManyRequests:
			return "429 TooManyRequests", true
		case s.Code >= 500:
			return fmt.Sprintf("%d %s%s", s.Code, s.Reason, cause(s.Message)), true
		}
		return fmt.Sprintf("%d %s", s.Code, s.Reason), false
	}
	var streamErr http2.StreamError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", true
	// A proxy whose backend died mid-request (kube-apiserver in front of a killed
	// ferrite-apiserver) resets the request's stream: no answer.
	case errors.As(err, &streamErr):
		return fmt.Sprintf("HTTP/2 stream reset (%v)", streamErr.Code), true
	case strings.Contains(err.Error(), "stream error: stream ID"):
		return "HTTP/2 stream reset", true
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		strings.Contains(err.Error(), "http2: client connection lost"),
		strings.Contains(err.Error(), "http2: server sent GOAWAY"),
		strings.Contains(err.Error(), "connection reset by peer"):
		return "connection reset or closed", true
	case errors.Is(err, context.DeadlineExceeded), isNetTimeout(err),
		strings.Contains(err.Error(), "Client.Timeout exceeded"):
		return "timeout (client)", true
	}
	return "other", false
}

func isNetTimeout(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

// cause picks out of a 5xx message what went wrong underneath, for the tally of error kinds.
func cause(message string) string {
	for _, c := range []string{"connection refused", "connection reset", "EOF", "leader changed", "no leader",
		"request timed out", "too many requests", "context deadline exceeded", "i/o timeout"} {
		if strings.Contains(message, c) {
			return ": " + c
		}
	}
	return ""
}

// ErrorCounts tallies the errors clients saw, by kind, and keeps the first error of each
// kind; it is safe for concurrent use.
type ErrorCounts struct {
	mu       sync.Mutex
	counts   map[string]int
	examples map[string]string
}

// Add counts one error of kind; err, if not nil, is kept as the kind's example when it is the
// first.
func (e *ErrorCounts) Add(kind string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.counts == nil {
		e.counts, e.examples = map[string]int{}, map[string]string{}
	}
	e.counts[kind]++
	if _, ok := e.examples[kind]; !ok && err != nil {
		e.examples[kind] = err.Error()
	}
}

// Examples returns the first error of each kind, one line each.
func (e *ErrorCounts) Examples() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var lines []string
	for kind, example := range e.examples {
		lines = append(lines, fmt.Sprintf("%s: %s", kind, example))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// Total is the number of errors counted.
func (e *ErrorCounts) Total() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, c := range e.counts {
		n += c
	}
	return n
}

// String lists the kinds, most frequent first.
func (e *ErrorCounts) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.counts) == 0 {
		return "none"
	}
	kinds := make([]string, 0, len(e.counts))
	for kind := range e.counts {
		kinds = append(kinds, kind)
	}
	sort.Slice(kinds, func(i, j int) bool {
		if e.counts[kinds[i]] != e.counts[kinds[j]] {
			return e.counts[kinds[i]] > e.counts[kinds[j]]
		}
		return kinds[i] < kinds[j]
	})
	parts := make([]string, len(kinds))
	for i, kind := range kinds {
		parts[i] = fmt.Sprintf("%s: %d", kind, e.counts[kind])
	}
	return strings.Join(parts, ", ")
}
