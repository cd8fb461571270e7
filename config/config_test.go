// Package config holds the kustomize manifests that deploy Ferrite into a cluster; its tests
// render them with the project's kubectl and check what comes out.
package config

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"

	"github.com/ferrite-dev/ferrite/apiserver/testserver"
)

// groups are the API groups ferrite-apiserver serves, each with one APIService.
var groups = []string{"compute.ferrite.dev", "storage.ferrite.dev", "networking.ferrite.dev", "ipam.ferrite.dev", "core.ferrite.dev"}

const (
	namespace          = "ferrite-system"
	apiserverAccount   = "ferrite-apiserver"
	servingSecret      = "ferrite-apiserver-cert"
	controllerManager  = "ferrite-controller-manager"
	machinePoollet     = "ferrite-machinepoollet"
	volumePoollet      = "ferrite-volumepoollet"
	netAgent           = "ferrite-netagent"
	aggregateToEdit    = "ferrite-aggregate-to-edit"
	aggregateToView    = "ferrite-aggregate-to-view"
	servingCertOverlay = "overlays/serving-cert"
)

// kubectl returns the project's bin/kubectl, or skips the test when it is missing, unless
// FERRITE_E2E=1 makes that a failure.
func kubectl(t *testing.T) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("..", "bin", "kubectl"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("FERRITE_E2E") == "1" {
			t.Fatalf("FERRITE_E2E=1 but %s is missing: build it with hack/build-kubectl.sh (make kubectl)", path)
		}
		t.Skipf("%s is missing: build it with hack/build-kubectl.sh (make kubectl), or run make e2e-config", path)
	}
	return path
}

// render runs `kubectl kustomize dir` and decodes the output.
func render(t *testing.T, kubectlPath, dir string) []*unstructured.Unstructured {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(kubectlPath, "kustomize", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
	}
	objects, err := decodeObjects(stdout.Bytes())
	if err != nil {
		t.Fatalf("kubectl kustomize %s: output is not a stream of objects: %v", dir, err)
	}
	if len(objects) == 0 {
		t.Fatalf("kubectl kustomize %s rendered nothing", dir)
	}
	return objects
}

// decodeObjects decodes a multi-document YAML stream; every document must be an object with
// apiVersion, kind and metadata.name.
func decodeObjects(data []byte) ([]*unstructured.Unstructured, error) {
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objects []*unstructured.Unstructured
	for {
		var raw json.RawMessage
		if err := decoder.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return objects, nil
			}
			return nil, err
		}
		if trimmed := bytes.TrimSpace(raw); len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
			continue
		}
		// Unstructured's own decoding keeps integers as int64.
		object := &unstructured.Unstructured{}
		if err := object.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("document %d: %w", len(objects)+1, err)
		}
		if object.GetAPIVersion() == "" || object.GetKind() == "" || object.GetName() == "" {
			return nil, fmt.Errorf("document %d lacks apiVersion, kind or metadata.name: %v", len(objects)+1, object.Object)
		}
		objects = append(objects, object)
	}
}

// strict converts object into out, failing on fields the Go type does not have (a typo, or a
// field of the wrong kind).
func strict(t *testing.T, object *unstructured.Unstructured, out any) {
	t.Helper()
	data, err := json.Marshal(object.Object)
	if err != nil {
		t.Fatal(err)
	}
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(out); err != nil {
		t.Errorf("%s %s/%s: %v", object.GetKind(), object.GetNamespace(), object.GetName(), err)
	}
}

func find(objects []*unstructured.Unstructured, kind, namespace, name string) *unstructured.Unstructured {
	for _, object := range objects {
		if object.GetKind() == kind && object.GetNamespace() == namespace && object.GetName() == name {
			return object
		}
	}
	return nil
}

// findGenerated finds an object made by a kustomize generator: its name is prefix plus a hash.
func findGenerated(objects []*unstructured.Unstructured, kind, namespace, prefix string) *unstructured.Unstructured {
	for _, object := range objects {
		if object.GetKind() == kind && object.GetNamespace() == namespace && strings.HasPrefix(object.GetName(), prefix+"-") {
			return object
		}
	}
	return nil
}

func ofKind(objects []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, object := range objects {
		if object.GetKind() == kind {
			out = append(out, object)
		}
	}
	return out
}

