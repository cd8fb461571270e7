#!/bin/sh
# udhcpc's hook in the test guest: set the leased address, routes and MTU.
# Ferrite leases a /32 (netmask 255.255.255.255) with the router 169.254.1.1 on-link, so
# the router gets an on-link route before any route via it. Classless static routes
# (option 121, $staticroutes) replace the router option when present (RFC 3442).

# routes PASS DST GW...: installs the on-link pairs (gateway 0.0.0.0) in pass onlink and
# the others in pass via, so every gateway is reachable before routes use it.
routes() {
  pass=$1
  shift
  while [ $# -ge 2 ]; do
    if [ "$2" = 0.0.0.0 ]; then
      [ "$pass" = onlink ] && ip route replace "$1" dev "$interface" scope link
    else
      [ "$pass" = via ] && ip route replace "$1" via "$2" dev "$interface"
    fi
    shift 2
  done
}

case "$1" in
deconfig)
  ip link set dev "$interface" up
  ip -4 addr flush dev "$interface"
  ;;
bound | renew)
  [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
  ip addr replace "$ip/${mask:-24}" dev "$interface"
  gw=${router%% *}
  if [ -n "$gw" ] && [ "${mask:-24}" = 32 ]; then
    ip route replace "$gw" dev "$interface" scope link
  fi
  if [ -n "$staticroutes" ]; then
    routes onlink $staticroutes
    routes via $staticroutes
  elif [ -n "$gw" ]; then
    ip route replace default via "$gw" dev "$interface"
  fi
  echo "DHCP $interface $ip/${mask:-24}" >/dev/console
  ;;
esac
exit 0
