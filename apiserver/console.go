package apiserver

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	genericfilters "k8s.io/apiserver/pkg/server/filters"

	"github.com/ferrite-dev/ferrite/registry/compute/machineconsole"
)

// longRunning marks watches and console sessions as long-running, out of the request timeout
// and the in-flight limits.
func longRunning() request.LongRunningRequestCheck {
	return genericfilters.BasicLongRunningRequestCheck(sets.NewString("watch"), sets.NewString(machineconsole.Subresource))
}

// addConsole adds machines/console to the compute group's resources, reaching poollets with
// the Poollet options (or answering 503 without them).
func (c *Config) addConsole(resources map[string]rest.Storage) error {
	machines, ok := resources["machines"].(rest.Getter)
	if !ok {
		return fmt.Errorf("machines/console: no machines storage")
	}
	pools, ok := resources["machinepools"].(rest.Getter)
	if !ok {
		return fmt.Errorf("machines/console: no machinepools storage")
	}
	console := &machineconsole.REST{Machines: machines, Pools: pools, Authorizer: c.Generic.Authorization.Authorizer}
	if c.Poollet.Enabled() {
		console.Transport = c.Poollet.Transport
	}
	resources["machines/"+machineconsole.Subresource] = console
	return nil
}
