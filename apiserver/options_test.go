package apiserver_test

import (
	"testing"

	"github.com/spf13/pflag"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apiserver/pkg/features"
	utilfeature "k8s.io/apiserver/pkg/util/feature"

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

// TestFeatureGatesFlag checks Ferrite's feature defaults and that --feature-gates changes them.
func TestFeatureGatesFlag(t *testing.T) {
	options := apiserver.NewOptions()
	if utilfeature.DefaultFeatureGate.Enabled(features.ListFromCacheSnapshot) || !utilfeature.DefaultFeatureGate.Enabled(features.CBORServingAndStorage) {
		t.Fatalf("defaults: ListFromCacheSnapshot on or CBORServingAndStorage off")
	}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	options.AddFlags(fs)
	t.Cleanup(func() {
		utilruntime.Must(utilfeature.DefaultMutableFeatureGate.SetFromMap(map[string]bool{string(features.ListFromCacheSnapshot): false}))
	})
	if err := fs.Parse([]string{"--feature-gates=ListFromCacheSnapshot=true"}); err != nil {
		t.Fatal(err)
	}
	if !utilfeature.DefaultFeatureGate.Enabled(features.ListFromCacheSnapshot) {
		t.Errorf("--feature-gates=ListFromCacheSnapshot=true left it off")
	}
}
