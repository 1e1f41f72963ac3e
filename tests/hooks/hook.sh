#!/bin/sh
# tests/hooks/hook.sh DIR [ARGS...] — an on-block/on-unblock program for
# tests/hooks/run: writes its environment, arguments, uid and capabilities
# to DIR/EVENT-ADDRESS (slashes as _), then DIR/EVENT-ADDRESS.done; hangs
# when RELAYGUARD_REASON is "hang"; says a line on standard output, and
# exits 3 when the reason is "fail".
dir=$1
f=$dir/$RELAYGUARD_EVENT-$(printf '%s' "$RELAYGUARD_ADDRESS" | tr / _)
{
	env
	echo "args=$*"
	echo "uid=$(id -u)"
	grep '^Cap' /proc/self/status
} >"$f"
[ "$RELAYGUARD_REASON" = hang ] && sleep 30
echo done >"$f.done"
echo "hook says $RELAYGUARD_EVENT $RELAYGUARD_REASON"
[ "$RELAYGUARD_REASON" = fail ] && exit 3
exit 0
