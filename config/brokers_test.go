package config

import (
	"slices"
	"sort"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

// The brokers' roles (docs/brokers.md, "Trust"), their groups and the namespaces of the
// example bindings in config/brokers.
const (
	machineBroker      = "ferrite-machinebroker"
	machineBrokerPools = "ferrite-machinebroker-pools"
	volumeBroker       = "ferrite-volumebroker"
	volumeBrokerKeys   = "ferrite-volumebroker-keys"
	volumeBrokerPools  = "ferrite-volumebroker-pools"
	machineBrokers     = "ferrite:machinebrokers"
	volumeBrokers      = "ferrite:volumebrokers"
	brokerNamespace    = "ferrite-brokers"
	keyNamespace       = namespace
)

// request is one kind of request a broker makes to the lower cluster: verb on resource (with
// its subresource after a slash) of group.
type request struct{ group, resource, verb string }

// brokerRequests are, per broker role, exactly the requests the broker makes (read from
// broker/machine and broker/volume): each role must grant these and nothing else.
var brokerRequests = map[string][]request{
	machineBroker: {
		// informer; GET of a machine not seen yet and before an attach/detach; create; update
		// (attach/detach); merge patch (power, reboot); delete
		{"compute.ferrite.dev", "machines", "get"}, {"compute.ferrite.dev", "machines", "list"}, {"compute.ferrite.dev", "machines", "watch"},
		{"compute.ferrite.dev", "machines", "create"}, {"compute.ferrite.dev", "machines", "update"}, {"compute.ferrite.dev", "machines", "patch"},
		{"compute.ferrite.dev", "machines", "delete"},
		// ReadConsoleLog (GET), Console (a WebSocket session, authorized as create)
		{"compute.ferrite.dev", "machines/console", "get"}, {"compute.ferrite.dev", "machines/console", "create"},
		// informer; new IPs (get, update); create; delete (machine delete, detach, rollback, sweep)
		{"networking.ferrite.dev", "networkinterfaces", "get"}, {"networking.ferrite.dev", "networkinterfaces", "list"},
		{"networking.ferrite.dev", "networkinterfaces", "watch"}, {"networking.ferrite.dev", "networkinterfaces", "create"},
		{"networking.ferrite.dev", "networkinterfaces", "update"}, {"networking.ferrite.dev", "networkinterfaces", "delete"},
		// n-<network uid>: created on first use, deleted by a rollback
		{"networking.ferrite.dev", "networks", "create"}, {"networking.ferrite.dev", "networks", "delete"},
		// informer of the Volumes network disks refer to
		{"storage.ferrite.dev", "volumes", "list"}, {"storage.ferrite.dev", "volumes", "watch"},
		// user data: create, delete; the sweep's informer on the ID label; get for ignitionRef
		{"", "secrets", "get"}, {"", "secrets", "create"}, {"", "secrets", "list"}, {"", "secrets", "watch"}, {"", "secrets", "delete"},
		// the lower Events about its Machines, passed up (an informer)
		{"events.k8s.io", "events", "list"}, {"events.k8s.io", "events", "watch"},
	},
	machineBrokerPools: {
		{"compute.ferrite.dev", "machinepools", "get"}, {"compute.ferrite.dev", "machinepools", "list"}, {"compute.ferrite.dev", "machinepools", "watch"},
		{"compute.ferrite.dev", "machineclasses", "get"}, {"compute.ferrite.dev", "machineclasses", "list"}, {"compute.ferrite.dev", "machineclasses", "watch"},
	},
	volumeBroker: {
		// informer; create and GET when it exists; update (expand); delete
		{"storage.ferrite.dev", "volumes", "get"}, {"storage.ferrite.dev", "volumes", "list"}, {"storage.ferrite.dev", "volumes", "watch"},
		{"storage.ferrite.dev", "volumes", "create"}, {"storage.ferrite.dev", "volumes", "update"}, {"storage.ferrite.dev", "volumes", "delete"},
		// informer; create and GET when it exists; delete
		{"storage.ferrite.dev", "volumesnapshots", "get"}, {"storage.ferrite.dev", "volumesnapshots", "list"}, {"storage.ferrite.dev", "volumesnapshots", "watch"},
		{"storage.ferrite.dev", "volumesnapshots", "create"}, {"storage.ferrite.dev", "volumesnapshots", "delete"},
		// the access Secret of a Volume, by name
		{"", "secrets", "get"},
		// the lower Events about its Volumes and VolumeSnapshots, passed up (an informer)
		{"events.k8s.io", "events", "list"}, {"events.k8s.io", "events", "watch"},
	},
	volumeBrokerKeys: {
		{"", "secrets", "get"}, // the passphrase Secret, by name
	},
	volumeBrokerPools: {
		{"storage.ferrite.dev", "volumepools", "get"}, {"storage.ferrite.dev", "volumepools", "list"}, {"storage.ferrite.dev", "volumepools", "watch"},
		{"storage.ferrite.dev", "volumeclasses", "get"}, {"storage.ferrite.dev", "volumeclasses", "list"}, {"storage.ferrite.dev", "volumeclasses", "watch"},
	},
}

// brokerClusterScoped are the broker roles bound with a ClusterRoleBinding; the others may only
// be bound with RoleBindings.
var brokerClusterScoped = map[string]string{machineBrokerPools: machineBrokers, volumeBrokerPools: volumeBrokers}

// checkBrokerRoles checks each broker role against brokerRequests (every request granted, and
// no other grant) and the scope of what it names: the roles bound with RoleBindings only
// namespaced resources (a RoleBinding could not grant the others), the -pools roles only
// cluster-scoped ones. served are the resources ferrite-apiserver serves.
func checkBrokerRoles(t *testing.T, roles map[string]*rbacv1.ClusterRole, served []servedResource) {
	t.Helper()
	namespaced := map[string]bool{"/secrets": true, "events.k8s.io/events": true}
	for _, r := range served {
		namespaced[r.group+"/"+r.name] = r.namespaced
	}
	for name, requests := range brokerRequests {
		role := roles[name]
		if role == nil {
			t.Errorf("roles.yaml has no ClusterRole %s", name)
			continue
		}
		for _, r := range requests {
			if !allows(role.Rules, r.group, r.resource, r.verb) {
				t.Errorf("%s cannot %s %s in group %q, which the broker does", name, r.verb, r.resource, r.group)
			}
		}
		_, cluster := brokerClusterScoped[name]
		for _, rule := range role.Rules {
			if len(rule.ResourceNames) > 0 || len(rule.NonResourceURLs) > 0 {
				t.Errorf("%s: rule %+v names resource names or URLs", name, rule)
			}
			for _, group := range rule.APIGroups {
				for _, resource := range rule.Resources {
					if namespaced[group+"/"+resource] == cluster {
						t.Errorf("%s names %s in group %q (namespaced: %v), but the role is bound with a %s", name, resource, group, namespaced[group+"/"+resource],
							map[bool]string{true: "ClusterRoleBinding", false: "RoleBinding"}[cluster])
					}
					for _, verb := range rule.Verbs {
						if !slices.Contains(requests, request{group, resource, verb}) {
							t.Errorf("%s may %s %s in group %q, which the broker never does", name, verb, resource, group)
						}
					}
				}
			}
		}
	}
}

// TestBrokers checks config/brokers and the brokers' bindings in config/default: the
// namespaced roles bound by RoleBindings in the target and key namespaces to the brokers'
// groups, the -pools roles by ClusterRoleBindings, and no ClusterRoleBinding of a namespaced
// broker role anywhere.
func TestBrokers(t *testing.T) {
	kubectlPath := kubectl(t)
	brokers := render(t, kubectlPath, "brokers")
	checkObjects(t, brokers)
	defaults := render(t, kubectlPath, "default")
	roles := readRoles(t)

	if find(brokers, "Namespace", "", brokerNamespace) == nil {
		t.Errorf("config/brokers has no Namespace %s", brokerNamespace)
	}
	group := func(name string) rbacv1.Subject { return rbacv1.Subject{Kind: "Group", Name: name} }
	for _, want := range []struct{ namespace, role, group string }{
		{brokerNamespace, machineBroker, machineBrokers},
		{brokerNamespace, volumeBroker, volumeBrokers},
		{keyNamespace, volumeBrokerKeys, volumeBrokers},
	} {
		if !bound(t, brokers, "RoleBinding", want.namespace, "ClusterRole", want.role, group(want.group)) {
			t.Errorf("config/brokers has no RoleBinding in %s of ClusterRole %s to group %s", want.namespace, want.role, want.group)
		}
	}
	for role, name := range brokerClusterScoped {
		if !bound(t, defaults, "ClusterRoleBinding", "", "ClusterRole", role, group(name)) {
			t.Errorf("config/default has no ClusterRoleBinding of %s to group %s", role, name)
		}
	}
	for _, object := range slices.Concat(ofKind(brokers, "ClusterRoleBinding"), ofKind(defaults, "ClusterRoleBinding"), ofKind(brokers, "RoleBinding")) {
		binding := &rbacv1.RoleBinding{}
		strict(t, object, binding)
		if _, ok := brokerRequests[binding.RoleRef.Name]; !ok {
			continue
		}
		if roles[binding.RoleRef.Name] == nil || binding.RoleRef.Kind != "ClusterRole" {
			t.Errorf("%s %s refers to %s %s, which roles.yaml does not define", object.GetKind(), object.GetName(), binding.RoleRef.Kind, binding.RoleRef.Name)
		}
		_, cluster := brokerClusterScoped[binding.RoleRef.Name]
		if cluster != (object.GetKind() == "ClusterRoleBinding") {
			t.Errorf("%s %s binds %s: namespaced broker roles take RoleBindings, the -pools roles ClusterRoleBindings", object.GetKind(), object.GetName(), binding.RoleRef.Name)
		}
	}
}

// brokerAccessChecks are the SubjectAccessReviews TestOnKubeAPIServer asks for the brokers'
// identities once config/default and config/brokers are applied: every request a broker makes
// in its namespaces (brokerRequests), and what it must not do.
func brokerAccessChecks() []accessCheck {
	machine := []string{"--as=ferrite:machinebroker:zone-a", "--as-group=" + machineBrokers}
	volume := []string{"--as=ferrite:volumebroker:zone-a", "--as-group=" + volumeBrokers}
	var checks []accessCheck
	allowed := func(as []string, role, namespace string) {
		for _, r := range brokerRequests[role] {
			resource, subresource, _ := strings.Cut(r.resource, "/")
			if r.group != "" {
				resource += "." + r.group
			}
			args := []string{r.verb, resource}
			if namespace != "" {
				args = append(args, "-n", namespace)
			}
			if subresource != "" {
				args = append(args, "--subresource="+subresource)
			}
			checks = append(checks, accessCheck{as, args, true})
		}
	}
	allowed(machine, machineBroker, brokerNamespace)
	allowed(machine, machineBrokerPools, "")
	allowed(volume, volumeBroker, brokerNamespace)
	allowed(volume, volumeBrokerKeys, keyNamespace)
	allowed(volume, volumeBrokerPools, "")
	refused := [][]string{
		// machinebroker: nothing outside its namespace, no scheduling, no status, no pools
		{"create", "machines.compute.ferrite.dev", "-n", "default"},
		{"get", "machines.compute.ferrite.dev", "-n", "default"},
		{"get", "secrets", "-n", "default"},
		{"list", "secrets", "-n", "default"},
		{"get", "secrets", "-n", keyNamespace},
		{"list", "secrets", "-n", keyNamespace},
		{"create", "machines.compute.ferrite.dev", "-n", brokerNamespace, "--subresource=binding"},
		{"update", "machines.compute.ferrite.dev", "-n", brokerNamespace, "--subresource=status"},
		{"patch", "machines.compute.ferrite.dev", "-n", brokerNamespace, "--subresource=status"},
		{"create", "machinepools.compute.ferrite.dev"},
		{"update", "machinepools.compute.ferrite.dev"},
		{"patch", "machinepools.compute.ferrite.dev", "--subresource=status"},
		{"update", "machineclasses.compute.ferrite.dev"},
		{"update", "networkinterfaces.networking.ferrite.dev", "-n", brokerNamespace, "--subresource=claim"},
		{"create", "volumes.storage.ferrite.dev", "-n", brokerNamespace},
		{"create", "events", "-n", brokerNamespace},
	}
	for _, args := range refused {
		checks = append(checks, accessCheck{machine, args, false})
	}
	refused = [][]string{
		// volumebroker: keys by name only, nothing outside its namespaces, no status or binding
		{"list", "secrets", "-n", keyNamespace},
		{"watch", "secrets", "-n", keyNamespace},
		{"create", "secrets", "-n", keyNamespace},
		{"list", "secrets", "-n", brokerNamespace},
		{"get", "secrets", "-n", "default"},
		{"create", "volumes.storage.ferrite.dev", "-n", "default"},
		{"get", "volumes.storage.ferrite.dev", "-n", "default"},
		{"create", "volumes.storage.ferrite.dev", "-n", keyNamespace},
		{"create", "volumes.storage.ferrite.dev", "-n", brokerNamespace, "--subresource=binding"},
		{"update", "volumes.storage.ferrite.dev", "-n", brokerNamespace, "--subresource=status"},
		{"update", "volumes.storage.ferrite.dev", "-n", brokerNamespace, "--subresource=claim"},
		{"update", "volumesnapshots.storage.ferrite.dev", "-n", brokerNamespace},
		{"update", "volumepools.storage.ferrite.dev"},
		{"update", "volumeclasses.storage.ferrite.dev"},
		{"create", "machines.compute.ferrite.dev", "-n", brokerNamespace},
		{"create", "events", "-n", brokerNamespace},
	}
	for _, args := range refused {
		checks = append(checks, accessCheck{volume, args, false})
	}
	return checks
}

// accessCheck is a SubjectAccessReview and its expected answer: as are --as and --as-group
// flags, args the verb, resource and flags of kubectl auth can-i.
type accessCheck struct {
	as, args []string
	allows   bool
}

// brokerRoleNames are the broker roles, sorted.
func brokerRoleNames() []string {
	var names []string
	for name := range brokerRequests {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
