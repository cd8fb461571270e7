package validation

import (
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
		want   []fieldErr
	}{
		{name: "valid", mutate: func(*networking.Network) {}},
		{name: "no peerings", mutate: func(n *networking.Network) { n.Spec.Peerings = nil }},
		// The same name in another namespace is another network.
		{name: "peer with namesake in other namespace", mutate: func(n *networking.Network) { n.Spec.Peerings[0].NetworkRef.Name = "tenant" }},
		{name: "peering without name", mutate: func(n *networking.Network) { n.Spec.Peerings[1].Name = "" },
			want: []fieldErr{required("spec.peerings[1].name")}},
		{name: "peering name not a label", mutate: func(n *networking.Network) { n.Spec.Peerings[1].Name = "back.end" },
			want: []fieldErr{invalid("spec.peerings[1].name")}},
		{name: "duplicate peering name", mutate: func(n *networking.Network) { n.Spec.Peerings[1].Name = "shared" },
			want: []fieldErr{duplicate("spec.peerings[1].name")}},
		{name: "peering without network", mutate: func(n *networking.Network) { n.Spec.Peerings[1].NetworkRef.Name = "" },
			want: []fieldErr{required("spec.peerings[1].networkRef.name")}},
		{name: "peering bad namespace", mutate: func(n *networking.Network) { n.Spec.Peerings[0].NetworkRef.Namespace = "In_Fra" },
			want: []fieldErr{invalid("spec.peerings[0].networkRef.namespace")}},
		{name: "peer with itself", mutate: func(n *networking.Network) { n.Spec.Peerings[1].NetworkRef.Name = "tenant" },
			want: []fieldErr{invalid("spec.peerings[1].networkRef")}},
		{name: "peer with itself by namespace", mutate: func(n *networking.Network) {
			n.Spec.Peerings[0].NetworkRef = networking.NetworkPeeringReference{Namespace: "tenant-a", Name: "tenant"}
		}, want: []fieldErr{invalid("spec.peerings[0].networkRef")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			network := validNetwork()
			tt.mutate(network)
			expectErrors(t, ValidateNetwork(network), tt.want...)
			// An update checks the new spec with the same rules.
			expectErrors(t, ValidateNetworkUpdate(network, validNetwork()), tt.want...)
		})
	}
}

func TestValidateNetworkStatusUpdate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*networking.Network)
		want []fieldErr
	}{
		{name: "no change", edit: func(*networking.Network) {}},
		{name: "state and peerings", edit: func(n *networking.Network) {
			n.Status.State = networking.NetworkStatePending
			n.Status.Peerings = []string{"shared"}
		}},
		{name: "vni is immutable", edit: func(n *networking.Network) { n.Status.VNI = 4243 },
			want: []fieldErr{invalid("status.vni")}},
		{name: "vni cannot be cleared", edit: func(n *networking.Network) { n.Status.VNI = 0 },
			want: []fieldErr{invalid("status.vni")}},
		{name: "unknown state", edit: func(n *networking.Network) { n.Status.State = "Ready" },
			want: []fieldErr{notSupported("status.state")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldNetwork := validNetwork()
			newNetwork := oldNetwork.DeepCopy()
			tt.edit(newNetwork)
			expectErrors(t, ValidateNetworkStatusUpdate(newNetwork, oldNetwork), tt.want...)
		})
	}
}

