#!/usr/bin/env python3
"""Completion callbacks survive a restart (issue 4 acceptance): a task completes while
its callback receiver is unavailable (503), the server is killed with SIGKILL, the
receiver recovers, and after the restart the callback is delivered (at least once, as
the reference's convergence would) and the task is deleted. A second task is killed
between its completion and any delivery attempt (receiver refusing connections), and is
delivered after the restart too. No task is lost.

    callback_restart_test.py --binary PATH --work DIR
"""

import argparse
import http.server
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ServerProcess, bbsproto as bp, free_port, wait_for  # noqa: E402


class Receiver:
    """Records callback bodies; answers `status` (settable)."""

    def __init__(self, port):
        self.status = 503
        self.bodies = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.bodies.append((receiver.status, json.loads(body)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self, guid):
        return [b for status, b in self.bodies if status == 200 and b["task_guid"] == guid]


class Server(ServerProcess):
    """The server with convergence every second and a 2 s kick, so owed callbacks are
    retried quickly after the restart."""

    def __init__(self, binary, work):
        super().__init__(binary, work, converge_repeat_interval="1s", kick_task_duration="2s",
                         expire_completed_task_duration="5m")

    def start(self):
        if not super().start():
            raise RuntimeError("server did not start")

    def state(self, guid):
        answer = self.call("/v1/tasks/get_by_task_guid.r3", bp.guid_request(guid), "TaskResponse")
        if answer.get("error", {}).get("type") == "ResourceNotFound":
            return None
        return answer["task"].get("state")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--work", required=True)
    a = p.parse_args()
    os.makedirs(a.work, exist_ok=True)
    receiver_port = free_port()
    receiver = Receiver(receiver_port)
    url = "http://127.0.0.1:%d/cb" % receiver_port
    refused_url = "http://127.0.0.1:%d/cb" % free_port()  # nothing listens there yet
    server = Server(a.binary, a.work)
    failures = []
    server.start()
    try:
        # Task 1: three 503s, then it rests in Resolving.
        server.call("/v1/tasks/desire.r2", bp.desire_request("cb-1", "cbr", callback=url), "TaskLifecycleResponse")
        server.call("/v1/tasks/cancel", bp.guid_request("cb-1"), "TaskLifecycleResponse")
        if not wait_for(lambda: len(receiver.bodies) >= 3 and server.state("cb-1") == "Resolving", 10):
            failures.append("cb-1: expected three 503 attempts and Resolving, got %d attempts, state %s"
                            % (len(receiver.bodies), server.state("cb-1")))
        # Task 2: its receiver refuses connections; killed right after completion.
        server.call("/v1/tasks/desire.r2", bp.desire_request("cb-2", "cbr", callback=refused_url),
                    "TaskLifecycleResponse")
        server.call("/v1/tasks/cancel", bp.guid_request("cb-2"), "TaskLifecycleResponse")
        server.kill9()

        receiver.status = 200
        # The second task's URL now reaches a receiver that accepts.
        refused_port = int(refused_url.split(":")[2].split("/")[0])
        second = Receiver(refused_port)
        second.status = 200
        server.start()
        ok1 = wait_for(lambda: receiver.delivered("cb-1") and server.state("cb-1") is None, 20)
        ok2 = wait_for(lambda: second.delivered("cb-2") and server.state("cb-2") is None, 20)
        print("cb-1 delivered after restart: %s (%d attempts in all)" % (ok1, len(receiver.bodies)))
        print("cb-2 delivered after restart: %s" % ok2)
        if not ok1:
            failures.append("cb-1 not delivered after the restart (state %s)" % server.state("cb-1"))
        if not ok2:
            failures.append("cb-2 not delivered after the restart (state %s)" % server.state("cb-2"))
        body = (receiver.delivered("cb-1") or [{}])[0]
        if body.get("failure_reason") != "task was cancelled" or body.get("failed") is not True:
            failures.append("cb-1 callback body wrong: %r" % body)
    finally:
        server.stop()
    for f in failures:
        print("FAIL " + f)
    print("callback restart test: %s" % ("passed" if not failures else "FAILED"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
