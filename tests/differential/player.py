#!/usr/bin/python3
"""
player.py -- plays dialogues of grammar.py against SMTP servers; run it
inside the attacker namespace of the lab (as root: raw dialogues).

Reads requests from stdin, one JSON object a line:
    {"id": ID, "server": ADDR, "client": ADDR, "sport": PORT,
     "dlg": DIALOGUE}
and plays each in a thread of its own: "plain" dialogues through an
ordinary socket bound to client:sport (IPv4 or IPv6), "raw" ones through
the raw-socket TCP of tests/evasion/client.py (its segments, gaps,
overlaps, and a second connection on the same 4-tuple with an ISN next
to the first's).  Writes one JSON object a line per request:
    {"id": ID, "conns": [{"rounds": [{"sent": N, "rx": TEXT}], "reset":
     BOOL, "closed": BOOL, "error": TEXT}], "reset": BOOL, "rx": TEXT}

There is no model of the server: after each round the player waits
until the server has acknowledged the round's bytes, then until its
replies stop (QUIET seconds after the last complete reply, NOREPLY when
none came, ROUND_MAX at most).  A round the server never acknowledges is
sent again twice (raw), then the dialogue stops.  Raw connections end
with a RST at the server's sequence, as client.py's do.
"""

import json
import os
import select
import socket
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "evasion"))
sys.path.insert(0, os.path.join(HERE, "..", "crafted"))
import client as C  # noqa: E402
import techniques as T  # noqa: E402
from variants import csum as _csum  # noqa: E402

QUIET = 0.15
NOREPLY = 1.2
ROUND_MAX = 4.0
ACK_WAIT = 0.6
TRIES = 3
RX_KEEP = 6000			# reply text kept per connection


def lb(s):
    return s.encode("latin-1")


# -- packets without scapy (thread-safe, fast) ---------------------------------

FLAGS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20,
         "E": 0x40, "C": 0x80}


def tcp_packet(src, dst, sport, dport, seq, ack, flags, data=b"", ttl=64,
               urg=None, badsum=False, window=65535, opts=None, ipid=1):
    """techniques.tcp_packet, built with struct (IPv4)."""
    fl = 0
    for c in flags:
        fl |= FLAGS[c]
    if urg:
        fl |= 0x20
    o = b""
    for kind, val in opts or []:
        if kind == "MSS":
            o += struct.pack("!BBH", 2, 4, val)
    while len(o) % 4:
        o += b"\x01"
    thl = 20 + len(o)
    s, d = socket.inet_aton(src), socket.inet_aton(dst)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF,
                      ack & 0xFFFFFFFF, (thl // 4) << 4, fl, window, 0,
                      urg or 0) + o + data
    pseudo = s + d + struct.pack("!BBH", 0, 6, len(tcp))
    sum_ = _csum(pseudo + tcp)
    if badsum:
        sum_ ^= 0x5A5A
    tcp = tcp[:16] + struct.pack("!H", sum_) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), ipid & 0xFFFF,
                     0x4000, ttl, 6, 0, s, d)
    ip = ip[:10] + struct.pack("!H", _csum(ip)) + ip[12:]
    return ip + tcp


T.tcp_packet = tcp_packet


def complete_replies(rx):
    """Final reply lines (ddd SP or ddd alone) in rx."""
    n = 0
    for line in rx.split(b"\n")[:-1]:
        line = line.rstrip(b"\r")
        if len(line) >= 3 and line[:3].isdigit() and \
                (len(line) == 3 or line[3:4] == b" "):
            n += 1
    return n


# -- plain sockets -------------------------------------------------------------

def play_plain(req):
    dlg = req["dlg"]
    fam = socket.AF_INET6 if dlg["family"] == 6 else socket.AF_INET
    out = {"rounds": [], "reset": False, "closed": False}
    s = socket.socket(fam, socket.SOCK_STREAM)
    rx = b""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((req["client6"] if fam == socket.AF_INET6 else req["client"],
                req["sport"]))
        s.settimeout(5)
        s.connect((req["server6"] if fam == socket.AF_INET6
                   else req["server"], 25))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
    except OSError as e:
        out["error"] = "connect: %s" % e
        s.close()
        return [out], b""
    for r in dlg["conns"][0]["rounds"]:
        data = lb(r["data"])
        seen = len(rx)
        sent_at = time.monotonic()
        try:
            if data:
                s.setblocking(True)
                s.settimeout(5)
                s.sendall(data)
                s.setblocking(False)
        except ConnectionResetError:
            out["reset"] = True
        except OSError as e:
            out["error"] = "send: %s" % e
        last = sent_at
        while not (out["reset"] or out["closed"] or out.get("error")):
            now = time.monotonic()
            got = complete_replies(rx[seen:]) > 0
            if now - sent_at > ROUND_MAX or \
                    (got and now - last >= QUIET) or \
                    (not got and now - sent_at >= NOREPLY):
                break
            rd, _, _ = select.select([s], [], [], 0.02)
            if not rd:
                continue
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                out["reset"] = True
                break
            except OSError as e:
                out["error"] = "recv: %s" % e
                break
            if not chunk:
                out["closed"] = True
                break
            rx += chunk
            last = time.monotonic()
        out["rounds"].append({"sent": len(data),
                              "rx": rx[seen:][:400].decode("latin-1")})
        if out["reset"] or out["closed"] or out.get("error"):
            break
    s.close()
    return [out], rx


