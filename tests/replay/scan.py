#!/usr/bin/python3
"""
scan.py -- an independent, deliberately simple reading of the RCPT commands
in a capture, used to build and cross-check tests/replay/expected/ (it is a
maintainer's tool: tests/replay/run does not use it).

    scan.py CAPTURE...        one line per RCPT: client server rcpt

Each TCP connection to a port in PORTS is reassembled per direction (first
copy of a byte wins, holes marked), then the dialogue is walked in order:
every client unit (the connection itself, a command line, an AUTH
continuation line, a DATA body, a BDAT chunk with its command) takes the
next server reply.  DATA answered 354 makes the bytes up to CRLF.CRLF a
body; BDAT n skips n octets; STARTTLS answered 220 makes the rest opaque;
a client with no captured replies is assumed to get 250/354.  A hole in the
client stream drops the partial line and resynchronises at the next line
(inside a body: stays in the body until CRLF.CRLF).

Where this and tshark disagree, the stream was read by hand
(tshark -q -z follow,tcp,ascii,N) and the reason is in expected/NOTES.md.
"""

import ipaddress
import re
import sys

from scapy.all import PcapReader, IP, IPv6, TCP  # noqa

PORTS = {25, 587, 2525, 465, 1224}


def read(path):
    pkts = []
    try:
        with PcapReader(path) as r:
            for p in r:
                pkts.append(p)
    except Exception as e:		# a corrupt file: what came before
        print("# %s: stopped reading: %s" % (path, e), file=sys.stderr)
    return pkts


class Half:
    def __init__(self):
        self.isn = None
        self.bytes = {}			# offset -> byte

    def add(self, seq, data, syn):
        if syn:
            self.isn = (seq + 1) & 0xFFFFFFFF
            return
        if self.isn is None:
            self.isn = seq
        off = (seq - self.isn) & 0xFFFFFFFF
        if off > 0x80000000:		# before the start: ignore
            return
        for i, c in enumerate(data):
            self.bytes.setdefault(off + i, c)

    def stream(self):
        """(bytes, set of offsets in the output where a hole was)."""
        out = bytearray()
        holes = set()
        if not self.bytes:
            return bytes(out), holes
        end = max(self.bytes) + 1
        i = 0
        while i < end:
            if i in self.bytes:
                out.append(self.bytes[i])
                i += 1
            else:
                holes.add(len(out))
                while i < end and i not in self.bytes:
                    i += 1
        return bytes(out), holes


def replies(data):
    """Complete replies (list of (code, text)) in server bytes."""
    out = []
    cur = []
    for line in data.split(b"\r\n") if b"\r\n" in data else \
            data.split(b"\n"):
        line = line.rstrip(b"\r")
        if not line:
            continue
        m = re.match(rb"^(\d{3})([ -]?)", line)
        if not m:
            continue
        cur.append(line)
        if m.group(2) != b"-":
            out.append((int(m.group(1)), b" | ".join(cur)))
            cur = []
    return out


def walk(cdata, holes, reps):
    """Yield RCPT paths from the client stream."""
    ri = 0

    def reply():
        nonlocal ri
        if not reps:
            return None
        r = reps[ri] if ri < len(reps) else (0, b"")
        ri += 1
        return r[0]

    reply()				# the banner answers the connection
    pos = 0
    n = len(cdata)
    auth = False
    while pos < n:
        # a hole inside the next line: resync after it
        eol = cdata.find(b"\n", pos)
        if eol < 0:
            break
        if any(pos < h <= eol for h in holes):
            pos = eol + 1
            continue
        line = cdata[pos:eol].rstrip(b"\r")
        pos = eol + 1
        if auth:
            code = reply()
            auth = code == 334
            continue
        verb = line.split(b" ", 1)[0].split(b":", 1)[0].upper()
        arg = line[len(verb):].lstrip(b" ")
        if verb == b"RCPT":
            yield arg
            reply()
        elif verb == b"DATA":
            code = reply()
            if code in (354, None):
                end = cdata.find(b"\r\n.\r\n", pos - 2)
                pos = n if end < 0 else end + 5
                reply()
        elif verb == b"BDAT":
            code_arg = arg.split()
            try:
                size = int(code_arg[0])
                if size < 0 or size > 1 << 40:
                    raise ValueError
            except (ValueError, IndexError):
                reply()
                continue
            pos += size
            reply()
        elif verb == b"AUTH":
            code = reply()
            auth = code == 334
        elif verb == b"STARTTLS":
            if reply() == 220:
                break
        else:
            reply()


def rcpt_path(arg):
    """The path as written (between < >, or the bare argument)."""
    a = arg
    if a[:3].upper() == b"TO:":
        a = a[3:]
    a = a.lstrip(b" ")
    if a.startswith(b"<"):
        e = a.find(b">")
        return a[1:e] if e >= 0 else a[1:]
    return a.split(b" ", 1)[0]


def scan(path):
    conns = {}
    order = []
    for p in read(path):
        if TCP not in p:
            continue
        if IP in p:
            src, dst = p[IP].src, p[IP].dst
            if p[IP].flags.MF or p[IP].frag:
                continue
        elif IPv6 in p:
            src, dst = p[IPv6].src, p[IPv6].dst
        else:
            continue
        t = p[TCP]
        if t.dport in PORTS:
            key = (src, t.sport, dst, t.dport)
            d = 0
        elif t.sport in PORTS:
            key = (dst, t.dport, src, t.sport)
            d = 1
        else:
            continue
        if key not in conns:
            conns[key] = (Half(), Half())
            order.append(key)
        payload = bytes(t.payload) if t.payload else b""
        if IP in p:
            want = p[IP].len - p[IP].ihl * 4 - t.dataofs * 4
            payload = payload[:max(want, 0)]
        conns[key][d].add(t.seq, payload, bool(t.flags.S))
    for key in order:
        c, s = conns[key]
        cdata, holes = c.stream()
        sdata, _ = s.stream()
        for arg in walk(cdata, holes, replies(sdata)):
            yield key, rcpt_path(arg)


def main(argv):
    for path in argv:
        for key, rcpt in scan(path):
            print("%s\t%s\t%s" % (ipaddress.ip_address(key[0]),
                                  ipaddress.ip_address(key[2]),
                                  rcpt.decode("latin-1")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
