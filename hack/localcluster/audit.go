package localcluster

import (
	"encoding/json"
	"os"
	"path/filepath"
)

// AuditLogPath is kube-apiserver's audit log (Options.AuditUserGroups): JSON lines of
// audit.k8s.io/v1 Events.
func (c *Cluster) AuditLogPath() string { return filepath.Join(c.logDir(), "audit.log") }

// auditArgs writes the audit policy (metadata of the requests of Options.AuditUserGroups,
// nothing of anyone else) and returns kube-apiserver's flags for it.
func (c *Cluster) auditArgs() ([]string, error) {
	policy := map[string]any{
		"apiVersion": "audit.k8s.io/v1", "kind": "Policy",
		"omitStages": []string{"RequestReceived"},
		"rules": []map[string]any{
			{"level": "Metadata", "userGroups": c.opts.AuditUserGroups},
			{"level": "None"},
		},
	}
	data, err := json.Marshal(policy)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(c.opts.DataDir, "audit-policy.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.logDir(), 0o755); err != nil {
		return nil, err
	}
	return []string{"--audit-policy-file=" + path, "--audit-log-path=" + c.AuditLogPath(), "--audit-log-format=json"}, nil
}
