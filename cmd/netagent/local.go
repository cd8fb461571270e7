package main

import (
	"context"
	"sync"

	"github.com/ferrite-dev/ferrite/net/agent"
	"github.com/ferrite-dev/ferrite/net/dataplane"
)

// local merges the two sources of the agent's local state, the config file's static part and
// the interfaces the API gives, and hands the union to the agent whenever either changes.
type local struct {
	agent *agent.Agent
	// followsAPI holds the state back until the API's part has come once: an agent's first
	// state opens its sessions, and one without the API's interfaces would withdraw their
	// routes from every other host after a restart.
	followsAPI bool
	apiKnown   bool

	mu     sync.Mutex
	static agent.Local
	api    []dataplane.Interface
}

// SetStatic replaces the config file's part.
func (l *local) SetStatic(ctx context.Context, static agent.Local) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.static = static
	return l.push(ctx)
}

// SetInterfaces replaces the API's part (follower.Agent).
func (l *local) SetInterfaces(ctx context.Context, ifaces []dataplane.Interface) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.api = ifaces
	l.apiKnown = true
	return l.push(ctx)
}

// InterfaceState is the agent's (follower.Agent).
func (l *local) InterfaceState(name string) (present, announced bool) {
	return l.agent.InterfaceState(name)
}

func (l *local) push(ctx context.Context) error {
	if l.followsAPI && !l.apiKnown {
		return nil
	}
	merged := agent.Local{
		Interfaces:    append(append([]dataplane.Interface(nil), l.static.Interfaces...), l.api...),
		Routes:        l.static.Routes,
		Subscriptions: l.static.Subscriptions,
	}
	return l.agent.SetLocal(ctx, merged)
}
