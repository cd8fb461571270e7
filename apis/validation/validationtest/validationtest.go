// Package validationtest helps tests check validation results exactly: which fields are
// named and with which error types.
package validationtest

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// FieldError is what a test expects of one validation error: its type and the field it names.
type FieldError struct {
	Type  field.ErrorType
	Field string
}

func (e FieldError) String() string { return e.Field + ": " + string(e.Type) }

// Required, Invalid, NotSupported, Duplicate, Forbidden and TooMany expect an error of that
// type on path.
func Required(path string) FieldError { return FieldError{field.ErrorTypeRequired, path} }

// Invalid expects an Invalid error on path.
func Invalid(path string) FieldError { return FieldError{field.ErrorTypeInvalid, path} }

// NotSupported expects a NotSupported error on path.
func NotSupported(path string) FieldError { return FieldError{field.ErrorTypeNotSupported, path} }

// Duplicate expects a Duplicate error on path.
func Duplicate(path string) FieldError { return FieldError{field.ErrorTypeDuplicate, path} }

// Forbidden expects a Forbidden error on path.
func Forbidden(path string) FieldError { return FieldError{field.ErrorTypeForbidden, path} }

// TooMany expects a TooMany error on path.
func TooMany(path string) FieldError { return FieldError{field.ErrorTypeTooMany, path} }

func compare(a, b FieldError) int { return strings.Compare(a.String(), b.String()) }

// Expect fails the test unless got holds exactly the wanted errors (in any order), so a rule
// that fires on the wrong field, with the wrong type, or alongside a stray error is caught.
func Expect(t testing.TB, got field.ErrorList, want ...FieldError) {
	t.Helper()
	gotErrors := make([]FieldError, 0, len(got))
	for _, err := range got {
		gotErrors = append(gotErrors, FieldError{err.Type, err.Field})
	}
	slices.SortFunc(gotErrors, compare)
	want = slices.Clone(want)
	slices.SortFunc(want, compare)
	if !slices.Equal(gotErrors, want) {
		t.Errorf("errors differ\n got: %v\nwant: %v\nfull: %v", gotErrors, want, got.ToAggregate())
	}
}
