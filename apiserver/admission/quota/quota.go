// Package quota is the admission plugin that refuses creates and updates of Ferrite objects
// that would take a namespace past a ResourceQuota, and charges the quota for those it
// admits. Charging updates the quota's status.used with a resourceVersion precondition, so
// concurrent requests, even on several apiservers, cannot together exceed a limit; the quota
// controller later corrects used for objects that were deleted or whose create failed.
package quota

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apiserver/pkg/admission"

	"github.com/ferrite-dev/ferrite/apis/compute"
	"github.com/ferrite-dev/ferrite/apis/core"
	"github.com/ferrite-dev/ferrite/apis/core/usage"
	corev1alpha1 "github.com/ferrite-dev/ferrite/apis/core/v1alpha1"
	"github.com/ferrite-dev/ferrite/apis/storage"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	corelisters "github.com/ferrite-dev/ferrite/generated/listers/core/v1alpha1"
)

// PluginName is the name of the plugin in the admission chain.
const PluginName = "ferrite.dev/ResourceQuota"

// maxAttempts bounds the retries when another request charged a quota at the same time.
const maxAttempts = 20

// Plugin is the quota admission plugin.
type Plugin struct {
	*admission.Handler
	client versioned.Interface
	quotas corelisters.ResourceQuotaLister
	synced func() bool

	// noQuota remembers, per namespace, until when a live lookup found no quota there. The
	// informer can lag a quota created a moment ago; a live lookup on a lister miss closes that
	// gap, and remembering its answer keeps namespaces without quotas cheap.
	mu      sync.Mutex
	noQuota map[string]time.Time
}

// liveLookupTTL is how long a live lookup that found no quota in a namespace is trusted; the
// informer sees a new quota within milliseconds, so this only bounds the number of lookups.
const liveLookupTTL = 30 * time.Second

var _ admission.ValidationInterface = &Plugin{}

// New returns the plugin. The lister tells cheaply whether a namespace has quotas at all;
// until synced reports true, the plugin asks the apiserver instead.
func New(client versioned.Interface, quotas corelisters.ResourceQuotaLister, synced func() bool) *Plugin {
	return &Plugin{Handler: admission.NewHandler(admission.Create, admission.Update), client: client, quotas: quotas, synced: synced,
		noQuota: map[string]time.Time{}}
}

// Validate refuses a request that would exceed a quota of its namespace and charges the
// quotas for it.
func (p *Plugin) Validate(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetNamespace() == "" || a.GetSubresource() != "" || a.GetResource().GroupResource() == core.Resource("resourcequotas") {
		return nil
	}
	if !strings.HasSuffix(a.GetResource().Group, "ferrite.dev") {
		return nil
	}
	// An update that leaves unchanged what is counted charges nothing; decided before any
	// lookup, so that such updates keep working when, say, the machine's class is gone.
	if a.GetOperation() == admission.Update && sameCount(a.GetOldObject(), a.GetObject()) {
		return nil
	}
	has, err := p.namespaceHasQuotas(ctx, a.GetNamespace())
	if err != nil || !has {
		return err
	}
	delta, err := p.delta(ctx, a)
	if err != nil {
		return admission.NewForbidden(a, err)
	}
	if !increases(delta) {
		return nil
	}
	charged := map[string]bool{}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		quotas, err := p.client.CoreV1alpha1().ResourceQuotas(a.GetNamespace()).List(ctx, metav1.ListOptions{})
		if err != nil {
			return apierrors.NewInternalError(fmt.Errorf("reading quotas of %s: %w", a.GetNamespace(), err))
		}
		sort.Slice(quotas.Items, func(i, j int) bool { return quotas.Items[i].Name < quotas.Items[j].Name })
		var toCharge []*corev1alpha1.ResourceQuota
		for i := range quotas.Items {
			quota := &quotas.Items[i]
			relevant := limitedPart(quota.Spec.Hard, delta)
			if len(relevant) == 0 || charged[quota.Name] {
				continue
			}
			if quota.Status.Hard == nil {
				return admission.NewForbidden(a, fmt.Errorf("status unknown for quota %s: its usage is not computed yet (ferrite-controller-manager computes it; is it running?), retry shortly", quota.Name))
			}
			if exceeded := usage.Exceeded(quota.Spec.Hard, quota.Status.Used, relevant); len(exceeded) > 0 {
				return admission.NewForbidden(a, exceededError(quota, exceeded, relevant))
			}
			toCharge = append(toCharge, quota)
		}
		if a.IsDryRun() {
			return nil
		}
		conflict := false
		for _, quota := range toCharge {
			updated := quota.DeepCopy()
			updated.Status.Used = usage.Add(quota.Status.Used, limitedPart(quota.Spec.Hard, delta))
			_, err := p.client.CoreV1alpha1().ResourceQuotas(quota.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
			if apierrors.IsConflict(err) {
				conflict = true
				break
			}
			if err != nil {
				return apierrors.NewInternalError(fmt.Errorf("charging quota %s: %w", quota.Name, err))
			}
			charged[quota.Name] = true
		}
		if !conflict {
			return nil
		}
	}
	return apierrors.NewTooManyRequests(fmt.Sprintf("quotas of %s are being charged by many requests at once, retry", a.GetNamespace()), 1)
}

