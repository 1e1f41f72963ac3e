# tests/lab/mta.sh — the differential lab's four real mail servers, each
# an OPEN relay in its own network namespace.  Sourced by
# tests/inline/lab.sh; used when LAB_MTAS names servers before lab_up:
#
#   LAB_MTAS="postfix exim sendmail opensmtpd"
#
#   postfix    198.51.100.25  2001:db8:2::25  $NS_MAIL (as without LAB_MTAS)
#   exim       198.51.100.26  2001:db8:2::26  $LAB_PREFIX-exim
#   sendmail   198.51.100.27  2001:db8:2::27  $LAB_PREFIX-sendmail
#   opensmtpd  198.51.100.28  2001:db8:2::28  $LAB_PREFIX-opensmtpd
#
# With more than one server, the gateway's mail side is a bridge named
# "mail" (same addresses as the single link it replaces) with one veth
# port per server.  Every server takes example.test, sub.example.test and
# its own host name as local (any user), accepts foreign mail from anyone
# and keeps it queued; nothing is ever delivered, nothing leaves the lab
# (no DNS, no route out).  Exim, Sendmail and OpenSMTPD run from the
# roots scripts/mta-roots.sh unpacks (RG_MTA_ROOT, default
# /var/cache/relayguard/mta), never installed; their users (Debian-exim,
# opensmtpd, opensmtpq), spools, /run and, for Sendmail, a /dev whose log
# socket tests/lab/syslog.py serves are private: bind mounts made inside
# the private mount namespace `ip netns exec` gives each call (see
# mta_exec).  Nothing is added to the host's users.
#
# API (the differential fuzzer, tests/mta and tests/evasion use it):
#   MTA_ADDR4[NAME] MTA_ADDR6[NAME] MTA_NS[NAME]   (bash)
#   exported: LAB_MTAS LAB_DIR MTA_<NAME>_ADDR4 MTA_<NAME>_ADDR6
#             MTA_<NAME>_NS MTA_<NAME>_LOG  (NAME upper-case)
#   mta_relayed NAME TAG   foreign recipients NAME accepted (at RCPT,
#                          whether or not a message followed) whose address
#                          contains TAG, over the lab's life
#   mta_local NAME TAG     the same for local recipients
#   mta_settle NAME        returns once NAME has read everything sent to it
#                          and its log is quiet (at most 5 s; 1 if not)
#   mta_clear NAME         empties NAME's queue (counts are unaffected)
#   mta_exec NAME CMD...   CMD in NAME's namespace with its private files
#   mta_auth NAME          0 if NAME offers AUTH PLAIN/LOGIN for
#                          $LAB_SASL_USER / $LAB_SASL_PASS (Postfix and
#                          Sendmail with sasl2-bin, Exim always; OpenSMTPD
#                          offers AUTH only over TLS, which the lab lacks)
# tests/lab/oracle.py holds the oracle (python callers may import it).

MTA_ALL="postfix exim sendmail opensmtpd"
MTA_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MTA_ROOT=${RG_MTA_ROOT:-/var/cache/relayguard/mta}
declare -gA MTA_ADDR4=([postfix]=198.51.100.25 [exim]=198.51.100.26
    [sendmail]=198.51.100.27 [opensmtpd]=198.51.100.28)
declare -gA MTA_ADDR6=([postfix]=2001:db8:2::25 [exim]=2001:db8:2::26
    [sendmail]=2001:db8:2::27 [opensmtpd]=2001:db8:2::28)
declare -gA MTA_NS=()
declare -gA MTA_LOG=()

# _mta_check — LAB_MTAS names known servers, each at most once, and the
# unpacked roots are there.
_mta_check() {
	local m seen=" "
	for m in $LAB_MTAS; do
		case " $MTA_ALL " in
		*" $m "*) ;;
		*) echo "lab: unknown server '$m' in LAB_MTAS (known: $MTA_ALL)" >&2
		   return 1 ;;
		esac
		case $seen in
		*" $m "*) echo "lab: '$m' twice in LAB_MTAS" >&2; return 1 ;;
		esac
		seen="$seen$m "
		case $m in
		exim | sendmail | opensmtpd)
			if ! sh "$MTA_HERE/../../scripts/mta-roots.sh" --check \
			    2>/dev/null; then
				echo "lab: $m is not unpacked in $MTA_ROOT (run scripts/mta-roots.sh as root, or make deps)" >&2
				return 1
			fi
			;;
		esac
	done
}

# _mta_wanted NAME — NAME is in LAB_MTAS.
_mta_wanted() {
	case " $LAB_MTAS " in
	*" $1 "*) return 0 ;;
	esac
	return 1
}

