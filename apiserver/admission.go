package apiserver

import (
	"time"

	"k8s.io/apiserver/pkg/admission"
	genericapiserver "k8s.io/apiserver/pkg/server"

	"k8s.io/client-go/kubernetes"

	"github.com/ferrite-dev/ferrite/apiserver/admission/claims"
	"github.com/ferrite-dev/ferrite/apiserver/admission/classprotection"
	"github.com/ferrite-dev/ferrite/apiserver/admission/networkref"
	"github.com/ferrite-dev/ferrite/apiserver/admission/quota"
	"github.com/ferrite-dev/ferrite/apiserver/admission/secretref"
	"github.com/ferrite-dev/ferrite/apiserver/admission/volumeresize"
	"github.com/ferrite-dev/ferrite/generated/clientset/versioned"
	"github.com/ferrite-dev/ferrite/generated/informers/externalversions"
)

// addFerriteAdmission appends Ferrite's own admission plugins to the chain the generic options
// built (which is empty when there is no Kubernetes core API, as in standalone mode). They
// read Ferrite objects through the server's loopback client.
func addFerriteAdmission(generic *genericapiserver.RecommendedConfig) error {
	client, err := versioned.NewForConfig(generic.LoopbackClientConfig)
	if err != nil {
		return err
	}
	factory := externalversions.NewSharedInformerFactory(client, 30*time.Minute)
	quotas := factory.Core().V1alpha1().ResourceQuotas()
	volumes, nics := factory.Storage().V1alpha1().Volumes(), factory.Networking().V1alpha1().NetworkInterfaces()
	plugins := []admission.Interface{classprotection.New(), networkref.New(client), volumeresize.New(client),
		claims.New(client, volumes.Lister(), volumes.Informer().HasSynced, nics.Lister(), nics.Informer().HasSynced),
		quota.New(client, quotas.Lister(), quotas.Informer().HasSynced)}
	// Behind kube-apiserver, Secrets come from its core API.
	if generic.ClientConfig != nil {
		kube, err := kubernetes.NewForConfig(generic.ClientConfig)
		if err != nil {
			return err
		}
		plugins = append(plugins, secretref.New(kube))
	}
	if generic.AdmissionControl != nil {
		plugins = append([]admission.Interface{generic.AdmissionControl}, plugins...)
	}
	generic.AdmissionControl = admission.NewChainHandler(plugins...)
	return generic.AddPostStartHook("ferrite-admission-informers", func(ctx genericapiserver.PostStartHookContext) error {
		factory.Start(ctx.Done())
		return nil
	})
}
