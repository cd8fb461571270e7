package validation

import (
	vt "github.com/ferrite-dev/ferrite/apis/validation/validationtest"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrite-dev/ferrite/apis/networking"
)

func validNetwork() *networking.Network {
	return &networking.Network{
		ObjectMeta: metav1.ObjectMeta{Namespace: "tenant-a", Name: "tenant"},
		Spec: networking.NetworkSpec{Peerings: []networking.NetworkPeering{
			{Name: "shared", NetworkRef: networking.NetworkPeeringReference{Namespace: "infra", Name: "shared"}},
			{Name: "backend", NetworkRef: networking.NetworkPeeringReference{Name: "backend"}},
		}},
		Status: networking.NetworkStatus{VNI: 4242, State: networking.NetworkStateAvailable},
	}
}

func TestValidateNetwork(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*networking.Network)
		want   []vt.FieldError
	}{
		{name: "valid", mutate: func(*networking.Network) {}},
		{name: "no peerings", mutate: func(n *networking.Network) { n.Spec.Peerings = nil }},
		// The same name in another namespace is another network.
		{name: "peer with namesake in other namespace", mutate: func(n *networking.Network) { n.Spec.Peerings[0].NetworkRef.Name = "tenant" }},
		{name: "peering without name", mutate: func(n *networking.Network) { n.Spec.Peerings[1].Name = "" },
			want: []vt.FieldError{vt.Required("spec.peerings[1].name")}},
		{name: "peering name not a label", mutate: func(n *networking.Network) { n.Spec.Peerings[1].Name = "back.end" },
			want: []vt.FieldError{vt.Invalid("spec.peerings[1].name")}},
		{name: "duplicate peering name", mutate: func(n *networking.Network) { n.Spec.Peerings[1].Name = "shared" },
			want: []vt.FieldError{vt.Duplicate("spec.peerings[1].name")}},
		{name: "peering without network", mutate: func(n *networking.Network) { n.Spec.Peerings[1].NetworkRef.Name = "" },
			want: []vt.FieldError{vt.Required("spec.peerings[1].networkRef.name")}},
		{name: "peering bad namespace", mutate: func(n *networking.Network) { n.Spec.Peerings[0].NetworkRef.Namespace = "In_Fra" },
			want: []vt.FieldError{vt.Invalid("spec.peerings[0].networkRef.namespace")}},
		{name: "peer with itself", mutate: func(n *networking.Network) { n.Spec.Peerings[1].NetworkRef.Name = "tenant" },
			want: []vt.FieldError{vt.Invalid("spec.peerings[1].networkRef")}},
		{name: "peer with itself by namespace", mutate: func(n *networking.Network) {
			n.Spec.Peerings[0].NetworkRef = networking.NetworkPeeringReference{Namespace: "tenant-a", Name: "tenant"}
		}, want: []vt.FieldError{vt.Invalid("spec.peerings[0].networkRef")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			network := validNetwork()
			tt.mutate(network)
			vt.Expect(t, ValidateNetwork(network), tt.want...)
			// An update checks the new spec with the same rules.
			vt.Expect(t, ValidateNetworkUpdate(network, validNetwork()), tt.want...)
		})
	}
}

func TestValidateNetworkStatusUpdate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*networking.Network)
		want []vt.FieldError
	}{
		{name: "no change", edit: func(*networking.Network) {}},
		{name: "state and peerings", edit: func(n *networking.Network) {
			n.Status.State = networking.NetworkStatePending
			n.Status.Peerings = []string{"shared"}
		}},
		{name: "vni is immutable", edit: func(n *networking.Network) { n.Status.VNI = 4243 },
			want: []vt.FieldError{vt.Invalid("status.vni")}},
		{name: "vni cannot be cleared", edit: func(n *networking.Network) { n.Status.VNI = 0 },
			want: []vt.FieldError{vt.Invalid("status.vni")}},
		{name: "unknown state", edit: func(n *networking.Network) { n.Status.State = "Ready" },
			want: []vt.FieldError{vt.NotSupported("status.state")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldNetwork := validNetwork()
			newNetwork := oldNetwork.DeepCopy()
			tt.edit(newNetwork)
			vt.Expect(t, ValidateNetworkStatusUpdate(newNetwork, oldNetwork), tt.want...)
		})
	}
}