# _mta_names — set MTA_NS / MTA_LOG for every server of LAB_MTAS and
# export the environment python callers read.
_mta_names() {
	local m up
	for m in $LAB_MTAS; do
		if [ "$m" = postfix ]; then
			MTA_NS[$m]=$NS_MAIL
		else
			MTA_NS[$m]=$LAB_PREFIX-$m
		fi
		case $m in
		postfix) MTA_LOG[$m]=$LAB_DIR/postfix/log/maillog ;;
		exim) MTA_LOG[$m]=$LAB_DIR/exim/log/mainlog ;;
		sendmail) MTA_LOG[$m]=$LAB_DIR/sendmail/maillog ;;
		opensmtpd) MTA_LOG[$m]=$LAB_DIR/opensmtpd/smtpd.log ;;
		esac
		up=${m^^}
		export "MTA_${up}_ADDR4=${MTA_ADDR4[$m]}" \
		    "MTA_${up}_ADDR6=${MTA_ADDR6[$m]}" \
		    "MTA_${up}_NS=${MTA_NS[$m]}" "MTA_${up}_LOG=${MTA_LOG[$m]}"
	done
	export LAB_MTAS LAB_DIR LAB_PREFIX
}

# _mta_others — the servers of LAB_MTAS other than Postfix.
_mta_others() {
	local m
	for m in $LAB_MTAS; do
		[ "$m" = postfix ] || echo "$m"
	done
}

# _mta_namespaces — their namespaces (Postfix's is $NS_MAIL, which
# _lab_net makes anyway).
_mta_namespaces() {
	local m
	for m in $(_mta_others); do
		echo "${MTA_NS[$m]}"
	done
}

# _mta_net — the gateway's mail side as a bridge with one port per server
# namespace ($NS_MAIL included); called by _lab_net instead of a single
# veth.  The namespaces already exist.
_mta_net() {
	local m ns port
	ip -n "$NS_GW" link add mail type bridge forward_delay 0 &&
	ip -n "$NS_GW" link set mail up || return 1
	for m in postfix $(_mta_others); do
		ns=${MTA_NS[$m]:-$NS_MAIL}
		port=m-$m
		ip -n "$NS_GW" link add "$port" type veth peer name eth0 \
		    netns "$ns" &&
		ip -n "$NS_GW" link set "$port" master mail up &&
		ip -n "$ns" link set eth0 up &&
		ip -n "$ns" addr add "${MTA_ADDR4[$m]}/24" dev eth0 &&
		ip -n "$ns" addr add "${MTA_ADDR6[$m]}/64" dev eth0 nodad &&
		ip -n "$ns" route add default via 198.51.100.1 &&
		ip -n "$ns" -6 route add default via 2001:db8:2::1 || return 1
	done
}

# _mta_free_id FILE START — the first numeric id from START not used in
# the passwd/group FILE.
_mta_free_id() {
	local id=$2
	while cut -d: -f3 "$1" | grep -qx "$id"; do
		id=$((id + 1))
	done
	echo "$id"
}

# _mta_users — private /etc/passwd and /etc/group for the servers' own
# users: the host's files plus Debian-exim, opensmtpd and opensmtpq, at
# ids the host does not use.  Bound over /etc inside their namespaces.
_mta_users() {
	local etc=$LAB_DIR/etc id u
	mkdir -p "$etc" && cp /etc/passwd /etc/group "$etc/" || return 1
	id=64900
	for u in Debian-exim opensmtpd opensmtpq; do
		id=$(_mta_free_id /etc/passwd "$id")
		id=$(_mta_free_id /etc/group "$id")
		echo "$u:x:$id:$id::/nonexistent:/usr/sbin/nologin" >>"$etc/passwd"
		echo "$u:x:$id:" >>"$etc/group"
		declare -g "MTA_UID_${u//-/_}=$id"
		id=$((id + 1))
	done
}

