"""GuardStream releases what StreamGuard releases in process, never a raw
value split across chunks, and ends with the decision."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest

from guardrails import Engine, Outcome
from guardrails.sidecar._proto import guardrails_pb2 as pb
from guardrails.sidecar._proto import guardrails_pb2_grpc as pb_grpc
from guardrails.sidecar.client import GuardrailsClient, InvalidRequestError, PolicyNotFoundError
from guardrails.guard.backend import PolicyViolation
from guardrails.sidecar import ServerConfig, SidecarServer
from guardrails.guard.stream_guard import StreamGuard
from guardrails.testing import TEST_HASH_SALT

POLICIES = Path(__file__).resolve().parent.parent / "policies"

ANSWER = ("Thanks for waiting. You can reach the team at jane.doe@example.com or on 212-555-0134, "
          "and the card ending 4111 1111 1111 1111 was refunded. " * 3) + "Anything else?"
RAW = ["jane.doe@example.com", "212-555-0134", "4111 1111 1111 1111"]


@pytest.fixture(scope="module")
def server():
    with SidecarServer(ServerConfig(policies=POLICIES, listen="127.0.0.1:0", hash_salt=TEST_HASH_SALT,
                                    watch=False)) as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    with GuardrailsClient(f"127.0.0.1:{server.port}") as c:
        yield c


@pytest.fixture(scope="module")
def engine():
    return Engine.from_path(POLICIES, hash_salt=TEST_HASH_SALT)


def in_process(engine, chunks, **kw):
    sg = StreamGuard(engine, policy="support-bot", **kw)
    out = []
    try:
        for c in chunks:
            out.append(sg.feed(c))
        rest, d = sg.finish()
        out.append(rest)
    except PolicyViolation as stop:
        d = stop.decision
    return [o for o in out if o], d


def plain(d) -> str:
    """Canonical JSON of a decision without the per-call fields (50 and 50.0 differ)."""
    return json.dumps(d.model_dump(mode="json", exclude={"decision_id", "elapsed_us"}), sort_keys=True)


@pytest.mark.parametrize("size", [1, 3, 7, 16, 50])
def test_stream_matches_stream_guard_in_process(client, engine, size):
    chunks = [ANSWER[i:i + size] for i in range(0, len(ANSWER), size)]
    stream = client.guard_stream(chunks, policy="support-bot")
    released = list(stream)
    local, d = in_process(engine, chunks)
    assert released == local
    assert plain(stream.decision) == plain(d)
    assert stream.decision.outcome is Outcome.REDACT
    whole = "".join(released)
    assert whole == engine.check_output(ANSWER, policy="support-bot").text
    for value in RAW:
        assert value not in whole
    # No prefix of what was released holds a raw value, even partly: every
    # released piece is already redacted where a value was.
    for piece in released:
        for value in RAW:
            assert value[:8] not in piece


def test_a_deny_stops_the_stream(client, engine):
    chunks = ["Sure. For the symptom take the ", "prescription; the diagnosis is ", "flu. " * 30, "Bye."]
    stream = client.guard_stream(chunks, policy="support-bot", holdback=-1)
    released = list(stream)
    assert released == []  # holdback=-1: nothing before the final check
    assert stream.decision.outcome is Outcome.DENY and stream.decision.rule_ids == ["no-medical"]
    local, d = in_process(engine, chunks, holdback=float("inf"))
    assert plain(stream.decision) == plain(d)


def test_context_reaches_the_rules(client):
    text = "Your order ORD-12345678 ships today."
    anon = client.guard_stream([text[:15], text[15:]], policy="support-bot")
    known = client.guard_stream([text[:15], text[15:]], policy="support-bot", context={"user_id": "u1"})
    assert "".join(anon) == "Your order ############ ships today."
    assert "".join(known) == text


def test_stream_errors(server, client):
    with pytest.raises(PolicyNotFoundError):
        list(client.guard_stream(["x"], policy="nope"))
    with pytest.raises(InvalidRequestError, match="holdback"):
        list(client.guard_stream(["x"], policy="support-bot", holdback=-5))
    with pytest.raises(InvalidRequestError, match="chunks must be strings"):
        list(client.guard_stream(["x", 3], policy="support-bot"))

    def failing():
        yield "some text"
        raise KeyError("the model's stream broke")

    with pytest.raises(KeyError, match="stream broke"):
        list(client.guard_stream(failing(), policy="support-bot"))
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        stub = pb_grpc.GuardrailsStub(ch)
        with pytest.raises(grpc.RpcError) as err:
            list(stub.GuardStream(iter([pb.GuardStreamRequest(chunk="no start")]), timeout=5))
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "first message must be `start`" in err.value.details()
        with pytest.raises(grpc.RpcError) as err:
            list(stub.GuardStream(iter([]), timeout=5))
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_stream_guard_accepts_the_client(client, engine):
    """The decorator's StreamGuard can drive the sidecar through the client."""
    chunks = [ANSWER[i:i + 9] for i in range(0, len(ANSWER), 9)]
    remote, d_remote = in_process(client, chunks)
    local, d_local = in_process(engine, chunks)
    assert remote == local and plain(d_remote) == plain(d_local)


def test_a_cancelled_stream_gives_its_slot_back(tmp_path):
    # One slot: an open stream holds it, so a check is refused; once the
    # client cancels the stream, the slot comes back.
    import threading
    import time

    from guardrails.sidecar.client import OverloadedError

    with SidecarServer(ServerConfig(policies=POLICIES, listen="127.0.0.1:0", hash_salt=TEST_HASH_SALT,
                                    watch=False, max_concurrency=1)) as s, \
            GuardrailsClient(f"127.0.0.1:{s.port}") as c:
        channel = grpc.insecure_channel(f"127.0.0.1:{s.port}")
        stub = pb_grpc.GuardrailsStub(channel)
        opened = threading.Event()

        def requests():
            yield pb.GuardStreamRequest(start=pb.StreamStart(policy="support-bot"))
            yield pb.GuardStreamRequest(chunk="Hello, ")
            opened.set()
            time.sleep(30)  # never finishes on its own

        call = stub.GuardStream(requests())
        assert opened.wait(10)
        deadline = time.time() + 10  # the stream takes the slot once the server reads its start
        while True:
            try:
                c.check_tool_call("lookup_order", {"order_id": "ORD-12345678"}, policy="support-bot")
            except OverloadedError:
                break
            assert time.time() < deadline, "the open stream never held the slot"
            time.sleep(0.05)
        call.cancel()
        deadline = time.time() + 10
        while True:
            try:
                d = c.check_tool_call("lookup_order", {"order_id": "ORD-12345678"}, policy="support-bot")
                break
            except OverloadedError:
                assert time.time() < deadline, "the cancelled stream kept its slot"
                time.sleep(0.05)
        assert d.policy.name == "support-bot"
        channel.close()