func validNetworkInterface() *networking.NetworkInterface {
	return &networking.NetworkInterface{
		ObjectMeta: metav1.ObjectMeta{Namespace: "tenant-a", Name: "web-0-primary"},
		Spec: networking.NetworkInterfaceSpec{
			NetworkRef:   corev1.LocalObjectReference{Name: "tenant"},
			MachineRef:   &networking.MachineReference{Name: "web-0", UID: "5a9e4c1e-0000-4000-8000-000000000001"},
			IPFamilies:   []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol},
			IPs:          []networking.IPSource{{Value: "10.0.0.5"}, {PrefixRef: &corev1.LocalObjectReference{Name: "tenant-v6"}}},
			VirtualIPRef: &corev1.LocalObjectReference{Name: "web-public"},
			Prefixes:     []string{"10.1.0.0/24", "2001:db8:1::/64"},
		},
	}
}

func TestValidateNetworkInterface(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*networking.NetworkInterface)
		want   []vt.FieldError
	}{
		{name: "valid", mutate: func(*networking.NetworkInterface) {}},
		{name: "minimal", mutate: func(n *networking.NetworkInterface) {
			n.Spec = networking.NetworkInterfaceSpec{NetworkRef: n.Spec.NetworkRef, IPFamilies: []corev1.IPFamily{corev1.IPv6Protocol}}
		}},
		{name: "missing network", mutate: func(n *networking.NetworkInterface) { n.Spec.NetworkRef.Name = "" },
			want: []vt.FieldError{vt.Required("spec.networkRef.name")}},
		{name: "no families", mutate: func(n *networking.NetworkInterface) { n.Spec.IPFamilies = nil; n.Spec.IPs = nil },
			want: []vt.FieldError{vt.Required("spec.ipFamilies")}},
		{name: "unknown family", mutate: func(n *networking.NetworkInterface) { n.Spec.IPFamilies[1] = "IPX" },
			want: []vt.FieldError{vt.NotSupported("spec.ipFamilies[1]")}},
		{name: "duplicate family", mutate: func(n *networking.NetworkInterface) { n.Spec.IPFamilies[1] = corev1.IPv4Protocol },
			want: []vt.FieldError{vt.Duplicate("spec.ipFamilies[1]")}},
		{name: "three families", mutate: func(n *networking.NetworkInterface) {
			n.Spec.IPFamilies = append(n.Spec.IPFamilies, corev1.IPv4Protocol)
		}, want: []vt.FieldError{vt.TooMany("spec.ipFamilies"), vt.Duplicate("spec.ipFamilies[2]")}},
		{name: "more ips than families", mutate: func(n *networking.NetworkInterface) {
			n.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
			n.Spec.IPs = []networking.IPSource{{Value: "10.0.0.5"}, {PrefixRef: &corev1.LocalObjectReference{Name: "tenant-v4"}}}
		}, want: []vt.FieldError{vt.TooMany("spec.ips")}},
		{name: "ip of a family the interface lacks", mutate: func(n *networking.NetworkInterface) {
			n.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
			n.Spec.IPs = []networking.IPSource{{Value: "2001:db8::5"}}
		}, want: []vt.FieldError{vt.Invalid("spec.ips[0].value")}},
		{name: "two ips of one family", mutate: func(n *networking.NetworkInterface) {
			n.Spec.IPs = []networking.IPSource{{Value: "10.0.0.5"}, {Value: "10.0.0.6"}}
		}, want: []vt.FieldError{vt.Invalid("spec.ips[1].value")}},
		{name: "dual stack fixed ips", mutate: func(n *networking.NetworkInterface) {
			n.Spec.IPs = []networking.IPSource{{Value: "2001:db8::5"}, {Value: "10.0.0.5"}}
		}},
		{name: "ip with neither source", mutate: func(n *networking.NetworkInterface) { n.Spec.IPs[1] = networking.IPSource{} },
			want: []vt.FieldError{vt.Required("spec.ips[1]")}},
		{name: "ip with both sources", mutate: func(n *networking.NetworkInterface) {
			n.Spec.IPs[0].PrefixRef = &corev1.LocalObjectReference{Name: "tenant-v4"}
		}, want: []vt.FieldError{vt.Invalid("spec.ips[0]")}},
		{name: "garbage ip", mutate: func(n *networking.NetworkInterface) { n.Spec.IPs[0].Value = "10.0.0" },
			want: []vt.FieldError{vt.Invalid("spec.ips[0].value")}},
		{name: "non-canonical ip", mutate: func(n *networking.NetworkInterface) { n.Spec.IPs[0].Value = "2001:0db8::5" },
			want: []vt.FieldError{vt.Invalid("spec.ips[0].value")}},
		{name: "empty prefix ref", mutate: func(n *networking.NetworkInterface) { n.Spec.IPs[1].PrefixRef.Name = "" },
			want: []vt.FieldError{vt.Required("spec.ips[1].prefixRef.name")}},
		{name: "empty virtual ip ref", mutate: func(n *networking.NetworkInterface) { n.Spec.VirtualIPRef.Name = "" },
			want: []vt.FieldError{vt.Required("spec.virtualIPRef.name")}},
		{name: "prefix with host bits", mutate: func(n *networking.NetworkInterface) { n.Spec.Prefixes[0] = "10.1.0.1/24" },
			want: []vt.FieldError{vt.Invalid("spec.prefixes[0]")}},
		{name: "garbage prefix", mutate: func(n *networking.NetworkInterface) { n.Spec.Prefixes[1] = "2001:db8:1::/129" },
			want: []vt.FieldError{vt.Invalid("spec.prefixes[1]")}},
		{name: "empty prefix", mutate: func(n *networking.NetworkInterface) { n.Spec.Prefixes[1] = "" },
			want: []vt.FieldError{vt.Required("spec.prefixes[1]")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nic := validNetworkInterface()
			tt.mutate(nic)
			vt.Expect(t, ValidateNetworkInterface(nic), tt.want...)
		})
	}
}

