#!/usr/bin/python3
"""
diff.py BUILD_DIR (--slice | --seconds N | --dialogues SEED:N...)
-- the differential fuzzer's runner (called by run, inside the lab).

For a batch of dialogues (grammar.py) and every server of the lab:
  control  no relayguardd: each dialogue against each server, the
           gateway's traffic captured by tcpdump; the oracle (the server's
           own log and queue) says whether it accepted a foreign
           recipient carrying the dialogue's tag;
  replay   that capture through `relayguard replay` (enforce): per
           session, did replay reset it (an event with action reset);
  inline   the same dialogues through relayguardd (enforce, block-after
           1000), with the tag's other phase letter: did the server
           relay anyway, did relayguardd reset the session.
A finding is a dialogue that relays through relayguardd (relayed), whose
control relay replay did not reset (missed), or whose replay and inline
verdicts differ (disagree).  Each is written to findings/ as a case.json
(the dialogue itself, its seed and description, what was seen) and the
control capture of its session, and a line to $DIFF_NOTES when set.

--slice: the fixed-seed slice, then every committed finding (its
capture replayed offline, its dialogue played live again); PASS/FAIL per
dialogue and server, last line "differential: N passed, N failed".
--dialogues SEED:N...: those dialogues, as --seconds would play them.
--seconds N: random seeds for N seconds; new findings are appended
(one per kind, server and salient choices), and per server it prints
dialogues tried, relayed without relayguard, relayed with it, replay
misses and disagreements.

Environment (set by run): NS_ATT NS_GW LAB_DIR LAB_SH DIFF_SERVERS
("name,addr4,addr6 ..."), what lab_up exports for tests/lab/oracle.py,
or DIFF_ORACLE=postfix and PF_LOG for the Postfix-only lab.
"""

import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import grammar as G  # noqa: E402
sys.path.insert(0, os.path.join(HERE, "..", "lab"))
from daemon import Daemon  # noqa: E402

