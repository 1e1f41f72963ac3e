#!/usr/bin/python3
"""
oracle.py -- what the lab's real mail servers accepted (tests/lab/mta.sh).

    oracle.py relayed NAME TAG     foreign recipients NAME accepted whose
                                   address contains TAG
    oracle.py local NAME TAG       the same for local recipients
    oracle.py settle NAME [SECS]   wait (default at most 5 s) until NAME has
                                   read everything sent to it and its log
                                   is quiet; exit 1 on timeout
    oracle.py records NAME         every accepted recipient, "R addr" or
                                   "L addr" a line (debugging)

NAME is postfix, exim, sendmail or opensmtpd.  TAG is matched without
regard to case anywhere in the address as the server logged it (tags are
unique strings such as dfz0042; a server may upper-case nothing, but a
client may).  Counts cover the lab's whole life: clearing a queue does not
change them.  Needs the environment lab_up exports (LAB_DIR and
MTA_<NAME>_LOG, MTA_<NAME>_NS).  Python callers may import it and call
count(name, "relayed", tag) and settle(name).

The oracle is each server's own decision, logged at RCPT time:
  postfix    "reject_warning ... Relay access denied" (warn_if_reject
             reject_unauth_destination) marks a foreign recipient it then
             accepted (everyone is in mynetworks); "rcpt seen" (an INFO
             restriction) marks every accepted one: local = seen - relayed
  exim       "RG-RELAY <addr>" / "RG-LOCAL <addr>" written by its RCPT ACL
             just before it accepts (domains = !+local_domains)
  sendmail   "RG-RCPT.MAILER<addr>" logged by Local_check_rcpt with the
             delivery agent its parse ruleset picks: esmtp/smtp/relay...
             foreign, labdrop/local local, error refused
  opensmtpd  "lka_expand: address: ADDR [depth=0]" then "rule #N matched"
             (-T expand -T rules): rule 1 is local, rule 2 relays
Log lines are read once, from where the last call stopped, into a small
record file per server under $LAB_DIR/oracle (locked: parallel callers
are safe), so a count stays fast however long the lab runs.
"""

import fcntl
import json
import os
import re
import subprocess
import sys
import time

NAMES = ("postfix", "exim", "sendmail", "opensmtpd")
FOREIGN_MAILERS = {"esmtp", "smtp", "smtp8", "dsmtp", "relay"}
LOCAL_MAILERS = {"labdrop", "local", "prog"}

PF_RELAY = re.compile(r"reject_warning: RCPT from .*: Relay access denied;"
                      r" .*? to=<(.*?)> proto=")
PF_SEEN = re.compile(r"info: RCPT from .*: rcpt seen; .*? to=<(.*?)> proto=")
EX_RCPT = re.compile(r" RG-(RELAY|LOCAL) <(.*)>$")
SM_RCPT = re.compile(r": RG-RCPT\.([A-Za-z0-9_-]+)(.*)$")
OS_ADDR = re.compile(r"^expand: lka_expand: address: (.*) \[depth=0\]$")
OS_RULE = re.compile(r"^rule #(\d+) matched")


def _env(name, what):
    v = os.environ.get("MTA_%s_%s" % (name.upper(), what))
    if not v:
        raise RuntimeError("MTA_%s_%s not set (is the lab up with %s in "
                           "LAB_MTAS?)" % (name.upper(), what, name))
    return v


def _paths(name):
    if name not in NAMES:
        raise ValueError("unknown server %r" % name)
    d = os.path.join(os.environ["LAB_DIR"], "oracle")
    os.makedirs(d, exist_ok=True)
    return (os.path.join(d, name + ".rcpts"),
            os.path.join(d, name + ".state"),
            os.path.join(d, name + ".lock"))


