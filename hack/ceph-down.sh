#!/usr/bin/env bash
# Stops the cluster hack/ceph-up.sh started: kills each daemon by its recorded pid (OSD, mgr,
# then mon), waits for it to exit, then removes $CEPH_BASE (KEEP=1 keeps it, with the logs).
set -uo pipefail
CEPH_BASE=${CEPH_BASE:-/tmp/ferrite-ceph}
KEEP=${KEEP:-0}   # KEEP=1 keeps the directory (logs) after stopping

for f in "$CEPH_BASE"/pids/osd.* "$CEPH_BASE"/pids/mgr.* "$CEPH_BASE"/pids/mon.*; do
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
    echo "stopped $(basename "$f") pid $pid"
  fi
  rm -f "$f"
done
if [ "$KEEP" != 1 ]; then rm -rf "$CEPH_BASE"; fi
