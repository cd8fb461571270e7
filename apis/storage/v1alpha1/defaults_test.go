package v1alpha1_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/ferrite-dev/ferrite/apis/storage"
	"github.com/ferrite-dev/ferrite/apis/storage/install"
	"github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/apis/storage/validation"
)

func newScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	scheme := runtime.NewScheme()
	install.Install(scheme)
	return scheme
}

func TestVolumeClassDefaults(t *testing.T) {
	scheme := newScheme(t)
	tests := []struct {
		name string
		in   v1alpha1.ResizePolicy
		want v1alpha1.ResizePolicy
	}{
		{name: "static by default", in: "", want: v1alpha1.ResizePolicyStatic},
		{name: "expand only kept", in: v1alpha1.ResizePolicyExpandOnly, want: v1alpha1.ResizePolicyExpandOnly},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			class := &v1alpha1.VolumeClass{ResizePolicy: tt.in}
			scheme.Default(class)
			if class.ResizePolicy != tt.want {
				t.Errorf("resizePolicy = %q, want %q", class.ResizePolicy, tt.want)
			}
		})
	}
}

func TestVolumeClassListDefaults(t *testing.T) {
	list := &v1alpha1.VolumeClassList{Items: []v1alpha1.VolumeClass{{}}}
	newScheme(t).Default(list)
	if list.Items[0].ResizePolicy != v1alpha1.ResizePolicyStatic {
		t.Errorf("resizePolicy = %q, want Static", list.Items[0].ResizePolicy)
	}
}

// A VolumeClass that states only its capabilities is valid once defaulted.
func TestDefaultedVolumeClassIsValid(t *testing.T) {
	scheme := newScheme(t)
	class := &v1alpha1.VolumeClass{Capabilities: corev1.ResourceList{
		validation.ResourceIOPS: resource.MustParse("3000"),
		validation.ResourceTPS:  resource.MustParse("100Mi"),
	}}
	scheme.Default(class)
	internal := &storage.VolumeClass{}
	if err := scheme.Convert(class, internal, nil); err != nil {
		t.Fatal(err)
	}
	if errs := validation.ValidateVolumeClass(internal); len(errs) > 0 {
		t.Errorf("defaulted volume class is invalid: %v", errs.ToAggregate())
	}
}
