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

Inline half (when run found root and brought the lab up; the environment
then holds NS_ATT NS_GW NS_MAIL PF_DIR PF_LOG LAB_DIR LAB_SH): first every
technique once with no relayguardd (the control: does the open relay
really relay it?), then every technique through relayguardd in enforce
mode (midstream rows: the session opens before relayguardd starts).  Per
row: the client's fate (reset, stalled, completed), the daemon's events
for the row's source port, the change of its normalisation counters
(relayguard status --json), messages relayed (the lab's relayed_count)
and the foreign RCPTs Postfix logged.  A row passes when the replay
verdict is the expected one, the control did what the technique says
(relays / immune), relayguardd stopped it (an event, a drop or a rewrite
it counted) and nothing was relayed nor any foreign RCPT of the row read
by Postfix.

Prints PASS/FAIL lines, NOTE lines (after a reset, Postfix still held
the row's connection: the RST to the server was not accepted; not counted
as a failure), the table, and "evasion: N passed, N failed".
EVASION_ONLY=REGEX runs the inline half for matching rows only.
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import techniques as T  # noqa: E402

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


class Lab:
    def __init__(self, build, tmp):
        self.env = os.environ
        self.ns_att = os.environ["NS_ATT"]
        self.ns_gw = os.environ["NS_GW"]
        self.pf_log = os.environ["PF_LOG"]
        self.rgd = os.path.join(build, "relayguardd")
        self.rg = os.path.join(build, "relayguard")
        self.dir = os.path.join(os.environ["LAB_DIR"], "evasion")
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "relayguard.conf")
        self.daemon = None
        self.dlog = None
        self.nlog = 0
        with open(self.conf, "w") as f:
            f.write("# written by tests/evasion/suite.py\n"
                    "local-domains   example.test\n"
                    "relay-networks  192.0.2.0/24 2001:db8:1::/48\n"
                    "ports           25\n"
                    "hook            forward\n"
                    "mode            enforce\n"
                    "block-after     1000\n"
                    "block-for       1h\n"
                    "starttls        allow\n"
                    "min-ttl         10\n"
                    "state-db        %s/state.db\n"
                    "control-socket  %s/control.sock\n"
                    % (self.dir, self.dir))

    def helper(self, name):
        """A function of tests/inline/lab.sh, run in bash (stdout)."""
        p = subprocess.run(["bash", "-c", '. "$LAB_SH" && ' + name],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60)
        return p.stdout.decode().strip()

    def relayed(self):
        v = self.helper("relayed_count")
        return int(v) if v.isdigit() else -1

    def log_pos(self):
        try:
            return os.path.getsize(self.pf_log)
        except OSError:
            return 0

    def rcpts_seen(self, pos, tag):
        """Addresses of the row's tag Postfix logged RCPTs for, since pos."""
        try:
            with open(self.pf_log, "rb") as f:
                f.seek(pos)
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return []
        out = []
        for m in re.finditer(r"rcpt seen;.* to=<([^>]*)>", text):
            if tag.lower() in m.group(1).lower():
                out.append(m.group(1))
        return out

    def start_daemon(self, name):
        self.dlog = os.path.join(self.dir, "relayguardd-%s.log" % name)
        self.nlog += 1
        subprocess.run(["ip", "netns", "exec", self.ns_gw, "nft", "delete",
                        "table", "inet", "relayguard"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(self.dlog, "wb") as f:
            self.daemon = subprocess.Popen(
                ["ip", "netns", "exec", self.ns_gw, self.rgd, "-c",
                 self.conf, "-f"], stdout=subprocess.DEVNULL, stderr=f)
        end = time.monotonic() + 15
        while time.monotonic() < end:
            with open(self.dlog, "rb") as f:
                if b"ready: " in f.read():
                    return True
            if self.daemon.poll() is not None:
                break
            time.sleep(0.05)
        return False

    def stop_daemon(self):
        if self.daemon is None:
            return
        self.daemon.send_signal(signal.SIGTERM)
        try:
            self.daemon.wait(10)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
            self.daemon.wait()
        self.daemon = None
        subprocess.run(["ip", "netns", "exec", self.ns_gw, "nft", "delete",
                        "table", "inet", "relayguard"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def server_open(self, port):
        """Postfix still holds an established connection from port
        (waits up to 1 s for it to go)."""
        end = time.monotonic() + 1.0
        while True:
            p = subprocess.run(["ip", "netns", "exec",
                                os.environ["NS_MAIL"], "ss", "-Htn",
                                "state", "established",
                                "( dport = :%d )" % port],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
            if not p.stdout.strip():
                return False
            if time.monotonic() > end:
                return True
            time.sleep(0.05)

    def status(self):
        p = subprocess.run(["ip", "netns", "exec", self.ns_gw, "timeout",
                            "10", self.rg, "-c", self.conf, "status",
                            "--json"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
        try:
            return json.loads(p.stdout.decode())
        except ValueError:
            return {}

    def events(self, sport):
        out = []
        if self.dlog is None:
            return out
        with open(self.dlog, "rb") as f:
            for line in f.read().decode("utf-8", "replace").splitlines():
                if not line.startswith("{"):
                    continue
                try:
                    e = json.loads(line)
                except ValueError:
                    continue
                if e.get("client_port") == sport:
                    out.append(e)
        return out

    def client(self, tech, sport, resume=None, on_pause=None):
        cmd = ["ip", "netns", "exec", self.ns_att, "timeout", "60", PY,
               os.path.join(HERE, "client.py"), tech.name, str(sport)]
        if resume:
            cmd.append(resume)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        res = None
        for line in p.stdout:
            line = line.decode("utf-8", "replace").strip()
            if line == "PAUSED" and on_pause:
                on_pause()
            elif line.startswith("{"):
                res = json.loads(line)
        err = p.stderr.read().decode("utf-8", "replace")
        p.wait()
        if res is None:
            res = {"error": "client: exit %d: %s" % (p.returncode,
                                                      err.strip()[-300:])}
        return res


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


def inline_verdict(tech, res, events, delta, relayed, foreign):
    if relayed != 0 or foreign:
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
    if tech.control == "immune" and not res.get("error"):
        return "not relayed (server immune)" + extra
    return "UNCLEAR: no event, drop or rewrite" + extra


def inline_half(build, tmp, rows):
    lab = Lab(build, tmp)
    try:
        return _inline(lab, rows)
    finally:
        lab.stop_daemon()


def _inline(lab, rows):
    # Controls: no relayguardd between the attacker and the open relay.
    lab.helper("queue_clear")
    for i, t in enumerate(T.TECHNIQUES):
        if not wanted(t):
            continue
        r0, pos = lab.relayed(), lab.log_pos()
        res = lab.client(t, CONTROL_PORT + i)
        rows[t.name]["control"] = lab.relayed() - r0
        rows[t.name]["control_fate"] = fate(res)
        rows[t.name]["control_seen"] = lab.rcpts_seen(pos, t.tag)
    lab.helper("queue_clear")

    def guarded(i, t, res_fn):
        if not wanted(t):
            return
        r0, pos = lab.relayed(), lab.log_pos()
        s0 = lab.status()
        res = res_fn()
        s1 = lab.status()
        row = rows[t.name]
        row["relayed"] = lab.relayed() - r0
        seen = lab.rcpts_seen(pos, t.tag)
        row["seen"] = seen
        row["foreign"] = [a for a in seen if "@" in a and
                          not a.lower().endswith("@example.test")]
        delta = {k: s1.get(k, 0) - s0.get(k, 0) for k in NORM + STOPS}
        row["delta"] = {k: v for k, v in delta.items() if v}
        row["events"] = lab.events(GUARD_PORT + i)
        row["fate"] = fate(res)
        row["res"] = res
        row["inline"] = inline_verdict(t, res, row["events"], delta,
                                       row["relayed"], row["foreign"])
        # After a reset the server's end must be gone too (relayguardd
        # resets both ends); a smtpd left waiting is worth a note.
        row["server_open"] = res.get("reset") and \
            lab.server_open(GUARD_PORT + i)
        if not s1:
            row["inline"] = "ERROR: no status from relayguardd"

    mids = [(i, t) for i, t in enumerate(T.TECHNIQUES)
            if any(isinstance(s, T.Midstream) for s in t.steps)]
    if not lab.start_daemon("main"):
        for t in T.TECHNIQUES:
            rows[t.name]["inline"] = "ERROR: relayguardd not ready"
        return
    for i, t in enumerate(T.TECHNIQUES):
        if (i, t) in mids:
            continue
        guarded(i, t, lambda: lab.client(t, GUARD_PORT + i))
    lab.stop_daemon()

    # Midstream: the session opens with no relayguardd; it starts at the
    # technique's Midstream step, then the client goes on.
    for i, t in mids:
        if not wanted(t):
            continue
        resume = os.path.join(lab.dir, "resume-%s" % t.name)
        if os.path.exists(resume):
            os.unlink(resume)
        state = {"ok": False}

        def on_pause():
            state["ok"] = lab.start_daemon(t.name)
            open(resume, "w").close()

        def run():
            return lab.client(t, GUARD_PORT + i, resume, on_pause)

        # The counters start at zero with the daemon: status() before the
        # start is {} and every key reads 0.
        guarded(i, t, run)
        if not state["ok"]:
            rows[t.name]["inline"] = "ERROR: relayguardd not ready"
        lab.stop_daemon()


# -- report -------------------------------------------------------------------

def judge(t, row, inline):
    why = []
    if not re.fullmatch(t.replay, row["replay"]):
        why.append("replay: %s, expected %s" % (row["replay"], t.replay))
    if not inline:
        return why
    c = row.get("control")
    if c is None:
        why.append("no control run")
    elif t.control == "relays" and c < 1:
        why.append("control: the open relay did not relay it (%s), so the "
                   "row proves nothing" % row.get("control_fate"))
    elif t.control == "immune" and c != 0:
        why.append("control: relayed %d, technique says the server is "
                   "immune" % c)
    v = row.get("inline", "not run")
    if not (v.startswith("stopped") or v.startswith("not relayed")):
        why.append("inline: %s (client %s; events %s; counters %s; "
                   "Postfix read %s)" % (
                       v, row.get("fate"),
                       [e.get("event") + ("/" + e["what"] if "what" in e
                                          else "")
                        for e in row.get("events", [])],
                       row.get("delta"), row.get("seen")))
    if row.get("relayed", 0) != 0:
        why.append("relayed %d" % row["relayed"])
    if row.get("foreign"):
        why.append("Postfix read foreign RCPT %s" % row["foreign"])
    return why


def main(argv):
    if len(argv) != 1:
        print("usage: suite.py BUILD_DIR", file=sys.stderr)
        return 2
    build = os.path.abspath(argv[0])
    tool = os.path.join(build, "relayguard")
    inline = os.environ.get("EVASION_INLINE") == "1"
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
            inline_half(build, tmp, rows)
        t2 = time.monotonic()
    passed = failed = 0
    for t in T.TECHNIQUES:
        if rows[t.name].get("server_open"):
            print("NOTE %s: after the reset Postfix still holds the "
                  "connection from port %d (the RST to the server was not "
                  "accepted)" % (t.name, GUARD_PORT +
                                 T.TECHNIQUES.index(t)))
        why = judge(t, rows[t.name], inline)
        if why:
            failed += 1
            print("FAIL %s: %s" % (t.name, "; ".join(why)))
        else:
            passed += 1
            print("PASS %s" % t.name)
    if not inline:
        skipped = 1
        print("SKIP inline: %s" % os.environ.get("EVASION_SKIP",
                                                  "not run"))
    print()
    hdr = ("technique", "replay verdict", "inline verdict", "relayed",
           "control")
    lines = []
    for t in T.TECHNIQUES:
        r = rows[t.name]
        ctl = r.get("control")
        lines.append((t.name, r.get("replay", "-"),
                      r.get("inline", "skipped") if inline else "skipped",
                      str(r.get("relayed", "-")) if inline else "-",
                      ("%s (%s)" % (ctl, t.control)) if ctl is not None
                      else "-"))
    w = [max(len(x[k]) for x in lines + [hdr]) for k in range(len(hdr))]
    fmt = " | ".join("%%-%ds" % n for n in w)
    print(fmt % hdr)
    print("-+-".join("-" * n for n in w))
    for x in lines:
        print(fmt % x)
    print()
    print("(control: messages the open relay queued for foreign domains "
          "with no relayguardd; replay %.1f s, inline %.1f s)" %
          (t1 - t0, t2 - t1))
    line = "evasion: %d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print(line)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
