package watchmux

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	computev1alpha1 "github.com/ferrite-dev/ferrite/apis/compute/v1alpha1"
	"github.com/ferrite-dev/ferrite/apiserver/testserver"
	"github.com/ferrite-dev/ferrite/console/usertest"
)

// machines is the path of the Machines of namespace ns.
func machines(ns string) string {
	return "/apis/compute.ferrite.dev/v1alpha1/namespaces/" + ns + "/machines"
}

// event is the part of a watch event the tests look at.
type event struct {
	Type   string
	Object struct {
		Kind     string
		Code     int
		Reason   string
		Metadata struct{ Name, Namespace string }
	}
}

// readEvent reads the next frame, which must be an event of watch id.
func readEvent(t *testing.T, b *browser, id string) event {
	t.Helper()
	f := b.read()
	var e event
	if f.Type != TypeEvent || f.ID != id || json.Unmarshal(f.Event, &e) != nil {
		t.Fatalf("got %s, want an event frame of %s", show(f), id)
	}
	return e
}

// userConfig is a client configuration of api with a client certificate of its CA for user,
// whom the standalone server authenticates but does not authorize.
func userConfig(t *testing.T, api *testserver.Server, user string) *rest.Config {
	t.Helper()
	cert, key := usertest.Cert(t, api, user)
	return &rest.Config{Host: api.Config.Host, TLSClientConfig: rest.TLSClientConfig{
		CAData: api.Config.CAData, CAFile: api.Config.CAFile, CertData: cert, KeyData: key}}
}

