#!/usr/bin/env bash
# Builds a real kube-apiserver (k8s.io/kubernetes, pinned in hack/tools/kube-apiserver/go.mod)
# and etcd (go.etcd.io/etcd/server/v3, pinned in go.mod) into bin/. The first build compiles
# Kubernetes and takes about ten minutes on two cores; later builds reuse the Go build cache.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN="$ROOT/bin"
mkdir -p "$BIN"
TOOL="$ROOT/hack/tools/kube-apiserver"
VERSION=v1.37.1

if [ ! -x "$BIN/etcd" ] || [ "$ROOT/go.mod" -nt "$BIN/etcd" ]; then
  echo ">> building etcd into bin/etcd"
  (cd "$ROOT" && go build -o "$BIN/etcd" go.etcd.io/etcd/server/v3)
fi

if [ -x "$BIN/kube-apiserver" ] && [ "$BIN/kube-apiserver" -nt "$TOOL/go.mod" ] && [ "$BIN/kube-apiserver" -nt "$TOOL/main.go" ]; then
  exit 0
fi
echo ">> building kube-apiserver $VERSION into bin/kube-apiserver"
echo "   (a cold build compiles Kubernetes: about 10 minutes on 2 cores; progress below)"
ldflags="-X k8s.io/component-base/version.gitVersion=$VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37"
start=$(date +%s)
(cd "$TOOL" && go build -v -ldflags "$ldflags" -o "$BIN/kube-apiserver" . 2>&1) | awk -v start="$start" '
  { n++; if (n % 200 == 0) { printf "   ... %d packages compiled (%ds)\n", n, systime() - start; fflush() } }
  END { printf "   %d packages compiled\n", n }'
test -x "$BIN/kube-apiserver"
echo ">> kube-apiserver built in $(( $(date +%s) - start ))s"
