#!/usr/bin/python3
"""notify.py SOCKET OUT SECONDS — a NOTIFY_SOCKET listener, as systemd's
for Type=notify: each datagram's lines appended to OUT; exits after
SECONDS."""
import os
import socket
import sys
import time

path, out, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
end = time.monotonic() + limit
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
if os.path.exists(path):
    os.unlink(path)
s.bind(path)
with open(out, "a", encoding="utf-8") as f:
    while time.monotonic() < end:
        s.settimeout(max(0.1, end - time.monotonic()))
        try:
            data = s.recv(65536)
        except OSError:
            continue
        f.write(data.decode("utf-8", "replace") + "\n")
        f.flush()
