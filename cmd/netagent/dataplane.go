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
	// DPDKAddress is the fast path's gRPC endpoint (host:port or unix:///path) for type dpdk.
	DPDKAddress string `json:"dpdkAddress"`
}

func openDataplane(ctx context.Context, c dataplaneConfig, underlay netip.Addr, log *slog.Logger) (dataplane.Dataplane, func(), error) {
	switch c.Type {
	case "", "kernel":
		d, err := kernel.New(kernel.Config{Underlay: underlay, Logger: log})
		return d, func() {}, err
	case "dpdk":
		d, err := dpdk.Dial(ctx, dpdk.Config{Address: c.DPDKAddress, Underlay: underlay})
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
