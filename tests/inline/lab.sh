# tests/inline/lab.sh — a network-namespace lab with a real open-relay Postfix.
# Source it from bash (as root), then call lab_up; lab_down undoes it all.
#
#   attacker  203.0.113.10/24, 203.0.113.11/24, 2001:db8:3::10/64
#   trusted   192.0.2.10/24,   2001:db8:1::10/64
#   gateway   203.0.113.1 192.0.2.1 198.51.100.1 2001:db8:3::1 2001:db8:1::1
#             2001:db8:2::1, forwarding on; the leaves route only through it
#   mail      198.51.100.25/24, 2001:db8:2::25/64, Postfix as an OPEN relay
#
# Every name carries LAB_PREFIX (default rg$$), so parallel runs do not
# clash.  Namespaces: $NS_ATT $NS_TRU $NS_GW $NS_MAIL.  Files: $LAB_DIR
# (removed by lab_down unless LAB_KEEP=1); the Postfix instance is
# $PF_DIR with its log in $PF_LOG.  lab_up installs EXIT/INT/TERM traps
# that call lab_down, unless LAB_NO_TRAP=1 (then the caller must).
# LAB_POSTFIX=0: the network only, no Postfix (the benchmark runs
# smtp-sink in the mail namespace instead).
# LAB_MTAS="postfix exim sendmail opensmtpd" (any of them): those real
# servers, each an open relay in its own namespace (Postfix in $NS_MAIL),
# the gateway's mail side a bridge; see tests/lab/mta.sh for addresses
# and the oracle API (mta_relayed, mta_local, mta_settle, mta_clear).
# Unset: Postfix alone, exactly as before (LAB_POSTFIX applies).
#
# Postfix relays for everyone (mynetworks 0.0.0.0/0 [::]/0) but parks
# relayed mail in the queue (defer_transports), so nothing ever leaves;
# example.test is delivered to one Maildir.  Every RCPT it receives is
# logged ("rcpt seen ... to=<...>").  With saslpasswd2 installed it offers
# AUTH PLAIN/LOGIN for $LAB_SASL_USER / $LAB_SASL_PASS (LAB_SASL=yes).

LAB_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_UP=
LAB_SASL=no
LAB_SASL_USER=alice@example.test
LAB_SASL_PASS=lab-secret-1
ATT4=203.0.113.10
ATT4B=203.0.113.11
ATT6=2001:db8:3::10
TRU4=192.0.2.10
TRU6=2001:db8:1::10
MAIL4=198.51.100.25
MAIL6=2001:db8:2::25
LAB_MTAS=${LAB_MTAS:-}
# shellcheck source=tests/lab/mta.sh
. "$LAB_HERE/../lab/mta.sh"

# wait_until DESC TIMEOUT COMMAND... — run COMMAND every 50 ms until it
# succeeds, at most TIMEOUT seconds (an integer).  Fails with a message
# naming DESC when time runs out.
wait_until() {
	local desc=$1 limit=$2 i n
	shift 2
	n=$((limit * 20))
	for ((i = 0; i <= n; i++)); do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.05
	done
	echo "lab: timed out after ${limit}s waiting for $desc" >&2
	return 1
}

# value_is OP N COMMAND... — COMMAND prints a number that satisfies
# `test VALUE OP N`: wait_until "delivery" 10 value_is -ge 1 delivered_local_count
value_is() {
	local op=$1 want=$2 v
	shift 2
	v=$("$@") || return 1
	case $v in
	'' | *[!0-9]*) return 1 ;;
	esac
	case $op in
	-eq) [ "$v" -eq "$want" ] ;;
	-ne) [ "$v" -ne "$want" ] ;;
	-ge) [ "$v" -ge "$want" ] ;;
	-gt) [ "$v" -gt "$want" ] ;;
	-le) [ "$v" -le "$want" ] ;;
	-lt) [ "$v" -lt "$want" ] ;;
	*) return 2 ;;
	esac
}

# _lab_run SECONDS COMMAND... — a command that cannot hang the lab.
_lab_run() {
	local limit=$1
	shift
	timeout -k 2 "$limit" "$@"
}

