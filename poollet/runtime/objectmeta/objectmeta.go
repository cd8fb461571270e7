// Package objectmeta holds the rules for the metadata every runtime object has (an ID and
// labels) that the machine and the volume runtime APIs share: how an ID and labels are checked,
// and how a list request's filter selects objects. The APIs' validation packages and the fakes
// use it, so both runtimes accept the same IDs and list the same way.
package objectmeta

import (
	"fmt"
	"maps"
	"regexp"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// MaxIDLength is the longest runtime object ID.
const MaxIDLength = 128

var idPattern = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// Invalid returns the INVALID_ARGUMENT status that names the bad field and what is wrong with it.
func Invalid(field, format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, "%s: %s", field, fmt.Sprintf(format, args...))
}

// ID checks a runtime object ID: 1 to MaxIDLength characters of [A-Za-z0-9._-].
func ID(field, id string) error {
	switch {
	case id == "":
		return Invalid(field, "required")
	case len(id) > MaxIDLength:
		return Invalid(field, "longer than %d characters", MaxIDLength)
	case !idPattern.MatchString(id):
		return Invalid(field, "%q has characters other than A-Z, a-z, 0-9, '.', '_' and '-'", id)
	}
	return nil
}

// Labels checks a runtime object's labels (or a label selector): no empty key.
func Labels(field string, labels map[string]string) error {
	for k := range labels {
		if k == "" {
			return Invalid(field, "empty label key")
		}
	}
	return nil
}

// Metadata is a runtime object's metadata (each API's ObjectMetadata).
type Metadata interface {
	GetId() string
	GetLabels() map[string]string
}

// Filter is a list request's filter (the machine API's MachineFilter, the volume API's
// ObjectFilter); nil matches everything.
type Filter interface {
	GetId() string
	GetLabelSelector() map[string]string
}

// Matches reports whether f selects the object with metadata md: f's ID, when set, is md's, and
// md has every label of f's selector with the same value.
func Matches(md Metadata, f Filter) bool {
	if f == nil {
		return true
	}
	if f.GetId() != "" && f.GetId() != md.GetId() {
		return false
	}
	labels := md.GetLabels()
	for k, v := range f.GetLabelSelector() {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Select returns the entries of objects (stored by ID) that f selects, ordered by ID; metadata
// returns an entry's metadata.
func Select[E any](objects map[string]E, f Filter, metadata func(E) Metadata) []E {
	var out []E
	for _, id := range slices.Sorted(maps.Keys(objects)) {
		if e := objects[id]; Matches(metadata(e), f) {
			out = append(out, e)
		}
	}
	return out
}
