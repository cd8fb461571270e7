package validation

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// fieldErr is what a test expects of one validation error: its type and the field it names.
type fieldErr struct {
	Type  field.ErrorType
	Field string
}

func (e fieldErr) String() string { return e.Field + ": " + string(e.Type) }

func required(path string) fieldErr     { return fieldErr{field.ErrorTypeRequired, path} }
func invalid(path string) fieldErr      { return fieldErr{field.ErrorTypeInvalid, path} }
func notSupported(path string) fieldErr { return fieldErr{field.ErrorTypeNotSupported, path} }
func duplicate(path string) fieldErr    { return fieldErr{field.ErrorTypeDuplicate, path} }
func forbidden(path string) fieldErr    { return fieldErr{field.ErrorTypeForbidden, path} }
func tooMany(path string) fieldErr      { return fieldErr{field.ErrorTypeTooMany, path} }

func compareFieldErr(a, b fieldErr) int { return strings.Compare(a.String(), b.String()) }

// expectErrors fails unless got holds exactly the wanted errors (in any order), so a rule that
// fires on the wrong field, with the wrong type, or alongside a stray error is caught.
func expectErrors(t *testing.T, got field.ErrorList, want ...fieldErr) {
	t.Helper()
	gotErrs := make([]fieldErr, 0, len(got))
	for _, err := range got {
		gotErrs = append(gotErrs, fieldErr{err.Type, err.Field})
	}
	slices.SortFunc(gotErrs, compareFieldErr)
	want = slices.Clone(want)
	slices.SortFunc(want, compareFieldErr)
	if !slices.Equal(gotErrs, want) {
		t.Errorf("errors differ\n got: %v\nwant: %v\nfull: %v", gotErrs, want, got.ToAggregate())
	}
}