# _lab_ns NS COMMAND... — run a bounded command inside a namespace.
_lab_ns() {
	local ns=$1
	shift
	_lab_run 20 ip netns exec "$ns" "$@"
}

# _lab_link GW_IFNAME LEAF_NS — a veth pair gateway:GW_IFNAME <-> LEAF:eth0.
_lab_link() {
	ip -n "$NS_GW" link add "$1" type veth peer name eth0 netns "$2" &&
	ip -n "$NS_GW" link set "$1" up &&
	ip -n "$2" link set eth0 up
}

_lab_net() {
	local ns
	for ns in "$NS_ATT" "$NS_TRU" "$NS_GW" "$NS_MAIL" $(_mta_namespaces); do
		# ip netns exec mounts /etc/netns/NS/resolv.conf over the
		# host's: no program in the lab waits on an unreachable
		# resolver (a query to the closed port 53 on lo fails at once).
		mkdir -p "/etc/netns/$ns" &&
		echo 'nameserver 127.0.0.1' >"/etc/netns/$ns/resolv.conf" ||
		    return 1
		ip netns add "$ns" || return 1
		ip -n "$ns" link set lo up || return 1
		# No duplicate address detection: IPv6 works at once.
		_lab_ns "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
		    net.ipv6.conf.default.accept_dad=0 >/dev/null || return 1
	done
	_lab_ns "$NS_GW" sysctl -qw net.ipv4.ip_forward=1 \
	    net.ipv6.conf.all.forwarding=1 >/dev/null || return 1
	_lab_link att "$NS_ATT" || return 1
	_lab_link tru "$NS_TRU" || return 1
	if [ -n "$(_mta_namespaces)" ]; then
		_mta_net || return 1
	else
		_lab_link mail "$NS_MAIL" || return 1
	fi

	ip -n "$NS_GW" addr add 203.0.113.1/24 dev att &&
	ip -n "$NS_GW" addr add 2001:db8:3::1/64 dev att nodad &&
	ip -n "$NS_GW" addr add 192.0.2.1/24 dev tru &&
	ip -n "$NS_GW" addr add 2001:db8:1::1/64 dev tru nodad &&
	ip -n "$NS_GW" addr add 198.51.100.1/24 dev mail &&
	ip -n "$NS_GW" addr add 2001:db8:2::1/64 dev mail nodad || return 1

	ip -n "$NS_ATT" addr add "$ATT4/24" dev eth0 &&
	ip -n "$NS_ATT" addr add "$ATT4B/24" dev eth0 &&
	ip -n "$NS_ATT" addr add "$ATT6/64" dev eth0 nodad &&
	ip -n "$NS_ATT" route add default via 203.0.113.1 &&
	ip -n "$NS_ATT" -6 route add default via 2001:db8:3::1 || return 1

	ip -n "$NS_TRU" addr add "$TRU4/24" dev eth0 &&
	ip -n "$NS_TRU" addr add "$TRU6/64" dev eth0 nodad &&
	ip -n "$NS_TRU" route add default via 192.0.2.1 &&
	ip -n "$NS_TRU" -6 route add default via 2001:db8:1::1 || return 1

	[ -n "$(_mta_namespaces)" ] && return 0	# _mta_net addressed them
	ip -n "$NS_MAIL" addr add "$MAIL4/24" dev eth0 &&
	ip -n "$NS_MAIL" addr add "$MAIL6/64" dev eth0 nodad &&
	ip -n "$NS_MAIL" route add default via 198.51.100.1 &&
	ip -n "$NS_MAIL" -6 route add default via 2001:db8:2::1 || return 1
}

# _lab_listening — Postfix's smtpd listens on port 25 for v4 and v6.
_lab_listening() {
	[ "$(_lab_ns "$NS_MAIL" ss -Hltn 'sport = :25' | wc -l)" -ge 2 ]
}