# _mta_enter NAME — write $LAB_DIR/NAME/enter: a script that makes NAME's
# private mounts (in the mount namespace `ip netns exec` made) and execs
# its arguments.
_mta_enter() {
	local m=$1 d=$LAB_DIR/$1 etc=$LAB_DIR/etc
	{
		echo '#!/bin/sh'
		echo "# $m's private files (tests/lab/mta.sh)"
		echo 'set -e'
		case $m in
		exim)
			echo "mount --bind $etc/passwd /etc/passwd"
			echo "mount --bind $etc/group /etc/group"
			;;
		sendmail)
			echo "for n in null zero random urandom full tty; do"
			echo "	mount --bind /dev/\$n $d/dev/\$n"
			echo "done"
			echo "mount --rbind $d/dev /dev"
			if [ -d "$d/sasl2" ]; then
				echo "mount --bind $d/sasl2 /usr/lib/sasl2"
			fi
			# With a host name lacking a dot, Sendmail sleeps 60 s
			# at every start ("unqualified host name").
			echo "exec unshare --uts sh -c 'hostname sm.example.test && exec \"\$@\"' sh \"\$@\""
			;;
		opensmtpd)
			echo "mount --bind $etc/passwd /etc/passwd"
			echo "mount --bind $etc/group /etc/group"
			echo "mount --bind $d/spool /var/spool"
			echo "mount --bind $d/run /run"
			echo "mount --bind $d/lib /var/lib"
			echo "mount --bind $MTA_ROOT/opensmtpd/usr/libexec /usr/libexec"
			;;
		esac
		echo 'exec "$@"'
	} >"$d/enter" && chmod 755 "$d/enter"
}

# mta_exec NAME COMMAND... — COMMAND (bounded to 30 s) in NAME's namespace
# with NAME's private files (queue tools must see what the server sees).
mta_exec() {
	local m=$1
	shift
	if [ "$m" = postfix ]; then
		_lab_run 30 ip netns exec "$NS_MAIL" "$@"
	else
		_lab_run 30 ip netns exec "${MTA_NS[$m]}" "$LAB_DIR/$m/enter" "$@"
	fi
}

# _mta_listening NAME — NAME listens on port 25 for v4 and v6.
_mta_listening() {
	[ "$(ss -N "${MTA_NS[$1]}" -Hltn 'sport = :25' | wc -l)" -ge 2 ]
}

_mta_sub() {
	sed -e "s|@DIR@|$LAB_DIR/$1|g; s|@ROOT@|$MTA_ROOT/$1|g" \
	    -e "s|@ADDR4@|${MTA_ADDR4[$1]}|g; s|@ADDR6@|${MTA_ADDR6[$1]}|g" \
	    -e "s|@USER@|$LAB_SASL_USER|g; s|@PASS@|$LAB_SASL_PASS|g" \
	    "$MTA_HERE/$2"
}

_mta_start_exim() {
	local d=$LAB_DIR/exim
	mkdir -p "$d/spool" "$d/log" &&
	chown "$MTA_UID_Debian_exim:$MTA_UID_Debian_exim" "$d/spool" "$d/log" &&
	_mta_sub exim exim.conf.in >"$d/exim.conf" &&
	_mta_enter exim || return 1
	mta_exec exim "$MTA_ROOT/exim/usr/sbin/exim4" -C "$d/exim.conf" -bd \
	    >"$d/start.out" 2>&1 || { cat "$d/start.out" >&2; return 1; }
}

_mta_start_sendmail() {
	local d=$LAB_DIR/sendmail n
	mkdir -p "$d/queue" "$d/dev" || return 1
	for n in null zero random urandom full tty; do
		: >"$d/dev/$n" || return 1
	done
	printf 'hosts files\naliases files\n' >"$d/service.switch" &&
	printf '127.0.0.1 localhost\n%s sm.example.test\n' \
	    "${MTA_ADDR4[sendmail]}" >"$d/hosts" &&
	# No aliases: every unqualified name is local and dropped (mc file).
	: >"$d/aliases" &&
	: >"${MTA_LOG[sendmail]}" &&
	_mta_sub sendmail sendmail.mc.in >"$d/sendmail.mc" &&
	m4 "$d/sendmail.mc" >"$d/sendmail.cf" 2>"$d/m4.out" || return 1
	# AUTH: Cyrus reads Sendmail.conf from /usr/lib/sasl2 (Debian's
	# libsasl2); a private copy of that directory holds it.
	if command -v saslpasswd2 >/dev/null 2>&1 && [ -d /usr/lib/sasl2 ]
	then
		mkdir -p "$d/sasl2" && cp -a /usr/lib/sasl2/. "$d/sasl2/" &&
		printf '%s\n' 'pwcheck_method: auxprop' \
		    'auxprop_plugin: sasldb' 'mech_list: PLAIN LOGIN' \
		    "sasldb_path: $d/sasldb2" >"$d/sasl2/Sendmail.conf" &&
		printf '%s' "$LAB_SASL_PASS" | _lab_run 10 saslpasswd2 -p -c \
		    -f "$d/sasldb2" -u "${LAB_SASL_USER#*@}" \
		    "${LAB_SASL_USER%@*}" || return 1
	fi
	_mta_enter sendmail || return 1
	# The syslog reader lives in the namespace, so lab_down kills it.
	ip netns exec "${MTA_NS[sendmail]}" /usr/bin/python3 \
	    "$MTA_HERE/syslog.py" "$d/dev/log" "${MTA_LOG[sendmail]}" \
	    </dev/null >/dev/null 2>"$d/syslog.err" &
	disown $!	# no "Killed" notice when lab_down kills it
	wait_until "Sendmail's syslog socket" 10 test -S "$d/dev/log" ||
	    return 1
	mta_exec sendmail "$MTA_ROOT/sendmail/usr/libexec/sendmail/sendmail" \
	    -C "$d/sendmail.cf" -bi >"$d/start.out" 2>&1 &&
	mta_exec sendmail "$MTA_ROOT/sendmail/usr/libexec/sendmail/sendmail" \
	    -C "$d/sendmail.cf" -bd >>"$d/start.out" 2>&1 ||
	    { cat "$d/start.out" >&2; return 1; }
}

