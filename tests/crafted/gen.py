#!/usr/bin/python3
"""
gen.py -- write the crafted captures of tests/crafted/pcap/.

Every capture is a small, deterministic SMTP dialogue aimed at one rule of
DESIGN.md: fixed timestamps from 2026-01-01T00:00:00Z, fixed ports and ISNs,
a full handshake (unless the case is about its absence), correct checksums,
and server replies worded as Postfix 3.7 words them.  Scapy builds the IP
and TCP layers (so checksums are right); the link layers and the pcap and
pcapng files are written here byte by byte, so the output does not depend
on scapy's writers.

    gen.py            write tests/crafted/pcap/
    gen.py --check    regenerate into a temp dir, compare byte for byte
    gen.py --out DIR  write elsewhere

The expected events are NOT produced here: tests/crafted/expected/ is
written by hand from the rules.  run imports this module for the
differential variants (split into 1-byte segments, shuffled).
"""

import filecmp
import os
import random
import struct
import sys
import tempfile

from scapy.all import IP, IPv6, TCP, UDP, Raw, IPv6ExtHdrFragment  # noqa

T0 = 1767225600			# 2026-01-01T00:00:00Z
STEP_US = 1000			# default gap between packets: 1 ms

C4 = "203.0.113.10"		# the attacker (outside relay-networks)
C4B = "203.0.113.20"		# a second outside client
S4 = "198.51.100.25"		# the mail server
T4 = "192.0.2.10"		# inside relay-networks 192.0.2.0/24
C6 = "2001:db8:3::10"
S6 = "2001:db8:2::25"
T6 = "2001:db8:1::10"		# inside relay-networks 2001:db8:1::/48

MAC_C = b"\x02\x00\x00\x00\x00\x0a"
MAC_S = b"\x02\x00\x00\x00\x00\x19"

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276

BANNER = "220 mail.example.test ESMTP Postfix (Debian/GNU)"
EHLO_REPLY = "\r\n".join([
    "250-mail.example.test", "250-PIPELINING", "250-SIZE 10240000",
    "250-VRFY", "250-ETRN", "250-STARTTLS", "250-AUTH PLAIN LOGIN",
    "250-ENHANCEDSTATUSCODES", "250-8BITMIME", "250-DSN", "250-SMTPUTF8",
    "250 CHUNKING"])
OK_MAIL = "250 2.1.0 Ok"
OK_RCPT = "250 2.1.5 Ok"
GO_DATA = "354 End data with <CR><LF>.<CR><LF>"
QUEUED = "250 2.0.0 Ok: queued as 4Q1X2Y3Z4W"
BYE = "221 2.0.0 Bye"
BODY = ("From: alice@sender.test\r\nTo: bob@example.test\r\n"
        "Subject: test\r\n\r\nhello\r\n")


def b(s):
    return s.encode("latin-1") if isinstance(s, str) else s


class Capture:
    """Packets (time in usec, IP bytes, direction) of one capture file."""

    def __init__(self, linktype=LINKTYPE_ETHERNET, wrap=None):
        self.linktype = linktype
        self.wrap = wrap		# IP bytes, to_server -> frame bytes
        self.pkts = []			# (usec, frame bytes)
        self.next_us = T0 * 1000000

    def at(self, sec):
        """The next packet is sent sec seconds after T0."""
        self.next_us = T0 * 1000000 + int(round(sec * 1000000))

    def add_ip(self, ipbytes, to_server):
        frame = self.wrap(ipbytes, to_server) if self.wrap else \
            ether(ipbytes, to_server)
        self.add_frame(frame)

    def add_frame(self, frame):
        self.pkts.append((self.next_us, frame))
        self.next_us += STEP_US


# -- link layers ------------------------------------------------------------

def ethertype(ipbytes):
    return 0x86DD if (ipbytes[0] >> 4) == 6 else 0x0800


def ether(ipbytes, to_server, tags=()):
    dst, src = (MAC_S, MAC_C) if to_server else (MAC_C, MAC_S)
    hdr = dst + src
    for tpid, vid in tags:
        hdr += struct.pack("!HH", tpid, vid)
    return hdr + struct.pack("!H", ethertype(ipbytes)) + ipbytes


def vlan(ipbytes, to_server):
    return ether(ipbytes, to_server, tags=[(0x8100, 100)])


def qinq(ipbytes, to_server):
    return ether(ipbytes, to_server, tags=[(0x88A8, 200), (0x8100, 100)])


def sll(ipbytes, to_server):
    # Captured on the server: the client's packets come in (0, to us),
    # the server's go out (4).
    ptype = 0 if to_server else 4
    mac = MAC_C if to_server else MAC_S
    return struct.pack("!HHH", ptype, 1, 6) + mac + b"\0\0" + \
        struct.pack("!H", ethertype(ipbytes)) + ipbytes


def sll2(ipbytes, to_server):
    ptype = 0 if to_server else 4
    mac = MAC_C if to_server else MAC_S
    return struct.pack("!HHIHBB", ethertype(ipbytes), 0, 2, 1, ptype, 6) + \
        mac + b"\0\0" + ipbytes


def raw(ipbytes, to_server):
    return ipbytes


def null_link(ipbytes, to_server):
    # BSD loopback: the address family in the capturing host's byte order;
    # these files are little-endian.  AF_INET6 is 24, 28 or 30 depending on
    # the BSD: 30 is what macOS writes.
    af = 30 if (ipbytes[0] >> 4) == 6 else 2
    return struct.pack("<I", af) + ipbytes


# -- TCP connections --------------------------------------------------------

