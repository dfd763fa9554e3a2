#!/usr/bin/env python3
"""Event-stream load test (issue 4 acceptance): many subscribers stay connected to
/v1/events/tasks.r1 while many tasks run their whole lifecycle (desire, start, complete,
resolving, delete). Every subscriber that keeps reading must see every event, in the
same (commit) order; one subscriber that stops reading must be dropped (its stream ended)
without stalling the writers or the other subscribers.

    events_load_test.py --binary PATH --work DIR [--subscribers 1000] [--tasks 10000]

How it checks without decoding millions of records: each stream is reduced to its SSE
records without the per-connection `id:` line (the only part that differs between
subscribers) and hashed; every reading subscriber must end with the same hash and
5 × tasks records, ids 0..n-1. One subscriber's records are decoded to check that each
task's events come as created, changed ×3, removed.
"""

import argparse
import base64
import hashlib
import http.client
import multiprocessing as mp
import os
import re
import selectors
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ServerProcess, bbsproto as bp  # noqa: E402

EVENTS_PER_TASK = 5
HASHED_PER_PROCESS = 8
FRAMING = re.compile(rb"[0-9a-fA-F]+\r\nid: \d+\n")
RECORD_END = b"\n\n\r\n"


def server_side_established(server_port, client_port):
    """Whether the server still holds an ESTABLISHED socket to our `client_port` (from
    /proc/net/tcp: local = server port, remote = client port, state 01)."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
                return state == "01"
    return False


def subscribe(port, rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(30)
    s.connect(("127.0.0.1", port))
    s.sendall(b"POST /v1/events/tasks.r1 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("stream closed before its head")
        head += chunk
    head, rest = head.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError("subscription refused: %r" % head[:100])
    return s, rest


def reader_process(port, count, expected, keep_first, ready, results, deadline_s):
    """Subscribes `count` times, reads until each stream has `expected` records (or the
    deadline), and reports (records, last id, sha256 of normalized records) per stream."""
    streams = []
    sel = selectors.DefaultSelector()
    for i in range(count):
        s, rest = subscribe(port)
        s.setblocking(False)
        # Counting is cheap; normalizing and hashing is done for a sample of the streams,
        # so the readers keep up with the server on a 2-core machine.
        state = {"buf": rest, "bytes": 0, "records": 0, "last_id": -1, "hash": hashlib.sha256(), "keep": [],
                 "done": False, "keep_all": keep_first and i == 0, "hashed": i < HASHED_PER_PROCESS}
        streams.append((s, state))
        sel.register(s, selectors.EVENT_READ, state)
    ready.release()
    deadline = time.monotonic() + deadline_s
    open_streams = count

    def consume(state):
        buf = state["buf"]
        cut = buf.rfind(RECORD_END)
        if cut < 0:
            return
        complete, state["buf"] = buf[:cut + len(RECORD_END)], buf[cut + len(RECORD_END):]
        state["records"] += complete.count(RECORD_END)
        last = complete.rfind(b"id: ")
        if last >= 0:
            state["last_id"] = int(complete[last + 4:complete.index(b"\n", last)])
        if state["hashed"]:
            normalized = FRAMING.sub(b"", complete).replace(RECORD_END, b"\n\n")
            state["hash"].update(normalized)
            if state["keep_all"]:
                state["keep"].append(normalized)

    while open_streams and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1.0):
            state = key.data
            try:
                data = key.fileobj.recv(1 << 20)
            except BlockingIOError:
                continue
            if not data:
                sel.unregister(key.fileobj)
                open_streams -= 1
                state["done"] = True
                continue
            state["buf"] += data
            state["bytes"] += len(data)
            consume(state)
            if state["records"] >= expected and not state["done"]:
                state["done"] = True
                sel.unregister(key.fileobj)
                open_streams -= 1
    out = []
    for s, state in streams:
        out.append((state["bytes"], state["records"], state["last_id"], state["hash"].hexdigest() if state["hashed"] else None,
                    b"".join(state["keep"]) if state["keep_all"] else b""))
        s.close()
    results.put(out)


def lifecycle_worker(port, guids, domain, errors):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    steps = [("/v1/tasks/desire.r2", lambda g: bp.desire_request(g, domain), "TaskLifecycleResponse"),
             ("/v1/tasks/start", lambda g: bp.start_request(g, "cell-ev"), "StartTaskResponse"),
             ("/v1/tasks/complete", lambda g: bp.complete_request(g, "cell-ev", result="ok"), "TaskLifecycleResponse"),
             ("/v1/tasks/resolving", bp.guid_request, "TaskLifecycleResponse"),
             ("/v1/tasks/delete", bp.guid_request, "TaskLifecycleResponse")]
    for g in guids:
        for path, body, response in steps:
            conn.request("POST", path, body(g), {"Content-Type": "application/x-protobuf"})
            answer = bp.decode(response, conn.getresponse().read())
            if "error" in answer:
                errors.append("%s %s: %r" % (g, path, answer["error"]))
                return


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--subscribers", type=int, default=1000)
    p.add_argument("--tasks", type=int, default=10000)
    p.add_argument("--writers", type=int, default=32)
    p.add_argument("--processes", type=int, default=4)
    p.add_argument("--buffer-bytes", type=int, default=1 << 20,
                   help="the server's event_subscriber_buffer_bytes")
    a = p.parse_args()
    server = ServerProcess(a.binary, a.work, event_subscriber_buffer_bytes=a.buffer_bytes)
    port = server.port
    failures = []
    try:
        if not server.start():
            raise RuntimeError("server did not start")
        expected = EVENTS_PER_TASK * a.tasks
        ready = mp.Semaphore(0)
        results = mp.Queue()
        per = [a.subscribers // a.processes + (1 if i < a.subscribers % a.processes else 0) for i in range(a.processes)]
        procs = [mp.Process(target=reader_process, args=(port, n, expected, i == 0, ready, results, 900))
                 for i, n in enumerate(per) if n]
        for proc in procs:
            proc.start()
        for _ in procs:
            ready.acquire()
        slow, _ = subscribe(port, rcvbuf=4096)          # subscribes, then never reads
        print("subscribed: %d reading, 1 not reading" % a.subscribers)

        errors = []
        guids = ["ev-%d" % i for i in range(a.tasks)]
        started = time.monotonic()
        threads = [threading.Thread(target=lifecycle_worker, args=(port, guids[w::a.writers], "ev-load", errors))
                   for w in range(a.writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        print("%d lifecycles in %.1fs (%.0f/s) with %d subscribers" % (a.tasks, elapsed, a.tasks / elapsed,
                                                                        a.subscribers + 1))
        if errors:
            failures.append("lifecycle errors: %s" % errors[:3])

        streams = []
        for _ in procs:
            streams.extend(results.get(timeout=1000))
        for proc in procs:
            proc.join()
        stream_bytes = max(b for b, *_ in streams)
        streams = [rest for _, *rest in streams]
        hashes = {h for _, _, h, _ in streams if h is not None}
        complete = sum(1 for n, last, _, _ in streams if n == expected and last == expected - 1)
        print("%d of %d reading subscribers saw all %d events with ids 0..%d; %d distinct streams among %d hashed"
              % (complete, len(streams), expected, expected - 1, len(hashes),
                 sum(1 for *_, h, _ in [(0, 0, x[2], 0) for x in streams] if h is not None)))
        if complete != len(streams):
            failures.append("%d subscribers missed events" % (len(streams) - complete))
        if len(hashes) != 1:
            failures.append("subscribers saw different event sequences")

        # One subscriber's events, decoded: every task goes created, changed x3, removed.
        kept = next(k for _, _, _, k in streams if k)
        names = {"task_created": "TaskCreatedEvent", "task_changed": "TaskChangedEvent",
                 "task_removed": "TaskRemovedEvent"}
        seen = {}
        for record in kept.split(b"\n\n"):
            if not record:
                continue
            fields = dict(line.split(b": ", 1) for line in record.split(b"\n"))
            name = fields[b"event"].decode()
            event = bp.decode(names[name], base64.b64decode(fields[b"data"]))
            task = event.get("task") or event.get("after")
            state = task.get("state", "Invalid") if name != "task_removed" else "removed"
            seen.setdefault(task["task_guid"], []).append(state)
        wanted = ["Pending", "Running", "Completed", "Resolving", "removed"]
        wrong = [g for g in guids if seen.get(g) != wanted]
        print("decoded one stream: %d tasks, %d with a wrong event sequence" % (len(seen), len(wrong)))
        if wrong:
            failures.append("event order wrong for %s: %r" % (wrong[0], seen.get(wrong[0])))

        # The subscriber that never read was dropped: its stream was ended (terminal chunk
        # and close, or cut once it had stalled past the server's write-stall timeout).
        still_held = server_side_established(port, slow.getsockname()[1])
        slow.settimeout(10)
        got, closed = 0, False
        try:
            while True:
                data = slow.recv(1 << 20)
                if not data:
                    closed = True
                    break
                got += len(data)
        except socket.timeout:
            pass
        except ConnectionResetError:
            closed = True
        closed = closed or not still_held
        print("non-reading subscriber: dropped=%s after %d of %d bytes" % (closed, got, stream_bytes))
        # Kernel socket buffers on loopback hold up to a few MB before the server's own
        # bound starts to count; a backlog that fits in both need not be dropped, but then
        # nothing of it may be missing.
        if stream_bytes > a.buffer_bytes + (8 << 20) and not closed:
            failures.append("the subscriber that stopped reading was not dropped")
        if not closed and got < stream_bytes:
            failures.append("the non-reading subscriber was neither dropped nor sent everything")
        if server.proc.poll() is not None:
            failures.append("server died")
    finally:
        server.stop()
    for f in failures:
        print("FAIL " + f)
    print("events load test: %s" % ("passed" if not failures else "FAILED"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
