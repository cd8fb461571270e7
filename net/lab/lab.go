// Package lab starts route reflectors and agents in one process on 127.0.0.0/8 addresses, for
// tests and benchmarks of route distribution.
package lab

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/ferrite-dev/ferrite/net/agent"
	"github.com/ferrite-dev/ferrite/net/dataplane"
	"github.com/ferrite-dev/ferrite/net/reflector"
)

// Lab is a set of reflectors and agents sharing one BGP port on different loopback addresses.
type Lab struct {
	// Port is the BGP port every reflector listens on.
	Port int
	// Log is where reflectors and agents log; quiet unless FERRITE_LAB_LOG is set.
	Log *slog.Logger
}

// New picks a free port usable on every reflector address of the lab.
func New() (*Lab, error) {
	l := &Lab{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if os.Getenv("FERRITE_LAB_LOG") != "" {
		l.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if free(port) {
			l.Port = port
			return l, nil
		}
	}
	return nil, fmt.Errorf("no port free on all reflector addresses")
}

func free(port int) bool {
	for i := 1; i <= 4; i++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", ReflectorAddr(i), port))
		if err != nil {
			return false
		}
		ln.Close()
	}
	return true
}

// ReflectorAddr is the address of reflector i (1-based): 127.0.0.i.
func ReflectorAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, 0, 0, byte(i)})
}

// AgentAddr is the address of agent i (0-based): 127.1.x.y, so up to 65,536 agents.
func AgentAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, 1, byte(i >> 8), byte(i)})
}

// ReflectorEndpoint is where agents reach reflector i.
func (l *Lab) ReflectorEndpoint(i int) netip.AddrPort {
	return netip.AddrPortFrom(ReflectorAddr(i), uint16(l.Port))
}

// StartReflector starts reflector i, accepting agents from 127.1.0.0/16.
func (l *Lab) StartReflector(ctx context.Context, i int) (*reflector.Reflector, error) {
	return reflector.Start(ctx, reflector.Config{
		RouterID:        ReflectorAddr(i),
		ListenAddresses: []netip.Addr{ReflectorAddr(i)},
		Port:            l.Port,
		ClientPrefixes:  []netip.Prefix{netip.MustParsePrefix("127.1.0.0/16")},
		Logger:          l.Log.With("reflector", i),
	})
}

// AgentConfig is the configuration of agent i with dataplane dp, peering with the given
// reflectors; tests change it before agent.Start.
func (l *Lab) AgentConfig(i int, dp dataplane.Dataplane, reflectors ...int) agent.Config {
	eps := make([]netip.AddrPort, 0, len(reflectors))
	for _, r := range reflectors {
		eps = append(eps, l.ReflectorEndpoint(r))
	}
	return agent.Config{
		RouterID:     AgentAddr(i),
		LocalAddress: AgentAddr(i),
		Reflectors:   eps,
		Dataplane:    dp,
		Logger:       l.Log.With("agent", i),
		// Reflectors with graceful restart send End-of-RIB within milliseconds; without it the
		// agents would wait the whole hold time before their first Apply.
		GracefulRestart: agent.GracefulRestart{EndOfRIBWait: 3 * time.Second},
	}
}

// StartAgent starts agent i with dataplane dp, peering with the given reflectors. The agent
// opens its sessions at its first SetLocal.
func (l *Lab) StartAgent(ctx context.Context, i int, dp dataplane.Dataplane, reflectors ...int) (*agent.Agent, error) {
	return agent.Start(ctx, l.AgentConfig(i, dp, reflectors...))
}

// Eventually polls cond every 20ms until it holds or the timeout passes (a bounded loop);
// it returns whether cond held.
func Eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