# -- raw sockets ---------------------------------------------------------------

def wait_round(k, end, seen, sent_at):
    """Wait for the round's bytes to be acknowledged and its replies."""
    last_len = len(k.rx)
    last = sent_at
    while not k.reset:
        now = time.monotonic()
        if len(k.rx) != last_len:
            last_len = len(k.rx)
            last = now
        acked = C.seq_geq(k.acked, end)
        got = complete_replies(k.rx[seen:]) > 0
        if now - sent_at > ROUND_MAX:
            break
        if acked and ((got and now - last >= QUIET) or
                      (not got and now - sent_at >= NOREPLY) or k.fin):
            break
        if not acked and now - sent_at >= ACK_WAIT:
            return False
        k.poll(0.02)
    return True


def segs_of(r):
    if "segs" in r:
        return [T.Seg(s["off"], lb(s["data"]), flags=s.get("flags", "PA"),
                      gap_ms=s.get("gap_ms", 0)) for s in r["segs"]]
    data = lb(r["data"])
    return [T.Seg(0, data)] if data else []


def play_raw(req):
    dlg = req["dlg"]
    outs = []
    rx_all = b""
    prev = None
    for c in dlg["conns"]:
        if c.get("reuse") and prev is not None:
            isn = (prev.snd + c.get("isn_delta", 1)) & 0xFFFFFFFF
        else:
            isn = T.isn_for(dlg["tag"], "%s/%d" % (req["server"],
                                                   req["sport"]))
        k = C.Live(req["sport"], isn, server=req["server"],
                   client=req["client"])
        out = {"rounds": [], "reset": False, "closed": False}
        outs.append(out)
        if not k.handshake():
            out["error"] = "no SYN-ACK"
            k.close()
            break
        stop = False
        for r in c["rounds"]:
            data = lb(r["data"])
            segs = segs_of(r)
            end = (k.snd + len(data)) & 0xFFFFFFFF
            seen = len(k.rx)
            ok = False
            for _ in range(TRIES):
                pkts = [(s, k.build(k.snd + s.off, s.flags, s.data))
                        for s in segs]
                sent_at = time.monotonic()
                for s, pkt in pkts:
                    if s.gap_ms:
                        k.poll(s.gap_ms / 1000.0)
                    k.put(pkt)
                if wait_round(k, end, seen, sent_at):
                    ok = True
                    break
            out["rounds"].append({"sent": len(data),
                                  "rx": k.rx[seen:][:400].decode("latin-1"),
                                  "acked": ok})
            if k.reset or k.fin or not ok:
                stop = True
                break
            k.snd = end
        out["reset"] = k.reset
        out["closed"] = k.fin
        if not ok and not k.reset and not k.fin:
            out["error"] = "round never acknowledged"
        rx_all += k.rx
        if c.get("end") == "fin" and not stop:
            k.send(k.snd, "FA")
            k.snd = (k.snd + 1) & 0xFFFFFFFF
            limit = time.monotonic() + 2.0
            while not k.fin and not k.reset and time.monotonic() < limit:
                k.poll(0.02)
            k.poll(0.05)
        elif c.get("end") == "rst" and not stop:
            k.send(k.snd, "RA")
            k.reset = True
            k.poll(0.05)
        else:
            k.close()
        k.tx.close()
        k.rs.close()
        prev = k
        if stop:
            break
    return outs, rx_all


# -- the loop ------------------------------------------------------------------

LOCK = threading.Lock()


def run(req):
    try:
        if req["dlg"]["mode"] == "raw":
            conns, rx = play_raw(req)
        else:
            conns, rx = play_plain(req)
        res = {"id": req["id"], "conns": conns,
               "reset": any(c.get("reset") for c in conns),
               "rx": rx[:RX_KEEP].decode("latin-1")}
    except Exception as e:			# a report, never a hang
        res = {"id": req["id"], "conns": [], "reset": False, "rx": "",
               "error": "%s: %s" % (type(e).__name__, e)}
    with LOCK:
        sys.stdout.write(json.dumps(res) + "\n")
        sys.stdout.flush()


def main():
    threads = []
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        req = json.loads(line)
        t = threading.Thread(target=run, args=(req,), daemon=True)
        t.start()
        threads.append(t)
        threads = [x for x in threads if x.is_alive()]
    for t in threads:
        t.join(60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
