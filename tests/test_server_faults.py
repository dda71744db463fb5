"""The sidecar fault suite: real sidecars on loopback (in process, or
``guardrails serve`` as a child process where a signal or a resource limit
is the fault), with bounded counts and times, that keep serving and lose
nothing under:

- slowloris clients (raw connections and calls that stall, trickling streams);
- many abandoned streams, and a burst of streams past every slot;
- Watch floods and health-check floods;
- malformed frames and malformed messages;
- oversized answers;
- clients that cancel mid-check;
- SIGHUP storms under load;
- a policy directory deleted file by file, then as a whole;
- a full disk under the decision log (a file-size limit in the child);
- ``kill -9`` while decisions are being logged.

"Lose nothing" means every request sent gets a decision or one of the
documented refusals (docs/sidecar.md, "Status codes"): `failed` counts
anything else and must stay 0. Each test records its figures (requests
sent, decided, refused by reason, failed) in FIGURES; run with ``-s`` to see
the table, or set GUARDRAILS_FAULT_FIGURES=path.json to keep it.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from guardrails.sidecar import ServerConfig, SidecarServer
from guardrails.sidecar._proto import guardrails_pb2 as pb
from guardrails.sidecar.client import GuardrailsClient, SidecarError
from guardrails.sidecar.errors import status_details
from serve_process import Serve

ROOT = Path(__file__).resolve().parent.parent
FIGURES: dict[str, dict] = {}

POLICY = """policy "p" version "{version}"
pattern digit = /[0-9]/
input {{
  rule expand: redact pattern digit using replace("<A-DIGIT-WAS-HERE-AND-IS-NOW-REDACTED>")
  rule stop: deny "stop word" when text matches /\\bforbidden\\b/
}}
tool_call {{ rule ping: allow when tool == "ping" }}
"""
BROKEN = 'policy "p" version "9.9.9"\ntool_call { rule ping: allow when tool == = "ping" }\n'


# ---- bookkeeping -----------------------------------------------------------------------------


class Tally:
    """Requests sent, decided, refused (by reason) and failed; thread-safe."""

    def __init__(self, name: str):
        self.name = name
        self.sent = self.decided = 0
        self.refused: collections.Counter = collections.Counter()
        self.failed: list[str] = []
        self._lock = threading.Lock()

    def call(self, fn, *args, **kw):
        with self._lock:
            self.sent += 1
        try:
            out = fn(*args, **kw)
        except SidecarError as err:
            self._refused(err.reason, f"{err.code.name if err.code else None}: {err}")
            return None
        except grpc.RpcError as err:
            self._refused(status_details(err.trailing_metadata())[0], f"{err.code().name}: {err.details()}")
            return None
        with self._lock:
            self.decided += 1
        return out

    def _refused(self, reason: str, what: str) -> None:
        with self._lock:
            if reason:
                self.refused[reason] += 1
            else:
                self.failed.append(what)

    def record(self, **extra) -> dict:
        figures = {"sent": self.sent, "decided": self.decided, "refused": dict(self.refused),
                   "failed": len(self.failed), **extra}
        FIGURES[self.name] = figures
        return figures


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    if not FIGURES:
        return
    width = max(len(k) for k in FIGURES)
    print("\n\nsidecar fault suite: requests sent, decided, refused by reason, failed")
    for name, f in FIGURES.items():
        refused = ", ".join(f"{k} {v}" for k, v in sorted(f["refused"].items())) or "-"
        extra = ", ".join(f"{k} {v}" for k, v in f.items() if k not in ("sent", "decided", "refused", "failed"))
        print(f"  {name:<{width}}  sent {f['sent']:>5}  decided {f['decided']:>5}  failed {f['failed']}  "
              f"refused: {refused}{'  (' + extra + ')' if extra else ''}")
    path = os.environ.get("GUARDRAILS_FAULT_FIGURES")
    if path:
        Path(path).write_text(json.dumps(FIGURES, indent=2, sort_keys=True) + "\n")


def wait_until(condition, timeout: float = 20.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def policy_dir(tmp_path: Path, version: str = "1.0.0") -> Path:
    d = tmp_path / "policies"
    d.mkdir(exist_ok=True)
    (d / "p.policy").write_text(POLICY.format(version=version))
    return d


def sidecar(tmp_path: Path, **config) -> SidecarServer:
    config.setdefault("watch", False)
    return SidecarServer(ServerConfig(policies=policy_dir(tmp_path), listen="127.0.0.1:0", hash_salt=b"k",
                                      **config))


def load(tally: Tally, target: str, stop: threading.Event, threads: int = 4, **policy) -> list[threading.Thread]:
    """Client threads calling until `stop`: tool calls and small text checks."""

    def run():
        with GuardrailsClient(target, timeout=10) as c:
            while not stop.is_set():
                tally.call(c.check_tool_call, "ping", policy="p", **policy)
                tally.call(c.check_input, "hello there", policy="p")

    out = [threading.Thread(daemon=True, target=run) for _ in range(threads)]
    for t in out:
        t.start()
    return out


def stream_call(channel: grpc.Channel):
    return channel.stream_stream("/guardrails.v1.Guardrails/GuardStream",
                                 request_serializer=pb.GuardStreamRequest.SerializeToString,
                                 response_deserializer=pb.GuardStreamResponse.FromString)


def ended(call) -> str:
    """How a stream ended: OK, or its refusal's code and reason."""
    try:
        for _ in call:
            pass
    except grpc.RpcError as err:
        return f"{err.code().name}/{status_details(err.trailing_metadata())[0]}"
    return "OK"


