"""The sidecar answers like the engine, and refuses bad requests clearly.

One server on the example policies serves the whole module; tests that need
other policies or limits start their own small server on loopback.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from pathlib import Path

import grpc
import pytest

from guardrails import Engine, Outcome
from guardrails.sidecar._proto import guardrails_pb2 as pb
from guardrails.sidecar._proto import guardrails_pb2_grpc as pb_grpc
from guardrails.sidecar.client import (
    AsyncGuardrailsClient,
    GuardrailsClient,
    InvalidRequestError,
    OverloadedError,
    PolicyNotFoundError,
)
from guardrails.sidecar import ServerConfig, SidecarServer
from guardrails.sidecar.convert import to_struct
from guardrails.testing import TEST_HASH_SALT, compare, load_tests

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
TEST_FILES = sorted(POLICIES.glob("*.tests.yaml"))


def _cases(steps: bool):
    """The example cases with one request each, or the step cases (agent runs)."""
    out = []
    for f in TEST_FILES:
        t = load_tests(f)
        for case in t.cases:
            if bool(getattr(case, "steps", None)) == steps:
                out.append(pytest.param(t.policy, case, id=f"{f.name.split('.')[0]}:{case.name}"))
    return out


CASES = _cases(steps=False)
STEP_CASES = _cases(steps=True)
# The module's sidecar keeps one in-memory store for every test: each step case
# is replayed this much later than the one before, so no window or rate-limit
# count of an earlier case reaches it (the engine resets its state instead).
STEP_CASE_SPACING = 30 * 86400.0


@pytest.fixture(scope="module")
def server():
    with SidecarServer(ServerConfig(policies=POLICIES, listen="127.0.0.1:0", metrics="127.0.0.1:0",
                                    hash_salt=TEST_HASH_SALT, watch=False)) as s:
        yield s


@pytest.fixture(scope="module")
def engine():
    return Engine.from_path(POLICIES, hash_salt=TEST_HASH_SALT)


@pytest.fixture(scope="module")
def client(server):
    with GuardrailsClient(f"127.0.0.1:{server.port}") as c:
        yield c


@pytest.fixture(scope="module")
def stub(server):
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    yield pb_grpc.GuardrailsStub(channel)
    channel.close()


def same(a, b) -> tuple[dict, dict]:
    """The decisions as JSON values, without the fields that differ per call."""
    return (a.model_dump(mode="json", exclude={"decision_id", "elapsed_us"}),
            b.model_dump(mode="json", exclude={"decision_id", "elapsed_us"}))


def canonical(value) -> str:
    """JSON text with sorted keys: 50 and 50.0 differ, key order does not."""
    return json.dumps(value, sort_keys=True)


def small_server(tmp_path: Path, source: str, **config) -> SidecarServer:
    d = tmp_path / "policies"
    d.mkdir(exist_ok=True)
    (d / "p.policy").write_text(source)
    config.setdefault("watch", False)
    return SidecarServer(ServerConfig(policies=d, listen="127.0.0.1:0", hash_salt=b"k", **config))


# ---- the same decisions both ways --------------------------------------------


def test_there_are_example_cases():
    assert len(CASES) >= 50


@pytest.mark.parametrize("policy,case", CASES)
def test_example_case_decides_the_same_through_the_sidecar(policy, case, engine, client):
    local = engine.check(case.stage, case.request, policy=policy)
    remote = client.check(case.stage, case.request, policy=policy)
    a, b = same(local, remote)
    assert (b["outcome"], [v["rule"] for v in b["violations"]], b["text"], b["policy"]) == \
           (a["outcome"], [v["rule"] for v in a["violations"]], a["text"], a["policy"])
    assert canonical(a) == canonical(b)  # every other field too: spans, errors, chunks, route
    if not case.fixed and case.todo is None:  # cases that fix detector results run only in process
        assert compare(case, remote) == []


@pytest.mark.parametrize("index,policy,case", [pytest.param(i, *p.values, id=p.id) for i, p in enumerate(STEP_CASES)])
def test_step_case_decides_the_same_through_the_sidecar(index, policy, case, engine, client):
    engine.reset_state()
    shift = (index + 1) * STEP_CASE_SPACING
    for step in case.steps:
        local = engine.check(step.stage, step.request, policy=policy)
        request = dict(step.request, at=step.request["at"] + shift) if step.request.get("at") else step.request
        remote = client.check(step.stage, request, policy=policy)
        a, b = same(local, remote)
        # Labels, session, outcome, every field; whether they match the case's
        # expectations is the policy tests' job (`guardrails test`).
        assert canonical(a) == canonical(b), f"steps[{step.index}]"


def test_explain_trace_survives_the_wire(engine, client):
    local = engine.check_input("Email me at jo@example.com", policy="support-bot", explain=True)
    remote = client.check_input("Email me at jo@example.com", policy="support-bot", explain=True)
    assert remote.trace and [t.model_dump() for t in remote.trace] == [t.model_dump() for t in local.trace]
    assert client.check_input("hi", policy="support-bot").trace is None


def test_whole_numbers_stay_integers(engine, client):
    # A tool result carries any JSON (a refund's arguments are fixed by its schema).
    args = {"amount": 50, "ratio": 0.5, "ok": True, "items": [1, 2.5, None, {"n": 3}], "note": "x"}
    d = client.check_tool_result("lookup_order", args, args={"order_id": "ORD-12345678"}, policy="support-bot")
    assert d.outcome is Outcome.ALLOW
    assert json.dumps(d.text, sort_keys=True) == json.dumps(args, sort_keys=True)
    assert type(d.text["amount"]) is int and type(d.text["ok"]) is bool


def test_async_clients(server, engine):
    import asyncio

    async def main():
        async with AsyncGuardrailsClient(f"127.0.0.1:{server.port}") as ac:
            d1 = await ac.check_tool_call("issue_refund", {"amount": 7500}, policy="support-bot")
            d2 = await ac.acheck_input("mail jo@example.com", policy="support-bot")
            listing = await ac.list_policies()
        with GuardrailsClient(f"127.0.0.1:{server.port}") as c:
            d3 = await c.acheck_output("fine", policy="support-bot")
        return d1, d2, d3, listing

    d1, d2, d3, listing = asyncio.run(main())
    assert d1.outcome is Outcome.DENY and d1.messages() == ["Refunds above 5000 need a ticket"]
    assert d2.text == "mail <EMAIL_ADDRESS>"
    assert d3.outcome is Outcome.ALLOW
    assert {p.name for p in listing.active.policies} == {p.name for p in engine.policies}
    assert {"support-bot", "rag-search", "coding-assistant"} <= {p.name for p in listing.active.policies}


# ---- generic gRPC tooling ---------------------------------------------------------


def test_health_is_serving(server, client):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    assert client.health() == "SERVING"
    assert client.health("guardrails.v1.Guardrails") == "SERVING"
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        resp = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert resp.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_services(server):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        stub = reflection_pb2_grpc.ServerReflectionStub(ch)
        responses = list(stub.ServerReflectionInfo(iter([
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="guardrails.v1.Guardrails"),
        ]), timeout=5))
    names = {s.name for s in responses[0].list_services_response.service}
    assert {"guardrails.v1.Guardrails", "grpc.health.v1.Health"} <= names
    assert responses[1].file_descriptor_response.file_descriptor_proto  # enough for grpcurl to build requests


UNICODE = "Ünïcödé ✓ 😀 write to émilie@example.fr"


def _in_each_unit(text: str, span) -> tuple[str, str, str]:
    """The span's value cut out by code points, by UTF-8 bytes and by UTF-16 code units."""
    utf16 = text.encode("utf-16-le")
    return (text[span.start:span.end], text.encode()[span.start_utf8:span.end_utf8].decode(),
            utf16[2 * span.start_utf16:2 * span.end_utf16].decode("utf-16-le"))


