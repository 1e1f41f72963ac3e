#!/bin/bash
# demo.sh — what `make demo` runs (as root): relayguard in front of a real
# open relay, in network namespaces made here and removed at the end.
#
#   1. installs missing packages (scripts/deps.sh) and builds (make -j2);
#   2. brings up the lab of tests/inline/lab.sh: an attacker, a trusted
#      client, a gateway and a Postfix that relays for anyone;
#   3. shows a relay attempt getting through without relayguard;
#   4. starts relayguardd on the gateway and repeats the attempt until the
#      attacker is blocked; prints `relayguard blocks`;
#   5. shows the trusted network still relaying, then cleans up.
# Nothing leaves the namespaces: relayed mail is parked in Postfix's queue.
set -u
cd "$(dirname "$0")/.." || exit 1

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (network namespaces, nftables, NFQUEUE)" >&2
	exit 1
fi

BUILD=${BUILD:-build}
bold=""
plain=""
if [ -t 1 ]; then
	bold=$(printf '\033[1m')
	plain=$(printf '\033[0m')
fi

heading() {
	echo
	echo "${bold}== $*${plain}"
}
say() {
	echo "   $*"
}

heading "Installing missing packages and building"
scripts/deps.sh || exit 1
# mktemp, not a name from $$: this runs as root and /tmp is shared.
makelog=$(mktemp /tmp/relayguard-demo-make.XXXXXX) || exit 1
if ! make -j2 >"$makelog" 2>&1; then
	tail -n 20 "$makelog"
	rm -f "$makelog"
	echo "demo: build failed" >&2
	exit 1
fi
rm -f "$makelog"
say "built $BUILD/relayguardd and $BUILD/relayguard"
RGD=$(cd "$BUILD" && pwd)/relayguardd
RG=$(cd "$BUILD" && pwd)/relayguard

# shellcheck source=tests/inline/lab.sh
. tests/inline/lab.sh
DPID=
demo_exit() {
	local rc=$?
	if [ -n "$DPID" ]; then
		kill -TERM "$DPID" 2>/dev/null
		wait_until "relayguardd to stop" 5 _demo_dead 2>/dev/null ||
		    kill -KILL "$DPID" 2>/dev/null
	fi
	lab_down
	return "$rc"
}
_demo_dead() { ! kill -0 "$DPID" 2>/dev/null; }
LAB_NO_TRAP=1
trap demo_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

heading "Bringing up the lab (network namespaces)"
lab_up || exit 1
say "attacker   $ATT4, $ATT6"
say "trusted    $TRU4, $TRU6  (allowed to relay)"
say "gateway    routes between them; relayguardd will run here"
say "mail       $MAIL4, $MAIL6: Postfix, an OPEN relay"
say "           (mynetworks = 0.0.0.0/0; relayed mail stays queued)"

# summary FILE — the interesting lines of a swaks transcript.
summary() {
	grep -E '^ *(-> (RCPT|MAIL)|<- +[0-9]{3} .*(queued|Ok|Bye)|\*\*\*)' "$1" |
	    grep -vE '^ *<- +2[0-9]{2} [0-9.]+ Ok$' | sed 's/^ */   | /'
}

# attempt N — one relay attempt from the attacker.
attempt() {
	local out=$LAB_DIR/swaks-$1 rc
	smtp_send "$NS_ATT" --to "victim$1@elsewhere.test" >"$out" 2>&1
	rc=$?
	say "swaks --from sender@sender.test --to victim$1@elsewhere.test" \
	    "--server $MAIL4  (exit $rc)"
	summary "$out"
}

queue_show() {
	postfix_cmd postqueue -p | sed 's/^/   | /'
}

heading "1. Without relayguard: the attacker relays through the server"
attempt 0
wait_until "the relayed message" 10 value_is -ge 1 relayed_count
say "Postfix's queue now holds the foreign message (it would leave next):"
queue_show
say "messages for foreign domains in the queue: $(relayed_count)"
say "nmap --script smtp-open-relay says:"
(cd "$LAB_DIR" && in_ns "$NS_ATT" nmap -n -Pn -p 25 --script smtp-open-relay \
    "$MAIL4" 2>&1) | grep -E 'smtp-open-relay' | sed 's/^/   | /'
