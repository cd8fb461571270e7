//go:build e2e

package overlay

import (
	"context"
	"io"
	"net"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vishvananda/netlink"

	"github.com/ferrite-dev/ferrite/poollet/tapdevice"
)

// forwardInto listens on address (the kube-apiserver's 127.0.0.1:port) inside network
// namespace ns and forwards each connection to the same address in this namespace, so that a
// netagent in the hypervisor namespace reaches the API with an unchanged kubeconfig.
func forwardInto(ns, address string) (stop func(), err error) {
	ln, err := listenIn(ns, address)
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				out, err := net.DialTimeout("tcp", address, 5*time.Second)
				if err != nil {
					return
				}
				defer out.Close()
				go func() { _, _ = io.Copy(out, in) }()
				_, _ = io.Copy(in, out)
			}()
		}
	}()
	return func() { ln.Close() }, nil
}

// moveTaps moves each guest's tap, which libvirt makes in this namespace, into the namespace of
// the hypervisor whose pool runs the guest: the guest then sits on that hypervisor.
func moveTaps(ctx context.Context) {
	nsOf := map[string]string{}
	for _, h := range hypervisors {
		nsOf[h.pool] = h.ns
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		nics, err := ferrite.NetworkingV1alpha1().NetworkInterfaces(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for _, nic := range nics.Items {
			ref := nic.Status.MachinePoolRef
			if ref == nil || nsOf[ref.Name] == "" {
				continue
			}
			tap := tapdevice.Name(string(nic.UID))
			if _, err := netlink.LinkByName(tap); err != nil {
				continue // not made yet, or already moved
			}
			_ = ip("link", "set", tap, "netns", nsOf[ref.Name])
		}
	}
}