def test_span_offsets_come_in_code_points_utf8_and_utf16(stub):
    d = stub.CheckInput(pb.CheckInputRequest(text=UNICODE, policy="support-bot"), timeout=30)
    spans = [sp for v in d.violations for sp in v.spans if sp.entity == "EMAIL_ADDRESS"]
    assert spans and _in_each_unit(UNICODE, spans[0]) == ("émilie@example.fr",) * 3
    assert (spans[0].start, spans[0].start_utf8, spans[0].start_utf16) == (21, 30, 22)
    # In a tool call, the offsets count within the string at `field`.
    note = "📦 refund, then mail émilie@example.fr"
    msg = pb.CheckToolCallRequest(tool="issue_refund", policy="support-bot",
                                  args=to_struct({"amount": 10, "note": note}))
    spans = [sp for v in stub.CheckToolCall(msg, timeout=30).violations for sp in v.spans]
    assert spans and spans[0].field == "args.note"
    assert _in_each_unit(note, spans[0]) == ("émilie@example.fr",) * 3
    ascii_ = stub.CheckInput(pb.CheckInputRequest(text="mail jo@example.com", policy="support-bot"), timeout=30)
    sp = ascii_.violations[0].spans[0]
    assert (sp.start, sp.end) == (sp.start_utf8, sp.end_utf8) == (sp.start_utf16, sp.end_utf16)


