#!/usr/bin/env python3
"""Crash test: kill -9 the server while many clients desire tasks and walk them through
their lifecycle, restart it on the same data directory, and check that every
acknowledged change is still there.

Each worker owns its tasks and moves each one through desire -> start -> complete ->
resolving -> delete, stopping at a random step so tasks rest in every state. Before a
request it notes the step as in flight; after a successful answer it notes it as
acknowledged. After a restart, a task must be in the state of its last acknowledged step,
or of the step that was in flight when the server died (it may have become durable
without its answer arriving). Anything else is a lost acknowledged change.

Exit status 0 when every round restarted and nothing acknowledged was lost.
"""

import argparse
import http.client
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ServerProcess, bbsproto as bp  # noqa: E402

STEPS = ["desire", "start", "complete", "resolving", "delete"]
# The state a task is in after each step (None: gone).
STATE_AFTER = {0: "Pending", 1: "Running", 2: "Completed", 3: "Resolving", 4: None}
ROUTES = {"desire": "/v1/tasks/desire.r2", "start": "/v1/tasks/start", "complete": "/v1/tasks/complete",
          "resolving": "/v1/tasks/resolving", "delete": "/v1/tasks/delete"}
RESPONSES = {"start": "StartTaskResponse"}
CELL = "crash-cell"


def start_server(binary, work):
    return ServerProcess(binary, work, max_task_retries=3)


class Ledger:
    """What each task's client knows: last acknowledged step and the step in flight."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}      # guid -> step index
        self.inflight = {}   # guid -> step index
        self.errors = []
        self.acknowledged = 0  # acknowledged steps, all rounds

    def begin(self, guid, step):
        with self.lock:
            self.inflight[guid] = step

    def ack(self, guid, step):
        with self.lock:
            self.acked[guid] = step
            self.inflight.pop(guid, None)
            self.acknowledged += 1

    def error(self, text):
        with self.lock:
            self.errors.append(text)


def call(conn, step, guid, domain):
    if step == "desire":
        body = bp.desire_request(guid, domain, annotation="crash " * 20)
    elif step == "start":
        body = bp.start_request(guid, CELL)
    elif step == "complete":
        body = bp.complete_request(guid, CELL, result="done")
    else:
        body = bp.guid_request(guid)
    conn.request("POST", ROUTES[step], body, {"Content-Type": "application/x-protobuf"})
    resp = conn.getresponse()
    data = resp.read()
    if resp.status != 200:
        raise bp.DecodeError("HTTP %d" % resp.status)
    return bp.decode(RESPONSES.get(step, "TaskLifecycleResponse"), data)


def worker(port, ledger, stop, prefix, domain, rng):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    n = 0
    while not stop.is_set():
        guid = "%s-%d" % (prefix, n)
        n += 1
        last = rng.randrange(len(STEPS))
        for i in range(last + 1):
            ledger.begin(guid, i)
            try:
                answer = call(conn, STEPS[i], guid, domain)
            except (OSError, http.client.HTTPException, bp.DecodeError):
                return  # the server is gone; the outcome of step i is unknown
            if "error" in answer:
                ledger.error("%s %s: %r" % (guid, STEPS[i], answer["error"]))
                return
            ledger.ack(guid, i)


def state_of(conn, guid):
    conn.request("POST", "/v1/tasks/get_by_task_guid.r3", bp.guid_request(guid),
                 {"Content-Type": "application/x-protobuf"})
    answer = bp.decode("TaskResponse", conn.getresponse().read())
    if "error" in answer:
        if answer["error"].get("type") == "ResourceNotFound":
            return None
        raise RuntimeError("get %s: %r" % (guid, answer["error"]))
    return answer["task"].get("state", "Invalid")


def verify(port, ledger):
    """Returns the list of tasks whose acknowledged state was lost."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    lost = []
    with ledger.lock:
        acked = dict(ledger.acked)
        inflight = dict(ledger.inflight)
    guids = set(acked) | set(inflight)
    for guid in guids:
        allowed = set()
        if guid in acked:
            allowed.add(STATE_AFTER[acked[guid]])
        else:
            allowed.add(None)  # the desire itself was in flight
        if guid in inflight:
            allowed.add(STATE_AFTER[inflight[guid]])
        got = state_of(conn, guid)
        if got not in allowed:
            lost.append("%s: state %s, expected one of %s" % (guid, got, sorted(map(str, allowed))))
    # Settle the ledger: from now on the client knows what is on disk.
    index_of_state = {v: k for k, v in STATE_AFTER.items() if v is not None}
    with ledger.lock:
        for guid in guids:
            state = state_of(conn, guid)
            ledger.inflight.pop(guid, None)
            if state is None:
                ledger.acked.pop(guid, None)
            else:
                ledger.acked[guid] = index_of_state[state]
    return lost, len(guids)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--workers", type=int, default=16)
    p.add_argument("--seed", type=int, default=None)
    a = p.parse_args()
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    os.makedirs(a.work, exist_ok=True)
    server = start_server(a.binary, a.work)
    ledger = Ledger()
    failed_restarts = total_lost = 0
    domain = "crash-%08x" % rng.randrange(1 << 32)

    for round_no in range(a.kills):
        if not server.start():
            failed_restarts += 1
            print("round %d: server did not start (see %s/server.log)" % (round_no, a.work))
            break
        lost, checked = verify(server.port, ledger)
        total_lost += len(lost)
        for line in lost[:10]:
            print("round %d: LOST %s" % (round_no, line))
        stop = threading.Event()
        threads = [threading.Thread(target=worker, args=(
            server.port, ledger, stop, "crash-r%d-w%d" % (round_no, w), domain,
            random.Random(rng.randrange(1 << 30))), daemon=True) for w in range(a.workers)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.3, 1.2))
        server.kill9()
        stop.set()
        for t in threads:
            t.join(timeout=15)
        print("round %d: checked %d tasks after restart, %d lost; %d steps acknowledged so far"
              % (round_no, checked, len(lost), ledger.acknowledged))

    if failed_restarts == 0:
        if server.start():
            lost, checked = verify(server.port, ledger)
            total_lost += len(lost)
            for line in lost[:10]:
                print("final: LOST %s" % line)
            server.stop()
        else:
            failed_restarts += 1

    print("crash test: seed %d, %d kills, %d acknowledged steps, %d restarts failed, "
          "%d acknowledged changes lost, %d unexpected errors"
          % (seed, a.kills, ledger.acknowledged, failed_restarts, total_lost, len(ledger.errors)))
    for e in ledger.errors[:10]:
        print("  error: %s" % e)
    ok = failed_restarts == 0 and total_lost == 0 and not ledger.errors
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
