# Federation end to end (docs/brokers.md): three control planes of `make run` on this machine;
# the region's pools are brokers over the zone (libvirt and Ceph), the global cluster's pool a
# broker over the region. Needs root on Debian; installs libvirt, QEMU and Ceph when missing.
.PHONY: e2e-brokers
e2e-brokers: build-deps build kube-apiserver kubectl
	$(GO) test -tags e2e -count=1 -v -timeout 45m ./test/e2e/brokers/...
