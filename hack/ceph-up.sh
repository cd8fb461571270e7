#!/usr/bin/env bash
# Brings up a throw-away single-node Ceph cluster (pacific 16.2.15 on Debian bookworm) on
# loopback, for ceph-provider's tests, `make e2e-volumes` and `make run`: one mon (a), one mgr
# (x, optional), one OSD (memstore by default) and the pool "rbd". Run as root. It installs the
# Ceph packages when they are missing. Stop it with hack/ceph-down.sh.
#
# Env:
#   CEPH_BASE=/tmp/ferrite-ceph   everything lives here: ceph.conf, keyrings, data, logs, pids
#   OBJECTSTORE=memstore|bluestore   WITH_MGR=1|0   AUTH=cephx|none
#   MON_V2_PORT=3300 MON_V1_PORT=6789   (two clusters side by side need their own ports; keep
#   them out of 6800-7300, where OSDs bind theirs)
#   MEMSTORE_BYTES=1073741824  BLUESTORE_BYTES=2147483648
# Prints "CEPH_CONF=$CEPH_BASE/ceph.conf" on success (about 12 s). A cluster that already answers
# at $CEPH_BASE is kept (the script is idempotent); a dead one is removed and made again.
set -euo pipefail

CEPH_BASE=${CEPH_BASE:-/tmp/ferrite-ceph}
OBJECTSTORE=${OBJECTSTORE:-memstore}
WITH_MGR=${WITH_MGR:-1}
AUTH=${AUTH:-cephx}
MON_V2_PORT=${MON_V2_PORT:-3300}
MON_V1_PORT=${MON_V1_PORT:-6789}
MEMSTORE_BYTES=${MEMSTORE_BYTES:-1073741824}
BLUESTORE_BYTES=${BLUESTORE_BYTES:-2147483648}
HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ $(id -u) != 0 ]]; then
  echo "ceph-up: must run as root (it installs and starts Ceph daemons)" >&2
  exit 1
fi

need=()
for p in ceph-mon ceph-osd ceph-mgr ceph-common librados-dev librbd-dev uuid-runtime bc python3; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  echo "ceph-up: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  }
fi

t0=$(date +%s.%N)
ts() { printf '[%6.2fs] %s\n' "$(echo "$(date +%s.%N) - $t0" | bc)" "$*" >&2; }

# A cluster made before: keep it when it answers. A bluestore cluster whose daemons are gone (the
# machine restarted) keeps its data on disk: start its daemons again. A memstore one lost its
# data with its OSD: make it anew.
if [ -e "$CEPH_BASE/ceph.conf" ]; then
  CONF=$CEPH_BASE/ceph.conf
  if timeout 10 ceph -c "$CONF" --connect-timeout 5 osd dump 2>/dev/null | grep -q "^osd.0 up"; then
    echo "CEPH_CONF=$CONF"
    exit 0
  fi
  if [ "$(cat "$CEPH_BASE/objectstore" 2>/dev/null)" = bluestore ] && [ -e "$CEPH_BASE/osd.0/block.file" ]; then
    echo "ceph-up: starting the daemons of the bluestore cluster in $CEPH_BASE again" >&2
    KEEP=1 CEPH_BASE=$CEPH_BASE "$HACK/ceph-down.sh" >/dev/null
    setsid ceph-mon -c "$CONF" -i a -f </dev/null >>"$CEPH_BASE/log/mon.a.out" 2>&1 &
    echo $! > "$CEPH_BASE/pids/mon.a"
    if [ -e "$CEPH_BASE/mgr.x/keyring" ]; then
      setsid ceph-mgr -c "$CONF" -i x -f </dev/null >>"$CEPH_BASE/log/mgr.x.out" 2>&1 &
      echo $! > "$CEPH_BASE/pids/mgr.x"
    fi
    setsid ceph-osd -c "$CONF" -i 0 -f </dev/null >>"$CEPH_BASE/log/osd.0.out" 2>&1 &
    echo $! > "$CEPH_BASE/pids/osd.0"
    for _ in $(seq 1 120); do
      if timeout 10 ceph -c "$CONF" --connect-timeout 5 osd dump 2>/dev/null | grep -q "^osd.0 up"; then
        echo "CEPH_CONF=$CONF"
        exit 0
      fi
      sleep 0.5
    done
    echo "ceph-up: the cluster in $CEPH_BASE did not come back; see $CEPH_BASE/log" >&2
    exit 1
  fi
  echo "ceph-up: $CEPH_BASE holds a cluster that does not answer; making it again" >&2
  CEPH_BASE=$CEPH_BASE "$HACK/ceph-down.sh" >/dev/null
fi
mkdir -p "$CEPH_BASE"/{run,log,mon.a,mgr.x,osd.0,pids}
FSID=$(uuidgen)
CONF=$CEPH_BASE/ceph.conf
echo "$OBJECTSTORE" > "$CEPH_BASE/objectstore"

