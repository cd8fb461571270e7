#!/usr/bin/env bash
# Stops what hack/libvirt-up.sh started (by the pids it recorded) and restores /dev/kvm's mode.
# Domains are left defined (they are libvirt's state, in /etc/libvirt/qemu); running ones stop
# with libvirtd's QEMU processes only when DESTROY_PREFIX names them: every domain whose name
# starts with it is destroyed and undefined first (e.g. DESTROY_PREFIX=ferrite-).
set -uo pipefail
LV_STATE=${LV_STATE:-/tmp/ferrite-libvirt}
URI=qemu:///system

if [[ -n "${DESTROY_PREFIX:-}" ]] && virsh -q -c "$URI" version >/dev/null 2>&1; then
  for d in $(virsh -q -c "$URI" list --all --name); do
    case "$d" in "$DESTROY_PREFIX"*)
      virsh -q -c "$URI" destroy "$d" >/dev/null 2>&1
      virsh -q -c "$URI" undefine "$d" --nvram >/dev/null 2>&1 || virsh -q -c "$URI" undefine "$d" >/dev/null 2>&1
      echo "libvirt-down: removed domain $d";;
    esac
  done
fi
for n in libvirtd virtlogd; do
  f="$LV_STATE/$n.pid"
  [[ -f "$f" ]] || continue
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    echo "libvirt-down: stopped $n ($pid)"
  fi
  rm -f "$f"
done
if [[ -f "$LV_STATE/dev-kvm-orig-mode" && -e /dev/kvm ]]; then
  chmod "$(cat "$LV_STATE/dev-kvm-orig-mode")" /dev/kvm && rm -f "$LV_STATE/dev-kvm-orig-mode"
fi