def test_list_policies(client, engine):
    listing = client.list_policies()
    got = {(p.name, p.version, p.digest) for p in listing.active.policies}
    assert got == {(p.name, p.version, p.digest) for p in engine.policies}
    assert listing.active.generation == 1 and listing.active.reload.ok and listing.active.reload.error == ""
    assert listing.candidate is None and listing.rollout is None
    assert listing.active.source == str(POLICIES)


# ---- bad requests --------------------------------------------------------------------


def _raw_call(server, method: str, payload: bytes):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        call = ch.unary_unary(f"/guardrails.v1.Guardrails/{method}")  # bytes in, bytes out
        return call(payload, timeout=5)


def test_malformed_bytes_are_invalid_argument(server):
    with pytest.raises(grpc.RpcError) as err:
        _raw_call(server, "CheckInput", b"\xff\xff\xff\xff")
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed guardrails.v1.CheckInputRequest" in err.value.details()


def test_invalid_utf8_is_invalid_argument(server):
    payload = b"\x0a\x02\xc3\x28"  # field 1 (text), 2 bytes, not UTF-8
    with pytest.raises(grpc.RpcError) as err:
        _raw_call(server, "CheckInput", payload)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_missing_tool_is_invalid_argument(stub):
    with pytest.raises(grpc.RpcError) as err:
        stub.CheckToolCall(pb.CheckToolCallRequest(policy="support-bot"), timeout=5)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "CheckToolCallRequest: tool must be a non-empty string"


def test_no_policy_named_is_invalid_argument(stub):
    with pytest.raises(grpc.RpcError) as err:
        stub.CheckInput(pb.CheckInputRequest(text="hi"), timeout=5)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "several policies are loaded" in err.value.details()


def test_too_deep_args_are_invalid_argument(stub):
    deep: dict = {}
    node = deep
    for _ in range(70):  # deeper than the engine's 64 levels; within protobuf's recursion limit
        node["a"] = {}
        node = node["a"]
    msg = pb.CheckToolCallRequest(tool="issue_refund", policy="support-bot")
    try:
        msg.args.CopyFrom(to_struct(deep))
    except Exception:  # noqa: BLE001 - some protobuf builds refuse this depth on the client already
        pytest.skip("this protobuf build cannot build a message this deep")
    with pytest.raises(grpc.RpcError) as err:
        stub.CheckToolCall(msg, timeout=5)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("policy,message", [
    ("nope", "unknown policy 'nope'"),
    ("support-bot@9.9.9", "policy 'support-bot' has no version 9.9.9"),
])
def test_unknown_policy_is_not_found(client, policy, message):
    with pytest.raises(PolicyNotFoundError) as err:
        client.check_input("hi", policy=policy)
    assert err.value.code is grpc.StatusCode.NOT_FOUND
    assert message in str(err.value)


