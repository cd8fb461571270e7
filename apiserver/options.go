package apiserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/spf13/pflag"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apiserver/pkg/endpoints/openapi"
	"k8s.io/apiserver/pkg/features"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/component-base/compatibility"
	"k8s.io/klog/v2"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	corev1alpha1 "github.com/ferrite-dev/ferrite/apis/core/v1alpha1"
	ipamv1alpha1 "github.com/ferrite-dev/ferrite/apis/ipam/v1alpha1"
	networkingv1alpha1 "github.com/ferrite-dev/ferrite/apis/networking/v1alpha1"
	storagev1alpha1 "github.com/ferrite-dev/ferrite/apis/storage/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/standalone"
	generatedopenapi "github.com/ferrite-dev/ferrite/generated/openapi"
	"github.com/ferrite-dev/ferrite/registry/networking/vni"
)

// EtcdPathPrefix is where Ferrite keeps its objects in etcd.
const EtcdPathPrefix = "/registry/ferrite.dev"

// KubernetesVersion is the Kubernetes API machinery version the server is built on.
const KubernetesVersion = "1.37"

// StorageCodec is how objects are kept in etcd: encoded as protobuf in their served version,
// decoded from any format the server knows (protobuf, JSON, CBOR, YAML), so objects written
// as JSON by earlier versions still read. The generic options' storage factory takes the codec
// of the storage config as it is (DefaultStorageMediaType alone does not change it), and
// protobuf both decodes and encodes with far less CPU than JSON.
func StorageCodec() runtime.Codec {
	info, ok := runtime.SerializerInfoForMediaType(Codecs.SupportedMediaTypes(), runtime.ContentTypeProtobuf)
	if !ok {
		panic("the Ferrite codecs lack protobuf")
	}
	versions := schema.GroupVersions{computev1alpha1.SchemeGroupVersion, storagev1alpha1.SchemeGroupVersion,
		networkingv1alpha1.SchemeGroupVersion, ipamv1alpha1.SchemeGroupVersion, corev1alpha1.SchemeGroupVersion}
	return Codecs.CodecForVersions(info.Serializer, Codecs.UniversalDeserializer(), versions, runtime.InternalGroupVersioner)
}

// Options are the command-line options of ferrite-apiserver: the standard generic apiserver
// options plus the data directory of standalone mode.
type Options struct {
	// Recommended are the generic apiserver options (etcd, serving, delegated authn/z, audit,
	// admission, features).
	Recommended *genericoptions.RecommendedOptions
	// DataDir holds the embedded etcd, the generated PKI and the admin kubeconfig.
	DataDir string
	// VNI configures the VNI range, the quarantine of released VNIs and the repair pass.
	VNI vni.Options
	// Poollet is how machines/console connects to machinepoollets.
	Poollet PoolletOptions
	// GC is the garbage collector setting the binary applies at start (GCOptions.Apply).
	GC GCOptions
	// ListCache sizes the cache of encoded LIST items.
	ListCache ListCacheOptions

	etcd *standalone.Etcd
	pki  *standalone.PKI
	// etcdMu guards the etcd transport that Complete fills in for the embedded etcd, which
	// EtcdTransport reads while Run goes on.
	etcdMu sync.Mutex
}

// NewOptions returns options with Ferrite's defaults: objects stored as protobuf, serving on
// 127.0.0.1:8443, and authentication that works without a kube-apiserver.
func NewOptions() *Options {
	recommended := genericoptions.NewRecommendedOptions(EtcdPathPrefix, StorageCodec())
	recommended.Etcd.DefaultStorageMediaType = runtime.ContentTypeProtobuf
	recommended.SecureServing.BindAddress = net.ParseIP("127.0.0.1")
	recommended.SecureServing.BindPort = 8443
	// Without a kube-apiserver to delegate to, requests authenticate with client certificates
	// and only system:masters is authorized; with --authentication-kubeconfig and
	// --authorization-kubeconfig, TokenReview and SubjectAccessReview take over.
	recommended.Authentication.RemoteKubeConfigFileOptional = true
	recommended.Authorization.RemoteKubeConfigFileOptional = true
	utilruntime.Must(utilfeature.DefaultMutableFeatureGate.SetFromMap(map[string]bool{
		// CBOR is served next to JSON, YAML and protobuf.
		string(features.CBORServingAndStorage): true,
		// The watch cache keeps no snapshot per event (a copy-on-write clone of its tree, to
		// serve paginated and exact-version LISTs from memory): at 100,000 Machines after a
		// burst of writes they held as much memory as the objects themselves (docs/performance.md,
		// issue 15). Continued LIST pages are then read from etcd, as before Kubernetes 1.34.
		string(features.ListFromCacheSnapshot): false,
	}))
	return &Options{Recommended: recommended, DataDir: ".ferrite", VNI: vni.NewOptions(), GC: NewGCOptions(),
		ListCache: ListCacheOptions{Size: DefaultListCacheSize}}
}

