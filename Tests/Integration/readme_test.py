#!/usr/bin/env python3
"""README test: runs the README's marked shell blocks word for word against a fresh
server and checks what they print.

A block is marked by an HTML comment on the line before its fence:

    <!-- readme-test: json-walkthrough -->
    ```sh
    ...
    ```

Each block runs with `bash -euo pipefail` in one scratch directory that has the checkout's
`scripts/` and `Config/` (as a reader's working directory would) and test certificates in
`certs/` (made by `scripts/gen-certs`, as the README says), with BBS and HEALTH pointing at
a plain server this test starts, BBS_TLS at a second one serving mutual TLS with those
certificates, and the built binary first on PATH. Every
non-empty line the block prints is matched, in order, against the block's `# => ...`
comments: when the comment is JSON, the printed line must be JSON containing it (objects:
every key given, recursively; arrays: same length, element by element); otherwise the
line must equal it. Blocks run in README order on the same server.

Exit status 0 when every block ran and matched; the json-walkthrough block is required.
"""

import argparse
import http.client
import json
import os
import re
import socket
import subprocess
import sys

from harness import ServerProcess, free_port, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
MARKED_BLOCK = re.compile(r"<!-- readme-test: ([\w-]+) -->\s*\n```(?:sh|bash)\n(.*?)\n```", re.S)
REQUIRED = ["json-walkthrough", "protobuf", "tls", "h2c"]


def start_server(binary, work):
    """The server with a health listener; returns it and its two base URLs."""
    health = free_port()
    server = ServerProcess(binary, os.path.join(work, "server"), health_address="127.0.0.1:%d" % health,
                           converge_repeat_interval="1h")
    if not server.start():
        raise SystemExit("the server did not start; see %s/server.log" % server.work)

    def healthy():
        try:
            c = http.client.HTTPConnection("127.0.0.1", health, timeout=2)
            c.request("GET", "/")
            return c.getresponse().status == 200
        except OSError:
            return False
    if not wait_for(healthy, 10):
        raise SystemExit("the health listener did not answer")
    return server, server.url, "http://127.0.0.1:%d" % health


def start_tls_server(binary, work, certs):
    """A second server, mutual TLS with the certificates in `certs`; returns it and its URL."""
    server = ServerProcess(binary, os.path.join(work, "tls-server"), require_ssl=True,
                           ca_file=os.path.join(certs, "ca.pem"), cert_file=os.path.join(certs, "server.pem"),
                           key_file=os.path.join(certs, "server.key"), converge_repeat_interval="1h")
    server.proc = subprocess.Popen([binary, "--config", server.config], stdout=server.log, stderr=server.log)
    port = server.port

    def listening():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False
    if not wait_for(listening, 30):
        raise SystemExit("the TLS server did not start; see %s/server.log" % server.work)
    return server, "https://127.0.0.1:%d" % port


def contains(expected, actual):
    """Whether `actual` has everything `expected` has (see the module text)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and contains(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and \
            all(contains(e, a) for e, a in zip(expected, actual))
    return type(expected) is type(actual) and expected == actual


def expectations(block):
    return [line.strip()[len("# =>"):].strip() for line in block.splitlines() if line.strip().startswith("# =>")]


def check(name, block, printed):
    wanted = expectations(block)
    got = [line for line in printed.splitlines() if line.strip()]
    problems = []
    if len(got) != len(wanted):
        problems.append("%d lines printed, %d '# =>' lines in the README" % (len(got), len(wanted)))
    for index, (want, line) in enumerate(zip(wanted, got), 1):
        try:
            want_json = json.loads(want)
        except ValueError:
            if line.strip() != want:
                problems.append("answer %d: %r, README says %r" % (index, line, want))
            continue
        try:
            line_json = json.loads(line)
        except ValueError:
            problems.append("answer %d is not JSON: %r" % (index, line))
            continue
        if not contains(want_json, line_json):
            problems.append("answer %d: %s\n    does not contain the README's %s" % (index, line, want))
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--readme", default=os.path.join(ROOT, "README.md"))
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)

    with open(args.readme) as f:
        blocks = MARKED_BLOCK.findall(f.read())
    names = [name for name, _ in blocks]
    for name in REQUIRED:
        if name not in names:
            raise SystemExit("README has no block marked readme-test: %s" % name)

    binary = os.path.abspath(args.binary)
    cwd = os.path.join(args.work, "cwd")
    os.makedirs(cwd, exist_ok=True)
    for name in ("scripts", "Config"):
        if not os.path.exists(os.path.join(cwd, name)):
            os.symlink(os.path.join(ROOT, name), os.path.join(cwd, name))
    subprocess.run([os.path.join(ROOT, "scripts", "gen-certs"), os.path.join(cwd, "certs")], check=True,
                   stdout=subprocess.DEVNULL)
    server, bbs, health = start_server(binary, args.work)
    tls_server, bbs_tls = start_tls_server(binary, args.work, os.path.join(cwd, "certs"))
    failures = 0
    try:
        env = dict(os.environ, BBS=bbs, HEALTH=health, BBS_TLS=bbs_tls,
                   PATH=os.path.dirname(binary) + os.pathsep + os.environ.get("PATH", ""))
        for name, block in blocks:
            run = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=cwd, env=env,
                                 capture_output=True, text=True, timeout=120)
            problems = [] if run.returncode == 0 else ["exit status %d; stderr: %s" % (run.returncode, run.stderr.strip())]
            problems += check(name, block, run.stdout)
            if problems:
                failures += 1
                print("FAIL readme block %s:\n  %s\n--- printed:\n%s" % (name, "\n  ".join(problems), run.stdout))
            else:
                print("ok   readme block %s (%d answers checked)" % (name, len(expectations(block))))
    finally:
        for each in (server, tls_server):
            status = each.stop()
            if status != 0:
                print("FAIL server exited with %s on SIGTERM" % status)
                failures += 1
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
