package durable

import (
	"context"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
)

// WriterKey is the annotation that tells which create request wrote an object.
const WriterKey = "test.ferrite.dev/writer"

// retryDelay is the pause before a create is sent again.
const retryDelay = 50 * time.Millisecond

// Outcome is what a client learnt about one object it created.
type Outcome struct {
	// Attempts is the number of create requests sent.
	Attempts int
	// Acknowledged: a create answered 201. Confirmed: a retried create answered AlreadyExists
	// and a read showed the object this client wrote (an earlier attempt stored it).
	Acknowledged, Confirmed bool
}

// Done reports whether the client knows the object is stored.
func (o Outcome) Done() bool { return o.Acknowledged || o.Confirmed }

// Set is the objects of one kind a test run creates: object i is named Name(i) and carries
// the annotation WriterKey: Writer(i); Outcomes[i] is what its client learnt.
type Set struct {
	Namespace string
	// Prefix starts every name; Run tells this run's writes from any other's.
	Prefix, Run string
	Outcomes    []Outcome
}

// NewSet returns a set of n objects named prefix-00000 and on in namespace.
func NewSet(namespace, prefix string, n int) *Set {
	return &Set{Namespace: namespace, Prefix: prefix, Run: strconv.FormatInt(time.Now().UnixNano(), 10), Outcomes: make([]Outcome, n)}
}

// Name is the name of object i.
func (s *Set) Name(i int) string { return fmt.Sprintf("%s-%05d", s.Prefix, i) }

// Writer is the WriterKey annotation of object i in this run.
func (s *Set) Writer(i int) string { return fmt.Sprintf("%s/%d", s.Run, i) }

// Index returns i for the name of object i.
func (s *Set) Index(name string) (int, bool) {
	var i int
	if _, err := fmt.Sscanf(name, s.Prefix+"-%05d", &i); err != nil || i < 0 || i >= len(s.Outcomes) || s.Name(i) != name {
		return 0, false
	}
	return i, true
}

// Machine is Machine i of the set as its client sends it.
func (s *Set) Machine(i int) *computev1alpha1.Machine {
	return &computev1alpha1.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name(i), Annotations: map[string]string{WriterKey: s.Writer(i)}},
		Spec: computev1alpha1.MachineSpec{
			MachineClassRef: corev1.LocalObjectReference{Name: "x3-small"},
			Power:           computev1alpha1.PowerOn,
			Image:           "ghcr.io/ferrite-dev/images/debian:12",
		},
	}
}

// Request is one create that a client sends until the server gives a definite answer.
type Request struct {
	// Name and Writer are the object's name and WriterKey annotation.
	Name, Writer string
	// Create sends the create once.
	Create func(ctx context.Context) error
	// StoredWriter reads the stored object and returns its WriterKey annotation.
	StoredWriter func(ctx context.Context) (string, error)
	// Retried, if set, is called with the kind of every error that made the client try again.
	Retried func(kind string)
}

// Create sends req until the server gives a definite answer, counting every error in errs by
// kind. Errors that leave the outcome open (Classify) are retried with the same name; an
// AlreadyExists after a retry must show this client's own object, which an earlier attempt
// wrote. Any other error ends the create with an error that names it.
func Create(ctx context.Context, req Request, out *Outcome, errs *ErrorCounts) error {
	for ctx.Err() == nil {
		out.Attempts++
		err := req.Create(ctx)
		switch {
		case err == nil:
			out.Acknowledged = true
			return nil
		case apierrors.IsAlreadyExists(err):
			if out.Attempts == 1 {
				return fmt.Errorf("%s: AlreadyExists on the first attempt: %v", req.Name, err)
			}
			got, err := readRetrying(ctx, req, errs)
			if err != nil {
				return err
			}
			if got != req.Writer {
				return fmt.Errorf("%s: AlreadyExists, but the stored object was written by %q, not %q", req.Name, got, req.Writer)
			}
			out.Confirmed = true
			return nil
		}
		kind, retryable := Classify(err)
		errs.Add(kind, err)
		if !retryable {
			return fmt.Errorf("%s: attempt %d: error not to retry (%s): %v", req.Name, out.Attempts, kind, err)
		}
		if req.Retried != nil {
			req.Retried(kind)
		}
		time.Sleep(retryDelay)
	}
	return fmt.Errorf("%s: gave up after %d attempts: %v", req.Name, out.Attempts, ctx.Err())
}

// readRetrying reads the stored object's writer until the server answers.
func readRetrying(ctx context.Context, req Request, errs *ErrorCounts) (string, error) {
	for ctx.Err() == nil {
		writer, err := req.StoredWriter(ctx)
		if err == nil {
			return writer, nil
		}
		kind, retryable := Classify(err)
		errs.Add(kind, err)
		if !retryable {
			return "", fmt.Errorf("%s: reading it back after AlreadyExists (%s): %v", req.Name, kind, err)
		}
		time.Sleep(retryDelay)
	}
	return "", fmt.Errorf("%s: reading it back after AlreadyExists: %v", req.Name, ctx.Err())
}
