#!/usr/bin/env python3
"""Helpers for scripts/bench (Python 3 standard library only).

Subcommands:
  nginx-conf DIR PORT              write DIR/nginx.conf: a static ~100-byte protobuf answer to every POST
  wait-ping URL T0_NS TIMEOUT_S    poll POST /v1/ping until it answers 200; print seconds since T0_NS
  rss PID                          print "rss_bytes=<VmRSS> hwm_bytes=<VmHWM>" from /proc/PID/status
  task-size URL GUID               print the encoded size of the stored Task (field 2 of TaskResponse)
  list-latency URL DOMAIN N REPS   time REPS lists of DOMAIN (must hold N tasks); print median/min/max ms
  fsync DIR SECONDS                fdatasync probe in DIR: records/s with one sync per 1 and per 64 records
  summarize RUNS EXTRAS            print the result table from the kit lines in RUNS and the key=value
                                   lines in EXTRAS (see scripts/bench)
"""
import http.client
import os
import statistics
import sys
import time
import urllib.parse

sys.path.insert(0, os.environ.get("BENCH_LIB", ""))
import bbsbench  # noqa: E402  (the kit's encoder/decoder, lib/bbsbench.py)

CT = {"Content-Type": "application/x-protobuf"}


def connect(url, timeout=120):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)


# ---------------------------------------------------------------- nginx

def nginx_body():
    """~100 bytes that every workload script of the kit accepts as a good answer: a valid
    protobuf with no `error` field (1), exactly one length-delimited field 2 (get: "one task")
    and a varint field 2 = 1 (lifecycle start: should_start). Avoids the bytes nginx's
    `return` text treats specially ('"', '\\', '$') and NUL."""
    for pad in range(30, 50):  # the first padding whose length bytes are none of those
        task = (bbsbench.f_bytes(2, "nginx-static-answer-0123456789abcde")
                + bbsbench.f_bytes(3, "nginx-static-domain")
                + bbsbench.f_varint(7, 1)
                + bbsbench.f_bytes(11, "p" * pad))
        body = bbsbench.f_bytes(2, task) + bbsbench.f_varint(2, 1)
        if len(body) >= 100 and not set(body) & set(b'"\\$\x00'):
            break
    return body


def cmd_nginx_conf(directory, port):
    body = nginx_body()
    conf = (
        "# written by scripts/bench: a static protobuf answer to every request\n"
        "daemon off;\n"
        "worker_processes auto;\n"
        "pid %(d)s/nginx.pid;\n"
        "error_log %(d)s/error.log warn;\n"
        "events { worker_connections 4096; }\n"
        "http {\n"
        "  access_log off;\n"
        "  client_body_temp_path %(d)s/body;\n"
        "  proxy_temp_path %(d)s/proxy;\n"
        "  fastcgi_temp_path %(d)s/fastcgi;\n"
        "  uwsgi_temp_path %(d)s/uwsgi;\n"
        "  scgi_temp_path %(d)s/scgi;\n"
        "  keepalive_requests 100000000;\n"
        "  keepalive_timeout 300s;\n"
        "  server {\n"
        "    listen 127.0.0.1:%(p)s;\n"
        "    location / {\n"
        "      default_type application/x-protobuf;\n"
        "      return 200 \"" % {"d": directory, "p": port}
    ).encode() + body + b"\";\n    }\n  }\n}\n"
    with open(os.path.join(directory, "nginx.conf"), "wb") as f:
        f.write(conf)
    print(len(body))
    return 0


# ---------------------------------------------------------------- server probes

def cmd_wait_ping(url, t0_ns, timeout_s):
    t0, deadline = int(t0_ns), time.monotonic() + float(timeout_s)
    u = urllib.parse.urlsplit(url)
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=5)
            c.request("POST", "/v1/ping", body=b"", headers=CT)
            r = c.getresponse()
            r.read()
            c.close()
            if r.status == 200:
                print("%.3f" % ((time.time_ns() - t0) / 1e9))
                return 0
        except OSError:
            pass
        time.sleep(0.002)
    print("timeout")
    return 1


