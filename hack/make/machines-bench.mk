# Machine benchmark (docs/performance.md, "Pool-scoped watches"). It runs ferrite-apiserver and
# etcd as separate processes on loopback.
.PHONY: bench-machines

# Phase watchers: ferrite-apiserver CPU per Machine event with 10 and with 1,000 simulated
# machinepoollets, each watching its own pool's Machines (spec.machinePoolRef.name, which the
# watch cache indexes), next to a ceiling (the same writes with no watcher) and the same
# poollets on a label selector the index does not serve; events delivered per watcher against
# expected, watches the apiserver terminated, and cost(1000)/cost(10), in 3 rounds. About 7
# minutes on 2 busy cores; prints a table, never fails on a number. BENCH_MACHINES_FLAGS
# passes flags (see `go run ./hack/bench/machines -h`), for example
# BENCH_MACHINES_FLAGS="-phase watchers -watcher-runs 5 -watcher-profile-dir /tmp/prof".
bench-machines: build api-etcd
	$(GO) build -o $(BIN)/bench-machines ./hack/bench/machines
	$(BIN)/bench-machines -apiserver $(BIN)/ferrite-apiserver -etcd $(BIN)/etcd $(BENCH_MACHINES_FLAGS)
