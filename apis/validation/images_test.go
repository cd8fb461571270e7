package validation

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestValidateImage(t *testing.T) {
	path := field.NewPath("spec", "image")
	for _, image := range []string{"", "debian", "127.0.0.1:5050/ferrite/guest:latest", "ghcr.io/ferrite-dev/os-images/debian:12",
		"registry.example.com/os@sha256:" + strings.Repeat("a", 64), "file:///var/lib/images/debian.raw"} {
		if errs := ValidateImage(image, path); len(errs) != 0 {
			t.Errorf("ValidateImage(%q) = %v, want no error", image, errs)
		}
	}
	for _, image := range []string{"Not A Valid/Image:Ref!", "UPPER/case", "host:5000/repo:bad tag", "repo@sha256:short", "file://relative/disk.raw", "file:///var/lib/../etc/shadow"} {
		errs := ValidateImage(image, path)
		if len(errs) != 1 || errs[0].Field != "spec.image" {
			t.Errorf("ValidateImage(%q) = %v, want one error on spec.image", image, errs)
		}
	}
}
