package machine

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	runtimev1alpha1 "github.com/ferrite-dev/ferrite/poollet/runtime/machine/v1alpha1"
	"github.com/ferrite-dev/ferrite/poollet/runtime/machine/validation"
)

// Attributes of a runtime network interface the broker reads (the upper machinepoollet sets
// them, poollet/machine.Attribute*).
const (
	attributeNetworkUID = "ferrite.dev/network-uid"
	// driverCeph is the Volume access driver of an RBD network disk; its handle is
	// "<pool>/<image>" (provider/ceph).
	driverCeph = "ceph"
)

// CreateMachine makes the lower objects of a runtime machine, dependencies first (user-data
// Secret, Networks, NetworkInterfaces) and the Machine last. A retried create meets what exists
// and carries on; an existing Machine is returned with created=false. A permanent failure deletes
// what this call made.
func (b *Broker) CreateMachine(ctx context.Context, req *runtimev1alpha1.CreateMachineRequest) (*runtimev1alpha1.CreateMachineResponse, error) {
	if err := validation.Machine(req.GetMachine()); err != nil {
		return nil, err
	}
	id := req.GetMachine().GetMetadata().GetId()
	spec := req.GetMachine().GetSpec()
	if m, err := b.cached(ctx, id); err == nil {
		return existing(m, id)
	} else if !apierrors.IsNotFound(err) {
		return nil, status.Errorf(codes.Unavailable, "reading lower Machine %s: %v", MachineName(id), err)
	}
	lower, err := b.lowerMachine(id, req.GetMachine())
	if err != nil {
		return nil, err
	}
	if err := b.fits(spec.GetClass()); err != nil {
		return nil, err
	}

	made := &madeObjects{}
	m, err := b.createParts(ctx, id, spec, lower, made)
	if err != nil {
		if permanent(err) {
			b.rollback(id, made)
		}
		return nil, apiStatus(err)
	}
	if m == nil { // the Machine existed: a retry after a crash or a timeout
		m, err = b.opts.Client.ComputeV1alpha1().Machines(b.opts.Namespace).Get(ctx, MachineName(id), metav1.GetOptions{})
		if err != nil {
			return nil, apiStatus(err)
		}
		return existing(m, id)
	}
	return &runtimev1alpha1.CreateMachineResponse{Machine: runtimeMachine(m), Created: true}, nil
}

// existing answers a create whose Machine exists already.
func existing(m *computev1alpha1.Machine, id string) (*runtimev1alpha1.CreateMachineResponse, error) {
	if m.Annotations[AnnotationID] != id {
		return nil, status.Errorf(codes.AlreadyExists, "lower Machine %s exists and belongs to another ID", m.Name)
	}
	return &runtimev1alpha1.CreateMachineResponse{Machine: runtimeMachine(m), Created: false}, nil
}

// madeObjects records what one create call made, for its rollback.
type madeObjects struct {
	secret   bool
	networks []string
	nics     []string
}

// createParts creates the Secret, Networks, NetworkInterfaces and finally the Machine. It
// returns nil and no error when the Machine existed already.
func (b *Broker) createParts(ctx context.Context, id string, spec *runtimev1alpha1.MachineSpec, lower *computev1alpha1.Machine, made *madeObjects) (*computev1alpha1.Machine, error) {
	ns := b.opts.Namespace
	if ud := spec.GetUserData(); ud != nil {
		secret := &corev1.Secret{
			ObjectMeta: b.objectMeta(SecretName(id), id),
			Data:       map[string][]byte{IgnitionKey: ud.GetData()},
		}
		_, err := b.opts.Secrets.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{})
		switch {
		case err == nil:
			made.secret = true
		case !apierrors.IsAlreadyExists(err):
			return nil, fmt.Errorf("creating lower Secret %s: %w", secret.Name, err)
		}
	}
	for _, nic := range spec.GetNetworkInterfaces() {
		if err := b.createNetworkInterface(ctx, id, nic, made); err != nil {
			return nil, err
		}
	}
	m, err := b.opts.Client.ComputeV1alpha1().Machines(ns).Create(ctx, lower, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("creating lower Machine %s: %w", lower.Name, err)
	}
	return m, nil
}