class Conn:
    """One TCP connection; tracks both sequence spaces."""

    def __init__(self, cap, client=C4, server=S4, cport=40000, sport=25,
                 cisn=1000000, sisn=2000000):
        self.cap = cap
        self.client, self.server = client, server
        self.cport, self.sport = cport, sport
        self.v6 = ":" in client
        self.cseq = cisn		# next client sequence number
        self.sseq = sisn
        self.ipid = [0x1000, 0x5000]

    def _pkt(self, to_server, flags, seq, ack, payload=b"", opts=None,
             urg=0):
        if to_server:
            src, dst, sp, dp = self.client, self.server, self.cport, \
                self.sport
        else:
            src, dst, sp, dp = self.server, self.client, self.sport, \
                self.cport
        if self.v6:
            ip = IPv6(src=src, dst=dst, hlim=64)
        else:
            d = 0 if to_server else 1
            ip = IP(src=src, dst=dst, ttl=64, id=self.ipid[d], flags="DF")
            self.ipid[d] = (self.ipid[d] + 1) & 0xFFFF
        tcp = TCP(sport=sp, dport=dp, seq=seq & 0xFFFFFFFF,
                  ack=ack & 0xFFFFFFFF, flags=flags, window=64240,
                  options=opts or [], urgptr=urg)
        p = ip / tcp
        if payload:
            p = p / Raw(load=payload)
        return bytes(p)

    def send(self, to_server, flags, seq, ack, payload=b"", opts=None):
        self.cap.add_ip(self._pkt(to_server, flags, seq, ack, payload, opts),
                        to_server)

    def handshake(self):
        opts = [("MSS", 1460), ("WScale", 7)]
        self.send(True, "S", self.cseq, 0, opts=opts)
        self.send(False, "SA", self.sseq, self.cseq + 1, opts=opts)
        self.cseq += 1
        self.sseq += 1
        self.send(True, "A", self.cseq, self.sseq)
        return self

    def c(self, data, at=None):
        """The client sends data in one segment."""
        data = b(data)
        if at is not None:
            self.cap.at(at)
        self.send(True, "PA", self.cseq, self.sseq, data)
        self.cseq += len(data)

    def s(self, data, at=None):
        data = b(data)
        if at is not None:
            self.cap.at(at)
        self.send(False, "PA", self.sseq, self.cseq, data)
        self.sseq += len(data)

    def c_at(self, seq_off, data, advance=False):
        """A client segment at cseq + seq_off (out of order, or resent)."""
        data = b(data)
        self.send(True, "PA", self.cseq + seq_off, self.sseq, data)
        if advance:
            self.cseq += len(data)

    def s_ack(self):
        self.send(False, "A", self.sseq, self.cseq)

    def c_ack(self):
        self.send(True, "A", self.cseq, self.sseq)

    # -- SMTP --
    def banner(self):
        self.s(BANNER + "\r\n")

    def cmd(self, line, reply=None, at=None):
        self.c(line + "\r\n", at=at)
        if reply is not None:
            self.s(reply + "\r\n")

    def ehlo(self, name="client.test"):
        self.cmd("EHLO " + name, EHLO_REPLY)

    def mail(self, addr="alice@sender.test"):
        self.cmd("MAIL FROM:<%s>" % addr, OK_MAIL)

    def rcpt(self, path, reply=OK_RCPT, at=None):
        self.cmd("RCPT TO:<%s>" % path, reply, at=at)

    def data(self, body=BODY):
        self.cmd("DATA", GO_DATA)
        self.c(body + ".\r\n")
        self.s(QUEUED + "\r\n")

    def quit(self):
        self.cmd("QUIT", BYE)
        self.close()

    def close(self):
        """Postfix closes first after 221."""
        self.send(False, "FA", self.sseq, self.cseq)
        self.sseq += 1
        self.send(True, "FA", self.cseq, self.sseq)
        self.cseq += 1
        self.send(False, "A", self.sseq, self.cseq)

    def start(self):
        self.handshake()
        self.banner()
        self.ehlo()
        return self


# -- file writers -----------------------------------------------------------

def pcap_bytes(cap):
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535,
                       cap.linktype)]
    for us, frame in cap.pkts:
        out.append(struct.pack("<IIII", us // 1000000, us % 1000000,
                               len(frame), len(frame)))
        out.append(frame)
    return b"".join(out)


def pcapng_bytes(cap):
    def block(btype, body):
        body += b"\0" * (-len(body) % 4)
        n = len(body) + 12
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)

    # cap.ifids (optional): the interface id of each packet, in order;
    # one Interface Description Block per id.
    ifids = getattr(cap, "ifids", None) or [0] * len(cap.pkts)
    assert len(ifids) == len(cap.pkts)
    out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))]
    for _ in range(max(ifids) + 1):
        out.append(block(1, struct.pack("<HHI", cap.linktype, 0, 65535)))
    for (us, frame), ifid in zip(cap.pkts, ifids):
        out.append(block(6, struct.pack("<IIIII", ifid, us >> 32,
                                        us & 0xFFFFFFFF, len(frame),
                                        len(frame)) + frame))
    return b"".join(out)


# -- the captures -----------------------------------------------------------

CAPTURES = {}		# name -> function(cap) or function() -> bytes


def capture(name, linktype=LINKTYPE_ETHERNET, wrap=None, fmt="pcap"):
    def deco(fn):
        CAPTURES[name] = (fn, linktype, wrap, fmt)
        return fn
    return deco


def simple(cap, rcpts, cport=40000, client=C4, server=S4, sport=25,
           first_rcpt_at=None, **kw):
    """EHLO, MAIL, the RCPTs (path, reply), DATA, QUIT."""
    k = Conn(cap, client=client, server=server, cport=cport, sport=sport,
             **kw).start()
    k.mail()
    for i, r in enumerate(rcpts):
        path, reply = r if isinstance(r, tuple) else (r, OK_RCPT)
        k.rcpt(path, reply, at=first_rcpt_at if i == 0 else None)
    k.data()
    k.quit()
    return k


@capture("plain_foreign")
def _(cap):
    simple(cap, ["victim@evil.test"], first_rcpt_at=1.0)


@capture("plain_foreign_refused")
def _(cap):
    simple(cap, [("victim@evil.test",
                  "554 5.7.1 <victim@evil.test>: Relay access denied")])


@capture("local_rcpt")
def _(cap):
    simple(cap, ["user@example.test", "user@mail.example.test",
                 "Postmaster", "postmaster@example.test",
                 "deep@a.b.example.test"])


def u8(s):
    """A UTF-8 path as gen.py writes lines (latin-1 code points = bytes)."""
    return s.encode("utf-8").decode("latin-1")


@capture("list_file_deep")
def _(cap):
    # Replayed with a generated 20,000-domain local-domains-file
    # (tests/crafted/run: d0..d19999.hosted.test, then IDN names and
    # .sub.hosted.test at its end).
    simple(cap, ["u1@d19876.hosted.test", "u2@notlisted.hosted.test",
                 "u3@xn--exmple-idn-r5a.test", u8("u4@b\u00fccher.test"),
                 u8("u5@EX\u00c4MPLE-IDN.test"), "u6@ex\xffmple-idn.test",
                 u8("u7@\u2603.sub.hosted.test"), "u8@a.sub.hosted.test",
                 u8("u9@d19876.hosted.test\uff0fevil.test")])


@capture("suffix_not_local")
def _(cap):
    # example.test covers itself, .example.test its subdomains: neither
    # covers a name that merely ends in "example.test".
    simple(cap, ["sn1@badexample.test", "sn2@example.test.evil.test"])


@capture("other_port")
def _(cap):
    # Port 2525 is not in the configured ports: not inspected.
    simple(cap, ["op@evil.test"], sport=2525)


@capture("trick_source_route")
def _(cap):
    simple(cap, ["@mx.example.test:sr1@evil.test",
                 "@mx1.example.test,@mx2.example.test:sr2@evil.test",
                 "@evil.test:sr3@example.test"])


@capture("trick_percent")
def _(cap):
    simple(cap, ["pc1%evil.test@example.test",
                 "pc2%mail.example.test@example.test",
                 "pc3%evil.test@relay.test"])


@capture("trick_bang")
def _(cap):
    simple(cap, ["evil.test!bg1@example.test",
                 "mail.example.test!bg2@example.test",
                 "evil.test!bg3"])


@capture("trick_quoted")
def _(cap):
    simple(cap, ['"qt1@evil.test"@example.test',
                 '"qt2@mail.example.test"@example.test',
                 '"qt 3"@example.test'])


