#!/usr/bin/python3
"""
client.py NAME SPORT [RESUME_FILE] -- play one technique of techniques.py
live, from raw sockets, against 198.51.100.25:25 (run it inside the
attacker namespace, as root).

The kernel of the namespace knows nothing of this connection, so the
suite drops its RSTs for the crafted source ports (an nft output rule
that spares packets carrying this client's socket mark).  The client is
a minimal TCP: it acknowledges the server's bytes in order, resends a
round whose bytes the server has not acknowledged (twice, as a TCP would),
and counts the server's replies against what the Postfix model says each
round owes.  It stops at a reset, at a round the server never answers
(stalled), or at the end of the dialogue, and always leaves with a RST at
the server's sequence so that no smtpd waits for it.

At a Midstream step it prints "PAUSED" and waits (at most 30 s) for
RESUME_FILE to exist: the suite starts relayguardd in between.

Prints one JSON object: per round its status (ok, stalled, reset) and the
reply codes; reset, stalled, completed; the count of "queued" replies.
"""

import json
import os
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import techniques as T  # noqa: E402

MARK = 0x4E5
SO_MARK = getattr(socket, "SO_MARK", 36)
ACK_WAIT = 0.5			# per try, before resending a round
REPLY_WAIT = 1.5		# acknowledged, replies still owed
TRIES = 3
GATEWAY = "203.0.113.1"


def seq_lt(a, b):
    return ((a - b) & 0xFFFFFFFF) >= 0x80000000


def seq_geq(a, b):
    return not seq_lt(a, b)


class Live:
    """server, client: the addresses (IPv4) of the connection; default
    the lab's Postfix and the attacker (tests/differential plays other
    servers)."""

    def __init__(self, sport, isn, server=None, client=None):
        self.server = server or T.SERVER
        self.client = client or T.CLIENT
        self.sport = sport
        self.snd = isn
        self.ipid = 0x2000
        self.rcv_nxt = None
        self.acked = isn
        self.nxt = None			# past the highest byte sent
        self.rx = b""
        self.reset = False
        self.fin = False
        self.tx = socket.socket(socket.AF_INET, socket.SOCK_RAW,
                                socket.IPPROTO_RAW)
        self.tx.setsockopt(socket.SOL_SOCKET, SO_MARK, MARK)
        self.rs = socket.socket(socket.AF_INET, socket.SOCK_RAW,
                                socket.IPPROTO_TCP)
        self.l2 = None

    def forge(self, seq, ack, flags, data=b""):
        """A packet claiming to come from the server, to be handed to the
        gateway on the wire (routing would keep it in this host)."""
        if self.l2 is None:
            self.l2 = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            self.l2.bind(("eth0", 0))
            with open("/sys/class/net/eth0/address") as f:
                mine = bytes.fromhex(f.read().strip().replace(":", ""))
            gw = None
            with open("/proc/net/arp") as f:
                for line in f.read().splitlines()[1:]:
                    w = line.split()
                    if w[0] == GATEWAY:
                        gw = bytes.fromhex(w[3].replace(":", ""))
            if gw is None:
                raise RuntimeError("no ARP entry for " + GATEWAY)
            self.l2hdr = gw + mine + b"\x08\x00"
        pkt = T.tcp_packet(self.server, self.client, 25, self.sport, seq,
                           ack, flags, data, ipid=T.FORGED_IPID)
        return self.l2hdr + pkt

    def put_l2(self, frame):
        self.l2.send(frame)

    def build(self, seq, flags, data=b"", ttl=64, badsum=False, urg=None,
              opts=None):
        ack = self.rcv_nxt if self.rcv_nxt is not None else 0
        if "A" not in flags:
            ack = 0
        self.ipid += 1
        end = (seq + len(data)) & 0xFFFFFFFF
        if data and (self.nxt is None or seq_lt(self.nxt, end)):
            self.nxt = end
        return T.tcp_packet(self.client, self.server, self.sport, 25, seq,
                            ack, flags, data, ttl=ttl, urg=urg, badsum=badsum,
                            window=65535, opts=opts, ipid=self.ipid)

    def send(self, seq, flags, data=b"", **kw):
        self.put(self.build(seq, flags, data, **kw))

    def put(self, pkt):
        self.tx.sendto(pkt, (self.server, 0))

    def ack_now(self):
        # At the next sequence number, past every byte sent: a pure ACK
        # numbered below what the server already received is outside
        # its window, and Linux drops it unread (it then resends what
        # this ACK was for).
        self.send(self.nxt if self.nxt is not None and
                  seq_lt(self.snd, self.nxt) else self.snd, "A")

    def poll(self, timeout):
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            r, _, _ = select.select([self.rs], [], [], left)
            if not r:
                return
            self.handle(self.rs.recv(65535))

    def handle(self, pkt):
        if len(pkt) < 20:
            return
        ihl = (pkt[0] & 0x0F) * 4
        if socket.inet_ntoa(pkt[12:16]) != self.server or \
                socket.inet_ntoa(pkt[16:20]) != self.client or \
                len(pkt) < ihl + 20:
            return
        sp, dp, seq, ack, off, flags = struct.unpack(
            "!HHIIBB", pkt[ihl:ihl + 14])
        if sp != 25 or dp != self.sport or \
                struct.unpack("!H", pkt[4:6])[0] == T.FORGED_IPID:
            return			# not ours, or our own forgery
        data = pkt[ihl + (off >> 4) * 4:]
        total = struct.unpack("!H", pkt[2:4])[0]
        data = data[:max(0, total - ihl - (off >> 4) * 4)]
        if flags & 0x04:			# RST
            self.reset = True
            return
        if (flags & 0x12) == 0x12:		# SYN-ACK
            self.rcv_nxt = (seq + 1) & 0xFFFFFFFF
            self.acked = ack
            return
        if self.rcv_nxt is None:
            return
        if flags & 0x10 and seq_lt(self.acked, ack):
            self.acked = ack
        if data:
            if seq_lt(seq, self.rcv_nxt):
                skip = (self.rcv_nxt - seq) & 0xFFFFFFFF
                data = data[skip:] if skip < len(data) else b""
                seq = self.rcv_nxt
            if seq == self.rcv_nxt and data:
                self.rx += data
                self.rcv_nxt = (self.rcv_nxt + len(data)) & 0xFFFFFFFF
            self.ack_now()
        if flags & 0x01 and seq == self.rcv_nxt:	# FIN, in order
            self.rcv_nxt = (self.rcv_nxt + 1) & 0xFFFFFFFF
            self.fin = True
            self.ack_now()

    def replies(self):
        """Codes of the complete replies received so far."""
        codes = []
        for line in self.rx.split(b"\n")[:-1]:
            line = line.rstrip(b"\r")
            if len(line) >= 3 and line[:3].isdigit() and \
                    (len(line) == 3 or line[3:4] == b" "):
                codes.append(int(line[:3]))
        return codes

    def handshake(self):
        isn = self.snd
        for _ in range(TRIES):
            self.send(isn, "S", opts=[("MSS", 1460)])
            end = time.monotonic() + 1.0
            while self.rcv_nxt is None and not self.reset and \
                    time.monotonic() < end:
                self.poll(0.05)
            if self.rcv_nxt is not None or self.reset:
                break
        if self.rcv_nxt is None:
            return False
        self.snd = (isn + 1) & 0xFFFFFFFF
        self.acked = self.snd
        self.ack_now()
        return True

    def close(self):
        # The server's receive point is what it acknowledged last.
        if not self.reset and self.rcv_nxt is not None:
            self.send(self.acked, "RA")