_lab_postfix() {
	local etc=$PF_DIR/etc
	mkdir -p "$etc" "$PF_DIR/spool" "$PF_DIR/log" || return 1
	install -d -o postfix -m 700 "$PF_DIR/data" || return 1
	install -d -o 65534 -g 65534 -m 755 "$PF_DIR/mail" || return 1
	sed "s|@DIR@|$PF_DIR|g" "$LAB_HERE/postfix/main.cf.in" >"$etc/main.cf" &&
	cp "$LAB_HERE/postfix/master.cf" "$etc/master.cf" || return 1
	if command -v saslpasswd2 >/dev/null 2>&1; then
		mkdir -p "$etc/sasl" &&
		sed "s|@DIR@|$PF_DIR|g" "$LAB_HERE/postfix/smtpd.conf.in" \
		    >"$etc/sasl/smtpd.conf" &&
		printf '%s' "$LAB_SASL_PASS" | _lab_run 10 saslpasswd2 -p -c \
		    -f "$etc/sasldb2" -u "${LAB_SASL_USER#*@}" \
		    "${LAB_SASL_USER%@*}" &&
		chgrp postfix "$etc/sasldb2" && chmod 640 "$etc/sasldb2" &&
		LAB_SASL=yes
	fi
	if [ "$LAB_SASL" != yes ]; then
		sed -i '/^smtpd_sasl_/d; /^cyrus_sasl_/d' "$etc/main.cf"
	fi
	_lab_ns "$NS_MAIL" postfix -c "$etc" start >"$PF_DIR/log/start.out" 2>&1 ||
	    { cat "$PF_DIR/log/start.out" >&2; return 1; }
	wait_until "Postfix to listen on port 25" 20 _lab_listening
}

# lab_up — make the namespaces, links, addresses, routes and Postfix.
lab_up() {
	if [ -n "$LAB_UP" ]; then
		return 0
	fi
	if [ "$(id -u)" -ne 0 ]; then
		echo "lab: needs root" >&2
		return 1
	fi
	LAB_PREFIX=${LAB_PREFIX:-rg$$}
	NS_ATT=$LAB_PREFIX-att
	NS_TRU=$LAB_PREFIX-tru
	NS_GW=$LAB_PREFIX-gw
	NS_MAIL=$LAB_PREFIX-mail
	if [ -n "$LAB_MTAS" ] && ! _mta_check; then
		return 1
	fi
	LAB_DIR=$(mktemp -d "/tmp/$LAB_PREFIX.XXXXXX") || return 1
	# The virtual delivery agent runs as nobody and needs to get in.
	chmod 755 "$LAB_DIR"
	PF_DIR=$LAB_DIR/postfix
	PF_LOG=$PF_DIR/log/maillog
	_mta_names
	LAB_UP=1
	if [ "${LAB_NO_TRAP:-0}" != 1 ]; then
		trap lab_down EXIT
		trap 'exit 130' INT
		trap 'exit 143' TERM
	fi
	if ! _lab_net; then
		echo "lab: network setup failed" >&2
		lab_down
		return 1
	fi
	if [ -n "$LAB_MTAS" ]; then
		_mta_wanted postfix || LAB_POSTFIX=0
	fi
	if [ "${LAB_POSTFIX:-1}" != 0 ] && ! _lab_postfix; then
		echo "lab: Postfix did not start (log: $PF_LOG)" >&2
		[ -f "$PF_LOG" ] && tail -n 20 "$PF_LOG" >&2
		lab_down
		return 1
	fi
	if [ -n "$(_mta_namespaces)" ] && ! _mta_start; then
		echo "lab: the servers of LAB_MTAS did not all start" >&2
		lab_down
		return 1
	fi
	return 0
}

# lab_mirror — a SPAN port on the gateway: a veth pair mirror <-> span,
# mirror gets a copy of every frame coming in on att, tru and mail (tc
# ingress u32 matching all, mirred egress; matchall may not be built), so span receives both directions of
# each connection once, addressed to other hosts (the stack drops them;
# a capture in promiscuous mode sees them).  What the gateway itself
# sends (relayguardd's RSTs) is not copied.  Idempotent.
lab_mirror() {
	local dev
	ip -n "$NS_GW" link show mirror >/dev/null 2>&1 && return 0
	ip -n "$NS_GW" link add mirror type veth peer name span &&
	ip -n "$NS_GW" link set mirror up &&
	ip -n "$NS_GW" link set span up || return 1
	for dev in att tru mail; do
		ip -n "$NS_GW" link show "$dev" >/dev/null 2>&1 || continue
		_lab_ns "$NS_GW" tc qdisc add dev "$dev" ingress &&
		_lab_ns "$NS_GW" tc filter add dev "$dev" ingress protocol all \
		    u32 match u32 0 0 action mirred egress mirror dev mirror ||
		    return 1
	done
}