@capture("trick_nested")
def _(cap):
    simple(cap, ['"ns1%evil.test@example.test"@example.test',
                 "ns2%evil.test%example.test@example.test",
                 '"ns5%mail.example.test@example.test"@example.test'])


@capture("trick_nested_route")
def _(cap):
    simple(cap, ["@mx.example.test:ns3%evil.test@example.test",
                 '"evil.test!ns4"@example.test',
                 '@mx.example.test:"ns6@mail.example.test"@example.test'])


@capture("address_literal")
def _(cap):
    simple(cap, ["lit1@[198.51.100.25]", "lit2@[203.0.113.99]",
                 '"lit4@evil.test"@[198.51.100.25]'])


@capture("case_and_dot")
def _(cap):
    simple(cap, ["cd1@EXAMPLE.TEST", "cd2@Mail.Example.Test.",
                 "cd3@EVIL.TEST.", "cd4@example.test.."])


@capture("esmtp_params")
def _(cap):
    k = Conn(cap).start()
    k.mail()
    k.cmd("RCPT TO:<ep1@evil.test> NOTIFY=SUCCESS,FAILURE "
          "ORCPT=rfc822;ep1@example.test", OK_RCPT)
    k.cmd("RCPT TO:<ep2@example.test> NOTIFY=NEVER "
          "ORCPT=rfc822;ep2@evil.test", OK_RCPT)
    k.cmd("RCPT TO:ep3@evil.test NOTIFY=NEVER", OK_RCPT)
    k.cmd("RCPT TO:ep4@example.test ORCPT=rfc822;ep4@evil.test", OK_RCPT)
    k.data()
    k.quit()


@capture("no_brackets")
def _(cap):
    k = Conn(cap).start()
    k.mail()
    k.cmd("RCPT TO:nb1@evil.test", OK_RCPT)
    k.cmd("RCPT TO: nb2@example.test", OK_RCPT)
    k.cmd("RCPT TO: <nb3@evil.test>", OK_RCPT)
    k.data()
    k.quit()


@capture("lowercase_verbs")
def _(cap):
    k = Conn(cap).handshake()
    k.banner()
    k.cmd("ehlo client.test", EHLO_REPLY)
    k.cmd("mail from:<alice@sender.test>", OK_MAIL)
    k.cmd("rcpt to:<lc1@evil.test>", OK_RCPT)
    k.cmd("Rcpt To:<lc2@example.test>", OK_RCPT)
    k.cmd("data", GO_DATA)
    k.c(BODY + ".\r\n")
    k.s(QUEUED + "\r\n")
    k.cmd("quit", BYE)
    k.close()


@capture("domainless")
def _(cap):
    simple(cap, ["user", "Postmaster", "POSTMASTER", ""])


@capture("malformed_path")
def _(cap):
    k = Conn(cap).start()
    k.mail()
    k.cmd("RCPT TO:<mf1@evil.test",
          "501 5.1.3 Bad recipient address syntax")
    k.cmd("QUIT", BYE)
    k.close()


@capture("relay_net_v4")
def _(cap):
    simple(cap, ["rn4@evil.test"], client=T4)


@capture("relay_net_v6")
def _(cap):
    simple(cap, ["rn6@evil.test"], client=T6, server=S6)


@capture("auth_plain")
def _(cap):
    k = Conn(cap).start()
    # \0alice\0secret
    k.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==",
          "235 2.7.0 Authentication successful")
    k.mail()
    k.rcpt("ap@evil.test")
    k.data()
    k.quit()


@capture("auth_failed")
def _(cap):
    k = Conn(cap).start()
    k.cmd("AUTH PLAIN AGFsaWNlAHdyb25n",
          "535 5.7.8 Error: authentication failed: authentication failure")
    k.mail()
    k.rcpt("af@evil.test")
    k.data()
    k.quit()


@capture("auth_login")
def _(cap):
    k = Conn(cap).start()
    k.cmd("AUTH LOGIN", "334 VXNlcm5hbWU6")
    k.cmd("YWxpY2U=", "334 UGFzc3dvcmQ6")
    k.cmd("c2VjcmV0", "235 2.7.0 Authentication successful")
    k.mail()
    k.rcpt("al@evil.test")
    k.data()
    k.quit()


@capture("auth_data_not_command")
def _(cap):
    # Lines inside an AUTH exchange are answers to 334, not commands.
    k = Conn(cap).start()
    k.cmd("AUTH LOGIN", "334 VXNlcm5hbWU6")
    k.cmd("RCPT TO:<ad1@evil.test>", "535 5.7.8 Error: authentication "
          "failed: Invalid base64 data in continued response")
    k.mail()
    k.rcpt("ad2@evil.test")
    k.cmd("QUIT", BYE)
    k.close()


@capture("pipelining")
def _(cap):
    k = Conn(cap).start()
    k.c("MAIL FROM:<alice@sender.test>\r\nRCPT TO:<pl1@evil.test>\r\n"
        "RCPT TO:<pl2@example.test>\r\nRCPT TO:<pl3@evil.test>\r\nDATA\r\n")
    k.s("%s\r\n%s\r\n%s\r\n%s\r\n%s\r\n" % (OK_MAIL, OK_RCPT, OK_RCPT,
                                          OK_RCPT, GO_DATA))
    k.c(BODY + ".\r\n")
    k.s(QUEUED + "\r\n")
    k.quit()


BODY_WITH_COMMANDS = (
    "From: alice@sender.test\r\nSubject: commands in a body\r\n\r\n"
    "RCPT TO:<body1@evil.test>\r\nMAIL FROM:<x@sender.test>\r\n"
    "rcpt to:<body2@evil.test>\r\n"
    "..RCPT TO:<body3@evil.test>\r\n"
    "RCPT TO:<body4@evil.test>\r\n")


@capture("data_body_rcpt")
def _(cap):
    k = Conn(cap).start()
    k.mail()
    k.rcpt("db0@example.test")
    k.data(BODY_WITH_COMMANDS)
    k.mail()
    k.rcpt("after@evil.test")
    k.quit()


@capture("data_refused")
def _(cap):
    k = Conn(cap).start()
    k.mail()
    k.rcpt("dr0@example.test", "550 5.1.1 <dr0@example.test>: Recipient "
           "address rejected: User unknown in local recipient table")
    k.cmd("DATA", "554 5.5.1 Error: no valid recipients")
    k.rcpt("dr1@evil.test")
    k.quit()


@capture("data_refused_pipelined")
def _(cap):
    # DATA refused: what the client pipelined after it are commands.
    k = Conn(cap).start()
    k.c("MAIL FROM:<alice@sender.test>\r\nRCPT TO:<dp0@example.test>\r\n"
        "DATA\r\nRCPT TO:<dp1@evil.test>\r\n")
    k.s("%s\r\n550 5.1.1 <dp0@example.test>: Recipient address rejected: "
        "User unknown in local recipient table\r\n"
        "554 5.5.1 Error: no valid recipients\r\n%s\r\n" % (OK_MAIL, OK_RCPT))
    k.quit()


