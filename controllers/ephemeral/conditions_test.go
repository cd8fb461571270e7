package ephemeral_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	corev1alpha1 "github.com/ferrite-dev/ferrite/apis/core/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/controllers/ephemeral"
)

// A quota that refuses the ephemeral Volume shows on the Machine: EphemeralResourcesReady False
// naming the entry, written without touching other conditions, and a Warning event. Once the
// quota is raised, the volume is created and the condition turns True.
func TestQuotaRefusalIsReportedOnTheMachine(t *testing.T) {
	server := testserver.Start(t)
	ctx := context.Background()
	const ns = "eph-quota"
	if _, err := server.Client.ComputeV1alpha1().MachineClasses().Create(ctx, &computev1alpha1.MachineClass{
		ObjectMeta:   metav1.ObjectMeta{Name: "small"},
		Capabilities: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	quotas := server.Client.CoreV1alpha1().ResourceQuotas(ns)
	hard := corev1.ResourceList{"requests.storage": resource.MustParse("10Gi")}
	quota, err := quotas.Create(ctx, &corev1alpha1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "quota"},
		Spec: corev1alpha1.ResourceQuotaSpec{Hard: hard}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Usage as the quota controller computes it for an empty namespace.
	quota.Status.Hard, quota.Status.Used = hard, corev1.ResourceList{"requests.storage": resource.MustParse("0")}
	if _, err := quotas.UpdateStatus(ctx, quota, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	machines := server.Client.ComputeV1alpha1().Machines(ns)
	machine, err := machines.Create(ctx, &computev1alpha1.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: computev1alpha1.MachineSpec{
			MachineClassRef: corev1.LocalObjectReference{Name: "small"}, Image: "debian-12",
			Volumes: []computev1alpha1.MachineVolume{{Name: "root", Ephemeral: &computev1alpha1.EphemeralVolumeSource{
				VolumeClassRef: corev1.LocalObjectReference{Name: "fast"},
				Resources:      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("20Gi")},
			}}},
			NetworkInterfaces: []computev1alpha1.MachineNetworkInterface{{Name: "eth0", Ephemeral: &computev1alpha1.EphemeralNetworkInterfaceSource{
				NetworkRef: corev1.LocalObjectReference{Name: "net"}}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Another writer's condition, which the controller must leave alone.
	meta.SetStatusCondition(&machine.Status.Conditions, metav1.Condition{Type: "Scheduled", Status: metav1.ConditionFalse, Reason: "NoPool"})
	if _, err := machines.UpdateStatus(ctx, machine, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	_, recorder := startEphemeralRecording(t, server)
	var condition *metav1.Condition
	waitFor(t, "EphemeralResourcesReady False", func() bool {
		m, err := machines.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false
		}
		condition = meta.FindStatusCondition(m.Status.Conditions, ephemeral.ConditionReady)
		return condition != nil && condition.Status == metav1.ConditionFalse
	})
	if condition.Reason != ephemeral.ReasonCreateForbidden || !strings.Contains(condition.Message, `volume "root" (Volume web-root)`) ||
		!strings.Contains(condition.Message, "exceeded quota") || strings.Contains(condition.Message, "eth0") {
		t.Errorf("condition %+v, want CreateForbidden naming the root volume and the quota, and not eth0", condition)
	}
	if _, err := server.Client.NetworkingV1alpha1().NetworkInterfaces(ns).Get(ctx, "web-eth0", metav1.GetOptions{}); err != nil {
		t.Errorf("the interface, which the quota allows, was not created: %v", err)
	}
	select {
	case event := <-recorder.Events:
		if !strings.HasPrefix(event, "Warning "+ephemeral.ReasonCreateForbidden) || !strings.Contains(event, "web-root") {
			t.Errorf("event %q, want a CreateForbidden warning naming web-root", event)
		}
	default:
		t.Error("no event recorded")
	}

	quota, err = quotas.Get(ctx, "quota", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	quota.Spec.Hard = corev1.ResourceList{"requests.storage": resource.MustParse("100Gi")}
	if _, err := quotas.Update(ctx, quota, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var m *computev1alpha1.Machine
	waitFor(t, "EphemeralResourcesReady True after the quota is raised", func() bool {
		m, err = machines.Get(ctx, "web", metav1.GetOptions{})
		return err == nil && meta.IsStatusConditionTrue(m.Status.Conditions, ephemeral.ConditionReady)
	})
	if scheduled := meta.FindStatusCondition(m.Status.Conditions, "Scheduled"); scheduled == nil || scheduled.Reason != "NoPool" {
		t.Errorf("conditions %+v: the Scheduled condition of another writer was clobbered", m.Status.Conditions)
	}
}

// The apiserver refuses, with 422 on the machine's fields, templates whose rendered object would
// be refused, and any change of a template of an existing machine.
func TestEphemeralTemplatesRefusedByTheAPIServer(t *testing.T) {
	server := testserver.Start(t)
	ctx := context.Background()
	machines := server.Client.ComputeV1alpha1().Machines("eph-templates")
	newMachine := func(name string, ips ...string) *computev1alpha1.Machine {
		return &computev1alpha1.Machine{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: computev1alpha1.MachineSpec{
				MachineClassRef: corev1.LocalObjectReference{Name: "small"},
				Volumes: []computev1alpha1.MachineVolume{{Name: "root", Ephemeral: &computev1alpha1.EphemeralVolumeSource{
					VolumeClassRef: corev1.LocalObjectReference{Name: "fast"},
					Resources:      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("20Gi")},
				}}},
				NetworkInterfaces: []computev1alpha1.MachineNetworkInterface{{Name: "eth0", Ephemeral: &computev1alpha1.EphemeralNetworkInterfaceSource{
					NetworkRef: corev1.LocalObjectReference{Name: "net"}, IPs: ips}}},
			},
		}
	}
	_, err := machines.Create(ctx, newMachine(strings.Repeat("m", 250)), metav1.CreateOptions{})
	wantInvalid(t, err, "spec.volumes[0].name", "<machine>-<entry>")
	_, err = machines.Create(ctx, newMachine("two-v4", "10.0.0.5", "10.0.0.6"), metav1.CreateOptions{})
	wantInvalid(t, err, "spec.networkInterfaces[0].ephemeral.ips[1]", "one address per family")

	machine, err := machines.Create(ctx, newMachine("web", "10.0.0.5", "2001:db8::5"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	machine.Spec.Volumes[0].Ephemeral.Resources[corev1.ResourceStorage] = resource.MustParse("40Gi")
	_, err = machines.Update(ctx, machine, metav1.UpdateOptions{})
	wantInvalid(t, err, "spec.volumes[0].ephemeral", "immutable")
}

// wantInvalid fails unless err is a 422 with a cause on field whose message contains text.
func wantInvalid(t *testing.T, err error, field, text string) {
	t.Helper()
	if !apierrors.IsInvalid(err) {
		t.Fatalf("got %v, want 422 on %s", err, field)
	}
	for _, cause := range err.(apierrors.APIStatus).Status().Details.Causes {
		if cause.Field == field && strings.Contains(cause.Message, text) {
			return
		}
	}
	t.Errorf("422 %v names no %s with %q", err, field, text)
}
