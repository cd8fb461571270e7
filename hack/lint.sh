#!/usr/bin/env bash
# gofmt, go vet and staticcheck over the module. Generated code is vetted but not
# staticchecked or gofmt-checked: the generators own it (it uses client-go calls that
# staticcheck reports as deprecated), and it is never edited by hand.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
STATICCHECK_VERSION=v0.8.2
export GOBIN="$ROOT/bin/tools"
if ! "$GOBIN/staticcheck" -version 2>/dev/null | grep -q "${STATICCHECK_VERSION#v}"; then
  go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
unformatted=$(gofmt -l $(git ls-files --cached --others --exclude-standard '*.go' | grep -v '^generated/' | grep -v 'zz_generated' | grep -v 'generated.pb.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2
  echo "$unformatted" >&2
  exit 1
fi
export GOFLAGS=-tags=libvirt_dlopen,pacific
packages=$(hack/go-packages.sh ./...)
# shellcheck disable=SC2086 # one word per package
go vet $packages
# shellcheck disable=SC2086
"$GOBIN/staticcheck" -tags libvirt_dlopen,pacific $(echo "$packages" | grep -v '/generated/')
echo "lint clean"
