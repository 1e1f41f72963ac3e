#!/usr/bin/python3
"""
syslog.py SOCKET LOGFILE -- a minimal syslog daemon for one lab server.

Sendmail logs only through syslog(3), which writes datagrams to /dev/log;
tests/lab/mta.sh gives Sendmail's mount namespace a private /dev whose
`log` is SOCKET, bound here.  Every datagram becomes one line of LOGFILE,
flushed at once (the oracle reads it while the server runs).  Runs until
killed (lab_down kills every process of the lab's namespaces).
"""

import os
import socket
import sys


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    path, logfile = argv
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.chmod(path, 0o666)
    with open(logfile, "ab", buffering=0) as out:
        while True:
            msg = s.recv(65536)
            # One line per message: an embedded newline would let a
            # logged address forge a line of its own.
            msg = msg.rstrip(b"\0\n").replace(b"\n", b"\\n")
            out.write(msg + b"\n")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
