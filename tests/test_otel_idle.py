"""traced() with nothing configured adds nothing to a check (guard/otel.py).

While no tracer or meter provider is set and no ``metrics=`` is given, the
wrapper's check methods are the target's own bound methods; the looker
thread puts the tracing methods in place once a global provider appears.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from guardrails import Engine
from guardrails.guard.otel import METHODS, traced
from guardrails.sidecar.metrics import Metrics

ROOT = Path(__file__).resolve().parent.parent
POLICY = 'policy "p" version "1.0.0"\ninput { rule r: deny "no" when text contains "x" }\n'


def test_idle_checks_are_the_targets_own_methods():
    engine = Engine.from_source(POLICY)
    t = traced(engine)
    for name in [*METHODS, *("a" + m for m in METHODS), "check"]:
        assert getattr(t, name) == getattr(engine, name), name
    assert t.check_input("x", policy="p").outcome.value == "deny"
    counted = traced(engine, metrics=Metrics())  # something to record: the tracing methods
    assert counted.check_input != engine.check_input
    assert counted.check_input("x", policy="p").outcome.value == "deny"


def test_a_provider_given_traces_from_the_start():
    sdk = pytest.importorskip("opentelemetry.sdk.trace")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
        InMemorySpanExporter,
    )

    engine, exporter = Engine.from_source(POLICY), InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    t = traced(engine, tracer_provider=provider)
    assert t.check_input != engine.check_input
    t.check_input("x", policy="p")
    assert [s.name for s in exporter.get_finished_spans()] == ["guardrails.check input"]


def test_the_looker_thread_finds_a_global_provider_set_later():
    pytest.importorskip("opentelemetry.sdk.trace")
    # A process of its own: the API lets a process set its global provider once.
    code = (
        "import threading, time\n"
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter\n"
        "from guardrails import Engine\n"
        "import guardrails.guard.otel as otel\n"
        "otel.LOOK_EVERY = 0.05\n"
        f"engine = Engine.from_source({POLICY!r})\n"
        "e = otel.traced(engine)\n"
        "assert e.check_input == engine.check_input\n"
        "looker = lambda: [t for t in threading.enumerate() if t.name == 'guardrails-otel-look']\n"
        "assert looker()\n"
        "exporter = InMemorySpanExporter()\n"
        "tp = TracerProvider(); tp.add_span_processor(SimpleSpanProcessor(exporter))\n"
        "trace.set_tracer_provider(tp)\n"
        "deadline = time.monotonic() + 60\n"
        "while e.check_input == engine.check_input and time.monotonic() < deadline:\n"
        "    time.sleep(0.01)\n"
        "assert e.check_input('x', policy='p').outcome.value == 'deny'\n"
        "(span,) = exporter.get_finished_spans()\n"
        "assert span.attributes['guardrails.outcome'] == 'deny'\n"
        "while looker() and time.monotonic() < deadline:  # no idle wrapper left: the thread ends\n"
        "    time.sleep(0.01)\n"
        "assert not looker()\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
