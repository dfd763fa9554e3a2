#!/usr/bin/env python3
"""Metrics and operations test: starts the real binary with a health listener and an
access log, scrapes /metrics before and after driving requests, parses both with
Prometheus's own text-format parser (prometheus_client, installed into a virtualenv on
first use), and checks that every counter moved by exactly what the requests did.
Then the admin endpoints: the health check, /log-level, the access log's lines, and a
backup taken over HTTP that `bbs-server restore` installs and a second server serves.

Exit status 0 when every check passed.
"""

import argparse
import http.client
import http.server
import json
import os
import signal
import socket
import subprocess
import threading

from harness import ServerProcess, ensure_packages, free_port, wait_for


def ensure_prometheus_client():
    ensure_packages({"prometheus_client.parser": "prometheus_client"})


def eventually(condition, what, timeout=15):
    """The first truthy value of `condition()`, polled until `timeout`."""
    found = []
    if not wait_for(lambda: found.append(condition()) or found[-1], timeout, interval=0.05):
        raise AssertionError("timed out waiting for " + what)
    return found[-1]


class Server(ServerProcess):
    """The server with a health listener and an access log (and the log's own data dir
    unless `data` names another)."""

    def __init__(self, binary, work, data=None):
        self.health = free_port()
        self.access_log = os.path.join(work, "access.log")
        settings = {"health_address": "127.0.0.1:%d" % self.health, "access_log_path": self.access_log,
                    "converge_repeat_interval": "1h", "communication_timeout": "5s"}
        if data:
            settings["data_dir"] = data
        super().__init__(binary, work, **settings)
        self.api = self.port

    def start(self, timeout=30):
        assert super().start(timeout), "the server did not start; see %s/server.log" % self.work
        eventually(self.healthy, "the health listener")

    def healthy(self):
        try:
            return self.admin("GET", "/")[0] == 200
        except OSError:
            return False

    def admin(self, method, path, body=b""):
        c = http.client.HTTPConnection("127.0.0.1", self.health, timeout=10)
        try:
            c.request(method, path, body)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def post(self, route, obj, headers=None):
        """A JSON request on a new connection; returns (status, decoded answer)."""
        c = http.client.HTTPConnection("127.0.0.1", self.api, timeout=10)
        try:
            c.request("POST", route, json.dumps(obj), dict({"Content-Type": "application/json"}, **(headers or {})))
            r = c.getresponse()
            raw = r.read()
        finally:
            c.close()
        return r.status, (json.loads(raw) if r.getheader("Content-Type", "").startswith("application/json") else raw)

    def scrape(self):
        from prometheus_client.parser import text_string_to_metric_families
        status, body = self.admin("GET", "/metrics")
        assert status == 200, status
        samples, types = {}, {}
        for family in text_string_to_metric_families(body.decode()):
            types[family.name] = family.type
            for s in family.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return Scrape(samples, types)


class Scrape:
    def __init__(self, samples, types):
        self.samples, self.types = samples, types

    def get(self, name, **labels):
        return self.samples.get((name, tuple(sorted(labels.items()))), 0.0)

    def histograms(self):
        """(name, labels without le) of every histogram series."""
        series = set()
        for (name, labels) in self.samples:
            if name.endswith("_bucket"):
                series.add((name[:-len("_bucket")], tuple(kv for kv in labels if kv[0] != "le")))
        return series


class CallbackReceiver(http.server.ThreadingHTTPServer):
    """Answers every completion callback 200 and keeps the bodies."""

    def __init__(self):
        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def definition(callback_url=""):
    d = {"rootfs": "docker:///busybox", "action": {"run": {"path": "/bin/true", "user": "vcap"}}}
    if callback_url:
        d["completion_callback_url"] = callback_url
    return d


def ok(answer):
    status, body = answer
    assert status == 200 and isinstance(body, dict) and "error" not in body, answer
    return body


def error_type(answer):
    status, body = answer
    assert status == 200, answer
    return body.get("error", {}).get("type")