// createNetworkInterface creates the lower Network of nic (on first use) and its lower
// NetworkInterface with the upper IPs; what exists already is fine.
func (b *Broker) createNetworkInterface(ctx context.Context, id string, nic *runtimev1alpha1.NetworkInterface, made *madeObjects) error {
	ns := b.opts.Namespace
	uid := nic.GetAttributes()[attributeNetworkUID]
	network := NetworkName(uid)
	_, err := b.opts.Client.NetworkingV1alpha1().Networks(ns).Create(ctx, &networkingv1alpha1.Network{
		ObjectMeta: metav1.ObjectMeta{Name: network, Labels: map[string]string{LabelNetworkUID: Ref(strings.ToLower(uid))}},
	}, metav1.CreateOptions{})
	switch {
	case err == nil:
		made.networks = append(made.networks, network)
	case !apierrors.IsAlreadyExists(err):
		return fmt.Errorf("creating lower Network %s for interface %s: %w", network, nic.GetName(), err)
	}
	lowerNIC := &networkingv1alpha1.NetworkInterface{
		ObjectMeta: b.objectMeta(NetworkInterfaceName(id, nic.GetName()), id),
		Spec:       networkingv1alpha1.NetworkInterfaceSpec{NetworkRef: corev1.LocalObjectReference{Name: network}, IPs: ipSources(nic.GetIps())},
	}
	_, err = b.opts.Client.NetworkingV1alpha1().NetworkInterfaces(ns).Create(ctx, lowerNIC, metav1.CreateOptions{})
	switch {
	case err == nil:
		made.nics = append(made.nics, lowerNIC.Name)
	case !apierrors.IsAlreadyExists(err):
		return fmt.Errorf("creating lower NetworkInterface %s: %w", lowerNIC.Name, err)
	}
	return nil
}

// setAddresses gives the lower NetworkInterface name the fixed addresses ips.
func (b *Broker) setAddresses(ctx context.Context, name string, ips []string) error {
	nics := b.opts.Client.NetworkingV1alpha1().NetworkInterfaces(b.opts.Namespace)
	nic, err := nics.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return apiStatus(err)
	}
	nic.Spec.IPs = ipSources(ips)
	if _, err := nics.Update(ctx, nic, metav1.UpdateOptions{}); err != nil {
		return apiStatus(err)
	}
	return nil
}

// ipSources are fixed addresses, without prefix lengths: the lower interface takes the address.
func ipSources(ips []string) []networkingv1alpha1.IPSource {
	var out []networkingv1alpha1.IPSource
	for _, ip := range ips {
		out = append(out, networkingv1alpha1.IPSource{Value: address(ip)})
	}
	return out
}

// lowerNetworkInterfaceEntry is the lower Machine's entry of nic.
func lowerNetworkInterfaceEntry(id string, nic *runtimev1alpha1.NetworkInterface) computev1alpha1.MachineNetworkInterface {
	return computev1alpha1.MachineNetworkInterface{
		Name:                nic.GetName(),
		NetworkInterfaceRef: &corev1.LocalObjectReference{Name: NetworkInterfaceName(id, nic.GetName())},
	}
}

// lowerVolumeEntry is the lower Machine's entry of v: an empty disk, or a volumeRef to the lower
// Volume serving a network disk (FAILED_PRECONDITION when none does).
func (b *Broker) lowerVolumeEntry(v *runtimev1alpha1.Volume) (computev1alpha1.MachineVolume, error) {
	entry := computev1alpha1.MachineVolume{Name: v.GetName(), Device: v.GetDevice()}
	switch {
	case v.GetEmptyDisk() != nil:
		entry.EmptyDisk = &computev1alpha1.EmptyDiskSource{SizeLimit: resource.NewQuantity(int64(v.GetEmptyDisk().GetSizeBytes()), resource.BinarySI)}
	case v.GetNetworkDisk().GetRbd() != nil:
		rbd := v.GetNetworkDisk().GetRbd()
		name, err := b.lowerVolume(driverCeph, rbd.GetPool()+"/"+rbd.GetImage())
		if err != nil {
			return entry, status.Errorf(codes.FailedPrecondition, "volume %s: %v", v.GetName(), err)
		}
		entry.VolumeRef = &corev1.LocalObjectReference{Name: name}
	default:
		return entry, status.Errorf(codes.FailedPrecondition, "volume %s: this kind of disk has no counterpart in the lower cluster", v.GetName())
	}
	return entry, nil
}

