# Controller manager: schedulers, pool health, ephemeral resources, IPAM, quota (docs/controllers.md).
.PHONY: test-controllers bench-scheduler

# Integration tests of every controller on a real ferrite-apiserver with an embedded etcd.
test-controllers:
	$(GO) test -count=1 -timeout 10m ./controllers/...

# 100 pools, 10,000 machines created as fast as the apiserver takes them: machines bound per
# second and p50/p99 create-to-bound time, next to the raw create rate of the same apiserver
# measured in the same run (the ceiling). BENCH_SCHEDULER_FLAGS passes e.g. -workers or -clients.
bench-scheduler:
	$(GO) run ./hack/bench/scheduler -pools 100 -machines 10000 $(BENCH_SCHEDULER_FLAGS)
