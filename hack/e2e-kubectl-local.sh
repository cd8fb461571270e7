#!/usr/bin/env bash
# Runs the kubectl end-to-end suite against the control plane `make run` starts (kube-apiserver
# with ferrite-apiserver behind APIServices), on a temporary data directory.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DATA=$(mktemp -d)
LOG="$DATA/ferrite-local.out"
# Without the local machine pool: this suite is about kubectl, and checks that the samples stay
# unscheduled (test/e2e/machines runs machines).
bin/ferrite-local --data-dir "$DATA" --bin-dir bin --machine-pool=false >"$LOG" 2>&1 &
PID=$!
cleanup() {
  status=$?
  kill -INT "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  if [ "$status" -ne 0 ]; then
    # Keep what explains a failure: the component logs.
    for log in "$DATA"/logs/*.log; do echo "==== $log (last 40 lines)"; tail -40 "$log"; done >&2
  fi
  rm -rf "$DATA"
}
trap cleanup EXIT
for _ in $(seq 1 240); do
  grep -q 'Ferrite is up' "$LOG" && break
  if ! kill -0 "$PID" 2>/dev/null; then cat "$LOG" "$DATA"/logs/*.log >&2 || true; exit 1; fi
  sleep 0.5
done
grep -q 'Ferrite is up' "$LOG" || { echo "the local control plane did not come up:" >&2; cat "$LOG" >&2; exit 1; }
# The APIServices are Available; wait until the aggregator also proxies a request through.
for _ in $(seq 1 60); do
  "$ROOT/bin/kubectl" --kubeconfig "$DATA/kubeconfig" get machines.compute.ferrite.dev -A >/dev/null 2>&1 && break
  sleep 1
done
FERRITE_E2E_KUBECONFIG="$DATA/kubeconfig" KUBECTL="$ROOT/bin/kubectl" \
  go test -tags e2e -count=1 -v -timeout 15m ./test/e2e/kubectl/...