// AddFlags adds the options to fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	o.Recommended.AddFlags(fs)
	// --feature-gates changes the defaults above and the generic apiserver's others.
	utilfeature.DefaultMutableFeatureGate.AddFlag(fs)
	fs.StringVar(&o.DataDir, "data-dir", o.DataDir, "Directory for the embedded etcd (when no --etcd-servers is given), the generated certificates and the admin kubeconfig.")
	o.VNI.AddFlags(fs)
	o.Poollet.AddFlags(fs)
	o.GC.AddFlags(fs)
	o.ListCache.AddFlags(fs)
}

// Standalone reports whether the server runs its own etcd.
func (o *Options) Standalone() bool {
	return len(o.Recommended.Etcd.StorageConfig.Transport.ServerList) == 0
}

// Aggregated reports whether authentication is delegated to a kube-apiserver: with
// --authentication-kubeconfig, or inside a Kubernetes pod, where the delegating options use
// the in-cluster configuration. Then only kube-apiserver's CAs are trusted, never the
// server's own.
func (o *Options) Aggregated() bool {
	return o.Recommended.Authentication.RemoteKubeConfigFile != "" || os.Getenv("KUBERNETES_SERVICE_HOST") != ""
}

// KubeconfigPath is where the admin kubeconfig is written.
func (o *Options) KubeconfigPath() string { return filepath.Join(o.DataDir, "kubeconfig") }

// Complete starts what standalone mode needs (embedded etcd, PKI) and fills the options that
// depend on it. Call Stop when done.
func (o *Options) Complete() error {
	var err error
	if o.DataDir, err = filepath.Abs(o.DataDir); err != nil {
		return err
	}
	if o.pki, err = standalone.EnsurePKI(filepath.Join(o.DataDir, "pki")); err != nil {
		return fmt.Errorf("preparing certificates: %w", err)
	}
	serving := &o.Recommended.SecureServing.ServerCert
	if serving.CertKey.CertFile == "" {
		serving.CertKey.CertFile, serving.CertKey.KeyFile = o.pki.ServingCert, o.pki.ServingKey
	}
	// Standalone, the admin authenticates with a certificate of our own CA. Aggregated, only
	// kube-apiserver's CAs (front proxy and clients) are trusted.
	if !o.Aggregated() && o.Recommended.Authentication.ClientCert.ClientCA == "" {
		o.Recommended.Authentication.ClientCert.ClientCA = o.pki.CACert
	}
	// Core API informers (for admission and priority-and-fairness) need a kube-apiserver.
	if o.Recommended.CoreAPI != nil && o.Recommended.CoreAPI.CoreAPIKubeconfigPath == "" && os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
		o.Recommended.CoreAPI = nil
		o.Recommended.Admission = nil
		o.Recommended.Features.EnablePriorityAndFairness = false
	}
	if o.Standalone() {
		if o.etcd, err = standalone.StartEtcd(filepath.Join(o.DataDir, "etcd"), o.pki.Etcd); err != nil {
			return err
		}
		// The embedded etcd admits only clients with a certificate of its own CA.
		o.etcdMu.Lock()
		transport := &o.Recommended.Etcd.StorageConfig.Transport
		transport.ServerList = []string{o.etcd.Endpoint}
		transport.CertFile, transport.KeyFile, transport.TrustedCAFile = o.pki.Etcd.ClientCert, o.pki.Etcd.ClientKey, o.pki.Etcd.CACert
		o.etcdMu.Unlock()
	}
	return nil
}

// EtcdTransport returns how the server reaches etcd: the flags, or the embedded etcd once
// Complete has started it. It may be called while Run goes on in another goroutine.
func (o *Options) EtcdTransport() storagebackend.TransportConfig {
	o.etcdMu.Lock()
	defer o.etcdMu.Unlock()
	transport := o.Recommended.Etcd.StorageConfig.Transport
	transport.ServerList = slices.Clone(transport.ServerList)
	return transport
}

// Stop stops the embedded etcd, if any.
func (o *Options) Stop() {
	if o.etcd != nil {
		o.etcd.Stop()
	}
}

