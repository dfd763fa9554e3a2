"""Operations limits, against the built server:

* with a descriptor limit of 64 and idle clients holding every connection they can, the
  write-ahead log still rolls to new segments (a reserve of descriptors stays for it);
* once the log has failed (a file size limit set on the running process), the health
  check answers 503 with the reason;
* ":PORT" listens on IPv4 and IPv6 (dual stack), for the API and the health listener;
* cancelling a Running task forwards the request's X-Vcap-Request-Id to the rep;
* --check-config refuses TLS files the server would refuse, and says which key; it and
  the server exit 2 on a configuration problem; a fraction for an integer key and an
  access log that cannot be opened are reported with the key.

    python3 Tests/Integration/ops_limits_test.py --binary .build/debug/bbs-server --work /tmp/ops-limits
"""

import argparse
import http.client
import http.server
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ServerProcess, bbsproto as bp, free_port, wait_for  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def rpc(port, path, body, response="TaskLifecycleResponse", headers=None, host="127.0.0.1"):
    c = http.client.HTTPConnection(host, port, timeout=30)
    try:
        h = {"Content-Type": "application/x-protobuf"}
        h.update(headers or {})
        c.request("POST", path, body, h)
        return bp.decode(response, c.getresponse().read())
    finally:
        c.close()


def health(port, path="/"):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def start(binary, work, config, preexec=None):
    os.makedirs(work, exist_ok=True)
    path = os.path.join(work, "config.json")
    with open(path, "w") as f:
        json.dump(config, f)
    log = open(os.path.join(work, "server.log"), "wb")
    proc = subprocess.Popen([binary, "--config", path], stdout=log, stderr=log, preexec_fn=preexec)
    port = int(config["listen_address"].rsplit(":", 1)[1])
    up = wait_for(lambda: proc.poll() is None and ping(port), 30)
    assert up, open(os.path.join(work, "server.log")).read()[-2000:]
    return proc


def ping(port, host="127.0.0.1"):
    try:
        return rpc(port, "/v1/ping", b"", "PingResponse", host=host).get("available") is True
    except OSError:
        return False


def stop(proc):
    proc.terminate()
    assert proc.wait(timeout=30) == 0


def big_lifecycle(port, guid, size):
    assert rpc(port, "/v1/tasks/desire.r2", bp.desire_request(guid, "limits")) == {}
    rpc(port, "/v1/tasks/start", bp.start_request(guid, "cell-1"), "StartTaskResponse")
    return rpc(port, "/v1/tasks/complete", bp.complete_request(guid, "cell-1", result="R" * size))


