#!/usr/bin/python3
"""
grammar.py -- SMTP dialogues for the differential fuzzer, generated from
a grammar of command variants, deterministic from (seed, n).

    grammar.py SEED N [COUNT]      print COUNT dialogues (JSON, one a line)

A dialogue is a list of connections (more than one only for 4-tuple
reuse), each a list of rounds: the bytes the client sends before it
waits for the server's replies.  A round may carry its own TCP segments
(Seg of tests/evasion/techniques.py: offset, bytes, flags, gap), which
only the raw-socket player can send; a dialogue with any is "raw",
otherwise "plain" (an ordinary socket, IPv4 or IPv6).

Every dialogue names its foreign recipients with one tag in the local
part, dfz<seed>x<n> followed by a phase letter that the runner sets
(PHASE in the text here): the control run and the run through
relayguardd use different letters, so the server's log and queue tell
them apart.  The length never changes, so offsets stay right.

The grammar (each choice is written into "desc", key=value):
  carrier   how the foreign RCPT reaches the server: plain line,
            past the line-length limits of a long line, in a body
            after DATA the server refused or took, after an end of
            data with bare CR/LF, inside a BDAT chunk, behind AUTH or
            STARTTLS, behind RSET
  sep/lead/case/eol/eightbit/nul   the RCPT line's form
  addr      the address form (percent hack, bang path, quoted route,
            source route, comment, literal, ...)
  pipe      the commands of a stretch sent in one round
  seg       TCP segmentation of the round carrying the foreign RCPT:
            tiny, reverse, shuffle, overlap with other bytes,
            retransmission with other bytes, 4-tuple reuse
"""

import base64
import json
import random
import sys

PHASE = "p"			# replaced by the runner (same length)
LOCAL = "u@example.test"
# Foreign domains, and local twins of the same length (decoys).
FOREIGN = ["exploit.test", "elsewhe.test", "EXPLOIT.TEST"]
TWIN = "example.test"
MSS = 1400			# raw segments never exceed one Ethernet frame


def esc(v):
    """A choice as one word: control bytes escaped, a space as SP."""
    if not isinstance(v, str):
        return str(v)
    if v == "":
        return "none"
    out = ""
    for c in v:
        if c == " ":
            out += "SP"
        elif c in "\r\n\t\v\f":
            out += {"\r": "CR", "\n": "LF", "\t": "HT", "\v": "VT",
                    "\f": "FF"}[c]
        elif ord(c) < 0x20 or ord(c) >= 0x7f:
            out += "<%02X>" % ord(c)
        else:
            out += c
    return out


def tag_of(seed, n):
    return "dfz%sx%d" % (seed, n)


