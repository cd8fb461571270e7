#!/usr/bin/env bash
# Builds bin/kubectl from k8s.io/kubectl at the version pinned in hack/tools/kubectl/go.mod
# (a module of its own, so the main module's go build/test/vet ./... never descend into it).
# Skips the build when bin/kubectl is newer than the module's files; FORCE=1 rebuilds.
# Uses the ordinary Go build cache, so a rebuild after a cold one takes seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOD="$ROOT/hack/tools/kubectl"
OUT="${KUBECTL_OUT:-$ROOT/bin/kubectl}"
GO="${GO:-go}"

# The version the binary reports; keep it equal to the k8s.io/kubectl requirement in go.mod.
KUBE_VERSION="v$(awk '$1 == "k8s.io/kubectl" { sub(/^v0\./, "1.", $2); print $2 }' "$MOD/go.mod")"
if [[ ! "$KUBE_VERSION" =~ ^v1\.([0-9]+)\.[0-9]+$ ]]; then
  echo "build-kubectl: cannot derive the version from $MOD/go.mod (got '$KUBE_VERSION')" >&2
  exit 1
fi
KUBE_MINOR="${BASH_REMATCH[1]}"

if [[ -z "${FORCE:-}" && -x "$OUT" ]]; then
  stale=0
  for f in "$MOD"/go.mod "$MOD"/go.sum "$MOD"/*.go "${BASH_SOURCE[0]}"; do
    if [[ "$f" -nt "$OUT" ]]; then stale=1; break; fi
  done
  if [[ $stale == 0 ]]; then
    echo "build-kubectl: $OUT is up to date ($KUBE_VERSION)"
    exit 0
  fi
fi

# Both version packages are stamped: component-base/version is what `kubectl version` prints,
# client-go/pkg/version is what goes into the User-Agent.
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$KUBE_MINOR"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

mkdir -p "$(dirname "$OUT")"
start=$SECONDS
# GOWORK=off: a go.work elsewhere must not pull this module into another build. Same build
# settings as the main module (cgo on, no -trimpath), so the k8s.io packages both use are
# shared in the build cache.
(cd "$MOD" && GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" "$GO" build -ldflags "$ldflags" -o "$OUT.tmp" .)
mv -f "$OUT.tmp" "$OUT"
echo "build-kubectl: built $OUT ($KUBE_VERSION) in $((SECONDS - start))s"
