#!/bin/sh
# deps.sh — install the Debian packages relayguard needs to build and test.
#
# As root: installs only what is missing (one apt-get update first, and only
# if something is missing).  Postfix and Wireshark are preseeded so the
# install asks nothing, and no system Postfix is left running: the tests
# start their own instances inside network namespaces.
# Not root: lists what is missing and fails only if something is.
set -eu

PACKAGES="build-essential pkg-config clang libpcap-dev libjansson-dev
libsqlite3-dev libnftnl-dev libmnl-dev libnetfilter-queue-dev libcap-dev
libseccomp-dev libidn2-dev libnids-dev tshark tcpdump python3-scapy iproute2 nftables
iptables postfix swaks nmap sqlite3 valgrind libclang-rt-14-dev
iputils-ping sasl2-bin libsasl2-modules time procps m4
libio-socket-inet6-perl jq logrotate libsystemd-dev
git dpkg-dev debhelper lintian rbldnsd dnsutils prometheus-node-exporter
prometheus curl libcurl4-openssl-dev crowdsec"
# rbldnsd and dnsutils (dig): tests/dnsbl serves the DNSBL zone and asks it.
# prometheus-node-exporter, prometheus (promtool) and curl: tests/metrics.
# libcurl4-openssl-dev: relayguardd talks to CrowdSec's Local API over
# https.  crowdsec (its LAPI and cscli): tests/crowdsec; see below.
# git: make deb packs the tracked files (git ls-files).
# m4 (sendmail's cf) serves the three MTAs scripts/mta-roots.sh unpacks
# (not installs) for the lab; it installs their shared libraries itself,
# from their packages' Depends.  Postfix is the installed one.  swaks
# needs libio-socket-inet6-perl for IPv6 (-6) and only recommends it.
HERE=$(cd "$(dirname "$0")" && pwd)

# mta_roots — unpack the lab's other MTAs (as root; a failure is fatal:
# the tests/mta suite needs them).
mta_roots() {
	if [ "$(id -u)" -eq 0 ]; then
		sh "$HERE/mta-roots.sh"
	elif ! sh "$HERE/mta-roots.sh" --check; then
		echo "deps: run 'make deps' as root to unpack them" >&2
		return 1
	fi
}

missing=""
for p in $PACKAGES; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = "installed" ] || missing="$missing $p"
done

if [ -z "$missing" ]; then
	echo "deps: all packages installed"
	mta_roots
	exit
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages:$missing" >&2
	echo "deps: run 'make deps' as root to install them" >&2
	exit 1
fi

echo "deps: installing:$missing"
# "No configuration" installs Postfix without main.cf, so it does not
# start; non-root capture for tshark is not wanted either.
debconf-set-selections <<'PRESEED'
postfix postfix/main_mailer_type select No configuration
wireshark-common wireshark-common/install-setuid boolean false
PRESEED

# Keep package scripts from starting services while we install, unless the
# machine already has a policy (containers usually do).
policy=/usr/sbin/policy-rc.d
made_policy=no
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' > "$policy"
	chmod 755 "$policy"
	made_policy=yes
fi
cleanup() {
	[ "$made_policy" = yes ] && rm -f "$policy"
	return 0
}
trap cleanup EXIT INT TERM

export DEBIAN_FRONTEND=noninteractive
# crowdsec's postinst registers with CrowdSec's Central API (it would
# share this machine's alerts, and fails offline) unless this file exists
# holding only a comment: the opt-out its README.Debian documents.  The
# tests run a private LAPI without the Central API.
case " $missing " in
*" crowdsec "*)
	mkdir -p /etc/crowdsec
	if [ ! -s /etc/crowdsec/online_api_credentials.yaml ]; then
		echo '# no Central API: written by relayguard scripts/deps.sh' \
		    > /etc/crowdsec/online_api_credentials.yaml
	fi
	;;
esac
apt-get update -q
# shellcheck disable=SC2086 # the list is meant to split
apt-get install -y -q --no-install-recommends $missing

# A system Postfix listening on port 25 would answer the host's own
# traffic; the tests only ever use their own instances.
case " $missing " in
*" postfix "*)
	# systemd is the init only where /run/systemd/system exists.
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1
	then
		systemctl stop postfix >/dev/null 2>&1 || true
		systemctl disable postfix >/dev/null 2>&1 || true
	fi
	if postfix status >/dev/null 2>&1; then
		postfix stop >/dev/null 2>&1 || true
	fi
	;;
esac
# Prometheus, node_exporter and rbldnsd are installed for their programs
# (promtool, the exporter, rbldnsd), which the tests start in their own
# namespaces: no system service of theirs is left running or enabled.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	for svc in prometheus prometheus-node-exporter rbldnsd crowdsec; do
		case " $missing " in
		*" $svc "*)
			systemctl disable --now "$svc" >/dev/null 2>&1 || true ;;
		esac
	done
fi
mta_roots
echo "deps: done"