def cmd_rss(pid):
    fields = {}
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                fields[k] = int(v.split()[0]) * 1024
    print("rss_bytes=%d hwm_bytes=%d" % (fields["VmRSS"], fields["VmHWM"]))
    return 0


def cmd_task_size(url, guid):
    c = connect(url)
    c.request("POST", "/v1/tasks/get_by_task_guid.r3", body=bbsbench.guid_body(guid), headers=CT)
    body = c.getresponse().read()
    for num, wt, v in bbsbench.fields(body):
        if num == 2 and wt == 2:
            print(len(v))
            return 0
    print("task-size: %s not found (%s)" % (guid, bbsbench.error_of(body)), file=sys.stderr)
    return 1


def cmd_list_latency(url, domain, n, reps):
    n, reps = int(n), int(reps)
    c = connect(url)
    req = bbsbench.f_bytes(1, domain)
    times, size = [], 0
    for _ in range(reps):
        t = time.perf_counter()
        c.request("POST", "/v1/tasks/list.r3", body=req, headers=CT)
        r = c.getresponse()
        body = r.read()
        times.append((time.perf_counter() - t) * 1000)
        size = len(body)
        if r.status != 200 or bbsbench.error_of(body):
            print("list-latency: HTTP %d %s" % (r.status, bbsbench.error_of(body)), file=sys.stderr)
            return 1
    got = len(bbsbench.tasks_of(body))
    if got != n:
        print("list-latency: %s holds %d tasks, expected %d" % (domain, got, n), file=sys.stderr)
        return 1
    print("median_ms=%.1f min_ms=%.1f max_ms=%.1f bytes=%d tasks=%d"
          % (statistics.median(times), min(times), max(times), size, got))
    return 0


# ---------------------------------------------------------------- disk

def cmd_fsync(directory, seconds):
    """The disk's durable-append limit, shaped like the write-ahead log: 400-byte records
    (about one desire) written with pwrite at increasing offsets, one fdatasync per batch of
    1 or 64. Twice: in a file reserved with posix_fallocate, as BBSWAL reserves each
    segment (every sync that reaches a new block also converts an unwritten extent, a
    metadata write), and in a file filled with zeros beforehand (data-only syncs)."""
    seconds = float(seconds)
    record = b"r" * 400
    size = 64 << 20
    out = []
    for prefix, zero_filled in (("fsync", False), ("fsync_zero", True)):
        for batch in (1, 64):
            path = os.path.join(directory, "fsync-probe.bin")
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                if zero_filled:
                    zeros = bytes(1 << 20)
                    for i in range(size >> 20):
                        os.pwrite(fd, zeros, i << 20)
                else:
                    os.posix_fallocate(fd, 0, size)
                os.fsync(fd)
                chunk = record * batch
                off, syncs = 0, 0
                t0 = time.perf_counter()
                while time.perf_counter() - t0 < seconds and off + len(chunk) <= size:
                    os.pwrite(fd, chunk, off)
                    os.fdatasync(fd)
                    off += len(chunk)
                    syncs += 1
                dt = time.perf_counter() - t0
            finally:
                os.close(fd)
                os.unlink(path)
            out.append("%s_b%d_syncs_per_s=%.0f %s_b%d_records_per_s=%.0f"
                       % (prefix, batch, syncs / dt, prefix, batch, syncs * batch / dt))
    print(" ".join(out))
    return 0


# ---------------------------------------------------------------- summary

def kv(line):
    d = {}
    for tok in line.split():
        if "=" in tok:
            k, _, v = tok.partition("=")
            d[k] = v
    return d


def num(d, k, default=0.0):
    try:
        return float(d.get(k, default))
    except ValueError:
        return default


