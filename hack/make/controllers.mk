# Controller manager: schedulers, pool health, ephemeral resources, IPAM, quota (docs/controllers.md).
.PHONY: test-controllers bench-scheduler

# Integration tests of every controller on a real ferrite-apiserver with an embedded etcd.
test-controllers:
	$(GO) test -count=1 -timeout 10m ./controllers/...

# Scheduler throughput in one in-process ferrite-apiserver, per kind: 100 machine pools and
# 10,000 machines, then 10 volume pools and 100,000 volumes. Phases: (1) ceiling, the apiserver's
# raw create rate with no controller manager (volumes: 20,000 at most), deleted before any
# manager starts; (2) backlog, pools and N objects created with no manager, then the manager
# starts: binds/s = N / (manager start to last object seen bound), next to the ceiling;
# (3) streaming, more objects created with the manager running: creates/s, bound/s and p50/p99
# create-to-bound; (4) the largest pool object's bytes (protobuf as stored in etcd, and JSON) and
# over-committed pools (the only failure). BENCH_SCHEDULER_FLAGS passes e.g. -kinds, -workers,
# -clients or -manager-qps.
bench-scheduler:
	$(GO) run ./hack/bench/scheduler -kinds machines,volumes -pools 100 -machines 10000 -volume-pools 10 -volumes 100000 $(BENCH_SCHEDULER_FLAGS)
