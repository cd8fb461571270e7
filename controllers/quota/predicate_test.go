package quota

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	corev1alpha1 "github.com/ferrite-dev/ferrite/apis/core/v1alpha1"
)

// TestStatusOnlyUpdatesIgnored: a status-only update of a quota (the controller's own write or
// a charge by admission) does not start a reconcile; a spec change does.
func TestStatusOnlyUpdatesIgnored(t *testing.T) {
	old := &corev1alpha1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "ns", Generation: 1, ResourceVersion: "1"}}
	statusOnly := old.DeepCopy()
	statusOnly.ResourceVersion = "2"
	statusOnly.Status.Used = corev1.ResourceList{"requests.cpu": resource.MustParse("2")}
	if quotaChanges.Update(event.UpdateEvent{ObjectOld: old, ObjectNew: statusOnly}) {
		t.Error("a status-only update starts a reconcile")
	}
	specChange := old.DeepCopy()
	specChange.ResourceVersion, specChange.Generation = "3", 2
	if !quotaChanges.Update(event.UpdateEvent{ObjectOld: old, ObjectNew: specChange}) {
		t.Error("a spec change does not start a reconcile")
	}
}
