#!/usr/bin/python3
"""
suite.py BUILD_DIR -- the two halves of tests/evasion (called by run).

Replay half (always): every technique of techniques.py becomes a crafted
capture, replayed with replay.conf; the verdict is the strongest thing the
engine said about the row:

    stopped: smuggling        a smuggling event
    stopped: relay-attempt    a relay-attempt event naming the row's tag
    stopped: anomaly WHAT     the evasive segment flagged and not inspected
    MISSED                    none of these

and must equal the technique's expected verdict.

Inline half (when run found root and brought the lab up with the servers
of LAB_MTAS, normally Postfix, Exim, Sendmail and OpenSMTPD; the
environment holds what tests/lab/mta.sh exports, NS_ATT and NS_GW): every
technique is played live by client.py's play() against every server at
once (one worker process per server, `suite.py --worker ADDR`, so scapy
loads once), first with no relayguardd (the control: does that server
relay it?), then through relayguardd in enforce mode (midstream rows: the
sessions open before relayguardd starts).  Per row and server: the
client's fate (reset, stalled, completed), the daemon's events for the
session's source port, the change of its counters (relayguard status
--json; a row's sessions run together, so this covers the row), and the
foreign recipients the server accepted, by its own log
(tests/lab/oracle.py).

A row passes when the replay verdict is the expected one, its controls
did what the technique says (Postfix: t.control, relays or immune; every
server of t.relays_on relays; other servers are recorded: a server that
refuses a technique by itself is immune to it, not a failure), and
through relayguardd no server accepted a foreign recipient of the row;
on Postfix relayguardd must also have stopped it visibly (an event, a
drop or a rewrite it counted) unless Postfix is immune.

Prints PASS/FAIL lines, NOTE lines (after a reset, a server still held
the session's connection: the RST to it was not accepted; not counted as
a failure), the table (per server a control and a through-relayguardd
column), and "evasion: N passed, N failed[, N skipped]".
EVASION_ONLY=REGEX runs the inline half for matching rows only.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lab"))
import techniques as T  # noqa: E402
import oracle  # noqa: E402
from daemon import Daemon  # noqa: E402

PY = "/usr/bin/python3"
NORM = ["norm_bad_checksum", "norm_low_ttl", "norm_syn_data", "norm_urgent",
        "norm_out_of_window", "norm_rst_ignored", "norm_rewritten",
        "norm_held"]
# Inline protections that end the session (dropped segment and reset)
# without a relay-attempt event: a forged server packet, an ACK for bytes
# that never passed, bytes pipelined past DATA/AUTH/STARTTLS, a line
# picked up in the middle.
STOPS = ["spoofed", "acked_unseen", "pipelined_after_wait",
         "unreadable_lines"]
CONTROL_PORT = 31000
GUARD_PORT = 32000


# -- replay half --------------------------------------------------------------

def replay_verdict(tech, events):
    kinds = [e.get("event") for e in events]
    if "smuggling" in kinds:
        return "stopped: smuggling"
    amb = sorted(set(e.get("what", "?") for e in events
                     if e.get("event") == "ambiguity"))
    if amb:
        return "stopped: ambiguity " + ",".join(amb)
    tag = tech.tag.lower()
    if any(e.get("event") == "relay-attempt" and
           tag in e.get("rcpt", "").lower() for e in events):
        return "stopped: relay-attempt"
    whats = sorted(set(e.get("what", "?") for e in events
                       if e.get("event") == "anomaly"))
    if whats:
        return "stopped: anomaly " + ",".join(whats)
    return "MISSED"


def replay_half(tool, tmp):
    pdir = os.path.join(tmp, "pcap")
    os.makedirs(pdir)
    out = {}
    conf = os.path.join(HERE, "replay.conf")
    for i, t in enumerate(T.TECHNIQUES):
        path = os.path.join(pdir, t.name + ".pcap")
        with open(path, "wb") as f:
            f.write(T.pcap_bytes(t, cport=40000 + i))
        p = subprocess.run(["timeout", "60", tool, "replay", "-c", conf,
                            path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        events = []
        for line in p.stdout.decode("utf-8", "replace").splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                pass
        err = p.stderr.decode("utf-8", "replace")
        v = replay_verdict(t, events)
        if p.returncode != 0:
            v = "ERROR: exit %d" % p.returncode
        elif "AddressSanitizer" in err or "runtime error" in err:
            v = "ERROR: sanitizer report"
        out[t.name] = (v, events)
    return out


# -- inline half --------------------------------------------------------------

def wanted(t):
    """EVASION_ONLY=REGEX limits the inline half to matching rows (for
    debugging; the others then fail as not run)."""
    only = os.environ.get("EVASION_ONLY")
    return not only or re.search(only, t.name) is not None


def worker(server):
    """suite.py --worker ADDR (in the attacker namespace): play the
    techniques named on stdin ("NAME SPORT [RESUME]" a line) against ADDR
    with client.py's play(), one JSON result a line ("PAUSED" lines at
    Midstream steps, as client.py prints them).  One process per server
    for the whole suite: scapy is imported once, not per session."""
    import client as C
    C.T.SERVER = server		# Live()'s default peer
    for line in sys.stdin:
        w = line.split()
        if not w:
            continue
        try:
            out = C.play(T.BY_NAME[w[0]], int(w[1]),
                         w[2] if len(w) > 2 else None)
        except Exception as e:  # noqa: BLE001 -- reported, not fatal
            out = {"error": "client: %s: %s" % (type(e).__name__, e)}
        print(json.dumps(out), flush=True)
    return 0


class Worker:
    def __init__(self, ns_att, name, addr):
        self.name = name
        self.p = subprocess.Popen(
            ["ip", "netns", "exec", ns_att, PY, os.path.abspath(__file__),
             "--worker", addr], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def send(self, tech, sport, resume=None):
        line = "%s %d%s\n" % (tech.name, sport,
                              (" " + resume) if resume else "")
        self.p.stdin.write(line.encode())
        self.p.stdin.flush()

    def result(self, on_pause=None):
        """The session's JSON result; on_pause() at a PAUSED line."""
        for _ in range(100):
            line = self.p.stdout.readline()
            if not line:
                err = self.p.stderr.read().decode("utf-8", "replace")
                return {"error": "worker died: %s" % err.strip()[-300:]}
            line = line.decode("utf-8", "replace").strip()
            if line == "PAUSED":
                if on_pause:
                    on_pause(self)
            elif line.startswith("{"):
                return json.loads(line)
        return {"error": "worker: no result"}

    def close(self):
        try:
            self.p.stdin.close()
            self.p.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.p.kill()
            self.p.wait()