class Gen:
    def __init__(self, seed, n, force=None):
        self.r = random.Random("dfz:%s:%d" % (seed, n))
        self.seed = seed
        self.n = n
        self.tag = tag_of(seed, n)
        self.T = self.tag + PHASE
        self.desc = []
        self.force = force or {}

    def pick(self, key, options, weights=None):
        """One choice, recorded in the description.  force[key] (an
        option's name as the description writes it) overrides the draw,
        which is still made: every other choice stays the same."""
        names = list(options) if isinstance(options, dict) else \
            [esc(v) for v in options]
        i = self.r.choices(range(len(names)), weights=weights)[0]
        if key in self.force and self.force[key] in names:
            i = names.index(self.force[key])
        self.desc.append("%s=%s" % (key, names[i]))
        if isinstance(options, dict):
            return options[names[i]]
        return options[i]

    def chance(self, p):
        return self.r.random() < p

    # -- pieces -------------------------------------------------------------

    def address(self, domain):
        t = self.T
        forms = {
            "plain": "<{t}@{d}>",
            "percent": "<{t}%{d}@example.test>",
            "bang": "<{d}!{t}@example.test>",
            "quoted": '<"{t}@{d}"@example.test>',
            "route": "<@example.test:{t}@{d}>",
            "route2": "<@example.test,@mx.example.test:{t}@{d}>",
            "comment": "<{t}@(c){d}>",
            "comment-local": "<{t}(c)@{d}>",
            "literal": "<{t}@[203.0.113.99]>",
            "literal6": "<{t}@[IPv6:2001:db8::99]>",
            "bare": "{t}@{d}",
            "trailing-dot": "<{t}@{d}.>",
            "params": "<{t}@{d}> NOTIFY=NEVER ORCPT=rfc822;u@example.test",
            "space-in": "< {t}@{d} >",
            "double-at": "<{t}@example.test@{d}>",
            "quoted-local": '<"{t}"@{d}>',
        }
        w = [10, 4, 3, 3, 3, 2, 3, 2, 2, 1, 2, 2, 2, 1, 1, 1]
        fmt = self.pick("addr", forms, w)
        return fmt.format(t=t, d=domain)

    def verb(self, word):
        """A verb in some case, maybe with a high-bit or odd byte."""
        case = self.pick("case", ["upper", "lower", "mixed"], [6, 2, 2])
        if case == "lower":
            word = word.lower()
        elif case == "mixed":
            word = "".join(c.lower() if i % 2 else c
                           for i, c in enumerate(word))
        # 0x80 | 'R' is 0xD2: a 7-bit reader takes it as R.
        i = self.pick("eightbit", [-1, 0, 1, 2, 3], [88, 3, 3, 3, 3])
        if i >= 0:
            i %= len(word)
            word = word[:i] + chr(ord(word[i]) | 0x80) + word[i + 1:]
        return word

    def rcpt_line(self, domain, plain=False):
        """The foreign RCPT command without its line ending."""
        addr = self.address(domain)
        if plain:
            return "RCPT TO:" + addr
        lead = self.pick("lead", ["", " ", "\t", "\v", "\f", "\r", "\x00"],
                         [20, 2, 2, 2, 1, 1, 1])
        sep = self.pick("sep", [" ", "\t", "\v", "\f", "\r", "  ", " \v",
                                "", "\x00"], [20, 3, 3, 3, 2, 2, 1, 2, 1])
        colon = self.pick("colon", [":", " :", ": ", ":\v", ":\t"],
                          [20, 2, 3, 1, 1])
        to = "TO" if self.chance(0.8) else self.r.choice(["to", "To"])
        line = lead + self.verb("RCPT") + sep + to + colon + addr
        line += self.pick("nul", ["", "\x00", "\x00junk", " \x00"],
                          [92, 3, 3, 2])
        return line

    def eol(self, key="eol"):
        return self.pick(key, ["\r\n", "\n", "\r", "\r\r\n", "\n\r"],
                         [20, 4, 2, 2, 1])

    def ehlo(self):
        return self.pick("greet", {"EHLO": "EHLO client.test",
                                   "HELO": "HELO client.test",
                                   "ehlo": "ehlo client.test",
                                   "none": None}, [16, 3, 2, 1])

    def mail(self):
        return self.pick("mail", {"plain": "MAIL FROM:<a@sender.test>",
                                  "null": "MAIL FROM:<>",
                                  "space": "MAIL FROM: <a@sender.test>",
                                  "body": "MAIL FROM:<a@sender.test> "
                                  "BODY=8BITMIME"}, [10, 2, 2, 2])

    def body(self):
        return "Subject: %s\r\n\r\nrelayed?\r\n" % self.T


def rounds_of(lines, pipe):
    """Lines (with their endings) grouped into rounds: pipe = how many
    lines go together at most."""
    out = []
    i = 0
    while i < len(lines):
        out.append({"data": "".join(lines[i:i + pipe])})
        i += pipe
    return out


