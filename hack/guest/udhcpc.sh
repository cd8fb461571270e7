#!/bin/sh
# udhcpc's hook in the test guest: set the leased address and default route.
case "$1" in
bound | renew)
  ip addr add "$ip/${mask:-24}" dev "$interface" 2>/dev/null
  [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
  echo "DHCP $interface $ip/${mask:-24}" >/dev/console
  ;;
esac
exit 0
