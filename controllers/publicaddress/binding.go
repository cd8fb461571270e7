package publicaddress

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
)

// Binding binds VirtualIPs to the NetworkInterfaces that ask for them and writes each
// interface's status.virtualIP. It reconciles NetworkInterfaces.
type Binding struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads from the API server: whether the interface a VirtualIP names is gone.
	APIReader client.Reader
	// Recorder receives the Warning events of refused bindings.
	Recorder events.EventRecorder
}

// Reconcile binds the VirtualIP one interface names when it is free and writes the interface's
// status.virtualIP.
func (r *Binding) Reconcile(ctx context.Context, request reconcile.Request) (reconcile.Result, error) {
	nic := &networkingv1alpha1.NetworkInterface{}
	if err := r.Client.Get(ctx, request.NamespacedName, nic); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	bound, err := r.boundTo(ctx, nic)
	if err != nil {
		return reconcile.Result{}, err
	}
	if ref := nic.Spec.VirtualIPRef; ref != nil && !containsName(bound, ref.Name) {
		vip, retry, err := r.bind(ctx, nic, ref.Name)
		if err != nil || retry {
			return reconcile.Result{RequeueAfter: retryDelay}, err
		}
		if vip != nil {
			bound = append(bound, *vip)
		}
	}
	chosen := r.choose(nic, bound)
	want := ""
	if chosen != nil && usable(chosen, nic.Status.VirtualIP) {
		want = chosen.Status.IP
	}
	if nic.Status.VirtualIP == want {
		return reconcile.Result{}, nil
	}
	patch := client.MergeFrom(nic.DeepCopy())
	nic.Status.VirtualIP = want
	return reconcile.Result{}, client.IgnoreNotFound(r.Client.Status().Patch(ctx, nic, patch))
}

// boundTo lists the VirtualIPs whose targetRef names nic (not being deleted, not owned by a
// NATGateway or LoadBalancer).
func (r *Binding) boundTo(ctx context.Context, nic *networkingv1alpha1.NetworkInterface) ([]networkingv1alpha1.VirtualIP, error) {
	list := &networkingv1alpha1.VirtualIPList{}
	if err := r.Client.List(ctx, list, client.InNamespace(nic.Namespace), client.MatchingFields{TargetField: nic.Name}); err != nil {
		return nil, err
	}
	var bound []networkingv1alpha1.VirtualIP
	for _, vip := range list.Items {
		if targets(&vip, nic) && vip.DeletionTimestamp == nil && !ServiceOwned(&vip) {
			bound = append(bound, vip)
		}
	}
	return bound, nil
}

// targets reports whether vip's targetRef names nic.
func targets(vip *networkingv1alpha1.VirtualIP, nic *networkingv1alpha1.NetworkInterface) bool {
	t := vip.Spec.TargetRef
	return t != nil && t.Name == nic.Name && (t.UID == "" || t.UID == nic.UID)
}

// bind sets the targetRef of the VirtualIP name to nic when it is free: no target, or a target
// that no longer exists. It returns the bound VirtualIP, or nil with a Warning event when the
// VirtualIP cannot be bound. retry asks to look again (a lost update race).
func (r *Binding) bind(ctx context.Context, nic *networkingv1alpha1.NetworkInterface, name string) (vip *networkingv1alpha1.VirtualIP, retry bool, err error) {
	vip = &networkingv1alpha1.VirtualIP{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: nic.Namespace, Name: name}, vip); err != nil {
		// A VirtualIP created later requeues the interface through the watch.
		return nil, false, client.IgnoreNotFound(err)
	}
	if vip.DeletionTimestamp != nil {
		return nil, false, nil
	}
	if ServiceOwned(vip) {
		r.Recorder.Eventf(nic, vip, corev1.EventTypeWarning, ReasonVirtualIPNotBindable, "BindVirtualIP",
			"VirtualIP %s belongs to a NATGateway or LoadBalancer and cannot be bound to NetworkInterface %s", name, nic.Name)
		return nil, false, nil
	}
	if t := vip.Spec.TargetRef; t != nil {
		gone, err := r.targetGone(ctx, vip, nic)
		if err != nil {
			return nil, false, err
		}
		if !gone {
			r.Recorder.Eventf(nic, vip, corev1.EventTypeWarning, ReasonVirtualIPTaken, "BindVirtualIP",
				"VirtualIP %s is bound to NetworkInterface %s, not to %s", name, t.Name, nic.Name)
			return nil, false, nil
		}
	}
	vip.Spec.TargetRef = &networkingv1alpha1.TargetReference{Name: nic.Name, UID: nic.UID}
	// Update carries the resourceVersion read: of two interfaces asking at once, one wins.
	err = r.Client.Update(ctx, vip)
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	return vip, false, nil
}

// targetGone reports whether the interface vip's targetRef names (other than nic) no longer
// exists: a targetRef with a uid whose interface is gone or was re-created. Without a uid the
// name alone is the target, which stays taken.
func (r *Binding) targetGone(ctx context.Context, vip *networkingv1alpha1.VirtualIP, nic *networkingv1alpha1.NetworkInterface) (bool, error) {
	t := vip.Spec.TargetRef
	if t.UID == "" {
		return false, nil
	}
	if t.Name == nic.Name {
		return t.UID != nic.UID, nil // names are unique: the one with the other uid is gone
	}
	target := &networkingv1alpha1.NetworkInterface{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: vip.Namespace, Name: t.Name}, target)
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return target.UID != t.UID, nil
}

// choose picks the VirtualIP whose address the interface gets: the one its virtualIPRef names,
// else the oldest. Several get a Warning event.
func (r *Binding) choose(nic *networkingv1alpha1.NetworkInterface, bound []networkingv1alpha1.VirtualIP) *networkingv1alpha1.VirtualIP {
	if len(bound) == 0 {
		return nil
	}
	chosen := &bound[0]
	for i := range bound {
		vip := &bound[i]
		if ref := nic.Spec.VirtualIPRef; ref != nil && vip.Name == ref.Name {
			chosen = vip
			break
		}
		if older(vip, chosen) {
			chosen = vip
		}
	}
	if len(bound) > 1 {
		r.Recorder.Eventf(nic, chosen, corev1.EventTypeWarning, ReasonSeveralVirtualIPs, "BindVirtualIP",
			"%d VirtualIPs target NetworkInterface %s; it uses %s", len(bound), nic.Name, chosen.Name)
	}
	return chosen
}

func containsName(vips []networkingv1alpha1.VirtualIP, name string) bool {
	for _, vip := range vips {
		if vip.Name == name {
			return true
		}
	}
	return false
}

// older orders objects by creation time, then name: a total order every manager agrees on.
func older(a, b client.Object) bool {
	ta, tb := a.GetCreationTimestamp(), b.GetCreationTimestamp()
	if !ta.Equal(&tb) {
		return ta.Before(&tb)
	}
	return a.GetName() < b.GetName()
}