def main():
    ensure_prometheus_client()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    binary = os.path.abspath(args.binary)

    server = Server(binary, os.path.join(args.work, "main"))
    server.start()
    restored = None
    receiver = CallbackReceiver()
    try:
        run(server, receiver, binary, args.work)
        restored = check_backup(server, binary, args.work)
    finally:
        receiver.shutdown()
        for s in (server, restored):
            if s and s.proc and s.proc.poll() is None:
                status = s.stop()
                assert status == 0, "server exited with %s on SIGTERM" % status
            if s:
                s.log.close()
    print("ok   metrics and operations")


def run(server, receiver, binary, work):
    before = server.scrape()
    assert before.types["bbs_requests"] == "counter" and before.types["bbs_tasks"] == "gauge"
    assert before.types["bbs_request_duration_seconds"] == "histogram"
    for name in ("bbs_wal_records", "bbs_wal_batch_records", "bbs_wal_fsync_duration_seconds", "bbs_open_connections",
                 "bbs_event_subscribers", "bbs_task_callbacks", "bbs_requests_in_flight", "bbs_wal_failed"):
        assert name in before.types, name

    D, G, S, C = "/v1/tasks/desire.r2", "/v1/tasks/get_by_task_guid.r3", "/v1/tasks/start", "/v1/tasks/complete"
    for i in range(5):
        ok(server.post(D, {"task_guid": "m-%d" % i, "domain": "metrics", "task_definition": definition()}))
    assert error_type(server.post(D, {"task_guid": "m-0", "domain": "metrics", "task_definition": definition()})) == "ResourceExists"
    assert error_type(server.post(G, {"task_guid": "no-such-task"})) == "ResourceNotFound"
    assert error_type(server.post(S, {"task_guid": "m-0"})) == "InvalidRequest"
    status, _ = server.post("/v1/no/such/route", {}, {"X-Vcap-Request-Id": "metrics-test-404"})
    assert status == 404
    assert ok(server.post(S, {"task_guid": "m-0", "cell_id": "cell-1"}))["should_start"] is True
    ok(server.post(S, {"task_guid": "m-1", "cell_id": "cell-1"}))
    ok(server.post(C, {"task_guid": "m-1", "cell_id": "cell-1", "failed": False, "result": "done"}))

    # Completion callbacks: one delivered (the task is deleted), one to a closed port (given up).
    delivered_url = "http://127.0.0.1:%d/done" % receiver.server_address[1]
    failed_url = "http://127.0.0.1:%d/nobody" % free_port()
    for guid, url in (("cb-ok", delivered_url), ("cb-fail", failed_url)):
        ok(server.post(D, {"task_guid": guid, "domain": "callbacks", "task_definition": definition(url)}))
        ok(server.post(S, {"task_guid": guid, "cell_id": "cell-2"}))
        ok(server.post(C, {"task_guid": guid, "cell_id": "cell-2", "failed": False, "result": "r"}))
    eventually(lambda: server.scrape().get("bbs_task_callbacks_total", outcome="delivered") == 1 and
               server.scrape().get("bbs_task_callbacks_total", outcome="failed") == 1, "both callbacks to finish")
    assert [body["task_guid"] for body in receiver.received] == ["cb-ok"]
    # A delivery counts once its task is deleted.
    assert error_type(server.post(G, {"task_guid": "cb-ok"})) == "ResourceNotFound"

    after = server.scrape()

    def moved(name, **labels):
        return after.get(name, **labels) - before.get(name, **labels)

    def requests(route, outcome):
        return moved("bbs_requests_total", route=route, outcome=outcome)

    expected = [((D, "success"), 7), ((D, "ResourceExists"), 1), ((G, "ResourceNotFound"), 2),
                ((G, "success"), 0), ((S, "InvalidRequest"), 1), ((S, "success"), 4), ((C, "success"), 3),
                (("unmatched", "http_404"), 1), (("/v1/tasks/resolving", "success"), 0)]
    for (route, outcome), count in expected:
        assert requests(route, outcome) == count, (route, outcome, requests(route, outcome), count)
    assert moved("bbs_request_duration_seconds_count", route=D) == 8
    assert moved("bbs_request_duration_seconds_count", route=S) == 5
    assert after.get("bbs_requests_in_flight") == 0

    # Tasks by state: m-0 Running, m-1 Completed, m-2..4 Pending; cb-fail stays Resolving.
    for state, count in (("Pending", 3), ("Running", 1), ("Completed", 1), ("Resolving", 0)):
        assert after.get("bbs_tasks", domain="metrics", state=state) == count, (state, after.get("bbs_tasks", domain="metrics", state=state))
    assert after.get("bbs_tasks", domain="callbacks", state="Resolving") == 1

    # Every write is one log record: 7 desires, 4 starts, 3 completes, and the callbacks'
    # claims (2 to Resolving) and the delivered one's delete.
    assert moved("bbs_wal_records_total") == 17, moved("bbs_wal_records_total")
    batches = moved("bbs_wal_batches_total")
    assert 1 <= batches <= 17, batches
    assert moved("bbs_wal_batch_records_count") == batches
    assert moved("bbs_wal_batch_records_sum") == 17
    assert moved("bbs_wal_fsync_duration_seconds_count") == batches
    assert moved("bbs_wal_append_to_durable_seconds_count") == batches
    assert moved("bbs_wal_bytes_total") > 17 * 32
    assert after.get("bbs_wal_durable_sequence") >= 17 and after.get("bbs_wal_failed") == 0
    assert moved("bbs_task_callbacks_total", outcome="delivered") == 1
    assert moved("bbs_task_callbacks_total", outcome="failed") == 1
    assert after.get("process_open_fds") > 0

    # Histograms are well formed: cumulative buckets that end at the count.
    for name, labels in after.histograms():
        buckets = sorted(((float(dict(l)["le"]), v) for (n, l), v in after.samples.items()
                          if n == name + "_bucket" and tuple(kv for kv in l if kv[0] != "le") == labels))
        counts = [v for _, v in buckets]
        assert counts == sorted(counts), (name, labels, buckets)
        assert buckets[-1][0] == float("inf") and counts[-1] == after.samples[(name + "_count", labels)], (name, labels)

    # Connections and event subscribers, while they are open.
    held = http.client.HTTPConnection("127.0.0.1", server.api, timeout=10)
    held.request("POST", "/v1/ping", b"")
    held.getresponse().read()
    stream = socket.create_connection(("127.0.0.1", server.api))
    stream.sendall(b"POST /v1/events/tasks.r1 HTTP/1.1\r\nHost: bbs\r\nContent-Length: 0\r\n\r\n")
    assert stream.recv(4096).startswith(b"HTTP/1.1 200")
    # h2c by prior knowledge: the preface and an empty SETTINGS frame; the server's
    # SETTINGS answer shows it chose HTTP/2.
    h2c = socket.create_connection(("127.0.0.1", server.api))
    h2c.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
    assert h2c.recv(9)[3] == 4  # a SETTINGS frame
    settled = lambda s: s.get("bbs_event_subscribers") == 1 and s.get(
        "bbs_open_connections", listener="api", protocol="http/1.1") == 2
    during = eventually(lambda: (lambda s: s if settled(s) else None)(server.scrape()),
                        "the subscriber and the connections to be counted")
    assert during.get("bbs_open_connections", listener="api", protocol="http/1.1") == 2
    assert during.get("bbs_open_connections", listener="api", protocol="h2") == 1
    assert ("bbs_open_connections", (("listener", "api"), ("protocol", "tls-handshake"))) in during.samples
    assert during.get("bbs_open_connections", listener="api", protocol="tls-handshake") == 0
    assert during.get("bbs_open_connections", listener="health", protocol="http/1.1") >= 1
    h2c.close()
    stream.close()
    held.close()
    # The hub notices a gone subscriber when it next writes to it: publish one event.
    ok(server.post(D, {"task_guid": "nudge", "domain": "nudge", "task_definition": definition()}))
    eventually(lambda: server.scrape().get("bbs_event_subscribers") == 0, "the subscriber to be dropped")
    eventually(lambda: all(server.scrape().get("bbs_open_connections", listener="api", protocol=p) == 0
                           for p in ("http/1.1", "h2", "tls-handshake")), "connections to close")

    # Runtime log level, as the reference's debugserver.
    assert server.admin("POST", "/log-level", b"debug") == (200, b"/log-level was invoked with Level: debug\n")
    assert server.admin("GET", "/log-level") == (200, b"debug\n")
    assert server.admin("POST", "/log-level", b"noisy")[0] == 400
    assert server.admin("POST", "/log-level", b"info")[0] == 200
    assert server.admin("DELETE", "/anything") == (200, b"")

    # The access log: one line per API request, written off the request path.
    def access_lines():
        with open(server.access_log) as f:
            return [json.loads(line) for line in f if line.strip()]
    api_requests = sum(v for (n, _), v in server.scrape().samples.items() if n == "bbs_requests_total")
    lines = eventually(lambda: (lambda l: l if len(l) == api_requests else None)(access_lines()),
                       "an access log line per request (%d)" % api_requests)
    refused = [l for l in lines if l["data"]["request_id"] == "metrics-test-404"]
    assert len(refused) == 1, refused
    data = refused[0]["data"]
    assert refused[0]["message"] == "bbs-access.request.done" and refused[0]["source"] == "bbs-access"
    assert (data["method"], data["request"], data["status"], data["outcome"]) == \
        ("POST", "/v1/no/such/route", "404", "http_404"), data
    assert data["remote_addr"].startswith("127.0.0.1:") and int(data["duration"]) >= 0

    # Rotation by rename: after SIGHUP the server writes to a new file at the path.
    os.rename(server.access_log, server.access_log + ".1")
    server.proc.send_signal(signal.SIGHUP)

    def reopened():
        with open(os.path.join(server.work, "server.log")) as f:
            return "access-log-reopened" in f.read()
    eventually(reopened, "the access log to be reopened")
    assert ok(server.post("/v1/ping", {})) == {"available": True}
    eventually(lambda: os.path.exists(server.access_log) and len(access_lines()) == 1, "a line in the new file")
    assert access_lines()[0]["data"]["request"] == "/v1/ping"


