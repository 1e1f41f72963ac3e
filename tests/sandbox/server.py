#!/usr/bin/python3
"""server.py ADDR SECONDS — a minimal SMTP responder on ADDR:25 that takes
command lines of any length (Postfix's smtp-sink closes on lines over 2 KiB,
Exim reads 4 KiB): 220, then "250 ok" for every line, 354 for DATA.
Serves one connection at a time; exits after SECONDS."""
import socket
import sys
import time

addr, limit = sys.argv[1], float(sys.argv[2])
end = time.monotonic() + limit
ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((addr, 25))
ls.listen(16)
while time.monotonic() < end:
    ls.settimeout(max(0.1, end - time.monotonic()))
    try:
        c, _ = ls.accept()
    except OSError:
        continue
    c.settimeout(5)
    try:
        c.sendall(b"220 sink.example.test ESMTP\r\n")
        f = c.makefile("rb")
        for _ in range(1000):
            line = f.readline(1 << 20)
            if not line:
                break
            if line.upper().startswith(b"QUIT"):
                c.sendall(b"221 bye\r\n")
                break
            c.sendall(b"354 go on\r\n" if line.upper().startswith(b"DATA")
                      else b"250 ok\r\n")
    except OSError:
        pass
    c.close()
