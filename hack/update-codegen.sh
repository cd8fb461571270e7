#!/usr/bin/env bash
# Regenerates everything under generated/ and the zz_generated.* files in apis/ with the
# generators pinned by go.mod (k8s.io/code-generator, k8s.io/kube-openapi).
# OUTPUT_ROOT redirects the output (hack/verify-codegen.sh generates into a copy of the tree).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
MODULE=github.com/ferrite-dev/ferrite
BOILERPLATE="$ROOT/hack/boilerplate.go.txt"
export GOBIN="$ROOT/bin/tools"
mkdir -p "$GOBIN"

# go list -f on a package (not -m) downloads the module on a fresh machine.
CODEGEN_PKG=$(go list -f '{{.Module.Dir}}' k8s.io/code-generator/cmd/client-gen)
# shellcheck source=/dev/null
source "$CODEGEN_PKG/kube_codegen.sh"

echo ">> deepcopy, defaulters, conversions"
kube::codegen::gen_helpers --boilerplate "$BOILERPLATE" "$ROOT/apis"

echo ">> protobuf"
"$ROOT/hack/update-protobuf.sh"

# The DPDK fast-path gRPC service (protoc is installed by update-protobuf.sh above).
echo ">> fast-path gRPC"
"$ROOT/hack/net/generate-proto.sh"

# The machine runtime interface (poollet/runtime): buf, protoc-gen-go and protoc-gen-go-grpc.
echo ">> runtime gRPC"
"$ROOT/hack/update-runtime-proto.sh"

echo ">> openapi"
kube::codegen::gen_openapi \
  --output-dir "$ROOT/generated/openapi" \
  --output-pkg "$MODULE/generated/openapi" \
  --extra-pkgs k8s.io/api/core/v1 \
  --output-model-name-file zz_generated.model_name.go \
  --report-filename "$ROOT/hack/api-violations.list" \
  --update-report \
  --boilerplate "$BOILERPLATE" \
  "$ROOT/apis"

echo ">> clientset, listers, informers, apply configurations"
core=k8s.io/client-go/applyconfigurations/core/v1
externals="k8s.io/api/core/v1.Toleration:$core,k8s.io/api/core/v1.Taint:$core,k8s.io/api/core/v1.LocalObjectReference:$core"
kube::codegen::gen_client \
  --with-watch \
  --with-applyconfig \
  --applyconfig-externals "$externals" \
  --prefers-protobuf \
  --output-dir "$ROOT/generated" \
  --output-pkg "$MODULE/generated" \
  --boilerplate "$BOILERPLATE" \
  "$ROOT/apis"
