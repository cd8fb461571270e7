#!/usr/bin/env bash
# Generates generated.proto and generated.pb.go for every served API package (apis/<group>/<version>
# with a "+k8s:protobuf-gen=package" tag) with k8s.io/code-generator's go-to-protobuf, the way
# Kubernetes generates k8s.io/api: gogo-flavoured marshalers that
# k8s.io/apimachinery/pkg/runtime/serializer/protobuf understands. go-to-protobuf also adds
# `protobuf:"..."` struct tags to the Go types; those edits are part of the output.
#
# Installs what it needs: protoc from Debian's protobuf-compiler (when missing) and, into $GOBIN,
# go-to-protobuf and protoc-gen-gogo at the k8s.io version pinned by go.mod, and goimports (about
# 40 s with cold caches, then about 8 s a run). Running it twice gives no diff.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
MODULE=github.com/ferrite-dev/ferrite
BOILERPLATE="$ROOT/hack/boilerplate.go.txt"
export GOBIN="${GOBIN:-$ROOT/bin/tools}"
mkdir -p "$GOBIN"

# The generator must match the apimachinery our types are served with (k8s.io/* move in lockstep),
# so its version is taken from go.mod; goimports only sorts imports and is pinned here.
CODEGEN_VERSION=$(go list -m -f '{{.Version}}' k8s.io/apimachinery)
GOIMPORTS_VERSION=v0.51.0

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

install_tool go-to-protobuf k8s.io/code-generator/cmd/go-to-protobuf k8s.io/code-generator "$CODEGEN_VERSION"
install_tool protoc-gen-gogo k8s.io/code-generator/cmd/go-to-protobuf/protoc-gen-gogo k8s.io/code-generator "$CODEGEN_VERSION"
install_tool goimports golang.org/x/tools/cmd/goimports golang.org/x/tools "$GOIMPORTS_VERSION"

# protoc: Debian's protobuf-compiler. go-to-protobuf writes proto2 files that any protoc 3.x or
# newer (versions 21 and up are numbered without the leading "3.") compiles; 2.x lacks features
# the gogo plugin protocol relies on.
if ! command -v protoc >/dev/null; then
  echo "   installing protoc (Debian protobuf-compiler)"
  SUDO=""
  if [[ $(id -u) != 0 ]]; then SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends protobuf-compiler >/dev/null
fi
PROTOC_VERSION=$(protoc --version | awk '{print $2}')
if [[ ${PROTOC_VERSION%%.*} -lt 3 ]]; then
  echo "protoc $PROTOC_VERSION is too old for go-to-protobuf (need 3.x or newer)" >&2
  exit 1
fi

# go-to-protobuf resolves .proto imports by Go import path (GOPATH layout): build such a tree
# with symlinks. Our module points at the work tree so that the outputs land in place; the
# imported packages point at the module cache and are only read.
GOGO_VERSION=$(go version -m "$GOBIN/protoc-gen-gogo" | awk '$1 == "dep" && $2 == "github.com/gogo/protobuf" { print $3 }')
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
GOGO_DIR=$(cd "$TMP" && GOFLAGS= go mod download -json "github.com/gogo/protobuf@$GOGO_VERSION" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [[ ! -d $GOGO_DIR ]]; then
  echo "cannot find github.com/gogo/protobuf@$GOGO_VERSION in the module cache" >&2
  exit 1
fi
SRC="$TMP/src"
mkdir -p "$SRC/github.com/ferrite-dev" "$SRC/github.com/gogo" "$SRC/k8s.io"
ln -s "$ROOT" "$SRC/$MODULE"
ln -s "$GOGO_DIR" "$SRC/github.com/gogo/protobuf"
# 'go list' of a package (unlike 'go list -m') downloads its module into a cold module cache.
ln -s "$(go list -f '{{.Module.Dir}}' k8s.io/apimachinery/pkg/runtime)" "$SRC/k8s.io/apimachinery"
ln -s "$(go list -f '{{.Module.Dir}}' k8s.io/api/core/v1)" "$SRC/k8s.io/api"

# Our packages: every Go package under apis/ that asks for protobuf.
# The generated code adds these methods to every type; a struct field of the same name makes the
# package uncompilable, and protobuf cannot express it without renaming the field (an API change).
# Such packages are skipped with a warning (and their stale outputs removed) so the tree builds.
RESERVED='Size|String|Reset|Marshal|MarshalTo|MarshalToSizedBuffer|Unmarshal'
packages=()
skipped=0
while IFS= read -r dir; do
  sources=()
  for f in "$dir"/*.go; do
    case "$(basename "$f")" in
      zz_generated.* | generated.pb.go | *_test.go) ;;
      *) sources+=("$f") ;;
    esac
  done
  if [[ ${#sources[@]} -gt 0 ]] && clashes=$(grep -nE "^[[:space:]]+($RESERVED)[[:space:]]+[^=:[:space:]]" "${sources[@]}"); then
    echo "WARNING: skipping $dir: these fields collide with the methods protobuf generates;" >&2
    echo "         rename the Go field (its json name can stay) to get protobuf for the package:" >&2
    sed 's/^/           /' <<<"$clashes" >&2
    rm -f "$dir/generated.proto" "$dir/generated.pb.go"
    skipped=$((skipped + 1))
    continue
  fi
  packages+=("$MODULE/$dir")
done < <(grep -l -- '^// +k8s:protobuf-gen=package' apis/*/*/*.go | xargs -n1 dirname | sort -u)
if [[ ${#packages[@]} == 0 ]]; then
  echo "no package to generate protobuf for under apis/ ($skipped skipped)" >&2
  exit 1
fi

# Packages our types use, whose .proto files already exist: the leading "-" makes go-to-protobuf
# reference them without regenerating them.
external=(
  k8s.io/apimachinery/pkg/util/intstr
  k8s.io/apimachinery/pkg/api/resource
  k8s.io/apimachinery/pkg/runtime/schema
  k8s.io/apimachinery/pkg/runtime
  k8s.io/apimachinery/pkg/apis/meta/v1
  k8s.io/api/core/v1
)

# protoc finds protoc-gen-gogo, and go-to-protobuf finds goimports, on PATH.
# $GOGO_DIR/protobuf holds google/protobuf/descriptor.proto, which gogo.proto imports.
PATH="$GOBIN:$PATH" "$GOBIN/go-to-protobuf" \
  --go-header-file "$BOILERPLATE" \
  --packages "$(IFS=,; echo "${packages[*]}")" \
  --apimachinery-packages "$(IFS=,; echo "${external[*]/#/-}")" \
  --output-dir "$SRC" \
  --proto-import "$GOGO_DIR/protobuf"