def descriptor_exhaustion(binary, work):
    port, hport = free_port(), free_port()

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    proc = start(binary, work, {"listen_address": "127.0.0.1:%d" % port, "health_address": "127.0.0.1:%d" % hport,
                                "data_dir": os.path.join(work, "data"), "wal_fsync": False}, limit)
    try:
        log = open(os.path.join(work, "server.log")).read()
        limits = [json.loads(line) for line in log.splitlines() if "connection-limits" in line]
        assert limits and int(limits[0]["data"]["max_connections"]) < 64, limits
        # Hold every connection the server accepts (the rest wait unanswered in the backlog).
        held = []
        while len(held) < 200:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            held.append(s)
            s.settimeout(0.5)
            try:
                s.sendall(b"POST /v1/ping HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
                if not s.recv(10):
                    break
            except OSError:
                break
        accepted = len(held) - 1
        assert 0 < accepted <= int(limits[0]["data"]["max_connections"]), (accepted, limits)
        # The last connection is in the backlog: free one slot so the writes get through,
        # and keep the rest held while the log rolls over several 64 MB segments.
        held.pop(0).close()
        held.pop().close()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            for i in range(40):
                c.request("POST", "/v1/tasks/desire.r2", bp.desire_request("fd-%d" % i, "limits"),
                          {"Content-Type": "application/x-protobuf"})
                assert bp.decode("TaskLifecycleResponse", c.getresponse().read()) == {}
                c.request("POST", "/v1/tasks/start", bp.start_request("fd-%d" % i, "cell-1"),
                          {"Content-Type": "application/x-protobuf"})
                c.getresponse().read()
                c.request("POST", "/v1/tasks/complete", bp.complete_request("fd-%d" % i, "cell-1", result="R" * (4 << 20)),
                          {"Content-Type": "application/x-protobuf"})
                answer = bp.decode("TaskLifecycleResponse", c.getresponse().read())
                assert answer == {}, ("write %d with descriptors held" % i, str(answer)[:300])
        finally:
            c.close()
        status, body = health(hport, "/metrics")
        assert status == 200 and "bbs_wal_failed 0" in body, body[:500]
        assert health(hport)[0] == 200
        for s in held:
            s.close()
    finally:
        stop(proc)
    print("descriptor limit 64: log kept writing with %d idle connections held" % accepted)


def failed_log_health(binary, work):
    port, hport = free_port(), free_port()

    def ignore_xfsz():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    proc = start(binary, work, {"listen_address": "127.0.0.1:%d" % port, "health_address": "127.0.0.1:%d" % hport,
                                "data_dir": os.path.join(work, "data"), "wal_fsync": False}, ignore_xfsz)
    try:
        assert health(hport) == (200, "")
        # Writes beyond 1 MB of the segment now fail with EFBIG: the log fails for good.
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
        big_lifecycle(port, "big-1", 1 << 20)
        status, body = health(hport)
        assert status == 503 and body.startswith("unhealthy: writes are refused until a restart"), (status, body)
        assert "bbs_wal_failed 1" in health(hport, "/metrics")[1]
    finally:
        stop(proc)
    print("failed log: health check 503 (%s)" % body.strip()[:80])


def dual_stack(binary, work):
    port, hport = free_port(), free_port()
    proc = start(binary, work, {"listen_address": ":%d" % port, "health_address": ":%d" % hport,
                                "data_dir": os.path.join(work, "data")})
    try:
        log = open(os.path.join(work, "server.log")).read()
        started = [json.loads(line) for line in log.splitlines() if '"bbs.started"' in line][0]["data"]
        assert ping(port)
        assert health(hport)[0] == 200
        if started["listen_address"].startswith("[::]"):
            assert ping(port, host="::1"), "IPv6 refused on a dual-stack listener"
            c = http.client.HTTPConnection("::1", hport, timeout=5)
            c.request("GET", "/")
            assert c.getresponse().status == 200
            c.close()
            print("':PORT' answers 127.0.0.1 and [::1] (%s)" % started)
        else:
            assert started["listen_address"].startswith("0.0.0.0:"), started
            print("':PORT': no IPv6 here, listening on %s" % started)
    finally:
        stop(proc)


def cancel_request_id(binary, work):
    received = []

    class Rep(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            received.append((self.path, self.headers.get("X-Vcap-Request-Id")))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    rep = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Rep)
    threading.Thread(target=rep.serve_forever, daemon=True).start()
    os.makedirs(work, exist_ok=True)
    cells = os.path.join(work, "cells.json")
    with open(cells, "w") as f:
        json.dump({"cells": [{"cell_id": "cell-1", "rep_url": "http://127.0.0.1:%d" % rep.server_address[1]}]}, f)
    port = free_port()
    proc = start(binary, work, {"listen_address": "127.0.0.1:%d" % port, "data_dir": os.path.join(work, "data"),
                                "cell_registry_file": cells})
    try:
        for guid, rid in [("rid-1", "3f2a6c1e-1111-2222-3333-444455556666"), ("rid-2", None)]:
            assert rpc(port, "/v1/tasks/desire.r2", bp.desire_request(guid, "rid")) == {}
            rpc(port, "/v1/tasks/start", bp.start_request(guid, "cell-1"), "StartTaskResponse")
            headers = {"X-Vcap-Request-Id": rid} if rid else {}
            assert rpc(port, "/v1/tasks/cancel", bp.guid_request(guid), headers=headers) == {}
        assert wait_for(lambda: len(received) == 2, 10), received
        assert dict(received) == {"/v1/tasks/rid-1/cancel": "3f2a6c1e-1111-2222-3333-444455556666",
                                  "/v1/tasks/rid-2/cancel": None}, received
    finally:
        stop(proc)
        rep.shutdown()
    print("cancel forwards X-Vcap-Request-Id to the rep: %s" % received)


def configuration_problems(binary, work):
    os.makedirs(work, exist_ok=True)
    certs, other = os.path.join(work, "certs"), os.path.join(work, "certs2")
    for directory in (certs, other):
        subprocess.run([os.path.join(ROOT, "scripts", "gen-certs"), directory], check=True, stdout=subprocess.DEVNULL)
    garbage = os.path.join(work, "garbage.pem")
    with open(garbage, "w") as f:
        f.write("garbage\n")

    def run(name, config, serve=True):
        path = os.path.join(work, name + ".json")
        config.setdefault("listen_address", "127.0.0.1:%d" % free_port())
        config.setdefault("data_dir", os.path.join(work, name + "-data"))
        with open(path, "w") as f:
            json.dump(config, f)
        check = subprocess.run([binary, "--check-config", "--config", path], capture_output=True, text=True)
        served = subprocess.run([binary, "--config", path], capture_output=True, text=True, timeout=30) if serve else None
        return check, served

    for name, cert, key, ca, bad_key in [
        ("mismatch", "certs/server.pem", "certs2/server.key", "certs/ca.pem", "key_file"),
        ("garbage-ca", "certs/server.pem", "certs/server.key", "garbage.pem", "ca_file"),
        ("key-as-cert", "certs/server.key", "certs/server.key", "certs/ca.pem", "cert_file"),
    ]:
        check, served = run(name, {"require_ssl": True, "cert_file": os.path.join(work, cert),
                                   "key_file": os.path.join(work, key), "ca_file": os.path.join(work, ca)})
        assert check.returncode == 2 and (": %s: " % bad_key) in check.stderr, (name, check)
        assert served.returncode == 2, (name, served)
    check, _ = run("fraction", {"max_task_retries": 3.5}, serve=False)
    assert check.returncode == 2 and "max_task_retries: must be an integer" in check.stderr, check
    with open(os.path.join(work, "not-a-directory"), "w"):
        pass
    access = os.path.join(work, "not-a-directory", "access.log")
    check, served = run("access-log", {"access_log_path": access})
    assert check.returncode == 2 and "access_log_path" in check.stderr, check
    assert served.returncode == 2 and ("access_log_path: cannot open %s" % access) in served.stderr, served
    check, _ = run("good", {"require_ssl": True, "cert_file": os.path.join(certs, "server.pem"),
                            "key_file": os.path.join(certs, "server.key"), "ca_file": os.path.join(certs, "ca.pem")},
                   serve=False)
    assert check.returncode == 0 and check.stdout.strip().endswith("OK"), check
    print("configuration problems: check and start exit 2, each with its key")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    descriptor_exhaustion(args.binary, os.path.join(args.work, "fd"))
    failed_log_health(args.binary, os.path.join(args.work, "failed-log"))
    dual_stack(args.binary, os.path.join(args.work, "dual-stack"))
    cancel_request_id(args.binary, os.path.join(args.work, "cancel"))
    configuration_problems(args.binary, os.path.join(args.work, "config"))
    print("ops limits: all passed")


if __name__ == "__main__":
    main()