def _parse(name, lines, state):
    """Records ("R"/"L"/"S", addr) of complete log lines; state carries
    what spans calls (OpenSMTPD's address waiting for its rule)."""
    out = []
    for line in lines:
        if name == "postfix":
            m = PF_RELAY.search(line)
            if m:
                out.append(("R", m.group(1)))
                continue
            m = PF_SEEN.search(line)
            if m:
                out.append(("S", m.group(1)))
        elif name == "exim":
            m = EX_RCPT.search(line)
            if m:
                out.append(("R" if m.group(1) == "RELAY" else "L",
                            m.group(2)))
        elif name == "sendmail":
            m = SM_RCPT.search(line)
            if m:
                if m.group(1) in FOREIGN_MAILERS:
                    out.append(("R", m.group(2)))
                elif m.group(1) in LOCAL_MAILERS:
                    out.append(("L", m.group(2)))
        else:
            m = OS_ADDR.match(line)
            if m:
                state["pending"] = m.group(1)
                continue
            m = OS_RULE.match(line)
            if m and state.get("pending") is not None:
                out.append(("R" if m.group(1) == "2" else "L",
                            state["pending"]))
                state["pending"] = None
    return out


def _update(name):
    """Read the log from where the last call stopped; append records."""
    rec, st, lock = _paths(name)
    log = _env(name, "LOG")
    with open(lock, "a") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        try:
            with open(st) as f:
                state = json.load(f)
        except (OSError, ValueError):
            state = {"off": 0, "pending": None}
        try:
            with open(log, "rb") as f:
                f.seek(state["off"])
                data = f.read()
        except OSError:
            data = b""
        end = data.rfind(b"\n")
        if end < 0:
            return rec
        text = data[:end].decode("utf-8", "replace")
        recs = _parse(name, text.split("\n"), state)
        if recs:
            with open(rec, "a") as f:
                for kind, addr in recs:
                    # One record a line, whatever the address holds.
                    f.write("%s %s\n" % (kind, addr.replace("\n", " ")))
        state["off"] += end + 1
        with open(st + ".new", "w") as f:
            json.dump(state, f)
        os.replace(st + ".new", st)
    return rec


def records(name):
    rec = _update(name)
    try:
        with open(rec) as f:
            return [(l[0], l[2:].rstrip("\n")) for l in f if len(l) > 2]
    except OSError:
        return []


def count(name, kind, tag):
    """kind "relayed" or "local": accepted recipients containing tag."""
    tag = tag.lower()
    n = {"R": 0, "L": 0, "S": 0}
    for k, addr in records(name):
        if tag in addr.lower():
            n[k] += 1
    if name == "postfix":
        relayed, local = n["R"], n["S"] - n["R"]
    else:
        relayed, local = n["R"], n["L"]
    if kind == "relayed":
        return relayed
    if kind == "local":
        return max(local, 0)
    raise ValueError("kind must be relayed or local")


def _recvq(ns):
    """Bytes servers in ns have not read yet (port 25), or None."""
    p = subprocess.run(["ss", "-N", ns, "-Htn", "state", "connected",
                        "( sport = :25 )"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, timeout=10)
    if p.returncode != 0:
        return None
    total = 0
    for line in p.stdout.decode("utf-8", "replace").splitlines():
        # Recv-Q is the first number (ss may print the state first).
        w = [x for x in line.split() if x.isdigit()]
        if w:
            total += int(w[0])
    return total


def settle(name, timeout=5.0):
    """True once nothing sent to the server is left unread and its log
    has not grown for two polls 50 ms apart (at most timeout seconds)."""
    ns = _env(name, "NS")
    log = _env(name, "LOG")
    end = time.monotonic() + timeout
    last = None
    quiet = 0
    while True:
        q = _recvq(ns)
        try:
            size = os.path.getsize(log)
        except OSError:
            size = -1
        if q == 0 and size == last:
            quiet += 1
            if quiet >= 2:
                return True
        else:
            quiet = 0
        last = size
        if time.monotonic() > end:
            return False
        time.sleep(0.05)


def main(argv):
    try:
        if len(argv) == 3 and argv[0] in ("relayed", "local"):
            print(count(argv[1], argv[0], argv[2]))
            return 0
        if len(argv) in (2, 3) and argv[0] == "settle":
            t = float(argv[2]) if len(argv) == 3 else 5.0
            if settle(argv[1], t):
                return 0
            print("oracle: %s not settled after %gs" % (argv[1], t),
                  file=sys.stderr)
            return 1
        if len(argv) == 2 and argv[0] == "records":
            for k, a in records(argv[1]):
                print(k, a)
            return 0
    except (RuntimeError, ValueError, KeyError) as e:
        print("oracle: %s" % e, file=sys.stderr)
        return 2
    print(__doc__.strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
