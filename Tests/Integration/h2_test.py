#!/usr/bin/env python3
"""HTTP/2 against the real binary (issue 3 acceptance), with the `h2` library as client
over h2c prior knowledge:

* 1,000 concurrent streams on one connection, every one answered;
* a list of N tasks (100,000 for the acceptance run; fewer in CI) over h2, complete;
* the task event stream over an h2 stream: a lifecycle driven over other streams of the
  same connection arrives as task_created, task_changed ×3, task_removed with ids 0..4,
  each record in its own DATA frame(s);
* a completion callback triggered over h2 is delivered and the task deleted;
* a rapid-reset flood (CVE-2023-44487: HEADERS then RST_STREAM, thousands of times) is
  cut off with GOAWAY, the server's memory stays bounded, and other clients are served
  throughout.

    h2_test.py --binary PATH --work DIR [--tasks 100000]
"""

import argparse
import base64
import http.server
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ServerProcess, bbsproto as bp, ensure_packages, rss_kib  # noqa: E402

ensure_packages({"h2.connection": "h2"})
import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.errors  # noqa: E402
import h2.events  # noqa: E402
import h2.exceptions  # noqa: E402
import h2.settings  # noqa: E402

failures = []


def check(condition, what):
    print(("ok    " if condition else "FAIL  ") + what)
    if not condition:
        failures.append(what)


