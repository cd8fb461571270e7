# Volumes on Ceph (docs: test/e2e/volumes/main_test.go): the control plane of `make run` with the
# local pool, whose volume side is a single-node Ceph cluster (installed when missing, in memory,
# on its own ports), ceph-provider and a volumepoollet; driven through kubectl and checked with
# rbd, ceph, qemu-io and virsh. Root on Debian; elsewhere the suite says why and skips.
.PHONY: e2e-volumes
e2e-volumes: build-deps build kube-apiserver kubectl
	$(GO) test -tags e2e -count=1 -v -timeout 40m ./test/e2e/volumes/...
