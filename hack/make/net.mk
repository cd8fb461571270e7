# Overlay networking: route reflector, netagent, dataplanes (docs/net.md).
.PHONY: e2e-net bench-routes net-generate

# End-to-end: agents and peered reflectors (TCP-MD5) as processes in network namespaces (ping,
# ECMP, reflector loss and restart, SIGHUP reloads), a rogue speaker refused and quarantined,
# and interop with Debian's gobgpd and FRR. Needs root; installs its own packages.
e2e-net:
	hack/net/install-deps.sh
	FERRITE_E2E_NET=1 $(GO) test -count=1 -v -timeout 20m -run 'TestOverlay|TestInterop' ./test/e2e/net/

# 2 reflectors, 100 agents, 1,000 routes each; prints convergence time, reflector memory and the
# recovery from a restart of every reflector next to bare GoBGP route reflection (the ceiling).
# About 12 minutes on two cores; FERRITE_BENCH_FULL=1 adds the runs without graceful restart
# (about 25). FERRITE_BENCH_AGENTS, _ROUTES_PER_AGENT and _VNIS change the load.
bench-routes:
	hack/net/install-deps.sh
	FERRITE_E2E_NET=1 FERRITE_BENCH_ROUTES=1 $(GO) test -count=1 -v -timeout 120m -run TestBenchRoutes ./test/e2e/net/

# Regenerates the dpdk dataplane's gRPC code from its .proto.
net-generate:
	hack/net/generate-proto.sh
