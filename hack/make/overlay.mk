# The overlay network end to end (test/e2e/overlay): two hypervisors as network namespaces with
# QEMU guests of two MachinePools, route reflectors and netagents following the API. Needs root
# on Debian; installs libvirt, QEMU and the namespace tools when missing.
.PHONY: e2e-overlay
e2e-overlay: build kube-apiserver kubectl
	hack/net/install-deps.sh
	$(GO) test -tags e2e -count=1 -v -timeout 40m ./test/e2e/overlay/...
