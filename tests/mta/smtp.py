#!/usr/bin/python3
"""
smtp.py [options] ADDR -- one SMTP session, step by step (tests/mta).

    --from SENDER     MAIL FROM (default attacker@sender.test)
    --to RCPT         RCPT TO, repeatable
    --auth USER:PASS  AUTH PLAIN after EHLO (only if the server offers it)
    --data            send DATA and a short body after the RCPTs
    --timeout SECS    per reply (default 8)

Waits for each reply before the next command (no pipelining: OpenSMTPD
drops a client that pipelines without PIPELINING).  Prints one JSON
object: the replies (code and first line), "reset" when the connection
was reset or closed before the dialogue ended, "error" for a connect
failure, and "auth" (the AUTH reply code, or null when not offered).
Exit 0 whatever the server said; 2 on usage errors.
"""

import argparse
import base64
import json
import socket
import sys


class Closed(Exception):
    pass


def reply(f):
    """One SMTP reply (all lines), as (code, text of its first line)."""
    first = None
    for _ in range(100):
        line = f.readline(4096)
        if not line:
            raise Closed()
        if first is None:
            first = line.decode("latin-1").rstrip("\r\n")
        if len(line) < 4 or line[3:4] != b"-":
            code = int(line[:3]) if line[:3].isdigit() else 0
            return code, first
    raise Closed()


def ehlo_lines(f):
    lines = []
    for _ in range(100):
        line = f.readline(4096)
        if not line:
            raise Closed()
        lines.append(line.decode("latin-1").rstrip("\r\n"))
        if len(line) < 4 or line[3:4] != b"-":
            return lines
    raise Closed()


def session(a):
    fam = socket.AF_INET6 if ":" in a.addr else socket.AF_INET
    out = {"addr": a.addr, "replies": [], "reset": False, "auth": None}
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(a.timeout)
    try:
        s.connect((a.addr, 25))
    except OSError as e:
        out["error"] = "connect: %s" % e
        return out
    f = s.makefile("rb")

    def cmd(line, expect_reply=True):
        s.sendall(line.encode("latin-1") + b"\r\n")
        if expect_reply:
            code, text = reply(f)
            out["replies"].append([line.split(" ")[0][:12], code, text])
            return code
        return None

    try:
        code, text = reply(f)
        out["replies"].append(["banner", code, text])
        s.sendall(b"EHLO client.sender.test\r\n")
        lines = ehlo_lines(f)
        out["replies"].append(["EHLO", int(lines[-1][:3] or 0), lines[0]])
        offers = " ".join(l[4:].upper() for l in lines)
        if a.auth:
            if "AUTH" in offers and "PLAIN" in offers:
                user, pw = a.auth.split(":", 1)
                tok = base64.b64encode(b"\0" + user.encode() + b"\0" +
                                       pw.encode()).decode()
                out["auth"] = cmd("AUTH PLAIN " + tok)
        cmd("MAIL FROM:<%s>" % a.sender)
        for r in a.to:
            cmd("RCPT TO:<%s>" % r)
        if a.data:
            if cmd("DATA") == 354:
                s.sendall(b"From: <%s>\r\nSubject: lab\r\n\r\nhello\r\n"
                          % a.sender.encode())
                cmd(".")
        cmd("QUIT")
    except (Closed, ConnectionError, socket.timeout) as e:
        out["reset"] = True
        out["why"] = type(e).__name__
    finally:
        s.close()
    return out


def main(argv):
    p = argparse.ArgumentParser(add_help=True)
    p.add_argument("addr")
    p.add_argument("--from", dest="sender", default="attacker@sender.test")
    p.add_argument("--to", action="append", default=[])
    p.add_argument("--auth")
    p.add_argument("--data", action="store_true")
    p.add_argument("--timeout", type=float, default=8.0)
    a = p.parse_args(argv)
    print(json.dumps(session(a)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