// TestAgainstAPIServer runs watches through sockets against a real ferrite-apiserver (standalone:
// only its admin is authorized): refusals before the upgrade; two watches on one socket, each
// event tagged with its watch; a stop ends one watch and not the other; a user without rights
// gets the API's 403 Status; bad paths are refused; logout and the browser's close cancel the
// upstream watches; the API's timeout ends a watch; after a restart of the apiserver a watch
// from a resourceVersion older than its watch cache gets the API's 410.
func TestAgainstAPIServer(t *testing.T) {
	dir, err := os.MkdirTemp("", "ferrite-watchmux-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	api, err := testserver.StartInDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			api.Stop()
		}
	})
	h := newHarness(t, api.Config.Host)
	adminID, admin := h.login(t, "admin", api.Config)
	ctx := context.Background()
	create := func(ns, name string) {
		t.Helper()
		m := &computev1alpha1.Machine{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: computev1alpha1.MachineSpec{MachineClassRef: corev1.LocalObjectReference{Name: "small"}, Image: "debian-13"}}
		if _, err := api.Client.ComputeV1alpha1().Machines(ns).Create(ctx, m, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// Refused before the upgrade.
	for name, c := range map[string]struct {
		id, csrf string
		header   http.Header
		code     int
	}{
		"no Origin":     {adminID, admin.CSRFToken, http.Header{}, http.StatusForbidden},
		"other Origin":  {adminID, admin.CSRFToken, http.Header{"Origin": {"http://evil.example"}}, http.StatusForbidden},
		"cross-site":    {adminID, admin.CSRFToken, http.Header{"Origin": {h.console.URL}, "Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden},
		"no CSRF":       {adminID, "", nil, http.StatusForbidden},
		"wrong CSRF":    {adminID, "wrong", nil, http.StatusForbidden},
		"not logged in": {"", admin.CSRFToken, nil, http.StatusUnauthorized},
		"unknown id":    {"made-up", admin.CSRFToken, nil, http.StatusUnauthorized},
	} {
		b, response, err := h.dial(t, c.id, c.csrf, c.header)
		if err == nil {
			b.conn.Close()
			t.Errorf("%s: the upgrade succeeded", name)
			continue
		}
		if response == nil || response.StatusCode != c.code {
			t.Errorf("%s: %v %v, want %d", name, err, response, c.code)
		}
	}
	request, _ := http.NewRequest(http.MethodGet, h.console.URL+Path+"?csrf="+admin.CSRFToken, nil)
	request.Header.Set("Origin", h.console.URL)
	request.Header.Set("Cookie", "ferrite_session="+adminID)
	if response, err := http.DefaultClient.Do(request); err != nil || response.StatusCode != http.StatusBadRequest {
		t.Errorf("a plain GET: %v %v, want 400", err, response)
	}

	// Two watches on one socket, from the resourceVersion of a list.
	list, err := api.Client.ComputeV1alpha1().Machines("a").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	from := "?resourceVersion=" + list.ResourceVersion
	b := h.open(t, adminID, admin)
	b.watch("wa", machines("a")+from)
	b.watch("wb", machines("b")+from+"&allowWatchBookmarks=true")
	h.waitActive(t, 2)
	create("a", "one")
	if e := readEvent(t, b, "wa"); e.Type != "ADDED" || e.Object.Metadata.Namespace != "a" || e.Object.Metadata.Name != "one" {
		t.Errorf("watch wa got %+v", e)
	}
	create("b", "two")
	if e := readEvent(t, b, "wb"); e.Type != "ADDED" || e.Object.Metadata.Namespace != "b" || e.Object.Metadata.Name != "two" {
		t.Errorf("watch wb got %+v", e)
	}

	// A stop ends wa only: of the next two Machines only b's arrives.
	b.send(Message{Type: TypeStop, ID: "wa"})
	h.waitActive(t, 1)
	create("a", "three")
	create("b", "four")
	if e := readEvent(t, b, "wb"); e.Object.Metadata.Name != "four" {
		t.Errorf("after wa's stop: wb got %+v", e)
	}

	// A user without rights gets the API's Status.
	bobID, bob := h.login(t, "bob", userConfig(t, api, "bob"))
	bobSocket := h.open(t, bobID, bob)
	bobSocket.watch("w", machines("a"))
	f := bobSocket.read()
	var status metav1.Status
	if f.Type != TypeStatus || f.ID != "w" || f.Code != http.StatusForbidden || json.Unmarshal(f.Status, &status) != nil ||
		status.Kind != "Status" || status.Code != http.StatusForbidden || !strings.Contains(status.Message, `User "bob" cannot watch resource "machines"`) {
		t.Errorf("bob's watch: %s, want a status frame with the API's 403", show(f))
	}

	// Paths the proxy would not forward.
	for id, path := range map[string]string{
		"healthz":  "/healthz",
		"relative": "api/v1/namespaces",
		"dotdot":   "/apis/../healthz",
		"encoded":  "/api%2fv1/namespaces",
		"proxy":    "/api/v1/namespaces/a/pods/p/proxy",
		"absolute": "https://evil.example/api/v1/namespaces",
		"host":     "//evil.example/api/v1/namespaces",
	} {
		b.watch(id, path)
		b.readError(id)
	}

	// Logout closes the user's sockets and cancels their watches.
	bobSocket.watch("w", machines("a")) // refused at once: no live watch
	bobSocket.read()
	other := h.open(t, adminID, admin)
	other.watch("x", machines("x"))
	h.waitActive(t, 2)
	h.sessions.Delete(adminID)
	if err := other.closed(); !strings.Contains(err.Error(), "1000") || !strings.Contains(err.Error(), "logged out") {
		t.Errorf("after logout: %v, want a normal close saying logged out", err)
	}
	h.waitActive(t, 0)
	if err := b.closed(); !strings.Contains(err.Error(), "logged out") {
		t.Errorf("the first socket after logout: %v", err)
	}

	// The browser's close cancels the upstream watches.
	adminID, admin = h.login(t, "admin", api.Config)
	b = h.open(t, adminID, admin)
	b.watch("a", machines("a"))
	b.watch("b", machines("b"))
	h.waitActive(t, 2)
	b.conn.Close()
	h.waitActive(t, 0)

	// The API server's timeout ends a watch.
	list, err = api.Client.ComputeV1alpha1().Machines("a").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b = h.open(t, adminID, admin)
	b.watch("a", machines("a")+"?timeoutSeconds=1&resourceVersion="+list.ResourceVersion)
	if f := b.read(); f.Type != TypeEnd || f.ID != "a" {
		t.Errorf("after the watch's timeout: %s, want the end of a", show(f))
	}
	h.waitActive(t, 0)
	b.conn.Close()

	// Restarted, its watch cache starts at the resourceVersion it lists: a watch from before
	// is too old.
	stopped = true
	api.Stop()
	api, err = testserver.StartInDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	stopped = false
	h = newHarness(t, api.Config.Host)
	adminID, admin = h.login(t, "admin", api.Config)
	b = h.open(t, adminID, admin)
	b.watch("old", machines("a")+"?resourceVersion=1")
	f = b.read()
	switch f.Type {
	case TypeEvent:
		if e := readEventOf(t, f); e.Type != "ERROR" || e.Object.Code != http.StatusGone {
			t.Errorf("a watch from resourceVersion 1: %s, want the API's 410", f.Event)
		}
	case TypeStatus:
		if f.Code != http.StatusGone {
			t.Errorf("a watch from resourceVersion 1: %s, want the API's 410", show(f))
		}
	default:
		t.Errorf("a watch from resourceVersion 1: %s, want the API's 410", show(f))
	}
}

func readEventOf(t *testing.T, f Frame) event {
	t.Helper()
	var e event
	if err := json.Unmarshal(f.Event, &e); err != nil {
		t.Fatal(err)
	}
	return e
}
