"""floodlib.py — shared by tests/flood/run and bench/flood: build the flood
generator (tests/flood/gen.c), write a capture, replay it through
`relayguard replay` under GNU time, and read back what happened.
"""

import os
import re
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CONF = os.path.join(HERE, "flood.conf")

# What flood.conf sets; the checks are stated against these.
MAX_FLOWS = 10000
FLOW_MEMORY = 8 << 20

WARN = ["-Wall", "-Wextra", "-Werror", "-Wshadow", "-Wpointer-arith",
        "-Wcast-qual", "-Wstrict-prototypes", "-Wmissing-prototypes",
        "-Wformat=2", "-Wvla"]

SUMMARY = [
    ("packets", r"replay: (\d+) packets"),
    ("flows", r"tcp on smtp ports, (\d+) flows"),
    ("sessions", r"(\d+) sessions"),
    ("relay_attempts", r"(\d+) relay attempts"),
    ("anomalies", r"(\d+) anomalies"),
    ("gaps", r"(\d+) gaps"),
    ("evicted", r"(\d+) flows evicted"),
    ("events_lost", r"(\d+) events lost"),
    ("buffer_peak", r"(\d+) buffer bytes peak"),
    ("seconds", r"replay: ([0-9.]+) s,"),
]


def build_gen(outdir):
    """Compile the generator (gcc -O2, the project's warnings) if stale."""
    src = os.path.join(HERE, "gen.c")
    exe = os.path.join(outdir, "flood-gen")
    os.makedirs(outdir, exist_ok=True)
    if (not os.path.exists(exe) or
            os.path.getmtime(exe) < os.path.getmtime(src)):
        cc = os.environ.get("CC", "cc")
        subprocess.run([cc, "-std=gnu11", "-O2"] + WARN +
                       ["-o", exe, src], check=True)
    return exe


def generate(gen, kind, n, path, relays=40, auths=0, slowgap=0, seed=1):
    """Write the capture; returns the generator's key=value counts."""
    args = [gen, "-s", str(seed), "-r", str(relays), "-a", str(auths)]
    if slowgap:
        args += ["-G", str(slowgap)]
    out = subprocess.run(args + [kind, str(n), path], check=True,
                         capture_output=True, text=True).stdout
    return {k: int(v) for k, v in
            (line.split("=", 1) for line in out.split())}


def is_asan(binary):
    """A sanitizer build: its RSS says nothing about relayguard's."""
    try:
        out = subprocess.run(["ldd", binary], capture_output=True,
                             text=True).stdout
    except OSError:
        return False
    return "libasan" in out or "libubsan" in out


def replay(relayguard, capture, events_path, conf=CONF):
    """Replay under /usr/bin/time; returns the summary as a dict with
    rc, peak_rss_kb, wall (seconds) and the counts of SUMMARY, and the
    parsed events in r["events"]."""
    fmt = "RGTIME %e %M"
    with open(events_path, "wb") as ev:
        p = subprocess.run(["/usr/bin/time", "-f", fmt, relayguard,
                            "replay", "-c", conf, capture],
                           stdout=ev, stderr=subprocess.PIPE)
    err = p.stderr.decode("utf-8", "replace")
    r = {"rc": p.returncode, "stderr": err}
    m = re.search(r"RGTIME ([0-9.]+) (\d+)", err)
    if m:
        r["wall"] = float(m.group(1))
        r["peak_rss_kb"] = int(m.group(2))
    for key, rx in SUMMARY:
        m = re.search(rx, err)
        if m:
            r[key] = float(m.group(1)) if key == "seconds" \
                else int(m.group(1))
    r["events"] = read_events(events_path)
    return r


def read_events(path):
    """Relay-attempt recipients and anomaly kinds, without json per line
    (a million anomaly lines would be slow to parse)."""
    rcpts, whats = {}, {}
    rx_rcpt = re.compile(rb'"event":"relay-attempt".*?"rcpt":"([^"]*)"')
    rx_what = re.compile(rb'"event":"anomaly".*?"what":"([^"]*)"')
    with open(path, "rb") as f:
        for line in f:
            m = rx_rcpt.search(line)
            if m:
                k = m.group(1).decode()
                rcpts[k] = rcpts.get(k, 0) + 1
                continue
            m = rx_what.search(line)
            if m:
                k = m.group(1).decode()
                whats[k] = whats.get(k, 0) + 1
    return {"rcpts": rcpts, "anomalies": whats}


def relay_rcpts(events, prefix):
    """The recipients reported for sessions of one kind (relay, auth)."""
    return {k for k in events["rcpts"]
            if k.startswith(prefix) and k.endswith("@foreign.example")}
