#!/usr/bin/env python3
"""Completion callbacks over mutual TLS (lifecycle.md §7): the server, itself serving
mutual TLS, posts callbacks with its own certificate (cert_file/key_file) as client
certificate and trusts the system store plus ca_file.

1. A receiver on https that REQUIRES a client certificate from the test CA gets the
   callback, sees the server's certificate, answers 200, and the task is deleted.
2. A receiver whose own certificate comes from another CA gets no callback (the server
   refuses its certificate, a permanent failure) and the task stays Resolving.
3. The same for a plain-http receiver: still delivered (http needs no certificate).

    callback_mtls_test.py --binary PATH --work DIR
"""

import argparse
import http.client
import http.server
import json
import os
import ssl
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ServerProcess, bbsproto as bp, free_port, wait_for  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


class Receiver:
    """Records (client certificate subject CN, body) of each callback and answers 200.
    With `certificate`, serves https and requires a client certificate signed by `ca`."""

    def __init__(self, port, certificate=None, key=None, ca=None):
        self.bodies = []
        self.handshake_failures = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                peer = self.connection.getpeercert() if hasattr(self.connection, "getpeercert") else None
                subject = dict(x[0] for x in peer["subject"]) if peer else {}
                receiver.bodies.append((subject.get("commonName"), json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                receiver.handshake_failures += 1

        self.server = Server(("127.0.0.1", port), Handler)
        if certificate:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certificate, key)
            context.load_verify_locations(ca)
            context.verify_mode = ssl.CERT_REQUIRED
            # The handshake runs in the handler's thread, so a refused client cannot
            # stall the accept loop.
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True,
                                                     do_handshake_on_connect=False)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self, guid):
        return [(cn, b) for cn, b in self.bodies if b["task_guid"] == guid]

    def close(self):
        self.server.shutdown()


class MutualTLSServer(ServerProcess):
    """The server on https with mutual TLS; calls use the test client certificate."""

    def __init__(self, binary, work, certs):
        self.certs = certs
        super().__init__(binary, work, require_ssl=True, ca_file=certs + "/ca.pem",
                         cert_file=certs + "/server.pem", key_file=certs + "/server.key",
                         communication_timeout="2s")
        self.url = "https://127.0.0.1:%d" % self.port
        self.context = ssl.create_default_context(cafile=certs + "/ca.pem")
        self.context.load_cert_chain(certs + "/client.pem", certs + "/client.key")

    def call(self, path, body, response=None, timeout=10):
        c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=self.context)
        try:
            c.request("POST", path, body, {"Content-Type": "application/x-protobuf"})
            data = c.getresponse().read()
        finally:
            c.close()
        return bp.decode(response, data) if response else data

    def state(self, guid):
        answer = self.call("/v1/tasks/get_by_task_guid.r3", bp.guid_request(guid), "TaskResponse")
        if answer.get("error", {}).get("type") == "ResourceNotFound":
            return None
        return answer["task"].get("state")

    def complete_with_callback(self, guid, url):
        self.call("/v1/tasks/desire.r2", bp.desire_request(guid, "mtls", callback=url), "TaskLifecycleResponse")
        self.call("/v1/tasks/cancel", bp.guid_request(guid), "TaskLifecycleResponse")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--work", required=True)
    a = p.parse_args()
    os.makedirs(a.work, exist_ok=True)
    certs = os.path.join(a.work, "certs")
    subprocess.check_call([os.path.join(ROOT, "scripts", "gen-certs"), certs], stdout=subprocess.DEVNULL)

    trusted_port, foreign_port, plain_port = free_port(), free_port(), free_port()
    trusted = Receiver(trusted_port, certs + "/server.pem", certs + "/server.key", certs + "/ca.pem")
    foreign = Receiver(foreign_port, certs + "/other-server.pem", certs + "/other-server.key", certs + "/ca.pem")
    plain = Receiver(plain_port)

    server = MutualTLSServer(a.binary, os.path.join(a.work, "server"), certs)
    failures = []
    if not server.start():
        print("server did not start; log:\n" + open(os.path.join(server.work, "server.log")).read()[-3000:])
        sys.exit(1)
    try:
        server.complete_with_callback("mtls-1", "https://127.0.0.1:%d/cb" % trusted_port)
        ok = wait_for(lambda: trusted.delivered("mtls-1") and server.state("mtls-1") is None, 15)
        print("callback to an mTLS receiver delivered and task deleted: %s" % ok)
        if not ok:
            failures.append("mtls-1: not delivered (%d handshake failures at the receiver), state %s"
                            % (trusted.handshake_failures, server.state("mtls-1")))
        else:
            cn, body = trusted.delivered("mtls-1")[0]
            if cn != "127.0.0.1":
                failures.append("mtls-1: the receiver saw client certificate CN %r, not the server's" % cn)
            if body.get("failure_reason") != "task was cancelled":
                failures.append("mtls-1: body %r" % body)

        server.complete_with_callback("mtls-2", "https://localhost:%d/cb" % foreign_port)
        resolving = wait_for(lambda: server.state("mtls-2") == "Resolving", 10)
        # Give a wrongly retried or wrongly accepted delivery time to show up.
        wait_for(lambda: foreign.bodies, 3)
        state = server.state("mtls-2")
        print("callback to a receiver with another CA's certificate: delivered %d, state %s"
              % (len(foreign.bodies), state))
        if foreign.bodies or not resolving or state != "Resolving":
            failures.append("mtls-2: expected no delivery and Resolving, got %d deliveries, state %s"
                            % (len(foreign.bodies), state))

        server.complete_with_callback("mtls-3", "http://127.0.0.1:%d/cb" % plain_port)
        ok = wait_for(lambda: plain.delivered("mtls-3") and server.state("mtls-3") is None, 15)
        print("callback to a plain-http receiver delivered and task deleted: %s" % ok)
        if not ok:
            failures.append("mtls-3: not delivered, state %s" % server.state("mtls-3"))
    finally:
        status = server.stop()
        for receiver in (trusted, foreign, plain):
            receiver.close()
    if status != 0:
        failures.append("server exited %r on SIGTERM" % status)
    for f in failures:
        print("FAIL " + f)
    if failures:
        print(open(os.path.join(server.work, "server.log")).read()[-3000:])
    print("callback mTLS test: %s" % ("passed" if not failures else "FAILED"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
