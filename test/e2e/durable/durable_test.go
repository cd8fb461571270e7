package durable

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"syscall"
	"testing"

	"golang.org/x/net/http2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestClassify(t *testing.T) {
	machines := schema.GroupResource{Group: "compute.ferrite.dev", Resource: "machines"}
	refused := &url.Error{Op: "Post", URL: "https://127.0.0.1:1", Err: fmt.Errorf("dial tcp: %w", syscall.ECONNREFUSED)}
	for _, c := range []struct {
		err       error
		kind      string
		retryable bool
	}{
		{refused, "connection refused", true},
		{&url.Error{Op: "Post", URL: "https://x", Err: syscall.ECONNRESET}, "connection reset or closed", true},
		{errors.New(`Post "https://x": http2: client connection lost`), "connection reset or closed", true},
		{&url.Error{Op: "Post", URL: "https://x", Err: context.DeadlineExceeded}, "timeout (client)", true},
		{&url.Error{Op: "Post", URL: "https://x", Err: http2.StreamError{StreamID: 7, Code: http2.ErrCodeInternal}}, "HTTP/2 stream reset (INTERNAL_ERROR)", true},
		{apierrors.NewServiceUnavailable("error trying to reach service: dial tcp 192.0.2.2:1: connect: connection refused"), "503 ServiceUnavailable: connection refused", true},
		{apierrors.NewInternalError(errors.New("etcdserver: leader changed")), "500 InternalError: leader changed", true},
		{apierrors.NewTimeoutError("request did not complete", 1), "timeout (504 Timeout)", true},
		{apierrors.NewTooManyRequests("slow down", 1), "429 TooManyRequests", true},
		{apierrors.NewForbidden(machines, "m", errors.New("no")), "403 Forbidden", false},
		{apierrors.NewBadRequest("bad"), "400 BadRequest", false},
		{errors.New("x509: certificate signed by unknown authority"), "other", false},
	} {
		kind, retryable := Classify(c.err)
		if kind != c.kind || retryable != c.retryable {
			t.Errorf("Classify(%v) = %q, %v; want %q, %v", c.err, kind, retryable, c.kind, c.retryable)
		}
	}
}

func TestSetNames(t *testing.T) {
	set := NewSet("ns", "machine", 10000)
	for _, i := range []int{0, 7, 9999} {
		if got, ok := set.Index(set.Name(i)); !ok || got != i {
			t.Errorf("Index(Name(%d) = %q) = %d, %v", i, set.Name(i), got, ok)
		}
	}
	for _, name := range []string{"machine-10000", "machine-7", "network-00001", "machine-00001x"} {
		if i, ok := set.Index(name); ok {
			t.Errorf("Index(%q) = %d, want not one of the set", name, i)
		}
	}
	var errs ErrorCounts
	errs.Add("b", errors.New("first b"))
	errs.Add("a", nil)
	errs.Add("b", errors.New("second b"))
	if got := errs.String(); got != "b: 2, a: 1" || errs.Total() != 3 {
		t.Errorf("ErrorCounts: %q, total %d", got, errs.Total())
	}
	if got := errs.Examples(); got != "b: first b" {
		t.Errorf("Examples: %q", got)
	}
}