queue_clear

heading "2. Starting relayguardd on the gateway"
CONF=$LAB_DIR/relayguard.conf
DLOG=$LAB_DIR/relayguardd.log
cat >"$CONF" <<EOF
local-domains   example.test
relay-networks  192.0.2.0/24 2001:db8:1::/48
servers         198.51.100.25 2001:db8:2::25
ports           25
hook            forward
mode            enforce
block-after     3
block-for       1h
state-db        $LAB_DIR/state.db
control-socket  $LAB_DIR/control.sock
EOF
sed 's/^/   | /' "$CONF"
ip netns exec "$NS_GW" "$RGD" -c "$CONF" -f 2>"$DLOG" &
DPID=$!
if ! wait_until "relayguardd ready" 15 grep -q 'ready: ' "$DLOG"; then
	echo "demo: relayguardd did not start:" >&2
	tail -n 5 "$DLOG" >&2
	exit 1
fi
grep -vE '^\{' "$DLOG" | sed 's/^/   relayguardd: /'

# events — the daemon's JSON events so far, one short line each.
shown=0
events() {
	local n
	n=$(grep -c '^{' "$DLOG")
	grep '^{' "$DLOG" | tail -n +$((shown + 1)) | /usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    keys = ("client", "rcpt", "reason", "attempts", "duration", "action")
    print("   event %s: %s" % (e.get("event"),
        " ".join("%s=%s" % (k, e[k]) for k in keys if k in e)))'
	shown=$n
}

heading "3. The same attempt with relayguard: stopped before the server sees it"
for i in 1 2 3; do
	attempt "$i"
	wait_until "the daemon's event" 5 value_is -gt "$shown" \
	    grep -c '^{' "$DLOG"
	events
	echo
done
say "messages for foreign domains in the queue: $(relayed_count)"
say "Postfix's log for the last attempt (the RCPT never reached it):"
grep 'lost connection after' "$PF_LOG" | tail -n 1 | cut -d' ' -f5- |
    sed 's/^/   | /'

heading "4. The attacker is blocked in the kernel"
wait_until "the block in the kernel set" 5 sh -c \
    "ip netns exec $NS_GW nft list set inet relayguard blocked4 | grep -q $ATT4"
say "relayguard blocks:"
in_ns "$NS_GW" "$RG" -c "$CONF" blocks 2>&1 | sed 's/^/   | /'
say "nft list set inet relayguard blocked4:"
in_ns "$NS_GW" nft list set inet relayguard blocked4 | grep elements |
    sed 's/^[[:space:]]*/   | /'
say "a new connection from $ATT4 (3 s limit):"
if in_ns "$NS_ATT" timeout 3 /usr/bin/python3 -c '
import socket
s = socket.create_connection(("198.51.100.25", 25), timeout=2.5)
print("   | connected:", s.recv(100).decode().strip())' 2>/dev/null; then
	say "| (it got through?)"
else
	say "| no answer: its packets are dropped at the gateway"
fi

heading "5. The trusted network still relays"
smtp_send "$NS_TRU" --to friend@elsewhere.test >"$LAB_DIR/swaks-t" 2>&1
say "swaks from $TRU4 --to friend@elsewhere.test  (exit $?)"
summary "$LAB_DIR/swaks-t"
say "messages for foreign domains in the queue: $(relayed_count)"

heading "relayguard status"
in_ns "$NS_GW" "$RG" -c "$CONF" status 2>&1 |
    grep -E '^(mode|queue_mechanism|packets|sessions|relay_attempts|drops|resets|blocks) ' |
    sed 's/^/   | /'

heading "Cleaning up"
kill -TERM "$DPID" 2>/dev/null
wait_until "relayguardd to stop" 10 _demo_dead || kill -KILL "$DPID"
{ wait "$DPID"; } 2>/dev/null
DPID=
grep -vE '^\{' "$DLOG" | tail -n 2 | sed 's/^/   relayguardd: /'
lab_down
say "namespaces, Postfix and the lab directory removed"
