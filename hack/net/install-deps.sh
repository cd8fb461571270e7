#!/usr/bin/env bash
# Installs what the networking end-to-end suites and the route benchmark need: iproute2 and ping
# for the namespace lab, Debian's gobgpd and FRR as interop peers. Skips apt when all is there.
set -euo pipefail
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v ping >/dev/null || need+=(iputils-ping)
command -v gobgpd >/dev/null || need+=(gobgpd)
[ -x /usr/lib/frr/bgpd ] || need+=(frr)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "hack/net/install-deps.sh: need root to install ${need[*]}" >&2
  exit 1
fi
echo "installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