func TestValidateNetworkInterfaceUpdate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*networking.NetworkInterface)
		want []vt.FieldError
	}{
		{name: "attach elsewhere", edit: func(n *networking.NetworkInterface) { n.Spec.MachineRef.Name = "web-1" }},
		{name: "prefixes may change", edit: func(n *networking.NetworkInterface) { n.Spec.Prefixes = nil }},
		{name: "network is immutable", edit: func(n *networking.NetworkInterface) { n.Spec.NetworkRef.Name = "other" },
			want: []vt.FieldError{vt.Invalid("spec.networkRef")}},
		{name: "families are immutable", edit: func(n *networking.NetworkInterface) {
			n.Spec.IPFamilies = n.Spec.IPFamilies[:1]
			n.Spec.IPs = n.Spec.IPs[:1]
		}, want: []vt.FieldError{vt.Invalid("spec.ipFamilies")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldNIC := validNetworkInterface()
			newNIC := oldNIC.DeepCopy()
			tt.edit(newNIC)
			vt.Expect(t, ValidateNetworkInterfaceUpdate(newNIC, oldNIC), tt.want...)
		})
	}
}

func TestValidateNetworkInterfaceStatusUpdate(t *testing.T) {
	tests := []struct {
		name   string
		status networking.NetworkInterfaceStatus
		want   []vt.FieldError
	}{
		{name: "empty"},
		{name: "available", status: networking.NetworkInterfaceStatus{
			State: networking.NetworkInterfaceStateAvailable, IPs: []string{"10.0.0.5", "2001:db8::5"},
			VirtualIP: "203.0.113.7", Prefixes: []string{"10.1.0.0/24"},
		}},
		{name: "unknown state", status: networking.NetworkInterfaceStatus{State: "Attached"},
			want: []vt.FieldError{vt.NotSupported("status.state")}},
		{name: "bad ip", status: networking.NetworkInterfaceStatus{IPs: []string{"10.0.0.5", ""}},
			want: []vt.FieldError{vt.Required("status.ips[1]")}},
		{name: "bad virtual ip", status: networking.NetworkInterfaceStatus{VirtualIP: "203.0.113.7/32"},
			want: []vt.FieldError{vt.Invalid("status.virtualIP")}},
		{name: "prefix with host bits", status: networking.NetworkInterfaceStatus{Prefixes: []string{"10.1.0.9/24"}},
			want: []vt.FieldError{vt.Invalid("status.prefixes[0]")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nic := validNetworkInterface()
			nic.Status = tt.status
			vt.Expect(t, ValidateNetworkInterfaceStatusUpdate(nic, validNetworkInterface()), tt.want...)
		})
	}
}
