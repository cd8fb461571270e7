package apiserver_test

import (
	"testing"

	"github.com/ferrite-dev/ferrite/apiserver"
)

// TestAggregatedModeNeverTrustsTheOwnCA checks when the server delegates authentication:
// given a kubeconfig for it, or running in a pod. Only then is its own admin CA not trusted.
func TestAggregatedModeNeverTrustsTheOwnCA(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	options := apiserver.NewOptions()
	if options.Aggregated() {
		t.Fatal("without delegation flags outside a pod the server must be standalone")
	}
	options.Recommended.Authentication.RemoteKubeConfigFile = "/etc/ferrite/kubeconfig"
	if !options.Aggregated() {
		t.Fatal("--authentication-kubeconfig must select aggregated mode")
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
	if !apiserver.NewOptions().Aggregated() {
		t.Fatal("inside a pod the server must delegate, not trust its own CA")
	}
}