// kustomizations lists the directories under root with a kustomization.yaml, split into
// Kustomizations (buildable) and Components.
func kustomizations(t *testing.T, root string) (buildable, components []string) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, entry fs.DirEntry, err error) error {
		if err != nil || entry.IsDir() || entry.Name() != "kustomization.yaml" {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var header struct{ Kind string }
		if err := utilyaml.Unmarshal(data, &header); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		dir, _ := filepath.Rel(root, filepath.Dir(path))
		switch header.Kind {
		case "Kustomization":
			buildable = append(buildable, dir)
		case "Component":
			components = append(components, dir)
		default:
			return fmt.Errorf("%s: kind %q, want Kustomization or Component", path, header.Kind)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(buildable)
	sort.Strings(components)
	return buildable, components
}

// TestRenderEveryKustomization renders each Kustomization under config/: in place (all but
// the serving-cert overlay, which needs certificate files), and in a copy of config/ with a
// certificate in the serving-cert component (all of them).
func TestRenderEveryKustomization(t *testing.T) {
	kubectlPath := kubectl(t)
	buildable, components := kustomizations(t, ".")
	for _, want := range []string{"apiserver", "rbac", "controller-manager", "default", "brokers", servingCertOverlay} {
		if !slices.Contains(buildable, want) {
			t.Errorf("no Kustomization in config/%s (found %v)", want, buildable)
		}
	}
	for _, want := range []string{"etcd", "components/serving-cert"} {
		if !slices.Contains(components, want) {
			t.Errorf("no Component in config/%s (found %v)", want, components)
		}
	}
	copied := copyWithServingCert(t)
	for _, dir := range buildable {
		t.Run(dir, func(t *testing.T) {
			if dir != servingCertOverlay {
				checkObjects(t, render(t, kubectlPath, dir))
			}
			checkObjects(t, render(t, kubectlPath, filepath.Join(copied.root, dir)))
		})
	}
}

// checkObjects checks what every rendering must satisfy: the kinds the project uses decode
// strictly into their Go types, namespaced objects name their namespace, and nothing turns
// off TLS verification.
func checkObjects(t *testing.T, objects []*unstructured.Unstructured) {
	t.Helper()
	for _, object := range objects {
		switch object.GetKind() {
		case "Deployment":
			strict(t, object, &appsv1.Deployment{})
		case "StatefulSet":
			strict(t, object, &appsv1.StatefulSet{})
		case "Service":
			strict(t, object, &corev1.Service{})
		case "ServiceAccount":
			strict(t, object, &corev1.ServiceAccount{})
		case "ConfigMap":
			strict(t, object, &corev1.ConfigMap{})
		case "Secret":
			strict(t, object, &corev1.Secret{})
		case "Namespace":
			strict(t, object, &corev1.Namespace{})
		case "NetworkPolicy":
			strict(t, object, &networkingv1.NetworkPolicy{})
		case "ClusterRole":
			strict(t, object, &rbacv1.ClusterRole{})
		case "ClusterRoleBinding":
			strict(t, object, &rbacv1.ClusterRoleBinding{})
		case "Role":
			strict(t, object, &rbacv1.Role{})
		case "RoleBinding":
			strict(t, object, &rbacv1.RoleBinding{})
		case "APIService":
			checkAPIService(t, object)
		default:
			t.Errorf("unexpected kind %s (%s): extend the test", object.GetKind(), object.GetName())
		}
		clusterScoped := map[string]bool{"Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true, "APIService": true}
		if !clusterScoped[object.GetKind()] && object.GetNamespace() == "" {
			t.Errorf("%s %s has no namespace", object.GetKind(), object.GetName())
		}
	}
}

// checkAPIService checks one APIService: a Ferrite group at v1alpha1, served by the
// ferrite-apiserver Service, with a caBundle and without insecureSkipTLSVerify.
func checkAPIService(t *testing.T, object *unstructured.Unstructured) {
	t.Helper()
	spec, _, _ := unstructured.NestedMap(object.Object, "spec")
	allowed := []string{"group", "version", "groupPriorityMinimum", "versionPriority", "service", "caBundle"}
	for field := range spec {
		if !slices.Contains(allowed, field) {
			t.Errorf("APIService %s: field spec.%s is not expected (insecureSkipTLSVerify is never allowed)", object.GetName(), field)
		}
	}
	group, _, _ := unstructured.NestedString(spec, "group")
	version, _, _ := unstructured.NestedString(spec, "version")
	if !slices.Contains(groups, group) || version != "v1alpha1" || object.GetName() != version+"."+group {
		t.Errorf("APIService %s: group %q version %q", object.GetName(), group, version)
	}
	caBundle, _, _ := unstructured.NestedString(spec, "caBundle")
	if decoded, err := base64.StdEncoding.DecodeString(caBundle); err != nil || len(decoded) == 0 {
		t.Errorf("APIService %s: caBundle %q is not non-empty base64 (%v)", object.GetName(), caBundle, err)
	}
	service, _, _ := unstructured.NestedMap(spec, "service")
	if service["name"] != "ferrite-apiserver" || service["namespace"] != namespace || service["port"] != int64(443) {
		t.Errorf("APIService %s: service %v, want ferrite-apiserver.%s port 443", object.GetName(), service, namespace)
	}
	for _, field := range []string{"groupPriorityMinimum", "versionPriority"} {
		if value, _, _ := unstructured.NestedInt64(spec, field); value <= 0 {
			t.Errorf("APIService %s: %s %d, want > 0", object.GetName(), field, value)
		}
	}
}

// TestDefault checks config/default: both Deployments, the etcd option, one APIService per
// group, the delegation bindings, the roles, and that every binding and mount refers to an
// object of the rendering (or a built-in role).
func TestDefault(t *testing.T) {
	objects := render(t, kubectl(t), "default")
	checkObjects(t, objects)

	if find(objects, "Namespace", "", namespace) == nil {
		t.Errorf("no Namespace %s", namespace)
	}
	apiserver := &appsv1.Deployment{}
	if object := find(objects, "Deployment", namespace, "ferrite-apiserver"); object == nil {
		t.Fatal("no Deployment ferrite-apiserver")
	} else {
		strict(t, object, apiserver)
	}
	if find(objects, "Deployment", namespace, controllerManager) == nil {
		t.Errorf("no Deployment %s", controllerManager)
	}
	if find(objects, "StatefulSet", namespace, "ferrite-etcd") == nil || find(objects, "Service", namespace, "ferrite-etcd") == nil {
		t.Error("no etcd StatefulSet and Service ferrite-etcd")
	}
	if find(objects, "Service", namespace, "ferrite-apiserver") == nil {
		t.Error("no Service ferrite-apiserver")
	}

	// The apiserver: aggregated mode, its etcd, serving certificate from the Secret.
	container := apiserver.Spec.Template.Spec.Containers[0]
	args := strings.Join(container.Args, " ")
	for _, want := range []string{"--etcd-servers=http://ferrite-etcd:2379", "--authentication-kubeconfig=", "--authorization-kubeconfig=", "--kubeconfig=",
		"--tls-cert-file=", "--tls-private-key-file=", "--secure-port=8443", "--data-dir="} {
		if !strings.Contains(args, want) {
			t.Errorf("ferrite-apiserver args %q lack %s", args, want)
		}
	}
	secretMounted := false
	for _, volume := range apiserver.Spec.Template.Spec.Volumes {
		if volume.Secret != nil && volume.Secret.SecretName == servingSecret {
			secretMounted = true
		}
		if volume.ConfigMap != nil && findGenerated(objects, "ConfigMap", namespace, "ferrite-apiserver-kubeconfig") == nil {
			t.Errorf("ferrite-apiserver mounts ConfigMap %s, which is not rendered", volume.ConfigMap.Name)
		}
	}
	if !secretMounted {
		t.Errorf("ferrite-apiserver does not mount Secret %s", servingSecret)
	}
	if container.ReadinessProbe == nil || container.LivenessProbe == nil {
		t.Error("ferrite-apiserver lacks a readiness or liveness probe")
	}

	// One APIService per group.
	var served []string
	for _, object := range ofKind(objects, "APIService") {
		group, _, _ := unstructured.NestedString(object.Object, "spec", "group")
		served = append(served, group)
	}
	sort.Strings(served)
	want := slices.Clone(groups)
	sort.Strings(want)
	if !slices.Equal(served, want) {
		t.Errorf("APIServices for %v, want %v", served, want)
	}

	// Delegated authentication and authorization.
	subject := rbacv1.Subject{Kind: "ServiceAccount", Name: apiserverAccount, Namespace: namespace}
	if !bound(t, objects, "ClusterRoleBinding", "", "ClusterRole", "system:auth-delegator", subject) {
		t.Error("no ClusterRoleBinding of system:auth-delegator to the ferrite-apiserver ServiceAccount")
	}
	if !bound(t, objects, "RoleBinding", "kube-system", "Role", "extension-apiserver-authentication-reader", subject) {
		t.Error("no RoleBinding in kube-system of extension-apiserver-authentication-reader to the ferrite-apiserver ServiceAccount")
	}
	if !bound(t, objects, "ClusterRoleBinding", "", "ClusterRole", "ferrite-apiserver", subject) {
		t.Error("no ClusterRoleBinding of ClusterRole ferrite-apiserver to its ServiceAccount")
	}
	if !bound(t, objects, "ClusterRoleBinding", "", "ClusterRole", controllerManager, rbacv1.Subject{Kind: "ServiceAccount", Name: controllerManager, Namespace: namespace}) {
		t.Error("no ClusterRoleBinding of ferrite-controller-manager to its ServiceAccount")
	}

	for _, name := range append([]string{"ferrite-admin", "ferrite-viewer", aggregateToEdit, aggregateToView, controllerManager, machinePoollet, volumePoollet, netAgent, "ferrite-apiserver"}, brokerRoleNames()...) {
		if find(objects, "ClusterRole", "", name) == nil {
			t.Errorf("no ClusterRole %s", name)
		}
	}

	// Every binding refers to a rendered role or a built-in one, every ServiceAccount subject
	// and every Pod's ServiceAccount exist.
	builtin := map[string]bool{"ClusterRole/system:auth-delegator": true, "Role/extension-apiserver-authentication-reader": true}
	for _, object := range append(ofKind(objects, "ClusterRoleBinding"), ofKind(objects, "RoleBinding")...) {
		binding := &rbacv1.RoleBinding{}
		strict(t, object, binding)
		roleNamespace := ""
		if binding.RoleRef.Kind == "Role" {
			roleNamespace = object.GetNamespace()
		}
		if !builtin[binding.RoleRef.Kind+"/"+binding.RoleRef.Name] && find(objects, binding.RoleRef.Kind, roleNamespace, binding.RoleRef.Name) == nil {
			t.Errorf("%s %s refers to %s %s, which is not rendered", object.GetKind(), object.GetName(), binding.RoleRef.Kind, binding.RoleRef.Name)
		}
		for _, s := range binding.Subjects {
			if s.Kind == "ServiceAccount" && find(objects, "ServiceAccount", s.Namespace, s.Name) == nil {
				t.Errorf("%s %s binds ServiceAccount %s/%s, which is not rendered", object.GetKind(), object.GetName(), s.Namespace, s.Name)
			}
		}
	}
	for _, object := range append(ofKind(objects, "Deployment"), ofKind(objects, "StatefulSet")...) {
		name, _, _ := unstructured.NestedString(object.Object, "spec", "template", "spec", "serviceAccountName")
		if name != "" && find(objects, "ServiceAccount", object.GetNamespace(), name) == nil {
			t.Errorf("%s %s runs as ServiceAccount %s, which is not rendered", object.GetKind(), object.GetName(), name)
		}
	}
}

// bound reports whether a binding of kind in namespace grants roleKind/roleName to subject.
func bound(t *testing.T, objects []*unstructured.Unstructured, kind, namespace, roleKind, roleName string, subject rbacv1.Subject) bool {
	t.Helper()
	for _, object := range ofKind(objects, kind) {
		if object.GetNamespace() != namespace {
			continue
		}
		binding := &rbacv1.RoleBinding{}
		strict(t, object, binding)
		if binding.RoleRef.APIGroup != rbacv1.GroupName || binding.RoleRef.Kind != roleKind || binding.RoleRef.Name != roleName {
			continue
		}
		for _, s := range binding.Subjects {
			if s.Kind == subject.Kind && s.Name == subject.Name && s.Namespace == subject.Namespace {
				return true
			}
		}
	}
	return false
}

// certificate is a CA and a serving certificate written into the serving-cert component of a
// copy of config/.
type certificate struct {
	root  string // the copy of config/
	caPEM []byte
}

// copyWithServingCert copies config/ into a temporary directory and writes ca.crt, tls.crt and
// tls.key into its serving-cert component: with the component's generate.sh when openssl is
// installed (which tests the script), with Go otherwise.
func copyWithServingCert(t *testing.T) *certificate {
	t.Helper()
	root := filepath.Join(t.TempDir(), "config")
	if err := os.CopyFS(root, os.DirFS(".")); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "components", "serving-cert")
	for _, name := range []string{"ca.crt", "ca.key", "tls.crt", "tls.key"} {
		os.Remove(filepath.Join(dir, name)) // files of a local run of generate.sh
	}
	if _, err := exec.LookPath("openssl"); err == nil {
		cmd := exec.Command(filepath.Join(dir, "generate.sh"))
		if output, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("generate.sh: %v\n%s", err, output)
		}
	} else {
		t.Log("openssl is not installed: certificates made in Go instead of by generate.sh")
		writeCertificates(t, dir)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(caPEM)
	if block == nil {
		t.Fatal("ca.crt holds no PEM block")
	}
	caCert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	// The serving certificate must be what the aggregator accepts for the Service.
	servingPEM, err := os.ReadFile(filepath.Join(dir, "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ = pem.Decode(servingPEM)
	if block == nil {
		t.Fatal("tls.crt holds no PEM block")
	}
	serving, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	if _, err := serving.Verify(x509.VerifyOptions{DNSName: "ferrite-apiserver." + namespace + ".svc", Roots: pool,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Fatalf("the serving certificate does not verify for ferrite-apiserver.%s.svc: %v", namespace, err)
	}
	return &certificate{root: root, caPEM: caPEM}
}

// writeCertificates writes what generate.sh writes, made with Go.
func writeCertificates(t *testing.T, dir string) {
	t.Helper()
	ca, caKey := newCA(t)
	name := "ferrite-apiserver." + namespace + ".svc"
	cert, key := issue(t, ca, caKey, &x509.Certificate{Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	files := map[string][]byte{
		"ca.crt":  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}),
		"tls.crt": cert,
		"tls.key": key,
	}
	for file, data := range files {
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestServingCertOverlay checks the cert-manager-free caBundle: the overlay generates Secret
// ferrite-apiserver-cert from the component's files, the Deployment mounts that Secret, and
// every APIService's caBundle is the CA that signed it.
func TestServingCertOverlay(t *testing.T) {
	kubectlPath := kubectl(t)
	cert := copyWithServingCert(t)
	objects := render(t, kubectlPath, filepath.Join(cert.root, servingCertOverlay))
	checkObjects(t, objects)

	secret := findGenerated(objects, "Secret", namespace, servingSecret)
	if secret == nil {
		t.Fatalf("no Secret %s-<hash> in %s", servingSecret, namespace)
	}
	if kind, _, _ := unstructured.NestedString(secret.Object, "type"); kind != string(corev1.SecretTypeTLS) {
		t.Errorf("Secret %s has type %q, want %s", secret.GetName(), kind, corev1.SecretTypeTLS)
	}
	for _, key := range []string{"tls.crt", "tls.key", "ca.crt"} {
		if value, _, _ := unstructured.NestedString(secret.Object, "data", key); value == "" {
			t.Errorf("Secret %s lacks %s", secret.GetName(), key)
		}
	}
	deployment := &appsv1.Deployment{}
	strict(t, find(objects, "Deployment", namespace, "ferrite-apiserver"), deployment)
	mounted := false
	for _, volume := range deployment.Spec.Template.Spec.Volumes {
		if volume.Secret != nil {
			mounted = mounted || volume.Secret.SecretName == secret.GetName()
		}
	}
	if !mounted {
		t.Errorf("ferrite-apiserver does not mount the generated Secret %s", secret.GetName())
	}

	apiservices := ofKind(objects, "APIService")
	if len(apiservices) != len(groups) {
		t.Errorf("%d APIServices, want %d", len(apiservices), len(groups))
	}
	for _, object := range apiservices {
		// kustomize wraps the base64 of generated data in lines; the API server's decoding
		// ignores the line breaks, and so does Go's.
		caBundle, _, _ := unstructured.NestedString(object.Object, "spec", "caBundle")
		if decoded, err := base64.StdEncoding.DecodeString(caBundle); err != nil || !bytes.Equal(decoded, cert.caPEM) {
			t.Errorf("APIService %s: caBundle is not the serving CA (%v):\n%s", object.GetName(), err, decoded)
		}
	}
}

// TestRolesStandalone checks config/rbac/roles.yaml as `kubectl apply -f` sees it: only
// ClusterRoles, no kustomize-only field, no wildcard.
func TestRolesStandalone(t *testing.T) {
	roles := readRoles(t)
	var names []string
	for name, role := range roles {
		names = append(names, name)
		for _, rule := range role.Rules {
			for _, list := range [][]string{rule.APIGroups, rule.Resources, rule.Verbs} {
				if slices.Contains(list, "*") {
					t.Errorf("ClusterRole %s grants a wildcard: %+v", name, rule)
				}
			}
		}
	}
	sort.Strings(names)
	want := append([]string{aggregateToEdit, aggregateToView, "ferrite-admin", controllerManager, machinePoollet, "ferrite-viewer", volumePoollet, netAgent}, brokerRoleNames()...)
	sort.Strings(want)
	if !slices.Equal(names, want) {
		t.Errorf("roles.yaml has ClusterRoles %v, want %v", names, want)
	}
	labels := map[string][]string{
		aggregateToEdit: {"rbac.authorization.k8s.io/aggregate-to-admin", "rbac.authorization.k8s.io/aggregate-to-edit"},
		aggregateToView: {"rbac.authorization.k8s.io/aggregate-to-view"},
	}
	for name, keys := range labels {
		for _, key := range keys {
			if roles[name].Labels[key] != "true" {
				t.Errorf("ClusterRole %s lacks label %s=true", name, key)
			}
		}
	}
}

// readRoles decodes roles.yaml strictly into ClusterRoles.
func readRoles(t *testing.T) map[string]*rbacv1.ClusterRole {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("rbac", "roles.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objects, err := decodeObjects(data)
	if err != nil {
		t.Fatalf("roles.yaml: %v", err)
	}
	roles := map[string]*rbacv1.ClusterRole{}
	for _, object := range objects {
		if object.GetAPIVersion() != "rbac.authorization.k8s.io/v1" || object.GetKind() != "ClusterRole" {
			t.Errorf("roles.yaml holds %s %s %s, want only rbac.authorization.k8s.io/v1 ClusterRoles", object.GetAPIVersion(), object.GetKind(), object.GetName())
			continue
		}
		role := &rbacv1.ClusterRole{}
		strict(t, object, role)
		if roles[role.Name] != nil {
			t.Errorf("roles.yaml defines ClusterRole %s twice", role.Name)
		}
		roles[role.Name] = role
	}
	return roles
}

// allows reports whether the rules grant verb on group/resource (resourceNames ignored: the
// roles here use none).
func allows(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	for _, rule := range rules {
		if len(rule.ResourceNames) == 0 && slices.Contains(rule.APIGroups, group) && slices.Contains(rule.Resources, resource) && slices.Contains(rule.Verbs, verb) {
			return true
		}
	}
	return false
}

// servedResource is a resource or subresource ferrite-apiserver serves.
type servedResource struct {
	group, name string
	namespaced  bool
	verbs       []string
}

func (r servedResource) String() string { return r.name + "." + r.group }

func (r servedResource) subresource() bool { return strings.Contains(r.name, "/") }

// TestRolesMatchServedResources checks the ClusterRoles against what a real ferrite-apiserver
// serves: every role names only served resources and verbs they support; admin can do
// everything; viewer and the view aggregate only read; the edit aggregate covers every
// namespaced resource but writes no status and no quota; the daemons can do their jobs and no
// more than the listed extras.
func TestRolesMatchServedResources(t *testing.T) {
	roles := readRoles(t)
	server := testserver.Start(t)
	client, err := discovery.NewDiscoveryClientForConfig(server.Config)
	if err != nil {
		t.Fatal(err)
	}
	var served []servedResource
	namespaced := map[string]bool{}
	for _, group := range groups {
		list, err := client.ServerResourcesForGroupVersion(group + "/v1alpha1")
		if err != nil {
			t.Fatalf("discovery of %s: %v", group, err)
		}
		for _, resource := range list.APIResources {
			served = append(served, servedResource{group: group, name: resource.Name, namespaced: resource.Namespaced, verbs: resource.Verbs})
			namespaced[group+"/"+resource.Name] = resource.Namespaced
		}
	}
	for i := range served { // a subresource is as namespaced as its resource
		if r := &served[i]; r.subresource() {
			r.namespaced = namespaced[r.group+"/"+strings.Split(r.name, "/")[0]]
		}
	}

	// Every Ferrite rule names a served resource and verbs it supports.
	supported := map[string][]string{}
	for _, r := range served {
		supported[r.group+"/"+r.name] = r.verbs
	}
	for name, role := range roles {
		for _, rule := range role.Rules {
			for _, group := range rule.APIGroups {
				if !strings.HasSuffix(group, ".ferrite.dev") {
					continue
				}
				for _, resource := range rule.Resources {
					verbs, ok := supported[group+"/"+resource]
					if !ok {
						t.Errorf("ClusterRole %s names %s.%s, which ferrite-apiserver does not serve", name, resource, group)
						continue
					}
					for _, verb := range rule.Verbs {
						if !slices.Contains(verbs, verb) {
							t.Errorf("ClusterRole %s grants %s on %s.%s, which supports only %v", name, verb, resource, group, verbs)
						}
					}
				}
			}
		}
	}

	read := []string{"get", "list", "watch"}
	for _, r := range served {
		// The machine console is a privilege like pods/attach: editors and admins only, and
		// its get (the scrollback, which may show what was typed) is no read for viewers.
		console := r.group == "compute.ferrite.dev" && r.name == "machines/console"
		for _, verb := range r.verbs {
			if !allows(roles["ferrite-admin"].Rules, r.group, r.name, verb) {
				t.Errorf("ferrite-admin cannot %s %s", verb, r)
			}
			readVerb := slices.Contains(read, verb) && !console
			if got := allows(roles["ferrite-viewer"].Rules, r.group, r.name, verb); got != readVerb {
				t.Errorf("ferrite-viewer: %s %s allowed=%v, want %v", verb, r, got, readVerb)
			}
			// Namespace admins and editors: every namespaced resource, but not its status,
			// and quotas read-only, as for the built-in kinds.
			wantEdit := console || r.namespaced && (readVerb || (!r.subresource() && !(r.group == "core.ferrite.dev" && r.name == "resourcequotas")))
			if got := allows(roles[aggregateToEdit].Rules, r.group, r.name, verb); got != wantEdit {
				t.Errorf("%s: %s %s allowed=%v, want %v", aggregateToEdit, verb, r, got, wantEdit)
			}
			if got := allows(roles[aggregateToView].Rules, r.group, r.name, verb); got != (r.namespaced && readVerb) {
				t.Errorf("%s: %s %s allowed=%v, want %v", aggregateToView, verb, r, got, r.namespaced && readVerb)
			}
		}
	}
	// Spelled out, as the netagents and the NAT gateway controller trust it: a namespace editor
	// cannot write an interface's status (its public address or NAT ports).
	for _, verb := range []string{"update", "patch"} {
		if allows(roles[aggregateToEdit].Rules, "networking.ferrite.dev", "networkinterfaces/status", verb) {
			t.Errorf("%s may %s networkinterfaces/status", aggregateToEdit, verb)
		}
	}
	if !slices.ContainsFunc(served, func(r servedResource) bool { return r.name == "machines/console" }) {
		t.Error("ferrite-apiserver does not serve machines/console")
	}

	// The daemons: what each must be able to do, and the complete list of the writes it may do.
	type grant struct{ group, resource, verb string }
	jobs := map[string]struct{ must, writes []grant }{
		controllerManager: {
			must: []grant{
				{"compute.ferrite.dev", "machines/binding", "create"}, {"compute.ferrite.dev", "machines/status", "update"},
				{"storage.ferrite.dev", "volumes/binding", "create"},
				{"compute.ferrite.dev", "machineclasses", "patch"}, {"storage.ferrite.dev", "volumeclasses", "patch"}, // class protection finalizers
				{"compute.ferrite.dev", "machinepools", "watch"}, {"compute.ferrite.dev", "machinepools/status", "update"},
				{"storage.ferrite.dev", "volumes", "update"}, {"storage.ferrite.dev", "volumepools/status", "update"},
				{"storage.ferrite.dev", "volumes/claim", "update"}, {"networking.ferrite.dev", "networkinterfaces/claim", "update"},
				{"networking.ferrite.dev", "networks", "patch"},        // the network protection finalizer
				{"networking.ferrite.dev", "networks/status", "patch"}, // agreed peerings
				// public addresses: VirtualIP binding (spec.targetRef), the VirtualIPs of NAT gateways
				// and load balancers, their finalizers and status, interfaces' virtualIP and nat
				{"networking.ferrite.dev", "virtualips", "update"}, {"networking.ferrite.dev", "virtualips", "create"}, {"networking.ferrite.dev", "virtualips", "delete"},
				{"networking.ferrite.dev", "natgateways", "patch"}, {"networking.ferrite.dev", "loadbalancers", "patch"},
				{"networking.ferrite.dev", "natgateways/status", "patch"}, {"networking.ferrite.dev", "loadbalancers/status", "patch"},
				{"networking.ferrite.dev", "networkinterfaces/status", "patch"},
				{"ipam.ferrite.dev", "prefixes", "create"}, {"ipam.ferrite.dev", "prefixes/status", "update"},
				{"core.ferrite.dev", "resourcequotas", "watch"}, {"core.ferrite.dev", "resourcequotas/status", "update"},
				{"", "events", "create"}, {"events.k8s.io", "events", "create"},
			},
			writes: []grant{
				{"compute.ferrite.dev", "machines/binding", "create"}, {"storage.ferrite.dev", "volumes/binding", "create"},
				{"compute.ferrite.dev", "machineclasses", "patch"}, {"storage.ferrite.dev", "volumeclasses", "patch"},
				{"compute.ferrite.dev", "machines/status", "*"}, {"compute.ferrite.dev", "machinepools/status", "*"},
				{"storage.ferrite.dev", "volumes", "*"}, {"storage.ferrite.dev", "volumes/status", "*"}, {"storage.ferrite.dev", "volumepools/status", "*"},
				{"storage.ferrite.dev", "volumes/claim", "*"}, {"networking.ferrite.dev", "networkinterfaces/claim", "*"},
				{"networking.ferrite.dev", "networkinterfaces", "*"}, {"networking.ferrite.dev", "virtualips", "*"},
				{"networking.ferrite.dev", "networks", "patch"}, {"networking.ferrite.dev", "networks/status", "*"},
				{"networking.ferrite.dev", "natgateways", "update"}, {"networking.ferrite.dev", "natgateways", "patch"},
				{"networking.ferrite.dev", "loadbalancers", "update"}, {"networking.ferrite.dev", "loadbalancers", "patch"},
				{"networking.ferrite.dev", "networkinterfaces/status", "*"}, {"networking.ferrite.dev", "virtualips/status", "*"},
				{"networking.ferrite.dev", "natgateways/status", "*"}, {"networking.ferrite.dev", "loadbalancers/status", "*"},
				{"ipam.ferrite.dev", "prefixes", "*"}, {"ipam.ferrite.dev", "prefixes/status", "*"}, {"core.ferrite.dev", "resourcequotas/status", "*"},
				{"", "events", "*"}, {"events.k8s.io", "events", "*"},
			},
		},
		machinePoollet: {
			must: []grant{
				{"compute.ferrite.dev", "machinepools", "create"}, {"compute.ferrite.dev", "machinepools", "update"}, {"compute.ferrite.dev", "machinepools/status", "update"},
				{"compute.ferrite.dev", "machines", "watch"}, {"compute.ferrite.dev", "machines/status", "update"},
				{"networking.ferrite.dev", "networkinterfaces", "watch"}, {"networking.ferrite.dev", "networks", "get"}, {"networking.ferrite.dev", "virtualips", "get"},
				{"networking.ferrite.dev", "networkinterfaces/status", "patch"},
				{"", "secrets", "get"}, {"", "events", "create"},
			},
			writes: []grant{
				{"compute.ferrite.dev", "machinepools", "*"}, {"compute.ferrite.dev", "machinepools/status", "*"}, {"compute.ferrite.dev", "machines/status", "*"},
				{"networking.ferrite.dev", "networkinterfaces/status", "*"},
				{"", "events", "*"}, {"events.k8s.io", "events", "*"},
			},
		},
		netAgent: {
			must: []grant{
				{"networking.ferrite.dev", "networkinterfaces", "watch"}, {"networking.ferrite.dev", "networkinterfaces/status", "patch"},
				{"networking.ferrite.dev", "networks", "watch"}, {"networking.ferrite.dev", "virtualips", "watch"},
				{"networking.ferrite.dev", "networkpolicies", "watch"}, {"networking.ferrite.dev", "loadbalancers", "watch"},
				{"", "events", "create"},
			},
			writes: []grant{
				{"networking.ferrite.dev", "networkinterfaces/status", "*"}, {"", "events", "*"}, {"events.k8s.io", "events", "*"},
			},
		},
		volumePoollet: {
			must: []grant{
				{"storage.ferrite.dev", "volumepools", "create"}, {"storage.ferrite.dev", "volumepools", "update"}, {"storage.ferrite.dev", "volumepools/status", "update"},
				{"storage.ferrite.dev", "volumes", "watch"}, {"storage.ferrite.dev", "volumes/status", "update"},
				{"storage.ferrite.dev", "volumesnapshots", "watch"}, {"storage.ferrite.dev", "volumesnapshots/status", "update"},
				{"", "secrets", "get"}, {"", "secrets", "create"}, {"", "secrets", "update"}, {"", "secrets", "delete"},
				{"", "events", "create"},
			},
			writes: []grant{
				{"storage.ferrite.dev", "volumepools", "*"}, {"storage.ferrite.dev", "volumepools/status", "*"},
				{"storage.ferrite.dev", "volumes/status", "*"}, {"storage.ferrite.dev", "volumesnapshots/status", "*"},
				{"", "secrets", "*"}, {"", "events", "*"}, {"events.k8s.io", "events", "*"},
			},
		},
	}
	for name, job := range jobs {
		rules := roles[name].Rules
		for _, g := range job.must {
			if !allows(rules, g.group, g.resource, g.verb) {
				t.Errorf("%s cannot %s %s.%s", name, g.verb, g.resource, g.group)
			}
		}
		for _, rule := range rules {
			for _, group := range rule.APIGroups {
				for _, resource := range rule.Resources {
					for _, verb := range rule.Verbs {
						if slices.Contains(read, verb) && !(group == "" && resource == "secrets") {
							continue
						}
						if !slices.Contains(job.writes, grant{group, resource, "*"}) && !slices.Contains(job.writes, grant{group, resource, verb}) && !(group == "" && resource == "secrets" && verb == "get" && name == machinePoollet) {
							t.Errorf("%s may %s %s in group %q, which is not one of its jobs", name, verb, resource, group)
						}
					}
				}
			}
		}
	}
	// The brokers: exactly the requests they make, each role in the scope it is bound in.
	checkBrokerRoles(t, roles, served)
}

// TestOnKubeAPIServer applies roles.yaml alone, then the whole of config/default and
// config/brokers, to a real kube-apiserver (bin/kube-apiserver on bin/etcd, from
// hack/build-kube-apiserver.sh) with strict field validation, and asks it
// (SubjectAccessReviews) whether the bindings give each identity what it needs and no more.
// Skipped when either binary is missing: building kube-apiserver takes about ten minutes.
func TestOnKubeAPIServer(t *testing.T) {
	kubectlPath := kubectl(t)
	bin, err := filepath.Abs(filepath.Join("..", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			t.Skipf("%s is missing: hack/build-kube-apiserver.sh builds it (about ten minutes)", filepath.Join(bin, name))
		}
	}
	cluster := startKubeAPIServer(t, bin)
	kubeconfig := cluster.kubeconfig
	run := func(args ...string) (string, error) {
		cmd := exec.Command(kubectlPath, append([]string{"--kubeconfig", kubeconfig}, args...)...)
		output, err := cmd.CombinedOutput()
		return string(output), err
	}

	if output, err := run("apply", "--validate=strict", "-f", filepath.Join("rbac", "roles.yaml")); err != nil {
		t.Fatalf("kubectl apply -f rbac/roles.yaml: %v\n%s", err, output)
	}
	rendered := filepath.Join(t.TempDir(), "default.yaml")
	var stdout bytes.Buffer
	cmd := exec.Command(kubectlPath, "kustomize", "default")
	cmd.Stdout = &stdout
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl kustomize default: %v", err)
	}
	if err := os.WriteFile(rendered, stdout.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if output, err := run("apply", "--validate=strict", "-f", rendered); err != nil {
		t.Fatalf("kubectl apply of config/default: %v\n%s", err, output)
	}
	// The brokers' RoleBindings, in the namespaces config/default and config/brokers make.
	if output, err := run("apply", "--validate=strict", "-k", "brokers"); err != nil {
		t.Fatalf("kubectl apply -k brokers: %v\n%s", err, output)
	}

	type check struct {
		as     []string // --as and --as-group flags
		args   []string // verb, resource and flags of kubectl auth can-i
		allows bool
	}
	apiserver := []string{"--as=system:serviceaccount:ferrite-system:ferrite-apiserver"}
	manager := []string{"--as=system:serviceaccount:ferrite-system:ferrite-controller-manager"}
	machinePoollet := []string{"--as=ferrite:machinepoollet:pool-a", "--as-group=ferrite:machinepoollets"}
	volumePoollet := []string{"--as=ferrite:volumepoollet:pool-a", "--as-group=ferrite:volumepoollets"}
	netAgent := []string{"--as=ferrite:netagent:pool-a", "--as-group=ferrite:netagents"}
	checks := []check{
		{apiserver, []string{"create", "tokenreviews.authentication.k8s.io"}, true},
		{apiserver, []string{"create", "subjectaccessreviews.authorization.k8s.io"}, true},
		{apiserver, []string{"get", "configmaps/extension-apiserver-authentication", "-n", "kube-system"}, true},
		{apiserver, []string{"watch", "configmaps/extension-apiserver-authentication", "-n", "kube-system"}, true},
		{apiserver, []string{"watch", "configmaps", "-n", "kube-system"}, false},
		{apiserver, []string{"get", "configmaps", "-n", "default"}, false},
		{apiserver, []string{"watch", "namespaces"}, true},
		{apiserver, []string{"get", "secrets", "-n", "default"}, true},
		{apiserver, []string{"list", "secrets", "-n", "default"}, false},
		{apiserver, []string{"watch", "validatingwebhookconfigurations.admissionregistration.k8s.io"}, true},
		{apiserver, []string{"watch", "mutatingadmissionpolicybindings.admissionregistration.k8s.io"}, true},
		{apiserver, []string{"create", "validatingwebhookconfigurations.admissionregistration.k8s.io"}, false},
		{apiserver, []string{"patch", "flowschemas.flowcontrol.apiserver.k8s.io", "--subresource=status"}, true},
		{apiserver, []string{"patch", "flowschemas.flowcontrol.apiserver.k8s.io"}, false},
		{manager, []string{"update", "machines.compute.ferrite.dev", "-n", "default"}, false},
		{manager, []string{"create", "machines.compute.ferrite.dev", "-n", "default", "--subresource=binding"}, true},
		{manager, []string{"update", "volumes.storage.ferrite.dev", "-n", "default", "--subresource=claim"}, true},
		{manager, []string{"update", "machinepools.compute.ferrite.dev", "--subresource=status"}, true},
		{manager, []string{"create", "machinepools.compute.ferrite.dev"}, false},
		{manager, []string{"update", "resourcequotas.core.ferrite.dev", "-n", "default"}, false},
		{manager, []string{"create", "leases.coordination.k8s.io", "-n", "ferrite-system"}, true},
		{manager, []string{"update", "leases.coordination.k8s.io/ferrite-controller-manager", "-n", "ferrite-system"}, true},
		{manager, []string{"update", "leases.coordination.k8s.io/someone-else", "-n", "ferrite-system"}, false},
		{manager, []string{"create", "events.events.k8s.io", "-n", "default"}, true},
		{manager, []string{"get", "secrets", "-n", "default"}, false},
		{machinePoollet, []string{"create", "machinepools.compute.ferrite.dev"}, true},
		{machinePoollet, []string{"update", "machinepools.compute.ferrite.dev", "--subresource=status"}, true},
		{machinePoollet, []string{"delete", "machinepools.compute.ferrite.dev"}, false},
		{machinePoollet, []string{"update", "machines.compute.ferrite.dev", "-n", "default", "--subresource=status"}, true},
		{machinePoollet, []string{"update", "machines.compute.ferrite.dev", "-n", "default"}, false},
		{machinePoollet, []string{"watch", "networkinterfaces.networking.ferrite.dev", "-n", "default"}, true},
		{machinePoollet, []string{"get", "secrets", "-n", "default"}, true},
		{machinePoollet, []string{"list", "secrets", "-n", "default"}, false},
		{machinePoollet, []string{"create", "events", "-n", "default"}, true},
		{machinePoollet, []string{"get", "volumepools.storage.ferrite.dev"}, false},
		{machinePoollet, []string{"create", "machines.compute.ferrite.dev", "-n", "default", "--subresource=binding"}, false},
		{volumePoollet, []string{"create", "volumepools.storage.ferrite.dev"}, true},
		{volumePoollet, []string{"update", "volumes.storage.ferrite.dev", "-n", "default", "--subresource=status"}, true},
		{volumePoollet, []string{"update", "volumesnapshots.storage.ferrite.dev", "-n", "default", "--subresource=status"}, true},
		{volumePoollet, []string{"get", "machines.compute.ferrite.dev", "-n", "default"}, false},
		{volumePoollet, []string{"get", "secrets", "-n", "default"}, true},
		{volumePoollet, []string{"create", "secrets", "-n", "ferrite-system"}, true},
		{volumePoollet, []string{"delete", "secrets", "-n", "default"}, true},
		{volumePoollet, []string{"list", "secrets", "-n", "default"}, false},
		{volumePoollet, []string{"watch", "secrets", "-n", "ferrite-system"}, false},
		{netAgent, []string{"watch", "networkinterfaces.networking.ferrite.dev", "-A"}, true},
		{netAgent, []string{"patch", "networkinterfaces.networking.ferrite.dev", "-n", "default", "--subresource=status"}, true},
		{netAgent, []string{"patch", "networkinterfaces.networking.ferrite.dev", "-n", "default"}, false},
		{netAgent, []string{"watch", "loadbalancers.networking.ferrite.dev", "-A"}, true},
		{manager, []string{"patch", "natgateways.networking.ferrite.dev", "-n", "default"}, true},
		{manager, []string{"update", "loadbalancers.networking.ferrite.dev", "-n", "default", "--subresource=status"}, true},
		{manager, []string{"update", "virtualips.networking.ferrite.dev", "-n", "default"}, true},
		{manager, []string{"create", "natgateways.networking.ferrite.dev", "-n", "default"}, false},
		{netAgent, []string{"get", "secrets", "-n", "default"}, false},
	}
	for _, c := range brokerAccessChecks() {
		checks = append(checks, check(c))
	}
	for _, c := range checks {
		review := subjectAccessReview(c.as, c.args)
		data, err := json.Marshal(review)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(kubectlPath, "--kubeconfig", kubeconfig, "create", "-f", "-", "-o", "json")
		cmd.Stdin = bytes.NewReader(data)
		output, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("SubjectAccessReview %s: %v\n%s", data, err, output)
		}
		answer := &authorizationv1.SubjectAccessReview{}
		if err := json.Unmarshal(output, answer); err != nil {
			t.Fatalf("SubjectAccessReview answer: %v\n%s", err, output)
		}
		if answer.Status.Allowed != c.allows {
			t.Errorf("%s %s: allowed=%v, want %v (%s)", strings.Join(c.as, " "), strings.Join(c.args, " "), answer.Status.Allowed, c.allows, answer.Status.Reason)
		}
	}

	t.Run("ferrite-apiserver with the Deployment's arguments", func(t *testing.T) {
		runFerriteAsDeployed(t, bin, cluster, stdout.Bytes())
	})
}

// runFerriteAsDeployed runs bin/ferrite-apiserver (make build) with the arguments and the
// kubeconfig of the rendered Deployment, as its ServiceAccount (a TokenRequest token), against
// the kube-apiserver: only the paths, ports and etcd address are changed. It must become ready
// (which needs its informers on namespaces, admission and flow-control objects to sync) and
// log no authorization failure.
func runFerriteAsDeployed(t *testing.T, bin string, cluster *kubeCluster, rendered []byte) {
	binary := filepath.Join(bin, "ferrite-apiserver")
	if _, err := os.Stat(binary); err != nil {
		t.Skipf("%s is missing: make build", binary)
	}
	objects, err := decodeObjects(rendered)
	if err != nil {
		t.Fatal(err)
	}
	deployment := &appsv1.Deployment{}
	strict(t, find(objects, "Deployment", namespace, "ferrite-apiserver"), deployment)
	configMap := &corev1.ConfigMap{}
	strict(t, findGenerated(objects, "ConfigMap", namespace, "ferrite-apiserver-kubeconfig"), configMap)

	dir := t.TempDir()
	output, err := exec.Command(filepath.Join(bin, "kubectl"), "--kubeconfig", cluster.kubeconfig,
		"create", "token", apiserverAccount, "-n", namespace, "--duration=1h").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl create token: %v\n%s", err, output)
	}
	tokenFile := filepath.Join(dir, "token")
	kubeconfig := strings.NewReplacer("https://kubernetes.default.svc", cluster.server,
		"/var/run/secrets/kubernetes.io/serviceaccount/ca.crt", cluster.caFile,
		"/var/run/secrets/kubernetes.io/serviceaccount/token", tokenFile).Replace(configMap.Data["kubeconfig"])
	name := "ferrite-apiserver." + namespace + ".svc"
	cert, key := issue(t, cluster.ca, cluster.caKey, &x509.Certificate{Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	files := map[string][]byte{"token": bytes.TrimSpace(output), "kubeconfig": []byte(kubeconfig), "tls.crt": cert, "tls.key": key}
	for file, data := range files {
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	port := freePort(t)
	var args []string
	for _, arg := range deployment.Spec.Template.Spec.Containers[0].Args {
		flag, value, _ := strings.Cut(arg, "=")
		switch flag {
		case "--secure-port":
			value = fmt.Sprint(port)
		case "--bind-address":
			value = "127.0.0.1"
		case "--etcd-servers":
			value = cluster.etcdURL
		case "--data-dir":
			value = filepath.Join(dir, "data")
		case "--tls-cert-file", "--tls-private-key-file", "--authentication-kubeconfig", "--authorization-kubeconfig", "--kubeconfig":
			value = filepath.Join(dir, filepath.Base(value))
		default:
			t.Fatalf("Deployment argument %s: teach the test where it points", arg)
		}
		args = append(args, flag+"="+value)
	}
	logFile := filepath.Join(dir, "ferrite-apiserver.log")
	startProcess(t, logFile, binary, args...)

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: certPool(cluster.ca), ServerName: name}}}
	deadline := time.Now().Add(90 * time.Second)
	for {
		response, err := client.Get(fmt.Sprintf("https://127.0.0.1:%d/readyz", port))
		if err == nil {
			response.Body.Close()
			if response.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			logs, _ := os.ReadFile(logFile)
			t.Fatalf("ferrite-apiserver not ready after 90s (%v)\n--- log tail:\n%s", err, tail(logs, 6000))
		}
		time.Sleep(500 * time.Millisecond)
	}
	aggregate(t, bin, cluster, port)
	logs, _ := os.ReadFile(logFile)
	for _, line := range strings.Split(string(logs), "\n") {
		if strings.Contains(line, "forbidden") || strings.Contains(line, "Forbidden") {
			t.Errorf("ferrite-apiserver was refused something: %s", line)
		}
	}
}

// aggregate points the APIServices (with the test CA as caBundle) and the Service (as an
// ExternalName for localhost: endpoints may not be loopback addresses) at the ferrite-apiserver
// on port, waits until kube-apiserver reports them Available, and sends requests through it:
// the admin may create, a user bound to ferrite-viewer may list but not create. That exercises
// the front-proxy authentication and the SubjectAccessReview delegation.
func aggregate(t *testing.T, bin string, cluster *kubeCluster, port int) {
	t.Helper()
	kubectl := func(stdin string, args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(bin, "kubectl"), append([]string{"--kubeconfig", cluster.kubeconfig}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		output, err := cmd.CombinedOutput()
		return string(output), err
	}
	must := func(stdin string, args ...string) string {
		t.Helper()
		output, err := kubectl(stdin, args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, output)
		}
		return output
	}
	must("", "delete", "service", "ferrite-apiserver", "-n", namespace)
	must(fmt.Sprintf(`{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ferrite-apiserver", "namespace": %q},
		"spec": {"type": "ExternalName", "externalName": "localhost", "ports": [{"name": "https", "port": %d}]}}`, namespace, port), "create", "-f", "-")
	caBundle := base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cluster.ca.Raw}))
	for _, group := range groups {
		must("", "patch", "apiservice", "v1alpha1."+group, "--type=merge",
			"-p", fmt.Sprintf(`{"spec": {"caBundle": %q, "service": {"port": %d}}}`, caBundle, port))
	}
	deadline := time.Now().Add(90 * time.Second)
	for _, group := range groups {
		for {
			output, _ := kubectl("", "get", "apiservice", "v1alpha1."+group, "-o", `jsonpath={.status.conditions[?(@.type=="Available")].status} {.status.conditions[?(@.type=="Available")].message}`)
			if strings.HasPrefix(output, "True") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("APIService v1alpha1.%s not Available after 90s: %s", group, output)
			}
			time.Sleep(time.Second)
		}
	}

	machineClass := `{"apiVersion": "compute.ferrite.dev/v1alpha1", "kind": "MachineClass", "metadata": {"name": "%s"}, "capabilities": {"cpu": "2", "memory": "4Gi"}}`
	must(fmt.Sprintf(machineClass, "by-admin"), "create", "-f", "-")
	must("", "create", "clusterrolebinding", "ferrite-test-viewer", "--clusterrole=ferrite-viewer", "--user=ferrite-test-viewer")
	if output := must("", "get", "machineclasses.compute.ferrite.dev", "--as=ferrite-test-viewer", "-o", "name"); !strings.Contains(output, "by-admin") {
		t.Errorf("ferrite-viewer lists machineclasses without by-admin: %s", output)
	} else {
		t.Logf("through kube-apiserver, ferrite-viewer lists %s", strings.TrimSpace(output))
	}
	output, err := kubectl(fmt.Sprintf(machineClass, "by-viewer"), "create", "-f", "-", "--as=ferrite-test-viewer")
	if err == nil || !strings.Contains(output, "forbidden") {
		t.Errorf("ferrite-viewer created a MachineClass (or failed otherwise): %v\n%s", err, output)
	}
	output, err = kubectl("", "get", "machineclasses.compute.ferrite.dev", "--as=nobody")
	if err == nil || !strings.Contains(output, "forbidden") {
		t.Errorf("a user without a role listed MachineClasses (or failed otherwise): %v\n%s", err, output)
	}
}

func certPool(ca *x509.Certificate) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool
}

// subjectAccessReview turns kubectl-auth-can-i-like arguments (--as=, --as-group=; verb,
// resource[.group][/name], -n namespace, --subresource=) into a SubjectAccessReview. kubectl
// auth can-i itself cannot be used: it resolves resources through discovery, and the Ferrite
// groups are not served while no ferrite-apiserver runs.
func subjectAccessReview(as, args []string) *authorizationv1.SubjectAccessReview {
	review := &authorizationv1.SubjectAccessReview{}
	review.APIVersion, review.Kind = "authorization.k8s.io/v1", "SubjectAccessReview"
	for _, flag := range as {
		if user, ok := strings.CutPrefix(flag, "--as="); ok {
			review.Spec.User = user
		} else if group, ok := strings.CutPrefix(flag, "--as-group="); ok {
			review.Spec.Groups = append(review.Spec.Groups, group)
		}
	}
	attributes := &authorizationv1.ResourceAttributes{Verb: args[0]}
	resource, name, _ := strings.Cut(args[1], "/")
	attributes.Resource, attributes.Group, _ = strings.Cut(resource, ".")
	attributes.Name = name
	for i := 2; i < len(args); i++ {
		if args[i] == "-n" {
			attributes.Namespace = args[i+1]
			i++
		} else if subresource, ok := strings.CutPrefix(args[i], "--subresource="); ok {
			attributes.Subresource = subresource
		}
	}
	review.Spec.ResourceAttributes = attributes
	return review
}

// kubeCluster is a kube-apiserver started by startKubeAPIServer.
type kubeCluster struct {
	kubeconfig string // admin (system:masters)
	server     string // https URL
	caFile     string // the CA of the serving certificate and of client certificates
	etcdURL    string
	ca         *x509.Certificate
	caKey      *ecdsa.PrivateKey
}

// startKubeAPIServer runs bin/etcd and bin/kube-apiserver on free loopback ports with RBAC
// authorization until the test ends.
func startKubeAPIServer(t *testing.T, bin string) *kubeCluster {
	t.Helper()
	dir := t.TempDir()
	ca, caKey := newCA(t)
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	caFile := write("ca.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}))
	servingCert, servingKey := issue(t, ca, caKey, &x509.Certificate{Subject: pkix.Name{CommonName: "kube-apiserver"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	adminCert, adminKey := issue(t, ca, caKey, &x509.Certificate{Subject: pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	proxyCert, proxyKey := issue(t, ca, caKey, &x509.Certificate{Subject: pkix.Name{CommonName: "front-proxy-client"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	saKeyDER, _ := x509.MarshalPKCS8PrivateKey(saKey)
	saPubDER, _ := x509.MarshalPKIXPublicKey(&saKey.PublicKey)

	etcdClient, etcdPeer, apiPort := freePort(t), freePort(t), freePort(t)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	startProcess(t, filepath.Join(dir, "etcd.log"), filepath.Join(bin, "etcd"), "--name=default", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL, "--initial-cluster=default="+peerURL)
	apiserverLog := filepath.Join(dir, "kube-apiserver.log")
	startProcess(t, apiserverLog, filepath.Join(bin, "kube-apiserver"),
		"--etcd-servers="+etcdURL, "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", apiPort),
		"--endpoint-reconciler-type=none", "--authorization-mode=RBAC", "--client-ca-file="+caFile,
		"--tls-cert-file="+write("serving.crt", servingCert), "--tls-private-key-file="+write("serving.key", servingKey),
		"--service-account-issuer=https://kubernetes.default.svc", "--service-cluster-ip-range=10.96.0.0/24",
		"--service-account-key-file="+write("sa.pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPubDER})),
		"--service-account-signing-key-file="+write("sa.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: saKeyDER})),
		"--cert-dir="+filepath.Join(dir, "certs"),
		// As in a real cluster: the aggregator's front-proxy identity, which kube-apiserver
		// publishes in kube-system/extension-apiserver-authentication for ferrite-apiserver.
		"--requestheader-client-ca-file="+caFile, "--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file="+write("proxy.crt", proxyCert), "--proxy-client-key-file="+write("proxy.key", proxyKey))

	kubeconfig := write("kubeconfig", fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: "https://127.0.0.1:%d", certificate-authority: %q}}]
users: [{name: admin, user: {client-certificate: %q, client-key: %q}}]
contexts: [{name: test, context: {cluster: test, user: admin}}]
current-context: test
`, apiPort, caFile, write("admin.crt", adminCert), write("admin.key", adminKey)))

	deadline := time.Now().Add(2 * time.Minute)
	for {
		// /readyz includes the RBAC bootstrap roles (system:auth-delegator and the rest).
		output, err := exec.Command(filepath.Join(bin, "kubectl"), "--kubeconfig", kubeconfig, "get", "--raw", "/readyz").CombinedOutput()
		if err == nil && strings.TrimSpace(string(output)) == "ok" {
			return &kubeCluster{kubeconfig: kubeconfig, server: fmt.Sprintf("https://127.0.0.1:%d", apiPort), caFile: caFile,
				etcdURL: etcdURL, ca: ca, caKey: caKey}
		}
		if time.Now().After(deadline) {
			logs, _ := os.ReadFile(apiserverLog)
			t.Fatalf("kube-apiserver not ready after 2 minutes: %v\n%s\n--- log tail:\n%s", err, output, tail(logs, 4000))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func tail(data []byte, n int) []byte {
	if len(data) > n {
		return data[len(data)-n:]
	}
	return data
}

// startProcess runs a binary with its output in logFile and kills it when the test ends.
func startProcess(t *testing.T, logFile, binary string, args ...string) {
	t.Helper()
	log, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		log.Close()
	})
}

func freePort(t *testing.T) int {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	return listener.Addr().(*net.TCPAddr).Port
}

func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// issue signs template with the CA and returns the certificate and key as PEM.
func issue(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, template *x509.Certificate) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	template.SerialNumber = serial
	template.NotBefore, template.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	template.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, template, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}
