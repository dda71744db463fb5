"""OpenTelemetry from the library and the decorator: guardrails.guard.otel with
the real SDK's in-memory exporter and metric reader; the Prometheus metrics
of the sidecar's registry; no spans and no failure without the API."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import StatusCode  # noqa: E402

from guardrails import Engine  # noqa: E402
from guardrails.guard import PolicyViolation, guard, guard_tool, session  # noqa: E402
from guardrails.guard.otel import Traced, traced  # noqa: E402
from guardrails.sidecar.metrics import Metrics  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SECRETS = ("jo@example.com", "536-22-8472", "ORD-12345678", "9000")


@pytest.fixture(scope="module")
def engine():
    return Engine.from_path(ROOT / "policies")


@pytest.fixture()
def otel():
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    return exporter, tracer_provider, reader, meter_provider


def _traced(engine, otel, **kw):
    _, tp, _, mp = otel
    return traced(engine, tracer_provider=tp, meter_provider=mp, **kw)


def _leaks(spans) -> list[str]:
    dumped = [s.to_json() for s in spans]
    return [secret for secret in SECRETS for d in dumped if secret in d]


def test_one_span_per_check_with_what_was_decided(engine, otel):
    exporter = otel[0]
    e = _traced(engine, otel)
    d = e.check_input("mail jo@example.com", policy="support-bot", session="s-1")
    e.check_tool_call("issue_refund", {"order_id": "ORD-12345678", "amount": 9000}, policy="support-bot")
    (inp, tool) = exporter.get_finished_spans()
    assert inp.name == "guardrails.check input" and tool.name == "guardrails.check tool_call"
    a = dict(inp.attributes)
    assert a["guardrails.stage"] == "input" and a["guardrails.outcome"] == "redact"
    assert a["guardrails.policy.name"] == "support-bot" and a["guardrails.policy.version"] == "1.4.0"
    assert a["guardrails.policy.digest"] == d.policy.digest and len(d.policy.digest) == 64
    assert a["guardrails.rule_ids"] == ("redact-contact",)
    assert a["guardrails.session"] == "s-1" and a["guardrails.decision_id"] == d.decision_id
    assert a["guardrails.elapsed_us"] == d.elapsed_us > 0
    t = dict(tool.attributes)
    assert t["guardrails.tool"] == "issue_refund" and t["guardrails.outcome"] == "deny"
    assert t["guardrails.rule_ids"] == ("cap",)
    assert _leaks([inp, tool]) == []


def test_spans_are_children_of_the_callers_span_through_the_decorator(engine, otel):
    exporter, tp, _, _ = otel
    e = _traced(engine, otel)

    @guard(e, policy="support-bot", on_tool_denied=lambda call, d: None)
    def chat(messages):
        return {"role": "assistant", "content": "Write to help@shop.example.com", "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "issue_refund", "arguments": json.dumps({"order_id": "ORD-12345678",
                                                                          "amount": 9000})}}]}

    with tp.get_tracer("app").start_as_current_span("handle request") as parent:
        reply = chat([{"role": "user", "content": "I'm jo@example.com"}])
    assert reply["tool_calls"] is None
    spans = exporter.get_finished_spans()
    checks = [s for s in spans if s.name.startswith("guardrails.check")]
    assert [s.name for s in checks] == ["guardrails.check input", "guardrails.check output",
                                        "guardrails.check tool_call"]
    assert all(s.parent.span_id == parent.get_span_context().span_id for s in checks)
    assert all(s.context.trace_id == parent.get_span_context().trace_id for s in checks)
    assert _leaks(spans) == []


def test_guard_tool_and_async_twins(engine, otel):
    exporter = otel[0]
    e = _traced(engine, otel)
    assert callable(e.acheck_input)

    @guard_tool(e, policy="support-bot", tool="lookup_order")
    async def lookup_order(order_id: str):
        return {"note": "customer SSN 536-22-8472"}

    async def go():
        with session("run-7"):
            return await lookup_order("ORD-12345678")

    assert asyncio.run(go()) == {"note": "customer SSN <US_SSN>"}
    call, result = exporter.get_finished_spans()
    assert (call.attributes["guardrails.stage"], result.attributes["guardrails.stage"]) == ("tool_call",
                                                                                             "tool_result")
    assert result.attributes["guardrails.outcome"] == "redact"
    assert result.attributes["guardrails.session"] == "run-7"
    assert _leaks([call, result]) == []


def test_a_failing_check_sets_the_span_status_without_its_message(otel):
    exporter = otel[0]

    class Down:
        def check_input(self, text, **kw):
            raise ConnectionError(f"sidecar unreachable while checking {text}")

        def check_output(self, text, **kw):
            raise ConnectionError("down")

        def check_tool_call(self, tool, args, **kw):
            raise ConnectionError("down")

    @guard(_traced(Down(), otel), policy="p")
    def chat(messages):
        return "never"

    with pytest.raises(PolicyViolation, match="guard-unavailable"):
        chat([{"role": "user", "content": "jo@example.com"}])
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "ConnectionError"
    assert _leaks([span]) == [] and not span.events


def test_metrics_otel_and_prometheus(engine, otel):
    _, _, reader, _ = otel
    prom = Metrics()
    e = _traced(engine, otel, metrics=prom)
    for _ in range(3):
        e.check_tool_call("lookup_order", {"order_id": "ORD-12345678"}, policy="support-bot")
    e.check("input", {"text": "hello"}, policy="support-bot")
    points = {}
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                for p in m.data.data_points:
                    points[(m.name, tuple(sorted(p.attributes.items())))] = p
    count = points[("guardrails.decisions", (("guardrails.outcome", "allow"), ("guardrails.policy.name", "support-bot"),
                                             ("guardrails.stage", "tool_call")))]
    assert count.value == 3
    assert points[("guardrails.decision.duration", (("guardrails.stage", "tool_call"),))].count == 3
    assert prom.registry.get_sample_value(
        "guardrails_decisions_total", {"stage": "tool_call", "outcome": "allow", "policy": "support-bot",
                                       "version": "1.4.0"}) == 3
    assert prom.registry.get_sample_value("guardrails_decision_latency_seconds_count", {"stage": "input"}) == 1


def test_traced_keeps_the_targets_shape(engine):
    e = traced(engine)
    assert e.wrapped is engine and e.get_policy("support-bot") is engine.get_policy("support-bot")
    with pytest.raises(TypeError, match="traced already"):
        Traced(e)
    with pytest.raises(TypeError, match="has none"):
        traced(object())

    class NoResults:
        def check_input(self, text, **kw): ...

        def check_output(self, text, **kw): ...

        def check_tool_call(self, tool, args, **kw): ...

    assert not hasattr(traced(NoResults()), "check_tool_result")  # @guard sees the same capabilities
    with pytest.raises(Exception, match="support-botx"):
        guard(traced(engine), policy="support-botx")  # a misspelt policy still fails where it is declared


def test_without_the_api_nothing_is_emitted_and_checks_still_work():
    code = (
        "import sys\n"
        "sys.modules['opentelemetry'] = None\n"  # as if opentelemetry-api were not installed
        "from guardrails import Engine\n"
        "from guardrails.guard.otel import traced, available\n"
        "from guardrails.sidecar.metrics import Metrics\n"
        "assert not available()\n"
        "m = Metrics()\n"
        "e = traced(Engine.from_source('policy \"p\" version \"1.0.0\"\\ninput { rule r: deny \"no\" when text contains \"x\" }\\n'), metrics=m)\n"
        "assert e.check_input('x', policy='p').outcome.value == 'deny'\n"
        "assert m.registry.get_sample_value('guardrails_decisions_total', {'stage': 'input', 'outcome': 'deny', 'policy': 'p', 'version': '1.0.0'}) == 1\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_global_providers_set_later_are_found_and_none_costs_no_instrument_call():
    # A process of its own: the API lets a process set its global providers once.
    code = (
        "from opentelemetry import metrics, trace\n"
        "from opentelemetry.sdk.metrics import MeterProvider\n"
        "from opentelemetry.sdk.metrics.export import InMemoryMetricReader\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter\n"
        "from guardrails import Engine\n"
        "import guardrails.guard.otel as otel\n"
        "otel.LOOK_EVERY = 3600.0  # the looker thread sleeps through this test: it looks below\n"
        "e = otel.traced(Engine.from_source('policy \"p\" version \"1.0.0\"\\ninput { rule r: deny \"no\" when text contains \"x\" }\\n'))\n"
        "class Boom:\n"
        "    def add(self, *a, **k): raise AssertionError('an instrument was called with no meter provider')\n"
        "    record = add\n"
        "real = (e._count, e._duration)\n"
        "e._count = e._duration = Boom()\n"
        "assert e.check_input('x', policy='p').outcome.value == 'deny'\n"
        "e._count, e._duration = real\n"
        "exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()\n"
        "tp = TracerProvider(); tp.add_span_processor(SimpleSpanProcessor(exporter))\n"
        "trace.set_tracer_provider(tp); metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))\n"
        "assert e.check_input('x', policy='p').outcome.value == 'deny'\n"
        "assert exporter.get_finished_spans() == ()  # looked less than LOOK_EVERY ago\n"
        "assert e.look_again()  # the looker thread's step, as if a second had passed\n"
        "assert e.check_input('y', policy='p').outcome.value == 'allow'\n"
        "(span,) = exporter.get_finished_spans()\n"
        "assert span.attributes['guardrails.outcome'] == 'allow'\n"
        "names = [m.name for rm in reader.get_metrics_data().resource_metrics for sm in rm.scope_metrics for m in sm.metrics]\n"
        "assert 'guardrails.decisions' in names, names\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
