package validation

import (
	vt "github.com/ferrite-dev/ferrite/apis/validation/validationtest"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrite-dev/ferrite/apis/networking"
)

func validVirtualIP() *networking.VirtualIP {
	return &networking.VirtualIP{
		ObjectMeta: metav1.ObjectMeta{Namespace: "tenant-a", Name: "web-public"},
		Spec: networking.VirtualIPSpec{
			Type:      networking.VirtualIPTypePublic,
			IPFamily:  corev1.IPv4Protocol,
			TargetRef: &networking.TargetReference{Name: "web-0-primary", UID: "9d1f"},
		},
	}
}

func TestValidateVirtualIP(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*networking.VirtualIP)
		want   []vt.FieldError
	}{
		{name: "valid", mutate: func(*networking.VirtualIP) {}},
		{name: "unattached ipv6", mutate: func(v *networking.VirtualIP) { v.Spec.IPFamily = corev1.IPv6Protocol; v.Spec.TargetRef = nil }},
		{name: "missing type", mutate: func(v *networking.VirtualIP) { v.Spec.Type = "" },
			want: []vt.FieldError{vt.Required("spec.type")}},
		{name: "unknown type", mutate: func(v *networking.VirtualIP) { v.Spec.Type = "Private" },
			want: []vt.FieldError{vt.NotSupported("spec.type")}},
		{name: "missing family", mutate: func(v *networking.VirtualIP) { v.Spec.IPFamily = "" },
			want: []vt.FieldError{vt.Required("spec.ipFamily")}},
		{name: "unknown family", mutate: func(v *networking.VirtualIP) { v.Spec.IPFamily = "IPv5" },
			want: []vt.FieldError{vt.NotSupported("spec.ipFamily")}},
		{name: "target without name", mutate: func(v *networking.VirtualIP) { v.Spec.TargetRef.Name = "" },
			want: []vt.FieldError{vt.Required("spec.targetRef.name")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vip := validVirtualIP()
			tt.mutate(vip)
			vt.Expect(t, ValidateVirtualIP(vip), tt.want...)
		})
	}
}

func TestValidateVirtualIPUpdate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*networking.VirtualIP)
		want []vt.FieldError
	}{
		{name: "retarget", edit: func(v *networking.VirtualIP) { v.Spec.TargetRef = &networking.TargetReference{Name: "web-1-primary"} }},
		{name: "detach", edit: func(v *networking.VirtualIP) { v.Spec.TargetRef = nil }},
		{name: "family is immutable", edit: func(v *networking.VirtualIP) { v.Spec.IPFamily = corev1.IPv6Protocol },
			want: []vt.FieldError{vt.Invalid("spec.ipFamily")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldVIP := validVirtualIP()
			newVIP := oldVIP.DeepCopy()
			tt.edit(newVIP)
			vt.Expect(t, ValidateVirtualIPUpdate(newVIP, oldVIP), tt.want...)
		})
	}
	// Type has one allowed value today, so changing it fails both as unsupported and as immutable.
	oldVIP := validVirtualIP()
	newVIP := oldVIP.DeepCopy()
	newVIP.Spec.Type = "Private"
	vt.Expect(t, ValidateVirtualIPUpdate(newVIP, oldVIP), vt.NotSupported("spec.type"), vt.Invalid("spec.type"))
}

func TestValidateVirtualIPStatusUpdate(t *testing.T) {
	tests := []struct {
		name string
		ip   string
		want []vt.FieldError
	}{
		{name: "not yet allocated", ip: ""},
		{name: "ipv4", ip: "203.0.113.7"},
		{name: "ipv6", ip: "2001:db8::7"},
		{name: "garbage", ip: "public", want: []vt.FieldError{vt.Invalid("status.ip")}},
		{name: "non-canonical", ip: "2001:DB8::7", want: []vt.FieldError{vt.Invalid("status.ip")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vip := validVirtualIP()
			vip.Status.IP = tt.ip
			vt.Expect(t, ValidateVirtualIPStatusUpdate(vip, validVirtualIP()), tt.want...)
		})
	}
}

func validNATGateway() *networking.NATGateway {
	return &networking.NATGateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: "tenant-a", Name: "egress"},
		Spec: networking.NATGatewaySpec{
			Type:                     networking.VirtualIPTypePublic,
			IPFamily:                 corev1.IPv4Protocol,
			NetworkRef:               corev1.LocalObjectReference{Name: "tenant"},
			PortsPerNetworkInterface: 2048,
		},
	}
}