_mta_start_opensmtpd() {
	local d=$LAB_DIR/opensmtpd
	mkdir -p "$d/spool" "$d/run" "$d/lib/opensmtpd/empty" || return 1
	_mta_sub opensmtpd smtpd.conf.in >"$d/smtpd.conf" &&
	echo '@ root' >"$d/users" &&
	# smtpctl must be setgid opensmtpq; unpacking as root lost the group.
	cp "$MTA_ROOT/opensmtpd/usr/sbin/smtpctl" "$d/smtpctl" &&
	chgrp "$MTA_UID_opensmtpq" "$d/smtpctl" && chmod 2555 "$d/smtpctl" &&
	_mta_enter opensmtpd || return 1
	# -d: foreground, log to stderr; -P mda -P mta: nothing is delivered;
	# -T expand -T rules: the oracle (the rule each recipient matched).
	ip netns exec "${MTA_NS[opensmtpd]}" "$d/enter" \
	    "$MTA_ROOT/opensmtpd/usr/sbin/smtpd" -d -T expand -T rules \
	    -P mda -P mta -f "$d/smtpd.conf" </dev/null \
	    >"${MTA_LOG[opensmtpd]}" 2>&1 &
	disown $!
}

# _mta_start — every server of LAB_MTAS but Postfix (lab.sh starts it),
# then wait for all of them to listen.
_mta_start() {
	local m
	_mta_users || return 1
	for m in $(_mta_others); do
		mkdir -p "$LAB_DIR/$m" || return 1
		if ! "_mta_start_$m"; then
			echo "lab: $m did not start" >&2
			return 1
		fi
	done
	for m in $(_mta_others); do
		if ! wait_until "$m to listen on port 25" 20 _mta_listening "$m"
		then
			tail -n 20 "${MTA_LOG[$m]}" >&2 2>/dev/null
			return 1
		fi
	done
}

# _mta_stop — stop the servers other than Postfix (lab_down then kills
# whatever is left in their namespaces and deletes them).
_mta_stop() {
	local m pid
	for m in $(_mta_others); do
		case $m in
		exim) pid=$(head -n 1 "$LAB_DIR/exim/exim.pid" 2>/dev/null) ;;
		sendmail) pid=$(head -n 1 "$LAB_DIR/sendmail/sendmail.pid" 2>/dev/null) ;;
		*) pid= ;;
		esac
		case $pid in
		'' | *[!0-9]*) ;;
		*) kill "$pid" 2>/dev/null ;;
		esac
	done
}

mta_relayed() {
	/usr/bin/python3 "$MTA_HERE/oracle.py" relayed "$1" "$2"
}

mta_local() {
	/usr/bin/python3 "$MTA_HERE/oracle.py" local "$1" "$2"
}

mta_settle() {
	/usr/bin/python3 "$MTA_HERE/oracle.py" settle "$1" "${2:-5}"
}

# mta_auth NAME — NAME offers AUTH PLAIN/LOGIN for the lab's account.
mta_auth() {
	case $1 in
	postfix) [ "$LAB_SASL" = yes ] ;;
	exim) return 0 ;;
	sendmail) [ -f "$LAB_DIR/sendmail/sasldb2" ] ;;
	*) return 1 ;;
	esac
}

mta_clear() {
	local d=$LAB_DIR/$1
	case $1 in
	postfix) postfix_cmd postsuper -d ALL >/dev/null 2>&1 ;;
	exim) find "$d/spool/input" "$d/spool/msglog" -type f -delete \
	    2>/dev/null; return 0 ;;
	sendmail) find "$d/queue" -type f -delete 2>/dev/null; return 0 ;;
	opensmtpd) mta_exec opensmtpd "$d/smtpctl" remove all >/dev/null 2>&1
	    return 0 ;;
	*) return 1 ;;
	esac
}
