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
	// Behind kube-apiserver, Secrets come from its core API.
	var kube kubernetes.Interface
	if generic.ClientConfig != nil {
		if kube, err = kubernetes.NewForConfig(generic.ClientConfig); err != nil {
			return err
		}
	}
	generic.AdmissionControl = admissionChain(generic.AdmissionControl, client, factory, kube)
	return generic.AddPostStartHook("ferrite-admission-informers", func(ctx genericapiserver.PostStartHookContext) error {
		factory.Start(ctx.Done())
		return nil
	})
}

// admissionChain is the whole admission chain, in the one order it runs:
//  1. the generic plugins (namespace lifecycle, webhooks, admission policies), when there is a
//     Kubernetes core API;
//  2. Ferrite's checking plugins, which refuse but never write: add new ones to checks below;
//  3. quota, always last. It is the only plugin with a side effect (it charges status.used
//     before the object is stored), so it must see only requests every other step accepted:
//     a request refused after the charge would leave a charge for an object that never exists.
//
// kube is nil when there is no kube-apiserver (standalone); plugins that need it are left out.
func admissionChain(generic admission.Interface, client versioned.Interface, factory externalversions.SharedInformerFactory, kube kubernetes.Interface) admission.Interface {
	// classprotection only adds a finalizer to the class in flight; volumeresize only reads.
	checks := []admission.Interface{networkref.New(client), volumeresize.New(client), classprotection.New()}
	if kube != nil {
		checks = append(checks, secretref.New(kube))
	}
	volumes, nics := factory.Storage().V1alpha1().Volumes(), factory.Networking().V1alpha1().NetworkInterfaces()
	checks = append(checks, claims.New(client, volumes.Lister(), volumes.Informer().HasSynced, nics.Lister(), nics.Informer().HasSynced))

	var chain []admission.Interface
	if generic != nil {
		chain = append(chain, generic)
	}
	chain = append(chain, checks...)
	quotas := factory.Core().V1alpha1().ResourceQuotas()
	chain = append(chain, quota.New(client, quotas.Lister(), quotas.Informer().HasSynced))
	return admission.NewChainHandler(chain...)
}
