#!/usr/bin/env python3
"""Hostile-input test against the real binary (issue 2 acceptance): a garbage body, a
truncated protobuf, a 100 MB body, a request with 10,000 headers and a client that sends
half a request and stalls each get the reference's answer or a clean 4xx/timeout, while
another client keeps being served, and the server stays up with bounded memory.

    abuse_test.py --binary PATH --work DIR

Exit status 0 when every check held.
"""

import argparse
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ServerProcess, bbsproto as bp  # noqa: E402

REQUEST_TIMEOUT_S = 2
failures = []


def check(condition, what):
    print(("ok    " if condition else "FAIL  ") + what)
    if not condition:
        failures.append(what)


def connect(port, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_response(s, deadline=10):
    """Reads one HTTP/1.1 response; returns (status, headers dict, body) or None on close."""
    s.settimeout(deadline)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length]


def post(port, path, body, extra=b""):
    s = connect(port)
    try:
        s.sendall(b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-protobuf\r\n%s"
                  b"Content-Length: %d\r\n\r\n" % (path.encode(), extra, len(body)) + body)
        return read_response(s)
    finally:
        s.close()


def ping_ok(port):
    r = post(port, "/v1/ping", b"")
    return r is not None and r[0] == 200 and r[2] == b"\x08\x01"


def closed_by_peer(s, wait):
    s.settimeout(wait)
    try:
        while True:
            if not s.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def big_task_desire(guid, domain):
    """A desire whose task carries a 1 MiB environment variable: each list of its domain
    is a 1 MiB answer."""
    env = bp.f_msg(2, bp.f_bytes(1, "BIG") + bp.f_bytes(2, "v" * (1 << 20)))  # environment_variables
    return bp.f_msg(1, bp.task_definition() + env) + bp.f_bytes(2, guid) + bp.f_bytes(3, domain)


