package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ferrite-dev/ferrite/apiserver/pki"
)

// Static tokens of the kube-apiserver test cluster.
const (
	viewerToken   = "viewer-token-0123456789" // user viewer: may read ConfigMaps in namespace default
	nobodyToken   = "nobody-token-0123456789" // user nobody: no rights
	plannedSecret = "launch-plans"            // a ConfigMap only the viewer may read
)

// TestKubeAPIServer runs the console against a real kube-apiserver with RBAC (bin/kube-apiserver
// on bin/etcd): logins are named by SelfSubjectReview; a token user allowed to read lists
// ConfigMaps through the proxy and is refused a create; a token user without rights gets the
// API's 403 Status and never the data, for lists and watches; the admin logs in with a client
// certificate.
func TestKubeAPIServer(t *testing.T) {
	admin := startKubeAPIServer(t)
	ctx := context.Background()
	client := kubernetes.NewForConfigOrDie(admin)
	if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: plannedSecret},
		Data: map[string]string{"plan": "friday"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// view itself is aggregated by kube-controller-manager, which this cluster does not run: a
	// Role with view's verbs on ConfigMaps stands in for it.
	if _, err := client.RbacV1().Roles("default").Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "view-configmaps"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "viewer"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "view-configmaps"},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "viewer"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const configMaps = "/k8s/api/v1/namespaces/default/configmaps"

	viewer := consoleFor(t, admin)
	info := viewer.login(t, viewerToken)
	if info.User != "viewer" || !contains(info.Groups, "system:authenticated") {
		t.Errorf("viewer's login: %+v, want user viewer named by the SelfSubjectReview", info)
	}
	response, body := viewer.do(t, http.MethodGet, configMaps, "", nil)
	if response.StatusCode != http.StatusOK || !strings.Contains(body, plannedSecret) {
		t.Errorf("viewer lists ConfigMaps: %d %s", response.StatusCode, body)
	}
	// The viewer may not create: the API's 403, even with the CSRF token.
	response, body = viewer.do(t, http.MethodPost, configMaps, `{"metadata":{"name":"x"}}`, map[string]string{"Content-Type": "application/json", "X-CSRF-Token": info.CSRFToken})
	if response.StatusCode != http.StatusForbidden || !strings.Contains(body, `"kind":"Status"`) || !strings.Contains(body, `cannot create resource \"configmaps\"`) {
		t.Errorf("viewer creates a ConfigMap: %d %s, want the API's 403", response.StatusCode, body)
	}

	nobody := consoleFor(t, admin)
	info = nobody.login(t, nobodyToken)
	if info.User != "nobody" {
		t.Errorf("nobody's login: %+v", info)
	}
	for _, path := range []string{configMaps, configMaps + "/" + plannedSecret, configMaps + "?watch=1"} {
		response, body := nobody.do(t, http.MethodGet, path, "", nil)
		var status metav1.Status
		json.Unmarshal([]byte(body), &status)
		if response.StatusCode != http.StatusForbidden || status.Kind != "Status" || status.Code != http.StatusForbidden ||
			!strings.Contains(status.Message, `User "nobody" cannot`) || strings.Contains(body, "friday") {
			t.Errorf("nobody GET %s: %d %s, want the API's 403 Status and no data", path, response.StatusCode, body)
		}
	}

	// A kubeconfig with the token, and the admin's client certificate.
	kubeconfig := fmt.Sprintf("apiVersion: v1\nkind: Config\nusers: [{name: v, user: {token: %s}}]\ncontexts: [{name: c, context: {user: v, namespace: default}}]\ncurrent-context: c\n", viewerToken)
	if response, body := consoleFor(t, admin).do(t, http.MethodPost, "/auth/login", loginBody(t, []byte(kubeconfig)), jsonBody); response.StatusCode != http.StatusOK || !strings.Contains(body, `"user":"viewer"`) {
		t.Errorf("login with a kubeconfig's token: %d %s", response.StatusCode, body)
	}
	certificate := fmt.Sprintf("apiVersion: v1\nkind: Config\nusers: [{name: a, user: {client-certificate-data: %s, client-key-data: %s}}]\ncontexts: [{name: c, context: {user: a}}]\ncurrent-context: c\n",
		toBase64(admin.CertData), toBase64(admin.KeyData))
	response, body = consoleFor(t, admin).do(t, http.MethodPost, "/auth/login", loginBody(t, []byte(certificate)), jsonBody)
	if response.StatusCode != http.StatusOK || !strings.Contains(body, `"user":"admin"`) || !strings.Contains(body, "system:masters") {
		t.Errorf("login with the admin's client certificate: %d %s", response.StatusCode, body)
	}
	if response, body := consoleFor(t, admin).do(t, http.MethodPost, "/auth/login", `{"token":"wrong-token"}`, jsonBody); response.StatusCode != http.StatusUnauthorized || !strings.Contains(message(body), "Unauthorized") {
		t.Errorf("login with an unknown token: %d %s", response.StatusCode, body)
	}
}

