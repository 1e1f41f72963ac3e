#!/usr/bin/python3
"""
variants.py -- re-segment a capture for the differential tests.

    variants.py split1  IN.pcap OUT.pcap     every payload byte its own segment
    variants.py shuffle IN.pcap OUT.pcap [SEED]
                                             payloads cut into 1..9-byte pieces,
                                             shuffled within each run of
                                             same-direction data packets

A run is a maximal sequence of consecutive data-carrying packets from one
endpoint; packets without payload (SYN, pure ACK, FIN) and packets of the
other direction end it.  Shuffling inside a run keeps the dialogue's causal
order (every reply still follows what it answers) while the reassembler
must put the pieces back together; timestamps are handed out again in
their original order so the file stays monotonic.  Sequence numbers,
lengths and checksums are rewritten; everything else is kept.

Plain Python, no scapy: it is run for every crafted capture at test time
and must be fast and deterministic.  Only classic pcap input with the link
types of gen.py (Ethernet with VLAN tags, SLL, SLL2, raw, NULL) and IPv4 or
IPv6 without extension headers is handled; anything else is copied as is.
"""

import random
import struct
import sys


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic == 0xA1B2C3D4:
        e = "<"
    elif magic == 0xD4C3B2A1:
        e = ">"
    else:
        raise ValueError("%s: not a classic microsecond pcap" % path)
    linktype = struct.unpack(e + "I", data[20:24])[0]
    pkts = []
    off = 24
    while off + 16 <= len(data):
        sec, usec, incl, _orig = struct.unpack(e + "IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + incl]
        if len(frame) < incl:
            break
        pkts.append((sec * 1000000 + usec, frame))
        off += 16 + incl
    return linktype, pkts


def write_pcap(path, linktype, pkts):
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)]
    for us, frame in pkts:
        out.append(struct.pack("<IIII", us // 1000000, us % 1000000,
                               len(frame), len(frame)))
        out.append(frame)
    with open(path, "wb") as f:
        f.write(b"".join(out))


def l3_offset(linktype, frame):
    if linktype == 0:
        return 4
    if linktype == 101:
        return 0
    if linktype == 113:
        return 16
    if linktype == 276:
        return 20
    if linktype == 1:
        off = 12
        while struct.unpack("!H", frame[off:off + 2])[0] in (0x8100, 0x88A8):
            off += 4
        return off + 2
    return None


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


class Seg:
    """A decoded TCP segment inside a frame."""

    def __init__(self, linktype, frame):
        self.ok = False
        off = l3_offset(linktype, frame)
        if off is None or off >= len(frame):
            return
        self.link = frame[:off]
        ver = frame[off] >> 4
        if ver == 4:
            ihl = (frame[off] & 0x0F) * 4
            tot = struct.unpack("!H", frame[off + 2:off + 4])[0]
            if frame[off + 9] != 6 or tot > len(frame) - off:
                return
            self.iph = bytearray(frame[off:off + ihl])
            l4 = frame[off + ihl:off + tot]
        elif ver == 6:
            plen = struct.unpack("!H", frame[off + 4:off + 6])[0]
            if frame[off + 6] != 6:
                return
            self.iph = bytearray(frame[off:off + 40])
            l4 = frame[off + 40:off + 40 + plen]
        else:
            return
        self.v6 = ver == 6
        thl = (l4[12] >> 4) * 4
        self.tcph = bytearray(l4[:thl])
        self.payload = l4[thl:]
        self.seq = struct.unpack("!I", self.tcph[4:8])[0]
        if self.v6:
            self.src, self.dst = bytes(self.iph[8:24]), bytes(self.iph[24:40])
        else:
            self.src, self.dst = bytes(self.iph[12:16]), bytes(self.iph[16:20])
        self.endpoint = (self.src, bytes(self.tcph[0:2]))
        self.ok = True

    def build(self, seq, payload):
        iph = bytearray(self.iph)
        tcph = bytearray(self.tcph)
        tcph[4:8] = struct.pack("!I", seq & 0xFFFFFFFF)
        tcph[16:18] = b"\0\0"
        l4len = len(tcph) + len(payload)
        if self.v6:
            iph[4:6] = struct.pack("!H", l4len)
            pseudo = self.src + self.dst + struct.pack("!IxxxB", l4len, 6)
        else:
            iph[2:4] = struct.pack("!H", len(iph) + l4len)
            iph[10:12] = b"\0\0"
            iph[10:12] = struct.pack("!H", csum(bytes(iph)))
            pseudo = self.src + self.dst + struct.pack("!xBH", 6, l4len)
        tcph[16:18] = struct.pack("!H", csum(pseudo + bytes(tcph) + payload))
        return bytes(self.link) + bytes(iph) + bytes(tcph) + payload


def pieces(seg, sizes):
    """Cut seg's payload into pieces of the given sizes (cycled)."""
    out = []
    off = 0
    i = 0
    while off < len(seg.payload):
        n = sizes(i)
        out.append((seg.seq + off, seg.payload[off:off + n]))
        off += n
        i += 1
    return out


def split1(linktype, pkts):
    out = []
    for us, frame in pkts:
        s = Seg(linktype, frame)
        if not s.ok or not s.payload:
            out.append((us, frame))
            continue
        for seq, p in pieces(s, lambda i: 1):
            out.append((us, s.build(seq, p)))
    return out


def shuffle(linktype, pkts, seed=2026):
    rng = random.Random(seed)
    out = []
    run = []			# (us, seg) of the current run
    run_ep = None

    def flush():
        if not run:
            return
        items = []
        times = []
        for us, s in run:
            for seq, p in pieces(s, lambda i: rng.randint(1, 9)):
                items.append((s, seq, p))
                times.append(us)
        rng.shuffle(items)
        for us, (s, seq, p) in zip(times, items):
            out.append((us, s.build(seq, p)))
        del run[:]

    for us, frame in pkts:
        s = Seg(linktype, frame)
        if not s.ok or not s.payload:
            flush()
            run_ep = None
            out.append((us, frame))
            continue
        if s.endpoint != run_ep:
            flush()
            run_ep = s.endpoint
        run.append((us, s))
    flush()
    return out


def main(argv):
    if len(argv) < 3 or argv[0] not in ("split1", "shuffle"):
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    linktype, pkts = read_pcap(argv[1])
    if argv[0] == "split1":
        pkts = split1(linktype, pkts)
    else:
        pkts = shuffle(linktype, pkts,
                       int(argv[3]) if len(argv) > 3 else 2026)
    write_pcap(argv[2], linktype, pkts)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
