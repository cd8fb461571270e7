# Deployment manifests (config/README.md).
.PHONY: e2e-config

# Renders every kustomization under config/ with bin/kubectl and checks the objects; checks the
# RBAC roles against the resources ferrite-apiserver serves. With bin/kube-apiserver present
# (hack/build-kube-apiserver.sh), also applies them to a real kube-apiserver.
e2e-config: kubectl
	FERRITE_E2E=1 $(GO) test -count=1 -v -timeout 10m ./config/...