@capture("data_body_same_segment")
def _(cap):
    k = Conn(cap).start()
    k.mail()
    k.rcpt("ds0@example.test")
    k.c("DATA\r\nSubject: one segment\r\n\r\nRCPT TO:<ds1@evil.test>\r\n"
        ".\r\n")
    k.s(GO_DATA + "\r\n")
    k.s(QUEUED + "\r\n")
    k.c("MAIL FROM:<alice@sender.test>\r\nRCPT TO:<ds2@evil.test>\r\n"
        "DATA\r\nRCPT TO:<ds3@evil.test>\r\n.\r\n")
    k.s("%s\r\n%s\r\n%s\r\n" % (OK_MAIL, OK_RCPT, GO_DATA))
    k.s(QUEUED + "\r\n")
    k.quit()


@capture("data_dot_stuffing")
def _(cap):
    # Dot-stuffed and dotted lines that do not end the body.
    k = Conn(cap).start()
    k.mail()
    k.rcpt("dd0@example.test")
    k.data("Subject: dots\r\n\r\n..\r\nRCPT TO:<dd1@evil.test>\r\n"
           ".x\r\nRCPT TO:<dd2@evil.test>\r\nx.\r\n"
           "RCPT TO:<dd3@evil.test>\r\n")
    k.quit()


@capture("bdat_rcpt")
def _(cap):
    k = Conn(cap).start()
    k.mail()
    k.rcpt("bd0@example.test")
    chunk1 = ("Subject: chunks\r\n\r\nRCPT TO:<bd1@evil.test>\r\n"
              "BDAT 5 LAST\r\nRCPT TO:<bd1b@evil")
    k.c("BDAT %d\r\n%s" % (len(chunk1), chunk1))
    k.s("250 2.0.0 Ok: %d bytes\r\n" % len(chunk1))
    chunk2 = ".test>\r\nRCPT TO:<bd2@evil.test>\r\nend"
    k.c("BDAT %d LAST\r\n" % len(chunk2))
    k.c(chunk2)
    k.s(QUEUED + "\r\n")
    k.mail()
    k.rcpt("bd3@evil.test")
    k.quit()


@capture("bdat_zero_last")
def _(cap):
    k = Conn(cap).start()
    k.mail()
    k.rcpt("bz0@example.test")
    chunk = "Subject: z\r\n\r\nRCPT TO:<bz1@evil.test>\r\n"
    k.c("BDAT %d\r\n%s" % (len(chunk), chunk))
    k.s("250 2.0.0 Ok: %d bytes\r\n" % len(chunk))
    k.cmd("BDAT 0 LAST", QUEUED)
    k.mail()
    k.rcpt("bz2@evil.test")
    k.quit()