def make(seed, n, force=None):
    g = Gen(seed, n, force)
    d = g.pick("dom", FOREIGN, [6, 2, 1])
    pre = []			# (line, ending) before the carrier
    greet = g.ehlo()
    if greet:
        pre.append(greet + "\r\n")
    extra = g.pick("pre", ["none", "noop", "rset", "auth-bad", "starttls",
                           "vrfy"], [10, 2, 2, 2, 2, 1])
    if extra == "noop":
        pre.append("NOOP\r\n")
    elif extra == "rset":
        pre.append("RSET\r\n")
    elif extra == "vrfy":
        pre.append("VRFY u\r\n")
    CRLF = "\r\n"
    mail = g.mail() + CRLF
    local = "RCPT TO:<%s>\r\n" % LOCAL
    carrier = g.pick("carrier", ["line", "long", "body-refused",
                                 "body-taken", "smuggle", "bdat", "auth",
                                 "starttls", "rset", "data-verb"],
                     [10, 5, 3, 3, 3, 4, 2, 2, 1, 3])
    data_tail = ["DATA\r\n", g.body() + ".\r\n"]
    quit = ["QUIT\r\n"]
    # rounds: list of lists of lines; evil: index of the round carrying
    # the foreign bytes (for segmentation tricks).
    groups = []
    if extra == "auth-bad":
        groups.append(["AUTH PLAIN %s\r\n" % base64.b64encode(
            b"\0alice@example.test\0wrong").decode()])
    elif extra == "starttls":
        groups.append(["STARTTLS\r\n"])
    if carrier == "line":
        ev = g.rcpt_line(d) + g.eol()
        groups.append([mail])
        if g.chance(0.4):
            groups.append([local])
            g.desc.append("local=1")
        groups.append([ev])
        groups += [[x] for x in data_tail]
    elif carrier == "long":
        # A long line whose bytes past some limit hold a RCPT: a server
        # that cuts the line there runs it (Exim at 16384, others at
        # 2048 or 4096).
        limit = g.pick("limit", [2048, 4096, 8192, 16384], [3, 3, 1, 4])
        delta = g.pick("delta", [-2, -1, 0, 1, 2], [1, 2, 2, 4, 1])
        pos = limit + delta
        verb = g.pick("lverb", ["NOOP ", "NOOP", "RSET ", "XXXX ",
                                "HELP ", "MAIL FROM:<a@sender.test> X="],
                      [6, 1, 2, 1, 1, 2])
        padc = g.pick("pad", ["x", " ", "=", "\t"], [6, 2, 1, 1])
        ev = "RCPT TO:<%s@%s>" % (g.T, d)
        pad = padc * max(0, pos - len(verb))
        groups.append([mail])
        groups.append([verb + pad + ev + g.eol()])
        if g.chance(0.5):
            groups.append([local])
            g.desc.append("local=1")
        groups += [[x] for x in data_tail]
    elif carrier in ("body-refused", "body-taken", "data-verb"):
        # DATA in some form, then a body that holds commands: the server
        # reads them as commands when it refused (or did not recognise)
        # DATA.
        if carrier == "body-taken":
            dv = "DATA\r\n"
        elif carrier == "data-verb":
            dv = g.pick("dverb", ["DATA\v", "DATA\f", "DATA\t", "DATA ",
                                  "DATA\r", "data", "DATA x", "\vDATA",
                                  "D\xc1TA", "DATA\x00"],
                        [3, 2, 2, 2, 2, 1, 1, 2, 1, 1]) + g.eol("deol")
        else:
            dv = "DATA\r\n"
        groups.append([mail])
        if carrier != "body-refused":
            groups.append([local])
        inner = ("MAIL FROM:<a@sender.test>\r\n" + g.rcpt_line(d) +
                 g.eol() + "DATA\r\n" + g.body() + ".\r\n")
        if g.chance(0.5):
            groups.append([dv + inner])
            g.desc.append("pipe-data=1")
        else:
            groups.append([dv])
            groups.append([inner])
    elif carrier == "smuggle":
        end = g.pick("end", ["\n.\n", "\r\n.\n", "\n.\r\n", "\r.\r",
                             "\r\n.\r", "\r.\r\n", "\n.\r", "\r\n.\r\n"],
                     [3, 3, 3, 1, 1, 1, 1, 1])
        groups.append([mail])
        groups.append([local])
        groups.append(["DATA\r\n"])
        groups.append(["Subject: s\r\n\r\nhello" + end +
                       "MAIL FROM:<a@sender.test>\r\n" + g.rcpt_line(d) +
                       g.eol() + "DATA\r\n" + g.body() + ".\r\n"])
    elif carrier == "bdat":
        # BDAT with a chunk that holds commands: a server that never
        # offered CHUNKING refuses BDAT and reads the chunk as commands.
        groups.append([mail])
        if g.chance(0.5):
            groups.append([local])
            g.desc.append("local=1")
        inner = g.rcpt_line(d) + g.eol()
        chunk = inner + "NOOP\r\n"
        size = g.pick("bsize", ["exact", "short", "long", "zero"],
                      [6, 2, 1, 1])
        n_ = {"exact": len(chunk), "short": len(inner) // 2,
              "long": len(chunk) + 10, "zero": 0}[size]
        bverb = g.pick("bverb", ["BDAT %d", "BDAT %d LAST", "bdat %d",
                                 "BDAT\v%d", "BDAT  %d"], [5, 3, 1, 1, 1])
        groups.append([(bverb % n_) + "\r\n" + chunk])
        if g.chance(0.5):
            groups.append(["BDAT %d LAST\r\n" % len(g.body()) + g.body()])
            g.desc.append("bdat-last=1")
        else:
            groups += [[x] for x in data_tail]
    elif carrier == "auth":
        mech = g.pick("mech", ["plain-pipe", "login-pipe", "plain-sep"],
                      [2, 2, 1])
        groups.append([mail])
        bad = base64.b64encode(b"\0alice@example.test\0wrong").decode()
        if mech == "plain-pipe":
            groups.append(["AUTH PLAIN %s\r\n" % bad + g.rcpt_line(d) +
                           g.eol()])
        elif mech == "login-pipe":
            groups.append(["AUTH LOGIN\r\n" + g.rcpt_line(d) + g.eol() +
                           "*\r\n"])
            groups.append([g.rcpt_line(d, plain=True) + "\r\n"])
        else:
            groups.append(["AUTH\vPLAIN %s\r\n" % bad])
            groups.append([g.rcpt_line(d) + g.eol()])
        groups += [[x] for x in data_tail]
    elif carrier == "starttls":
        groups.append(["STARTTLS\r\n" + mail + g.rcpt_line(d) + g.eol()])
        groups += [[x] for x in data_tail]
    elif carrier == "rset":
        groups.append([mail])
        groups.append(["RSET\r\n" + mail + g.rcpt_line(d) + g.eol()])
        groups += [[x] for x in data_tail]
    # Pipelining of the plain stretch after the greeting.
    pipe = g.pick("pipe", [1, 2, 3, 8], [10, 2, 1, 1])
    lines = pre
    rounds = [{"data": ""}]		# the banner
    rounds += rounds_of(lines, 1)
    flat = []
    for grp in groups:
        flat.append("".join(grp))
    rounds += rounds_of(flat, pipe)
    rounds.append({"data": quit[0]})
    evil = max(i for i, r in enumerate(rounds) if g.T in r["data"]) \
        if any(g.T in r["data"] for r in rounds) else len(rounds) - 1
    conns = [{"rounds": rounds}]
    mode = "plain"
    # (Weights in this order draw as chance(0.15) did: old seeds keep
    # their dialogues.)
    family = g.pick("family", [6, 4], [15, 85])
    seg = g.pick("seg", ["none", "tiny", "reverse", "shuffle", "overlap",
                         "retransmit", "reuse"], [12, 2, 1, 1, 2, 2, 2])
    if seg != "none":
        mode = "raw"
        family = 4			# the raw player speaks IPv4
        g.desc = [w for w in g.desc if not w.startswith("family=")]
        segment(g, seg, conns, evil, d)
    for c in conns:
        for r in c["rounds"]:
            if "segs" not in r and mode == "raw" and len(r["data"]) > MSS:
                r["segs"] = [seg_of(o, r["data"][o:o + MSS])
                             for o in range(0, len(r["data"]), MSS)]
    return {"seed": seed, "n": n, "tag": g.tag, "desc": " ".join(g.desc),
            "mode": mode, "family": family, "conns": conns,
            "force": g.force}


