#!/usr/bin/env bash
# Starts libvirtd and virtlogd for qemu:///system without systemd (as root, Debian/Ubuntu), for
# libvirt-provider's tests and local runs. Idempotent: a libvirtd that answers already is kept.
#
#   - installs what is missing (libvirt-daemon, the QEMU driver, qemu-system-x86, qemu-utils,
#     libvirt-clients, qemu-block-extra for RBD disks) with apt-get, never libvirt-daemon-system
#     (it would replace the init system);
#   - creates the libvirt-qemu user and group the Debian QEMU driver runs guests as;
#   - opens /dev/kvm to that user when it exists (otherwise libvirt re-probes QEMU on every call),
#     remembering its mode for libvirt-down.sh;
#   - starts virtlogd (which writes the guests' console logs) and libvirtd, and primes QEMU's
#     capability cache.
#
# Env: LV_STATE (default /tmp/ferrite-libvirt) holds pid files and logs. Stop with
# hack/libvirt-down.sh.
set -euo pipefail
LV_STATE=${LV_STATE:-/tmp/ferrite-libvirt}
URI=qemu:///system

if [[ $(id -u) != 0 ]]; then
  echo "libvirt-up: must run as root (it starts the system libvirtd)" >&2
  exit 1
fi

# 1. Packages.
need=()
[[ -x /usr/sbin/libvirtd ]] || need+=(libvirt-daemon libvirt-daemon-driver-qemu)
[[ -x /usr/sbin/virtlogd ]] || need+=(libvirt-daemon)
[[ -x /usr/bin/qemu-system-x86_64 ]] || need+=(qemu-system-x86)
command -v qemu-img >/dev/null || need+=(qemu-utils)
# QEMU's RBD driver (network disks on Ceph) is a module of its own package.
ls /usr/lib/x86_64-linux-gnu/qemu/block-rbd.so >/dev/null 2>&1 || need+=(qemu-block-extra)
command -v virsh >/dev/null || need+=(libvirt-clients)
ls /usr/lib/x86_64-linux-gnu/libvirt.so.0 >/dev/null 2>&1 || need+=(libvirt0)
if ((${#need[@]})); then
  echo "libvirt-up: installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
fi

# 2. The user and group the QEMU driver insists on (libvirt-daemon-system would create them).
getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
getent passwd libvirt-qemu >/dev/null || useradd --system --no-create-home \
  --home-dir /var/lib/libvirt --shell /usr/sbin/nologin -g libvirt-qemu libvirt-qemu

mkdir -p "$LV_STATE"
if [[ -e /dev/kvm ]]; then
  [[ -f "$LV_STATE/dev-kvm-orig-mode" ]] || stat -c '%a' /dev/kvm >"$LV_STATE/dev-kvm-orig-mode"
  chmod 0666 /dev/kvm
fi

# 3. Daemons, unless one answers already (started by this script or otherwise).
if virsh -q -c "$URI" version >/dev/null 2>&1; then
  echo "libvirt-up: libvirtd already answers on $URI"
  exit 0
fi
if ! [[ -S /run/libvirt/virtlogd-sock ]] || ! pgrep -x virtlogd >/dev/null; then
  rm -f /run/libvirt/virtlogd-sock
  setsid /usr/sbin/virtlogd </dev/null >"$LV_STATE/virtlogd.out" 2>&1 &
  echo $! >"$LV_STATE/virtlogd.pid"
  for _ in $(seq 1 100); do [[ -S /run/libvirt/virtlogd-sock ]] && break; sleep 0.1; done
fi
LIBVIRT_LOG_OUTPUTS="3:file:$LV_STATE/libvirtd.log" \
  setsid /usr/sbin/libvirtd </dev/null >"$LV_STATE/libvirtd.out" 2>&1 &
echo $! >"$LV_STATE/libvirtd.pid"
for _ in $(seq 1 150); do
  virsh -q -c "$URI" version >/dev/null 2>&1 && break
  sleep 0.2
done
if ! virsh -q -c "$URI" version >/dev/null 2>&1; then
  echo "libvirt-up: libvirtd did not come up; see $LV_STATE/libvirtd.out" >&2
  exit 1
fi
# The first capability probe of QEMU is slow; do it now rather than in the first test.
virsh -q -c "$URI" domcapabilities --virttype qemu --arch x86_64 >/dev/null
echo "libvirt-up: libvirtd $(cat "$LV_STATE/libvirtd.pid") and virtlogd up on $URI"