class H2Client:
    """One h2c connection; `exchange` sends many requests at once and collects answers."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: (1 << 31) - 1})
        self.conn.increment_flow_control_window((1 << 31) - 1 - 65535)
        self.flush()
        self.goaway = None
        # Wait for the server's SETTINGS so its stream limit is known.
        while not self._settings_seen():
            self.receive()

    def _settings_seen(self):
        return getattr(self, "_got_settings", False)

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def receive(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("server closed the connection")
        events = self.conn.receive_data(data)
        for event in events:
            if isinstance(event, h2.events.RemoteSettingsChanged):
                self._got_settings = True
            elif isinstance(event, h2.events.DataReceived):
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.goaway = event
        self.flush()
        return events

    def send(self, path, body):
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, [(":method", "POST"), (":path", path), (":scheme", "http"),
                                     (":authority", "127.0.0.1"), ("content-type", "application/x-protobuf"),
                                     ("content-length", str(len(body)))], end_stream=not body)
        if body:
            self.conn.send_data(sid, body, end_stream=True)
        return sid

    def exchange(self, requests):
        """Sends every (path, body) at once; returns {stream id: (status, body)} in order."""
        ids = [self.send(path, body) for path, body in requests]
        self.flush()
        status, bodies, done = {}, {sid: bytearray() for sid in ids}, set()
        while len(done) < len(ids):
            for event in self.receive():
                if isinstance(event, h2.events.ResponseReceived):
                    status[event.stream_id] = dict(event.headers)[":status"]
                elif isinstance(event, h2.events.DataReceived):
                    bodies[event.stream_id] += event.data
                elif isinstance(event, h2.events.StreamEnded):
                    done.add(event.stream_id)
                elif isinstance(event, h2.events.StreamReset):
                    done.add(event.stream_id)
                    status[event.stream_id] = "reset"
        return [(status.get(sid), bytes(bodies[sid])) for sid in ids]

    def close(self):
        self.sock.close()


def check_events_over_h2(port):
    """Subscribes on one stream, drives a lifecycle on others of the same connection."""
    client = H2Client(port)
    events_stream = client.send("/v1/events/tasks.r1", b"")
    client.flush()
    stream_data = bytearray()
    head = None
    while head is None:
        for event in client.receive():
            if isinstance(event, h2.events.ResponseReceived) and event.stream_id == events_stream:
                head = dict(event.headers)
    check(head.get(":status") == "200" and head.get("content-type", "").startswith("text/event-stream")
          and "connection" not in head and "transfer-encoding" not in head,
          "event stream over h2: 200, text/event-stream, no hop-by-hop headers (%r)" % head)
    guid = "h2-events-1"
    steps = [("/v1/tasks/desire.r2", bp.desire_request(guid, "h2-events")),
             ("/v1/tasks/start", bp.start_request(guid, "cell-h2")),
             ("/v1/tasks/complete", bp.complete_request(guid, "cell-h2", result="ok")),
             ("/v1/tasks/resolving", bp.guid_request(guid)),
             ("/v1/tasks/delete", bp.guid_request(guid))]
    for path, body in steps:
        sid = client.send(path, body)
        client.flush()
        done = False
        while not done:
            for event in client.receive():
                if isinstance(event, h2.events.DataReceived) and event.stream_id == events_stream:
                    stream_data += event.data
                if isinstance(event, h2.events.StreamEnded) and event.stream_id == sid:
                    done = True
    deadline = time.monotonic() + 10
    while stream_data.count(b"\n\n") < 5 and time.monotonic() < deadline:
        for event in client.receive():
            if isinstance(event, h2.events.DataReceived) and event.stream_id == events_stream:
                stream_data += event.data
    records = [r for r in bytes(stream_data).split(b"\n\n") if r]
    seen = []
    for record in records:
        fields = dict(line.split(b": ", 1) for line in record.split(b"\n"))
        name = fields[b"event"].decode()
        message = {"task_created": "TaskCreatedEvent", "task_changed": "TaskChangedEvent",
                   "task_removed": "TaskRemovedEvent"}[name]
        payload = bp.decode(message, base64.b64decode(fields[b"data"]))
        task = payload.get("after") or payload.get("task")
        seen.append((int(fields[b"id"]), name, task["task_guid"], task.get("state", "Invalid")))
    wanted = [(0, "task_created", guid, "Pending"), (1, "task_changed", guid, "Running"),
              (2, "task_changed", guid, "Completed"), (3, "task_changed", guid, "Resolving"),
              (4, "task_removed", guid, "Resolving")]
    check(seen == wanted, "events over h2 arrive in commit order with ids 0..4 (%r)" % seen)
    client.close()


def check_callback_over_h2(port):
    """A task desired and cancelled over h2 has its completion callback delivered."""
    bodies = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d/done" % receiver.server_address[1]
    client = H2Client(port)
    guid = "h2-callback-1"
    answers = client.exchange([("/v1/tasks/desire.r2", bp.desire_request(guid, "h2-cb", callback=url))])
    answers += client.exchange([("/v1/tasks/cancel", bp.guid_request(guid))])
    deadline = time.monotonic() + 10
    gone = False
    while time.monotonic() < deadline and not gone:
        [(status, body)] = client.exchange([("/v1/tasks/get_by_task_guid.r3", bp.guid_request(guid))])
        gone = bp.decode("TaskResponse", body).get("error", {}).get("type") == "ResourceNotFound"
        time.sleep(0.1)
    check(all(s == "200" and not b for s, b in answers) and gone and len(bodies) == 1
          and bodies[0]["task_guid"] == guid and bodies[0]["failure_reason"] == "task was cancelled",
          "completion callback of a task cancelled over h2 delivered, task deleted (%r)" % bodies)
    client.close()
    receiver.shutdown()


def check_zero_window_memory(server, count=200):
    """A client that sets SETTINGS_INITIAL_WINDOW_SIZE 0 and opens `count` streams whose
    answers are 1 MiB each: the server holds about one answer, not one per stream; once
    the client opens its windows, every stream is answered."""
    env = bp.f_msg(2, bp.f_bytes(1, "BIG") + bp.f_bytes(2, "v" * (1 << 20)))  # environment_variables
    desire = bp.f_msg(1, bp.task_definition() + env) + bp.f_bytes(2, "h2-big") + bp.f_bytes(3, "h2-big")
    check(server.call("/v1/tasks/desire.r2", desire) == b"", "a task with a 1 MiB variable is desired")
    rss_before = rss_kib(server.proc.pid)
    client = H2Client(server.port)
    client.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    ids = [client.send("/v1/tasks/list.r3", bp.tasks_request("h2-big")) for _ in range(count)]
    client.flush()
    time.sleep(2)
    rss_held = rss_kib(server.proc.pid)
    check(rss_held < rss_before + 64 * 1024,
          "%d streams of 1 MiB answers at window 0: resident memory %d -> %d MiB"
          % (count, rss_before >> 10, rss_held >> 10))
    client.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: (1 << 31) - 1})
    client.flush()
    done, sizes = set(), dict.fromkeys(ids, 0)
    client.sock.settimeout(20)
    try:
        while len(done) < count:
            for event in client.receive():
                if isinstance(event, h2.events.DataReceived):
                    sizes[event.stream_id] += len(event.data)
                elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                    done.add(event.stream_id)
    except (ConnectionError, OSError):
        pass
    client.close()
    check(len(done) == count and all(size > 1 << 20 for size in sizes.values()),
          "then the windows open: %d of %d answered in full" % (sum(1 for s in sizes.values() if s > 1 << 20), count))


def check_ping_flood_goaway(port):
    """A PING flood ends the connection with GOAWAY(ENHANCE_YOUR_CALM), as rapid reset does."""
    client = H2Client(port)
    for index in range(5000):
        client.conn.ping(b"%08d" % index)
    code = None
    try:
        client.flush()
        client.sock.settimeout(10)
        while client.goaway is None:
            client.receive()
    except (ConnectionError, OSError, h2.exceptions.ProtocolError):
        pass
    code = client.goaway.error_code if client.goaway else None
    client.close()
    check(code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM, "a PING flood gets GOAWAY(ENHANCE_YOUR_CALM) (got %r)" % code)


def count_tasks(tasks_response):
    """Counts field-2 entries of a TasksResponse without decoding them."""
    count, i, n = 0, 0, len(tasks_response)
    while i < n:
        key, i = bp.read_varint(tasks_response, i)
        if key & 7 != 2:
            raise ValueError("unexpected wire type in TasksResponse")
        length, i = bp.read_varint(tasks_response, i)
        i += length
        if key >> 3 == 2:
            count += 1
    return count


class Pinger(threading.Thread):
    """An HTTP/1.1 client that keeps being served while the flood runs."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server, self.stop, self.ok, self.failed = server, threading.Event(), 0, 0

    def run(self):
        while not self.stop.is_set():
            try:
                if self.server.call("/v1/ping", b"", timeout=5) == b"\x08\x01":
                    self.ok += 1
                else:
                    self.failed += 1
            except OSError:
                self.failed += 1
            time.sleep(0.02)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--tasks", type=int, default=100000)
    p.add_argument("--resets", type=int, default=20000)
    a = p.parse_args()
    server = ServerProcess(a.binary, a.work, wal_fsync=False)
    try:
        check(server.start(), "server started")
        client = H2Client(server.port)
        limit = client.conn.remote_settings.max_concurrent_streams
        check(limit >= 1000, "server allows %d concurrent streams" % limit)

        # 1,000 streams at once on one connection.
        answers = client.exchange([("/v1/ping", b"")] * 1000)
        check(all(s == "200" and b == b"\x08\x01" for s, b in answers),
              "1,000 concurrent streams on one connection all answered (%d ok)"
              % sum(1 for s, b in answers if s == "200" and b == b"\x08\x01"))

        # N tasks desired over h2, 500 streams at a time; then one list of all of them.
        domain = "h2-list"
        started = time.monotonic()
        for first in range(0, a.tasks, 500):
            batch = [("/v1/tasks/desire.r2", bp.desire_request("h2-%d" % i, domain))
                     for i in range(first, min(first + 500, a.tasks))]
            bad = [b for s, b in client.exchange(batch) if s != "200" or b]
            if bad:
                check(False, "desires over h2 succeed (first error %r)" % bad[0][:80])
                break
        print("      %d desires over h2 in %.1fs" % (a.tasks, time.monotonic() - started))
        started = time.monotonic()
        [(status, body)] = client.exchange([("/v1/tasks/list.r3", bp.tasks_request(domain))])
        elapsed = time.monotonic() - started
        check(status == "200" and count_tasks(body) == a.tasks,
              "list of %d tasks over h2: %d bytes in %.2fs" % (a.tasks, len(body), elapsed))
        client.close()

        check_events_over_h2(server.port)
        check_callback_over_h2(server.port)
        check_zero_window_memory(server)
        check_ping_flood_goaway(server.port)

        # Rapid reset: HEADERS + RST_STREAM over and over on one connection.
        pinger = Pinger(server)
        pinger.start()
        rss_before = rss_kib(server.proc.pid)
        flood = H2Client(server.port)
        sent = 0
        try:
            for _ in range(a.resets):
                sid = flood.send("/v1/tasks/list.r3", bp.tasks_request(domain))
                flood.conn.reset_stream(sid)
                sent += 1
                if sent % 100 == 0:
                    flood.flush()
            flood.flush()
            deadline = time.monotonic() + 20
            while flood.goaway is None and time.monotonic() < deadline:
                flood.receive()
        except (ConnectionError, OSError, h2.exceptions.ProtocolError):
            # The server cut the connection while we were still sending: its GOAWAY is
            # in what is left to read.
            try:
                while flood.goaway is None:
                    flood.receive()
            except (ConnectionError, OSError, h2.exceptions.ProtocolError):
                pass
        flood.close()
        time.sleep(1)
        rss_after = rss_kib(server.proc.pid)
        code = flood.goaway.error_code if flood.goaway else None
        check(flood.goaway is not None, "rapid reset cut off with GOAWAY (%s) after %d resets sent" % (code, sent))
        check(rss_after < rss_before + 256 * 1024,
              "memory bounded under the flood (%d MiB before, %d MiB after)" % (rss_before >> 10, rss_after >> 10))
        pinger.stop.set()
        pinger.join(timeout=10)
        check(pinger.ok > 0 and pinger.failed == 0,
              "another client was served throughout (%d ok, %d failed)" % (pinger.ok, pinger.failed))
        check(server.proc.poll() is None, "server still up")
    finally:
        rc = server.stop()
        check(rc == 0, "server exits 0 on SIGTERM (got %s)" % rc)
    print("h2 test: %s" % ("passed" if not failures else "%d FAILED" % len(failures)))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
