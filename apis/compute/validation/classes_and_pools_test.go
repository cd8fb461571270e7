package validation

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ferrite-dev/ferrite/apis/compute"
	apivalidation "github.com/ferrite-dev/ferrite/apis/validation"
	vt "github.com/ferrite-dev/ferrite/apis/validation/validationtest"
)

func validMachineClass() *compute.MachineClass {
	return &compute.MachineClass{
		ObjectMeta: metav1.ObjectMeta{Name: "x3-large"},
		Capabilities: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("4"),
			corev1.ResourceMemory: resource.MustParse("16Gi"),
		},
	}
}

func TestValidateMachineClass(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*compute.MachineClass)
		want   []vt.FieldError
	}{
		{name: "valid", mutate: func(*compute.MachineClass) {}},
		{name: "extra capability", mutate: func(c *compute.MachineClass) { c.Capabilities["ferrite.dev/gpu"] = resource.MustParse("1") }},
		{name: "missing cpu", mutate: func(c *compute.MachineClass) { delete(c.Capabilities, corev1.ResourceCPU) },
			want: []vt.FieldError{vt.Required("capabilities[cpu]")}},
		{name: "missing both", mutate: func(c *compute.MachineClass) { c.Capabilities = nil },
			want: []vt.FieldError{vt.Required("capabilities[cpu]"), vt.Required("capabilities[memory]")}},
		{name: "zero memory", mutate: func(c *compute.MachineClass) { c.Capabilities[corev1.ResourceMemory] = resource.MustParse("0") },
			want: []vt.FieldError{vt.Invalid("capabilities[memory]")}},
		{name: "negative cpu", mutate: func(c *compute.MachineClass) { c.Capabilities[corev1.ResourceCPU] = resource.MustParse("-2") },
			want: []vt.FieldError{vt.Invalid("capabilities[cpu]")}},
		{name: "negative extra capability", mutate: func(c *compute.MachineClass) { c.Capabilities["ferrite.dev/gpu"] = resource.MustParse("-1") },
			want: []vt.FieldError{vt.Invalid("capabilities[ferrite.dev/gpu]")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			class := validMachineClass()
			tt.mutate(class)
			vt.Expect(t, ValidateMachineClass(class), tt.want...)
		})
	}
}

func TestValidateMachineClassUpdate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*compute.MachineClass)
		want []vt.FieldError
	}{
		{name: "labels only", edit: func(c *compute.MachineClass) { c.Labels = map[string]string{"family": "x3"} }},
		// 4 and 4000m are the same quantity: not a change.
		{name: "same quantity other spelling", edit: func(c *compute.MachineClass) { c.Capabilities[corev1.ResourceCPU] = resource.MustParse("4000m") }},
		{name: "capabilities are immutable", edit: func(c *compute.MachineClass) { c.Capabilities[corev1.ResourceCPU] = resource.MustParse("8") },
			want: []vt.FieldError{vt.Invalid("capabilities")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldClass := validMachineClass()
			newClass := oldClass.DeepCopy()
			tt.edit(newClass)
			vt.Expect(t, ValidateMachineClassUpdate(newClass, oldClass), tt.want...)
		})
	}
}

func validMachinePool() *compute.MachinePool {
	return &compute.MachinePool{
		ObjectMeta: metav1.ObjectMeta{Name: "host-a"},
		Spec: compute.MachinePoolSpec{
			ProviderID: "libvirt://host-a",
			Taints:     []corev1.Taint{{Key: "ferrite.dev/maintenance", Effect: corev1.TaintEffectNoSchedule}},
		},
	}
}

func TestValidateMachinePool(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*compute.MachinePool)
		want   []vt.FieldError
	}{
		{name: "valid", mutate: func(*compute.MachinePool) {}},
		{name: "no provider id yet", mutate: func(p *compute.MachinePool) { p.Spec.ProviderID = "" }},
		{name: "taint without effect", mutate: func(p *compute.MachinePool) { p.Spec.Taints[0].Effect = "" },
			want: []vt.FieldError{vt.Required("spec.taints[0].effect")}},
		{name: "duplicate taint", mutate: func(p *compute.MachinePool) { p.Spec.Taints = append(p.Spec.Taints, p.Spec.Taints[0]) },
			want: []vt.FieldError{vt.Duplicate("spec.taints[1]")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := validMachinePool()
			tt.mutate(pool)
			vt.Expect(t, ValidateMachinePool(pool), tt.want...)
		})
	}
}

