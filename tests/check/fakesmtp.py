"""
fakesmtp.py -- scripted SMTP servers for tests/check/run.

FakeSMTP(mode) listens on 127.0.0.1 and ::1 (when the host has it) on one
ephemeral port, serves each connection in a thread according to mode, and
records every command line each connection sent (FakeSMTP.sessions: one
list of byte lines per connection).  Modes:

  open       250 to every RCPT
  closed     554 5.7.1 to any recipient not plainly local
  percent    accepts only user%foreign@[server-literal]: the %-hack
  reset      like closed, but a foreign RCPT gets a TCP reset (SO_LINGER 0),
             as relayguard does
  helo       EHLO answered 502: the client must fall back to HELO (closed)
  escape     closed, with control bytes and a backslash in the 554 reply
  rcpt-hang  never answers RCPT
  rcpt-junk  answers RCPT with binary junk
  banner554  refuses the session in its banner
  endless    a multi-line banner that never ends
  longline   a 1 MB banner line
  junk       binary junk instead of a banner
  nobanner   accepts and says nothing
  slow       drips a banner one byte at a time, never finishing it

No sleeps decide anything: the slow modes wait on the client's socket (a
read with a timeout), so they end as soon as the client hangs up.
"""

import os
import select
import socket
import struct
import threading

LOCAL_DOMAINS = (b"mx.example.test", b"example.test")
HOSTNAME = b"mx.example.test"
MEGABYTE = 1 << 20


def _literal(sock):
    """The address literal a client should use for this server socket."""
    addr = sock.getsockname()[0]
    if sock.family == socket.AF_INET6:
        return b"[IPv6:" + addr.encode() + b"]"
    return b"[" + addr.encode() + b"]"


def _path(arg):
    """The path between < and > of 'TO:<...>' (bytes), or None."""
    lt = arg.find(b"<")
    gt = arg.rfind(b">")
    if lt < 0 or gt < lt:
        return None
    return arg[lt + 1:gt]


def _plainly_local(path):
    """user@local-domain without any routing character."""
    if path.count(b"@") != 1 or any(c in path for c in b'%!:"'):
        return False
    return path.split(b"@")[1].lower() in LOCAL_DOMAINS


