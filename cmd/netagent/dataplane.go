package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/dataplane/dpdk"
	"github.com/ferrite-dev/ferrite/net/dataplane/kernel"
	"github.com/ferrite-dev/ferrite/net/dataplane/memory"
)

// dataplaneConfig selects the dataplane: "kernel" (the default), "dpdk" or "memory" (records
// only; for trying the agent without touching the host).
type dataplaneConfig struct {
	Type string `json:"type"`
	// DPDKAddress is the fast path's gRPC endpoint for type dpdk: unix:///path (the default is
	// dpdk.DefaultAddress) or host:port, which needs DPDKTLS unless DPDKInsecure.
	DPDKAddress string `json:"dpdkAddress"`
	// DPDKTLS are the CA, client certificate and key for a TCP endpoint.
	DPDKTLS dpdk.TLSFiles `json:"dpdkTLS"`
	// DPDKInsecure allows plaintext TCP to the fast path (logged as a warning): whoever reaches
	// the port can program this host's packet path.
	DPDKInsecure bool `json:"dpdkInsecure"`
}

func openDataplane(ctx context.Context, c dataplaneConfig, underlay netip.Addr, mtu int, log *slog.Logger) (dataplane.Dataplane, func(), error) {
	switch c.Type {
	case "", "kernel":
		d, err := kernel.New(kernel.Config{Underlay: underlay, MTU: mtu, Logger: log})
		return d, func() {}, err
	case "dpdk":
		d, err := dpdk.Dial(dpdk.Config{Address: c.DPDKAddress, TLS: c.DPDKTLS, Insecure: c.DPDKInsecure,
			Underlay: underlay, Logger: log})
		if err != nil {
			return nil, nil, err
		}
		return d, func() { _ = d.Close() }, nil
	case "memory":
		return &memory.Dataplane{}, func() {}, nil
	default:
		return nil, nil, fmt.Errorf("unknown dataplane type %q (want kernel, dpdk or memory)", c.Type)
	}
}
