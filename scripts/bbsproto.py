#!/usr/bin/env python3
"""Writes BBS request bodies and reads BBS responses, for curl users and our scripts.

Standard library only. Request subcommands print the protobuf body on stdout;
`decode MESSAGE` reads a protobuf response on stdin and prints it as JSON.

  scripts/bbsproto.py desire task-1 my-domain | \\
    curl -s --data-binary @- http://127.0.0.1:8889/v1/tasks/desire.r2 | \\
    scripts/bbsproto.py decode TaskLifecycleResponse

Subcommands (guid/domain/cell/reason are positional):
  desire GUID DOMAIN [--rootfs URL] [--path P] [--arg A]... [--user U] [--memory-mb N]
                     [--disk-mb N] [--callback URL] [--annotation TEXT]
  get GUID | list [--domain D] [--cell C] | start GUID CELL
  complete GUID CELL [--failed] [--failure-reason R] [--result R]
  cancel GUID | resolving GUID | delete GUID | fail GUID REASON | reject GUID REASON
  upsert-domain DOMAIN [--ttl SECONDS]
  decode MESSAGE   (TaskLifecycleResponse, StartTaskResponse, TaskResponse, TasksResponse,
                    PingResponse, DomainsResponse, UpsertDomainResponse)
"""

import argparse
import json
import sys

# ---------------------------------------------------------------- encoding

VARINT, LEN = 0, 2


def varint(n):
    n &= (1 << 64) - 1  # negative int32/int64 as 10-byte two's complement
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(field, wire):
    return varint((field << 3) | wire)


def f_varint(field, value):
    return key(field, VARINT) + varint(int(value)) if value else b""


def f_bytes(field, value, always=False):
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not value and not always:
        return b""
    return key(field, LEN) + varint(len(value)) + value


def f_msg(field, payload):
    """A sub-message: written even when empty (presence)."""
    return f_bytes(field, payload, always=True)


def run_action(path, args=(), user="vcap"):
    return f_bytes(1, path) + b"".join(f_bytes(2, a) for a in args) + f_bytes(6, user)


def task_definition(rootfs="docker:///busybox", path="/bin/true", args=(), user="vcap",
                    memory_mb=0, disk_mb=0, callback="", annotation=""):
    action = f_msg(3, run_action(path, args, user))  # Action.run_action
    return (f_bytes(1, rootfs) + f_msg(3, action) + f_varint(4, disk_mb) +
            f_varint(5, memory_mb) + f_bytes(12, callback) + f_bytes(13, annotation))


def desire_request(guid, domain, **definition):
    return f_msg(1, task_definition(**definition)) + f_bytes(2, guid) + f_bytes(3, domain)


def guid_request(guid):
    return f_bytes(1, guid)


def start_request(guid, cell):
    return f_bytes(1, guid) + f_bytes(2, cell)


def complete_request(guid, cell, failed=False, failure_reason="", result=""):
    return (f_bytes(1, guid) + f_bytes(2, cell) + f_varint(3, failed) +
            f_bytes(4, failure_reason) + f_bytes(5, result))


def reason_request(guid, reason):
    return f_bytes(1, guid) + f_bytes(2, reason)


def tasks_request(domain="", cell=""):
    return f_bytes(1, domain) + f_bytes(2, cell)


# ---------------------------------------------------------------- decoding

class DecodeError(Exception):
    pass


