package publicaddress

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
)

// Slots is how many port ranges of size k fit from FirstNATPort to 65535.
func Slots(k int32) int32 {
	if k <= 0 {
		return 0
	}
	return (65536 - FirstNATPort) / k
}

// SlotRange is the port range of slot i of size k.
func SlotRange(i, k int32) (portMin, portMax int32) {
	return FirstNATPort + i*k, FirstNATPort + (i+1)*k - 1
}

// slotOf returns the slot nat holds for ranges of size k, or false if its range is not one.
func slotOf(nat *networkingv1alpha1.NATAssignment, k int32) (int32, bool) {
	if nat.PortMin < FirstNATPort || (nat.PortMin-FirstNATPort)%k != 0 {
		return 0, false
	}
	i := (nat.PortMin - FirstNATPort) / k
	_, portMax := SlotRange(i, k)
	return i, i < Slots(k) && nat.PortMax == portMax
}

// member reports whether nic should hold a range of gateway: in its network, of its family,
// without a VirtualIP.
func member(nic *networkingv1alpha1.NetworkInterface, gateway *networkingv1alpha1.NATGateway) bool {
	families := nic.Spec.IPFamilies
	if len(families) == 0 {
		families = []corev1.IPFamily{corev1.IPv4Protocol}
	}
	family := gateway.Spec.IPFamily
	if family == "" {
		family = corev1.IPv4Protocol
	}
	return nic.Spec.NetworkRef.Name == gateway.Spec.NetworkRef.Name && slices.Contains(families, family) && nic.Status.VirtualIP == ""
}

// holds reports whether nic's status.nat names gateway.
func holds(nic *networkingv1alpha1.NetworkInterface, gateway *networkingv1alpha1.NATGateway) bool {
	return nic.Status.NAT != nil && nic.Status.NAT.NATGatewayRef.Name == gateway.Name
}

// liveInterfaces lists the interfaces of gateway's namespace from the API server, by name.
func (r *NATGateways) liveInterfaces(ctx context.Context, gateway *networkingv1alpha1.NATGateway) ([]networkingv1alpha1.NetworkInterface, error) {
	list := &networkingv1alpha1.NetworkInterfaceList{}
	if err := r.APIReader.List(ctx, list, client.InNamespace(gateway.Namespace)); err != nil {
		return nil, err
	}
	slices.SortFunc(list.Items, func(a, b networkingv1alpha1.NetworkInterface) int { return strings.Compare(a.Name, b.Name) })
	return list.Items, nil
}

// assign hands each member interface a slot of gateway's address ip: members keep a valid slot
// they hold (the first by name keeps a slot held twice), the others get the lowest free one, and
// interfaces that are no longer members lose theirs. It returns how many slots are held; retry
// asks to look again after a lost write race.
func (r *NATGateways) assign(ctx context.Context, gateway *networkingv1alpha1.NATGateway, ip string) (held int, retry bool, err error) {
	nics, err := r.liveInterfaces(ctx, gateway)
	if err != nil {
		return 0, false, err
	}
	k := gateway.Spec.PortsPerNetworkInterface
	taken := map[int32]bool{}
	var waiting []*networkingv1alpha1.NetworkInterface
	for i := range nics {
		nic := &nics[i]
		switch {
		case !member(nic, gateway):
			if holds(nic, gateway) {
				retry = r.setNAT(ctx, nic, nil, &err) || retry
			}
		case holds(nic, gateway) && nic.Status.NAT.IP == ip:
			if slot, ok := slotOf(nic.Status.NAT, k); ok && !taken[slot] {
				taken[slot] = true
				continue
			}
			waiting = append(waiting, nic)
		default:
			waiting = append(waiting, nic)
		}
		if err != nil {
			return 0, false, err
		}
	}
	var starved []string
	next := int32(0)
	for _, nic := range waiting {
		for next < Slots(k) && taken[next] {
			next++
		}
		if next >= Slots(k) {
			starved = append(starved, nic.Name)
			if holds(nic, gateway) { // a range held twice or of an old address
				retry = r.setNAT(ctx, nic, nil, &err) || retry
				if err != nil {
					return 0, false, err
				}
			}
			continue
		}
		portMin, portMax := SlotRange(next, k)
		nat := &networkingv1alpha1.NATAssignment{NATGatewayRef: corev1.LocalObjectReference{Name: gateway.Name}, IP: ip, PortMin: portMin, PortMax: portMax}
		if r.setNAT(ctx, nic, nat, &err) {
			retry = true
			continue
		}
		if err != nil {
			return 0, false, err
		}
		taken[next] = true
	}
	if len(starved) > 0 {
		r.Recorder.Eventf(gateway, nil, corev1.EventTypeWarning, ReasonNATPortsExhausted, "AssignPorts",
			"all %d port ranges of %d ports are handed out; %d NetworkInterfaces get none (%s)", Slots(k), k, len(starved), names(starved))
	}
	return len(taken), retry, nil
}

// unassign clears every range of gateway.
func (r *NATGateways) unassign(ctx context.Context, gateway *networkingv1alpha1.NATGateway) (retry bool, err error) {
	nics, err := r.liveInterfaces(ctx, gateway)
	if err != nil {
		return false, err
	}
	for i := range nics {
		if holds(&nics[i], gateway) {
			if r.setNAT(ctx, &nics[i], nil, &err) {
				retry = true
			}
			if err != nil {
				return false, err
			}
		}
	}
	return retry, nil
}

// setNAT writes nic's status.nat, holding only if nic is unchanged since it was read. It reports
// a lost race (retry) and stores any other error in errp.
func (r *NATGateways) setNAT(ctx context.Context, nic *networkingv1alpha1.NetworkInterface, nat *networkingv1alpha1.NATAssignment, errp *error) bool {
	patch := client.MergeFromWithOptions(nic.DeepCopy(), client.MergeFromWithOptimisticLock{})
	nic.Status.NAT = nat
	err := r.Client.Status().Patch(ctx, nic, patch)
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return true
	}
	*errp = err
	return false
}

// names lists the first ten names.
func names(list []string) string {
	if len(list) > 10 {
		return fmt.Sprintf("%s and %d more", strings.Join(list[:10], ", "), len(list)-10)
	}
	return strings.Join(list, ", ")
}