class FakeSMTP:
    def __init__(self, mode, timeout=20.0):
        self.mode = mode
        self.timeout = timeout
        self.sessions = []
        self.lock = threading.Lock()
        self.stopping = False
        self.socks = []
        self.port = self._listen()
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def _listen(self):
        last = None
        for _ in range(20):
            s4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s4.bind(("127.0.0.1", 0))
            port = s4.getsockname()[1]
            socks = [s4]
            try:
                s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
                s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s6.bind(("::1", port))
                socks.append(s6)
            except OSError as e:
                last = e
                s6.close()
                if e.errno == 98:    # EADDRINUSE: try another port
                    s4.close()
                    continue
            for s in socks:
                s.listen(32)
            self.socks = socks
            self.has_v6 = len(socks) == 2
            return port
        raise RuntimeError("no port free on both 127.0.0.1 and ::1: %s" %
                           last)

    def stop(self):
        self.stopping = True
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass

    def _accept_loop(self):
        while not self.stopping:
            try:
                ready, _, _ = select.select(self.socks, [], [], 0.2)
            except (OSError, ValueError):
                return
            for s in ready:
                try:
                    conn, _ = s.accept()
                except OSError:
                    continue
                log = []
                with self.lock:
                    self.sessions.append(log)
                threading.Thread(target=self._serve, args=(conn, log),
                                 daemon=True).start()

    # -- one connection ------------------------------------------------

    def _serve(self, conn, log):
        conn.settimeout(self.timeout)
        try:
            self._session(conn, log)
        except (OSError, socket.timeout):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _wait_gone(self, conn, seconds):
        """Wait (bounded) until the client hangs up or sends something."""
        r, _, _ = select.select([conn], [], [], seconds)
        return bool(r)

    def _session(self, conn, log):
        m = self.mode
        if m == "nobanner":
            self._wait_gone(conn, self.timeout)
            return
        if m == "slow":
            for c in b"220 mx.example.test slowly...":
                conn.sendall(bytes([c]))
                if self._wait_gone(conn, 0.2):
                    return
            self._wait_gone(conn, self.timeout)
            return
        if m == "endless":
            line = b"220-mx.example.test this never ends\r\n"
            for _ in range(200000):
                conn.sendall(line)
            return
        if m == "longline":
            conn.sendall(b"220 " + b"x" * MEGABYTE + b"\r\n")
            return
        if m == "junk":
            conn.sendall(bytes(range(256)) * 64)
            self._wait_gone(conn, self.timeout)
            return
        if m == "banner554":
            conn.sendall(b"554 5.7.1 mx.example.test no service for you\r\n")
            self._wait_gone(conn, self.timeout)
            return
        conn.sendall(b"220 " + HOSTNAME + b" ESMTP fake\r\n")
        f = conn.makefile("rb")
        while True:
            line = f.readline(4096)
            if not line:
                return
            log.append(line)
            cmd = line.rstrip(b"\r\n")
            verb = cmd[:4].upper()
            if verb == b"EHLO":
                if m == "helo":
                    conn.sendall(b"502 5.5.1 EHLO not implemented\r\n")
                else:
                    conn.sendall(b"250-" + HOSTNAME + b"\r\n250-PIPELINING"
                                 b"\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n")
            elif verb == b"HELO":
                conn.sendall(b"250 " + HOSTNAME + b"\r\n")
            elif verb == b"RSET":
                conn.sendall(b"250 2.0.0 Ok\r\n")
            elif verb == b"MAIL":
                conn.sendall(b"250 2.1.0 Ok\r\n")
            elif verb == b"RCPT":
                if not self._rcpt(conn, cmd):
                    return
            elif verb == b"QUIT":
                conn.sendall(b"221 2.0.0 Bye\r\n")
                return
            elif verb == b"DATA":
                conn.sendall(b"554 5.5.1 no DATA in this test\r\n")
            else:
                conn.sendall(b"502 5.5.2 Error: command not recognized\r\n")

    def _rcpt(self, conn, cmd):
        """Answer one RCPT; False when the connection is over."""
        m = self.mode
        path = _path(cmd[4:]) or b""
        if m == "open":
            conn.sendall(b"250 2.1.5 Ok\r\n")
            return True
        if m == "rcpt-hang":
            self._wait_gone(conn, self.timeout)
            return False
        if m == "rcpt-junk":
            conn.sendall(b"\x00\x01\x02junk\xff\r\n")
            return True
        if m == "percent":
            want = b"relaytest%relayguard-check.test@" + _literal(conn)
            if path == want:
                conn.sendall(b"250 2.1.5 Ok\r\n")
            else:
                conn.sendall(b"554 5.7.1 Relay access denied\r\n")
            return True
        if _plainly_local(path):
            conn.sendall(b"250 2.1.5 Ok\r\n")
            return True
        if m == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
            conn.close()
            return False
        if m == "escape":
            conn.sendall(b"554 5.7.1 \x1b[31mdenied\x00 back\\slash \xff\r\n")
            return True
        conn.sendall(b"554 5.7.1 <" + path + b">: Relay access denied\r\n")
        return True


if __name__ == "__main__":
    # Manual use: fakesmtp.py MODE -- serve until interrupted.
    import sys
    srv = FakeSMTP(sys.argv[1] if len(sys.argv) > 1 else "open")
    print("listening on port %d (IPv6 %s)" % (srv.port, srv.has_v6),
          flush=True)
    try:
        srv.thread.join()
    except KeyboardInterrupt:
        srv.stop()
    os._exit(0)
