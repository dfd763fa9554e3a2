#!/usr/bin/env python3
"""README test: runs the README's marked shell blocks word for word against a fresh
server and checks what they print.

A block is marked by an HTML comment on the line before its fence:

    <!-- readme-test: json-walkthrough -->
    ```sh
    ...
    ```

Each block runs with `bash -euo pipefail` in a scratch directory, with BBS and HEALTH
pointing at the server this test starts and the built binary first on PATH. Every
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
import subprocess
import sys

from harness import ServerProcess, free_port, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
MARKED_BLOCK = re.compile(r"<!-- readme-test: ([\w-]+) -->\s*\n```(?:sh|bash)\n(.*?)\n```", re.S)
REQUIRED = ["json-walkthrough"]


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

    server, bbs, health = start_server(os.path.abspath(args.binary), args.work)
    failures = 0
    try:
        env = dict(os.environ, BBS=bbs, HEALTH=health,
                   PATH=os.path.dirname(os.path.abspath(args.binary)) + os.pathsep + os.environ.get("PATH", ""))
        for name, block in blocks:
            scratch = os.path.join(args.work, "block-" + name)
            os.makedirs(scratch, exist_ok=True)
            run = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=scratch, env=env,
                                 capture_output=True, text=True, timeout=120)
            problems = [] if run.returncode == 0 else ["exit status %d; stderr: %s" % (run.returncode, run.stderr.strip())]
            problems += check(name, block, run.stdout)
            if problems:
                failures += 1
                print("FAIL readme block %s:\n  %s\n--- printed:\n%s" % (name, "\n  ".join(problems), run.stdout))
            else:
                print("ok   readme block %s (%d answers checked)" % (name, len(expectations(block))))
    finally:
        status = server.stop()
        if status != 0:
            print("FAIL server exited with %s on SIGTERM" % status)
            failures += 1
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