func TestValidateNATGateway(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*networking.NATGateway)
		want   []vt.FieldError
	}{
		{name: "valid", mutate: func(*networking.NATGateway) {}},
		{name: "smallest port range", mutate: func(g *networking.NATGateway) { g.Spec.PortsPerNetworkInterface = 64 }},
		{name: "largest port range", mutate: func(g *networking.NATGateway) { g.Spec.PortsPerNetworkInterface = 65536 }},
		{name: "missing type", mutate: func(g *networking.NATGateway) { g.Spec.Type = "" },
			want: []vt.FieldError{vt.Required("spec.type")}},
		{name: "unknown family", mutate: func(g *networking.NATGateway) { g.Spec.IPFamily = "ipv4" },
			want: []vt.FieldError{vt.NotSupported("spec.ipFamily")}},
		{name: "missing network", mutate: func(g *networking.NATGateway) { g.Spec.NetworkRef.Name = "" },
			want: []vt.FieldError{vt.Required("spec.networkRef.name")}},
		{name: "ports not a power of two", mutate: func(g *networking.NATGateway) { g.Spec.PortsPerNetworkInterface = 1000 },
			want: []vt.FieldError{vt.Invalid("spec.portsPerNetworkInterface")}},
		{name: "ports power of two but too small", mutate: func(g *networking.NATGateway) { g.Spec.PortsPerNetworkInterface = 32 },
			want: []vt.FieldError{vt.Invalid("spec.portsPerNetworkInterface")}},
		{name: "ports too large", mutate: func(g *networking.NATGateway) { g.Spec.PortsPerNetworkInterface = 131072 },
			want: []vt.FieldError{vt.Invalid("spec.portsPerNetworkInterface")}},
		{name: "ports zero", mutate: func(g *networking.NATGateway) { g.Spec.PortsPerNetworkInterface = 0 },
			want: []vt.FieldError{vt.Invalid("spec.portsPerNetworkInterface")}},
		{name: "ports negative", mutate: func(g *networking.NATGateway) { g.Spec.PortsPerNetworkInterface = -2048 },
			want: []vt.FieldError{vt.Invalid("spec.portsPerNetworkInterface")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gateway := validNATGateway()
			tt.mutate(gateway)
			vt.Expect(t, ValidateNATGateway(gateway), tt.want...)
		})
	}
}

func TestValidateNATGatewayUpdate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*networking.NATGateway)
		want []vt.FieldError
	}{
		{name: "port range may change", edit: func(g *networking.NATGateway) { g.Spec.PortsPerNetworkInterface = 4096 }},
		{name: "family is immutable", edit: func(g *networking.NATGateway) { g.Spec.IPFamily = corev1.IPv6Protocol },
			want: []vt.FieldError{vt.Invalid("spec.ipFamily")}},
		{name: "network is immutable", edit: func(g *networking.NATGateway) { g.Spec.NetworkRef.Name = "other" },
			want: []vt.FieldError{vt.Invalid("spec.networkRef")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldGateway := validNATGateway()
			newGateway := oldGateway.DeepCopy()
			tt.edit(newGateway)
			vt.Expect(t, ValidateNATGatewayUpdate(newGateway, oldGateway), tt.want...)
		})
	}
}

func TestValidateNATGatewayStatusUpdate(t *testing.T) {
	tests := []struct {
		name   string
		status networking.NATGatewayStatus
		want   []vt.FieldError
	}{
		{name: "empty"},
		{name: "allocated", status: networking.NATGatewayStatus{IPs: []string{"203.0.113.8"}, PortsUsed: 4096}},
		{name: "bad ip", status: networking.NATGatewayStatus{IPs: []string{"203.0.113.8", "203.0.113.256"}},
			want: []vt.FieldError{vt.Invalid("status.ips[1]")}},
		{name: "negative ports used", status: networking.NATGatewayStatus{PortsUsed: -1},
			want: []vt.FieldError{vt.Invalid("status.portsUsed")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gateway := validNATGateway()
			gateway.Status = tt.status
			vt.Expect(t, ValidateNATGatewayStatusUpdate(gateway, validNATGateway()), tt.want...)
		})
	}
}

func validLoadBalancer() *networking.LoadBalancer {
	endPort := int32(8090)
	return &networking.LoadBalancer{
		ObjectMeta: metav1.ObjectMeta{Namespace: "tenant-a", Name: "web"},
		Spec: networking.LoadBalancerSpec{
			Type:                     networking.LoadBalancerTypePublic,
			IPFamilies:               []corev1.IPFamily{corev1.IPv4Protocol},
			NetworkRef:               corev1.LocalObjectReference{Name: "tenant"},
			NetworkInterfaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Ports: []networking.LoadBalancerPort{
				{Protocol: corev1.ProtocolTCP, Port: 443},
				{Protocol: corev1.ProtocolUDP, Port: 8080, EndPort: &endPort},
			},
		},
	}
}

