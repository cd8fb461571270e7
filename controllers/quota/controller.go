// Package quota keeps ResourceQuota status true: status.hard mirrors spec.hard and status.used
// sums, for every name in spec.hard, what the namespace's objects use. The amounts come from
// apis/core/usage, which the apiserver's quota admission uses too, so an incoming object is
// charged exactly as this controller counts a stored one.
package quota

import (
	"context"
	"github.com/ferrite-dev/ferrite/apis/core/usage"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	corev1alpha1 "github.com/ferrite-dev/ferrite/apis/core/v1alpha1"
	corevalidation "github.com/ferrite-dev/ferrite/apis/core/validation"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
)

// Controller reconciles ResourceQuotas.
type Controller struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// ResyncInterval recounts every quota periodically; counts of kinds other than machines
	// and volumes are only refreshed then.
	ResyncInterval time.Duration
}

// Reconcile recomputes one quota's status.
func (c *Controller) Reconcile(ctx context.Context, request reconcile.Request) (reconcile.Result, error) {
	quota := &corev1alpha1.ResourceQuota{}
	if err := c.Client.Get(ctx, request.NamespacedName, quota); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	used, err := c.usage(ctx, quota.Namespace, quota.Spec.Hard)
	if err != nil {
		return reconcile.Result{}, err
	}
	if equality.Semantic.DeepEqual(quota.Status.Used, used) && equality.Semantic.DeepEqual(quota.Status.Hard, quota.Spec.Hard) &&
		quota.Status.ObservedGeneration == quota.Generation {
		return reconcile.Result{RequeueAfter: c.ResyncInterval}, nil
	}
	quota.Status.Hard = quota.Spec.Hard.DeepCopy()
	quota.Status.Used = used
	quota.Status.ObservedGeneration = quota.Generation
	if err := c.Client.Status().Update(ctx, quota); err != nil {
		if apierrors.IsConflict(err) {
			return reconcile.Result{RequeueAfter: conflictRetryDelay}, nil
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	return reconcile.Result{RequeueAfter: c.ResyncInterval}, nil
}

// usage sums the namespace's use of every name in hard (and only those: a quota reports what it limits).
func (c *Controller) usage(ctx context.Context, namespace string, hard corev1.ResourceList) (corev1.ResourceList, error) {
	total := corev1.ResourceList{}
	machines := &computev1alpha1.MachineList{}
	if err := c.Client.List(ctx, machines, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	classes := map[string]corev1.ResourceList{}
	for _, m := range machines.Items {
		name := m.Spec.MachineClassRef.Name
		if _, known := classes[name]; !known {
			class := &computev1alpha1.MachineClass{}
			if err := c.Client.Get(ctx, client.ObjectKey{Name: name}, class); err != nil && !apierrors.IsNotFound(err) {
				return nil, err
			}
			classes[name] = class.Capabilities
		}
		total = usage.Add(total, usage.Machine(name, classes[name]))
	}
	volumes := &storagev1alpha1.VolumeList{}
	if err := c.Client.List(ctx, volumes, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	for _, v := range volumes.Items {
		total = usage.Add(total, usage.Volume(v.Spec.VolumeClassRef.Name, v.Spec.Resources[corev1.ResourceStorage]))
	}
	used := corev1.ResourceList{}
	for name := range hard {
		q, counted := total[name]
		if !counted && strings.HasPrefix(string(name), corevalidation.CountQuotaPrefix) && name != countMachines && name != countVolumes {
			n, err := c.count(ctx, namespace, name)
			if err != nil {
				return nil, err
			}
			q = *resource.NewQuantity(n, resource.DecimalSI)
		} else if !counted {
			q = *resource.NewQuantity(0, resource.DecimalSI)
		}
		used[name] = q
	}
	return used, nil
}

// count returns how many objects a "count/<resource>.<group>" name counts in the namespace,
// listing metadata only.
func (c *Controller) count(ctx context.Context, namespace string, name corev1.ResourceName) (int64, error) {
	resourceName, group, _ := strings.Cut(strings.TrimPrefix(string(name), corevalidation.CountQuotaPrefix), ".")
	gvk, err := c.Client.RESTMapper().KindFor(schema.GroupVersionResource{Group: group, Resource: resourceName})
	if err != nil {
		// A kind this server does not serve has no objects.
		return 0, nil
	}
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if err := c.Client.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return 0, err
	}
	return int64(len(list.Items)), nil
}

// SetupWithManager registers the controller (named resourcequota): machines and volumes requeue
// the quotas of their namespace, a machine class change requeues every quota.
func (c *Controller) SetupWithManager(mgr ctrl.Manager) error {
	quotasOfNamespace := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		return c.quotas(ctx, client.InNamespace(obj.GetNamespace()))
	})
	allQuotas := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
		return c.quotas(ctx)
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("resourcequota").
		For(&corev1alpha1.ResourceQuota{}).
		// Status writes (scheduling, poollets) do not change usage; spec changes, creates and deletes do.
		Watches(&computev1alpha1.Machine{}, quotasOfNamespace, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&storagev1alpha1.Volume{}, quotasOfNamespace, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&computev1alpha1.MachineClass{}, allQuotas).
		Complete(c)
}

func (c *Controller) quotas(ctx context.Context, opts ...client.ListOption) []reconcile.Request {
	list := &corev1alpha1.ResourceQuotaList{}
	if err := c.Client.List(ctx, list, opts...); err != nil {
		return nil
	}
	requests := make([]reconcile.Request, 0, len(list.Items))
	for _, q := range list.Items {
		requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&q)})
	}
	return requests
}

// Machines and volumes are counted from their lists; other count/ names by metadata-only lists.
var (
	countMachines = usage.CountName(computev1alpha1.Resource("machines"))
	countVolumes  = usage.CountName(storagev1alpha1.Resource("volumes"))
)
