#!/usr/bin/python3
"""mkseeds_engine.py — seed inputs for fuzz_engine from real captures.

Usage: /usr/bin/python3 tests/fuzz/mkseeds_engine.py [OUTDIR]
(default tests/fuzz/corpus/engine).  Needs scapy.

For each capture below, the first TCP connection carrying data is turned
into fuzz_engine's input format (see tests/fuzz/fuzz_engine.c): a flags
byte, then steps of header byte (bit 7 = server side, low 7 bits = length
- 1, at most 126 bytes) and data.  Bytes already seen on a side
(retransmissions) are left out; consecutive bytes of one side are one
step, cut into 126-byte steps.  A seed stops before it would pass
MAX_SEED bytes.  A few hand-written dialogues exercise holes, resets,
pickups without handshake, IPv6 and sequence wrap-around.
"""
import os
import sys

from scapy.all import IP, IPv6, TCP, rdpcap  # noqa: E402

MAX_SEED = 4000
STEP_MAX = 126

F_MIDSTREAM, F_FIN, F_TRUSTED, F_WRAP, F_IPV6 = 0x01, 0x02, 0x04, 0x08, 0x80
SHUF8 = 3 << 4          # shuffled pieces of 1 to 8 bytes

PUB = "tests/corpus/pcap/"
CRAFT = "tests/crafted/pcap/"
CAPTURES = [
    (PUB + "arkime-smtp-data-250.pcap", F_FIN | SHUF8),
    (PUB + "arkime-smtp-rcpt-553.pcap", F_FIN | (2 << 4)),
    (PUB + "arkime-smtp-starttls.pcap", F_FIN | SHUF8),
    (PUB + "arkime-wireshark-bdat.pcap", F_FIN | (5 << 4)),
    (PUB + "pcapplusplus-Smtp.pcap", F_FIN | SHUF8),
    (PUB + "suricata-verify-smtp-bdat-multichunk-inspection.pcap",
     F_FIN | (4 << 4)),
    (PUB + "suricata-verify-smtp-pipelining.pcap", F_FIN | SHUF8),
    (PUB + "suricata-verify-smtp-pipelined-post-data-mail-from.pcap",
     F_FIN | (1 << 4)),
    (PUB + "suricata-verify-smtp-ehlo-reset.pcap", F_FIN | SHUF8),
    (PUB + "suricata-verify-smtp-multi-mail.pcap", F_WRAP | SHUF8),
    (PUB + "suricata-verify-smtp-no-helo-rset-helo-mail.pcap", SHUF8),
    (PUB + "suricata-verify-smtp-out-of-order.pcap", F_FIN | (6 << 4)),
    (PUB + "suricata-verify-smtp-long-command.pcap", F_FIN | (7 << 4)),
    (CRAFT + "plain_foreign.pcap", F_FIN | SHUF8),
    (CRAFT + "address_literal.pcap", F_FIN | SHUF8),
    (CRAFT + "auth_plain.pcap", F_FIN | SHUF8),
    (CRAFT + "bdat_rcpt.pcap", F_FIN | SHUF8),
    (CRAFT + "data_body_rcpt.pcap", F_FIN | (1 << 4)),
    (CRAFT + "data_dot_stuffing.pcap", F_FIN | SHUF8),
    (CRAFT + "data_refused_pipelined.pcap", F_FIN | SHUF8),
    (CRAFT + "block_window.pcap", SHUF8),
    (CRAFT + "smuggle_cr_cr.pcap", F_FIN | (0 << 4)),
    (CRAFT + "pipelining.pcap", F_FIN | SHUF8),
    (CRAFT + "relay_net_v4.pcap", F_TRUSTED | F_FIN | SHUF8),
    (CRAFT + "ipv6_session.pcap", F_IPV6 | F_FIN | SHUF8),
    (CRAFT + "midstream.pcap", F_MIDSTREAM | SHUF8),
    (CRAFT + "malformed_path.pcap", F_FIN | SHUF8),
    (CRAFT + "esmtp_params.pcap", F_FIN | SHUF8),
]


def steps_of(path):
    """(side, bytes) steps of the first TCP connection with data."""
    pkts = rdpcap(path)
    conn = None
    high = {}           # side -> highest seq + len seen
    steps = []
    for p in pkts:
        if TCP not in p or (IP not in p and IPv6 not in p):
            continue
        ip = p[IP] if IP in p else p[IPv6]
        t = p[TCP]
        key = (ip.src, t.sport, ip.dst, t.dport)
        if conn is None:
            if not bytes(t.payload):
                continue
            # the side with the lower port (25, 587) is the server
            conn = key if t.dport < t.sport else (
                key[2], key[3], key[0], key[1])
        if key == conn:
            side = 0
        elif key == (conn[2], conn[3], conn[0], conn[1]):
            side = 1
        else:
            continue
        data = bytes(t.payload)
        if not data:
            continue
        end = (t.seq + len(data)) & 0xffffffff
        if side in high:
            fresh = (end - high[side]) & 0xffffffff
            if fresh == 0 or fresh > 0x7fffffff:
                continue            # wholly seen before
            if fresh < len(data):
                data = data[len(data) - fresh:]
        high[side] = end
        if steps and steps[-1][0] == side:
            steps[-1][1].extend(data)
        else:
            steps.append((side, bytearray(data)))
    return steps