def tls_noise(seed, n):
    """Bytes that look like TLS records, with an RCPT line hidden inside:
    opaque after STARTTLS, so never an event."""
    r = random.Random(seed)
    junk = bytes(r.randrange(256) for _ in range(n))
    return b"\x16\x03\x01" + junk[:n // 2] + \
        b"\r\nMAIL FROM:<x@sender.test>\r\nRCPT TO:<tls@evil.test>\r\n" + \
        junk[n // 2:]


@capture("starttls_accepted")
def _(cap):
    k = Conn(cap).start()
    k.cmd("STARTTLS", "220 2.0.0 Ready to start TLS")
    k.c(tls_noise(1, 200))
    k.s(tls_noise(2, 300))
    k.c(tls_noise(3, 100))
    k.s(tls_noise(4, 50))
    k.close()


@capture("starttls_injection")
def _(cap):
    k = Conn(cap).start()
    k.c("STARTTLS\r\nMAIL FROM:<inj@sender.test>\r\n"
        "RCPT TO:<inj@evil.test>\r\n")
    k.s("220 2.0.0 Ready to start TLS\r\n")
    k.c(tls_noise(5, 200))
    k.s(tls_noise(6, 300))
    k.close()


@capture("starttls_refused")
def _(cap):
    k = Conn(cap).start()
    k.cmd("STARTTLS", "454 4.7.0 TLS not available due to local problem")
    k.mail()
    k.rcpt("tr@evil.test")
    k.data()
    k.quit()


SMUGGLE = {
    "lf_lf": "\n.\n",
    "lf_crlf": "\n.\r\n",
    "crlf_lf": "\r\n.\n",
    "cr_cr": "\r.\r",
    "crlf_cr": "\r\n.\r",
    "lf_cr": "\n.\r",
    "cr_lf": "\r.\n",
    "cr_crlf": "\r.\r\n",
}


def smuggle(cap, seq):
    k = Conn(cap).start()
    k.mail()
    k.rcpt("sm0@example.test")
    k.cmd("DATA", GO_DATA)
    k.c("Subject: smuggle\r\n\r\nhello" + seq +
        "MAIL FROM:<smug@sender.test>\r\nRCPT TO:<smug@evil.test>\r\n"
        ".\r\n")
    k.s(QUEUED + "\r\n")
    k.quit()


for _n, _seq in SMUGGLE.items():
    capture("smuggle_" + _n)(lambda cap, s=_seq: smuggle(cap, s))


# -- forged replies (issue 7) -------------------------------------------------
# The client sends a segment that claims to be the server's next bytes,
# with a success reply, ahead of the real refusal: 235 to a wrong AUTH,
# 220 to a STARTTLS the server refuses.  As pcap (no interfaces) the two
# copies are an ambiguity that must end in a refusal; as pcapng, taken on
# the gateway's two interfaces (inbound packets only: 0 the client's, 1
# the server's), the forged copy comes in on the client's interface and
# is never believed.

FORGE_235 = "235 2.7.0 Authentication successful"
FORGE_535 = "535 5.7.8 Error: authentication failed: authentication failure"


class ForgeConn(Conn):
    """A Conn that records each packet's interface in cap.ifids: the
    client's packets (and its forgeries) on 0, the server's on 1."""

    def send(self, to_server, flags, seq, ack, payload=b"", opts=None):
        self.cap.ifids = getattr(self.cap, "ifids", [])
        self.cap.ifids.append(0 if to_server or self.forging else 1)
        super().send(to_server, flags, seq, ack, payload, opts)

    forging = False

    def forge(self, data):
        """A server segment at the server's next sequence number, sent by
        the client; the real server's bytes will follow at the same
        sequence number."""
        self.forging = True
        self.send(False, "PA", self.sseq, self.cseq, b(data))
        self.forging = False


def forged_auth(k, rcpt, acked=False):
    """A wrong AUTH, the client's forged 235, MAIL and RCPT right behind
    it (before the real reply; acked: acknowledging the forged bytes, as
    the client's TCP does), the real 535, then QUIT."""
    k.c("AUTH PLAIN AGFsaWNlAHdyb25n\r\n")
    k.forge(FORGE_235 + "\r\n")
    data = b"MAIL FROM:<alice@sender.test>\r\nRCPT TO:<%s>\r\n" % b(rcpt)
    ack = k.sseq + (len(FORGE_235) + 2 if acked else 0)
    k.send(True, "PA", k.cseq, ack, data)
    k.cseq += len(data)
    k.s(FORGE_535 + "\r\n")
    k.s(OK_MAIL + "\r\n" + OK_RCPT + "\r\n")
    k.cmd("QUIT", BYE)
    k.close()


def forge_auth(cap, cport):
    forged_auth(ForgeConn(cap, cport=cport).start(), "fa@evil.test")


def forge_tls(cap, cport):
    k = ForgeConn(cap, cport=cport).start()
    k.c("STARTTLS\r\n")
    k.forge("220 2.0.0 Ready to start TLS\r\n")
    k.s("454 4.7.0 TLS not available due to local problem\r\n")
    # After the refusal, in plaintext: the server reads these.
    k.mail()
    k.rcpt("ft@evil.test")
    k.cmd("QUIT", BYE)
    k.close()


def forge_first(cap, cport):
    # A forged server packet between the client's SYN and the real
    # SYN-ACK, on the client's interface: were the server's interface
    # learnt from it, the forged 235 would pass the check.
    k = ForgeConn(cap, cport=cport)
    opts = [("MSS", 1460), ("WScale", 7)]
    k.send(True, "S", k.cseq, 0, opts=opts)
    k.forging = True
    k.send(False, "A", k.sseq + 1, k.cseq + 1)
    k.forging = False
    k.send(False, "SA", k.sseq, k.cseq + 1, opts=opts)
    k.cseq += 1
    k.sseq += 1
    k.send(True, "A", k.cseq, k.sseq)
    k.banner()
    k.ehlo()
    forged_auth(k, "ff@evil.test")


capture("forge_auth_pcap")(lambda cap: forge_auth(cap, 40700))
capture("forge_auth_acked_pcap")(lambda cap: forged_auth(
    ForgeConn(cap, cport=40705).start(), "fk@evil.test", acked=True))
capture("forge_auth_pcapng", fmt="pcapng")(lambda cap: forge_auth(cap, 40701))
capture("forge_tls_pcap")(lambda cap: forge_tls(cap, 40702))
capture("forge_tls_pcapng", fmt="pcapng")(lambda cap: forge_tls(cap, 40703))
capture("forge_first_pcapng", fmt="pcapng")(
    lambda cap: forge_first(cap, 40704))


@capture("block_window")
def _(cap):
    k = Conn(cap, cport=40100).start()
    k.mail()
    k.rcpt("bw1@evil.test", at=10.0)
    k.rcpt("bw2@evil.test", at=11.0)
    k.cmd("QUIT", BYE)
    k.close()
    cap.at(300.0)
    k = Conn(cap, cport=40101, cisn=3000000, sisn=4000000).start()
    k.mail()
    k.rcpt("bw3@evil.test", at=301.0)
    k.cmd("QUIT", BYE)
    k.close()


def spaced(cap, times, prefix, cport=40200):
    for i, t in enumerate(times):
        cap.at(t)
        k = Conn(cap, cport=cport + i, cisn=1000000 + i * 100000,
                 sisn=2000000 + i * 100000).start()
        k.mail()
        k.rcpt("%s%d@evil.test" % (prefix, i + 1), at=t + 1.0)
        k.cmd("QUIT", BYE)
        k.close()


@capture("block_spaced")
def _(cap):
    # 11 minutes apart: never 3 inside a 10-minute window.
    spaced(cap, [0.0, 660.0, 1320.0], "bs")


@capture("enforce_actions")
def _(cap):
    spaced(cap, [0.0, 60.0, 120.0], "ea")


@capture("ipv6_session")
def _(cap):
    simple(cap, ["v6a@evil.test", "v6b@[IPv6:2001:db8:2::25]",
                 "v6c@[IPv6:2001:db8:99::1]"], client=C6, server=S6)


@capture("servers_other_server")
def _(cap):
    # Issue 8: with "servers" set (servers.conf) only the sessions to the
    # protected server are judged; the ones to another server (mail the
    # network sends out) are not, even with a foreign recipient.
    simple(cap, ["sv1@evil.test"], cport=40300)
    simple(cap, ["sv2@evil.test"], cport=40301, server="198.51.100.99")
    simple(cap, ["sv3@evil.test"], cport=40302, client=C6, server=S6)
    simple(cap, ["sv4@evil.test"], cport=40303, client=C6,
           server="2001:db8:2::99")


# -- replay carries out mode enforce (issue 8) --------------------------------
# By default replay does what the daemon would: a reset session is over, a
# blocked client's packets are dropped until the block expires in packet
# time.  These captures are what a passive tap sees: no relayguard in the
# path, so the server answers everything and the client carries on.

def pipelined_attempts(k, prefix, n):
    """MAIL and n foreign RCPTs in one segment, answered in one."""
    k.c("MAIL FROM:<alice@sender.test>\r\n" +
        "".join("RCPT TO:<%s%d@evil.test>\r\n" % (prefix, i + 1)
                for i in range(n)))
    k.s(OK_MAIL + "\r\n" + (OK_RCPT + "\r\n") * n)


def local_mail(cap, at, cport, isn):
    """A whole message to a local recipient (mail that passes)."""
    cap.at(at)
    k = Conn(cap, cport=cport, cisn=isn, sisn=isn + 1000000).start()
    k.mail()
    k.rcpt("bob@example.test")
    k.data()
    k.quit()


@capture("sim_pipelined_reconnect")
def _(cap):
    # Ten relay RCPTs in one segment, then (30 s later) the same client
    # sends a local message on a new connection.
    k = Conn(cap, cport=40300).start()
    pipelined_attempts(k, "pr", 10)
    k.quit()
    local_mail(cap, 30.0, 40301, 3000000)


@capture("sim_after_reset")
def _(cap):
    # The first relay RCPT resets the session; a tap still sees the rest:
    # another relay RCPT, a local one and a message.
    k = Conn(cap, cport=40310).start()
    k.mail()
    k.rcpt("ar1@evil.test")
    k.rcpt("ar2@evil.test")
    k.rcpt("bob@example.test")
    k.data()
    k.quit()


@capture("sim_block_expiry")
def _(cap):
    # Three relay RCPTs in one segment: blocked for 1 h (block-for).  A
    # session 30 minutes later is dropped; one at 1 h 2 min is judged.
    k = Conn(cap, cport=40320).start()
    pipelined_attempts(k, "be", 3)
    k.quit()
    for i, t in enumerate((1800.0, 3720.0)):
        cap.at(t)
        k = Conn(cap, cport=40321 + i, cisn=4000000 + i * 100000,
                 sisn=5000000 + i * 100000).start()
        k.mail()
        k.rcpt("be%d@evil.test" % (4 + i))
        k.cmd("QUIT", BYE)
        k.close()


@capture("report_hostile")
def _(cap):
    # Markup where the report prints client text (replay --report,
    # tests/cli): a HELO with a script, a sender and paths with tags and
    # quotes, a byte that is not UTF-8.  Four relay RCPTs in one segment
    # (blocked with enforce.conf), the same client back at 20 s (dropped),
    # a local message from a second client at 25 s (passes).
    k = Conn(cap, cport=40330)
    k.handshake()
    k.banner()
    k.cmd("EHLO <script>alert('helo')</script>\xff", EHLO_REPLY)
    k.c("MAIL FROM:<\"<b>x</b>\"@sender.test>\r\n" + "".join(
        "RCPT TO:<\"</td><img src=x onerror=alert(%d)>\"@evil%d.test>\r\n"
        % (i, i) for i in range(4)), at=1.0)
    k.s(OK_MAIL + "\r\n" + (OK_RCPT + "\r\n") * 4)
    k.quit()
    local_mail(cap, 20.0, 40331, 3000000)
    cap.at(25.0)
    k = Conn(cap, client=C4B, cport=40332, cisn=6000000,
             sisn=7000000).start()
    k.mail()
    k.rcpt("bob@example.test")
    k.data()
    k.quit()


# -- ambiguity (issue 7) ------------------------------------------------------
# Command lines that some real server executes otherwise than the plain
# grammar reads them.  The replies are those of the server that relays
# each one in the differential lab (tests/mta, tests/differential).

SENDMAIL_EHLO = "\r\n".join([
    "250-mail.example.test Hello client.test [203.0.113.10]",
    "250-ENHANCEDSTATUSCODES", "250-PIPELINING", "250-8BITMIME",
    "250-SIZE", "250-DSN", "250-DELIVERBY", "250 HELP"])


def amb_session(cap, lines, client=C4, ehlo=EHLO_REPLY, cport=40000):
    """EHLO (with the given reply), MAIL, then each (client bytes, reply)."""
    k = Conn(cap, client=client, cport=cport)
    k.handshake()
    k.banner()
    k.cmd("EHLO client.test", ehlo)
    k.mail()
    for data, reply in lines:
        k.c(data)
        if reply is not None:
            k.s(reply + "\r\n")
    k.quit()
    return k


# Postfix and Sendmail split the verb on VT, FF and CR (isspace()): each of
# these is a RCPT to them.
@capture("amb_vt_rcpt")
def _(cap):
    amb_session(cap, [("RCPT\x0bTO:<amb1@evil.test>\r\n", OK_RCPT)])


@capture("amb_ff_rcpt")
def _(cap):
    amb_session(cap, [("RCPT\x0cTO:<amb2@evil.test>\r\n", OK_RCPT)])


@capture("amb_cr_rcpt")
def _(cap):
    amb_session(cap, [("RCPT\rTO:<amb3@evil.test>\r\n", OK_RCPT)])


@capture("amb_leading_vt")
def _(cap):
    amb_session(cap, [("\x0bRCPT TO:<amb4@evil.test>\r\n", OK_RCPT)])


# DATA<VT> is DATA to Postfix: its body holds text that looks like
# commands, which a reader taking the line as unknown would run.
@capture("amb_data_vt")
def _(cap):
    amb_session(cap, [("RCPT TO:<amb5@example.test>\r\n", OK_RCPT),
                      ("DATA\x0b\r\n", GO_DATA),
                      ("Subject: x\r\n\r\nRCPT TO:<amb5@evil.test>\r\n"
                       "BDAT 10 LAST\r\n.\r\n", QUEUED)])


# Exim cuts a command line at 16384 bytes and runs the rest as the next
# command: a NOOP padded to 16385 bytes carries a RCPT.
@capture("amb_long_line")
def _(cap):
    line = "NOOP " + "x" * (16385 - 5) + "RCPT TO:<amb6@evil.test>\r\n"
    amb_session(cap, [(line, "500 5.5.1 Unrecognized command\r\n"
                       "250 Accepted")])


# 3000 bytes: over Postfix's and Sendmail's 2 KiB, under Exim's 16 KiB.
@capture("amb_2k_line")
def _(cap):
    line = "RCPT TO:<amb7@example.test> X-PAD=" + "y" * 3000 + "\r\n"
    amb_session(cap, [(line, OK_RCPT)])


# Sendmail offers no CHUNKING: it answers BDAT with 500 and reads the
# "chunk" as commands.
@capture("amb_bdat_unoffered")
def _(cap):
    amb_session(cap, [("BDAT 29\r\nRCPT TO:<amb8@evil.test>\r\n",
                       "500 5.5.1 Command unrecognized: \"BDAT 29\"\r\n"
                       "250 2.1.5 <amb8@evil.test>... Recipient ok")],
                ehlo=SENDMAIL_EHLO)


@capture("amb_nul")
def _(cap):
    amb_session(cap, [("RCPT TO:<amb9@evil.test>\x00@example.test>\r\n",
                       OK_RCPT)])


# Sendmail with SevenBitInput strips the top bit: 0xD2 is R.
@capture("amb_8bit_verb")
def _(cap):
    amb_session(cap, [("\xd2CPT TO:<amb10@evil.test>\r\n",
                       "500 5.5.1 Command unrecognized")])


# A trusted client may relay anyway: its odd lines are not refused.
@capture("amb_trusted")
def _(cap):
    amb_session(cap, [("RCPT\x0bTO:<amb11@evil.test>\r\n", OK_RCPT)],
                client=T4)


def link_case(cap):
    simple(cap, ["lk@evil.test"])


capture("link_vlan", wrap=vlan)(link_case)
capture("link_qinq", wrap=qinq)(link_case)
capture("link_sll", LINKTYPE_LINUX_SLL, sll)(link_case)
capture("link_sll2", LINKTYPE_LINUX_SLL2, sll2)(link_case)
capture("link_raw", LINKTYPE_RAW, raw)(link_case)
capture("link_null", LINKTYPE_NULL, null_link)(link_case)
capture("link_null_ipv6", LINKTYPE_NULL, null_link)(
    lambda cap: simple(cap, ["lk6@evil.test"], client=C6, server=S6))
capture("pcapng", fmt="pcapng")(link_case)


@capture("out_of_order")
def _(cap):
    k = Conn(cap).start()
    k.mail()
    line = b"RCPT TO:<ooo@evil.test>\r\n"
    p1, p2, p3 = line[:7], line[7:15], line[15:]
    k.c_at(len(p1) + len(p2), p3)
    k.c_at(0, p1)
    k.c_at(len(p1), p2)
    k.cseq += len(line)
    k.s(OK_RCPT + "\r\n")
    k.data()
    k.quit()


@capture("retransmission")
def _(cap):
    k = Conn(cap).start()
    k.mail()
    line = b"RCPT TO:<rtx@evil.test>\r\n"
    k.c_at(0, line)
    k.c_at(0, line)
    k.cseq += len(line)
    k.s(OK_RCPT + "\r\n")
    k.c_at(-len(line), line)		# once more after the reply
    k.data()
    k.quit()


@capture("overlap_mismatch")
def _(cap):
    k = Conn(cap).start()
    k.mail()
    # In order: the first copy is delivered; a resent copy with other
    # bytes (same length) must not be inspected in its place.
    first = b"RCPT TO:<ab@example.test>\r\n"
    other = b"RCPT TO:<ab@evil-co.test>\r\n"
    assert len(first) == len(other)
    k.c_at(0, first)
    k.c_at(0, other)
    k.cseq += len(first)
    k.s(OK_RCPT + "\r\n")
    # Out of order: the early copy of the tail says local, a second early
    # copy says foreign, then the head fills the hole.
    line = b"RCPT TO:<cd@example.test>\r\n"
    evil = b"RCPT TO:<cd@evil-co.test>\r\n"
    k.c_at(9, line[9:])
    k.c_at(9, evil[9:])
    k.c_at(0, line[:9])
    k.cseq += len(line)
    k.s(OK_RCPT + "\r\n")
    k.data()
    k.quit()


@capture("one_byte_segments")
def _(cap):
    """plain_foreign with every payload byte in its own segment."""
    k = Conn(cap).handshake()

    def c1(s):
        for ch in b(s):
            k.c(bytes([ch]))

    def s1(s):
        for ch in b(s):
            k.s(bytes([ch]))
    s1(BANNER + "\r\n")
    c1("EHLO client.test\r\n")
    s1(EHLO_REPLY + "\r\n")
    c1("MAIL FROM:<alice@sender.test>\r\n")
    s1(OK_MAIL + "\r\n")
    c1("RCPT TO:<victim@evil.test>\r\n")
    s1(OK_RCPT + "\r\n")
    c1("DATA\r\n")
    s1(GO_DATA + "\r\n")
    c1(BODY + ".\r\n")
    s1(QUEUED + "\r\n")
    c1("QUIT\r\n")
    s1(BYE + "\r\n")
    k.close()


@capture("seq_wrap")
def _(cap):
    # Both sequence spaces cross 2^32 during the dialogue.
    simple(cap, ["wrap@evil.test"], cisn=0xFFFFFFF0, sisn=0xFFFFFF80)


@capture("midstream")
def _(cap):
    # No handshake: the capture starts with the tail of a "RSET" line.
    k = Conn(cap, cisn=5000000, sisn=6000000)
    k.c("T\r\n")
    k.s("250 2.0.0 Ok\r\n")
    k.mail("mid@sender.test")
    k.rcpt("mid@evil.test")
    k.quit()


@capture("gap_in_body")
def _(cap):
    k = Conn(cap).start()
    k.mail()
    k.rcpt("gp0@example.test")
    k.cmd("DATA", GO_DATA)
    k.c("Subject: lossy\r\n\r\nline one\r\n")
    lost = b"line two, lost in the capture\r\n"
    k.cseq += len(lost)			# never captured
    k.c("RCPT TO:<inbody@evil.test>\r\nline four\r\n")
    k.c(".\r\n")
    k.s(QUEUED + "\r\n")		# acknowledges everything
    k.mail()
    k.rcpt("gp@evil.test")
    k.quit()


@capture("truncated_file")
def _(cap):
    simple(cap, ["cut@evil.test"])


def frag_v4(src, dst, payload, mf, off):
    return bytes(IP(src=src, dst=dst, ttl=64, id=0x7777, flags=mf,
                    frag=off, proto=6) / Raw(load=payload))


@capture("fragments_malformed")
def _(cap):
    k = Conn(cap).start()
    # An IPv4 fragment of a TCP segment to port 25 (not reassembled).
    seg = bytes(TCP(sport=41000, dport=25, seq=77, ack=1, flags="PA") /
                Raw(load=b"RCPT TO:<frag@evil.test>\r\n"))
    cap.add_ip(frag_v4(C4B, S4, seg[:24], "MF", 0), True)
    cap.add_ip(frag_v4(C4B, S4, seg[24:], 0, 3), True)
    # An IPv6 fragment.
    cap.add_ip(bytes(IPv6(src=C6, dst=S6) /
                     IPv6ExtHdrFragment(nh=6, m=1, id=9) / Raw(load=seg)),
               True)
    good = bytearray(k._pkt(True, "PA", k.cseq, k.sseq,
                            b"NOOP\r\n"))
    # IPv4 header length 60 on a frame too short for it.
    bad = bytearray(good)
    bad[0] = 0x4F
    cap.add_ip(bytes(bad[:40]), True)
    # IP total length larger than the frame.
    bad = bytearray(good)
    bad[2:4] = struct.pack("!H", 1400)
    cap.add_ip(bytes(bad), True)
    # IP total length smaller than the IP header.
    bad = bytearray(good)
    bad[2:4] = struct.pack("!H", 12)
    cap.add_ip(bytes(bad), True)
    # TCP data offset 60 bytes, beyond the segment.
    bad = bytearray(good)
    bad[32] = 0xF0
    cap.add_ip(bytes(bad), True)
    # TCP data offset below 20 bytes.
    bad = bytearray(good)
    bad[32] = 0x20
    cap.add_ip(bytes(bad), True)
    # A bare 10-byte frame, an ARP frame, an IP version 7 packet,
    # UDP to port 25.
    cap.add_frame(MAC_S + MAC_C[:4])
    cap.add_frame(b"\xff" * 6 + MAC_C + b"\x08\x06" + b"\x00\x01\x08\x00"
                  b"\x06\x04\x00\x01" + MAC_C + bytes([203, 0, 113, 10]) +
                  b"\0" * 6 + bytes([198, 51, 100, 25]))
    bad = bytearray(good)
    bad[0] = 0x75
    cap.add_ip(bytes(bad), True)
    cap.add_ip(bytes(IP(src=C4, dst=S4) / UDP(sport=4000, dport=25) /
                     Raw(load=b"RCPT TO:<udp@evil.test>\r\n")), True)
    # The dialogue goes on.
    k.mail()
    k.rcpt("fm@evil.test")
    k.data()
    k.quit()


@capture("junk")
def _(cap):
    r = random.Random(25)
    k = Conn(cap).handshake()
    k.banner()
    for n in (300, 700, 64):
        blob = bytes(r.randrange(256) for _ in range(n))
        k.c(blob)
        k.s("500 5.5.2 Error: command not recognized\r\n")
    k.close()


def multi_a(cap):
    k = Conn(cap, cport=40300).start()
    k.mail()
    k.rcpt("ma1@evil.test", at=10.0)
    k.rcpt("ma2@evil.test")
    k.cmd("QUIT", BYE)
    k.close()


def multi_b(cap):
    cap.at(120.0)
    k = Conn(cap, cport=40301, cisn=7000000, sisn=8000000).start()
    k.mail()
    k.rcpt("mb1@evil.test", at=121.0)
    k.cmd("QUIT", BYE)
    k.close()


capture("multi_a")(multi_a)
capture("multi_b")(multi_b)


# -- TCP lifecycle (issue 7) -------------------------------------------------

@capture("tcp_dup_syn_no_options")
def _(cap):
    # Window scaling on both SYNs, then the client's SYN again without
    # options: the negotiated scale stays (it once became -1, a negative
    # shift: undefined, and the sanitizer build aborted).
    k = Conn(cap, cport=40700).handshake()
    k.send(True, "S", k.cseq - 1, 0)
    k.c_ack()
    k.banner()
    k.ehlo()
    k.mail()
    k.rcpt("dup@evil.test")
    k.quit()


def tcp_old_session(cap, cport):
    """An authenticated session inside DATA on cport."""
    k = Conn(cap, cport=cport).start()
    k.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==",
          "235 2.7.0 Authentication successful")
    k.mail()
    k.rcpt("old@evil.test")
    k.cmd("DATA", GO_DATA)
    k.c("Subject: half a message\r\n\r\n")
    return k


def tcp_new_session(cap, cport, cisn, sisn, rcpt):
    k = Conn(cap, cport=cport, cisn=cisn, sisn=sisn).start()
    k.mail()
    k.rcpt(rcpt)
    k.quit()


@capture("tcp_reuse_after_close")
def _(cap):
    # The old session ends (FIN both ways) authenticated and inside DATA;
    # a new connection on the same 4-tuple, its ISN right next to the old
    # sequence numbers, is a fresh session: not authenticated, commands.
    # (Its data would start where the old data ended: the FIN took one.)
    k = tcp_old_session(cap, 40710)
    k.close()
    tcp_new_session(cap, 40710, k.cseq - 2, k.sseq + 1000,
                    "fresh@evil.test")


@capture("tcp_reuse_after_rst")
def _(cap):
    k = tcp_old_session(cap, 40711)
    k.send(True, "R", k.cseq, 0)
    tcp_new_session(cap, 40711, k.cseq - 1, k.sseq + 1000,
                    "afterrst@evil.test")


@capture("tcp_reuse_live_syn")
def _(cap):
    # A SYN with a new ISN on the live session: the server answers with a
    # challenge ACK and keeps the session (still authenticated: no event).
    # Later the server has lost it and answers the SYN with a SYN-ACK: a
    # fresh session from there.
    k = Conn(cap, cport=40712).start()
    k.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==",
          "235 2.7.0 Authentication successful")
    k.send(True, "S", 9000000, 0)
    k.s_ack()
    k.mail()
    k.rcpt("kept@evil.test")
    k.send(True, "S", 9000000, 0)
    n = Conn(cap, cport=40712, cisn=9000000, sisn=9500000)
    n.send(False, "SA", n.sseq, n.cseq + 1,
           opts=[("MSS", 1460), ("WScale", 7)])
    n.cseq += 1
    n.sseq += 1
    n.c_ack()
    n.banner()
    n.ehlo()
    n.mail()
    n.rcpt("lost@evil.test")
    n.quit()