def seg_of(off, data, gap_ms=0):
    s = {"off": off, "data": data}
    if gap_ms:
        s["gap_ms"] = gap_ms
    return s


def decoy_of(data, domain):
    """The same bytes with the foreign domain replaced by a local one
    of the same length (what an inspector fooled by the decoy reads)."""
    if len(domain) == len(TWIN):
        return data.replace(domain, TWIN)
    return data.replace(domain, "x" * len(domain))


def segment(g, how, conns, evil, domain):
    r = conns[0]["rounds"][evil]
    data = r["data"]
    n = len(data)
    if how == "tiny":
        size = g.pick("tsize", [1, 2, 3, 7])
        if n > 600:
            size = 64
        r["segs"] = [seg_of(o, data[o:o + size]) for o in range(0, n, size)]
    elif how in ("reverse", "shuffle"):
        size = g.pick("psize", [4, 8, 16])
        if n > 2000:
            size = 1000
        segs = [seg_of(o, data[o:o + size]) for o in range(0, n, size)]
        if how == "reverse":
            segs.reverse()
        else:
            g.r.shuffle(segs)
            if segs and segs[-1]["off"] == 0 and len(segs) > 1:
                segs.insert(0, segs.pop())
        r["segs"] = segs
    elif how == "overlap":
        # Early copies of part of the round, decoy or real bytes, then
        # the head that fills the hole; Linux's rules decide what the
        # server reads, the oracle tells what it did.
        dec = decoy_of(data, domain)
        a = g.r.randrange(1, max(2, n))
        b = g.r.randrange(a + 1, n + 1)
        h = g.r.randrange(1, a + 1)
        order = g.pick("ovl", ["decoy-real", "real-decoy", "decoy-longer",
                               "real-covers"])
        if order == "decoy-real":
            early = [seg_of(a, dec[a:b]), seg_of(h, data[h:])]
        elif order == "real-decoy":
            early = [seg_of(h, data[h:]), seg_of(a, dec[a:b])]
        elif order == "decoy-longer":
            early = [seg_of(a, dec[a:b]), seg_of(a, data[a:])]
        else:
            early = [seg_of(a, dec[a:]), seg_of(h, data[h:b])]
        first = min(x["off"] for x in early)
        r["segs"] = split_mss(early + [seg_of(0, data[:first], gap_ms=5)])
    elif how == "retransmit":
        dec = decoy_of(data, domain)
        order = g.pick("rtx", ["decoy-real", "real-decoy", "part"])
        if order == "decoy-real":
            segs = [seg_of(0, dec), seg_of(0, data, gap_ms=5)]
        elif order == "real-decoy":
            segs = [seg_of(0, data), seg_of(0, dec, gap_ms=5)]
        else:
            a = g.r.randrange(0, n)
            segs = [seg_of(0, data), seg_of(a, dec[a:], gap_ms=30)]
        r["segs"] = split_mss(segs)
    elif how == "reuse":
        # A first connection on the same 4-tuple goes into some state
        # and ends; the second starts with an ISN next to the first's
        # last sequence number and sends the foreign RCPT.
        state = g.pick("state", ["data", "auth", "bdat", "mail"])
        first = [{"data": ""}, {"data": "EHLO client.test\r\n"}]
        if state == "data":
            first += [{"data": "MAIL FROM:<a@sender.test>\r\n"},
                      {"data": "RCPT TO:<%s>\r\n" % LOCAL},
                      {"data": "DATA\r\n"}, {"data": "Subject: x\r\n"}]
        elif state == "auth":
            first += [{"data": "AUTH LOGIN\r\n"}]
        elif state == "bdat":
            first += [{"data": "MAIL FROM:<a@sender.test>\r\n"},
                      {"data": "RCPT TO:<%s>\r\n" % LOCAL},
                      {"data": "BDAT 100000\r\nSubject: x\r\n"}]
        else:
            first += [{"data": "MAIL FROM:<a@sender.test>\r\n"}]
        end = g.pick("end", ["rst", "fin"])
        delta = g.pick("isn", [1, 2, 1000, 65536, 1 << 20])
        conns.insert(0, {"rounds": first, "end": end})
        conns[1]["reuse"] = True
        conns[1]["isn_delta"] = delta


