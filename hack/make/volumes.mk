# Volumes on Ceph (docs: test/e2e/volumes/main_test.go): the control plane of `make run` with the
# local pool, whose volume side is a single-node Ceph cluster (installed when missing, in memory,
# on its own ports), ceph-provider and a volumepoollet; driven through kubectl and checked with
# rbd, ceph, qemu-io and virsh. Root on Debian; elsewhere the suite says why and skips.
.PHONY: e2e-volumes
e2e-volumes: build-deps build kube-apiserver kubectl
	$(GO) test -tags e2e -count=1 -v -timeout 40m ./test/e2e/volumes/...

# Volume benchmark (docs/performance.md, "Volumes on Ceph"): Volumes created per second and
# create-to-Available p50/p99 (empty, and cloned from an OCI image), next to rbd_create alone and
# rbd_clone alone on the same cluster in the same run; boot-from-volume create-to-Running next to
# local-disk create-to-Running. Its own control plane, local pool and memstore Ceph cluster in a
# temporary directory (root on Debian; elsewhere one line says why it is skipped). About 5
# minutes. Prints tables, never fails on a number. BENCH_VOLUMES_FLAGS passes flags (see
# `go run -tags pacific ./hack/bench/volumes -h`).
.PHONY: bench-volumes
bench-volumes: build-deps build kube-apiserver
	$(GO) build -o $(BIN)/bench-volumes ./hack/bench/volumes
	$(BIN)/bench-volumes -bin-dir $(BIN) -repo $(CURDIR) $(BENCH_VOLUMES_FLAGS)
