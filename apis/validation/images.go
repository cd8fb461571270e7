package validation

import (
	"path"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateImage checks an optional image: an OCI image reference (registry/repository:tag or
// @digest), or file:///absolute/path of a disk on the hosts, which providers also take. A typo
// is refused by the API, naming the field, instead of failing later on a host.
func ValidateImage(image string, fieldPath *field.Path) field.ErrorList {
	if image == "" {
		return nil
	}
	if file, ok := strings.CutPrefix(image, "file://"); ok {
		if !strings.HasPrefix(file, "/") || path.Clean(file) != file {
			return field.ErrorList{field.Invalid(fieldPath, image, "a file image must be file:///absolute/path, without . or .. elements")}
		}
		return nil
	}
	if _, err := name.ParseReference(image); err != nil {
		return field.ErrorList{field.Invalid(fieldPath, image, "must be an OCI image reference such as registry.example.com/os/debian:12, or file:///absolute/path: "+err.Error())}
	}
	return nil
}