// startKubeAPIServer runs bin/etcd and bin/kube-apiserver (RBAC, the static tokens above) on
// free loopback ports until the test ends and returns the admin's configuration (client
// certificate in system:masters). Without the binaries the test is skipped, or fails with
// FERRITE_E2E=1.
func startKubeAPIServer(t *testing.T) *rest.Config {
	t.Helper()
	bin, err := filepath.Abs(filepath.Join("..", "..", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			if os.Getenv("FERRITE_E2E") == "1" {
				t.Fatalf("FERRITE_E2E=1 but %s is missing: hack/build-kube-apiserver.sh builds it", filepath.Join(bin, name))
			}
			t.Skipf("%s is missing: hack/build-kube-apiserver.sh builds it (about ten minutes)", filepath.Join(bin, name))
		}
	}
	dir := t.TempDir()
	ca, err := pki.EnsureCA(dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	serving, err := ca.Ensure("serving", pki.Spec{CommonName: "kube-apiserver", Server: true, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	adminPair, err := ca.Ensure("admin", pki.Spec{CommonName: "admin", Organizations: []string{"system:masters"}, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	saKey, saPub, err := pki.EnsureSigningKey(dir, "sa")
	if err != nil {
		t.Fatal(err)
	}
	tokens := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(viewerToken+",viewer,uid-viewer\n"+nobodyToken+",nobody,uid-nobody\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	etcdURL, peerURL := fmt.Sprintf("http://127.0.0.1:%d", freePort(t)), fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	startProcess(t, filepath.Join(dir, "etcd.log"), filepath.Join(bin, "etcd"), "--name=default", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL, "--initial-cluster=default="+peerURL)
	port := freePort(t)
	apiserverLog := filepath.Join(dir, "kube-apiserver.log")
	startProcess(t, apiserverLog, filepath.Join(bin, "kube-apiserver"),
		"--etcd-servers="+etcdURL, "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", port),
		"--endpoint-reconciler-type=none", "--authorization-mode=RBAC", "--client-ca-file="+ca.CertFile, "--token-auth-file="+tokens,
		"--tls-cert-file="+serving.CertFile, "--tls-private-key-file="+serving.KeyFile,
		"--service-account-issuer=https://kubernetes.default.svc", "--service-cluster-ip-range=10.96.0.0/24",
		"--service-account-key-file="+saPub, "--service-account-signing-key-file="+saKey, "--cert-dir="+filepath.Join(dir, "certs"))

	caData, _ := os.ReadFile(ca.CertFile)
	certData, _ := os.ReadFile(adminPair.CertFile)
	keyData, _ := os.ReadFile(adminPair.KeyFile)
	config := &rest.Config{Host: fmt.Sprintf("https://127.0.0.1:%d", port),
		TLSClientConfig: rest.TLSClientConfig{CAData: caData, CertData: certData, KeyData: keyData}}
	client, err := rest.HTTPClientFor(config)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		// /readyz includes the RBAC bootstrap roles (view and the rest).
		response, err := client.Get(config.Host + "/readyz")
		if err == nil {
			response.Body.Close()
			if response.StatusCode == http.StatusOK {
				return config
			}
		}
		if time.Now().After(deadline) {
			logs, _ := os.ReadFile(apiserverLog)
			if len(logs) > 4000 {
				logs = logs[len(logs)-4000:]
			}
			t.Fatalf("kube-apiserver not ready after 2 minutes: %v\n--- log tail:\n%s", err, logs)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// startProcess runs binary with its output in logFile and kills it when the test ends.
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

func contains(list []string, s string) bool {
	for _, item := range list {
		if item == s {
			return true
		}
	}
	return false
}
