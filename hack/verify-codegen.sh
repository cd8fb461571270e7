#!/usr/bin/env bash
# Regenerates everything in a copy of the tree and fails if the copy differs from this tree:
# generated code must be exactly what hack/update-codegen.sh produces.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# The runtime protos first (quick): lint, wire compatibility with the last release, generated code.
hack/update-runtime-proto.sh --verify
COPY=$(mktemp -d)
trap 'rm -rf "$COPY"' EXIT
git ls-files --cached --others --exclude-standard -z | xargs -0 cp --parents -t "$COPY"
# Share the generator binaries so the copy does not rebuild them.
mkdir -p "$ROOT/bin/tools" && ln -s "$ROOT/bin" "$COPY/bin"
(cd "$COPY" && hack/update-codegen.sh >/dev/null)
status=0
for dir in apis generated net/dataplane/dpdk/fastpathpb hack/api-violations.list; do
  if ! diff -ruN "$ROOT/$dir" "$COPY/$dir" >/tmp/verify-codegen.diff 2>&1; then
    echo "generated code under $dir is out of date; run 'make generate'. Difference:" >&2
    head -50 /tmp/verify-codegen.diff >&2
    status=1
  fi
done
[ $status -eq 0 ] && echo "generated code is up to date"
exit $status
