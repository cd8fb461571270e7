#!/usr/bin/env bash
# Installs the Debian packages that `make test` uses beyond Go: libvirt's library and test
# driver (provider/libvirt's unit tests), qemu-img (provider/disk), QEMU (the guest boot check),
# genisoimage (provider/nocloud's check), what hack/make-guest-image.sh needs, and Ceph (the
# headers ceph-provider builds against, and the daemons its tests start with hack/ceph-up.sh),
# and iproute2 and ping for the kernel dataplane's tests in network namespaces.
# Where it cannot install (not root, no apt) it says what is missing and the tests skip.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/install-packages.sh" \
  libvirt0 libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils \
  qemu-block-extra genisoimage busybox-static cpio kmod e2fsprogs \
  librados-dev librbd-dev ceph-mon ceph-osd ceph-mgr ceph-common uuid-runtime bc \
  iproute2 iputils-ping
