"""An output request's sources through the sidecar: the proto field, the
Python client, and the session fallback, against a real server on loopback.
The same request to the engine in process must get the same decision."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from guardrails import Engine, Outcome
from guardrails.sidecar import ServerConfig, SidecarServer
from guardrails.sidecar._proto import guardrails_pb2 as pb
from guardrails.sidecar._proto import guardrails_pb2_grpc as pb_grpc
from guardrails.sidecar.client import GuardrailsClient, InvalidRequestError

POLICY = '''policy "g" version "1.0.0"
pattern citation = /\\[[\\w.-]{1,40}\\]/
output {
  rule not-grounded: deny "Not supported by the sources" when not grounded(min_share=0.8)
  rule figure: escalate to fact_check "A figure the sources do not give" when ungrounded(number_mismatch)
  rule cite: redact pattern citation using replace("<{entity}>") when ungrounded(bad_citation)
}
'''
SOURCES = [
    {"id": "kb-1", "text": "Refunds are accepted within 30 days of purchase.", "metadata": {"collection": "faq"}},
    {"id": "kb-2", "text": "Express delivery costs $12.99 and takes 2 business days."},
]


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("policies")
    (d / "g.policy").write_text(POLICY, encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def server(policy_dir):
    with SidecarServer(ServerConfig(policies=policy_dir, listen="127.0.0.1:0", hash_salt=b"k", watch=False)) as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    with GuardrailsClient(f"127.0.0.1:{server.port}") as c:
        yield c


@pytest.fixture(scope="module")
def engine(policy_dir):
    return Engine.from_path(policy_dir, hash_salt=b"k")


def _plain(d) -> dict:
    return d.model_dump(mode="json", exclude={"decision_id", "elapsed_us"})


@pytest.mark.parametrize("text, outcome", [
    ("Refunds are accepted within thirty days of purchase [kb-1].", Outcome.ALLOW),
    ("Refunds are accepted within 60 days of purchase.", Outcome.DENY),
    ("Express delivery costs $12.99 [kb-9]. Refunds are accepted within 30 days.", Outcome.DENY),
])
def test_the_client_sends_sources_and_gets_the_engine_s_decision(client, engine, text, outcome):
    remote = client.check_output(text, sources=SOURCES)
    local = engine.check_output(text, sources=SOURCES)
    assert remote.outcome is outcome
    assert _plain(remote) == _plain(local)


def test_a_number_mismatch_names_its_span_over_the_wire(client):
    text = "Refunds are accepted within 30 days. Express delivery costs $15."
    d = client.check_output(text, sources=SOURCES)
    assert d.outcome is Outcome.DENY  # half the claims: under 0.8, and a deny decides alone
    spans = [s for v in d.violations if v.rule == "not-grounded" for s in v.spans]
    assert [(s.entity, text[s.start:s.end]) for s in spans] == [
        ("NUMBER_MISMATCH", "Express delivery costs $15.")]


def test_plain_strings_and_missing_ids_count_from_one(client, server):
    d = client.check_output("Express delivery takes 2 business days [2].", sources=[s["text"] for s in SOURCES])
    assert d.outcome is Outcome.ALLOW, d.violations
    # A raw stub leaving `id` empty gets the same position-based ids.
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        stub = pb_grpc.GuardrailsStub(channel)
        msg = pb.CheckOutputRequest(text="Refunds are accepted within 30 days [1].",
                                    sources=[pb.Source(text=SOURCES[0]["text"])])
        assert stub.CheckOutput(msg, timeout=10).outcome == pb.OUTCOME_ALLOW
        msg = pb.CheckOutputRequest(text="Refunds are accepted within 30 days [2].",
                                    sources=[pb.Source(text=SOURCES[0]["text"])])
        got = stub.CheckOutput(msg, timeout=10)  # [2] names no source: there is only one
        assert got.outcome == pb.OUTCOME_DENY and got.violations[0].spans[0].entity == "BAD_CITATION"
    finally:
        channel.close()


def test_no_sources_fails_closed_and_bad_sources_are_refused(client):
    d = client.check_output("Refunds are accepted within 30 days.")
    assert d.outcome is Outcome.DENY and {e.code for e in d.errors} == {"missing-attribute"}
    with pytest.raises(InvalidRequestError, match=r"repeats the id 'a'"):
        client.check_output("x", sources=[{"id": "a", "text": "1"}, {"id": "a", "text": "2"}])
    with pytest.raises(InvalidRequestError, match=r"sources\[0\] needs a string 'text'"):
        client.check_output("x", sources=[{"id": "a"}])


def test_a_session_s_retrieved_chunks_stand_in_for_missing_sources(client):
    client.check_retrieval([{"text": "Refunds are accepted within 30 days of purchase."}], session="g-run-1")
    assert client.check_output("Refunds are accepted within 30 days.", session="g-run-1").outcome is Outcome.ALLOW
    assert client.check_output("Refunds are accepted within 45 days.", session="g-run-1").outcome is Outcome.DENY
    # Sources the request carries win over the session's.
    d = client.check_output("Refunds are accepted within 45 days.", session="g-run-1",
                            sources=["Refunds are accepted within 45 days."])
    assert d.outcome is Outcome.ALLOW


def test_the_async_client_sends_sources_too(server):
    import asyncio

    from guardrails.sidecar.client import AsyncGuardrailsClient

    async def go():
        async with AsyncGuardrailsClient(f"127.0.0.1:{server.port}") as c:
            return await c.check_output("Refunds are accepted within 90 days.", sources=SOURCES)

    d = asyncio.run(go())
    assert d.outcome is Outcome.DENY and d.violations[0].spans[0].entity == "NUMBER_MISMATCH"


def _stream_in_process(engine, pieces, **kw):
    """What the library's StreamGuard releases and decides for the same stream."""
    from guardrails.guard.backend import PolicyViolation
    from guardrails.guard.stream_guard import StreamGuard

    sg = StreamGuard(engine, policy="g", **kw)
    out = []
    try:
        for p in pieces:
            out.append(sg.feed(p))
        rest, d = sg.finish()
        out.append(rest)
    except PolicyViolation as stop:
        d = stop.decision
    return "".join(out), d