def fate(res):
    if res.get("error"):
        return "error: " + res["error"]
    if res.get("reset"):
        n = len(res["rounds"]) - 1
        return "reset at %r" % res["rounds"][n]["data"][:24]
    if res.get("stalled"):
        n = len(res["rounds"]) - 1
        return "stalled at %r" % res["rounds"][n]["data"][:24]
    return "completed, %d queued" % res.get("queued", 0)


def inline_verdict(res, events, delta, relayed, immune):
    if relayed != 0:
        return "MISSED"
    kinds = set(e.get("event") for e in events)
    norm = [k[5:] for k in NORM if delta.get(k, 0) > 0]
    extra = (" +" + "+".join(norm)) if norm else ""
    if kinds & {"smuggling", "relay-attempt", "ambiguity"}:
        what = "+".join(sorted(kinds & {"smuggling", "relay-attempt",
                                        "ambiguity"}))
        if res.get("reset"):
            return "stopped: reset (%s)%s" % (what, extra)
        return "NO RESET: %s reported%s" % (what, extra)
    stops = [k for k in STOPS if delta.get(k, 0) > 0]
    if stops and res.get("reset"):
        return "stopped: reset (%s)%s" % ("+".join(stops), extra)
    if stops:
        return "stopped: dropped (%s)%s" % ("+".join(stops), extra)
    drops = [n for n in norm if n not in ("rst_ignored", "rewritten")]
    if drops:
        return "stopped: dropped (%s)" % "+".join(norm)
    if "rewritten" in norm:
        return "stopped: rewritten (%s)" % "+".join(norm)
    if immune and not res.get("error"):
        return "not relayed (server immune)" + extra
    return "UNCLEAR: no event, drop or rewrite" + extra


