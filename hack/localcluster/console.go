package localcluster

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/ferrite-dev/ferrite/apiserver/standalone"
)

// DefaultConsolePort is the web console's port under `make run` when it is free.
const DefaultConsolePort = 8090

// Console is a running ferrite-console in front of a local cluster's kube-apiserver.
type Console struct {
	// URL is where a browser on this machine opens the console.
	URL     string
	process *process
}

// ConsoleUnavailable says why StartConsole cannot run (ferrite-console not built), or "".
func (c *Cluster) ConsoleUnavailable() string {
	if _, err := os.Stat(c.bin("ferrite-console")); err != nil {
		return "bin/ferrite-console is not built (make build)"
	}
	return ""
}

// StartConsole starts ferrite-console on 127.0.0.1:port (DefaultConsolePort when 0 and free,
// else a free port). It reaches kube-apiserver with the address and CA of the admin
// kubeconfig; the console never uses that kubeconfig's credentials: each user logs in with
// their own.
func (c *Cluster) StartConsole(ctx context.Context, port int) (*Console, error) {
	if port == 0 {
		port = DefaultConsolePort
		if !standalone.PortFree(port) {
			var err error
			if port, err = standalone.FreePort(); err != nil {
				return nil, err
			}
		}
	}
	address := "127.0.0.1:" + strconv.Itoa(port)
	p, err := startProcess("ferrite-console", c.logDir(), c.bin("ferrite-console"),
		"--bind-address="+address, "--kubeconfig="+c.Kubeconfig)
	if err != nil {
		return nil, err
	}
	console := &Console{URL: "http://" + address, process: p}
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Not logged in: 401 means it serves.
		request, _ := http.NewRequestWithContext(ctx, http.MethodGet, console.URL+"/auth/session", nil)
		response, err := http.DefaultClient.Do(request)
		if err == nil {
			response.Body.Close()
			if response.StatusCode == http.StatusUnauthorized {
				return console, nil
			}
		}
		if !p.running() {
			return nil, p.exitError()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			console.Stop()
			return nil, fmt.Errorf("ferrite-console did not answer on %s within 30s; see %s", console.URL, p.logPath)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Stop stops the console.
func (c *Console) Stop() { c.process.stop(5 * time.Second) }

// BindViewer lets ViewerUser (who logs in with Tokens[ViewerUser]) view namespace, through a
// RoleBinding to the aggregated view ClusterRole: the console's read-only user.
func (c *Cluster) BindViewer(ctx context.Context, namespace string) error {
	return applyYAML(ctx, c.Config, []byte(fmt.Sprintf(`apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: ferrite-viewer-user
  namespace: %s
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: view
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: %s
`, namespace, ViewerUser)))
}