def play(tech, sport, resume):
    isn = T.isn_for(tech.name, "live%d" % sport)
    k = Live(sport, isn)
    out = {"technique": tech.name, "sport": sport, "rounds": [],
           "reset": False, "stalled": False, "completed": False}
    if not k.handshake():
        out["error"] = "no SYN-ACK"
        k.close()
        return out
    model = T.PostfixModel()
    owed = 0
    first = True
    for step in tech.steps:
        if isinstance(step, T.Midstream):
            if resume is None:
                continue		# the control: no daemon to start
            print("PAUSED", flush=True)
            end = time.monotonic() + 30
            while not os.path.exists(resume) and time.monotonic() < end:
                k.poll(0.05)
            if not os.path.exists(resume):
                out["error"] = "never resumed"
                break
            continue
        if isinstance(step, T.Pause):
            k.poll(step.ms / 1000.0)
            continue
        owed += 1 if first else len(model.feed(step.view))
        first = False
        end = (k.snd + len(step.data)) & 0xFFFFFFFF
        seen = len(k.replies())
        status = "stalled"
        for _ in range(TRIES):
            # Built before the first goes out: what must arrive together
            # (a forged reply right behind its command) is not spread out
            # by the time scapy takes to build a packet.
            pkts = []
            for s in step.segs:
                if s.forge:
                    pkts.append((s, k.put_l2, k.forge(
                        k.rcv_nxt, k.snd + s.off, s.flags, s.data)))
                else:
                    pkts.append((s, k.put, k.build(
                        k.snd + s.off, s.flags, s.data, ttl=s.ttl,
                        badsum=s.badsum, urg=s.urg)))
            for s, put, pkt in pkts:
                if s.gap_ms:
                    k.poll(s.gap_ms / 1000.0)
                put(pkt)
            if not step.segs:
                k.poll(0.0)
            limit = time.monotonic() + ACK_WAIT
            while time.monotonic() < limit and not k.reset:
                k.poll(0.02)
                if seq_geq(k.acked, end) and len(k.replies()) >= owed:
                    break
            if k.reset:
                status = "reset"
                break
            if seq_geq(k.acked, end):
                limit = time.monotonic() + REPLY_WAIT
                while time.monotonic() < limit and not k.reset and \
                        len(k.replies()) < owed:
                    k.poll(0.02)
                if k.reset:
                    status = "reset"
                elif len(k.replies()) >= owed:
                    status = "ok"
                break
        if not step.segs and status == "stalled" and \
                len(k.replies()) >= owed:
            status = "ok"
        if not step.segs:
            k.poll(0.05)			# challenge ACKs, late replies
        out["rounds"].append({"data": step.data[:60].decode("latin-1"),
                              "status": status,
                              "replies": k.replies()[seen:]})
        if status != "ok":
            break
        k.snd = end
    else:
        out["completed"] = True
    k.poll(0.05)
    out["reset"] = k.reset
    out["stalled"] = any(r["status"] == "stalled" for r in out["rounds"])
    out["codes"] = k.replies()
    out["queued"] = k.rx.count(b" Ok: queued as ")
    k.close()
    return out


def main(argv):
    if len(argv) not in (2, 3) or argv[0] not in T.BY_NAME:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    resume = argv[2] if len(argv) == 3 else None
    out = play(T.BY_NAME[argv[0]], int(argv[1]), resume)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
