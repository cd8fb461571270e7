#!/usr/bin/env bash
# gofmt, go vet and staticcheck over the module (generated code included in vet and
# staticcheck, excluded from gofmt since the generators own its formatting).
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
go vet ./...
"$GOBIN/staticcheck" ./...
echo "lint clean"