# The daemons' admin sockets have fixed names; clients keep Ceph's default, one per process, so
# that the providers and the command-line tools never fight over one socket.
cat > "$CONF" <<EOF
[global]
fsid = $FSID
mon initial members = a
mon host = [v2:127.0.0.1:$MON_V2_PORT,v1:127.0.0.1:$MON_V1_PORT]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = $AUTH
auth service required = $AUTH
auth client required = $AUTH
keyring = $CEPH_BASE/\$cluster.\$name.keyring
run dir = $CEPH_BASE/run
pid file = $CEPH_BASE/run/\$cluster-\$name.pid
log file = $CEPH_BASE/log/\$cluster-\$name.log
mon cluster log file = $CEPH_BASE/log/\$cluster.log
crash dir = $CEPH_BASE/crash
log to stderr = false
err to stderr = true
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
mon data avail warn = 1
mon data avail crit = 0
ms bind ipv6 = false

[mon]
admin socket = $CEPH_BASE/run/\$cluster-\$name.asok
mon data = $CEPH_BASE/mon.\$id
keyring = $CEPH_BASE/mon.\$id/keyring

[mgr]
admin socket = $CEPH_BASE/run/\$cluster-\$name.asok
mgr data = $CEPH_BASE/mgr.\$id
keyring = $CEPH_BASE/mgr.\$id/keyring

[osd]
admin socket = $CEPH_BASE/run/\$cluster-\$name.asok
osd data = $CEPH_BASE/osd.\$id
keyring = $CEPH_BASE/osd.\$id/keyring
osd objectstore = $OBJECTSTORE
memstore device bytes = $MEMSTORE_BYTES
bluestore block path = $CEPH_BASE/osd.\$id/block.file
bluestore block size = $BLUESTORE_BYTES
bluestore block create = true
osd max object name len = 256
osd max object namespace len = 64
osd op num threads per shard = 1
osd op num shards = 1
EOF

# Keys (also created with AUTH=none so that the same client code path works).
ceph-authtool --create-keyring "$CEPH_BASE/ceph.mon..keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool --create-keyring "$CEPH_BASE/ceph.client.admin.keyring" --gen-key -n client.admin \
  --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
ceph-authtool "$CEPH_BASE/ceph.mon..keyring" --import-keyring "$CEPH_BASE/ceph.client.admin.keyring" >/dev/null
monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_V2_PORT,v1:127.0.0.1:$MON_V1_PORT]" "$CEPH_BASE/monmap" >/dev/null
ts "keys + monmap"

ceph-mon -c "$CONF" --mkfs -i a --monmap "$CEPH_BASE/monmap" --keyring "$CEPH_BASE/ceph.mon..keyring"
ts "mon mkfs"
setsid ceph-mon -c "$CONF" -i a -f </dev/null >"$CEPH_BASE/log/mon.a.out" 2>&1 &
echo $! > "$CEPH_BASE/pids/mon.a"

C="ceph -c $CONF --connect-timeout 20"
until $C mon stat >/dev/null 2>&1; do
  if ! kill -0 "$(cat "$CEPH_BASE/pids/mon.a")" 2>/dev/null; then
    echo "ceph-up: ceph-mon exited:" >&2
    tail -3 "$CEPH_BASE/log/mon.a.out" >&2
    exit 1
  fi
  sleep 0.5
done
ts "mon up (pid $(cat "$CEPH_BASE/pids/mon.a"))"

if [ "$WITH_MGR" = 1 ]; then
  $C auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' -o "$CEPH_BASE/mgr.x/keyring"
  setsid ceph-mgr -c "$CONF" -i x -f </dev/null >"$CEPH_BASE/log/mgr.x.out" 2>&1 &
  echo $! > "$CEPH_BASE/pids/mgr.x"
  ts "mgr started (pid $(cat "$CEPH_BASE/pids/mgr.x"))"
fi

OSD_UUID=$(uuidgen)
OSD_ID=$($C osd new "$OSD_UUID")
$C auth get-or-create "osd.$OSD_ID" mon 'allow profile osd' mgr 'allow profile osd' osd 'allow *' \
  -o "$CEPH_BASE/osd.$OSD_ID/keyring"
ceph-osd -c "$CONF" -i "$OSD_ID" --mkfs --osd-uuid "$OSD_UUID" >"$CEPH_BASE/log/osd.$OSD_ID.mkfs.out" 2>&1
ts "osd.$OSD_ID mkfs ($OBJECTSTORE)"
setsid ceph-osd -c "$CONF" -i "$OSD_ID" -f </dev/null >"$CEPH_BASE/log/osd.$OSD_ID.out" 2>&1 &
echo $! > "$CEPH_BASE/pids/osd.$OSD_ID"
until $C osd dump 2>/dev/null | grep -q "^osd.$OSD_ID up"; do sleep 0.5; done
ts "osd.$OSD_ID up (pid $(cat "$CEPH_BASE/pids/osd.$OSD_ID"))"

$C osd pool create rbd 8 8 >/dev/null 2>&1
$C osd pool set rbd size 1 --yes-i-really-mean-it >/dev/null 2>&1 || true
rbd -c "$CONF" pool init rbd
ts "pool rbd created + rbd pool init"

# wait until all PGs are active (needs the mgr for pg stats; without mgr just probe I/O)
if [ "$WITH_MGR" = 1 ]; then
  for _ in $(seq 1 120); do
    if $C pg stat 2>/dev/null | grep -qE '^([0-9]+) pgs: \1 active\+clean;'; then break; fi
    sleep 0.5
  done
fi
rados -c "$CONF" -p rbd put ferrite-test-probe /etc/hostname && rados -c "$CONF" -p rbd rm ferrite-test-probe
ts "I/O ok"
echo "CEPH_CONF=$CONF"
