"""The sidecar's spans (guardrails/sidecar/tracing.py): a real sidecar on
loopback with the OpenTelemetry SDK's in-memory exporter, and a gRPC client
with its own tracer that sends W3C trace context in the request's metadata."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from guardrails.sidecar import ServerConfig, SidecarServer
from guardrails.sidecar._proto import guardrails_pb2 as pb
from guardrails.sidecar._proto import guardrails_pb2_grpc as pb_grpc
from guardrails.sidecar.rpc import Later
from guardrails.sidecar.tracing import RpcTracing, TraceContextInterceptor, inject

ROOT = Path(__file__).resolve().parent.parent
EMAIL = "jo@example.com"


def _provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


@pytest.fixture(scope="module")
def sidecar():
    provider, exporter = _provider()
    cfg = ServerConfig(policies=ROOT / "policies", listen="127.0.0.1:0", hash_salt=b"k", watch=False,
                       tracer_provider=provider)
    with SidecarServer(cfg) as s:
        yield s, exporter


@pytest.fixture()
def spans(sidecar):
    _, exporter = sidecar
    exporter.clear()
    return exporter


@pytest.fixture(scope="module")
def stub(sidecar):
    server, _ = sidecar
    channel = grpc.intercept_channel(grpc.insecure_channel(f"127.0.0.1:{server.port}"), TraceContextInterceptor())
    with channel:
        yield pb_grpc.GuardrailsStub(channel)


def _values(span) -> str:
    return json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in span.attributes.items()})


def test_a_traced_request_continues_the_clients_trace(stub, spans):
    client_provider, client_spans = _provider()
    tracer = client_provider.get_tracer("the-app")
    with tracer.start_as_current_span("handle chat", kind=SpanKind.CLIENT) as parent:
        answer = stub.CheckInput(pb.CheckInputRequest(text=f"mail me at {EMAIL}", policy="support-bot"),
                                 timeout=30)
    assert answer.outcome == pb.OUTCOME_REDACT
    (app_span,) = client_spans.get_finished_spans()
    (server_span,) = spans.get_finished_spans()
    assert server_span.name == "guardrails.check input" and server_span.kind is SpanKind.SERVER
    assert server_span.context.trace_id == app_span.context.trace_id == parent.get_span_context().trace_id
    assert server_span.parent is not None and server_span.parent.span_id == app_span.context.span_id
    assert server_span.parent.is_remote
    a = server_span.attributes
    assert a["guardrails.stage"] == "input" and a["guardrails.outcome"] == "redact"
    assert a["guardrails.policy.name"] == "support-bot" and a["guardrails.policy.version"] == answer.policy.version
    assert a["guardrails.policy.digest"] == answer.policy.digest
    assert list(a["guardrails.rule_ids"]) == [v.rule for v in answer.violations]
    assert a["guardrails.decision_id"] == answer.decision_id and a["guardrails.elapsed_us"] == answer.elapsed_us
    assert EMAIL not in _values(server_span) and "mail me" not in _values(server_span)


def test_every_stage_is_a_span_with_its_session_and_no_values(stub, spans):
    args = {"order_id": "ORD-12345678", "amount": 9000, "note": f"for {EMAIL}"}
    req = pb.CheckToolCallRequest(tool="issue_refund", policy="support-bot", session="run-42")
    req.args.update(args)
    d = stub.CheckToolCall(req, timeout=30)
    res = pb.CheckToolResultRequest(tool="lookup_order", policy="support-bot")
    res.result.string_value = "customer SSN 536-22-8472"
    r = stub.CheckToolResult(res, timeout=30)
    stub.CheckOutput(pb.CheckOutputRequest(text="the usual dosage is two tablets; prescription and diagnosis",
                                           policy="support-bot"), timeout=30)
    tool, result, output = sorted(spans.get_finished_spans(), key=lambda s: s.start_time)
    assert tool.parent is None  # no trace context sent: a trace of its own
    assert tool.attributes["guardrails.outcome"] == "deny" and list(tool.attributes["guardrails.rule_ids"]) == \
        [v.rule for v in d.violations]
    assert tool.attributes["guardrails.session"] == "run-42"
    assert result.attributes["guardrails.stage"] == "tool_result"
    assert list(result.attributes["guardrails.rule_ids"]) == [v.rule for v in r.violations] != []
    assert output.attributes["guardrails.outcome"] == "deny"
    everything = " ".join(_values(s) for s in (tool, result, output))
    for raw in (EMAIL, "536-22-8472", "9000", "ORD-12345678", "dosage"):
        assert raw not in everything


def test_a_refused_request_is_an_error_span_without_its_message(stub, spans):
    with pytest.raises(grpc.RpcError) as caught:
        stub.CheckInput(pb.CheckInputRequest(text=EMAIL, policy="no-such-policy"), timeout=30)
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    (span,) = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["guardrails.refusal"] == "policy-not-found"
    assert "no-such-policy" not in _values(span) and EMAIL not in _values(span) and not span.events


def test_no_tracer_configured_opens_no_span_and_reads_no_metadata():
    tracing = RpcTracing()
    assert tracing.tracer() is None  # no provider given and no global one set

    class Context:
        def invocation_metadata(self):
            raise AssertionError("metadata read without a tracer")

    handler = lambda raw, ctx: ("answer", raw)
    assert tracing.wrap("input", handler, Later)(b"x", Context()) == ("answer", b"x")


def test_a_deferred_answer_ends_its_span_when_it_finishes():
    provider, exporter = _provider()
    tracing = RpcTracing(provider)
    decision = pb.Decision(decision_id="d1", outcome=pb.OUTCOME_ALLOW, policy=pb.PolicyRef(name="p", version="1"))

    class Context:
        def invocation_metadata(self):
            return ()

    later = tracing.wrap("tool_call", lambda raw, ctx: Later(lambda: decision), Later)(b"", Context())
    assert isinstance(later, Later) and exporter.get_finished_spans() == ()
    assert later() is decision
    (span,) = exporter.get_finished_spans()
    assert span.attributes["guardrails.outcome"] == "allow" and span.attributes["guardrails.decision_id"] == "d1"


def test_inject_adds_trace_context_only_inside_a_span():
    assert inject((("authorization", "Bearer t"),)) == (("authorization", "Bearer t"),)
    provider, _ = _provider()
    with provider.get_tracer("t").start_as_current_span("s") as s:
        pairs = dict(inject())
    trace_id = format(s.get_span_context().trace_id, "032x")
    assert pairs["traceparent"].split("-")[1] == trace_id


def test_the_python_client_sends_the_current_trace_context(sidecar, spans):
    from guardrails.sidecar.client import GuardrailsClient

    server, _ = sidecar
    client_provider, client_spans = _provider()
    tracer = client_provider.get_tracer("the-app")
    with GuardrailsClient(f"127.0.0.1:{server.port}") as client:
        with tracer.start_as_current_span("agent step") as parent:
            d = client.check_output("Your order ships Monday.", policy="support-bot")
        untraced = client.check_input("hello", policy="support-bot")
    assert d.outcome.value == "allow" and untraced.outcome.value == "allow"
    traced, alone = sorted(spans.get_finished_spans(), key=lambda s: s.start_time)
    assert traced.context.trace_id == parent.get_span_context().trace_id
    assert traced.parent is not None and traced.parent.span_id == parent.get_span_context().span_id
    # Outside any span the client sends no trace context: the sidecar starts a new trace.
    assert alone.parent is None and alone.context.trace_id != traced.context.trace_id


def _stream_spans(spans) -> tuple:
    """The finished spans, once the stream's has ended: the server may end it
    just after the client has its answer."""
    import threading

    for _ in range(400):
        if spans.get_finished_spans():
            break
        threading.Event().wait(0.05)
    return spans.get_finished_spans()


def test_a_guarded_stream_is_one_span_in_the_callers_trace(sidecar, spans):
    from guardrails.sidecar.client import GuardrailsClient
    from guardrails.sidecar.tracing import STREAM_SPAN

    server, _ = sidecar
    client_provider, _ = _provider()
    pieces = ["Your order ", "ships Monday; write to ", EMAIL, " with questions."]
    with GuardrailsClient(f"127.0.0.1:{server.port}") as client:
        with client_provider.get_tracer("the-app").start_as_current_span("stream reply") as parent:
            stream = client.guard_stream(iter(pieces), policy="support-bot")
            released = stream.text()
    assert EMAIL not in released and stream.decision is not None
    (span,) = _stream_spans(spans)
    assert span.name == STREAM_SPAN and span.kind is SpanKind.SERVER
    assert span.context.trace_id == parent.get_span_context().trace_id
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    a = span.attributes
    assert a["guardrails.stage"] == "output" and a["guardrails.stream.chunks"] == len(pieces)
    assert a["guardrails.outcome"] == stream.decision.outcome.value
    assert a["guardrails.decision_id"] == stream.decision.decision_id
    assert a["guardrails.policy.name"] == "support-bot"
    assert list(a["guardrails.rule_ids"]) == [v.rule for v in stream.decision.violations]
    assert span.status.status_code is not StatusCode.ERROR
    assert EMAIL not in _values(span) and "Monday" not in _values(span)


def test_a_refused_stream_is_an_error_span_with_its_refusal_kind(sidecar, spans):
    from guardrails.sidecar.client import GuardrailsClient, PolicyNotFoundError
    from guardrails.sidecar.tracing import STREAM_SPAN

    server, _ = sidecar
    with GuardrailsClient(f"127.0.0.1:{server.port}") as client:
        with pytest.raises(PolicyNotFoundError):
            client.guard_stream(iter(["hello ", EMAIL]), policy="no-such-policy").text()
    (span,) = _stream_spans(spans)
    assert span.name == STREAM_SPAN and span.status.status_code is StatusCode.ERROR
    assert span.attributes["guardrails.refusal"] == "policy-not-found"
    assert "guardrails.outcome" not in span.attributes
    assert "no-such-policy" not in _values(span) and EMAIL not in _values(span)


def test_a_stream_its_client_cancels_ends_its_span_as_an_error(sidecar, spans):
    import threading

    from guardrails.sidecar.tracing import STREAM_SPAN

    server, _ = sidecar
    hold = threading.Event()

    def requests():
        yield pb.GuardStreamRequest(start=pb.StreamStart(policy="support-bot"))
        yield pb.GuardStreamRequest(chunk="Your order ships on Monday. It comes in one box. " * 20)
        hold.wait(30)  # the client leaves before sending more

    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        call = pb_grpc.GuardrailsStub(channel).GuardStream(requests(), timeout=30)
        # Text released means the server's handler runs, its span open: a cancel
        # sent before that could end the call before any handler (and span) began.
        assert next(call).WhichOneof("kind") == "chunk"
        call.cancel()
        hold.set()
    (span,) = _stream_spans(spans)  # the server notices the cancellation on its own loop
    assert span.name == STREAM_SPAN and span.status.status_code is StatusCode.ERROR
    assert "guardrails.outcome" not in span.attributes
    assert span.attributes["error.type"] == "CancelledError", dict(span.attributes)