def server_open(ns, port):
    """The server still holds an established connection from port
    (waits up to 1 s for it to go)."""
    end = time.monotonic() + 1.0
    while True:
        p = subprocess.run(["ss", "-N", ns, "-Htn", "state", "established",
                            "( dport = :%d )" % port],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        if not p.stdout.strip():
            return False
        if time.monotonic() > end:
            return True
        time.sleep(0.05)


def pmap(fn, items):
    """fn over items in parallel threads; results in order."""
    out = [None] * len(items)

    def run(k):
        out[k] = fn(items[k])
    threads = [threading.Thread(target=run, args=(k,))
               for k in range(len(items))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return out


class Matrix:
    """Every technique against every server of the lab, in lock step: a
    row's sessions to the servers run at the same time (one worker per
    server), so a row's counter deltas (relayguard status) cover that
    technique only."""

    def __init__(self, build, mtas):
        self.mtas = mtas
        self.ns_att = os.environ["NS_ATT"]
        self.d = Daemon(build, os.environ["NS_GW"],
                        os.path.join(os.environ["LAB_DIR"], "evasion"))
        # offload yes (issue 11): a session the engine wrongly took for
        # authenticated or TLS would pass the kernel uninspected, and a
        # technique that fakes either would relay through relayguardd.
        self.d.write_conf(["block-after     1000", "starttls        allow",
                           "min-ttl         10", "offload         yes"])
        self.workers = [Worker(self.ns_att, m,
                               os.environ["MTA_%s_ADDR4" % m.upper()])
                        for m in mtas]

    def close(self):
        self.d.stop()
        for w in self.workers:
            w.close()

    def port(self, base, k, i):
        return base + 100 * k + i

    def relayed(self, t, settle=True):
        """Foreign recipients of t's tag each server accepted so far.
        settle=False reads the logs as they are: right before a row,
        the previous row's count has already waited for every server to
        settle, and no session of this row's tag is open."""
        def one(m):
            if settle:
                oracle.settle(m)
            return oracle.count(m, "relayed", t.tag)
        return pmap(one, self.mtas)

    def play(self, i, t, base, resume=None, on_pause=None):
        for k, w in enumerate(self.workers):
            w.send(t, self.port(base, k, i), resume)
        return pmap(lambda w: w.result(on_pause), self.workers)

    def controls(self, rows):
        # The controls never involve relayguard: what one pass of make
        # check measured (EVASION_CONTROLS_OUT) the sanitizer pass may
        # take as it is (EVASION_CONTROLS_IN), for the same servers and
        # techniques; anything missing is played here.
        cache, path_in = {}, os.environ.get("EVASION_CONTROLS_IN")
        if path_in and os.path.exists(path_in):
            try:
                with open(path_in, encoding="utf-8") as f:
                    cache = json.load(f)
            except (OSError, ValueError):
                cache = {}
            if cache.get("mtas") != self.mtas:
                cache = {}
            else:
                print("# controls taken from %s" % path_in)
        out = {"mtas": self.mtas, "rows": {}}
        for i, t in enumerate(T.TECHNIQUES):
            if not wanted(t):
                continue
            got = cache.get("rows", {}).get(t.name)
            if got is None or set(got) != set(self.mtas):
                r0 = self.relayed(t, settle=False)
                res = self.play(i, t, CONTROL_PORT)
                r1 = self.relayed(t)
                got = {m: {"control": r1[k] - r0[k],
                           "control_fate": fate(res[k])}
                       for k, m in enumerate(self.mtas)}
            out["rows"][t.name] = got
            for m in self.mtas:
                c = rows[t.name].setdefault(m, {})
                c["control"] = got[m]["control"]
                c["control_fate"] = got[m]["control_fate"]
        path_out = os.environ.get("EVASION_CONTROLS_OUT")
        if path_out:
            try:
                with open(path_out, "w", encoding="utf-8") as f:
                    json.dump(out, f)
            except OSError:
                pass

    def guarded(self, rows, i, t, run):
        r0 = self.relayed(t, settle=False)
        s0 = self.d.status()
        res = run()
        r1 = self.relayed(t)
        s1 = self.d.status()
        delta = {k: s1.get(k, 0) - s0.get(k, 0) for k in NORM + STOPS}
        events = self.d.events()
        opened = pmap(lambda k: res[k].get("reset") and server_open(
            os.environ["MTA_%s_NS" % self.mtas[k].upper()],
            self.port(GUARD_PORT, k, i)), list(range(len(self.mtas))))
        for k, m in enumerate(self.mtas):
            c = rows[t.name].setdefault(m, {})
            port = self.port(GUARD_PORT, k, i)
            c["relayed"] = r1[k] - r0[k]
            c["delta"] = {x: v for x, v in delta.items() if v}
            c["events"] = [e for e in events if e.get("client_port") == port]
            c["fate"] = fate(res[k])
            immune = (t.control == "immune" if m == "postfix"
                      else c.get("control") == 0)
            c["inline"] = inline_verdict(res[k], c["events"], delta,
                                         c["relayed"], immune)
            c["server_open"] = opened[k]
            if not s1:
                c["inline"] = "ERROR: no status from relayguardd"

    def run(self, rows):
        self.controls(rows)
        mids = [i for i, t in enumerate(T.TECHNIQUES)
                if any(isinstance(s, T.Midstream) for s in t.steps)]
        if not self.d.start("main"):
            for t in T.TECHNIQUES:
                for m in self.mtas:
                    rows[t.name].setdefault(m, {})["inline"] = \
                        "ERROR: relayguardd not ready"
            return
        for i, t in enumerate(T.TECHNIQUES):
            if i in mids or not wanted(t):
                continue
            self.guarded(rows, i, t,
                         lambda: self.play(i, t, GUARD_PORT))
        self.stopped(rows, self.d.stop())
        # Midstream: the sessions open with no relayguardd; it starts
        # once every server's session has paused at the Midstream step.
        for i in mids:
            t = T.TECHNIQUES[i]
            if not wanted(t):
                continue
            resume = os.path.join(self.d.dir, "resume-%s" % t.name)
            if os.path.exists(resume):
                os.unlink(resume)
            state = {"paused": 0, "ok": False}
            lock = threading.Lock()

            def on_pause(w):
                with lock:
                    state["paused"] += 1
                    if state["paused"] == len(self.workers):
                        state["ok"] = self.d.start(t.name)
                        open(resume, "w").close()

            # The counters start at zero with the daemon: status() before
            # the start is {} and every key reads 0.
            self.guarded(rows, i, t, lambda: self.play(
                i, t, GUARD_PORT, resume, on_pause))
            if not state["ok"]:
                for m in self.mtas:
                    rows[t.name][m]["inline"] = "ERROR: relayguardd not ready"
            self.stopped(rows, self.d.stop())

    def stopped(self, rows, why):
        if why:
            rows.setdefault("_daemon", []).append(why)


def inline_half(build, rows, mtas):
    m = Matrix(build, mtas)
    try:
        m.run(rows)
    finally:
        m.close()


# -- report -------------------------------------------------------------------

def judge(t, row, inline, mtas):
    why = []
    if not re.fullmatch(t.replay, row["replay"]):
        why.append("replay: %s, expected %s" % (row["replay"], t.replay))
    if not inline:
        return why
    for m in mtas:
        c = row.get(m, {})
        n = c.get("control")
        # Postfix: the technique says relays or immune.  The others: a
        # server of relays_on must relay; any other result is recorded.
        if t.relays_on and m in t.relays_on:
            must = "relays"
        else:
            must = t.control if m == "postfix" else None
        if n is None:
            why.append("%s: no control run" % m)
        elif must == "relays" and n < 1:
            why.append("%s control: did not relay it (%s), so the row "
                       "proves nothing there" % (m, c.get("control_fate")))
        elif must == "immune" and n != 0:
            why.append("%s control: relayed %d, technique says the server "
                       "is immune" % (m, n))
        v = c.get("inline", "not run")
        if c.get("relayed", 0) != 0:
            why.append("%s: RELAYED %d through relayguardd (%s; events %s)"
                       % (m, c["relayed"], c.get("fate"),
                          [e.get("event") for e in c.get("events", [])]))
        elif m == "postfix" and not (v.startswith("stopped") or
                                     v.startswith("not relayed")):
            why.append("%s inline: %s (client %s; events %s; counters %s)"
                       % (m, v, c.get("fate"),
                          [e.get("event") + ("/" + e["what"] if "what" in e
                                             else "")
                           for e in c.get("events", [])], c.get("delta")))
        elif v.startswith("ERROR"):
            why.append("%s inline: %s" % (m, v))
    return why


def short(v):
    return v[len("stopped: "):] if v.startswith("stopped: ") else v


def main(argv):
    if argv[:1] == ["--worker"] and len(argv) == 2:
        return worker(argv[1])
    if len(argv) != 1:
        print("usage: suite.py BUILD_DIR", file=sys.stderr)
        return 2
    build = os.path.abspath(argv[0])
    tool = os.path.join(build, "relayguard")
    inline = os.environ.get("EVASION_INLINE") == "1"
    mtas = os.environ.get("LAB_MTAS", "postfix").split() if inline else []
    skipped = 0
    if not os.access(tool, os.X_OK):
        print("FAIL build: %s missing" % tool)
        print("evasion: 0 passed, 1 failed")
        return 1
    rows = {t.name: {} for t in T.TECHNIQUES}
    with tempfile.TemporaryDirectory(prefix="rg-evasion.") as tmp:
        t0 = time.monotonic()
        for name, (v, _) in replay_half(tool, tmp).items():
            rows[name]["replay"] = v
        t1 = time.monotonic()
        if inline:
            inline_half(build, rows, mtas)
        t2 = time.monotonic()
    passed = failed = 0
    for i, t in enumerate(T.TECHNIQUES):
        for k, m in enumerate(mtas):
            if rows[t.name].get(m, {}).get("server_open"):
                print("NOTE %s: after the reset %s still holds the "
                      "connection from port %d (the RST to the server was "
                      "not accepted)" % (t.name, m, GUARD_PORT + 100 * k + i))
        why = judge(t, rows[t.name], inline, mtas)
        if why:
            failed += 1
            print("FAIL %s: %s" % (t.name, "; ".join(why)))
        else:
            passed += 1
            print("PASS %s" % t.name)
    for why in rows.get("_daemon", []):
        failed += 1
        print("FAIL relayguardd: %s" % why)
    if not inline:
        skipped = 1
        print("SKIP inline: %s" % os.environ.get("EVASION_SKIP",
                                                  "not run"))
    elif os.environ.get("EVASION_SKIP"):
        skipped = 1
        print("SKIP servers: %s" % os.environ["EVASION_SKIP"])
    print()
    hdr = ["technique", "replay verdict"]
    for m in mtas:
        hdr += ["%s control" % m, "%s through relayguardd" % m]
    lines = []
    for t in T.TECHNIQUES:
        r = rows[t.name]
        line = [t.name, r.get("replay", "-")]
        for m in mtas:
            c = r.get(m, {})
            ctl = c.get("control")
            line.append("-" if ctl is None else
                        "%d %s" % (ctl, "relays" if ctl else "immune"))
            v = short(c.get("inline", "-"))
            if c.get("relayed"):
                v += " RELAYED %d" % c["relayed"]
            line.append(v)
        lines.append(line)
    w = [max(len(x[k]) for x in lines + [hdr]) for k in range(len(hdr))]
    fmt = " | ".join("%%-%ds" % n for n in w)
    print(fmt % tuple(hdr))
    print("-+-".join("-" * n for n in w))
    for x in lines:
        print(fmt % tuple(x))
    print()
    print("(control: foreign recipients each server accepted with no "
          "relayguardd, by its own log; through relayguardd: what stopped "
          "it, RELAYED N if the server still accepted N; replay %.1f s, "
          "inline %.1f s, servers in parallel)" % (t1 - t0, t2 - t1))
    line = "evasion: %d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print(line)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
