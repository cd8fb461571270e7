package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/route"
)

// config is the agent's config file (JSON). Interfaces, routes and subscriptions listed here
// are static: they are served next to what the API gives (with --kubeconfig and
// --machine-pool) and re-read on SIGHUP.
type config struct {
	RouterID     netip.Addr       `json:"routerID"`
	LocalAddress netip.Addr       `json:"localAddress"`
	NextHop      netip.Addr       `json:"nextHop,omitzero"`
	Reflectors   []netip.AddrPort `json:"reflectors"`
	// PublicVNI is the virtual network of public addresses, the same on every hypervisor and
	// edge (the apiserver's --vni-max must exclude it); 0 serves no public addresses.
	PublicVNI uint32 `json:"publicVNI,omitempty"`
	// PasswordFile holds the TCP-MD5 password of the sessions to the reflectors.
	PasswordFile string `json:"passwordFile,omitempty"`
	// HTTP is the read-only status endpoint; it must be a loopback address.
	HTTP      string          `json:"http"`
	Dataplane dataplaneConfig `json:"dataplane"`
	// MTU is the overlay MTU: taps, VXLAN devices and the guests' DHCP option (default 1450,
	// a 1500-byte underlay less VXLAN's 50 bytes).
	MTU           int                   `json:"mtu,omitempty"`
	Interfaces    []dataplane.Interface `json:"interfaces"`
	Routes        []route.Route         `json:"routes"`
	Subscriptions []uint32              `json:"subscriptions"`
	// Peerings lists per VNI the VNIs its interfaces may reach (static peerings; the API's
	// come from the Networks' agreed status.peerings).
	Peerings map[uint32][]uint32 `json:"peerings,omitempty"`
}

// defaultMTU is the overlay MTU on a 1500-byte underlay.
const defaultMTU = 1450

func readConfig(path string) (config, error) {
	cfg := config{HTTP: "127.0.0.1:9180", MTU: defaultMTU}
	if path == "" {
		return cfg, errors.New("--config is required")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("--config: %w", err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	switch {
	case !cfg.RouterID.Is4():
		return cfg, fmt.Errorf("%s: routerID %v: want an IPv4 address", path, cfg.RouterID)
	case !cfg.LocalAddress.IsValid():
		return cfg, fmt.Errorf("%s: localAddress is required", path)
	case len(cfg.Reflectors) == 0:
		return cfg, fmt.Errorf("%s: reflectors: at least one is required", path)
	case cfg.PublicVNI > route.MaxVNI:
		return cfg, fmt.Errorf("%s: publicVNI %d out of range 1..%d", path, cfg.PublicVNI, route.MaxVNI)
	case cfg.MTU < 576 || cfg.MTU > 9000:
		return cfg, fmt.Errorf("%s: mtu %d out of range 576..9000", path, cfg.MTU)
	}
	for _, iface := range cfg.Interfaces {
		if iface.Public() && cfg.PublicVNI == 0 {
			return cfg, fmt.Errorf("%s: interface %s has public services but publicVNI is not set", path, iface.Name)
		}
	}
	return cfg, nil
}

func readPassword(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("passwordFile: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