PY = "/usr/bin/python3"
FINDINGS = os.path.join(HERE, "findings")
SLICE_SEED = "1"
SLICE_COUNT = int(os.environ.get("DIFF_SLICE", "10"))
BATCH = 8
CLIENT4 = "203.0.113.10"
CLIENT6 = "2001:db8:3::10"
LOCAL = ["example.test"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# -- the oracle ---------------------------------------------------------------

def strip_comments(a):
    out, depth = "", 0
    for c in a:
        if c == "(":
            depth += 1
        elif c == ")" and depth:
            depth -= 1
        elif not depth:
            out += c
    return out


def is_local_domain(d, server_addr):
    d = d.lower().rstrip(".")
    if d.startswith("[") and d.endswith("]"):
        lit = d[1:-1]
        if lit.startswith("ipv6:"):
            lit = lit[5:]
        return lit == server_addr
    return d in LOCAL


def foreign(addr, server_addr, depth=0, routes=True):
    """Where a lenient server routes addr (as logged): True when outside
    the local domains after source routes, the %-hack, bang paths and
    quoted routes are honoured."""
    a = strip_comments(addr).strip().strip("<>").strip()
    if a.startswith("@") and ":" in a:
        a = a.split(":", 1)[1]
    if "@" not in a:
        return "!" in a
    local, dom = a.rsplit("@", 1)
    if not is_local_domain(dom, server_addr):
        return True
    if depth > 3 or not routes:
        return False
    lp = local.strip('"')
    if "@" in lp:
        return foreign(lp, server_addr, depth + 1)
    if "%" in lp:
        return not is_local_domain(lp.rsplit("%", 1)[1], server_addr)
    if "!" in lp:
        return not is_local_domain(lp.split("!", 1)[0], server_addr)
    return False


class PostfixOracle:
    """Today's single-Postfix lab: a recipient with the tag that Postfix
    accepted ("rcpt seen" is logged for every accepted RCPT) in a foreign
    domain, or mail with the tag it parked for the smtp transport
    ("deferred transport").  That lab's Postfix has no mydestination: it
    honours no %-hack, bang path or quoted route, so only the plain
    domain of the address counts (routes=False)."""

    def __init__(self, lab):
        self.lab = lab
        self.log = os.environ["PF_LOG"]
        self.pos = 0
        self.hits = {}

    def settle(self, name):
        last, since = -1, time.monotonic()
        end = time.monotonic() + 8
        while time.monotonic() < end:
            try:
                n = os.path.getsize(self.log)
            except OSError:
                n = 0
            if n != last:
                last, since = n, time.monotonic()
            elif time.monotonic() - since >= 0.6:
                return
            time.sleep(0.1)

    def relayed(self, name, server_addr, tag):
        """Read the log on from where the last call stopped; addresses
        are filed under the tag they carry."""
        try:
            with open(self.log, "rb") as f:
                f.seek(self.pos)
                text = f.read()
        except OSError:
            text = b""
        cut = text.rfind(b"\n") + 1
        self.pos += cut
        text = text[:cut].decode("utf-8", "replace")
        for m in re.finditer(r"rcpt seen;.* to=<([^>]*)>", text):
            a = m.group(1)
            if foreign(a, server_addr, routes=False):
                self.file(a)
        for m in re.finditer(r" to=<([^>]*)>.*status=deferred "
                             r"\(deferred transport\)", text):
            self.file(m.group(1))
        return self.hits.get(tag.lower(), 0)

    def file(self, addr):
        for t in set(re.findall(r"dfz\w+?x\d+[a-z]", addr.lower())):
            self.hits[t] = self.hits.get(t, 0) + 1


class MtaOracle:
    """The four-server lab: tests/lab/oracle.py (what mta_relayed and
    mta_settle of lab.sh run): foreign recipients the server accepted
    at RCPT time, from its own log."""

    def __init__(self, lab):
        import oracle
        self.o = oracle

    def settle(self, name):
        self.o.settle(name)

    def relayed(self, name, server_addr, tag):
        return self.o.count(name, "relayed", tag)


# -- the lab ------------------------------------------------------------------

class Lab:
    """The lab as this fuzzer uses it: the servers, relayguardd in the
    gateway (tests/lab/daemon.py), the player in the attacker namespace,
    tcpdump in the gateway, the oracle."""

    def __init__(self, build):
        self.ns_att = os.environ["NS_ATT"]
        self.ns_gw = os.environ["NS_GW"]
        self.rg = os.path.join(build, "relayguard")
        self.dir = os.path.join(os.environ["LAB_DIR"], "differential")
        self.d = Daemon(build, self.ns_gw, self.dir)
        # offload yes (issue 11): a dialogue the engine wrongly took for
        # authenticated or TLS (its AUTH and STARTTLS carriers) would pass
        # the kernel uninspected and relay through relayguardd.
        self.d.write_conf(["block-after     1000", "offload         yes"])
        self.rconf = os.path.join(self.dir, "replay.conf")
        self.servers = []
        for w in os.environ.get("DIFF_SERVERS", "").split():
            name, a4, a6 = w.split(",")
            self.servers.append((name, a4, a6))
        # Replay: the daemon's policy (its file names the state database
        # and socket too, which replay has no use for).
        with open(self.d.conf) as f:
            base = "".join(l for l in f if not l.startswith(
                ("hook", "state-db", "control-socket")))
        with open(self.rconf, "w") as f:
            f.write(base)
        self.player = None
        self.results = {}
        self.cv = threading.Condition()
        self.next_id = 0
        self.port = {"plain": 40000, "raw": 30000}
        self.oracle = PostfixOracle(self) if \
            os.environ.get("DIFF_ORACLE") == "postfix" else MtaOracle(self)

    # The player: one process in the attacker namespace, a thread per
    # session.
    def start_player(self):
        self.player = subprocess.Popen(
            ["ip", "netns", "exec", self.ns_att, PY,
             os.path.join(HERE, "player.py")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        for line in self.player.stdout:
            try:
                res = json.loads(line)
            except ValueError:
                continue
            with self.cv:
                self.results[res["id"]] = res
                self.cv.notify_all()

    def stop_player(self):
        if self.player:
            self.player.stdin.close()
            try:
                self.player.wait(30)
            except subprocess.TimeoutExpired:
                self.player.kill()
                self.player.wait()
            self.player = None

    def events(self, port):
        """The running (or last) daemon's events for a client port."""
        out = []
        try:
            with open(self.d.log, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            return out
        for line in text.splitlines():
            if line.startswith("{"):
                try:
                    e = json.loads(line)
                except ValueError:
                    continue
                if e.get("client_port") == port:
                    out.append(e)
        return out

    def sport(self, mode):
        lo, hi = (40000, 59999) if mode == "plain" else (30000, 39999)
        p = self.port[mode]
        self.port[mode] = lo + (p + 1 - lo) % (hi - lo + 1)
        return p

    def play_many(self, jobs):
        """jobs: [(dialogue, server tuple, sport)]; plays them at once,
        returns their results in order."""
        ids = []
        for dlg, srv, sport in jobs:
            self.next_id += 1
            ids.append(self.next_id)
            req = {"id": self.next_id, "server": srv[1], "server6": srv[2],
                   "client": CLIENT4, "client6": CLIENT6, "sport": sport,
                   "dlg": dlg}
            self.player.stdin.write((json.dumps(req) + "\n").encode())
        self.player.stdin.flush()
        end = time.monotonic() + 120
        with self.cv:
            while not all(i in self.results for i in ids) and \
                    time.monotonic() < end:
                self.cv.wait(1)
            return [self.results.pop(i, {"error": "no result", "conns": [],
                                         "reset": False, "rx": ""})
                    for i in ids]

    # Capture in the gateway, on the attacker's link: what relayguardd
    # sees inline.
    def capture_start(self, path):
        errf = path + ".err"
        self.cap_err = open(errf, "wb")
        self.cap = subprocess.Popen(
            ["ip", "netns", "exec", self.ns_gw, "tcpdump", "-i", "att",
             "--immediate-mode", "-U", "-s", "0", "-B", "262144", "-Z",
             "root", "-w", path, "tcp port 25"],
            stdout=subprocess.DEVNULL, stderr=self.cap_err)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            with open(errf, "rb") as f:
                if b"listening on" in f.read():
                    return True
            if self.cap.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def capture_stop(self):
        # (Without --immediate-mode the ring's last second is lost when
        # tcpdump stops; with it, a little time is still needed.  Its
        # ring has one frame per snap length, and the attacker's stack
        # hands the link GSO packets of up to 64 KiB: a snap length of
        # 0 and a 256 MiB buffer, or bursts of segments are lost.)
        time.sleep(0.5)
        self.cap.send_signal(signal.SIGINT)
        try:
            self.cap.wait(10)
        except subprocess.TimeoutExpired:
            self.cap.kill()
            self.cap.wait()
        self.cap_err.close()

    def replay(self, path, conf=None):
        p = subprocess.run(["timeout", "120", self.rg, "replay", "-c",
                            conf or self.rconf, path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        events = []
        for line in p.stdout.decode("utf-8", "replace").splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                pass
        err = p.stderr.decode("utf-8", "replace")
        bad = None
        if p.returncode != 0:
            bad = "replay exit %d: %s" % (p.returncode, err.strip()[-200:])
        elif "AddressSanitizer" in err or "runtime error" in err:
            bad = "replay: sanitizer report"
        return events, bad


def tcp_packets(path):
    """(ttl, sport, dport, seq, ack, flags, captured payload length) of
    every TCP packet in a pcap file of Ethernet frames (what tcpdump
    writes)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return
    if len(data) < 24:
        return
    magic = struct.unpack("<I", data[:4])[0]
    end = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    off = 24
    while off + 16 <= len(data):
        caplen = struct.unpack(end + "I", data[off + 8:off + 12])[0]
        pkt = data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        if len(pkt) < 14:
            continue
        et = struct.unpack("!H", pkt[12:14])[0]
        ip = pkt[14:]
        if et == 0x0800 and len(ip) >= 20 and ip[9] == 6:
            ttl, hl = ip[8], (ip[0] & 0x0F) * 4
            plen = struct.unpack("!H", ip[2:4])[0] - hl
        elif et == 0x86DD and len(ip) >= 40 and ip[6] == 6:
            ttl, hl = ip[7], 40
            plen = struct.unpack("!H", ip[4:6])[0]
        else:
            continue
        tcp = ip[hl:]
        if len(tcp) < 14:
            continue
        sp, dp, seq, ack = struct.unpack("!HHII", tcp[:12])
        # Payload bytes the capture holds (a snap length or a GSO
        # packet larger than it cuts them short).
        n = min(plen, len(tcp)) - (tcp[12] >> 4) * 4
        yield ttl, sp, dp, seq, ack, tcp[13], max(0, n)


def rg_resets(path):
    """Client ports that got a RST made by relayguardd, in a capture of
    the attacker's link: relayguardd writes its RSTs with TTL (hop
    limit) 64 on the gateway, the server's own packets arrive there one
    hop older (63)."""
    return set(dp for ttl, sp, dp, _, _, fl, _ in tcp_packets(path)
               if sp == 25 and fl & 0x04 and ttl == 64)


def capture_holes(path):
    """Client ports whose server acknowledged client bytes the capture
    does not hold (the capture lost packets: replay of it proves
    nothing)."""
    holes = set()
    flows = {}

    def check(port):
        f = flows.get(port)
        if f is None or f["ack"] is None:
            return
        have = 1
        for a, b in sorted(f["iv"]):
            if a > have:
                break
            have = max(have, b)
        if f["ack"] > have:
            holes.add(port)

    for _, sp, dp, seq, ack, fl, n in tcp_packets(path):
        if dp == 25:
            if fl & 0x02:			# SYN: a new connection
                check(sp)
                flows[sp] = {"isn": seq, "iv": [], "ack": None}
            elif sp in flows:
                rel = (seq - flows[sp]["isn"]) & 0xFFFFFFFF
                n += 1 if fl & 0x01 else 0
                if n > 0 and rel < 1 << 30:
                    flows[sp]["iv"].append((rel, rel + n))
        elif sp == 25 and dp in flows and fl & 0x10 and not fl & 0x02:
            rel = (ack - flows[dp]["isn"]) & 0xFFFFFFFF
            if rel < 1 << 30:
                f = flows[dp]
                f["ack"] = rel if f["ack"] is None else max(f["ack"], rel)
    for port in list(flows):
        check(port)
    return holes


def resets(events):
    return [e for e in events if e.get("action") == "reset"]


def kinds(events):
    return sorted(set(e.get("event", "?") + ("/" + e["what"] if "what" in e
                                             else "")
                      for e in events))


def by_port(events, port):
    return [e for e in events if e.get("client_port") == port]


# -- one batch ----------------------------------------------------------------

def play_phase(lab, dlgs, rows, phase, letter):
    """Each dialogue on every server at once, one dialogue after the
    other; phase "control" or "inline" names the row's keys, letter the
    tag's last letter."""
    port, res = ("cport", "control_res") if phase == "control" else \
        ("gport", "inline_res")
    for d in dlgs:
        mine = [r for r in rows if r["dlg"] is d]
        jobs = []
        for r in mine:
            r[port] = lab.sport(d["mode"])
            jobs.append((G.phased(d, letter), r["srv"], r[port]))
        for r, x in zip(mine, lab.play_many(jobs)):
            r[res] = x


def run_batch(lab, dlgs, tag="", servers=None, letters=("c", "g")):
    """Control, replay, inline for dlgs on every server (or those
    given); returns one row per (dialogue, server).  letters: the tag's
    last letter in the control and the inline run (a dialogue played
    again needs others, the servers remember the first)."""
    rows = []
    for d in dlgs:
        for srv in servers or lab.servers:
            rows.append({"dlg": d, "server": srv[0], "srv": srv,
                         "letters": letters})
    # Control, captured (or taken from the other pass, see Controls).
    cap = os.path.join(lab.dir, "control-%s.pcap" % tag)
    if not CONTROLS.take(tag, rows, cap):
        if not lab.capture_start(cap):
            for r in rows:
                r["error"] = "tcpdump did not start"
            return rows
        play_phase(lab, dlgs, rows, "control", letters[0])
        lab.capture_stop()
        for srv in servers or lab.servers:
            lab.oracle.settle(srv[0])
        for r in rows:
            r["control"] = lab.oracle.relayed(r["server"], r["srv"][1],
                                              r["dlg"]["tag"] + letters[0])
        CONTROLS.keep(tag, rows, cap)
    # Replay of the control capture.
    events, bad = lab.replay(cap)
    holes = capture_holes(cap)
    for r in rows:
        if r["cport"] in holes:
            r["error"] = "the control capture lost packets the server " \
                "acknowledged"
        ev = by_port(events, r["cport"])
        r["replay_events"] = ev
        r["replay_reset"] = bool(resets(ev))
        if bad:
            r["error"] = bad
    # Inline, captured too: the RSTs relayguardd sent.
    if not lab.d.start("batch%s" % tag):
        for r in rows:
            r["error"] = "relayguardd not ready"
        return rows
    icap = os.path.join(lab.dir, "inline-%s.pcap" % tag)
    if not lab.capture_start(icap):
        for r in rows:
            r["error"] = "tcpdump did not start"
    play_phase(lab, dlgs, rows, "inline", letters[1])
    lab.capture_stop()
    rst = rg_resets(icap)
    # Replay of the inline capture: the very packets relayguardd judged
    # (the attacker's link, before its verdicts), with the server replies
    # its normalisation led to.  Its verdict must be relayguardd's: the
    # control run cannot say, for relayguardd changes what the server
    # sees (bytes held until a reply, unfinished RCPT lines held back).
    ievents, ibad = lab.replay(icap)
    iholes = capture_holes(icap)
    for r in rows:
        r["ccap"], r["icap"] = cap, icap
        iev = by_port(ievents, r["gport"])
        r["replay_inline_events"] = iev
        r["replay_inline_reset"] = bool(resets(iev))
        if ibad:
            r["error"] = ibad
        elif r["gport"] in iholes:
            r["error"] = "the inline capture lost packets the server " \
                "acknowledged"
        ev = lab.events(r["gport"])
        r["inline_events"] = ev
        # relayguardd resets a session with an event saying so, or for
        # a protection it only counts (pipelined past DATA, an ACK for
        # unseen bytes, ...): its RST on the wire tells.
        r["inline_reset"] = bool(resets(ev)) or r["gport"] in rst
    why = lab.d.stop()
    for r in rows:
        if why:
            r["error"] = "%s (log %s)" % (why, lab.d.log)
    for srv in servers or lab.servers:
        lab.oracle.settle(srv[0])
    for r in rows:
        r["inline"] = lab.oracle.relayed(r["server"], r["srv"][1],
                                         r["dlg"]["tag"] + letters[1])
        judge(r)
    return rows


class Controls:
    """The control half of a slice batch never involves relayguard: its
    capture and what each server did with it.  One pass of make check
    keeps them in the directory $DIFF_CONTROLS_OUT; the sanitizer pass
    takes them from $DIFF_CONTROLS_IN (same servers, same dialogues) and
    only replays the capture with its own build.  Anything missing or
    different is played again."""

    KEYS = ("cport", "control", "control_res")

    def __init__(self):
        self.dir_in = self.dir_out = None
        self.cache, self.out = {}, {}

    def load(self):
        self.dir_in = os.environ.get("DIFF_CONTROLS_IN") or None
        self.dir_out = os.environ.get("DIFF_CONTROLS_OUT") or None
        if self.dir_in:
            try:
                with open(os.path.join(self.dir_in, "controls.json"),
                          encoding="utf-8") as f:
                    self.cache = json.load(f)
            except (OSError, ValueError):
                self.cache = {}
        if self.dir_out:
            os.makedirs(self.dir_out, exist_ok=True)

    @staticmethod
    def ids(rows):
        return [[r["dlg"]["tag"], r["server"], list(r["srv"])] for r in rows]

    def take(self, tag, rows, cap):
        got = self.cache.get(tag)
        src = os.path.join(self.dir_in or "", "control-%s.pcap" % tag)
        if not got or got.get("ids") != self.ids(rows) or \
                not os.path.exists(src):
            return False
        try:
            shutil.copyfile(src, cap)
        except OSError:
            return False
        for r, kept in zip(rows, got["rows"]):
            r.update(kept)
        return True

    def keep(self, tag, rows, cap):
        if not self.dir_out:
            return
        self.out[tag] = {"ids": self.ids(rows),
                         "rows": [{k: r[k] for k in self.KEYS if k in r}
                                  for r in rows]}
        try:
            shutil.copyfile(cap, os.path.join(self.dir_out,
                                              "control-%s.pcap" % tag))
            with open(os.path.join(self.dir_out, "controls.json"), "w",
                      encoding="utf-8") as f:
                json.dump(self.out, f)
        except OSError:
            pass


CONTROLS = Controls()


def judge(r):
    why = []
    if r.get("error"):
        why.append("error: " + r["error"])
    if r.get("inline", 0) > 0:
        why.append("relayed through relayguardd (%d)" % r["inline"])
    if r.get("control", 0) > 0 and not r.get("replay_reset"):
        why.append("replay missed the control relay (events %s)" %
                   kinds(r.get("replay_events", [])))
    # The same packets, replayed and inline, must get the same verdict.
    # (The control capture is another run: relayguardd's normalisation
    # changes what the server does, so only "control relayed => replay
    # resets" is asked of it, above.)
    rk = "replay_inline_reset" if "replay_inline_reset" in r else \
        "replay_reset"
    ek = "replay_inline_events" if rk == "replay_inline_reset" else \
        "replay_events"
    if "inline_reset" in r and r[rk] != r["inline_reset"]:
        why.append("replay %s, inline %s (replay events %s; inline events "
                   "%s)" % ("reset" if r[rk] else "no reset",
                            "reset" if r["inline_reset"] else "no reset",
                            kinds(r.get(ek, [])),
                            kinds(r.get("inline_events", []))))
    r["why"] = why
    r["kinds"] = sorted(set(
        w.split(" ")[0] if not w.startswith("replay ") else
        ("missed" if "missed" in w else "disagree") for w in why))
    return why


# -- findings -----------------------------------------------------------------

# The choices that name a class of finding, and their plain values
# (left out of the signature).
SALIENT = {"carrier": None, "seg": None, "sep": "SP", "lead": "none",
           "eol": "CRLF", "eightbit": "-1", "nul": "none", "dverb": None,
           "end": None, "bverb": "BDATSP%d", "bsize": "exact",
           "limit": None, "delta": None, "mech": None, "state": None,
           "colon": ":"}
MAX_NEW = int(os.environ.get("DIFF_MAX_NEW", "40"))


def signature(r):
    """What makes two findings the same: for a disagreement alone, the
    event kinds on each side (the dialogue matters less than which
    check fired); otherwise the salient choices of the dialogue."""
    if r["kinds"] == ["disagree"]:
        return "disagree %s replay:%s inline:%s" % (
            r["server"], ",".join(kinds(r.get("replay_events", []))),
            ",".join(kinds(r.get("inline_events", []))))
    words = dict(w.split("=", 1) for w in r["dlg"]["desc"].split()
                 if "=" in w)
    sal = ["%s=%s" % (k, words[k]) for k, plain in SALIENT.items()
           if k in words and words[k] != plain]
    return "%s %s %s" % ("+".join(r["kinds"]), r["server"], " ".join(sal))


# Choices a finding is tried without, one at a time (the plain value
# forced, every other draw the same): what remains names its cause.
PLAIN = [("seg", "none"), ("pipe", "1"), ("pre", "none"), ("addr", "plain"),
         ("sep", "SP"), ("lead", "none"), ("eol", "CRLF"), ("colon", ":"),
         ("case", "upper"), ("eightbit", "-1"), ("nul", "none"),
         ("greet", "EHLO"), ("mail", "plain"), ("deol", "CRLF"),
         ("bsize", "exact"), ("bverb", "BDATSP%d"), ("dom", "exploit.test"),
         ("family", "4")]
TRIAL_LETTERS = [("d", "h"), ("e", "i"), ("f", "j"), ("k", "m"), ("n", "q"),
                 ("r", "s"), ("t", "u"), ("v", "w"), ("y", "z")]
MINIMIZE_SECONDS = int(os.environ.get("DIFF_MINIMIZE", "60"))


def main_kind(kinds_):
    for k in ("relayed", "missed", "disagree", "error:"):
        if k in kinds_:
            return k
    return None


def minimize(lab, found, b):
    """found: rows of one dialogue that showed the same kind of finding
    on some servers.  Play it again on those servers with one choice
    made plain at a time, keeping each change after which every one of
    them still shows it.  Returns the last such rows."""
    d = found[0]["dlg"]
    want = main_kind(found[0]["kinds"])
    servers = [r["srv"] for r in found]
    force = dict(d.get("force") or {})
    words = dict(w.split("=", 1) for w in d["desc"].split() if "=" in w)
    end = time.monotonic() + MINIMIZE_SECONDS
    letters = list(TRIAL_LETTERS)
    for key, plain in PLAIN:
        if time.monotonic() > end or not letters:
            break
        if key not in words or words[key] == plain or key in force:
            continue
        trial = G.make(d["seed"], d["n"], dict(force, **{key: plain}))
        if trial["desc"] == d["desc"]:
            continue
        tag = "m%d%s" % (b, letters[0][0])
        rows = run_batch(lab, [trial], tag=tag, servers=servers,
                         letters=letters.pop(0))
        if all(not r.get("error") and main_kind(r["kinds"]) == want
               for r in rows):
            force[key] = plain
            d = trial
            words = dict(w.split("=", 1) for w in d["desc"].split()
                         if "=" in w)
            found = rows
    return found


def known_signatures():
    out = set()
    if not os.path.isdir(FINDINGS):
        return out
    for name in os.listdir(FINDINGS):
        try:
            with open(os.path.join(FINDINGS, name, "case.json")) as f:
                out.add(json.load(f).get("signature", ""))
        except (OSError, ValueError):
            pass
    return out


def write_finding(lab, r):
    d = r["dlg"]
    name = "%s-%s" % (d["tag"], r["server"])
    path = os.path.join(FINDINGS, name)
    os.makedirs(path, exist_ok=True)
    host = r["srv"][2] if d["family"] == 6 else r["srv"][1]
    for cap, out, port in ((r["ccap"], "control.pcap", r["cport"]),
                           (r["icap"], "inline.pcap", r["gport"])):
        subprocess.run(["tcpdump", "-Z", "root", "-r", cap, "-w",
                        os.path.join(path, out), "tcp port %d and host %s"
                        % (port, host)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    case = {"name": name, "seed": d["seed"], "n": d["n"], "tag": d["tag"],
            "server": r["server"], "desc": d["desc"],
            "signature": signature(r), "why": r["why"],
            "control_relayed": r.get("control", 0),
            "inline_relayed": r.get("inline", 0),
            "replay_reset": r.get("replay_reset"),
            "inline_reset": r.get("inline_reset"),
            "replay_events": r.get("replay_events", []),
            "inline_events": r.get("inline_events", []),
            "control_port": r["cport"],
            "control_rx": r["control_res"].get("rx", "")[:2000],
            "inline_rx": r.get("inline_res", {}).get("rx", "")[:2000],
            "found": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "dialogue": d}
    with open(os.path.join(path, "case.json"), "w") as f:
        json.dump(case, f, indent=1)
        f.write("\n")
    notes = os.environ.get("DIFF_NOTES")
    if notes:
        with open(notes, "a") as f:
            f.write("- %s (%s): %s — %s; seed %s n %d; "
                    "tests/differential/findings/%s\n" % (
                        name, r["server"], "; ".join(r["why"])[:300],
                        d["desc"], d["seed"], d["n"], name))
    return name


def load_findings():
    out = []
    if not os.path.isdir(FINDINGS):
        return out
    for name in sorted(os.listdir(FINDINGS)):
        try:
            with open(os.path.join(FINDINGS, name, "case.json")) as f:
                out.append(json.load(f))
        except (OSError, ValueError):
            pass
    return out


def offline_finding(lab, case):
    """The committed capture: when the control relayed, replay must
    reset the session (None: the capture lost packets, it proves
    nothing)."""
    pc = os.path.join(FINDINGS, case["name"], "control.pcap")
    if not os.path.exists(pc):
        return ["capture missing"]
    if case["control_port"] in capture_holes(pc):
        return None
    events, bad = lab.replay(pc)
    if bad:
        return [bad]
    ev = by_port(events, case["control_port"])
    if case.get("control_relayed", 0) > 0 and not resets(ev):
        return ["replay of the capture does not reset the relaying "
                "session (events %s)" % kinds(ev)]
    return []


# -- modes --------------------------------------------------------------------

def describe(r):
    return "%s on %s [%s]" % (r["dlg"]["tag"], r["server"],
                              r["dlg"]["desc"])


def slice_mode(lab):
    passed = failed = skipped = 0
    CONTROLS.load()
    if CONTROLS.cache:
        print("# controls taken from %s" % CONTROLS.dir_in, flush=True)
    dlgs = [G.make(SLICE_SEED, i) for i in range(SLICE_COUNT)]
    cases = load_findings()
    servers = set(s[0] for s in lab.servers)
    live = [c["dialogue"] for c in cases if c["server"] in servers]
    # A finding's dialogue is played again on every server.
    seen = set()
    for d in live:
        if d["tag"] not in seen:
            seen.add(d["tag"])
            dlgs.append(d)
    for i in range(0, len(dlgs), BATCH):
        for r in run_batch(lab, dlgs[i:i + BATCH], tag="s%d" % i):
            if r["why"]:
                failed += 1
                print("FAIL %s: %s" % (describe(r), "; ".join(r["why"])),
                      flush=True)
            else:
                passed += 1
                print("PASS %s%s" % (describe(r), " (relays without "
                                     "relayguard)" if r["control"] else ""),
                      flush=True)
    for c in cases:
        why = offline_finding(lab, c)
        if why is None:
            skipped += 1
            print("SKIP finding %s (replay of its capture): the capture "
                  "lost packets the server acknowledged" % c["name"],
                  flush=True)
        elif why:
            failed += 1
            print("FAIL finding %s (replay of its capture): %s" %
                  (c["name"], "; ".join(why)), flush=True)
        else:
            passed += 1
            print("PASS finding %s (replay of its capture)" % c["name"],
                  flush=True)
    return passed, failed, skipped


def long_mode(lab, seconds, seed, only=None):
    """Random dialogues of seed for seconds, or the dialogues only
    names ([(seed, n)]) once each."""
    stats = {s[0]: {"tried": 0, "control": 0, "inline": 0, "missed": 0,
                    "disagree": 0, "errors": 0} for s in lab.servers}
    known = known_signatures()
    new = []
    end = time.monotonic() + seconds
    n = 0
    b = 0
    while time.monotonic() < end:
        if only is not None:
            if n >= len(only):
                break
            dlgs = [G.make(a, b_) for a, b_ in only[n:n + BATCH]]
            n += len(dlgs)
        else:
            dlgs = [G.make(seed, n + i) for i in range(BATCH)]
            n += BATCH
        b += 1
        rows = run_batch(lab, dlgs, tag="l%d" % b)
        for r in rows:
            st = stats[r["server"]]
            if r.get("error"):
                st["errors"] += 1
                log("error: %s: %s" % (describe(r), r["error"]))
                continue
            st["tried"] += 1
            st["control"] += r["control"] > 0
            st["inline"] += r["inline"] > 0
            st["missed"] += "missed" in r["kinds"]
            st["disagree"] += "disagree" in r["kinds"]
            if r["why"]:
                log("finding: %s: %s" % (describe(r), "; ".join(r["why"])))
        # New findings, minimized once per dialogue and kind on all the
        # servers that showed it.
        groups = {}
        for r in rows:
            if r["why"] and not r.get("error") and \
                    signature(r) not in known:
                groups.setdefault((r["dlg"]["tag"], main_kind(r["kinds"])),
                                  []).append(r)
        for found in groups.values():
            if len(new) >= MAX_NEW:
                break
            sigs = set(signature(r) for r in found)
            known |= sigs
            first = [id(r) for r in found]
            for m in minimize(lab, found, b):
                msig = signature(m)
                if id(m) not in first:
                    log("minimized: %s: %s" % (describe(m),
                                               "; ".join(m["why"])))
                    if msig not in sigs and msig in known:
                        continue
                known.add(msig)
                new.append(write_finding(lab, m))
        for f in os.listdir(lab.dir):
            if f.startswith("control-") or f.startswith("inline-"):
                os.unlink(os.path.join(lab.dir, f))
        log("batch %d: %d dialogues, %s" % (b, n, json.dumps(stats)))
    print("seed %s: %d dialogues in %d s" % (
        seed, n, seconds - max(0, end - time.monotonic())))
    print("%-10s %8s %12s %12s %8s %9s %6s" % (
        "server", "tried", "relayed-ctl", "relayed-rg", "missed",
        "disagree", "errors"))
    for name, st in stats.items():
        print("%-10s %8d %12d %12d %8d %9d %6d" % (
            name, st["tried"], st["control"], st["inline"], st["missed"],
            st["disagree"], st["errors"]))
    print("new findings: %d%s" % (len(new), (" (" + ", ".join(new) + ")")
                                  if new else ""))
    return 0


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    build = os.path.abspath(argv[0])
    lab = Lab(build)
    if not lab.servers:
        print("FAIL lab: no servers (DIFF_SERVERS)")
        print("differential: 0 passed, 1 failed")
        return 1
    lab.start_player()
    try:
        if argv[1] == "--slice":
            t0 = time.monotonic()
            p, f, sk = slice_mode(lab)
            print("(%d servers: %s; %.0f s)" % (
                len(lab.servers), " ".join(s[0] for s in lab.servers),
                time.monotonic() - t0))
            print("differential: %d passed, %d failed%s" % (
                p, f, (", %d skipped" % sk) if sk else ""))
            return 0 if f == 0 else 1
        if argv[1] == "--dialogues" and len(argv) > 2:
            only = [(w.split(":")[0], int(w.split(":")[1]))
                    for w in argv[2:]]
            return long_mode(lab, 86400, "given", only)
        if argv[1] == "--seconds" and len(argv) == 3:
            seconds = int(argv[2])
            seed = os.environ.get("DIFF_SEED") or \
                str(int(time.time()) % 1000000)
            return long_mode(lab, seconds, seed)
    finally:
        lab.d.stop()
        lab.stop_player()
    print(__doc__.strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
