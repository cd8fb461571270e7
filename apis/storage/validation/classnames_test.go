package validation

import (
	"strings"
	"testing"

	vt "github.com/ferrite-dev/ferrite/apis/validation/validationtest"
)

// A class name is a key of pool status.allocatable: at most 63 characters, checked at create
// only, so that a class stored before the rule can still be updated.
func TestVolumeClassNameFitsAllocatable(t *testing.T) {
	for _, tt := range []struct {
		name string
		want []vt.FieldError
	}{
		{name: strings.Repeat("a", 63)},
		{name: "ssd.replicated"},
		{name: strings.Repeat("a", 64), want: []vt.FieldError{vt.Invalid("metadata.name")}},
	} {
		class := validVolumeClass()
		class.Name = tt.name
		vt.Expect(t, ValidateVolumeClass(class), tt.want...)
	}

	old := validVolumeClass()
	old.Name = strings.Repeat("a", 100)
	updated := old.DeepCopy()
	updated.Labels = map[string]string{"tier": "gold"}
	vt.Expect(t, ValidateVolumeClassUpdate(updated, old))
}
