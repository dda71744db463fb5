"""The sidecar under hostile or careless callers (issue 15's sidecar defects)
and its wire contract for callers in other languages: one status code and
one ErrorInfo reason per refusal, budgets no caller can exhaust for others,
values as deep on the wire as in process, reflection v1 and v1alpha, and
per-rpc counters.

Each test starts its own small sidecar on loopback. Waits poll with a
deadline; nothing asserts how long anything took.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2

from guardrails import Engine, Outcome
from guardrails.sidecar import ServerConfig, SidecarServer
from guardrails.sidecar._proto import guardrails_pb2 as pb
from guardrails.sidecar.admission import REFUSALS
from guardrails.sidecar.client import (
    GuardrailsClient,
    InvalidRequestError,
    OverloadedError,
    PolicyNotFoundError,
)
from guardrails.sidecar.errors import status_details

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "s3cret-token"
AUTH = (("authorization", f"Bearer {TOKEN}"),)

POLICY = """policy "p" version "1.0.0"
pattern digit = /[0-9]/
input {
  rule expand: redact pattern digit using replace("<A-DIGIT-WAS-HERE-AND-IS-NOW-REDACTED>")
}
tool_call {
  rule ping: allow when tool == "ping"
  rule deep: allow when tool == "deep"
}
"""
OTHER = 'policy "q" version "2.0.0"\ntool_call { rule ping: allow when tool == "ping" }\n'


def sidecar(tmp_path: Path, **config) -> SidecarServer:
    d = tmp_path / "policies"
    d.mkdir(exist_ok=True)
    (d / "p.policy").write_text(POLICY)
    (d / "q.policy").write_text(OTHER)
    if config.pop("token", False):
        (tmp_path / "token").write_text(TOKEN + "\n")
        config["token_file"] = str(tmp_path / "token")
    config.setdefault("watch", False)
    return SidecarServer(ServerConfig(policies=d, listen="127.0.0.1:0", hash_salt=b"k", **config))


def wait_until(condition, timeout: float = 15.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def reason(err: grpc.RpcError) -> str:
    return status_details(err.trailing_metadata())[0]


def sample(server: SidecarServer, name: str, **labels: str) -> float:
    return server.metrics.registry.get_sample_value(name, labels) or 0.0


def first_message(stream) -> str:
    """The first Watch answer's status name, or the refusal's code and reason."""
    try:
        return health_pb2.HealthCheckResponse.ServingStatus.Name(next(stream).status)
    except grpc.RpcError as err:
        return f"{err.code().name} {reason(err)}"


def tool_call(channel: grpc.Channel, tool: str = "ping", *, metadata=AUTH, timeout: float = 5.0, **fields):
    call = channel.unary_unary("/guardrails.v1.Guardrails/CheckToolCall",
                               request_serializer=pb.CheckToolCallRequest.SerializeToString,
                               response_deserializer=pb.Decision.FromString)
    return call(pb.CheckToolCallRequest(tool=tool, policy="p", **fields), metadata=metadata, timeout=timeout)


# ---- 1. health Watch streams cannot lock anyone out ------------------------------------


def test_anonymous_watch_streams_cannot_lock_anyone_out(tmp_path):
    with sidecar(tmp_path, token=True, max_concurrency=2) as s, \
            grpc.insecure_channel(f"127.0.0.1:{s.port}") as ch:
        health = health_pb2_grpc.HealthStub(ch)
        anonymous = [health.Watch(health_pb2.HealthCheckRequest(), timeout=60) for _ in range(40)]
        firsts = sorted(first_message(w) for w in anonymous)
        assert firsts.count("SERVING") == 8  # half the budget of 16
        assert firsts.count("RESOURCE_EXHAUSTED WATCH_LIMIT") == 32
        # While they are held, every other caller is served.
        for _ in range(20):
            assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == \
                health_pb2.HealthCheckResponse.SERVING
            assert tool_call(ch).outcome == pb.OUTCOME_ALLOW
        # Streams with the token may take the budget up to its reserve (16 - 4 = 12 streams) ...
        signed = [health.Watch(health_pb2.HealthCheckRequest(), metadata=AUTH, timeout=60) for _ in range(5)]
        assert sorted(first_message(w) for w in signed) == ["RESOURCE_EXHAUSTED HEALTH_BUDGET"] + ["SERVING"] * 4
        # ... and a liveness probe still finds room.
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == \
            health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as err:
            next(health.Watch(health_pb2.HealthCheckRequest(), timeout=5))
        assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        retry = status_details(err.value.trailing_metadata())[2]
        assert retry is not None and retry > 0
        for w in anonymous + signed:
            w.cancel()
        wait_until(lambda: first_message(health.Watch(health_pb2.HealthCheckRequest(), timeout=5)) == "SERVING",
                   what="the budget to come back")
        assert sample(s, "guardrails_rpcs_rejected_total", reason="watch-limit") >= 32


# ---- 2. streams that never end give their slot back --------------------------------------


def _held_stream(channel: grpc.Channel, release: threading.Event, every: float | None = None):
    """A GuardStream that sends `start` and then nothing (or a chunk every `every` s) until `release`."""

    def requests():
        yield pb.GuardStreamRequest(start=pb.StreamStart(policy="p"))
        while not release.wait(every if every is not None else 60):
            yield pb.GuardStreamRequest(chunk="more ")

    call = channel.stream_stream("/guardrails.v1.Guardrails/GuardStream",
                                 request_serializer=pb.GuardStreamRequest.SerializeToString,
                                 response_deserializer=pb.GuardStreamResponse.FromString)
    return call(requests(), timeout=60)


def _end(stream) -> str:
    try:
        for _ in stream:
            pass
    except grpc.RpcError as err:
        return f"{err.code().name} {reason(err)}"
    return "OK"


def test_an_abandoned_stream_is_ended_at_its_idle_timeout(tmp_path):
    release = threading.Event()
    with sidecar(tmp_path, max_concurrency=2, stream_idle_timeout=0.5) as s, \
            grpc.insecure_channel(f"127.0.0.1:{s.port}") as ch, GuardrailsClient(f"127.0.0.1:{s.port}") as c:
        streams = [_held_stream(ch, release) for _ in range(2)]
        ends: list[str] = []
        readers = [threading.Thread(target=lambda st=st: ends.append(_end(st))) for st in streams]
        for t in readers:
            t.start()
        for t in readers:
            t.join(30)
        assert ends == ["DEADLINE_EXCEEDED STREAM_IDLE_TIMEOUT"] * 2
        assert c.check_tool_call("ping", policy="p").outcome is Outcome.ALLOW  # the slots came back
        assert sample(s, "guardrails_rpcs_rejected_total", reason="stream-idle") == 2
        assert s.service.slots.busy == 0
    release.set()


def test_a_stream_that_keeps_talking_ends_at_its_maximum_lifetime(tmp_path):
    release = threading.Event()
    with sidecar(tmp_path, stream_idle_timeout=5, stream_max_lifetime=1.0) as s, \
            grpc.insecure_channel(f"127.0.0.1:{s.port}") as ch:
        assert _end(_held_stream(ch, release, every=0.05)) == "DEADLINE_EXCEEDED STREAM_MAX_LIFETIME"
        assert s.service.slots.busy == 0
    release.set()


def test_while_streams_hold_every_slot_checks_are_refused_with_one_code(tmp_path):
    release = threading.Event()
    with sidecar(tmp_path, max_concurrency=2) as s, grpc.insecure_channel(f"127.0.0.1:{s.port}") as ch, \
            GuardrailsClient(f"127.0.0.1:{s.port}") as c:
        streams = [_held_stream(ch, release) for _ in range(2)]
        wait_until(lambda: s.service.slots.busy == 2, what="the streams to hold the slots")
        with pytest.raises(OverloadedError) as err:
            c.check_tool_call("ping", policy="p")
        assert err.value.reason == "CONCURRENCY_LIMIT" and err.value.retry_after == pytest.approx(0.05)
        assert err.value.metadata == {"limit": "2"}
        assert c.health() == "SERVING"
        release.set()
        for st in streams:
            assert _end(st) == "OK"


# ---- 4. an answer too large to send is refused and counted, not counted as a decision ---


def test_an_oversize_answer_is_refused_and_not_counted_as_a_decision(tmp_path):
    with sidecar(tmp_path, max_message_bytes=64 * 1024) as s, GuardrailsClient(f"127.0.0.1:{s.port}") as c:
        assert c.check_input("call 12", policy="p").outcome is Outcome.REDACT
        before = sample(s, "guardrails_decisions_total", stage="input", outcome="redact", policy="p",
                        version="1.0.0")
        with pytest.raises(OverloadedError) as err:
            c.check_input("7" * 3000, policy="p")  # 3 KB in, about 200 KB of placeholders and spans out
        assert err.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED and err.value.reason == "RESPONSE_TOO_LARGE"
        assert err.value.retry_after is None
        after = sample(s, "guardrails_decisions_total", stage="input", outcome="redact", policy="p",
                       version="1.0.0")
        assert after == before
        assert sample(s, "guardrails_rpcs_rejected_total", reason="response-too-large") == 1
        assert sample(s, "grpc_server_handled_total", grpc_service="guardrails.v1.Guardrails",
                      grpc_method="CheckInput", grpc_type="unary", grpc_code="RESOURCE_EXHAUSTED") == 1
        # A request over the limit (but under twice it) is refused by the sidecar, and counted.
        with pytest.raises(OverloadedError) as err:
            c.check_input("a" * 100_000, policy="p")
        assert err.value.reason == "REQUEST_TOO_LARGE"
        assert sample(s, "guardrails_rpcs_rejected_total", reason="request-too-large") == 1
        assert c.check_input("still serving", policy="p").outcome is Outcome.ALLOW


def test_a_request_over_twice_the_limit_is_cut_off_by_grpc_and_still_counted(tmp_path):
    with sidecar(tmp_path, max_message_bytes=64 * 1024) as s, GuardrailsClient(f"127.0.0.1:{s.port}") as c:
        for tool in ("ping", "deep"):  # a tool call, decided on the event loop, and another
            with pytest.raises(OverloadedError) as err:
                c.check_tool_call(tool, {"blob": "a" * 200_000}, policy="p")  # over 128 KB: gRPC cuts it off
            assert err.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
        with pytest.raises(OverloadedError):
            c.check_input("b" * 300_000, policy="p")
        wait_until(lambda: sample(s, "guardrails_rpcs_rejected_total", reason="request-too-large") == 3,
                   what="three refusals counted")
        assert sample(s, "grpc_server_handled_total", grpc_service="guardrails.v1.Guardrails",
                      grpc_method="CheckToolCall", grpc_type="unary", grpc_code="RESOURCE_EXHAUSTED") == 2
        assert sample(s, "grpc_server_started_total", grpc_service="guardrails.v1.Guardrails",
                      grpc_method="CheckInput", grpc_type="unary") == 1
        assert sample(s, "grpc_server_handled_total", grpc_service="guardrails.v1.Guardrails",
                      grpc_method="CheckInput", grpc_type="unary", grpc_code="RESOURCE_EXHAUSTED") == 1
        assert c.check_tool_call("ping", {}, policy="p").outcome is Outcome.ALLOW  # still serving
        assert sample(s, "grpc_server_handled_total", grpc_service="guardrails.v1.Guardrails",
                      grpc_method="CheckToolCall", grpc_type="unary", grpc_code="OK") == 1


def test_a_call_that_sends_no_request_is_refused_as_too_large(tmp_path):
    with sidecar(tmp_path) as s, grpc.insecure_channel(f"127.0.0.1:{s.port}") as channel:
        send_none = channel.stream_unary("/guardrails.v1.Guardrails/CheckToolCall",
                                         response_deserializer=pb.Decision.FromString)
        with pytest.raises(grpc.RpcError) as err:
            send_none(iter(()), timeout=5)
        assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED and reason(err.value) == "REQUEST_TOO_LARGE"
        assert sample(s, "guardrails_rpcs_rejected_total", reason="request-too-large") == 1


# ---- 5. values nest as deeply on the wire as in process -----------------------------------


def nested(depth: int, leaf: object = "x") -> dict:
    """A JSON object `depth` levels deep: the leaf sits at depth `depth`."""
    value: object = leaf
    for _ in range(depth - 1):
        value = {"a": value}
    return {"a": value}


@pytest.mark.parametrize("depth", [33, 34, 40, 64])
def test_arguments_nested_up_to_64_levels_decide_as_in_process(tmp_path, depth):
    engine = Engine.from_path(_write(tmp_path), hash_salt=b"k")
    local = engine.check_tool_call("deep", nested(depth), policy="p", context=nested(depth - 1))
    assert local.outcome is Outcome.ALLOW
    with sidecar(tmp_path) as s, GuardrailsClient(f"127.0.0.1:{s.port}") as c:
        remote = c.check_tool_call("deep", nested(depth), policy="p", context=nested(depth - 1))
    assert remote.outcome is Outcome.ALLOW and remote.text == local.text == nested(depth)


@pytest.mark.parametrize("depth", [65, 72, 300])
def test_arguments_nested_deeper_are_refused_naming_the_field(tmp_path, depth):
    engine = Engine.from_path(_write(tmp_path), hash_salt=b"k")
    local = engine.check_tool_call("deep", nested(depth), policy="p")
    assert local.request_error is not None and local.request_error.message.startswith("args ")
    with sidecar(tmp_path) as s, GuardrailsClient(f"127.0.0.1:{s.port}") as c:
        with pytest.raises(InvalidRequestError) as err:
            c.check_tool_call("deep", nested(depth), policy="p")
        assert err.value.reason == "INVALID_REQUEST" and err.value.metadata.get("field") == "args"
        assert "64 levels" in str(err.value)
        assert c.check_tool_call("ping", policy="p").outcome is Outcome.ALLOW


def test_deep_values_in_every_kind_of_field_survive_the_wire(tmp_path):
    with sidecar(tmp_path) as s, GuardrailsClient(f"127.0.0.1:{s.port}") as c:
        d = c.check_retrieval([{"text": "hello", "metadata": nested(60)}], policy="p", context=nested(50))
        assert d.text == [{"text": "hello", "metadata": nested(60)}]
        r = c.check_tool_result("deep", {"list": [nested(60)]}, args=nested(60), policy="p")
        assert r.text == {"list": [nested(60)]}


def _write(tmp_path: Path) -> Path:
    d = tmp_path / "policies"
    d.mkdir(exist_ok=True)
    (d / "p.policy").write_text(POLICY)
    (d / "q.policy").write_text(OTHER)
    return d


# ---- 7. no traceback when callers leave at their deadline ---------------------------------


def test_callers_leaving_at_their_deadline_log_no_traceback(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="grpc")
    caplog.set_level(logging.INFO, logger="guardrails")
    with sidecar(tmp_path, max_concurrency=1) as s, grpc.insecure_channel(f"127.0.0.1:{s.port}") as ch:
        health = health_pb2_grpc.HealthStub(ch)
        watches = [health.Watch(health_pb2.HealthCheckRequest(), timeout=60) for _ in range(12)]
        for w in watches:
            first_message(w)

        def burst():
            for i in range(150):  # deadlines of 0.5 to 5 ms: many callers are gone when their answer is sent
                try:
                    tool_call(ch, metadata=None, timeout=0.0005 * (1 + i % 10))
                except grpc.RpcError:
                    pass

        threads = [threading.Thread(target=burst) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for w in watches:
            w.cancel()
        assert tool_call(ch, metadata=None).outcome == pb.OUTCOME_ALLOW
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    assert "Traceback" not in caplog.text and "ExecuteBatchError" not in caplog.text


# ---- the wire contract: reasons, reflection, counters ----------------------------------------


def test_each_refusal_names_its_reason(tmp_path):
    with sidecar(tmp_path, token=True) as s, GuardrailsClient(f"127.0.0.1:{s.port}", token=TOKEN) as c, \
            grpc.insecure_channel(f"127.0.0.1:{s.port}") as ch:
        with pytest.raises(PolicyNotFoundError) as err:
            c.check_tool_call("ping", policy="nope")
        assert (err.value.reason, err.value.metadata) == ("POLICY_NOT_FOUND", {"policy": "nope"})
        with pytest.raises(PolicyNotFoundError) as err:
            c.check_tool_call("ping", policy="p@9.9.9")
        assert (err.value.reason, err.value.metadata) == ("VERSION_NOT_FOUND", {"policy": "p"})
        with pytest.raises(InvalidRequestError) as err:
            c.check_tool_call("ping")  # two policies are loaded
        assert err.value.reason == "POLICY_REQUIRED"
        with pytest.raises(InvalidRequestError) as err:
            c.check_tool_call("ping", {"when": 0}, policy="p", session="x" * 300)
        assert err.value.reason == "INVALID_REQUEST"
        raw = ch.unary_unary("/guardrails.v1.Guardrails/CheckToolCall")
        with pytest.raises(grpc.RpcError) as e:
            raw(b"\xff\xff\xff", metadata=AUTH, timeout=5)
        assert (e.value.code(), reason(e.value)) == (grpc.StatusCode.INVALID_ARGUMENT, "MALFORMED_MESSAGE")
        with pytest.raises(grpc.RpcError) as e:
            raw(pb.CheckToolCallRequest(tool="", policy="p").SerializeToString(), metadata=AUTH, timeout=5)
        assert reason(e.value) == "INVALID_REQUEST" and status_details(e.value.trailing_metadata())[1] == \
            {"field": "tool"}
        unknown = ch.unary_unary("/guardrails.v1.Guardrails/NoSuchMethod")
        with pytest.raises(grpc.RpcError) as e:
            unknown(b"", metadata=AUTH, timeout=5)
        assert (e.value.code(), reason(e.value)) == (grpc.StatusCode.UNIMPLEMENTED, "UNKNOWN_METHOD")
        with pytest.raises(grpc.RpcError) as e:
            unknown(b"", timeout=5)  # no token: the method's existence is not revealed
        assert (e.value.code(), reason(e.value)) == (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")


def test_the_async_client_reads_the_reason_too(tmp_path):
    import asyncio

    from guardrails.sidecar.client import AsyncGuardrailsClient

    async def ask(port: int):
        async with AsyncGuardrailsClient(f"127.0.0.1:{port}") as c:
            with pytest.raises(PolicyNotFoundError) as err:
                await c.check_tool_call("ping", policy="p@9.9.9")
            return err.value

    with sidecar(tmp_path) as s:
        err = asyncio.run(ask(s.port))
    assert (err.reason, err.metadata, err.retry_after) == ("VERSION_NOT_FOUND", {"policy": "p"}, None)


def test_the_refusal_table_in_the_docs_is_the_registry():
    doc = (ROOT / "docs" / "sidecar.md").read_text()
    section = doc[doc.index("### Status codes"):doc.index("### Deadlines")]
    rows = {m.group(2): (m.group(1), m.group(3)) for m in
            re.finditer(r"^\| `([A-Z_]+)` \| `([A-Z_]+)` \| `([a-z-]+)` \|", section, re.M)}
    assert rows == {r.reason: (r.code.name, label) for label, r in REFUSALS.items()}


def _reflect(channel: grpc.Channel, service: str, request: reflection_pb2.ServerReflectionRequest):
    call = channel.stream_stream(f"/{service}/ServerReflectionInfo",
                                 request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                                 response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
    return list(call(iter([request]), metadata=AUTH, timeout=5))[0]


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_reflection_is_served_as_v1_and_v1alpha(tmp_path, version):
    from google.protobuf import descriptor_pb2

    service = f"grpc.reflection.{version}.ServerReflection"
    with sidecar(tmp_path, token=True) as s, grpc.insecure_channel(f"127.0.0.1:{s.port}") as ch:
        listed = _reflect(ch, service, reflection_pb2.ServerReflectionRequest(list_services=""))
        names = {x.name for x in listed.list_services_response.service}
        assert {"guardrails.v1.Guardrails", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
                "grpc.reflection.v1alpha.ServerReflection"} <= names
        for symbol in ("guardrails.v1.Guardrails", service):
            found = _reflect(ch, service, reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol))
            files = [descriptor_pb2.FileDescriptorProto.FromString(b)
                     for b in found.file_descriptor_response.file_descriptor_proto]
            assert any(symbol.rpartition(".")[2] in [x.name for x in f.service] for f in files), symbol
        with pytest.raises(grpc.RpcError) as e:  # reflection needs the token, like every call but health
            list(ch.stream_stream(f"/{service}/ServerReflectionInfo")(iter([b""]), timeout=5))
        assert e.value.code() is grpc.StatusCode.UNAUTHENTICATED


def test_every_rpc_is_counted_by_method_and_code(tmp_path):
    with sidecar(tmp_path, token=True) as s, GuardrailsClient(f"127.0.0.1:{s.port}", token=TOKEN) as c, \
            grpc.insecure_channel(f"127.0.0.1:{s.port}") as ch:
        c.check_tool_call("ping", policy="p")
        c.list_policies()
        with pytest.raises(PolicyNotFoundError):
            c.check_tool_call("ping", policy="nope")
        c.health()
        for name in ("/guardrails.v1.Guardrails/CheckToolCall", "/attacker.Chosen/Name"):
            with pytest.raises(grpc.RpcError):
                ch.unary_unary(name)(b"", timeout=5)  # no token
        G = "guardrails.v1.Guardrails"

        def handled(service, method, kind, code):
            return sample(s, "grpc_server_handled_total", grpc_service=service, grpc_method=method,
                          grpc_type=kind, grpc_code=code)

        assert handled(G, "CheckToolCall", "unary", "OK") == 1
        assert handled(G, "ListPolicies", "unary", "OK") == 1
        assert handled(G, "CheckToolCall", "unary", "NOT_FOUND") == 1
        assert handled(G, "CheckToolCall", "unary", "UNAUTHENTICATED") == 1
        assert handled("grpc.health.v1.Health", "Check", "unary", "OK") == 1
        assert handled("unknown", "unknown", "unknown", "UNAUTHENTICATED") == 1
        assert sample(s, "grpc_server_started_total", grpc_service=G, grpc_method="CheckToolCall",
                      grpc_type="unary") == 3