@capture("tcp_client_port25")
def _(cap):
    # The client's source port is 25 too: the SYN says which end is the
    # server.  Two foreign RCPTs, a message, a third after it: three
    # attempts in a session that completed its handshake, so a block.
    k = Conn(cap, cport=25).start()
    k.mail()
    k.rcpt("p25a@evil.test")
    k.rcpt("p25b@evil.test")
    k.data()
    k.mail()
    k.rcpt("p25c@evil.test")
    k.quit()


@capture("tcp_midstream_ambiguous")
def _(cap):
    # No handshake, port 25 on both ends: which end is the server cannot
    # be told.  Replay takes the destination of the first segment as the
    # server and says so (inline the session is reset).
    k = Conn(cap, cport=25, cisn=5000000, sisn=6000000)
    k.mail("amb@sender.test")
    k.rcpt("amb@evil.test")
    k.quit()


@capture("tcp_idle_11min")
def _(cap):
    # 11 idle minutes after MAIL (Sendmail waits an hour for the next
    # command and relays after them): the session is still the same flow,
    # its attempts are verified and the third blocks.
    k = Conn(cap, cport=40720).start()
    k.mail()
    cap.at(630.0)				# another client meanwhile
    Conn(cap, client=C4B, cport=40721).send(True, "S", 1000000, 0)
    k.rcpt("idle1@evil.test", at=661.0)
    k.rcpt("idle2@evil.test")
    k.rcpt("idle3@evil.test")
    k.quit()