def test_client_refuses_what_cannot_travel(client):
    with pytest.raises(InvalidRequestError, match="beyond 2\\*\\*53"):
        client.check_tool_call("issue_refund", {"amount": 2**60}, policy="support-bot")
    with pytest.raises(InvalidRequestError, match="not a JSON value"):
        client.check_tool_call("issue_refund", {"amount": object()}, policy="support-bot")
    with pytest.raises(InvalidRequestError, match="text must be a string"):
        client.check_input(42, policy="support-bot")  # type: ignore[arg-type]


def test_oversized_request_is_rejected(tmp_path):
    source = 'policy "p" version "1.0.0"\ninput { rule r: deny "x" when text matches /zzz/ }\n'
    with small_server(tmp_path, source, max_message_bytes=64 * 1024) as s:
        with GuardrailsClient(f"127.0.0.1:{s.port}") as c:
            assert c.check_input("a" * 1000).outcome is Outcome.ALLOW
            with pytest.raises(OverloadedError) as err:
                c.check_input("a" * 100_000)
            assert err.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert c.check_input("still serving").outcome is Outcome.ALLOW


# ---- faults ---------------------------------------------------------------------------

SLOW_POLICY = """policy "p" version "1.0.0"
config { regex_timeout_ms = 600 }
pattern slow = /(a|aa)+b/
input { rule runaway: deny "slow" when text matches slow }
tool_call { rule ping: allow when tool == "ping" }
"""
EVIL = "a" * 40 + "!"


def test_runaway_regex_is_bounded_and_the_server_keeps_serving(tmp_path):
    with small_server(tmp_path, SLOW_POLICY) as s, GuardrailsClient(f"127.0.0.1:{s.port}") as c:
        d = c.check_input(EVIL)  # bounded: the regex-timeout error says it was cut off, not how fast
        assert d.outcome is Outcome.DENY and [e.code for e in d.errors] == ["regex-timeout"]
        assert c.check_tool_call("ping").outcome is Outcome.ALLOW


def test_concurrency_limit_refuses_at_once(tmp_path):
    with small_server(tmp_path, SLOW_POLICY, max_concurrency=1) as s, \
            GuardrailsClient(f"127.0.0.1:{s.port}") as c:
        slow = threading.Thread(target=c.check_input, args=(EVIL,))
        slow.start()
        # Poll until the slow request holds the only slot (~0.6 s). A queued ping would
        # wait for the slot and then succeed, so only a refusal ends the loop.
        deadline = time.monotonic() + 10
        while True:
            try:
                c.check_tool_call("ping")
            except OverloadedError as exc:
                err = exc
                break
            assert slow.is_alive() and time.monotonic() < deadline, "no ping was refused while the slot was held"
        assert err.code is grpc.StatusCode.RESOURCE_EXHAUSTED and "limit of 1" in str(err)
        assert c.health() == "SERVING"  # health checks need no slot
        slow.join()
        assert c.check_tool_call("ping").outcome is Outcome.ALLOW


def test_expired_deadline_is_not_evaluated(tmp_path):
    from guardrails.sidecar.client import SidecarUnavailableError

    with small_server(tmp_path, SLOW_POLICY) as s, GuardrailsClient(f"127.0.0.1:{s.port}") as c:
        with pytest.raises(SidecarUnavailableError) as err:
            c.check_input(EVIL, timeout=0.1)
        assert err.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
        assert c.check_tool_call("ping").outcome is Outcome.ALLOW


