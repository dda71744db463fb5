"""The library's decision metrics in Prometheus (issue 17): the sidecar's
Metrics reused, opt-in through traced(..., metrics=), counted in an
application's own prometheus_client registry and scraped from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest

from guardrails import Engine
from guardrails.guard import guard
from guardrails.guard.otel import traced
from guardrails.sidecar.metrics import Metrics

ROOT = Path(__file__).resolve().parent.parent
EMAIL = "jo@example.com"


@pytest.fixture(scope="module")
def engine():
    return Engine.from_path(ROOT / "policies")


def test_decisions_are_counted_in_the_applications_registry(engine):
    registry = CollectorRegistry()
    requests = Counter("app_requests", "The application's own metric.", registry=registry)
    e = traced(engine, metrics=registry)
    assert e.prometheus.registry is registry

    @guard(e, policy="support-bot")
    def chat(messages):
        requests.inc()
        return "Sure, write to help@shop.example.com"

    chat([{"role": "user", "content": f"mail me at {EMAIL}"}])
    e.check_tool_call("issue_refund", {"order_id": "ORD-12345678", "amount": 9000}, policy="support-bot")
    version = engine.get_policy("support-bot").version
    sample = registry.get_sample_value
    assert sample("app_requests_total") == 1
    assert sample("guardrails_decisions_total", {"stage": "input", "outcome": "redact", "policy": "support-bot",
                                                 "version": version}) == 1
    assert sample("guardrails_decisions_total", {"stage": "output", "outcome": "redact", "policy": "support-bot",
                                                 "version": version}) == 1
    assert sample("guardrails_decisions_total", {"stage": "tool_call", "outcome": "deny", "policy": "support-bot",
                                                 "version": version}) == 1
    assert sample("guardrails_rule_hits_total", {"policy": "support-bot", "rule": "cap", "effect": "deny"}) == 1
    assert sample("guardrails_decision_latency_seconds_count", {"stage": "tool_call"}) == 1
    assert sample("guardrails_decision_latency_seconds_sum", {"stage": "tool_call"}) > 0
    scraped = generate_latest(registry).decode()
    assert "app_requests_total 1.0" in scraped and "guardrails_decisions_total{" in scraped
    # A request's values could only leak through label values (the samples are
    # counts and latencies, whose digits may contain anything by chance).
    labels = " ".join(re.findall(r"\{([^}]*)\}", scraped))
    for raw in (EMAIL, "help@shop", "ORD-12345678", "9000"):
        assert raw not in labels


def test_metrics_are_opt_in(engine):
    registry = CollectorRegistry()
    Metrics(registry=registry)
    engine.check_input(f"mail me at {EMAIL}", policy="support-bot")  # the engine itself counts nothing
    assert registry.get_sample_value("guardrails_decisions_total", {"stage": "input", "outcome": "redact",
                                                                    "policy": "support-bot", "version":
                                                                    engine.get_policy("support-bot").version}) is None
    own = traced(engine, metrics=Metrics())  # without a registry given: a registry of its own
    own.check_input("hello", policy="support-bot")
    assert own.prometheus.registry is not registry
    assert own.prometheus.registry.get_sample_value("guardrails_decision_latency_seconds_count",
                                                    {"stage": "input"}) == 1


def test_one_metrics_per_registry_and_a_clear_error_for_other_things(engine):
    registry = CollectorRegistry()
    traced(engine, metrics=registry)
    with pytest.raises(ValueError, match="Duplicated"):
        traced(engine, metrics=registry)  # the names are already registered there
    with pytest.raises(TypeError, match="CollectorRegistry"):
        traced(engine, metrics={"registry": registry})