@capture("tcp_ipv6_exthdrs")
def _(cap):
    # RCPT, DATA, a body and the final dot in one IPv6 segment behind 17
    # Destination Options headers (Linux delivers it; the decoder once
    # stopped at 16 and passed it unread).
    from scapy.all import IPv6ExtHdrDestOpt
    k = Conn(cap, client=C6, server=S6, cport=40730).start()
    k.mail()
    data = b("RCPT TO:<exthdr@evil.test>\r\nDATA\r\n" + BODY + ".\r\n")
    ip = IPv6(src=C6, dst=S6, hlim=64)
    for _i in range(17):
        ip = ip / IPv6ExtHdrDestOpt()
    cap.add_ip(bytes(ip / TCP(sport=40730, dport=25, seq=k.cseq,
                              ack=k.sseq, flags="PA", window=64240) /
                     Raw(load=data)), True)
    k.cseq += len(data)
    k.s("%s\r\n%s\r\n%s\r\n" % (OK_RCPT, GO_DATA, QUEUED))
    k.quit()


@capture("tcp_malformed_reported")
def _(cap):
    # A segment to port 25 whose TCP data offset runs past its end: no
    # flow can take it; replay names it (inline enforce drops it).
    k = Conn(cap, cport=40731).start()
    bad = bytearray(k._pkt(True, "PA", k.cseq, k.sseq,
                           b"RCPT TO:<bad@evil.test>\r\n"))
    bad[32] = 0xF0
    cap.add_ip(bytes(bad), True)
    k.mail()
    k.quit()