func (p *Plugin) namespaceHasQuotas(ctx context.Context, namespace string) (bool, error) {
	if p.synced != nil && p.synced() {
		list, err := p.quotas.ResourceQuotas(namespace).List(labels.Everything())
		if err != nil || len(list) > 0 {
			return len(list) > 0, err
		}
	}
	p.mu.Lock()
	until, known := p.noQuota[namespace]
	p.mu.Unlock()
	if known && time.Now().Before(until) {
		return false, nil
	}
	list, err := p.client.CoreV1alpha1().ResourceQuotas(namespace).List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return false, apierrors.NewInternalError(fmt.Errorf("reading quotas of %s: %w", namespace, err))
	}
	if len(list.Items) > 0 {
		return true, nil
	}
	p.mu.Lock()
	p.noQuota[namespace] = time.Now().Add(liveLookupTTL)
	p.mu.Unlock()
	return false, nil
}

// sameCount reports whether an update leaves what the object counts unchanged: the inputs of
// apis/core/usage are the same in old and updated. Only creates change object counts.
func sameCount(old, updated any) bool {
	switch o := old.(type) {
	case *compute.Machine:
		u, ok := updated.(*compute.Machine)
		return ok && o.Spec.MachineClassRef.Name == u.Spec.MachineClassRef.Name
	case *storage.Volume:
		u, ok := updated.(*storage.Volume)
		if !ok || o.Spec.VolumeClassRef.Name != u.Spec.VolumeClassRef.Name {
			return false
		}
		oldSize, newSize := o.Spec.Resources[corev1.ResourceStorage], u.Spec.Resources[corev1.ResourceStorage]
		return oldSize.Cmp(newSize) == 0
	case nil:
		return false
	default:
		return true
	}
}

// delta is what the request adds to the namespace's usage: all of the new object on create,
// the growth on update.
func (p *Plugin) delta(ctx context.Context, a admission.Attributes) (corev1.ResourceList, error) {
	newUsage, err := p.usageOf(ctx, a, a.GetObject(), true)
	if err != nil {
		return nil, err
	}
	if a.GetOperation() != admission.Update || a.GetOldObject() == nil {
		return newUsage, nil
	}
	oldUsage, err := p.usageOf(ctx, a, a.GetOldObject(), false)
	if err != nil {
		return nil, err
	}
	return usage.Subtract(newUsage, oldUsage), nil
}

// usageOf is what obj counts. A machine whose class is missing counts only as a machine of
// that class; when strict (the object being admitted) and a quota limits CPU or memory, that
// is an error, since its CPU and memory cannot be charged. For the old object of an update it
// is not: counting less for the old object only makes the update charge more.
func (p *Plugin) usageOf(ctx context.Context, a admission.Attributes, obj any, strict bool) (corev1.ResourceList, error) {
	switch o := obj.(type) {
	case *compute.Machine:
		className := o.Spec.MachineClassRef.Name
		class, err := p.client.ComputeV1alpha1().MachineClasses().Get(ctx, className, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			// Counts still apply; CPU and memory cannot be charged without the class.
			if strict && p.limitsClassResources(a.GetNamespace()) {
				return nil, fmt.Errorf("machine class %q not found: cannot charge its cpu and memory to the namespace's quota", className)
			}
			return usage.Machine(className, nil), nil
		}
		if err != nil {
			return nil, err
		}
		return usage.Machine(className, class.Capabilities), nil
	case *storage.Volume:
		return usage.Volume(o.Spec.VolumeClassRef.Name, o.Spec.Resources[corev1.ResourceStorage]), nil
	default:
		return usage.Object(a.GetResource().GroupResource()), nil
	}
}

// limitsClassResources reports whether a quota of the namespace limits CPU or memory.
func (p *Plugin) limitsClassResources(namespace string) bool {
	if p.synced == nil || !p.synced() {
		return true
	}
	quotas, _ := p.quotas.ResourceQuotas(namespace).List(labels.Everything())
	for _, quota := range quotas {
		if _, ok := quota.Spec.Hard[core.ResourceRequestsCPU]; ok {
			return true
		}
		if _, ok := quota.Spec.Hard[core.ResourceRequestsMemory]; ok {
			return true
		}
	}
	return false
}

func increases(delta corev1.ResourceList) bool {
	for _, q := range delta {
		if q.Sign() > 0 {
			return true
		}
	}
	return false
}

// limitedPart keeps the increases of delta that hard limits.
func limitedPart(hard, delta corev1.ResourceList) corev1.ResourceList {
	part := corev1.ResourceList{}
	for name, q := range delta {
		if _, limited := hard[name]; limited && q.Sign() > 0 {
			part[name] = q
		}
	}
	return part
}

func exceededError(quota *corev1alpha1.ResourceQuota, names []corev1.ResourceName, requested corev1.ResourceList) error {
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	var parts []string
	for _, name := range names {
		used := quota.Status.Used[name]
		want := requested[name]
		limit := quota.Spec.Hard[name]
		parts = append(parts, fmt.Sprintf("%s: requested %s, used %s, limited %s", name, want.String(), used.String(), limit.String()))
	}
	return fmt.Errorf("exceeded quota %s: %s", quota.Name, strings.Join(parts, "; "))
}