# lab_down — stop Postfix, kill whatever still runs in the lab's
# namespaces, delete them and the lab directory.  Safe to call twice and
# from a trap; keeps the caller's exit status.
lab_down() {
	local rc=$? ns pids
	if [ -z "$LAB_UP" ]; then
		return "$rc"
	fi
	LAB_UP=
	if [ -e "/run/netns/$NS_MAIL" ] && [ -f "$PF_DIR/etc/main.cf" ]; then
		_lab_run 15 ip netns exec "$NS_MAIL" postfix -c "$PF_DIR/etc" \
		    stop >/dev/null 2>&1
	fi
	_mta_stop
	for ns in "$NS_ATT" "$NS_TRU" "$NS_GW" "$NS_MAIL" $(_mta_namespaces); do
		[ -e "/run/netns/$ns" ] || continue
		pids=$(ip netns pids "$ns" 2>/dev/null)
		if [ -n "$pids" ]; then
			# shellcheck disable=SC2086 # one pid a word
			kill -KILL $pids 2>/dev/null
		fi
		ip netns del "$ns" 2>/dev/null
	done
	for ns in "$NS_ATT" "$NS_TRU" "$NS_GW" "$NS_MAIL" $(_mta_namespaces); do
		rm -f "/etc/netns/$ns/resolv.conf"
		rmdir "/etc/netns/$ns" 2>/dev/null
	done
	if [ "${LAB_KEEP:-0}" = 1 ]; then
		echo "lab: kept $LAB_DIR" >&2
	elif [ -n "${LAB_DIR:-}" ] && [ -d "$LAB_DIR" ]; then
		rm -rf "$LAB_DIR"
	fi
	return "$rc"
}

# in_ns NS COMMAND... — run a command (bounded to 60 s) in a namespace.
in_ns() {
	local ns=$1
	shift
	_lab_run "${IN_NS_TIMEOUT:-60}" ip netns exec "$ns" "$@"
}

# smtp_send NS SWAKS_ARGS... — swaks from a namespace, bounded; swaks's
# own --timeout covers each SMTP step.  Defaults: server 198.51.100.25,
# from sender@sender.test, quit after the message.
smtp_send() {
	local ns=$1
	shift
	_lab_run "${SMTP_SEND_TIMEOUT:-25}" ip netns exec "$ns" swaks \
	    --timeout "${SWAKS_TIMEOUT:-8}" --server "$MAIL4" \
	    --from sender@sender.test --helo client.sender.test "$@"
}

# postfix_cmd COMMAND ARGS... — a Postfix tool run against the lab's
# instance inside the mail namespace (postqueue, postsuper, postfix).
postfix_cmd() {
	local cmd=$1
	shift
	_lab_run 30 ip netns exec "$NS_MAIL" "$cmd" -c "$PF_DIR/etc" "$@"
}

# relayed_count — messages in Postfix's queue with any recipient outside
# example.test: proof that relaying happened.
relayed_count() {
	postfix_cmd postqueue -j | /usr/bin/python3 -c '
import json, sys
n = 0
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    msg = json.loads(line)
    rcpts = [r.get("address", "") for r in msg.get("recipients", [])]
    if any(not a.lower().endswith("@example.test") for a in rcpts):
        n += 1
print(n)'
}

# queued_count — every message in the queue.
queued_count() {
	postfix_cmd postqueue -j | grep -c '^{'
}

# delivered_local_count — messages delivered to example.test's Maildir.
delivered_local_count() {
	find "$PF_DIR/mail/inbox/new" "$PF_DIR/mail/inbox/cur" -type f \
	    2>/dev/null | wc -l
}

# queue_clear — delete every queued message (tests stay independent).
queue_clear() {
	postfix_cmd postsuper -d ALL >/dev/null 2>&1
}

# postfix_log_has PATTERN — Postfix's log matches the extended regex.
postfix_log_has() {
	grep -Eq -- "$1" "$PF_LOG" 2>/dev/null
}