# -- generation -------------------------------------------------------------

def build(name):
    """The bytes of one capture file, and its file name."""
    fn, linktype, wrap, fmt = CAPTURES[name]
    cap = Capture(linktype, wrap)
    fn(cap)
    if fmt == "pcapng":
        return name + ".pcapng", pcapng_bytes(cap)
    data = pcap_bytes(cap)
    if name == "truncated_file":
        # Cut the last record (the server's final ACK) in its middle.
        last = len(cap.pkts[-1][1])
        data = data[:len(data) - last // 2]
    return name + ".pcap", data


EXTRA = {
    # Not a capture at all: replay must refuse it with an error.
    "not-a-capture.txt": b"This is a text file, not a pcap.\n" * 4,
}


def generate(outdir):
    os.makedirs(outdir, exist_ok=True)
    names = []
    for name in sorted(CAPTURES):
        fname, data = build(name)
        with open(os.path.join(outdir, fname), "wb") as f:
            f.write(data)
        names.append(fname)
    for fname, data in EXTRA.items():
        with open(os.path.join(outdir, fname), "wb") as f:
            f.write(data)
        names.append(fname)
    return names


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "pcap")
    if len(argv) >= 2 and argv[0] == "--out":
        out = argv[1]
    elif argv and argv[0] == "--check":
        with tempfile.TemporaryDirectory() as tmp:
            names = generate(tmp)
            bad = [n for n in names
                   if not os.path.exists(os.path.join(out, n)) or
                   not filecmp.cmp(os.path.join(tmp, n),
                                   os.path.join(out, n), shallow=False)]
            extra = sorted(set(os.listdir(out)) - set(names))
        for n in bad:
            print("differs: pcap/%s" % n)
        for n in extra:
            print("not generated: pcap/%s" % n)
        print("gen --check: %d files, %d differ, %d extra" %
              (len(names), len(bad), len(extra)))
        return 1 if bad or extra else 0
    elif argv:
        print("usage: gen.py [--check | --out DIR]", file=sys.stderr)
        return 2
    names = generate(out)
    print("wrote %d files into %s" % (len(names), out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
