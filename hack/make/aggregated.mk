# End-to-end suite of Ferrite behind a real kube-apiserver (builds kube-apiserver and etcd first).
.PHONY: e2e-aggregated
e2e-aggregated: build kube-apiserver
	$(GO) test -tags e2e -count=1 -timeout 20m -v ./test/e2e/aggregated/...

# The kubectl suite against the control plane `make run` starts.
.PHONY: e2e-kubectl-local
e2e-kubectl-local: build kube-apiserver kubectl
	$(GO) build -o $(BIN)/ ./hack/ferrite-local
	hack/e2e-kubectl-local.sh