func validNetworkInterface() *networking.NetworkInterface {
	return &networking.NetworkInterface{
		ObjectMeta: metav1.ObjectMeta{Namespace: "tenant-a", Name: "web-0-primary"},
		Spec: networking.NetworkInterfaceSpec{
			NetworkRef:   corev1.LocalObjectReference{Name: "tenant"},
			MachineRef:   &corev1.LocalObjectReference{Name: "web-0"},
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
		want   []fieldErr
	}{
		{name: "valid", mutate: func(*networking.NetworkInterface) {}},
		{name: "minimal", mutate: func(n *networking.NetworkInterface) {
			n.Spec = networking.NetworkInterfaceSpec{NetworkRef: n.Spec.NetworkRef, IPFamilies: []corev1.IPFamily{corev1.IPv6Protocol}}
		}},
		{name: "missing network", mutate: func(n *networking.NetworkInterface) { n.Spec.NetworkRef.Name = "" },
			want: []fieldErr{required("spec.networkRef.name")}},
		{name: "empty machine ref", mutate: func(n *networking.NetworkInterface) { n.Spec.MachineRef.Name = "" },
			want: []fieldErr{required("spec.machineRef.name")}},
		{name: "no families", mutate: func(n *networking.NetworkInterface) { n.Spec.IPFamilies = nil; n.Spec.IPs = nil },
			want: []fieldErr{required("spec.ipFamilies")}},
		{name: "unknown family", mutate: func(n *networking.NetworkInterface) { n.Spec.IPFamilies[1] = "IPX" },
			want: []fieldErr{notSupported("spec.ipFamilies[1]")}},
		{name: "duplicate family", mutate: func(n *networking.NetworkInterface) { n.Spec.IPFamilies[1] = corev1.IPv4Protocol },
			want: []fieldErr{duplicate("spec.ipFamilies[1]")}},
		{name: "three families", mutate: func(n *networking.NetworkInterface) {
			n.Spec.IPFamilies = append(n.Spec.IPFamilies, corev1.IPv4Protocol)
		}, want: []fieldErr{tooMany("spec.ipFamilies"), duplicate("spec.ipFamilies[2]")}},
		{name: "more ips than families", mutate: func(n *networking.NetworkInterface) {
			n.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
			n.Spec.IPs = []networking.IPSource{{Value: "10.0.0.5"}, {PrefixRef: &corev1.LocalObjectReference{Name: "tenant-v4"}}}
		}, want: []fieldErr{tooMany("spec.ips")}},
		{name: "ip of a family the interface lacks", mutate: func(n *networking.NetworkInterface) {
			n.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
			n.Spec.IPs = []networking.IPSource{{Value: "2001:db8::5"}}
		}, want: []fieldErr{invalid("spec.ips[0].value")}},
		{name: "two ips of one family", mutate: func(n *networking.NetworkInterface) {
			n.Spec.IPs = []networking.IPSource{{Value: "10.0.0.5"}, {Value: "10.0.0.6"}}
		}, want: []fieldErr{invalid("spec.ips[1].value")}},
		{name: "dual stack fixed ips", mutate: func(n *networking.NetworkInterface) {
			n.Spec.IPs = []networking.IPSource{{Value: "2001:db8::5"}, {Value: "10.0.0.5"}}
		}},
		{name: "ip with neither source", mutate: func(n *networking.NetworkInterface) { n.Spec.IPs[1] = networking.IPSource{} },
			want: []fieldErr{required("spec.ips[1]")}},
		{name: "ip with both sources", mutate: func(n *networking.NetworkInterface) {
			n.Spec.IPs[0].PrefixRef = &corev1.LocalObjectReference{Name: "tenant-v4"}
		}, want: []fieldErr{invalid("spec.ips[0]")}},
		{name: "garbage ip", mutate: func(n *networking.NetworkInterface) { n.Spec.IPs[0].Value = "10.0.0" },
			want: []fieldErr{invalid("spec.ips[0].value")}},
		{name: "non-canonical ip", mutate: func(n *networking.NetworkInterface) { n.Spec.IPs[0].Value = "2001:0db8::5" },
			want: []fieldErr{invalid("spec.ips[0].value")}},
		{name: "empty prefix ref", mutate: func(n *networking.NetworkInterface) { n.Spec.IPs[1].PrefixRef.Name = "" },
			want: []fieldErr{required("spec.ips[1].prefixRef.name")}},
		{name: "empty virtual ip ref", mutate: func(n *networking.NetworkInterface) { n.Spec.VirtualIPRef.Name = "" },
			want: []fieldErr{required("spec.virtualIPRef.name")}},
		{name: "prefix with host bits", mutate: func(n *networking.NetworkInterface) { n.Spec.Prefixes[0] = "10.1.0.1/24" },
			want: []fieldErr{invalid("spec.prefixes[0]")}},
		{name: "garbage prefix", mutate: func(n *networking.NetworkInterface) { n.Spec.Prefixes[1] = "2001:db8:1::/129" },
			want: []fieldErr{invalid("spec.prefixes[1]")}},
		{name: "empty prefix", mutate: func(n *networking.NetworkInterface) { n.Spec.Prefixes[1] = "" },
			want: []fieldErr{required("spec.prefixes[1]")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nic := validNetworkInterface()
			tt.mutate(nic)
			expectErrors(t, ValidateNetworkInterface(nic), tt.want...)
		})
	}
}

func TestValidateNetworkInterfaceUpdate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*networking.NetworkInterface)
		want []fieldErr
	}{
		{name: "attach elsewhere", edit: func(n *networking.NetworkInterface) { n.Spec.MachineRef.Name = "web-1" }},
		{name: "prefixes may change", edit: func(n *networking.NetworkInterface) { n.Spec.Prefixes = nil }},
		{name: "network is immutable", edit: func(n *networking.NetworkInterface) { n.Spec.NetworkRef.Name = "other" },
			want: []fieldErr{invalid("spec.networkRef")}},
		{name: "families are immutable", edit: func(n *networking.NetworkInterface) {
			n.Spec.IPFamilies = n.Spec.IPFamilies[:1]
			n.Spec.IPs = n.Spec.IPs[:1]
		}, want: []fieldErr{invalid("spec.ipFamilies")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldNIC := validNetworkInterface()
			newNIC := oldNIC.DeepCopy()
			tt.edit(newNIC)
			expectErrors(t, ValidateNetworkInterfaceUpdate(newNIC, oldNIC), tt.want...)
		})
	}
}

func TestValidateNetworkInterfaceStatusUpdate(t *testing.T) {
	tests := []struct {
		name   string
		status networking.NetworkInterfaceStatus
		want   []fieldErr
	}{
		{name: "empty"},
		{name: "available", status: networking.NetworkInterfaceStatus{
			State: networking.NetworkInterfaceStateAvailable, IPs: []string{"10.0.0.5", "2001:db8::5"},
			VirtualIP: "203.0.113.7", Prefixes: []string{"10.1.0.0/24"},
		}},
		{name: "unknown state", status: networking.NetworkInterfaceStatus{State: "Attached"},
			want: []fieldErr{notSupported("status.state")}},
		{name: "bad ip", status: networking.NetworkInterfaceStatus{IPs: []string{"10.0.0.5", ""}},
			want: []fieldErr{required("status.ips[1]")}},
		{name: "bad virtual ip", status: networking.NetworkInterfaceStatus{VirtualIP: "203.0.113.7/32"},
			want: []fieldErr{invalid("status.virtualIP")}},
		{name: "prefix with host bits", status: networking.NetworkInterfaceStatus{Prefixes: []string{"10.1.0.9/24"}},
			want: []fieldErr{invalid("status.prefixes[0]")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nic := validNetworkInterface()
			nic.Status = tt.status
			expectErrors(t, ValidateNetworkInterfaceStatusUpdate(nic, validNetworkInterface()), tt.want...)
		})
	}
}
