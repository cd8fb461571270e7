package v1alpha1_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/ferrite-dev/ferrite/apis/core/install"
	"github.com/ferrite-dev/ferrite/apis/core/v1alpha1"
)

// ResourceQuota has no defaults: an unset limit means "no limit", so defaulting must not add any.
func TestResourceQuotaHasNoDefaults(t *testing.T) {
	scheme := runtime.NewScheme()
	install.Install(scheme)
	quota := &v1alpha1.ResourceQuota{Spec: v1alpha1.ResourceQuotaSpec{Hard: corev1.ResourceList{"requests.cpu": resource.MustParse("8")}}}
	before := quota.DeepCopy()
	scheme.Default(quota)
	if !equality.Semantic.DeepEqual(before, quota) {
		t.Errorf("defaulting changed a ResourceQuota: %+v", quota)
	}
}
