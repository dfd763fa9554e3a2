"""What the black-box tests share: a free loopback port, the built server as a child
process on a config of the test's own, a protobuf call, and polling."""

import fcntl
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import bbsproto  # noqa: E402,F401  (re-exported for the tests)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(condition, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


class ServerProcess:
    """`bbs-server` on 127.0.0.1:<free port> with its data under `work/data`; `config`
    adds keys to the generated config file. The port stays the same across restarts."""

    def __init__(self, binary, work, **config):
        os.makedirs(work, exist_ok=True)
        self.binary, self.work, self.port = binary, work, free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.config = os.path.join(work, "config.json")
        settings = {"listen_address": "127.0.0.1:%d" % self.port, "data_dir": os.path.join(work, "data")}
        settings.update(config)
        with open(self.config, "w") as f:
            json.dump(settings, f)
        self.log = open(os.path.join(work, "server.log"), "ab")
        self.proc = None

    def start(self, timeout=30):
        """Starts the server; True once it answers ping, False if it exited or timed out."""
        self.proc = subprocess.Popen([self.binary, "--config", self.config], stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if self.call("/v1/ping", b"", timeout=2) == b"\x08\x01":
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def call(self, path, body, response=None, timeout=10):
        """POSTs a protobuf body; returns the raw answer, or it decoded as `response`."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request("POST", path, body, {"Content-Type": "application/x-protobuf"})
            data = c.getresponse().read()
        finally:
            c.close()
        return bbsproto.decode(response, data) if response else data

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout=30):
        """SIGTERM; returns the exit status (None if it had to be killed)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


def ensure_packages(requirements, flag="BBS_TEST_IN_VENV"):
    """Makes `requirements` ({module to import: pip requirement}) importable: when the
    system Python lacks one, creates a virtualenv (under ~/.cache, or $BBS_TEST_VENV) with
    them and re-runs the calling script inside it."""
    def importable(python=None):
        code = "; ".join("import %s" % module for module in requirements)
        if python is None:
            try:
                exec(code, {})
                return True
            except ImportError:
                return False
        return subprocess.call([python, "-c", code], stderr=subprocess.DEVNULL) == 0

    if importable():
        return
    if os.environ.get(flag):
        raise SystemExit("%s not importable even in the test virtualenv" % ", ".join(requirements))
    venv = os.environ.get("BBS_TEST_VENV") or os.path.expanduser("~/.cache/bbs-server-tests/venv")
    python = os.path.join(venv, "bin", "python3")
    os.makedirs(os.path.dirname(venv), exist_ok=True)
    with open(venv + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(python):
            subprocess.check_call([sys.executable, "-m", "venv", venv])
        if not importable(python):
            subprocess.check_call([python, "-m", "pip", "install", "--quiet"] + sorted(set(requirements.values())))
    os.environ[flag] = "1"
    os.execv(python, [python] + sys.argv)


def rss_kib(pid):
    """Resident memory of process `pid` in KiB (VmRSS)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1
