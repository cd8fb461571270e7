#!/usr/bin/env bash
# Installs the Debian packages named on the command line that are missing. It does nothing when
# they are all present, and only says what is missing when it cannot install (not root, no
# apt-get): callers then skip what needs them.
set -euo pipefail
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "missing Debian packages ${missing[*]}; what needs them is skipped (install them, or run as root on Debian)" >&2
  exit 0
fi
echo ">> installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
