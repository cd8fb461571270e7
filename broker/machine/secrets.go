package machine

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
)

// newSecretInformers watches the user-data Secrets in namespace that carry the ID label (what
// brokers make) and keeps only their metadata: the sweep finds half-created ones from it, with
// no LIST per sweep, and the cache holds no user data.
func newSecretInformers(kube kubernetes.Interface, namespace string, resync time.Duration) (informers.SharedInformerFactory, toolscache.SharedIndexInformer) {
	factory := informers.NewSharedInformerFactoryWithOptions(kube, resync, informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = LabelID }),
		informers.WithTransform(func(obj any) (any, error) {
			if secret, ok := obj.(*corev1.Secret); ok {
				secret.Data, secret.StringData = nil, nil
			}
			return obj, nil
		}))
	return factory, factory.Core().V1().Secrets().Informer()
}