def cmd_summarize(runs_path, extras_path):
    # runs: "<server>\t<conns>\t<rep>\t<kit workload line>"
    rows = {}
    with open(runs_path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 4 or not parts[3].startswith("workload="):
                continue
            server, conns, _, rest = parts
            d = kv(rest)
            rows.setdefault((server, int(conns), d["workload"]), []).append(d)
    extras = {}
    if os.path.exists(extras_path):
        with open(extras_path) as f:
            for line in f:
                extras.update(kv(line))

    def med(ds, k):
        return statistics.median([num(d, k) for d in ds]) if ds else 0.0

    order = ["desire", "get", "list", "lifecycle", "mixed", "h2-get", "h2-desire"]
    conns_seen = sorted({c for (_, c, _) in rows})
    reps = max((len(v) for v in rows.values()), default=0)
    print("== throughput: bbs-server vs nginx (static 100-byte answer), medians of %d run(s)" % reps)
    hdr = ("%-10s %5s %10s %7s %10s %6s %8s %8s %8s %9s %7s %6s"
           % ("workload", "conns", "bbs rps", "spread", "nginx rps", "ratio", "p50 ms", "p99 ms",
              "cpu_bbs", "cpu_other", "extra", "errors"))
    print(hdr)
    print("-" * len(hdr))
    ratio = {}
    for c in conns_seen:
        for w in order:
            ours = rows.get(("bbs", c, w), [])
            if not ours:
                continue
            nginx = rows.get(("nginx", c, w if not w.startswith("h2-") else w[3:]), [])
            r = med(ours, "rps")
            rs = [num(d, "rps") for d in ours]
            spread = "±%.0f%%" % (50 * (max(rs) - min(rs)) / r) if r and len(rs) > 1 else "-"
            n = med(nginx, "rps") if nginx else 0
            ratio[(w, c)] = r / n if n else None
            extra = ""
            if w == "lifecycle":
                extra = "%.0f lc/s" % med(ours, "lifecycles_per_s")
            elif w == "list":
                extra = "%.0f tasks" % med(ours, "tasks_per_resp")
            errs = sum(int(num(d, "errors")) + int(num(d, "non200")) + int(num(d, "bbs_errors"))
                       for d in ours)
            print("%-10s %5d %10.0f %7s %10s %6s %8.2f %8.2f %8.2f %9.2f %7s %6d"
                  % (w, c, r, spread, "%.0f" % n if n else "-",
                     "%.2f" % ratio[(w, c)] if ratio[(w, c)] else "-",
                     med(ours, "p50_ms"), med(ours, "p99_ms"), med(ours, "cpu_bbs"),
                     max(num(d, "cpu_other") for d in ours), extra, errs))
    nerrs = sum(int(num(d, "errors")) + int(num(d, "non200"))
                for (s, _, _), ds in rows.items() if s == "nginx" for d in ds)
    print("(spread: half the min..max range of the runs, relative to the median; cpu_other: highest"
          " of the runs; errors: socket errors + non-200 + BBS errors, summed; nginx socket/HTTP"
          " errors: %d)" % nerrs)

    print()
    print("== single measurements")
    e = extras
    for key, label in [
            ("fsync_b1_records_per_s", "fdatasync probe, fallocate'd file, 1 record/sync (records/s)"),
            ("fsync_b64_records_per_s", "fdatasync probe, fallocate'd file, 64 records/sync (records/s)"),
            ("fsync_zero_b1_records_per_s", "fdatasync probe, zero-filled file, 1 record/sync (records/s)"),
            ("fsync_zero_b64_records_per_s", "fdatasync probe, zero-filled file, 64 records/sync (records/s)"),
            ("load_rate", "bulk desire rate while loading (desires/s, 16 conns)"),
            ("load_max_ms", "slowest desire while loading the last %s tasks (ms)"
             % (int(e.get("mem_n2", 0)) - int(e.get("mem_n1", 0)) - int(e.get("list_small_n", 0)))),
            ("task_encoded_bytes", "encoded size of one stored task (bytes)"),
            ("rss_empty", "RSS, empty store (bytes)"),
            ("rss_per_task_n1", "RSS per task after %s tasks (bytes)" % e.get("mem_n1", "?")),
            ("rss_per_task_n2", "RSS per task after %s tasks (bytes)" % e.get("mem_n2", "?")),
            ("rss_per_task_restart", "RSS per task after restart with %s tasks (bytes)" % e.get("mem_n2", "?")),
            ("wal_bytes_per_task", "write-ahead log on disk per task (bytes)"),
            ("shutdown_s", "clean shutdown with %s tasks (s)" % e.get("mem_n2", "?")),
            ("restart_s", "restart after SIGTERM, exec to first ping (s)"),
            ("crash_restart_s", "restart after SIGKILL, exec to first ping (s)"),
            ("list_small_ms", "one list of %s tasks, median (ms)" % e.get("list_small_n", "?")),
            ("list_big_ms", "one list of %s tasks, median (ms)" % e.get("list_big_n", "?"))]:
        if key in e:
            print("%-62s %s" % (label, e[key]))

    print()
    print("== targets")

    def show(name, value, goal, ok, fmt="%.2f"):
        if value is None:
            print("%-46s %12s %14s  %s" % (name, "-", goal, "n/a"))
        else:
            print("%-46s %12s %14s  %s" % (name, fmt % value, goal, "PASS" if ok(value) else "MISS"))

    big = max(conns_seen) if conns_seen else 64
    small = min(conns_seen) if conns_seen else 16
    show("get vs nginx @%d" % big, ratio.get(("get", big)), ">= 0.80x", lambda v: v >= 0.8)
    show("desire (durable) vs nginx @%d" % big, ratio.get(("desire", big)), ">= 0.60x", lambda v: v >= 0.6)
    show("mixed vs nginx @%d" % big, ratio.get(("mixed", big)), ">= 0.70x", lambda v: v >= 0.7)
    h1, h2 = rows.get(("bbs", big, "get")), rows.get(("bbs", big, "h2-get"))
    show("h2 get (10 streams/conn) vs HTTP/1.1 get @%d" % big,
         med(h2, "rps") / med(h1, "rps") if h1 and h2 and med(h1, "rps") else None, ">= 1.00x",
         lambda v: v >= 1.0)
    for c in conns_seen:
        lc = rows.get(("bbs", c, "lifecycle"))
        show("lifecycles/s @%d" % c, med(lc, "lifecycles_per_s") if lc else None, ">= 2500",
             lambda v: v >= 2500, "%.0f")
    ls = rows.get(("bbs", small, "list"))
    show("lists/s of %s tasks @%d" % (ls and "%.0f" % med(ls, "tasks_per_resp") or "?", small),
         med(ls, "rps") if ls else None, ">= 100", lambda v: v >= 100, "%.0f")
    show("one list of %s tasks (ms)" % e.get("list_big_n", "?"),
         num(e, "list_big_ms") if "list_big_ms" in e else None, "<= 150", lambda v: v <= 150, "%.1f")
    show("restart with %s tasks (s)" % e.get("mem_n2", "?"),
         num(e, "restart_s") if "restart_s" in e else None, "<= 3", lambda v: v <= 3, "%.2f")
    show("RSS per task beyond encoded, %s tasks (B)" % e.get("mem_n2", "?"),
         num(e, "rss_beyond_n2") if "rss_beyond_n2" in e else None, "<= 2048", lambda v: v <= 2048, "%.0f")
    for w in ("get", "desire"):
        ds = rows.get(("bbs", big, w))
        show("p99 %s @%d (ms)" % (w, big), med(ds, "p99_ms") if ds else None, "<= 10",
             lambda v: v <= 10, "%.2f")
    return 0


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0
    cmds = {"nginx-conf": cmd_nginx_conf, "wait-ping": cmd_wait_ping, "rss": cmd_rss,
            "task-size": cmd_task_size, "list-latency": cmd_list_latency, "fsync": cmd_fsync,
            "summarize": cmd_summarize}
    if argv[1] not in cmds:
        print("benchtool: unknown subcommand %s" % argv[1], file=sys.stderr)
        return 2
    return cmds[argv[1]](*argv[2:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
