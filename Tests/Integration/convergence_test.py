#!/usr/bin/env python3
"""Convergence, the auctioneer and the cell registry against the real binary (issue 4):

* desire sends the reference's task auction request to `auctioneer_address`, and each
  convergence pass re-sends every Pending task;
* with `cell_registry_file`, a pass fails Running tasks whose cell is not listed
  ("cell disappeared before completion", cell id kept) and leaves the others alone; a
  cell that vanishes later is noticed by a later pass; an unreadable registry makes the
  pass skip its task work (nothing is failed);
* cancelling a Running task POSTs `<rep_url>/v1/tasks/<guid>/cancel` to its cell.

    convergence_test.py --binary PATH --work DIR
"""

import argparse
import http.server
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ServerProcess, bbsproto as bp, wait_for  # noqa: E402

failures = []


def check(condition, what):
    print(("ok    " if condition else "FAIL  ") + what)
    if not condition:
        failures.append(what)


class Recorder:
    """An HTTP server answering 202 to every POST, keeping (path, body)."""

    def __init__(self):
        self.posts = []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                recorder.posts.append((self.path, body))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def auctioned(self, guid):
        """How many auction requests named `guid`."""
        return sum(1 for path, body in self.posts if path == "/v1/tasks"
                   and any(t["TaskGuid"] == guid for t in json.loads(body)))


def write_registry(path, cells):
    with open(path + ".tmp", "w") as f:
        json.dump({"cells": cells}, f)
    os.replace(path + ".tmp", path)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--work", required=True)
    a = p.parse_args()
    os.makedirs(a.work, exist_ok=True)
    auctioneer, rep = Recorder(), Recorder()
    registry = os.path.join(a.work, "cells.json")
    write_registry(registry, [{"cell_id": "cell-a", "rep_url": rep.url}, {"cell_id": "cell-b"}])
    server = ServerProcess(a.binary, a.work, converge_repeat_interval="1s", auctioneer_address=auctioneer.url,
                           cell_registry_file=registry)

    def state(guid):
        task = server.call("/v1/tasks/get_by_task_guid.r3", bp.guid_request(guid), "TaskResponse").get("task", {})
        return task.get("state"), task.get("cell_id", ""), task.get("failure_reason", "")

    def call(path, body, response="TaskLifecycleResponse"):
        answer = server.call(path, body, response)
        if "error" in answer:
            failures.append("%s: %r" % (path, answer["error"]))
        return answer

    try:
        check(server.start(), "server started")
        for guid in ("on-a", "on-b", "on-gone", "pending"):
            call("/v1/tasks/desire.r2", bp.desire_request(guid, "conv", memory_mb=128))
        check(wait_for(lambda: auctioneer.auctioned("on-a") >= 1, 5), "desire sent an auction request")
        first = next(json.loads(body) for path, body in auctioneer.posts if b'"on-a"' in body)
        check(first == [{"TaskGuid": "on-a", "Domain": "conv", "PlacementTags": None, "VolumeDrivers": [],
                         "RootFs": "docker:///busybox", "MemoryMB": 128, "DiskMB": 0, "MaxPids": 0,
                         "state": "Invalid", "failed": False}],
              "the auction request has the reference's shape (%r)" % first)
        for guid, cell in (("on-a", "cell-a"), ("on-b", "cell-b"), ("on-gone", "cell-gone")):
            call("/v1/tasks/start", bp.start_request(guid, cell), "StartTaskResponse")

        check(wait_for(lambda: state("on-gone")[0] == "Completed", 10),
              "a Running task on an unlisted cell fails at the next pass")
        check(state("on-gone") == ("Completed", "cell-gone", "cell disappeared before completion"),
              "it keeps its cell id and says why (%r)" % (state("on-gone"),))
        check(wait_for(lambda: auctioneer.auctioned("pending") >= 2, 10),
              "convergence re-sends Pending tasks to the auctioneer")
        check(state("on-a")[0] == "Running" and state("on-b")[0] == "Running", "tasks on listed cells run on")

        write_registry(registry, [{"cell_id": "cell-a", "rep_url": rep.url}])
        check(wait_for(lambda: state("on-b")[0] == "Completed", 10), "a cell that vanishes later is noticed")

        with open(registry, "w") as f:
            f.write("{not json")
        call("/v1/tasks/desire.r2", bp.desire_request("on-c", "conv"))
        call("/v1/tasks/start", bp.start_request("on-c", "cell-c"), "StartTaskResponse")
        wait_for(lambda: False, 2.5)
        check(state("on-c")[0] == "Running", "an unreadable registry skips the pass: nothing is failed")
        write_registry(registry, [{"cell_id": "cell-a", "rep_url": rep.url}])

        call("/v1/tasks/cancel", bp.guid_request("on-a"))
        check(wait_for(lambda: ("/v1/tasks/on-a/cancel", b"") in rep.posts, 5),
              "cancelling a Running task notifies its cell's rep (%r)" % rep.posts)
    finally:
        rc = server.stop()
        check(rc == 0, "server exits 0 on SIGTERM (got %s)" % rc)
    print("convergence test: %s" % ("passed" if not failures else "%d FAILED" % len(failures)))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
