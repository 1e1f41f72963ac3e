#!/bin/bash
# check.sh — what `make check` runs (after `make deps`): build and run every
# suite once normally and once under ASan+UBSan, then print the sum of both
# runs as the very last line: "N passed, N failed" (", N skipped" when any).
# A build that fails counts as one failure and its tests are not run.
set -u
cd "$(dirname "$0")/.." || exit 2

JOBS=${JOBS:-2}
passed=0
failed=0
skipped=0

# add_total LINE — add a tests/run.sh total line to the sums.
add_total() {
	local re='^([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?$'
	if [[ $1 =~ $re ]]; then
		passed=$((passed + BASH_REMATCH[1]))
		failed=$((failed + BASH_REMATCH[2]))
		skipped=$((skipped + ${BASH_REMATCH[4]:-0}))
	else
		failed=$((failed + 1))
	fi
}

# one_pass LABEL BUILD_DIR MAKE_ARGS... — build, then run the suites.
one_pass() {
	local label=$1 build=$2 out last rc
	shift 2
	echo "=== $label: make $*"
	if ! make --no-print-directory -j"$JOBS" "$@"; then
		echo "$label: build failed (counted as 1 failed)"
		failed=$((failed + 1))
		return
	fi
	echo "=== $label: tests/run.sh $build"
	out=$(mktemp)
	tests/run.sh "$build" | tee "$out"
	rc=${PIPESTATUS[0]}
	last=$(tail -n 1 "$out")
	rm -f "$out"
	add_total "$last"
	# run.sh failing without reporting a failure is still a failure.
	if [ "$rc" -ne 0 ] && [[ ! $last =~ [1-9][0-9]*\ failed ]]; then
		failed=$((failed + 1))
	fi
}

start=$(date +%s)
# The controls of the evasion and differential suites (each technique or
# dialogue against the bare servers, no relayguard involved) are played
# once: the sanitizer pass takes the plain pass's (tests/evasion/suite.py,
# tests/differential/diff.py) and only judges them with its own build.
rm -rf "$PWD/build/evasion-controls.json" "$PWD/build/differential-controls"
EVASION_CONTROLS_OUT=$PWD/build/evasion-controls.json \
DIFF_CONTROLS_OUT=$PWD/build/differential-controls \
	one_pass "plain" build
EVASION_CONTROLS_IN=$PWD/build/evasion-controls.json \
DIFF_CONTROLS_IN=$PWD/build/differential-controls \
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	one_pass "address,undefined" build-address-undefined \
	SANITIZER=address,undefined
echo "=== check took $(( $(date +%s) - start ))s"

line="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
echo "$line"
[ "$failed" -eq 0 ]
