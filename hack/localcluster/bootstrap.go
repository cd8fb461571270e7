package localcluster

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"text/template"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// Groups are the API groups ferrite-apiserver serves, one APIService each.
var Groups = []string{"compute.ferrite.dev", "storage.ferrite.dev", "networking.ferrite.dev", "ipam.ferrite.dev", "core.ferrite.dev"}

// registration is what kube-apiserver needs to proxy the Ferrite groups: a Service pointing at
// ferrite-apiserver on this machine (ExternalName, as endpoints may not be loopback
// addresses; or, with several replicas, ServiceYAML), the APIServices with the CA that signed
// ferrite's serving certificate, and the permissions ferrite-apiserver needs to delegate
// authentication and authorization.
const registration = `
apiVersion: v1
kind: Namespace
metadata: {name: {{.Namespace}}}
---
{{if .ServiceYAML}}{{.ServiceYAML}}{{else}}apiVersion: v1
kind: Service
metadata: {name: {{.Service}}, namespace: {{.Namespace}}}
spec:
  type: ExternalName
  externalName: localhost
  ports: [{name: https, port: {{.Port}}, protocol: TCP}]
{{end}}---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "ferrite-apiserver:auth-delegator"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:auth-delegator"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "{{.User}}"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: "ferrite-apiserver:authentication-reader", namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: extension-apiserver-authentication-reader}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "{{.User}}"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "ferrite-apiserver:core-reader"}
rules:
- apiGroups: [""]
  resources: [namespaces, secrets]
  verbs: [get, list, watch]
- apiGroups: [admissionregistration.k8s.io]
  resources: [mutatingwebhookconfigurations, validatingwebhookconfigurations, validatingadmissionpolicies, validatingadmissionpolicybindings, mutatingadmissionpolicies, mutatingadmissionpolicybindings]
  verbs: [get, list, watch]
- apiGroups: [flowcontrol.apiserver.k8s.io]
  resources: [flowschemas, prioritylevelconfigurations]
  verbs: [get, list, watch]
- apiGroups: [flowcontrol.apiserver.k8s.io]
  resources: [flowschemas/status, prioritylevelconfigurations/status]
  verbs: [patch, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "ferrite-apiserver:core-reader"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "ferrite-apiserver:core-reader"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "{{.User}}"}]
{{range .Groups}}---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1alpha1.{{.}}}
spec:
  group: {{.}}
  version: v1alpha1
  service: {namespace: {{$.Namespace}}, name: {{$.Service}}, port: {{$.Port}}}
  caBundle: {{$.CABundle}}
  groupPriorityMinimum: 1000
  versionPriority: 100
{{end}}`

// renderRegistration fills the registration template; serviceYAML, when not empty, replaces
// the ExternalName Service.
func renderRegistration(ferritePort int, caFile, serviceYAML string) ([]byte, error) {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	err = template.Must(template.New("registration").Parse(registration)).Execute(&out, map[string]any{
		"Namespace": ServiceNamespace, "Service": ServiceName, "Port": ferritePort, "User": ferriteUser,
		"CABundle": base64.StdEncoding.EncodeToString(ca), "Groups": Groups, "ServiceYAML": serviceYAML,
	})
	return out.Bytes(), err
}

// applyYAML server-side applies every object of a multi-document YAML stream.
func applyYAML(ctx context.Context, config *rest.Config, manifest []byte) error {
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		return err
	}
	discoveryClient, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(discoveryClient))
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifest), 4096)
	for {
		var object unstructured.Unstructured
		if err := decoder.Decode(&object.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if len(object.Object) == 0 {
			continue
		}
		gvk := object.GroupVersionKind()
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("mapping %s: %w", gvk, err)
		}
		data, err := object.MarshalJSON()
		if err != nil {
			return err
		}
		resource := client.Resource(mapping.Resource)
		var target dynamic.ResourceInterface = resource
		if ns := object.GetNamespace(); ns != "" {
			target = resource.Namespace(ns)
		}
		force := true
		if _, err := target.Patch(ctx, object.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "ferrite-local", Force: &force}); err != nil {
			return fmt.Errorf("applying %s %s: %w", gvk.Kind, object.GetName(), err)
		}
	}
}