def check_pipelining_without_reading(port, pid, count=300):
    """Many pipelined requests with 1 MiB answers on a socket that reads nothing: the
    server holds about one answer for it, not one per request; once the client reads,
    every request is answered."""
    r = post(port, "/v1/tasks/desire.r2", big_task_desire("abuse-big", "abuse-big"))
    check(r is not None and r[0] == 200 and r[2] == b"", "a task with a 1 MiB variable is desired")
    body = bp.tasks_request("abuse-big")
    request = (b"POST /v1/tasks/list.r3 HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-protobuf\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body)) + body
    rss_before = rss_kib(pid)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(request * count)
    time.sleep(2)
    rss_unread = rss_kib(pid)
    check(rss_unread < rss_before + 64 * 1024,
          "%d pipelined 1 MiB answers, none read: resident memory %d -> %d MiB"
          % (count, rss_before >> 10, rss_unread >> 10))
    answered, data = 0, bytearray()
    s.settimeout(20)
    try:
        while answered < count:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            data += chunk
            while True:  # every complete answer in `data`
                end = data.find(b"\r\n\r\n")
                if end < 0:
                    break
                head = bytes(data[:end]).decode("latin-1").split("\r\n")
                length = int(next(l.split(":", 1)[1] for l in head if l.lower().startswith("content-length:")))
                if len(data) < end + 4 + length:
                    break
                if head[0].split()[1] == "200" and length > 1 << 20:
                    answered += 1
                del data[:end + 4 + length]
    except (OSError, StopIteration, ValueError):
        pass
    check(answered == count, "then read: %d of %d pipelined requests answered" % (answered, count))
    s.close()


class Pinger(threading.Thread):
    """Another client that keeps pinging on one keep-alive connection during the abuse."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.stop, self.ok, self.failed = port, threading.Event(), 0, 0

    def run(self):
        s = connect(self.port)
        while not self.stop.is_set():
            try:
                s.sendall(b"POST /v1/ping HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
                r = read_response(s, deadline=5)
                if r and r[0] == 200:
                    self.ok += 1
                else:
                    self.failed += 1
            except OSError:
                self.failed += 1
                s = connect(self.port)
            time.sleep(0.01)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--work", required=True)
    a = p.parse_args()
    server = ServerProcess(a.binary, a.work, request_timeout="%ds" % REQUEST_TIMEOUT_S,
                           max_request_body_bytes=16 << 20)
    port = server.port
    try:
        server.start()
        check(ping_ok(port), "server answers ping")
        pinger = Pinger(port)
        pinger.start()
        rss_before = rss_kib(server.proc.pid)

        # Garbage and truncated protobuf: 200 + InvalidRequest "the request received is invalid".
        for name, body in [("garbage body", b"\xff" * 64),
                           ("truncated protobuf", bp.desire_request("abuse-1", "abuse")[:-5])]:
            r = post(port, "/v1/tasks/desire.r2", body)
            answer = bp.decode("TaskLifecycleResponse", r[2]) if r else {}
            check(r is not None and r[0] == 200 and answer.get("error", {}).get("type") == "InvalidRequest"
                  and answer["error"].get("message") == "the request received is invalid",
                  "%s -> 200 InvalidRequest (%r)" % (name, answer))

        # 100 MB body: refused from its Content-Length with 413 and a close, without reading it.
        s = connect(port)
        size = 100 << 20
        s.sendall(b"POST /v1/tasks/desire.r2 HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % size)
        sent = 0
        block = b"\x00" * (1 << 20)
        try:
            while sent < size:
                s.sendall(block)
                sent += len(block)
        except OSError:
            pass
        r = None
        try:
            r = read_response(s)
        except OSError:
            pass
        check(r is None or r[0] == 413, "100 MB body -> 413 or close (got %s after sending %d MB)"
              % (r and r[0], sent >> 20))
        s.close()

        # 10,000 headers: 431 and a close.
        s = connect(port)
        head = b"POST /v1/ping HTTP/1.1\r\nHost: t\r\n" + b"".join(
            b"X-Filler-%d: v\r\n" % i for i in range(10000)) + b"Content-Length: 0\r\n\r\n"
        try:
            s.sendall(head)
        except OSError:
            pass
        r = None
        try:
            r = read_response(s)
        except OSError:
            pass
        check(r is not None and r[0] == 431, "10,000 headers -> 431 (got %s)" % (r and r[0]))
        check(closed_by_peer(s, 5), "connection closed after 431")
        s.close()

        # Half a request, then silence: 408 or a close once request_timeout has passed.
        s = connect(port)
        s.sendall(b"POST /v1/tasks/desire.r2 HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n\x0a\x05")
        started = time.monotonic()
        r = None
        try:
            r = read_response(s, deadline=REQUEST_TIMEOUT_S + 10)
        except OSError:
            pass
        waited = time.monotonic() - started
        check((r is None or r[0] == 408) and waited < REQUEST_TIMEOUT_S + 5,
              "stalled half request -> 408/close after %.1fs (got %s)" % (waited, r and r[0]))
        s.close()

        # Many stalled clients at once do not stop service.
        stalled = []
        for _ in range(200):
            c = connect(port)
            c.sendall(b"POST /v1/ping HTTP/1.1\r\nHost: t\r\n")
            stalled.append(c)
        check(ping_ok(port), "ping answered while 200 clients stall mid-head")
        for c in stalled:
            c.close()

        check_pipelining_without_reading(port, server.proc.pid)

        pinger.stop.set()
        pinger.join(timeout=10)
        check(pinger.ok > 0 and pinger.failed == 0,
              "the other client was served throughout (%d ok, %d failed)" % (pinger.ok, pinger.failed))
        check(server.proc.poll() is None and ping_ok(port), "server still up")
        rss_after = rss_kib(server.proc.pid)
        check(rss_after < rss_before + 64 * 1024,
              "resident memory bounded (%d KiB before, %d KiB after)" % (rss_before, rss_after))
    finally:
        rc = server.stop()
        check(rc == 0, "server exits 0 on SIGTERM (got %s)" % rc)
    print("abuse test: %d failed" % len(failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
