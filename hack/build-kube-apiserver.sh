#!/usr/bin/env bash
# Builds a real kube-apiserver and kube-controller-manager (k8s.io/kubernetes, both pinned by
# hack/tools/kube-apiserver/go.mod, so always the same version) and etcd
# (go.etcd.io/etcd/server/v3, pinned in go.mod) into bin/. The first build compiles Kubernetes
# and takes about ten minutes on two cores; kube-controller-manager shares most packages with
# kube-apiserver and adds a few minutes; later builds reuse the Go build cache, and a binary
# newer than its sources is not rebuilt at all.
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

# build NAME PACKAGE: builds the main package PACKAGE of the tool module into bin/NAME unless
# bin/NAME is newer than the module's go.mod, go.sum and the package's main.go.
build() {
  local name=$1 package=$2 out="$BIN/$1"
  if [ -x "$out" ] && [ "$out" -nt "$TOOL/go.mod" ] && [ "$out" -nt "$TOOL/go.sum" ] && [ "$out" -nt "$TOOL/$package/main.go" ]; then
    return 0
  fi
  echo ">> building $name $VERSION into bin/$name"
  echo "   (a cold build compiles Kubernetes: about 10 minutes on 2 cores; progress below)"
  local ldflags="-X k8s.io/component-base/version.gitVersion=$VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37"
  local start
  start=$(date +%s)
  local log="$BIN/.$name.build.log"
  # -v names each package compiled (cached ones are not named), which gives the progress.
  if ! (cd "$TOOL" && go build -v -ldflags "$ldflags" -o "$out" "./$package" 2>&1) | tee "$log" | awk -v start="$start" '
    { n++; if (n % 200 == 0) { printf "   ... %d packages compiled (%ds)\n", n, systime() - start; fflush() } }
    END { printf "   %d packages compiled\n", n }'; then
    echo ">> building $name failed; the end of $log:" >&2
    tail -30 "$log" >&2
    exit 1
  fi
  touch "$out"
  echo ">> $name built in $(( $(date +%s) - start ))s"
}

build kube-apiserver .
build kube-controller-manager kube-controller-manager