def encode(flags, steps):
    out = bytearray([flags])
    for side, data in steps:
        for i in range(0, len(data), STEP_MAX):
            piece = data[i:i + STEP_MAX]
            if len(out) + 1 + len(piece) > MAX_SEED:
                return bytes(out)
            out.append((0x80 if side else 0) | (len(piece) - 1))
            out.extend(piece)
    return bytes(out)


def S(text):
    return (1, text.encode())


def C(text):
    return (0, text.encode())


HAND = {
    # the unit test's differential dialogue
    "hand-differential": (F_FIN | SHUF8, [
        S("220 hi\r\n"),
        C("EHLO a.test\r\nMAIL FROM:<s@a.test>\r\n"),
        S("250-hi\r\n250 PIPELINING\r\n250 ok\r\n"),
        C("RCPT TO:<u@example.test>\r\nRCPT TO:<u%evil.test@example.test>"
          "\r\nRCPT TO:<@example.test:u@evil2.test>\r\nDATA\r\n"),
        S("250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
        C("Subject: RCPT TO:<x@evil3.test>\r\n\r\nRCPT TO:<y@evil3.test>"
          "\r\n..RCPT\r\n.\r\nMAIL FROM:<>\r\n"
          "RCPT TO:<\"z@evil4.test\"@example.test>\r\nQUIT\r\n"),
        S("250 queued\r\n250 ok\r\n250 ok\r\n221 bye\r\n"),
    ]),
    "hand-bare-lf-dot": (F_FIN | SHUF8, [
        S("220 mx.example.test ESMTP\r\n"), C("EHLO a.test\r\n"),
        S("250-mx\r\n250 CHUNKING\r\n"), C("MAIL FROM:<a@a.test>\r\n"),
        S("250 ok\r\n"), C("RCPT TO:<b@example.test>\r\n"), S("250 ok\r\n"),
        C("DATA\r\n"), S("354 go\r\n"),
        C("hello\n.\nMAIL FROM:<x@x.test>\r\nRCPT TO:<v@evil.test>\r\n"
          "\r\n.\r\n"),
        S("250 queued\r\n"), C("QUIT\r\n"), S("221 bye\r\n"),
    ]),
    "hand-starttls": (F_FIN | SHUF8, [
        S("220 mx.example.test ESMTP\r\n"), C("EHLO a.test\r\n"),
        S("250-mx.example.test\r\n250-STARTTLS\r\n250 PIPELINING\r\n"),
        C("STARTTLS\r\n"), S("220 2.0.0 Ready to start TLS\r\n"),
        C("\x16\x03\x01\x00\x05hello"), S("\x16\x03\x03\x00\x02hi"),
    ]),
    "hand-three-attempts": (SHUF8, [
        S("220 mx.example.test ESMTP\r\n"), C("HELO a.test\r\n"),
        S("250 ok\r\n"), C("MAIL FROM:<>\r\n"), S("250 ok\r\n"),
        C("RCPT TO:<a@evil.test>\r\n"), S("554 no\r\n"),
        C("RCPT TO:<b@[198.51.100.7]>\r\n"), S("554 no\r\n"),
        C("RCPT TO:<c!d@evil.test>\r\n"), S("554 no\r\n"),
        C("RCPT TO:<postmaster>\r\n"), S("250 ok\r\n"),
    ]),
}


def hand_seeds():
    seeds = {}
    for name, (flags, steps) in HAND.items():
        seeds[name] = encode(flags, steps)
    # a hole in the client's body, then the rest
    base = encode(F_FIN | SHUF8, [
        S("220 mx.example.test ESMTP\r\n"), C("EHLO a.test\r\n"),
        S("250 ok\r\n"), C("MAIL FROM:<a@a.test>\r\nRCPT TO:<b@example.test>"
                           "\r\nDATA\r\n"),
        S("250 ok\r\n250 ok\r\n354 go\r\n"), C("Subject: x\r\n\r\nbody\r\n")])
    seeds["hand-gap-body"] = base + bytes([0x7f, 40]) + encode(0, [
        C("more\r\n.\r\nRCPT TO:<x@evil.test>\r\n"), S("250 ok\r\n"),
        S("250 ok\r\n")])[1:]
    # a reset by the server in the middle
    seeds["hand-rst"] = encode(SHUF8, [
        S("220 mx.example.test ESMTP\r\n"), C("EHLO a.test\r\n"),
        S("250 ok\r\n"), C("RCPT TO:<x@evil.test>\r\n")]) + bytes([0xfe]) + \
        encode(0, [C("RCPT TO:<after@evil.test>\r\n")])[1:]
    return seeds


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/fuzz/corpus/engine"
    os.makedirs(outdir, exist_ok=True)
    n = 0
    for path, flags in CAPTURES:
        if not os.path.exists(path):
            print("missing: " + path, file=sys.stderr)
            continue
        steps = steps_of(path)
        if not steps:
            print("no data: " + path, file=sys.stderr)
            continue
        name = os.path.splitext(os.path.basename(path))[0]
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(encode(flags, steps))
        n += 1
    for name, seed in hand_seeds().items():
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(seed)
        n += 1
    print("%d seeds in %s" % (n, outdir))


if __name__ == "__main__":
    main()