def split_mss(segs):
    out = []
    for s in segs:
        d = s["data"]
        if len(d) <= MSS:
            out.append(s)
            continue
        for o in range(0, len(d), MSS):
            t = dict(s)
            t["off"] = s["off"] + o
            t["data"] = d[o:o + MSS]
            if o:
                t.pop("gap_ms", None)
            out.append(t)
    return out


def phased(dlg, phase):
    """The dialogue with its tag's phase letter set (same length)."""
    old = dlg["tag"] + PHASE
    new = dlg["tag"] + phase
    out = json.loads(json.dumps(dlg))
    for c in out["conns"]:
        for r in c["rounds"]:
            # Segments may cut the tag: set the letter by position.
            at = []
            i = r["data"].find(old)
            while i >= 0:
                at.append(i + len(old) - 1)
                i = r["data"].find(old, i + 1)
            r["data"] = r["data"].replace(old, new)
            for s in r.get("segs", []):
                d = list(s["data"])
                for p in at:
                    if s["off"] <= p < s["off"] + len(d):
                        d[p - s["off"]] = phase
                s["data"] = "".join(d)
    out["ptag"] = new
    return out


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    seed, n = argv[0], int(argv[1])
    count = int(argv[2]) if len(argv) == 3 else 1
    for i in range(n, n + count):
        print(json.dumps(make(seed, i)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
