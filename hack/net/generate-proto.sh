#!/usr/bin/env bash
# Regenerates the dpdk dataplane's gRPC code (net/dataplane/dpdk/fastpathpb) from its .proto with
# pinned generators. With --verify, fails when the committed code differs from a fresh run.
set -euo pipefail
cd "$(dirname "$0")/../.."
GEN_GO_GRPC_VERSION=v1.6.1
GEN_GO_VERSION=$(go list -m -f '{{.Version}}' google.golang.org/protobuf)
dir=net/dataplane/dpdk/fastpathpb

command -v protoc >/dev/null || {
  echo "protoc missing: apt-get install -y protobuf-compiler" >&2
  exit 1
}
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
GOBIN=$tools go install "google.golang.org/protobuf/cmd/protoc-gen-go@$GEN_GO_VERSION"
GOBIN=$tools go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$GEN_GO_GRPC_VERSION"

out=$dir
if [ "${1:-}" = --verify ]; then
  out=$tools/out
  mkdir -p "$out"
fi
PATH=$tools:$PATH protoc -I "$dir" \
  --go_out="$out" --go_opt=paths=source_relative \
  --go-grpc_out="$out" --go-grpc_opt=paths=source_relative \
  "$dir"/fastpath.proto
if [ "${1:-}" = --verify ]; then
  for f in fastpath.pb.go fastpath_grpc.pb.go; do
    diff -u "$dir/$f" "$out/$f" || {
      echo "$dir/$f is stale: run hack/net/generate-proto.sh" >&2
      exit 1
    }
  done
fi
