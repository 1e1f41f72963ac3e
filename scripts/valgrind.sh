#!/bin/bash
# valgrind.sh [BUILD_DIR] — what `make valgrind` runs: every unit-test
# binary, and `relayguard replay` over every crafted and corpus capture,
# under valgrind (memcheck, full leak check).  Any error or leak fails.
# Slower than the sanitizer pass of make check, so it is its own target.
set -u
cd "$(dirname "$0")/.." || exit 2
build=${1:-build}
corpus=${RG_CORPUS_DIR:-tests/corpus/pcap}
vg=(valgrind -q --error-exitcode=99 --leak-check=full
    --errors-for-leak-kinds=definite,indirect)
passed=0
failed=0

# A tool's own failure (exit 1: a truncated capture, say) is not
# valgrind's business: only its error code (99) or a signal counts.
run() {
	local name=$1 rc
	shift
	"${vg[@]}" "$@" >/dev/null 2>"$build/vg.err"
	rc=$?
	if [ "$rc" -ne 99 ] && [ "$rc" -lt 128 ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "FAIL $name"
		tail -n 20 "$build/vg.err" | sed 's/^/    /'
	fi
}

for t in "$build"/tests/test_*; do
	[ -x "$t" ] && [ -f "$t" ] || continue
	run "$(basename "$t")" "$t"
done
for f in tests/crafted/pcap/*.pcap tests/crafted/pcap/*.pcapng; do
	[ -f "$f" ] || continue
	run "replay $(basename "$f")" "$build/relayguard" replay \
	    -c tests/crafted/enforce.conf "$f"
done
for f in "$corpus"/*.pcap "$corpus"/*.pcapng; do
	[ -f "$f" ] || continue
	run "replay $(basename "$f")" "$build/relayguard" replay \
	    -c tests/replay/empty.conf "$f"
done
rm -f "$build/vg.err"
echo "valgrind: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