def check_backup(server, binary, work):
    """GET /backup, restore it with the binary into a new data dir, serve it, compare."""
    c = http.client.HTTPConnection("127.0.0.1", server.health, timeout=30)
    c.request("GET", "/backup")
    r = c.getresponse()
    backup = r.read()
    assert r.status == 200 and r.getheader("Content-Type") == "application/octet-stream", r.status
    tasks = int(r.getheader("X-Bbs-Backup-Tasks"))
    path = os.path.join(work, "backup.snap")
    with open(path, "wb") as f:
        f.write(backup)
    # A download cut short is refused and leaves nothing behind.
    with open(path + ".cut", "wb") as f:
        f.write(backup[:-16])
    cut = subprocess.run([binary, "restore", "--from", path + ".cut", "--data-dir", os.path.join(work, "cut")],
                         capture_output=True, text=True)
    assert cut.returncode == 1 and "restore refused" in cut.stderr, cut
    assert not os.path.exists(os.path.join(work, "cut", "wal"))

    data = os.path.join(work, "restored-data")
    done = subprocess.run([binary, "restore", "--from", path, "--data-dir", data], capture_output=True, text=True)
    assert done.returncode == 0 and ("%d tasks" % tasks) in done.stdout, done
    inspected = subprocess.run([binary, "inspect", "--data-dir", data], capture_output=True, text=True)
    assert inspected.returncode == 0 and ("tasks: %d\n" % tasks) in inspected.stdout, inspected

    restored = Server(binary, os.path.join(work, "restored"), data=data)
    restored.start()

    def listing(s):
        answer = ok(s.post("/v1/tasks/list.r3", {}))
        return sorted((t["task_guid"], t["state"], t["domain"]) for t in answer.get("tasks", []))
    assert listing(restored) == listing(server) and len(listing(server)) == tasks
    return restored


if __name__ == "__main__":
    main()