func TestValidateLoadBalancer(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*networking.LoadBalancer)
		want   []vt.FieldError
	}{
		{name: "valid", mutate: func(*networking.LoadBalancer) {}},
		{name: "internal dual stack", mutate: func(l *networking.LoadBalancer) {
			l.Spec.Type = networking.LoadBalancerTypeInternal
			l.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}
		}},
		{name: "unknown type", mutate: func(l *networking.LoadBalancer) { l.Spec.Type = "External" },
			want: []vt.FieldError{vt.NotSupported("spec.type")}},
		{name: "missing type", mutate: func(l *networking.LoadBalancer) { l.Spec.Type = "" },
			want: []vt.FieldError{vt.Required("spec.type")}},
		{name: "no families", mutate: func(l *networking.LoadBalancer) { l.Spec.IPFamilies = nil },
			want: []vt.FieldError{vt.Required("spec.ipFamilies")}},
		{name: "duplicate family", mutate: func(l *networking.LoadBalancer) {
			l.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv4Protocol}
		}, want: []vt.FieldError{vt.Duplicate("spec.ipFamilies[1]")}},
		{name: "missing network", mutate: func(l *networking.LoadBalancer) { l.Spec.NetworkRef.Name = "" },
			want: []vt.FieldError{vt.Required("spec.networkRef.name")}},
		{name: "bad selector", mutate: func(l *networking.LoadBalancer) {
			l.Spec.NetworkInterfaceSelector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn}}
		}, want: []vt.FieldError{vt.Required("spec.networkInterfaceSelector.matchExpressions[0].values")}},
		{name: "unknown protocol", mutate: func(l *networking.LoadBalancer) { l.Spec.Ports[0].Protocol = "ICMP" },
			want: []vt.FieldError{vt.NotSupported("spec.ports[0].protocol")}},
		{name: "missing protocol", mutate: func(l *networking.LoadBalancer) { l.Spec.Ports[0].Protocol = "" },
			want: []vt.FieldError{vt.Required("spec.ports[0].protocol")}},
		{name: "port zero", mutate: func(l *networking.LoadBalancer) { l.Spec.Ports[0].Port = 0 },
			want: []vt.FieldError{vt.Invalid("spec.ports[0].port")}},
		{name: "end port below port", mutate: func(l *networking.LoadBalancer) { *l.Spec.Ports[1].EndPort = 80 },
			want: []vt.FieldError{vt.Invalid("spec.ports[1].endPort")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lb := validLoadBalancer()
			tt.mutate(lb)
			vt.Expect(t, ValidateLoadBalancer(lb), tt.want...)
		})
	}
}

func TestValidateLoadBalancerUpdate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*networking.LoadBalancer)
		want []vt.FieldError
	}{
		{name: "ports may change", edit: func(l *networking.LoadBalancer) { l.Spec.Ports = l.Spec.Ports[:1] }},
		{name: "selector may change", edit: func(l *networking.LoadBalancer) { l.Spec.NetworkInterfaceSelector = nil }},
		{name: "type is immutable", edit: func(l *networking.LoadBalancer) { l.Spec.Type = networking.LoadBalancerTypeInternal },
			want: []vt.FieldError{vt.Invalid("spec.type")}},
		{name: "families are immutable", edit: func(l *networking.LoadBalancer) {
			l.Spec.IPFamilies = append(l.Spec.IPFamilies, corev1.IPv6Protocol)
		}, want: []vt.FieldError{vt.Invalid("spec.ipFamilies")}},
		{name: "network is immutable", edit: func(l *networking.LoadBalancer) { l.Spec.NetworkRef.Name = "other" },
			want: []vt.FieldError{vt.Invalid("spec.networkRef")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldLB := validLoadBalancer()
			newLB := oldLB.DeepCopy()
			tt.edit(newLB)
			vt.Expect(t, ValidateLoadBalancerUpdate(newLB, oldLB), tt.want...)
		})
	}
}

func TestValidateLoadBalancerStatusUpdate(t *testing.T) {
	lb := validLoadBalancer()
	lb.Status.IPs = []string{"203.0.113.9", "2001:db8::9"}
	vt.Expect(t, ValidateLoadBalancerStatusUpdate(lb, validLoadBalancer()))
	lb.Status.IPs = []string{"203.0.113.9", "::ffff:203.0.113.9"}
	vt.Expect(t, ValidateLoadBalancerStatusUpdate(lb, validLoadBalancer()), vt.Invalid("status.ips[1]"))
}