def read_varint(buf, i):
    shift = result = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise DecodeError("bad varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def fields(buf):
    """Yields (field, wire, value) for every field of a message."""
    i = 0
    while i < len(buf):
        k, i = read_varint(buf, i)
        field, wire = k >> 3, k & 7
        if wire == VARINT:
            value, i = read_varint(buf, i)
        elif wire == LEN:
            n, i = read_varint(buf, i)
            if i + n > len(buf):
                raise DecodeError("length past end")
            value, i = bytes(buf[i:i + n]), i + n
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise DecodeError("unsupported wire type %d" % wire)
        yield field, wire, value


STATES = {0: "Invalid", 1: "Pending", 2: "Running", 3: "Completed", 4: "Resolving"}
ERRORS = {0: "UnknownError", 3: "InvalidRecord", 4: "InvalidRequest", 5: "InvalidResponse",
          6: "InvalidProtobufMessage", 7: "InvalidJSON", 8: "FailedToOpenEnvelope",
          9: "InvalidStateTransition", 11: "ResourceConflict", 12: "ResourceExists",
          13: "ResourceNotFound", 14: "RouterError", 24: "RunningOnDifferentCell",
          26: "GUIDGeneration", 27: "Deserialize", 28: "Deadlock", 29: "Unrecoverable",
          30: "LockCollision", 31: "Timeout"}

# name -> {field: (json name, kind, repeated)}; kinds: str, int, sint (int32/int64),
# bool, enum:<table>, or another message name.
SCHEMA = {
    "Error": {1: ("type", "enum:errors", False), 2: ("message", "str", False)},
    "EnvironmentVariable": {1: ("name", "str", False), 2: ("value", "str", False)},
    "RunAction": {1: ("path", "str", False), 2: ("args", "str", True), 3: ("dir", "str", False),
                  4: ("env", "EnvironmentVariable", True), 6: ("user", "str", False),
                  7: ("log_source", "str", False), 8: ("suppress_log_output", "bool", False)},
    "Action": {1: ("download", "raw", False), 2: ("upload", "raw", False), 3: ("run", "RunAction", False),
               4: ("timeout", "raw", False), 5: ("emit_progress", "raw", False), 6: ("try", "raw", False),
               7: ("parallel", "raw", False), 8: ("serial", "raw", False), 9: ("codependent", "raw", False)},
    "TaskDefinition": {1: ("rootfs", "str", False), 2: ("env", "EnvironmentVariable", True),
                       3: ("action", "Action", False), 4: ("disk_mb", "sint", False),
                       5: ("memory_mb", "sint", False), 6: ("cpu_weight", "int", False),
                       7: ("privileged", "bool", False), 8: ("log_source", "str", False),
                       9: ("log_guid", "str", False), 10: ("metrics_guid", "str", False),
                       11: ("result_file", "str", False), 12: ("completion_callback_url", "str", False),
                       13: ("annotation", "str", False), 20: ("placement_tags", "str", True),
                       21: ("max_pids", "sint", False)},
    "Task": {1: ("task_definition", "TaskDefinition", False), 2: ("task_guid", "str", False),
             3: ("domain", "str", False), 4: ("created_at", "sint", False), 5: ("updated_at", "sint", False),
             6: ("first_completed_at", "sint", False), 7: ("state", "enum:states", False),
             8: ("cell_id", "str", False), 9: ("result", "str", False), 10: ("failed", "bool", False),
             11: ("failure_reason", "str", False), 12: ("rejection_count", "sint", False),
             13: ("rejection_reason", "str", False)},
    "TaskLifecycleResponse": {1: ("error", "Error", False)},
    "UpsertDomainResponse": {1: ("error", "Error", False)},
    "StartTaskResponse": {1: ("error", "Error", False), 2: ("should_start", "bool", False)},
    "TaskResponse": {1: ("error", "Error", False), 2: ("task", "Task", False)},
    "TasksResponse": {1: ("error", "Error", False), 2: ("tasks", "Task", True)},
    "TaskCreatedEvent": {1: ("task", "Task", False)},
    "TaskChangedEvent": {1: ("before", "Task", False), 2: ("after", "Task", False)},
    "TaskRemovedEvent": {1: ("task", "Task", False)},
    "PingResponse": {1: ("available", "bool", False)},
    "DomainsResponse": {1: ("error", "Error", False), 2: ("domains", "str", True)},
}


def decode(message, buf):
    schema = SCHEMA[message]
    out = {}
    for field, wire, value in fields(buf):
        name, kind, repeated = schema.get(field, ("field_%d" % field, "raw", True))
        if kind == "str":
            v = value.decode("utf-8", "replace")
        elif kind == "int":
            v = value
        elif kind == "sint":
            v = value - (1 << 64) if value >= 1 << 63 else value
        elif kind == "bool":
            v = bool(value)
        elif kind.startswith("enum:"):
            v = (STATES if kind == "enum:states" else ERRORS).get(value, value)
        elif kind == "raw":
            v = value.hex() if isinstance(value, (bytes, bytearray)) else value
        else:
            v = decode(kind, value)
        if repeated:
            out.setdefault(name, []).append(v)
        else:
            out[name] = v
    return out


# ---------------------------------------------------------------- command line

def main(argv):
    p = argparse.ArgumentParser(prog="bbsproto.py", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("desire")
    d.add_argument("guid")
    d.add_argument("domain")
    d.add_argument("--rootfs", default="docker:///busybox")
    d.add_argument("--path", default="/bin/true")
    d.add_argument("--arg", action="append", default=[])
    d.add_argument("--user", default="vcap")
    d.add_argument("--memory-mb", type=int, default=0)
    d.add_argument("--disk-mb", type=int, default=0)
    d.add_argument("--callback", default="")
    d.add_argument("--annotation", default="")
    for name in ("get", "cancel", "resolving", "delete"):
        sub.add_parser(name).add_argument("guid")
    ls = sub.add_parser("list")
    ls.add_argument("--domain", default="")
    ls.add_argument("--cell", default="")
    st = sub.add_parser("start")
    st.add_argument("guid")
    st.add_argument("cell")
    c = sub.add_parser("complete")
    c.add_argument("guid")
    c.add_argument("cell")
    c.add_argument("--failed", action="store_true")
    c.add_argument("--failure-reason", default="")
    c.add_argument("--result", default="")
    for name in ("fail", "reject"):
        r = sub.add_parser(name)
        r.add_argument("guid")
        r.add_argument("reason")
    u = sub.add_parser("upsert-domain")
    u.add_argument("domain")
    u.add_argument("--ttl", type=int, default=0)
    dec = sub.add_parser("decode")
    dec.add_argument("-c", "--compact", action="store_true", help="one line of JSON")
    dec.add_argument("message", choices=sorted(k for k in SCHEMA if k.endswith("Response")))
    a = p.parse_args(argv)

    if a.cmd == "decode":
        body = sys.stdin.buffer.read()
        try:
            print(json.dumps(decode(a.message, body), indent=None if a.compact else 2))
        except DecodeError as e:
            print("bbsproto.py: not a %s: %s" % (a.message, e), file=sys.stderr)
            return 1
        return 0
    if a.cmd == "desire":
        body = desire_request(a.guid, a.domain, rootfs=a.rootfs, path=a.path, args=a.arg, user=a.user,
                              memory_mb=a.memory_mb, disk_mb=a.disk_mb, callback=a.callback,
                              annotation=a.annotation)
    elif a.cmd in ("get", "cancel", "resolving", "delete"):
        body = guid_request(a.guid)
    elif a.cmd == "list":
        body = tasks_request(a.domain, a.cell)
    elif a.cmd == "start":
        body = start_request(a.guid, a.cell)
    elif a.cmd == "complete":
        body = complete_request(a.guid, a.cell, a.failed, a.failure_reason, a.result)
    elif a.cmd in ("fail", "reject"):
        body = reason_request(a.guid, a.reason)
    else:
        body = f_bytes(1, a.domain) + f_varint(2, a.ttl)
    sys.stdout.buffer.write(body)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
