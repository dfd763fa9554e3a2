#!/usr/bin/env python3
"""The server's outbound calls over mutual TLS, against the real binary.

Completion callbacks (lifecycle.md §7): the server, itself serving mutual TLS, posts
callbacks with its own certificate (cert_file/key_file) as client certificate and trusts
the system store plus ca_file.
1. A receiver on https that REQUIRES a client certificate from the test CA gets the
   callback, sees the server's certificate, answers 200, and the task is deleted; again
   after SIGHUP (which re-reads the outbound clients' certificates too).
2. A receiver whose own certificate comes from another CA gets no callback (the server
   refuses its certificate, a permanent failure) and the task stays Resolving.
3. A plain-http receiver still gets its callback (http needs no certificate).

Auction requests (lifecycle.md §5) with the auctioneer_* certificates:
4. auctioneer_require_tls: an https auctioneer requiring the client certificate gets the
   request (auctioneer_address says http; configured certificates mean https).
5. Without auctioneer_require_tls, a plain-http auctioneer still gets it (fallback).
6. With auctioneer_require_tls, a plain-http auctioneer gets nothing.

Rep cancels (lifecycle.md §6) with the rep_* certificates and rep_require_tls:
7. An https rep requiring the client certificate is told of the cancel.
8. A rep with an http rep_url is not called.

    outbound_mtls_test.py --binary PATH --work DIR
"""

import argparse
import http.client
import http.server
import json
import os
import signal
import ssl
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ServerProcess, bbsproto as bp, free_port, wait_for  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


class Receiver:
    """Records (client certificate subject CN, body) of each JSON callback, and
    (CN, path) of every POST, answering `status`. With `certificate`, serves https and
    requires a client certificate signed by `ca`."""

    def __init__(self, port, certificate=None, key=None, ca=None, status=200):
        self.bodies = []
        self.posts = []
        self.handshake_failures = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                peer = self.connection.getpeercert() if hasattr(self.connection, "getpeercert") else None
                subject = dict(x[0] for x in peer["subject"]) if peer else {}
                receiver.posts.append((subject.get("commonName"), self.path))
                if body:
                    receiver.bodies.append((subject.get("commonName"), json.loads(body)))
                self.send_response(status)
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

    def __init__(self, binary, work, certs, **config):
        self.certs = certs
        super().__init__(binary, work, require_ssl=True, ca_file=certs + "/ca.pem",
                         cert_file=certs + "/server.pem", key_file=certs + "/server.key",
                         communication_timeout="2s", **config)
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


def auctioneer_and_rep(a, certs):
    """Cases 4-8; returns the failures."""
    failures = []
    client = {"ca": certs + "/ca.pem", "cert": certs + "/client.pem", "key": certs + "/client.key"}

    def auctioneer_keys(require_tls):
        return {"auctioneer_ca_cert": client["ca"], "auctioneer_client_cert": client["cert"],
                "auctioneer_client_key": client["key"], "auctioneer_require_tls": require_tls}

    secure_port, plain_port, rep_port, plain_rep_port = free_port(), free_port(), free_port(), free_port()
    secure = Receiver(secure_port, certs + "/server.pem", certs + "/server.key", certs + "/ca.pem", status=202)
    plain = Receiver(plain_port, status=202)
    rep = Receiver(rep_port, certs + "/server.pem", certs + "/server.key", certs + "/ca.pem", status=202)
    plain_rep = Receiver(plain_rep_port, status=202)
    registry = os.path.join(a.work, "cells.json")
    with open(registry, "w") as f:
        json.dump({"cells": [{"cell_id": "cell-tls", "rep_url": "https://127.0.0.1:%d" % rep_port},
                             {"cell_id": "cell-plain", "rep_url": "http://127.0.0.1:%d" % plain_rep_port}]}, f)

    cases = [
        ("auctioneer over mTLS (require_tls)", secure, True, dict(auctioneer_keys(True))),
        ("auctioneer fallback to http", plain, True, dict(auctioneer_keys(False))),
        ("auctioneer require_tls refuses http", plain, False, dict(auctioneer_keys(True))),
    ]
    for number, (name, receiver, expected, config) in enumerate(cases):
        config["auctioneer_address"] = "http://127.0.0.1:%d" % (secure_port if receiver is secure else plain_port)
        if number == 0:  # the rep checks ride along with the first server
            config.update(cell_registry_file=registry, rep_ca_cert=client["ca"], rep_client_cert=client["cert"],
                          rep_client_key=client["key"], rep_require_tls=True)
        server = MutualTLSServer(a.binary, os.path.join(a.work, "auction-%d" % number), certs, **config)
        if not server.start():
            failures.append("%s: server did not start" % name)
            continue
        try:
            guid = "auction-%d" % number
            server.call("/v1/tasks/desire.r2", bp.desire_request(guid, "mtls"), "TaskLifecycleResponse")
            seen = lambda: [cn for cn, path in receiver.posts if path == "/v1/tasks"]  # noqa: E731
            got = wait_for(lambda: seen(), 5 if expected else 3)
            print("%s: request received %s (client certificate CN %r)" % (name, got, (seen() or [None])[0]))
            if got != expected:
                failures.append("%s: expected received=%s" % (name, expected))
            elif got and receiver is secure and seen()[0] != "bbs-client":
                failures.append("%s: client certificate CN %r" % (name, seen()[0]))
            plain.posts.clear()

            if number == 0:
                for cell, rep_receiver, wanted in (("cell-tls", rep, True), ("cell-plain", plain_rep, False)):
                    task = "rep-" + cell
                    server.call("/v1/tasks/desire.r2", bp.desire_request(task, "mtls"), "TaskLifecycleResponse")
                    server.call("/v1/tasks/start", bp.start_request(task, cell), "StartTaskResponse")
                    server.call("/v1/tasks/cancel", bp.guid_request(task), "TaskLifecycleResponse")
                    path = "/v1/tasks/%s/cancel" % task
                    notified = wait_for(lambda: any(p == path for _, p in rep_receiver.posts), 5 if wanted else 3)
                    print("rep cancel to %s: notified %s" % (cell, notified))
                    if notified != wanted:
                        failures.append("rep cancel to %s: expected notified=%s" % (cell, wanted))
                    elif notified and [cn for cn, p in rep_receiver.posts if p == path][0] != "bbs-client":
                        failures.append("rep cancel to %s: wrong client certificate" % cell)
        finally:
            if server.stop() != 0:
                failures.append("%s: server did not exit 0" % name)
    for receiver in (secure, plain, rep, plain_rep):
        receiver.close()
    return failures


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

    failures = []
    server = MutualTLSServer(a.binary, os.path.join(a.work, "server"), certs)
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

        # SIGHUP re-reads the callback client's certificate with the listener's; callbacks go on.
        server.proc.send_signal(signal.SIGHUP)
        server.complete_with_callback("mtls-1b", "https://127.0.0.1:%d/cb" % trusted_port)
        ok = wait_for(lambda: trusted.delivered("mtls-1b") and server.state("mtls-1b") is None, 15)
        print("callback after SIGHUP delivered: %s" % ok)
        if not ok:
            failures.append("mtls-1b: not delivered after SIGHUP, state %s" % server.state("mtls-1b"))

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
    failures += auctioneer_and_rep(a, certs)
    for f in failures:
        print("FAIL " + f)
    if failures:
        print(open(os.path.join(server.work, "server.log")).read()[-3000:])
    print("outbound mTLS test: %s" % ("passed" if not failures else "FAILED"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
