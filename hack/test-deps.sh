#!/usr/bin/env bash
# Installs the Debian packages that `make test` uses beyond Go: libvirt's library and test
# driver (provider/libvirt's unit tests), qemu-img (provider/disk), QEMU (the guest boot check),
# genisoimage (provider/nocloud's check) and what hack/make-guest-image.sh needs. It does nothing
# when they are present, and only says what is missing when it cannot install (not root, no apt).
set -euo pipefail
packages=(libvirt0 libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils genisoimage busybox-static cpio kmod e2fsprogs)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "test-deps: missing ${missing[*]}; the tests that need them skip (install them, or run as root on Debian)" >&2
  exit 0
fi
echo ">> installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
