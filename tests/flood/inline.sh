#!/bin/bash
# tests/flood/inline.sh BUILD CAPTURE PPS — one flood through relayguardd
# inline, for bench/flood (FLOOD_INLINE=1).  Needs root.
#
# Two namespaces joined by a veth pair: a sender (tests/flood/send.c puts
# the capture's frames on the wire at PPS packets per second, 0 = as fast
# as it can) and a gateway that forwards everything back out and runs
# relayguardd with `hook forward`, the flood configuration's caps
# (max-flows 10000, flow-memory 8M) and mode monitor.  A drop chain after
# the queue (priority 100) throws each packet away once judged, so nothing
# answers and nothing loops.  When the daemon's packet count stops moving
# it prints key=value lines: sent, send_seconds, the counters of
# `relayguard status`, the daemon's peak RSS (VmHWM, kB), the relay and
# authenticated sessions reported, the queue's own drop counters, and the
# daemon's exit status after SIGTERM.
set -u
if [ $# -ne 3 ]; then
	echo "usage: tests/flood/inline.sh BUILD CAPTURE PPS" >&2
	exit 2
fi
BUILD=$(cd "$1" && pwd) CAP=$2 PPS=$3
HERE=$(cd "$(dirname "$0")" && pwd)
G=rgfs$$ W=rgfw$$
T=$(mktemp -d /tmp/rg-flood-inline.XXXXXX) || exit 1
D=
cleanup() {
	[ -n "$D" ] && kill -KILL "$D" 2>/dev/null
	ip netns del "$G" 2>/dev/null
	ip netns del "$W" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

cc -std=gnu11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -o "$T/send" \
    "$HERE/send.c" || exit 1
ip netns add "$G" && ip netns add "$W" || exit 1
ip link add fv0 netns "$G" type veth peer name fv1 netns "$W" || exit 1
ip -n "$G" link set fv0 up
ip -n "$W" link set fv1 up
ip -n "$W" link set lo up
ip -n "$W" addr add 192.0.2.1/24 dev fv1
ip -n "$W" addr add 2001:db8:1::1/64 dev fv1 nodad
for r in 198.51.100.0/24 203.0.113.0/24; do
	ip -n "$W" route add "$r" dev fv1
done
ip -n "$W" -6 route add 2001:db8::/32 dev fv1
ip netns exec "$W" sysctl -qw net.ipv4.ip_forward=1 \
    net.ipv6.conf.all.forwarding=1 net.ipv4.conf.all.rp_filter=0 \
    net.ipv4.conf.fv1.rp_filter=0
ip netns exec "$W" nft -f - <<'EOF' || exit 1
table inet floodsink {
	chain sink {
		type filter hook forward priority 100;
		tcp dport 25 drop
		tcp sport 25 drop
	}
}
EOF
MAC=$(ip netns exec "$W" cat /sys/class/net/fv1/address)
cat >"$T/conf" <<EOF
local-domains   example.test .example.test
relay-networks  192.0.2.0/24 2001:db8:1::/48
ports           25
hook            forward
mode            monitor
max-flows       10000
flow-memory     8M
state-db        $T/state.db
control-socket  $T/control.sock
EOF
status() { ip netns exec "$W" "$BUILD/relayguard" -c "$T/conf" status --json; }
ip netns exec "$W" "$BUILD/relayguardd" -c "$T/conf" -f 2>"$T/log" &
D=$!
for _ in $(seq 200); do
	status >/dev/null 2>&1 && break
	sleep 0.05
done
ip netns exec "$G" "$T/send" -r "$PPS" fv0 "$MAC" "$CAP" |
    sed 's/seconds=/send_seconds=/' | tr ' ' '\n'
prev=-1
for _ in $(seq 600); do
	cur=$(status | /usr/bin/python3 -c \
	    'import json,sys; print(json.load(sys.stdin)["packets"])')
	[ "$cur" = "$prev" ] && break
	prev=$cur
	sleep 0.2
done
status | /usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin)
for k in ("packets", "flows", "flows_created", "flows_evicted",
          "flows_evicted_memory", "relay_attempts", "buffer_bytes_peak",
          "buffer_refused", "events_lost", "enobufs"):
    print("%s=%s" % (k, s.get(k)))'
echo "peak_rss_kb=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$D/status")"
echo "relays_reported=$(grep -o '"rcpt":"relay[0-9]*@' "$T/log" | sort -u | wc -l)"
echo "auths_reported=$(grep -o '"rcpt":"auth[0-9]*@' "$T/log" | sort -u | wc -l)"
ip netns exec "$W" awk '{ print "queue_dropped=" $6 "\nuser_dropped=" $7 }' \
    /proc/net/netfilter/nfnetlink_queue
kill -TERM "$D"
wait "$D"
echo "daemon_exit=$?"
D=
