#!/usr/bin/python3
"""
suite.py BUILD_DIR -- the checks of tests/mta (called by run, which
brings up the lab with LAB_MTAS="postfix exim sendmail opensmtpd" and
exports its environment).

Per server and address family (IPv4, IPv6), with tests/mta/smtp.py as
the client and tests/lab/oracle.py (the server's own log) as the judge:

  control   no relayguardd: the attacker's foreign RCPT + DATA is
            accepted for relay (the server is an open relay, the oracle
            counts it)
  relay     through relayguardd (enforce): the same dialogue is reset,
            the server accepts no foreign recipient, the daemon reports
            a relay-attempt naming it
  local     through relayguardd: local mail from the attacker's network
            is delivered untouched (no reset, no event)
  trusted   through relayguardd: foreign mail from the trusted network
            relays untouched
  auth      through relayguardd, where the server offers AUTH: foreign
            mail after AUTH PLAIN relays untouched

Servers run in parallel threads (each server's sessions one after the
other).  Prints PASS/FAIL lines and last "mta: N passed, N failed".
"""

import json
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lab"))
import oracle  # noqa: E402
from daemon import Daemon  # noqa: E402

PY = "/usr/bin/python3"
FAMILIES = ("4", "6")


def client(ns, addr, *args):
    p = subprocess.run(["ip", "netns", "exec", ns, "timeout", "30", PY,
                        os.path.join(HERE, "smtp.py"), addr] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        return json.loads(p.stdout.decode())
    except ValueError:
        return {"error": "smtp.py exit %d: %s" % (
            p.returncode, p.stderr.decode("utf-8", "replace")[-200:])}


def last_code(res, verb):
    codes = [r[1] for r in res.get("replies", []) if r[0] == verb]
    return codes[-1] if codes else None


class Suite:
    def __init__(self, build):
        self.env = os.environ
        self.mtas = os.environ["LAB_MTAS"].split()
        self.auth = os.environ.get("MTA_AUTH", "").split()
        self.user = os.environ["LAB_SASL_USER"]
        self.pw = os.environ["LAB_SASL_PASS"]
        self.ns_att = os.environ["NS_ATT"]
        self.ns_tru = os.environ["NS_TRU"]
        self.d = Daemon(build, os.environ["NS_GW"],
                        os.path.join(os.environ["LAB_DIR"], "mta-suite"))
        self.d.write_conf(["block-after 1000"])
        self.results = []		# (name, why or None)
        self.lock = threading.Lock()

    def addr(self, m, fam):
        return os.environ["MTA_%s_ADDR%s" % (m.upper(), fam)]

    def record(self, name, why):
        with self.lock:
            self.results.append((name, why))

    def session(self, m, ns, fam, tag, domain, *extra):
        res = client(ns, self.addr(m, fam), "--to",
                     "%s@%s" % (tag, domain), "--data", *extra)
        oracle.settle(m)
        return res, oracle.count(m, "relayed", tag), \
            oracle.count(m, "local", tag)

    def control(self, m):
        for fam in FAMILIES:
            tag = "ctl%s%sq" % (fam, m)
            res, rel, _ = self.session(m, self.ns_att, fam, tag,
                                       "elsewhere.test")
            why = None
            if res.get("error") or res.get("reset"):
                why = "client: %s" % (res.get("error") or res.get("why"))
            elif rel != 1:
                why = ("the open relay accepted %d foreign recipients, "
                       "want 1 (replies %s)" % (rel, res.get("replies")))
            self.record("control %s v%s" % (m, fam), why)

    def guarded(self, m):
        for fam in FAMILIES:
            self.relay(m, fam)
            self.legit(m, fam, "local", self.ns_att, "example.test",
                       want_relayed=0, want_local=1)
            self.legit(m, fam, "trusted", self.ns_tru, "elsewhere.test",
                       want_relayed=1, want_local=0)
            if m in self.auth:
                self.legit(m, fam, "auth", self.ns_att, "elsewhere.test",
                           want_relayed=1, want_local=0,
                           extra=("--auth", "%s:%s" % (self.user, self.pw)))

    def relay(self, m, fam):
        tag = "rly%s%sq" % (fam, m)
        res, rel, _ = self.session(m, self.ns_att, fam, tag,
                                   "elsewhere.test")
        why = []
        if res.get("error"):
            why.append("client: %s" % res["error"])
        elif res.get("why") != "ConnectionResetError":
            why.append("client not reset (%s; replies %s)" % (
                res.get("why", "completed"), res.get("replies")))
        if rel != 0:
            why.append("the server accepted %d foreign recipients" % rel)
        self.pending.append((m, fam, tag, "relay", why))

    def legit(self, m, fam, kind, ns, domain, want_relayed, want_local,
              extra=()):
        tag = "%s%s%sq" % (kind[:3], fam, m)
        res, rel, loc = self.session(m, ns, fam, tag, domain, *extra)
        why = []
        if res.get("error") or res.get("reset"):
            why.append("client: %s (replies %s)" % (
                res.get("error") or res.get("why"), res.get("replies")))
        elif last_code(res, ".") != 250:
            why.append("message not accepted: %s" % res.get("replies"))
        if extra and res.get("auth") != 235:
            why.append("AUTH answered %s" % res.get("auth"))
        if (rel, loc) != (want_relayed, want_local):
            why.append("relayed %d local %d, want %d and %d" % (
                rel, loc, want_relayed, want_local))
        self.pending.append((m, fam, tag, kind, why))

    def parallel(self, fn):
        threads = [threading.Thread(target=fn, args=(m,))
                   for m in self.mtas]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def run(self):
        t0 = time.monotonic()
        self.parallel(self.control)
        t1 = time.monotonic()
        self.pending = []
        if not self.d.start("guarded"):
            self.record("relayguardd", "not ready: %s" % self.tail())
            return
        self.parallel(self.guarded)
        t2 = time.monotonic()
        stop = self.d.stop()
        events = self.d.events()
        for m, fam, tag, kind, why in self.pending:
            hits = [e for e in events if tag in json.dumps(e).lower()]
            attempts = [e for e in hits if e.get("event") == "relay-attempt"]
            if kind == "relay" and not attempts:
                why.append("no relay-attempt event names it")
            if kind != "relay" and hits:
                why.append("false positive: %s" % [
                    (e.get("event"), e.get("what")) for e in hits])
            self.record("%s %s v%s" % (kind, m, fam),
                        "; ".join(why) or None)
        self.record("relayguardd clean stop", stop)
        self.times = (t1 - t0, t2 - t1)

    def tail(self):
        try:
            with open(self.d.log, "rb") as f:
                return " ".join(f.read().decode("utf-8", "replace")
                                .splitlines()[-3:])
        except (OSError, TypeError):
            return "(no log)"


def main(argv):
    if len(argv) != 1:
        print("usage: suite.py BUILD_DIR", file=sys.stderr)
        return 2
    s = Suite(os.path.abspath(argv[0]))
    try:
        s.run()
    finally:
        if s.d.running():
            s.d.stop()
    passed = failed = 0
    order = {"control": 0, "relay": 1, "local": 2, "trusted": 3, "auth": 4}
    for name, why in sorted(s.results, key=lambda r: (
            order.get(r[0].split()[0], 9), r[0])):
        if why:
            failed += 1
            print("FAIL %s: %s" % (name, why))
        else:
            passed += 1
            print("PASS %s" % name)
    no_auth = [m for m in s.mtas if m not in s.auth]
    if no_auth:
        print("INFO no AUTH offered by %s: legitimate AUTH tested on %s" %
              (", ".join(no_auth), ", ".join(s.auth) or "none"))
    if hasattr(s, "times"):
        print("INFO controls %.1f s, through relayguardd %.1f s" % s.times)
    print("mta: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
