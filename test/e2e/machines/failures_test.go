//go:build e2e

package machines

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/machine"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
)

// A Machine whose image does not exist shows why on its Ready condition and in a Warning event;
// the provider keeps running and serves the other machines.
func TestMissingImage(t *testing.T) {
	m := newMachine(t, "no-image", pool.Registry+"/ferrite/does-not-exist:1", "")
	eventually(t, 2*time.Minute, "Ready=False naming the image failure, and a Warning event", func() error {
		current := getMachine(t, m.Name)
		c := meta.FindStatusCondition(current.Status.Conditions, machine.ConditionReady)
		if c == nil || c.Status != metav1.ConditionFalse || !strings.Contains(c.Reason+c.Message, "Image") {
			return fmt.Errorf("Ready %+v", c)
		}
		for _, e := range events(t, m.Name) {
			if strings.HasPrefix(e, "Warning ") && strings.Contains(e, "mage") {
				return nil
			}
		}
		return fmt.Errorf("no Warning event about the image: %v", events(t, m.Name))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := runtime.Version(ctx, &runtimev1alpha1.VersionRequest{Version: "v1alpha1"}); err != nil {
		t.Errorf("the provider does not answer after the failed pull: %v", err)
	}
	deleteMachine(t, getMachine(t, m.Name))
}

// A class larger than the host is offered with no room on the pool and a Machine of it is never
// placed there.
func TestClassLargerThanHost(t *testing.T) {
	ctx := context.Background()
	huge := "e2e-huge"
	if _, err := ferrite.ComputeV1alpha1().MachineClasses().Create(ctx, &computev1alpha1.MachineClass{
		ObjectMeta:   metav1.ObjectMeta{Name: huge},
		Capabilities: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("512"), corev1.ResourceMemory: resource.MustParse("64Ti")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "the pool reports the class with no room", func() error {
		p, err := ferrite.ComputeV1alpha1().MachinePools().Get(ctx, "local", metav1.GetOptions{})
		if err != nil {
			return err
		}
		q, ok := p.Status.Allocatable[corev1.ResourceName(huge)]
		if !ok || q.Value() != 0 {
			return fmt.Errorf("allocatable %v", p.Status.Allocatable)
		}
		return nil
	})
	m, err := ferrite.ComputeV1alpha1().Machines(namespace).Create(ctx, &computev1alpha1.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: "too-big"},
		Spec: computev1alpha1.MachineSpec{MachineClassRef: corev1.LocalObjectReference{Name: huge},
			Power: computev1alpha1.PowerOn, Image: pool.GuestImage},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Second)
	if current := getMachine(t, m.Name); current.Spec.MachinePoolRef != nil {
		t.Errorf("placed on %s", current.Spec.MachinePoolRef.Name)
	}
	if n := domainCount(t, string(m.UID)); n != 0 {
		t.Errorf("%d domains for a machine larger than the host", n)
	}
	deleteMachine(t, m)
}

func writeFile(path, data string) error { return os.WriteFile(path, []byte(data), 0o600) }
