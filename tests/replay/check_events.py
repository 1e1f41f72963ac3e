#!/usr/bin/python3
"""
check_events.py -- compare relayguard replay events with an expected file.

    check_events.py EXPECTED ACTUAL [--kinds K1,K2,...]
    check_events.py --same A B [--kinds ...] [--ignore KEY,...]

EXPECTED is JSON lines; blank lines and lines starting with '#' are
comments.  Only events whose "event" is one of the kinds are compared
(default relay-attempt,block,smuggling,ambiguity: anomaly events are ignored unless
asked for), one by one in order.  For each expected object only the keys it
holds are compared, so the tool may add fields freely; a key whose expected
value is null must be ABSENT from the actual event.

--same compares two actual outputs completely (every key of both), except
the keys given with --ignore (default: time,client_port,server_port).

Exit 0 when they match; 1 with a readable difference otherwise; 2 on bad
input (an unreadable file, a line that is not a JSON object).
"""

import json
import sys

DEFAULT_KINDS = "relay-attempt,block,smuggling,ambiguity"
DEFAULT_IGNORE = "time,client_port,server_port"


def load(path, kinds):
    out = []
    try:
        f = open(path, encoding="utf-8", errors="surrogateescape")
    except OSError as e:
        raise SystemExit("check_events: %s: %s" % (path, e.strerror))
    with f:
        for n, line in enumerate(f, 1):
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            try:
                obj = json.loads(s)
            except ValueError as e:
                print("check_events: %s:%d: not JSON: %s" % (path, n, e))
                sys.exit(2)
            if not isinstance(obj, dict) or "event" not in obj:
                print("check_events: %s:%d: not an event object" % (path, n))
                sys.exit(2)
            if obj["event"] in kinds:
                out.append(obj)
    return out


def short(obj):
    return json.dumps(obj, ensure_ascii=False, sort_keys=False)


def mismatch(exp, act):
    """Keys of exp that act does not match, as text; '' if it matches."""
    bad = []
    if exp.get("event") != act.get("event"):
        return "event %r != %r" % (exp.get("event"), act.get("event"))
    for k, v in exp.items():
        if v is None:
            if k in act:
                bad.append("%s: expected absent, got %r" % (k, act[k]))
        elif k not in act:
            bad.append("%s: expected %r, absent" % (k, v))
        elif act[k] != v:
            bad.append("%s: expected %r, got %r" % (k, v, act[k]))
    return "; ".join(bad)


def compare(expected, actual, exp_name, act_name):
    errors = []
    for i in range(max(len(expected), len(actual))):
        e = expected[i] if i < len(expected) else None
        a = actual[i] if i < len(actual) else None
        if e is None:
            errors.append("#%d unexpected: %s" % (i + 1, short(a)))
        elif a is None:
            errors.append("#%d missing:    %s" % (i + 1, short(e)))
        else:
            why = mismatch(e, a)
            if why:
                errors.append("#%d differs (%s)\n    expected: %s\n"
                              "    actual:   %s" % (i + 1, why, short(e),
                                                    short(a)))
    if errors:
        print("--- %s (%d events)  +++ %s (%d events)" %
              (exp_name, len(expected), act_name, len(actual)))
        for e in errors:
            print("  " + e)
        return 1
    return 0


def main(argv):
    kinds = DEFAULT_KINDS
    ignore = DEFAULT_IGNORE
    same = False
    files = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--kinds" and i + 1 < len(argv):
            kinds = argv[i + 1]
            i += 2
            continue
        if a.startswith("--kinds="):
            kinds = a.split("=", 1)[1]
        elif a == "--ignore" and i + 1 < len(argv):
            ignore = argv[i + 1]
            i += 2
            continue
        elif a == "--same":
            same = True
        else:
            files.append(a)
        i += 1
    if len(files) != 2:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    ks = set(k for k in kinds.split(",") if k)
    exp = load(files[0], ks)
    act = load(files[1], ks)
    if same:
        ig = set(k for k in ignore.split(",") if k)
        exp = [{k: v for k, v in e.items() if k not in ig} for e in exp]
        act = [{k: v for k, v in a.items() if k not in ig} for a in act]
        # Every key of both sides: a key only in act is a difference too.
        exp = [dict(e, **{k: None for k in a if k not in e})
               for e, a in zip(exp, act)] + exp[len(act):]
    return compare(exp, act, files[0], files[1])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
