package localcluster

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/ferrite-dev/ferrite/apiserver/standalone"
)

// kubeControllers are the kube-controller-manager controllers a control plane without nodes
// or pods needs: the built-in admin, edit and view roles receive the rules of the ClusterRoles
// labelled to aggregate into them (Ferrite's among them); deleted namespaces are emptied,
// Ferrite's aggregated resources included, and finalized; dependents whose ownerReferences
// name a deleted owner are deleted; and every namespace gets its default ServiceAccount.
var kubeControllers = []string{
	"clusterrole-aggregation-controller",
	"namespace-controller",
	"garbage-collector-controller",
	"serviceaccount-controller",
}

// startKubeControllerManager runs kube-controller-manager with its own client certificate.
// Each controller then acts as its own service account in kube-system (the bootstrap RBAC
// roles system:controller:*), as in a kubeadm cluster. There is one instance, so no leader
// election (which would also make a restart wait for the dead instance's lease), and no
// serving port (nothing scrapes it; a port is one more thing that can be taken).
func (c *Cluster) startKubeControllerManager(kubeURL string) error {
	kubeconfig := filepath.Join(c.opts.DataDir, "pki", "kube-controller-manager.kubeconfig")
	if err := standalone.WriteKubeconfig(kubeconfig, kubeURL, c.creds.clusterCA.CertFile,
		c.creds.kubeControllerManager.CertFile, c.creds.kubeControllerManager.KeyFile, kubeControllerManagerUser); err != nil {
		return err
	}
	var err error
	c.kubeControllerManager, err = startProcess("kube-controller-manager", c.logDir(), c.bin("kube-controller-manager"),
		"--kubeconfig="+kubeconfig,
		"--use-service-account-credentials=true",
		"--controllers="+strings.Join(kubeControllers, ","),
		"--leader-elect=false",
		"--secure-port=0",
	)
	return err
}

// aggregatedRoleGroup is an API group whose rules the built-in edit role holds once
// kube-controller-manager has aggregated Ferrite's ClusterRoles into it.
const aggregatedRoleGroup = "compute.ferrite.dev"

// waitRolesAggregated waits until the built-in edit ClusterRole carries Ferrite's rules, which
// shows kube-controller-manager is working and a tenant bound to edit can use Ferrite.
func (c *Cluster) waitRolesAggregated(ctx context.Context, timeout time.Duration) error {
	client, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if !c.kubeControllerManager.running() {
			return false, c.kubeControllerManager.exitError()
		}
		role, err := client.RbacV1().ClusterRoles().Get(ctx, "edit", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, rule := range role.Rules {
			for _, group := range rule.APIGroups {
				if group == aggregatedRoleGroup {
					return true, nil
				}
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("the edit ClusterRole did not receive Ferrite's rules (see %s): %w", c.kubeControllerManager.logPath, err)
	}
	return nil
}
