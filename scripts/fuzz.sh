#!/bin/bash
# fuzz.sh SECONDS BIN... — run each libFuzzer binary for SECONDS.
#
# Each fuzzer starts from tests/fuzz/corpus/NAME/ (NAME is the binary's
# name without "fuzz_") copied to a scratch directory, so new inputs never
# land in the committed seeds.  Crash, leak, timeout and OOM inputs are kept
# in build-fuzz/artifacts/, each fuzzer's full log in build-fuzz/logs/.
# Prints runs, execs/s, corpus size and coverage (libFuzzer's last cov:
# and ft: counts) per fuzzer; exits non-zero if any fuzzer found a problem.
set -u
cd "$(dirname "$0")/.." || exit 2

if [ $# -lt 2 ] || ! [[ $1 =~ ^[0-9]+$ ]]; then
	echo "usage: scripts/fuzz.sh SECONDS BIN..." >&2
	exit 2
fi
secs=$1
shift
artifacts=build-fuzz/artifacts
logs=build-fuzz/logs
mkdir -p "$artifacts" "$logs" || exit 2
scratch=$(mktemp -d /tmp/relayguard-fuzz.XXXXXX) || exit 2
trap 'rm -rf "$scratch"' EXIT

bad=0
for bin in "$@"; do
	base=$(basename "$bin")
	name=${base#fuzz_}
	corpus=$scratch/$name
	log=$scratch/$name.log
	mkdir -p "$corpus"
	if [ -d "tests/fuzz/corpus/$name" ]; then
		cp -R "tests/fuzz/corpus/$name/." "$corpus/"
	fi
	"$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
		-print_final_stats=1 -artifact_prefix="$artifacts/$name-" \
		"$corpus" >"$log" 2>&1 </dev/null
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1)
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
	corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
	cp "$log" "$logs/$name.log"
	if [ "$rc" -eq 0 ]; then
		echo "$name: ok, ${execs:-?} runs in ${secs}s," \
			"${rate:-?} execs/s, corpus ${corp:-?} inputs" \
			"($(find "$corpus" -type f | wc -l) files), cov ${cov:-?} ft ${ft:-?}"
	else
		bad=1
		echo "$name: FAILED (exit $rc) after ${execs:-?} runs;" \
			"artifacts in $artifacts/"
		grep -E -A 12 '^==[0-9]+==ERROR|runtime error|SUMMARY|^artifact_prefix|Test unit written' \
			"$log" | grep -v "^0x" | head -n 40 | sed "s/^/    /"
		cp "$log" "$artifacts/$name.log"
	fi
done
exit "$bad"
