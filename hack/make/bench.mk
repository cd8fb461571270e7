# API server benchmark and crash test (docs/performance.md). Both run ferrite-apiserver and
# etcd as separate processes on loopback.
.PHONY: bench-api e2e-crash api-etcd

# bin/etcd from go.etcd.io/etcd/server/v3 as pinned in go.mod (seconds when cached).
api-etcd:
	@if [ ! -x $(BIN)/etcd ] || [ go.mod -nt $(BIN)/etcd ]; then \
		echo ">> building etcd into bin/etcd"; $(GO) build -o $(BIN)/etcd go.etcd.io/etcd/server/v3; fi

# Creates per second and latency (protobuf and JSON) next to the etcd transaction ceiling
# measured in the same run, apiserver CPU per create, creates through two apiservers against
# one (-replicas-count 0 skips them), LIST and watch figures, memory (RSS and live heap) with
# 100,000 Machines stored, then GETs, server-side apply against create, a LIST of 50,000 and
# the watch fan-out to 10/100/1,000 pool watchers and 100 unfiltered ones (-get-count,
# -apply-count, -list-large, -fanout-events 0 skip them). About 5 minutes on 2 idle cores,
# 10-15 on busy ones; prints a table, never fails on a number.
# BENCH_API_FLAGS passes flags (see `go run ./hack/bench/api -h`), for example
# BENCH_API_FLAGS="-profile /tmp/apiserver.pprof".
bench-api: build api-etcd
	$(GO) build -o $(BIN)/bench-api ./hack/bench/api
	$(BIN)/bench-api -apiserver $(BIN)/ferrite-apiserver -etcd $(BIN)/etcd $(BENCH_API_FLAGS)

# 10,000 Machine creates while ferrite-apiserver is killed with SIGKILL and restarted twice:
# every acknowledged create is in etcd, none is half-written, retries never duplicate.
e2e-crash: build api-etcd
	FERRITE_APISERVER=$(BIN)/ferrite-apiserver FERRITE_ETCD=$(BIN)/etcd \
		$(GO) test -tags e2e -count=1 -v -timeout 15m ./test/e2e/crash/...