// Validate checks the options.
func (o *Options) Validate() error {
	errs := append(o.Recommended.Validate(), o.VNI.Validate()...)
	errs = append(errs, o.Poollet.Validate()...)
	errs = append(errs, o.ListCache.Validate()...)
	return utilerrors.NewAggregate(append(errs, o.GC.Validate()...))
}

// Config builds the server configuration from completed options.
func (o *Options) Config() (*Config, error) {
	generic := genericapiserver.NewRecommendedConfig(Codecs)
	generic.EffectiveVersion = compatibility.NewEffectiveVersionFromString(KubernetesVersion, "", "")
	namer := openapi.NewDefinitionNamer(Scheme)
	generic.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(generatedopenapi.GetOpenAPIDefinitions, namer)
	generic.OpenAPIConfig.Info.Title = "Ferrite"
	generic.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(generatedopenapi.GetOpenAPIDefinitions, namer)
	generic.OpenAPIV3Config.Info.Title = "Ferrite"
	if err := o.Recommended.ApplyTo(generic); err != nil {
		return nil, err
	}
	generic.LongRunningFunc = longRunning()
	// LIST bodies are gathered into large writes, innermost, where the request info is known.
	generic.BuildHandlerChainFunc = func(apiHandler http.Handler, c *genericapiserver.Config) http.Handler {
		return genericapiserver.DefaultBuildHandlerChain(withListWriteBuffer(apiHandler), c)
	}
	authn := generic.Authentication.Authenticator
	// Standalone, the client certificate is the only credential; its verification is cached.
	// Behind kube-apiserver, the front proxy's certificate comes with user headers: no cache.
	if authn != nil && !o.Aggregated() && o.Recommended.Authentication.RequestHeader.ClientCAFile == "" {
		authn = newCertCache(authn)
	}
	generic.Authentication.Authenticator = refuseAnonymous(authn)
	if err := addFerriteAdmission(generic); err != nil {
		return nil, err
	}
	etcd, err := newEtcdClient(o.Recommended.Etcd.StorageConfig.Transport.ServerList, o.Recommended.Etcd.StorageConfig.Transport.CertFile,
		o.Recommended.Etcd.StorageConfig.Transport.KeyFile, o.Recommended.Etcd.StorageConfig.Transport.TrustedCAFile)
	if err != nil {
		return nil, err
	}
	return &Config{Generic: generic, Etcd: etcd, VNIClaimPrefix: EtcdPathPrefix + "/networking.ferrite.dev/vniclaims/", VNI: o.VNI, Poollet: o.Poollet,
		ListCache: o.ListCache.cache()}, nil
}

// ServerURL is the https URL clients on this machine use.
func (o *Options) ServerURL() string {
	host := o.Recommended.SecureServing.BindAddress.String()
	if o.Recommended.SecureServing.BindAddress.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "https://" + net.JoinHostPort(host, strconv.Itoa(o.Recommended.SecureServing.BindPort))
}

// Run completes the options, starts the server and serves until ctx ends.
func (o *Options) Run(ctx context.Context) error {
	if err := o.Complete(); err != nil {
		return err
	}
	defer o.Stop()
	if err := o.Validate(); err != nil {
		return err
	}
	config, err := o.Config()
	if err != nil {
		return err
	}
	defer config.Etcd.Close()
	server, err := config.New()
	if err != nil {
		return err
	}
	if !o.Aggregated() {
		if err := standalone.WriteKubeconfig(o.KubeconfigPath(), o.ServerURL(), o.pki.CACert, o.pki.AdminCert, o.pki.AdminKey, standalone.AdminUser); err != nil {
			return fmt.Errorf("writing the admin kubeconfig: %w", err)
		}
		klog.InfoS("Admin kubeconfig written", "path", o.KubeconfigPath(), "server", o.ServerURL())
		fmt.Fprintf(os.Stderr, "\nFerrite is starting on %s\n  export KUBECONFIG=%s\n  kubectl get ferrite -A\n\n", o.ServerURL(), o.KubeconfigPath())
	}
	return server.Generic.PrepareRun().RunWithContext(ctx)
}

func newEtcdClient(endpoints []string, certFile, keyFile, caFile string) (*clientv3.Client, error) {
	config := clientv3.Config{Endpoints: endpoints}
	if certFile != "" || caFile != "" {
		tlsInfo := transport.TLSInfo{CertFile: certFile, KeyFile: keyFile, TrustedCAFile: caFile}
		tlsConfig, err := tlsInfo.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("etcd client TLS: %w", err)
		}
		config.TLS = tlsConfig
	}
	return clientv3.New(config)
}