// lowerMachine builds the lower Machine of a runtime machine. It refuses what the lower cluster
// cannot give: an unexposed class, user data other than Ignition, a network disk no lower
// Volume serves, an interface without its Network's UID.
func (b *Broker) lowerMachine(id string, rm *runtimev1alpha1.Machine) (*computev1alpha1.Machine, error) {
	spec := rm.GetSpec()
	if !b.exposed(spec.GetClass()) {
		return nil, status.Errorf(codes.FailedPrecondition, "spec.class: class %q is not served by this broker", spec.GetClass())
	}
	m := &computev1alpha1.Machine{
		ObjectMeta: b.objectMeta(MachineName(id), id),
		Spec: computev1alpha1.MachineSpec{
			MachineClassRef:     corev1.LocalObjectReference{Name: spec.GetClass()},
			MachinePoolSelector: b.opts.MachinePoolSelector,
			Power:               computev1alpha1.PowerOn,
			Image:               spec.GetRootDisk().GetImage(),
		},
	}
	if spec.GetPower() == runtimev1alpha1.Power_POWER_OFF {
		m.Spec.Power = computev1alpha1.PowerOff
	}
	if ud := spec.GetUserData(); ud != nil {
		if ud.GetFormat() != runtimev1alpha1.UserDataFormat_USER_DATA_FORMAT_IGNITION {
			return nil, status.Errorf(codes.FailedPrecondition, "spec.user_data.format: the lower cluster takes Ignition only, not %s", ud.GetFormat())
		}
		if b.opts.Secrets == nil {
			return nil, status.Error(codes.FailedPrecondition, "spec.user_data: the lower cluster serves no Secrets")
		}
		m.Spec.IgnitionRef = &computev1alpha1.SecretKeySelector{Name: SecretName(id), Key: IgnitionKey}
	}
	volumes := spec.GetVolumes()
	if boot := spec.GetRootDisk().GetVolume(); boot != "" {
		// The boot volume is the first entry below (the lower poollet boots from the first).
		i := slices.IndexFunc(volumes, func(v *runtimev1alpha1.Volume) bool { return v.GetName() == boot })
		volumes = append([]*runtimev1alpha1.Volume{volumes[i]}, slices.Delete(slices.Clone(volumes), i, i+1)...)
		m.Spec.Image = ""
	}
	for i, v := range volumes {
		entry, err := b.lowerVolumeEntry(v)
		if err != nil {
			return nil, status.Errorf(status.Code(err), "spec.volumes[%d]: %s", i, status.Convert(err).Message())
		}
		m.Spec.Volumes = append(m.Spec.Volumes, entry)
	}
	for i, nic := range spec.GetNetworkInterfaces() {
		if nic.GetAttributes()[attributeNetworkUID] == "" {
			return nil, status.Errorf(codes.FailedPrecondition, "spec.network_interfaces[%d] (%s): no attribute %s: the lower Network cannot be chosen", i, nic.GetName(), attributeNetworkUID)
		}
		m.Spec.NetworkInterfaces = append(m.Spec.NetworkInterfaces, lowerNetworkInterfaceEntry(id, nic))
	}
	stored, err := storedSpec(spec)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "encoding the spec: %v", err)
	}
	labels, _ := json.Marshal(rm.GetMetadata().GetLabels())
	m.Annotations[AnnotationSpec] = stored
	m.Annotations[AnnotationLabels] = string(labels)
	return m, nil
}

// lowerVolume names the lower Volume whose status.access has driver and handle.
func (b *Broker) lowerVolume(driver, handle string) (string, error) {
	objs, err := b.volumes.ByIndex(volumeAccessIndex, accessKey(driver, handle))
	if err != nil {
		return "", err
	}
	for _, obj := range objs {
		if v := obj.(*storagev1alpha1.Volume); v.DeletionTimestamp == nil {
			return v.Name, nil
		}
	}
	return "", fmt.Errorf("no Volume in lower namespace %s has access %s %s", b.opts.Namespace, driver, handle)
}

// objectMeta is the name, ID label and ID annotation of a lower object of runtime ID id.
func (b *Broker) objectMeta(name, id string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:        name,
		Namespace:   b.opts.Namespace,
		Labels:      map[string]string{LabelID: Ref(id)},
		Annotations: map[string]string{AnnotationID: id},
	}
}

// address strips a prefix length: the lower interface takes the address itself.
func address(ip string) string {
	if p, err := netip.ParsePrefix(ip); err == nil {
		return p.Addr().String()
	}
	return ip
}

// rollback deletes what a failed create made, the Networks only when no interface uses them.
func (b *Broker) rollback(id string, made *madeObjects) {
	ctx := context.Background()
	ns := b.opts.Namespace
	for _, name := range made.nics {
		if err := b.opts.Client.NetworkingV1alpha1().NetworkInterfaces(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			log.Error(err, "rolling back", "networkInterface", name)
		}
	}
	if made.secret {
		if err := b.opts.Secrets.CoreV1().Secrets(ns).Delete(ctx, SecretName(id), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			log.Error(err, "rolling back", "secret", SecretName(id))
		}
	}
	for _, name := range made.networks {
		if b.networkInUse(name) {
			continue
		}
		if err := b.opts.Client.NetworkingV1alpha1().Networks(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			log.Error(err, "rolling back", "network", name)
		}
	}
}

// permanent reports whether an API error will not go away by retrying the same create.
func permanent(err error) bool {
	return apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || apierrors.IsForbidden(err) || apierrors.IsNotFound(err)
}

// apiStatus converts a lower API error into a gRPC status.
func apiStatus(err error) error {
	switch {
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return status.Error(codes.InvalidArgument, err.Error())
	case apierrors.IsForbidden(err), apierrors.IsNotFound(err):
		return status.Error(codes.FailedPrecondition, err.Error())
	case apierrors.IsConflict(err), apierrors.IsAlreadyExists(err):
		return status.Error(codes.Aborted, err.Error())
	default:
		return status.Error(codes.Unavailable, err.Error())
	}
}

// networkInUse reports whether a lower NetworkInterface the broker made is in the Network.
func (b *Broker) networkInUse(network string) bool {
	nics, err := b.nics.NetworkInterfaces(b.opts.Namespace).List(labels.Everything())
	if err != nil {
		return true
	}
	return slices.ContainsFunc(nics, func(n *networkingv1alpha1.NetworkInterface) bool { return n.Spec.NetworkRef.Name == network })
}