class _BrokenClassifier:
    def score(self, topic: str, text: str) -> float:
        raise RuntimeError("classifier down: " + text)


def test_a_detector_that_raises_fails_closed_with_the_error(tmp_path, caplog):
    source = ('policy "p" version "1.0.0"\ntopic medical { "diagnosis" 1.0 }\n'
              'output { rule m: deny "medical" when topic(medical) >= 0.6 }\n')
    caplog.set_level(logging.DEBUG)
    with small_server(tmp_path, source, engine_options={"topic_classifier": _BrokenClassifier()}) as s, \
            GuardrailsClient(f"127.0.0.1:{s.port}") as c:
        d = c.check_output("my secret symptom text")
    assert d.outcome is Outcome.DENY and d.text is None
    assert [e.code for e in d.errors] == ["detector-failed"]
    assert "secret symptom" not in d.model_dump_json() and "secret symptom" not in caplog.text


def test_connection_failure_is_a_clear_error():
    from guardrails import GuardrailsError
    from guardrails.sidecar.client import SidecarUnavailableError

    with GuardrailsClient("127.0.0.1:1", timeout=2) as c:
        with pytest.raises(SidecarUnavailableError) as err:
            c.check_input("hi", policy="p")
    assert isinstance(err.value, GuardrailsError) and isinstance(err.value, ConnectionError)
    assert "127.0.0.1:1" in str(err.value)


# ---- metrics, the decision log, and what is logged ------------------------------------------


def test_metrics_show_latency_histograms(server, client):
    client.check_tool_call("issue_refund", {"amount": 7500}, policy="support-bot")
    client.check_input("mail jo@example.com", policy="support-bot")
    body = urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=5).read().decode()
    assert 'guardrails_decision_latency_seconds_bucket{le="0.001",stage="tool_call"}' in body
    assert 'guardrails_decision_latency_seconds_count{stage="input"}' in body
    assert 'guardrails_decisions_total{outcome="deny",policy="support-bot",stage="tool_call",version="1.4.0"}' in body
    assert 'guardrails_rule_hits_total{effect="deny",policy="support-bot",rule="cap"}' in body
    assert 'guardrails_policy_info{' in body and 'name="support-bot"' in body
    assert 'guardrails_reloads_total{result="success",set="active"} 1.0' in body
    assert 'guardrails_reload_ok{set="active"} 1.0' in body


RAW_VALUES = ["jane.doe@example.com", "212-555-0134", "4111 1111 1111 1111", "536-22-8726",
              "AKIA4HNP2X7QW9LRZT3M"]


def test_logs_and_decision_log_hold_no_raw_value(tmp_path, caplog):
    from guardrails.decision_log import verify_log

    caplog.set_level(logging.DEBUG)  # everything, from every logger
    log_path = tmp_path / "decisions.jsonl"
    with SidecarServer(ServerConfig(policies=POLICIES, listen="127.0.0.1:0", decision_log=log_path,
                                    watch=False, shadow=POLICIES)) as s, \
            GuardrailsClient(f"127.0.0.1:{s.port}") as c:
        for value in RAW_VALUES:
            c.check_input(f"please use {value} for it", policy="support-bot", explain=True)
            c.check_output(f"here: {value}", policy="support-bot")
            c.check_tool_call("issue_refund", {"amount": 10, "note": value}, policy="support-bot")
            c.check_retrieval([{"text": f"doc {value}", "metadata": {}}], policy="rag-search")
            with pytest.raises(InvalidRequestError):
                c.check_tool_call("", {"note": value}, policy="support-bot")
        s.shadow.join()
    text = caplog.text + log_path.read_text()
    assert "decision " in caplog.text  # debug decision lines were logged
    for value in RAW_VALUES:
        assert value not in text
    assert verify_log(log_path).ok
    assert len(log_path.read_text().splitlines()) == 1 + 4 * len(RAW_VALUES)
