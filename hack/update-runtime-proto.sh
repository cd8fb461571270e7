#!/usr/bin/env bash
# Generates the Go code of the runtime interfaces (every .proto under poollet/runtime, a buf module:
# poollet/runtime/buf.yaml) with buf as the compiler and protoc-gen-go and protoc-gen-go-grpc as
# plugins, all built from the Go module proxy at pinned versions into bin/tools. Nothing else is
# needed: no protoc, no network beyond the module proxy. hack/update-codegen.sh calls it.
#
#   hack/update-runtime-proto.sh                    regenerate the *.pb.go files in place
#   hack/update-runtime-proto.sh --verify           fail unless the protos pass 'buf lint', are wire
#                                                   and source compatible with the release baseline
#                                                   ('buf breaking'), and the committed *.pb.go are
#                                                   exactly what a fresh run generates
#   hack/update-runtime-proto.sh --update-baseline  record the current protos as the released API
#                                                   (poollet/runtime/baseline.binpb); a release step,
#                                                   never part of 'make generate'
#
# The first run builds buf (about 6 minutes with cold caches on two cores), later runs take about
# a second. Running it twice gives no diff.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
MODULE_DIR=poollet/runtime
BASELINE=$MODULE_DIR/baseline.binpb
export GOBIN="${GOBIN:-$ROOT/bin/tools}"
mkdir -p "$GOBIN"

# Pinned generator versions. protoc-gen-go follows google.golang.org/protobuf in go.mod, the
# runtime the generated code is compiled against (generator and runtime move in lockstep).
BUF_VERSION=v1.75.0
PROTOC_GEN_GO_GRPC_VERSION=v1.6.1
PROTOC_GEN_GO_VERSION=$(go list -m -f '{{.Version}}' google.golang.org/protobuf)

mode=generate
case "${1:-}" in
  "") ;;
  --verify) mode=verify ;;
  --update-baseline) mode=baseline ;;
  *)
    echo "usage: $0 [--verify | --update-baseline]" >&2
    exit 2
    ;;
esac

# have_tool BINARY MODULE VERSION succeeds when $GOBIN/BINARY was built from MODULE@VERSION.
have_tool() {
  [[ -x "$GOBIN/$1" ]] && go version -m "$GOBIN/$1" 2>/dev/null | awk -v m="$2" -v v="$3" \
    '$1 == "mod" && $2 == m && $3 == v { found = 1 } END { exit !found }'
}

# install_tool BINARY PACKAGE MODULE VERSION builds PACKAGE@VERSION into $GOBIN unless it is there.
install_tool() {
  if ! have_tool "$1" "$3" "$4"; then
    echo "   installing $2@$4"
    # @version builds with the tool's own go.mod and leaves ours untouched.
    GOFLAGS= go install "$2@$4"
  fi
}

install_tool buf github.com/bufbuild/buf/cmd/buf github.com/bufbuild/buf "$BUF_VERSION"
install_tool protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/protobuf "$PROTOC_GEN_GO_VERSION"
install_tool protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"
BUF="$GOBIN/buf"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

if [[ $mode == baseline ]]; then
  # Descriptors only: comments do not matter to compatibility, and leaving them out keeps the
  # baseline from changing when only documentation does.
  (cd "$MODULE_DIR" && "$BUF" build --exclude-source-info -o "$ROOT/$BASELINE")
  echo "recorded the released runtime API in $BASELINE; commit it with the release"
  exit 0
fi

# generate_into DIR writes every generated file of the module into DIR, by path relative to the
# module (machine/v1alpha1/api.pb.go).
generate_into() {
  local template
  template=$(
    cat <<EOF
{"version": "v2", "plugins": [
  {"local": "$GOBIN/protoc-gen-go", "out": "$1", "opt": ["paths=source_relative"]},
  {"local": "$GOBIN/protoc-gen-go-grpc", "out": "$1", "opt": ["paths=source_relative"]}
]}
EOF
  )
  (cd "$MODULE_DIR" && "$BUF" generate --template "$template")
}

# committed_into DIR copies the committed generated files of the module into DIR.
committed_into() {
  (cd "$MODULE_DIR" && find . -name '*.pb.go' -print0 | xargs -0 -r cp --parents -t "$1")
}

mkdir -p "$TMP/fresh" "$TMP/committed"
generate_into "$TMP/fresh"

if [[ $mode == generate ]]; then
  # Replace every generated file, so that the output of a removed .proto goes too.
  (cd "$MODULE_DIR" && find . -name '*.pb.go' -delete)
  (cd "$TMP/fresh" && find . -name '*.pb.go' -print0 | xargs -0 -r cp --parents -t "$ROOT/$MODULE_DIR")
  exit 0
fi

status=0
echo ">> runtime protos: buf lint"
if ! (cd "$MODULE_DIR" && "$BUF" lint); then
  echo "the runtime protos break the lint rules of $MODULE_DIR/buf.yaml" >&2
  status=1
fi

echo ">> runtime protos: buf breaking against $BASELINE"
if [[ ! -f $BASELINE ]]; then
  echo "$BASELINE is missing: record the released API with '$0 --update-baseline'" >&2
  status=1
elif ! (cd "$MODULE_DIR" && "$BUF" breaking --against "$ROOT/$BASELINE"); then
  cat >&2 <<EOF
the runtime protos are incompatible with the last release ($BASELINE).
Never renumber, retype or reuse a field or enum value: add new numbers, and put the numbers and
names of removed ones into a 'reserved' statement. See docs/runtime.md, "Wire compatibility".
EOF
  status=1
fi

echo ">> runtime protos: generated code"
committed_into "$TMP/committed"
if ! diff -ruN "$TMP/committed" "$TMP/fresh" >"$TMP/diff"; then
  echo "the generated runtime code under $MODULE_DIR is out of date; run 'make generate'. Difference:" >&2
  head -50 "$TMP/diff" >&2
  status=1
fi
exit $status
