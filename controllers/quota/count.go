package quota

import (
	"context"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/apis/core"
	"github.com/ferrite-dev/ferrite/apis/core/usage"
	corevalidation "github.com/ferrite-dev/ferrite/apis/core/validation"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
)

// counted is what a namespace's objects use, for the names a quota limits.
type counted struct {
	used corev1.ResourceList
	// incomplete are the names the count cannot know in full: CPU and memory when a machine
	// uses a class that does not exist (a class in use normally cannot be deleted, but one
	// deleted before that rule, or a machine created without a CPU quota, can be left so).
	incomplete map[corev1.ResourceName]bool
	// missingClasses are those classes, sorted.
	missingClasses []string
}

// count sums the namespace's use of every name in hard (and only those: a quota reports what
// it limits), reading through reader: the cache, or the API server for a live count.
func (c *Controller) count(ctx context.Context, reader client.Reader, namespace string, hard corev1.ResourceList) (counted, error) {
	result := counted{incomplete: map[corev1.ResourceName]bool{}}
	total := corev1.ResourceList{}
	machines := &computev1alpha1.MachineList{}
	if err := reader.List(ctx, machines, client.InNamespace(namespace)); err != nil {
		return result, err
	}
	classes := map[string]corev1.ResourceList{}
	for _, m := range machines.Items {
		name := m.Spec.MachineClassRef.Name
		if _, known := classes[name]; !known {
			class := &computev1alpha1.MachineClass{}
			err := reader.Get(ctx, client.ObjectKey{Name: name}, class)
			switch {
			case apierrors.IsNotFound(err):
				result.missingClasses = append(result.missingClasses, name)
			case err != nil:
				return result, err
			}
			classes[name] = class.Capabilities
		}
		total = usage.Add(total, usage.Machine(name, classes[name]))
	}
	if len(result.missingClasses) > 0 {
		sort.Strings(result.missingClasses)
		result.incomplete[core.ResourceRequestsCPU] = true
		result.incomplete[core.ResourceRequestsMemory] = true
	}
	volumes := &storagev1alpha1.VolumeList{}
	if err := reader.List(ctx, volumes, client.InNamespace(namespace)); err != nil {
		return result, err
	}
	for _, v := range volumes.Items {
		total = usage.Add(total, usage.Volume(v.Spec.VolumeClassRef.Name, v.Spec.Resources[corev1.ResourceStorage]))
	}
	result.used = corev1.ResourceList{}
	for name := range hard {
		q, ok := total[name]
		if !ok && strings.HasPrefix(string(name), corevalidation.CountQuotaPrefix) && name != countMachines && name != countVolumes {
			n, err := c.countObjects(ctx, reader, namespace, name)
			if err != nil {
				return result, err
			}
			q = *resource.NewQuantity(n, resource.DecimalSI)
		} else if !ok {
			q = *resource.NewQuantity(0, resource.DecimalSI)
		}
		result.used[name] = q
	}
	return result, nil
}

// countObjects returns how many objects a "count/<resource>.<group>" name counts in the
// namespace, listing metadata only.
func (c *Controller) countObjects(ctx context.Context, reader client.Reader, namespace string, name corev1.ResourceName) (int64, error) {
	resourceName, group, _ := strings.Cut(strings.TrimPrefix(string(name), corevalidation.CountQuotaPrefix), ".")
	gvk, err := c.Client.RESTMapper().KindFor(schema.GroupVersionResource{Group: group, Resource: resourceName})
	if err != nil {
		// A kind this server does not serve has no objects.
		return 0, nil
	}
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if err := reader.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return 0, err
	}
	return int64(len(list.Items)), nil
}

// raised is current raised to the count wherever the count is higher, for the names counted
// (names no longer limited drop out). lowers reports whether the count is lower than current
// for a name the count knows in full: used should come down once no charge can be in flight.
func raised(current corev1.ResourceList, count counted) (used corev1.ResourceList, lowers bool) {
	used = corev1.ResourceList{}
	for name, q := range count.used {
		have, ok := current[name]
		switch {
		case !ok || have.Cmp(q) < 0:
			used[name] = q.DeepCopy()
		default:
			used[name] = have.DeepCopy()
			if have.Cmp(q) > 0 && !count.incomplete[name] {
				lowers = true
			}
		}
	}
	return used, lowers
}

// lowered is the count, except that names the count does not know in full keep current when
// it is higher: without the missing classes, a lower count only means machines went uncounted.
func lowered(current corev1.ResourceList, count counted) corev1.ResourceList {
	used := corev1.ResourceList{}
	for name, q := range count.used {
		if have, ok := current[name]; ok && count.incomplete[name] && have.Cmp(q) > 0 {
			q = have
		}
		used[name] = q.DeepCopy()
	}
	return used
}

// Machines and volumes are counted from their lists; other count/ names by metadata-only lists.
var (
	countMachines = usage.CountName(computev1alpha1.Resource("machines"))
	countVolumes  = usage.CountName(storagev1alpha1.Resource("volumes"))
)