func TestValidateMachinePoolUpdate(t *testing.T) {
	tests := []struct {
		name      string
		old, edit func(*compute.MachinePool)
		want      []vt.FieldError
	}{
		{name: "taints may change", old: func(*compute.MachinePool) {}, edit: func(p *compute.MachinePool) { p.Spec.Taints = nil }},
		{name: "provider id may be set", old: func(p *compute.MachinePool) { p.Spec.ProviderID = "" }, edit: func(*compute.MachinePool) {}},
		{name: "provider id fixed once set", old: func(*compute.MachinePool) {},
			edit: func(p *compute.MachinePool) { p.Spec.ProviderID = "libvirt://host-b" },
			want: []vt.FieldError{vt.Invalid("spec.providerID")}},
		{name: "provider id cannot be cleared", old: func(*compute.MachinePool) {},
			edit: func(p *compute.MachinePool) { p.Spec.ProviderID = "" },
			want: []vt.FieldError{vt.Invalid("spec.providerID")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldPool := validMachinePool()
			tt.old(oldPool)
			newPool := validMachinePool()
			tt.edit(newPool)
			vt.Expect(t, ValidateMachinePoolUpdate(newPool, oldPool), tt.want...)
		})
	}
}

func TestValidateMachinePoolStatusUpdate(t *testing.T) {
	ready := metav1.Condition{Type: compute.MachinePoolConditionReady, Status: metav1.ConditionTrue, Reason: "Heartbeat", LastTransitionTime: metav1.Unix(1, 0)}
	tests := []struct {
		name   string
		status compute.MachinePoolStatus
		want   []vt.FieldError
	}{
		{name: "empty"},
		{name: "heartbeat", status: compute.MachinePoolStatus{
			Conditions:      []metav1.Condition{ready},
			Capacity:        corev1.ResourceList{"x3-large": resource.MustParse("8")},
			Allocatable:     corev1.ResourceList{"x3-large": resource.MustParse("0")},
			Addresses:       []compute.MachinePoolAddress{{Type: compute.MachinePoolInternalIP, Address: "192.0.2.10"}, {Type: compute.MachinePoolHostName, Address: "host-a"}},
			RuntimeEndpoint: "unix:///run/ferrite/machine.sock",
		}},
		{name: "negative capacity", status: compute.MachinePoolStatus{Capacity: corev1.ResourceList{"x3-large": resource.MustParse("-1")}},
			want: []vt.FieldError{vt.Invalid("status.capacity[x3-large]")}},
		{name: "negative allocatable", status: compute.MachinePoolStatus{Allocatable: corev1.ResourceList{"x3-large": resource.MustParse("-1")}},
			want: []vt.FieldError{vt.Invalid("status.allocatable[x3-large]")}},
		{name: "duplicate condition", status: compute.MachinePoolStatus{Conditions: []metav1.Condition{ready, ready}},
			want: []vt.FieldError{vt.Duplicate("status.conditions[1]")}},
		{name: "address without type", status: compute.MachinePoolStatus{Addresses: []compute.MachinePoolAddress{{Address: "192.0.2.10"}}},
			want: []vt.FieldError{vt.Required("status.addresses[0].type")}},
		{name: "unknown address type", status: compute.MachinePoolStatus{Addresses: []compute.MachinePoolAddress{{Type: "InternalDNS", Address: "host-a.local"}}},
			want: []vt.FieldError{vt.NotSupported("status.addresses[0].type")}},
		{name: "address without address", status: compute.MachinePoolStatus{Addresses: []compute.MachinePoolAddress{{Type: compute.MachinePoolExternalIP}}},
			want: []vt.FieldError{vt.Required("status.addresses[0].address")}},
		{name: "ledger counts", status: compute.MachinePoolStatus{
			Allocated: corev1.ResourceList{"x3-large": resource.MustParse("5")}, AllocatedRevision: "42",
			Reservations: []compute.MachinePoolReservation{{MachineUID: "a", MachineClass: "x3-large"}},
		}},
		{name: "negative allocated", status: compute.MachinePoolStatus{Allocated: corev1.ResourceList{"x3-large": resource.MustParse("-1")}},
			want: []vt.FieldError{vt.Invalid("status.allocated[x3-large]")}},
		{name: "too many reservations in flight", status: compute.MachinePoolStatus{Reservations: manyReservations(apivalidation.MaxLedgerReservations + 1)},
			want: []vt.FieldError{vt.TooMany("status.reservations")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := validMachinePool()
			pool.Status = tt.status
			vt.Expect(t, ValidateMachinePoolStatusUpdate(pool, validMachinePool()), tt.want...)
		})
	}
}

func manyReservations(n int) []compute.MachinePoolReservation {
	entries := make([]compute.MachinePoolReservation, n)
	for i := range entries {
		entries[i] = compute.MachinePoolReservation{MachineUID: types.UID(fmt.Sprintf("uid-%d", i)), MachineClass: "x3-large"}
	}
	return entries
}