# ---- raw HTTP/2, for clients no gRPC library would be ----------------------------------------

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def hpack_literal(name: str, value: str) -> bytes:
    """A header as HPACK's 'literal without indexing, new name' (names and values under 127 bytes)."""
    n, v = name.encode(), value.encode()
    return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v


def grpc_headers(stream: int, method: str, authority: str) -> bytes:
    block = b"".join(hpack_literal(k, v) for k, v in (
        (":method", "POST"), (":scheme", "http"), (":path", method), (":authority", authority),
        ("content-type", "application/grpc"), ("te", "trailers")))
    return frame(0x1, 0x4, stream, block)  # HEADERS, END_HEADERS


def raw_connection(port: int, *, settle: bool = True) -> socket.socket:
    """A TCP connection that has said the HTTP/2 preface and acknowledged the server's settings."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(PREFACE + frame(0x4, 0, 0))
    if settle:
        s.recv(4096)  # the server's SETTINGS
        s.sendall(frame(0x4, 0x1, 0))  # ACK
    return s


# ---- slowloris --------------------------------------------------------------------------------


def test_slowloris_clients_hold_nothing_that_others_need(tmp_path):
    tally = Tally("slowloris")
    with sidecar(tmp_path, max_concurrency=8, stream_idle_timeout=0.5, stream_max_lifetime=2.0) as s:
        target, port = f"127.0.0.1:{s.port}", s.port
        held: list[socket.socket] = []
        # 40 connections that never finish the HTTP/2 preface, 40 that send half of it.
        for i in range(80):
            c = socket.create_connection(("127.0.0.1", port), timeout=5)
            if i % 2:
                c.sendall(PREFACE[:10])
            held.append(c)
        # 20 connections, each with 5 unary calls whose message never finishes arriving.
        for _ in range(20):
            c = raw_connection(port)
            for k in range(5):
                stream = 1 + 2 * k
                c.sendall(grpc_headers(stream, "/guardrails.v1.Guardrails/CheckInput", target))
                c.sendall(frame(0x0, 0, stream, b"\x00" + struct.pack(">I", 1000) + b"\x0a\x05hel"))
            held.append(c)
        # 4 GuardStreams that trickle a chunk just inside the idle timeout: they end at the lifetime.
        release = threading.Event()

        def trickle():
            yield pb.GuardStreamRequest(start=pb.StreamStart(policy="p"))
            while not release.wait(0.3):
                yield pb.GuardStreamRequest(chunk="a")

        with grpc.insecure_channel(target) as ch:
            trickling = [stream_call(ch)(trickle(), timeout=30) for _ in range(4)]
            wait_until(lambda: s.service.slots.busy == 4, what="the trickling streams to start")
            stop = threading.Event()
            workers = load(tally, target, stop)  # 4 threads, on the 4 slots left
            ends = [ended(t) for t in trickling]  # each ends at the 2 s lifetime
            stop.set()
            for t in workers:
                t.join(30)
            release.set()
            with GuardrailsClient(target) as c:
                assert c.health() == "SERVING" and c.check_tool_call("ping", policy="p").outcome.value == "allow"
        for c in held:
            c.close()
        assert s.service.slots.busy == 0
    # A trickling stream holds its slot until its lifetime, then gives it back; stalled calls hold none.
    assert ends == ["DEADLINE_EXCEEDED/STREAM_MAX_LIFETIME"] * 4
    assert tally.failed == [] and tally.decided > 100 and tally.refused == {}
    tally.record(stalled_connections=80, stalled_calls=100, trickling_streams=4)


# ---- many abandoned streams, and a burst past every slot ---------------------------------------


def test_many_abandoned_streams_give_their_slots_back(tmp_path):
    tally = Tally("abandoned streams")
    with sidecar(tmp_path, max_concurrency=8, stream_idle_timeout=0.5) as s, \
            grpc.insecure_channel(f"127.0.0.1:{s.port}") as ch:
        release = threading.Event()

        def start_only():
            yield pb.GuardStreamRequest(start=pb.StreamStart(policy="p"))
            release.wait(30)

        streams = []
        for _ in range(200):
            tally.sent += 1
            streams.append(stream_call(ch)(start_only(), timeout=30))
        ends = collections.Counter(ended(st) for st in streams)
        release.set()
        for how, n in ends.items():
            tally.refused[how.split("/")[1]] += n
        with GuardrailsClient(f"127.0.0.1:{s.port}") as c:
            for _ in range(50):
                tally.call(c.check_tool_call, "ping", policy="p")
        assert s.service.slots.busy == 0
    # 8 take the slots and end idle; the rest are refused, unless they arrive after a slot came back.
    assert set(ends) == {"DEADLINE_EXCEEDED/STREAM_IDLE_TIMEOUT", "RESOURCE_EXHAUSTED/CONCURRENCY_LIMIT"}
    assert ends["DEADLINE_EXCEEDED/STREAM_IDLE_TIMEOUT"] >= 8 and sum(ends.values()) == 200
    assert tally.failed == [] and tally.decided == 50
    tally.record()


def test_a_burst_of_streams_past_every_slot_gets_one_code(tmp_path):
    """1,500 streams at once on one connection: more than gRPC's default
    queue of waiting calls (1,000), which reset the rest as CANCELLED or
    INTERNAL before the sidecar saw them."""
    tally = Tally("stream burst")
    with sidecar(tmp_path, max_concurrency=4) as s:
        async def burst() -> collections.Counter:
            out: collections.Counter = collections.Counter()
            async with grpc.aio.insecure_channel(f"127.0.0.1:{s.port}") as ch:
                call = ch.stream_stream("/guardrails.v1.Guardrails/GuardStream",
                                        request_serializer=pb.GuardStreamRequest.SerializeToString,
                                        response_deserializer=pb.GuardStreamResponse.FromString)

                async def one() -> None:
                    async def requests():
                        yield pb.GuardStreamRequest(start=pb.StreamStart(policy="p"))
                        yield pb.GuardStreamRequest(chunk="hello ")

                    try:
                        async for _ in call(requests(), timeout=60):
                            pass
                        out["OK"] += 1
                    except grpc.RpcError as err:
                        out[f"{err.code().name}/{status_details(err.trailing_metadata())[0]}"] += 1

                await asyncio.gather(*(one() for _ in range(1500)))
            return out

        ends = asyncio.run(burst())
    tally.sent, tally.decided = 1500, ends.pop("OK", 0)
    for how, n in ends.items():
        reason = how.split("/")[1]
        if reason:
            tally.refused[reason] += n
        else:
            tally.failed.extend([how] * n)
    assert tally.failed == [], ends
    assert set(ends) <= {"RESOURCE_EXHAUSTED/CONCURRENCY_LIMIT"} and tally.decided > 0
    tally.record()


# ---- Watch and health-check floods ----------------------------------------------------------------


def test_watch_and_health_check_floods_starve_no_one(tmp_path):
    tally = Tally("Watch flood")
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    with sidecar(tmp_path, token_file=str(token), max_concurrency=4) as s, \
            grpc.insecure_channel(f"127.0.0.1:{s.port}") as ch:
        health = health_pb2_grpc.HealthStub(ch)
        watches = [health.Watch(health_pb2.HealthCheckRequest(), timeout=60) for _ in range(500)]
        firsts: collections.Counter = collections.Counter()
        for w in watches:
            tally.sent += 1
            try:
                next(w)
                firsts["SERVING"] += 1
            except grpc.RpcError as err:
                firsts[status_details(err.trailing_metadata())[0]] += 1
        stop = threading.Event()
        checks = Tally("health Check flood")

        def probe():
            while not stop.is_set():
                checks.call(health.Check, health_pb2.HealthCheckRequest(), timeout=5)

        probes = [threading.Thread(daemon=True, target=probe) for _ in range(8)]
        for t in probes:
            t.start()
        with GuardrailsClient(f"127.0.0.1:{s.port}", token="t0ken") as c:
            for _ in range(200):
                tally.call(c.check_tool_call, "ping", policy="p")
        stop.set()
        for t in probes:
            t.join(30)
        for w in watches:
            w.cancel()
    assert firsts == {"SERVING": 8, "WATCH_LIMIT": 492}
    tally.refused["WATCH_LIMIT"] += firsts["WATCH_LIMIT"]
    assert tally.failed == [] and tally.decided == 200
    assert checks.failed == [] and checks.decided > 0 and set(checks.refused) <= {"HEALTH_BUDGET"}
    tally.record(watch_streams_held=8)
    checks.record()


# ---- malformed frames and messages ---------------------------------------------------------------


def test_malformed_frames_and_messages_are_refused_and_the_server_keeps_serving(tmp_path):
    tally = Tally("malformed")
    rng = random.Random(15)
    with sidecar(tmp_path) as s:
        target, port = f"127.0.0.1:{s.port}", s.port
        junk = [
            rng.randbytes(200),  # not HTTP/2 at all
            PREFACE + rng.randbytes(300),  # the preface, then garbage frames
            PREFACE + frame(0x4, 0, 0) + frame(0x1, 0x4, 2, b"\xff" * 20),  # HEADERS on an even stream id
            PREFACE + frame(0x4, 0, 0) + frame(0x9, 0, 1, b"x"),  # CONTINUATION without HEADERS
            PREFACE + frame(0x4, 0, 0) + b"\x00\x40\x00" + bytes([0x0, 0x0]) + struct.pack(">I", 1),  # truncated
        ]
        for payload in junk:
            c = socket.create_connection(("127.0.0.1", port), timeout=5)
            c.sendall(payload)
            c.close()
        # gRPC framing errors inside a valid HTTP/2 stream.
        for message in (b"\x01" + struct.pack(">I", 3) + b"abc",  # compressed flag, no grpc-encoding
                        b"\x00" + struct.pack(">I", 50) + b"short"):  # length says 50, 5 arrive, stream ends
            c = raw_connection(port)
            c.sendall(grpc_headers(1, "/guardrails.v1.Guardrails/CheckInput", target)
                      + frame(0x0, 0x1, 1, message))  # DATA, END_STREAM
            c.settimeout(5)
            try:
                c.recv(4096)  # whatever the server answers (RST_STREAM or trailers)
            except OSError:
                pass
            c.close()
        # Random bytes as every request message.
        with grpc.insecure_channel(target) as ch:
            for method in ("CheckInput", "CheckOutput", "CheckRetrieval", "CheckToolCall", "CheckToolResult"):
                call = ch.unary_unary(f"/guardrails.v1.Guardrails/{method}")
                for _ in range(60):
                    tally.call(call, rng.randbytes(rng.randint(1, 400)), timeout=5)
        with GuardrailsClient(target) as c:
            assert c.check_tool_call("ping", policy="p").outcome.value == "allow"
            assert c.health() == "SERVING"
    # Random bytes sometimes parse as a (meaningless) message: those get an answer, often INVALID_REQUEST.
    assert tally.failed == []
    assert set(tally.refused) <= {"MALFORMED_MESSAGE", "INVALID_REQUEST", "POLICY_REQUIRED", "POLICY_NOT_FOUND",
                                  "VERSION_NOT_FOUND"}
    assert tally.refused["MALFORMED_MESSAGE"] > 100
    tally.record(raw_connections=len(junk) + 2)


# ---- oversized answers ---------------------------------------------------------------------------


def test_oversized_answers_are_refused_and_counted_apart(tmp_path):
    tally = Tally("oversized answers")
    with sidecar(tmp_path, max_message_bytes=64 * 1024) as s, GuardrailsClient(f"127.0.0.1:{s.port}") as c:
        for i in range(100):
            tally.call(c.check_input, ("7" * 3000) if i % 4 == 0 else "call 12", policy="p")
        decided = s.metrics.registry.get_sample_value(
            "guardrails_decisions_total", {"stage": "input", "outcome": "redact", "policy": "p", "version": "1.0.0"})
        oversize = s.metrics.registry.get_sample_value("guardrails_rpcs_rejected_total",
                                                       {"reason": "response-too-large"})
    assert tally.refused == {"RESPONSE_TOO_LARGE": 25} and tally.decided == 75 and tally.failed == []
    assert (decided, oversize) == (75, 25)
    tally.record()


# ---- clients that cancel mid-check ---------------------------------------------------------------


def test_clients_cancelling_mid_check_leave_no_slot_taken(tmp_path, caplog):
    tally = Tally("cancel mid-check")
    cancelled = 0
    with sidecar(tmp_path, max_concurrency=4) as s, grpc.insecure_channel(f"127.0.0.1:{s.port}") as ch:
        call = ch.unary_unary("/guardrails.v1.Guardrails/CheckInput",
                              request_serializer=pb.CheckInputRequest.SerializeToString,
                              response_deserializer=pb.Decision.FromString)
        rng = random.Random(7)
        text = "order 12 " * 300  # a check of a few milliseconds: some finish before the cancel, most do not
        for _ in range(100):
            tally.sent += 1
            future = call.future(pb.CheckInputRequest(text=text, policy="p"), timeout=30)
            time.sleep(rng.random() * 0.02)
            if future.cancel():
                cancelled += 1
                continue
            try:
                future.result()
                tally.decided += 1
            except grpc.RpcError as err:
                tally._refused(status_details(err.trailing_metadata())[0], err.code().name)
        wait_until(lambda: s.service.slots.busy == 0, what="every slot to come back")
        with GuardrailsClient(f"127.0.0.1:{s.port}") as c:
            assert c.check_tool_call("ping", policy="p").outcome.value == "allow"
    assert tally.failed == [] and cancelled > 0
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    tally.record(cancelled_by_the_client=cancelled)


# ---- guardrails serve as a child process ---------------------------------------------------------


class Child(Serve):
    """`guardrails serve` in a child process, started and ready (see tests/serve_process.py)."""

    def __init__(self, *args: str, max_file_bytes: int | None = None):
        super().__init__(*args, max_file_bytes=max_file_bytes)
        self.wait_ready()


@pytest.fixture
def children():
    started: list[Child] = []

    def start(*args: str, **kw) -> Child:
        c = Child(*args, **kw)
        started.append(c)
        return c

    yield start
    for c in started:
        c.kill()


def test_sighup_storms_under_load_fail_no_request(tmp_path, children):
    tally = Tally("SIGHUP storm")
    d = policy_dir(tmp_path)
    child = children("--policies", str(d), "--no-watch", "--max-concurrency", "64")
    target = f"127.0.0.1:{child.port}"
    versions: collections.Counter = collections.Counter()
    stop = threading.Event()

    def run():
        with GuardrailsClient(target, timeout=10) as c:
            while not stop.is_set():
                d_ = tally.call(c.check_tool_call, "ping", policy="p")
                if d_ is not None:
                    versions[d_.policy.version] += 1

    workers = [threading.Thread(daemon=True, target=run) for _ in range(4)]
    for t in workers:
        t.start()
    for i in range(100):
        good = i % 3 != 2
        (d / "p.policy").write_text(POLICY.format(version=f"1.0.{i}") if good else BROKEN)
        child.proc.send_signal(signal.SIGHUP)
        time.sleep(0.01)
    (d / "p.policy").write_text(POLICY.format(version="2.0.0"))
    child.proc.send_signal(signal.SIGHUP)
    with GuardrailsClient(target) as c:
        wait_until(lambda: c.check_tool_call("ping", policy="p").policy.version == "2.0.0", what="the last reload")
    stop.set()
    for t in workers:
        t.join(30)
    assert child.stop() == 0
    assert tally.failed == [] and tally.refused == {} and tally.decided > 100
    assert "9.9.9" not in versions  # never a broken set
    tally.record(sighups=101, versions_seen=len(versions))


def test_a_policy_directory_deleted_file_by_file_keeps_serving(tmp_path):
    tally = Tally("directory deleted")
    d = tmp_path / "policies"
    d.mkdir()
    for name in ("a", "b", "c"):
        (d / f"{name}.policy").write_text(f'policy "{name}" version "1.0.0"\nimport "base"\n'
                                          'tool_call { rule ping: allow when tool == "ping" }\n')
    (d / "base.policy").write_text('module "base" version "1.0.0"\n'
                                   'tool_call { rule note: warn "base" when tool == "ping" }\n')
    with SidecarServer(ServerConfig(policies=d, listen="127.0.0.1:0", poll_interval=0.05)) as s, \
            GuardrailsClient(f"127.0.0.1:{s.port}") as c:
        stop = threading.Event()

        def run():
            with GuardrailsClient(f"127.0.0.1:{s.port}", timeout=10) as cc:
                while not stop.is_set():
                    for name in ("a", "b", "c"):
                        tally.call(cc.check_tool_call, "ping", policy=name)

        workers = [threading.Thread(daemon=True, target=run) for _ in range(3)]
        for t in workers:
            t.start()
        errors = []
        originals = {f.name: f.read_text() for f in d.iterdir()}
        try:
            for name in ("c.policy", "base.policy", "b.policy", "a.policy"):
                failures = s.active.status.failures
                (d / name).unlink()
                wait_until(lambda failures=failures: s.active.status.failures > failures,
                           what=f"the reload without {name} to fail")
                errors.append(c.list_policies().active.reload.error)
            d.rmdir()  # the directory itself vanishes: nothing new to load, the first load keeps serving
            served_before = tally.decided
            wait_until(lambda: tally.decided > served_before + 100, what="more decisions with no directory")
            d.mkdir()  # put back as it was: the failure clears, no reload needed
            for name, text in originals.items():
                (d / name).write_text(text)
            wait_until(lambda: s.active.status.ok, what="the restored directory to clear the failure")
        finally:
            stop.set()
            for t in workers:
                t.join(30)
        assert {p.name for p in c.list_policies().active.policies} == {"a", "b", "c"}
        assert s.active.snapshot.generation == 1  # the first load served throughout
    assert "no longer has c" in errors[0] and "--allow-policy-removal" in errors[0]
    assert "unknown import 'base'" in errors[1]  # the importers cannot load without their module
    assert "no policy files found" in errors[3]
    assert tally.failed == [] and tally.refused == {} and tally.decided > 0
    tally.record(files_deleted=4, then="the directory removed and restored")


def _metric(port: int, name: str) -> float:
    import urllib.request

    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    m = re.search(rf"^{re.escape(name)} (\S+)$", body, re.M)
    return float(m.group(1)) if m else 0.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _verify(log: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "guardrails.cli", "log", "verify", str(log), *extra],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_a_full_disk_under_the_decision_log_drops_records_and_keeps_serving(tmp_path, children):
    tally = Tally("decision log disk full")
    log = tmp_path / "decisions.jsonl"
    metrics = _free_port()
    limit = 64 * 1024  # the "disk": no file the child writes may pass 64 KiB
    child = children("--policies", str(policy_dir(tmp_path)), "--no-watch", "--decision-log", str(log),
                     "--metrics", f"127.0.0.1:{metrics}", max_file_bytes=limit)
    with GuardrailsClient(f"127.0.0.1:{child.port}") as c:
        for i in range(600):
            tally.call(c.check_tool_call, "ping", policy="p") if i % 2 else tally.call(c.check_input, "hi",
                                                                                        policy="p")
        wait_until(lambda: _metric(metrics, "guardrails_decision_log_pending") == 0, what="the log queue to drain")
        written = _metric(metrics, 'guardrails_decision_log_records_total{result="written"}')
        dropped = _metric(metrics, 'guardrails_decision_log_records_total{result="dropped"}')
        errors = _metric(metrics, "guardrails_decision_log_errors_total")
        assert c.health() == "SERVING"
    assert child.stop() == 0
    assert tally.failed == [] and tally.refused == {} and tally.decided == 600  # every decision answered
    assert written > 0 and dropped > 0 and errors > 0 and written + dropped == 600
    assert log.stat().st_size <= limit
    verified = _verify(log)
    assert verified.returncode == 0, verified.stdout + verified.stderr  # what was written still verifies
    tally.record(log_written=int(written), log_dropped=int(dropped), log_errors=int(errors))


def test_kill_9_while_logging_leaves_a_log_that_verifies(tmp_path, children):
    tally = Tally("kill -9 while logging")
    log = tmp_path / "decisions.jsonl"
    d = policy_dir(tmp_path)
    kills = 2
    for _ in range(kills):
        child = children("--policies", str(d), "--no-watch", "--decision-log", str(log))
        stop = threading.Event()
        workers = load(tally, f"127.0.0.1:{child.port}", stop, threads=3)
        size = log.stat().st_size if log.exists() else 0
        wait_until(lambda size=size: log.exists() and log.stat().st_size > size + 20_000,
                   what="records to be written")
        child.proc.send_signal(signal.SIGKILL)  # mid-run: the writer thread is appending
        child.proc.wait(timeout=30)
        stop.set()
        for t in workers:
            t.join(30)
        verified = _verify(log)
        assert verified.returncode == 0, verified.stdout + verified.stderr
    # A kill inside a write can leave half a record; cut one to be sure the tail is handled.
    data = log.read_bytes()
    log.write_bytes(data[:-40])
    torn = _verify(log)
    assert torn.returncode == 0 and "truncat" in (torn.stdout + torn.stderr).lower()
    assert _verify(log, "--strict").returncode == 1
    # A restarted sidecar cuts the torn tail off and continues the chain.
    child = children("--policies", str(d), "--no-watch", "--decision-log", str(log))
    with GuardrailsClient(f"127.0.0.1:{child.port}") as c:
        for _ in range(20):
            tally.call(c.check_tool_call, "ping", policy="p")
    assert child.stop() == 0
    assert _verify(log, "--strict").returncode == 0
    records = sum(1 for line in log.read_bytes().splitlines() if b'"type":"decision"' in line)
    # Calls in flight at a kill, and those the load threads made before they stopped, found no sidecar
    # (UNAVAILABLE): the kill is the fault, not a lost answer. Records still queued at a kill are lost.
    unavailable = [f for f in tally.failed if f.startswith(("UNAVAILABLE", "CANCELLED"))]
    assert len(unavailable) == len(tally.failed) and tally.refused == {}
    tally.failed.clear()
    tally.sent -= len(unavailable)
    tally.record(kills=kills, records_in_log=records, calls_to_a_killed_sidecar=len(unavailable))
