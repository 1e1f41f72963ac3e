#!/bin/sh
# mta-roots.sh — unpack Exim, Sendmail and OpenSMTPD from Debian's archive
# into a cache, never installing them.
#
# Debian's MTA packages conflict with each other (and with the installed
# Postfix), so the differential lab (tests/inline/lab.sh, LAB_MTAS) runs
# them from unpacked roots: `apt-get download` + `dpkg-deb -x`, one root
# per server under $RG_MTA_ROOT (default /var/cache/relayguard/mta):
#   exim/      exim4-daemon-light exim4-base exim4-config
#   sendmail/  sendmail-bin sendmail-base sendmail-cf
#   opensmtpd/ opensmtpd
# Idempotent: a root whose stamp file names the same package versions is
# left alone.  `apt-get update` runs only when a download fails.  Needs
# root (apt-get download, and the unpacked files keep their owners).
# The shared libraries these binaries need are installed (as packages:
# every lib* package the unpacked packages depend on, from the archive's
# Depends; a bare machine has none of libgnutls-dane0, libevent...), and
# each server binary is checked with ldd, so a root that cannot run is an
# error here, not a lab that fails to start.  scripts/deps.sh calls this.
# Usage: mta-roots.sh [--check]   (--check: exit 0 if every root is there
# and its binary finds its libraries)
set -eu

ROOT=${RG_MTA_ROOT:-/var/cache/relayguard/mta}

roots="exim sendmail opensmtpd"

pkgs_of() {
	case $1 in
	exim) echo "exim4-daemon-light exim4-base exim4-config" ;;
	sendmail) echo "sendmail-bin sendmail-base sendmail-cf" ;;
	opensmtpd) echo "opensmtpd" ;;
	esac
}

# The file each root must hold to be usable.
probe_of() {
	case $1 in
	exim) echo usr/sbin/exim4 ;;
	sendmail) echo usr/libexec/sendmail/sendmail ;;
	opensmtpd) echo usr/sbin/smtpd ;;
	esac
}

# want_stamp NAME — " pkg=version ..." of the candidate versions apt
# knows (one apt-cache call per root: it takes a second each).
want_stamp() {
	# shellcheck disable=SC2046 # the package list is meant to split
	apt-cache policy $(pkgs_of "$1") 2>/dev/null | awk '
	    /^[^ ].*:$/ { p = substr($0, 1, length($0) - 1) }
	    /^  Candidate: / { s = s " " p "=" $2 }
	    END { print s }'
}

ready() {
	[ -x "$ROOT/$1/$(probe_of "$1")" ] && [ -f "$ROOT/$1/.stamp" ]
}

# links_ok NAME — the root's server binary finds every shared library
# in the system's directories (tests/lab/mta.sh runs it so).
links_ok() {
	if ldd "$ROOT/$1/$(probe_of "$1")" 2>&1 |
	    grep 'not found' >&2; then
		echo "mta-roots: $ROOT/$1/$(probe_of "$1") misses libraries" >&2
		return 1
	fi
}

# lib_deps NAME — the lib* packages the root's packages depend on, at the
# versions its stamp records (first of each alternative, no versions).
lib_deps() {
	for pv in $(cat "$ROOT/$1/.stamp"); do
		apt-cache show "$pv" 2>/dev/null | sed -n 's/^Depends: //p' |
		    head -n 1
	done | tr ',' '\n' | sed 's/|.*//; s/(.*//; s/:any//; s/[[:space:]]//g' |
	    grep '^lib' | sort -u
}

if [ "${1:-}" = "--check" ]; then
	for r in $roots; do
		ready "$r" || { echo "mta-roots: $ROOT/$r missing" >&2; exit 1; }
		links_ok "$r" || exit 1
	done
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "mta-roots: needs root" >&2
	exit 1
fi

mkdir -p "$ROOT"
dl=$(mktemp -d "$ROOT/.dl.XXXXXX")
trap 'rm -rf "$dl"' EXIT INT TERM
# apt's _apt user writes the .deb files (else apt warns and downloads
# unsandboxed as root).
chown _apt "$dl" 2>/dev/null || chmod 777 "$dl"

updated=no
fetch() {
	if (cd "$dl" && timeout 300 apt-get download -q "$@" >/dev/null); then
		return 0
	fi
	if [ "$updated" = no ]; then
		updated=yes
		echo "mta-roots: download failed; apt-get update and retry" >&2
		timeout 300 apt-get update -q >/dev/null
		(cd "$dl" && timeout 300 apt-get download -q "$@" >/dev/null)
		return
	fi
	return 1
}

for r in $roots; do
	stamp=$(want_stamp "$r")
	if ready "$r" && [ "$(cat "$ROOT/$r/.stamp")" = "$stamp" ]; then
		continue
	fi
	# shellcheck disable=SC2046 # the package list is meant to split
	fetch $(pkgs_of "$r")
	new=$ROOT/.new-$r
	rm -rf "$new"
	mkdir -p "$new"
	for p in $(pkgs_of "$r"); do
		dpkg-deb -x "$dl"/"${p}"_*.deb "$new"
	done
	# After a failed update, apt's candidate may be unknown: record what
	# was really unpacked.
	stamp=""
	for p in $(pkgs_of "$r"); do
		f=$(basename "$dl"/"${p}"_*.deb)
		v=${f#"${p}"_}
		v=${v%_*}
		stamp="$stamp $p=$(echo "$v" | sed 's/%3a/:/g')"
	done
	echo "$stamp" >"$new/.stamp"
	rm -rf "$ROOT/$r"
	mv "$new" "$ROOT/$r"
	rm -f "$dl"/*.deb
	echo "mta-roots: $r unpacked in $ROOT/$r:$stamp"
done

# The servers' libraries, every run (a root unpacked earlier may predate
# this, or a library may have been removed since).
need=""
for r in $roots; do
	for p in $(lib_deps "$r"); do
		st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null ||
		    true)
		[ "$st" = installed ] || need="$need $p"
	done
done
if [ -n "$need" ]; then
	echo "mta-roots: installing the servers' libraries:$need"
	# shellcheck disable=SC2086 # the list is meant to split
	DEBIAN_FRONTEND=noninteractive timeout 600 \
	    apt-get install -y -q --no-install-recommends $need >/dev/null
fi
for r in $roots; do
	links_ok "$r"
done
