#!/usr/bin/python3
"""
pipeline.py SERVER N -- a legitimate pipelining client: EHLO, then MAIL
and N RCPTs to local users in one write (so TCP cuts it into segments in
the middle of RCPT lines), then RSET and QUIT.  Prints one JSON object:
how many of the N + 1 replies were 250, and the seconds they took.
relayguardd holds back segments that end inside a RCPT line until the
line is complete (the client's TCP resends them): this proves that costs
a legitimate client nothing but a retransmission.
"""

import json
import socket
import sys
import time


def main(argv):
    server, n = argv[0], int(argv[1])
    out = {"ok": 0, "of": n + 1}
    s = socket.create_connection((server, 25), timeout=20)
    f = s.makefile("rb")

    def reply():
        while True:
            line = f.readline()
            if not line:
                raise ConnectionResetError("closed")
            if line[3:4] != b"-":
                return line[:3]

    try:
        reply()
        s.sendall(b"EHLO client.example.test\r\n")
        reply()
        msg = b"MAIL FROM:<sender@sender.test>\r\n" + b"".join(
            b"RCPT TO:<user%04d@example.test>\r\n" % i for i in range(n))
        t = time.monotonic()
        s.sendall(msg)
        out["ok"] = sum(reply() == b"250" for _ in range(n + 1))
        out["seconds"] = round(time.monotonic() - t, 3)
        s.sendall(b"RSET\r\nQUIT\r\n")
        reply()
        reply()
    except (OSError, ConnectionResetError) as e:
        out["error"] = str(e) or type(e).__name__
    finally:
        s.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
