# Machine benchmark (docs/performance.md, "Pool-scoped watches" and "Create to Running").
.PHONY: bench-machines

# Phase watchers: ferrite-apiserver CPU per Machine event with 10 and with 1,000 simulated
# machinepoollets, each watching its own pool's Machines (spec.machinePoolRef.name, which the
# watch cache indexes), next to a ceiling (the same writes with no watcher) and the same
# poollets on a label selector the index does not serve; events delivered per watcher against
# expected, watches the apiserver terminated, and cost(1000)/cost(10), in 3 rounds. It runs
# ferrite-apiserver and etcd as separate processes on loopback. About 7 minutes on 2 busy cores.
#
# Phase running (root on Debian only; elsewhere one line says why it is skipped): real machines
# created at once on a local pool (make run's control plane and pool, in a temporary
# directory): 1 and 10 with the provider's image cache cold and then cached, then 50 cold.
# Per-machine scheduling, poollet, image pull, define, start, first console byte, GUEST-UP,
# GUEST-READY and status Running as p50/p90/max, and the poollet's and the provider's memory.
# About 9 minutes on 2 cores without KVM (a round gives up waiting after 5 minutes).
#
# Prints tables, never fails on a number. BENCH_MACHINES_FLAGS passes flags (see
# `go run ./hack/bench/machines -h`), for example BENCH_MACHINES_FLAGS="-phase running
# -running-rounds 1/cold,10/cached" or "-phase watchers -watcher-runs 5 -watcher-profile-dir
# /tmp/prof".
BENCH_MACHINES_DEPS := build api-etcd $(if $(filter 0,$(shell id -u)),kube-apiserver)
bench-machines: $(BENCH_MACHINES_DEPS)
	$(GO) build -o $(BIN)/bench-machines ./hack/bench/machines
	$(BIN)/bench-machines -apiserver $(BIN)/ferrite-apiserver -etcd $(BIN)/etcd \
		-running-bin-dir $(BIN) -running-repo $(CURDIR) $(BENCH_MACHINES_FLAGS)
