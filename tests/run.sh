#!/bin/bash
# run.sh BUILD_DIR — run every test suite against one build and print the
# total on the last line: "N passed, N failed" (", N skipped" when any).
#
# Suites: each unit-test binary BUILD_DIR/tests/test_* (last line
# "name: N passed, N failed"), then each executable tests/*/run script,
# called with BUILD_DIR, whose last line is "SUITE: N passed, N failed"
# maybe followed by ", N skipped".  A suite that crashes, times out or
# prints no summary counts as one failure.  Full output of each suite is
# kept in BUILD_DIR/test-logs/.  Each suite's line ends with its wall time
# in brackets, to see where the time of `make check` goes.  The offline
# suites run in the background while the lab suites run (see below).
set -u

if [ $# -ne 1 ]; then
	echo "usage: tests/run.sh BUILD_DIR" >&2
	exit 2
fi
cd "$(dirname "$0")/.." || exit 2
build=${1%/}
logs=$build/test-logs
mkdir -p "$logs" || exit 2

UNIT_TIMEOUT=${UNIT_TIMEOUT:-300}
SUITE_TIMEOUT=${SUITE_TIMEOUT:-900}
summary_re='^.*: ([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?$'

total_passed=0
total_failed=0
total_skipped=0
nsuites=0

# run_suite NAME TIMEOUT SHOW_LINES COMMAND... — run one suite and add its
# counts.  SHOW_LINES=yes echoes its FAIL and SKIP lines.
run_suite() {
	local name=$1 limit=$2 show=$3
	shift 3
	local out=$logs/$name.out err=$logs/$name.err
	local rc last p f s t0 note=""

	nsuites=$((nsuites + 1))
	t0=$SECONDS
	timeout -k 10 "$limit" "$@" </dev/null >"$out" 2>"$err"
	rc=$?
	last=$(grep -v '^[[:space:]]*$' "$out" | tail -n 1)
	if [[ $last =~ $summary_re ]]; then
		p=${BASH_REMATCH[1]}
		f=${BASH_REMATCH[2]}
		s=${BASH_REMATCH[4]:-0}
	else
		p=0 f=0 s=0
		last="$name: no summary"
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		# A crash after the summary (a leak report at exit) or a run
		# that never got to it is still a failure.
		f=1
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			note=" (timed out after ${limit}s, counted as 1 failed)"
		else
			note=" (exit status $rc, counted as 1 failed)"
		fi
	elif [[ $last == "$name: no summary" ]]; then
		f=1
		note=" (counted as 1 failed)"
	fi
	if [ "$show" = yes ]; then
		grep -E '^(FAIL|SKIP) ' "$out" | sed 's/^/    /'
	fi
	if [ "$f" -ne 0 ] && [ -s "$err" ]; then
		echo "    --- last lines of $err:"
		tail -n 20 "$err" | sed 's/^/    /'
	fi
	echo "$last$note [$((SECONDS - t0))s]"
	total_passed=$((total_passed + p))
	total_failed=$((total_failed + f))
	total_skipped=$((total_skipped + s))
}

for t in "$build"/tests/test_*; do
	if [ ! -f "$t" ] || [ ! -x "$t" ]; then
		continue
	fi
	run_suite "$(basename "$t")" "$UNIT_TIMEOUT" no "$t"
done

# The offline suites (captures replayed, the CLI without a daemon, the
# fuzz harnesses: no namespace, no nftables, no daemon, nothing installed)
# run one after the other in the background, niced, while the lab suites
# run: those mostly wait on servers and the network.  Their lines come
# after the lab suites', their counts in the total.  RUN_SERIAL=1 runs
# everything in the foreground, in the usual order.
offline="replay crafted threads fuzz check cli"
[ "${RUN_SERIAL:-0}" = 1 ] && offline=""
off_lines=$logs/offline.lines
off_totals=$logs/offline.totals
rm -f "$off_lines" "$off_totals"
if [ -n "$offline" ]; then
	(
		total_passed=0 total_failed=0 total_skipped=0 nsuites=0
		for d in $offline; do
			[ -x "tests/$d/run" ] || continue
			run_suite "$d" "$SUITE_TIMEOUT" yes nice -n 10 \
			    "tests/$d/run" "$build"
		done
		echo "$total_passed $total_failed $total_skipped $nsuites" \
		    >"$off_totals"
	) >"$off_lines" 2>&1 &
	off_pid=$!
fi

# The usual order first, then any other suite directory.
seen=" $offline "
for d in replay crafted netns evasion tests/*/; do
	d=${d#tests/}
	d=${d%/}
	case $seen in *" $d "*) continue ;; esac
	seen="$seen$d "
	if [ ! -f "tests/$d/run" ] || [ ! -x "tests/$d/run" ]; then
		continue
	fi
	run_suite "$d" "$SUITE_TIMEOUT" yes "tests/$d/run" "$build"
done

if [ -n "$offline" ]; then
	wait "$off_pid"
	cat "$off_lines"
	if read -r p f s n <"$off_totals" 2>/dev/null; then
		total_passed=$((total_passed + p))
		total_failed=$((total_failed + f))
		total_skipped=$((total_skipped + s))
		nsuites=$((nsuites + n))
	else
		echo "offline suites: no totals (counted as 1 failed)"
		total_failed=$((total_failed + 1))
	fi
fi

if [ "$nsuites" -eq 0 ]; then
	echo "no test suites found for $build"
	total_failed=$((total_failed + 1))
fi

line="$total_passed passed, $total_failed failed"
[ "$total_skipped" -gt 0 ] && line="$line, $total_skipped skipped"
echo "$line"
[ "$total_failed" -eq 0 ]
