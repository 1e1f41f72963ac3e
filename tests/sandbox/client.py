#!/usr/bin/python3
"""client.py SRC DST HELO_LEN RCPT_LEN — one SMTP relay attempt to
DST:25 from SRC with a HELO and a RCPT path of the given lengths
(bytes of the argument).  Exits 0 once the RCPT is sent, whatever the
server or relayguardd do next (a reset is the expected end).  Bounded:
5 s per socket operation."""
import socket
import sys

src, dst = sys.argv[1], sys.argv[2]
helo_len, rcpt_len = int(sys.argv[3]), int(sys.argv[4])
s = socket.create_connection((dst, 25), timeout=5,
                             source_address=(src, 0))
f = s.makefile("rb")


def reply():
    """Read to the last line of one reply (b"" if the peer closed)."""
    for _ in range(100):
        line = f.readline(65536)
        if not line or line[3:4] != b"-":
            return line
    return b""


reply()
helo = "h" * (helo_len - 14) + ".attacker.test"
rcpt = "r" * (rcpt_len - 16) + "@foreign.example"
s.sendall(b"EHLO " + helo.encode() + b"\r\n")
reply()
s.sendall(b"MAIL FROM:<a@example.test>\r\n")
reply()
s.sendall(b"RCPT TO:<" + rcpt.encode() + b">\r\n")
try:
    reply()
except OSError:
    pass
s.close()
