#!/usr/bin/env bash
# guest-image.sh [--dir DIR] [--push REF]: build Ferrite's test guest once into DIR (default
# .ferrite/guest in the repository) and, with --push, push it as a Ferrite image to REF with
# ferrite-registry (plain HTTP when REF's host is 127.0.0.1 or localhost).
#
# A build is kept while the scripts that made it are unchanged (a stamp holds their sha256).
# Set FERRITE_REGISTRY to a built ferrite-registry binary to skip `go run`.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=$repo/.ferrite/guest
ref=
while [ $# -gt 0 ]; do
  case $1 in
  --dir) dir=$2; shift 2 ;;
  --push) ref=$2; shift 2 ;;
  *) echo "usage: guest-image.sh [--dir DIR] [--push REF]" >&2; exit 2 ;;
  esac
done

stamp=$(cat "$repo/hack/make-guest-image.sh" "$repo"/hack/guest/init "$repo"/hack/guest/*.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$dir/stamp" 2>/dev/null)" != "$stamp" ] || ! [ -s "$dir/vmlinuz" ] || ! [ -s "$dir/initrd.gz" ] || ! [ -s "$dir/root.raw" ] || ! [ -s "$dir/cmdline" ]; then
  start=$(date +%s)
  "$repo/hack/make-guest-image.sh" "$dir"
  echo "$stamp" > "$dir/stamp"
  echo "guest built in $(($(date +%s) - start)) s"
fi

if [ -n "$ref" ]; then
  plain=()
  case $ref in 127.0.0.1:* | localhost:* | \[::1\]:*) plain=(--plain-http) ;; esac
  if [ -n "${FERRITE_REGISTRY:-}" ]; then
    registry=("$FERRITE_REGISTRY")
  else
    registry=(go run "$repo/cmd/ferrite-registry")
  fi
  (cd "$repo" && "${registry[@]}" push "${plain[@]}" --rootdisk "$dir/root.raw" --kernel "$dir/vmlinuz" \
    --initramfs "$dir/initrd.gz" --cmdline "$(cat "$dir/cmdline")" "$ref")
fi
