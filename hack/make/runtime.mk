# The machine runtime interface (poollet/runtime): its own generation step and the release step
# that records the released API for the compatibility check of 'make verify'.
.PHONY: runtime-proto runtime-proto-baseline

# Regenerates only the runtime's Go code (part of 'make generate').
runtime-proto:
	hack/update-runtime-proto.sh

# Release step: records the current protos as the released API (poollet/runtime/baseline.binpb).
runtime-proto-baseline:
	hack/update-runtime-proto.sh --update-baseline