STREAMED = ["Refunds are accepted ", "within thirty days of purchase. ", "Express delivery ",
            "takes 2 business days."]


def test_a_stream_checked_against_its_sources_is_released_as_in_process(client, engine):
    stream = client.guard_stream(STREAMED, policy="g", sources=SOURCES)
    released = stream.text()
    local_text, local = _stream_in_process(engine, STREAMED, sources=SOURCES)
    assert released == local_text == "".join(STREAMED)
    assert stream.decision.outcome is local.outcome is Outcome.ALLOW


def test_an_unsupported_figure_in_a_stream_is_never_released(client, engine):
    pieces = ["Refunds are accepted within 30 days of purchase. ", "Express delivery takes 2 business days. ",
              "Refunds are accepted within thirty days. ", "Express delivery costs ", "$15 and takes ",
              "2 business days. ", "Anything else?"]
    stream = client.guard_stream(pieces, policy="g", sources=SOURCES)
    released = stream.text()
    # The supported sentences before it are released (past the holdback); the figure never is.
    assert "".join(pieces).startswith(released) and "2 business days. " in released and "$15" not in released
    assert stream.decision.outcome is Outcome.DENY
    local_text, local = _stream_in_process(engine, pieces, sources=SOURCES)
    assert released == local_text and local.outcome is Outcome.DENY


def test_a_stream_without_sources_reads_its_session_s_chunks(client):
    client.check_retrieval([{"text": "Gift cards never expire and cannot be exchanged for cash."}],
                           session="g-stream-1")
    ok = client.guard_stream(["Gift cards never expire."], policy="g", session="g-stream-1")
    assert ok.text() == "Gift cards never expire." and ok.decision.outcome is Outcome.ALLOW
    bad = client.guard_stream(["Gift cards expire after 12 months."], policy="g", session="g-stream-1")
    assert "12 months" not in bad.text() and bad.decision.outcome is Outcome.DENY
    # Without sources or a session that has any, grounded() has nothing to read: closed.
    none = client.guard_stream(["Gift cards never expire."], policy="g")
    assert none.text() == "" and none.decision.outcome is Outcome.DENY


def test_bad_stream_sources_are_refused_before_any_text(client, server):
    with pytest.raises(InvalidRequestError, match=r"sources\[0\] needs a string 'text'"):
        client.guard_stream(["x"], policy="g", sources=[{"id": "a"}])
    # The same mistake from a raw stub is refused by the server, naming the field.
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        call = channel.stream_stream("/guardrails.v1.Guardrails/GuardStream",
                                     request_serializer=pb.GuardStreamRequest.SerializeToString,
                                     response_deserializer=pb.GuardStreamResponse.FromString)
        start = pb.StreamStart(policy="g", sources=[pb.Source(id="a", text="1"), pb.Source(id="a", text="2")])
        with pytest.raises(grpc.RpcError) as err:
            list(call(iter([pb.GuardStreamRequest(start=start), pb.GuardStreamRequest(chunk="hello")]), timeout=10))
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT and "repeats the id 'a'" in err.value.details()
    finally:
        channel.close()
