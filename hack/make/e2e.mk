# End-to-end suites driven by a real kubectl (docs: test/e2e/kubectl/doc.go).
.PHONY: kubectl e2e-kubectl

# bin/kubectl from k8s.io/kubectl at the version pinned in hack/tools/kubectl/go.mod; a no-op
# when it is up to date.
kubectl:
	hack/build-kubectl.sh

# ferrite-apiserver as `make run` builds it, on a free loopback port with a temporary
# --data-dir: apply, get (columns, categories), describe, explain, server-side apply,
# validation errors and delete of config/samples/.
e2e-kubectl: kubectl build
	FERRITE_APISERVER=$(BIN)/ferrite-apiserver KUBECTL=$(BIN)/kubectl \
		$(GO) test -tags e2e -count=1 -v -timeout 15m ./test/e2e/kubectl/...
