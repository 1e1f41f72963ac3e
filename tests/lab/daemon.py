"""
daemon.py -- relayguardd in the lab's gateway namespace, for the python
halves of tests/mta and tests/evasion.

    d = Daemon(build, ns_gw, workdir)
    d.write_conf(["block-after 1000", ...])   # extra lines
    d.start("name")   -> True once it logged "ready: "
    d.events()        -> its JSON events so far (every start's log)
    d.stop()          -> None, or why the stop was not clean (an exit
                         status other than 0 on SIGTERM, a hang, a
                         sanitizer report)
"""

import json
import os
import signal
import subprocess
import time

BASE_CONF = """# written by tests/lab/daemon.py
local-domains   example.test .example.test
relay-networks  192.0.2.0/24 2001:db8:1::/48
servers         198.51.100.0/24 2001:db8:2::/64
ports           25
hook            forward
mode            enforce
block-for       1h
state-db        {dir}/state.db
control-socket  {dir}/control.sock
"""


class Daemon:
    def __init__(self, build, ns_gw, workdir):
        self.rgd = os.path.join(build, "relayguardd")
        self.rg = os.path.join(build, "relayguard")
        self.ns_gw = ns_gw
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.conf = os.path.join(workdir, "relayguard.conf")
        self.proc = None
        self.log = None
        self.logs = []

    def write_conf(self, extra):
        with open(self.conf, "w") as f:
            f.write(BASE_CONF.format(dir=self.dir))
            for line in extra:
                f.write(line + "\n")

    def _drop_table(self):
        subprocess.run(["ip", "netns", "exec", self.ns_gw, "nft", "delete",
                        "table", "inet", "relayguard"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self, name):
        self.log = os.path.join(self.dir, "relayguardd-%s.log" % name)
        self.logs.append(self.log)
        self._drop_table()
        with open(self.log, "wb") as f:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", self.ns_gw, self.rgd, "-c",
                 self.conf, "-f"], stdout=subprocess.DEVNULL, stderr=f)
        end = time.monotonic() + 15
        while time.monotonic() < end:
            with open(self.log, "rb") as f:
                if b"ready: " in f.read():
                    return True
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        return False

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """Stop it; None if it exited 0 on SIGTERM with no sanitizer
        report, else why not."""
        if self.proc is None:
            return None
        why = None
        if self.proc.poll() is not None:
            why = "relayguardd died (status %d)" % self.proc.returncode
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(10)
                if rc != 0:
                    why = "relayguardd exited %d on SIGTERM" % rc
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                why = "relayguardd still running 10 s after SIGTERM"
        self.proc = None
        self._drop_table()
        with open(self.log, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        for mark in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            if mark in text:
                line = [l for l in text.splitlines() if mark in l][0]
                why = (why + "; " if why else "") + \
                    "sanitizer report: " + line.strip()[:200]
        return why

    def events(self):
        out = []
        for path in self.logs:
            try:
                with open(path, "rb") as f:
                    text = f.read().decode("utf-8", "replace")
            except OSError:
                continue
            for line in text.splitlines():
                if line.startswith("{"):
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
        return out

    def status(self):
        p = subprocess.run(["ip", "netns", "exec", self.ns_gw, "timeout",
                            "10", self.rg, "-c", self.conf, "status",
                            "--json"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
        try:
            return json.loads(p.stdout.decode())
        except ValueError:
            return {}
