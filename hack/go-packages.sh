#!/usr/bin/env bash
# Lists the Go packages matching the patterns given (default ./...) that this machine can build.
# The Ceph provider links librados and librbd with cgo (github.com/ceph/go-ceph): without their
# headers (Debian librados-dev and librbd-dev; hack/test-deps.sh and hack/ceph-up.sh install
# them) its packages are left out, with a note on stderr, so that everything else still builds
# and tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
patterns=("$@")
((${#patterns[@]})) || patterns=(./...)
if [[ -f /usr/include/rbd/librbd.h && -f /usr/include/rados/librados.h ]]; then
  go list "${patterns[@]}"
  exit 0
fi
# Packages that import go-ceph, directly or through another package.
go list -f '{{.ImportPath}} {{join .Deps " "}}' "${patterns[@]}" | awk '
  / github.com\/ceph\/go-ceph\// { skipped = skipped " " $1; next }
  { print $1 }
  END { if (skipped != "") print "note: leaving out" skipped " (no librados/librbd headers: apt-get install librados-dev librbd-dev)" > "/dev/stderr" }'
