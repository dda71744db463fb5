"""The sidecar's per-request path (issue 16, part 6): what was cut from it
must not change a decision, a metric or a refusal.

- an engine whose policies keep no state is served without the session
  store (the engine then takes its fast paths); a set that keeps state gets
  the server's one store, across reloads too;
- the metrics every request updates are counted in plain numbers and read
  at scrape time: the scrape is what prometheus_client's own counters and
  histograms give, and no count is lost between threads.
"""

from __future__ import annotations

import random
from pathlib import Path

from guardrails import Engine, Outcome
from guardrails.sessions import MemoryStore
from guardrails.sidecar import ServerConfig, SidecarServer
from guardrails.sidecar.client import GuardrailsClient

SALT = b"hotpath-test-salt"

STATELESS = '''policy "shop" version "{version}"

tool_call {{
  rule staff: allow when tool == "refund" and principal.role == "staff" and args.amount <= 100
  rule big: deny "too much" when tool == "refund" and args.amount > 500
  rule flagged: escalate to review "review" when context.flagged == true
  rule lookup: allow when tool == "lookup"
}}
'''

STATEFUL = '''policy "shop" version "{version}"
limit refunds = 2 per "1m" by principal.id

tool_call {{
  rule staff: allow when tool == "refund" and principal.role == "staff"
  rule quota: deny "refund limit reached" when tool == "refund" and over(refunds)
}}
'''


def _server(d: Path, **config) -> SidecarServer:
    config.setdefault("watch", False)
    return SidecarServer(ServerConfig(policies=d, listen="127.0.0.1:0", hash_salt=SALT, **config))


def _write(tmp_path: Path, source: str) -> Path:
    d = tmp_path / "policies"
    d.mkdir(exist_ok=True)
    (d / "shop.policy").write_text(source)
    return d


def _requests(n: int) -> list[dict]:
    rnd = random.Random(16)
    out = []
    for _ in range(n):
        out.append({
            "tool": rnd.choice(["refund", "lookup", "delete", "Refund"]),
            "args": rnd.choice([{"amount": rnd.choice([5, 100, 101, 600, 99.5])}, {}, {"amount": "10"},
                                {"amount": 7, "note": "ok", "tags": ["a", 1]}]),
            "principal": rnd.choice([{"role": "staff", "id": "u1"}, {"role": "guest"}, {}, None]),
            "context": rnd.choice([{"flagged": True}, {"flagged": False}, None, {"x": {"y": 1}}]),
            "session": rnd.choice([None, None, "run-1"]),
        })
    return out


def test_a_stateless_set_is_served_without_the_store(tmp_path):
    d = _write(tmp_path, STATELESS.format(version="1.0.0"))
    with _server(d) as server:
        assert server.active.snapshot.engine.state is None


def test_a_stateless_set_decides_as_an_engine_holding_a_store(tmp_path):
    source = STATELESS.format(version="1.0.0")
    d = _write(tmp_path, source)
    with_store = Engine.from_source(source, hash_salt=SALT, state=MemoryStore())
    assert with_store.state is not None
    with _server(d) as server, GuardrailsClient(f"127.0.0.1:{server.port}") as client:
        for r in _requests(300):
            want = with_store.check_tool_call(r["tool"], r["args"], principal=r["principal"],
                                              context=r["context"], session=r["session"])
            got = client.check_tool_call(r["tool"], r["args"], principal=r["principal"], context=r["context"],
                                         session=r["session"], policy="shop")
            assert (got.outcome, got.rule_ids, got.text, got.session, [e.code for e in got.errors]) == \
                   (want.outcome, want.rule_ids, want.text, want.session, [e.code for e in want.errors]), r


def test_a_set_that_keeps_state_gets_the_one_store_across_reloads(tmp_path):
    d = _write(tmp_path, STATELESS.format(version="1.0.0"))
    staff = {"role": "staff", "id": "u7"}
    with _server(d) as server, GuardrailsClient(f"127.0.0.1:{server.port}") as client:
        (d / "shop.policy").write_text(STATEFUL.format(version="2.0.0"))
        assert server.reload()
        assert server.active.snapshot.engine.state is server.store
        outcomes = [client.check_tool_call("refund", {}, principal=staff, policy="shop").outcome for _ in range(2)]
        assert outcomes == [Outcome.ALLOW, Outcome.ALLOW]
        (d / "shop.policy").write_text(STATEFUL.format(version="2.0.1"))
        assert server.reload()
        # The count made under 2.0.0 is still there: the third refund is over the limit.
        third = client.check_tool_call("refund", {}, principal=staff, policy="shop")
        assert third.outcome is Outcome.DENY and third.rule_ids == ["quota"]


# ---- metrics counted in plain numbers ------------------------------------------------

METRICS_POLICY = '''policy "m" version "1.2.3"
tool_call {
  rule a: allow when tool == "x"
  rule b: deny "no" when args.n > 5
  rule c: deny "boom" when args.s.k == 1
}
'''


def _reference(registry):
    """The metrics as prometheus_client's own classes keep them (what the sidecar exposed before)."""
    from prometheus_client import Counter, Histogram

    from guardrails.sidecar.metrics import LATENCY_BUCKETS

    return {
        "latency": Histogram("guardrails_decision_latency_seconds",
                             "Time to answer a check, from the request's arrival to its decision, by stage.",
                             ["stage"], buckets=LATENCY_BUCKETS, registry=registry),
        "decisions": Counter("guardrails_decisions", "Decisions returned, by stage, outcome and deciding policy.",
                             ["stage", "outcome", "policy", "version"], registry=registry),
        "hits": Counter("guardrails_rule_hits", "Rules in returned decisions, by policy, rule and effect.",
                        ["policy", "rule", "effect"], registry=registry),
        "errors": Counter("guardrails_evaluation_errors", "Evaluation errors inside returned decisions, by code.",
                          ["policy", "code"], registry=registry),
        "routed": Counter("guardrails_rollout_routed", "Requests answered by each set (active or candidate).",
                          ["set"], registry=registry),
    }


def _families(registry, names):
    import re

    from prometheus_client import generate_latest
    from prometheus_client.openmetrics.exposition import generate_latest as openmetrics

    out = []
    for render in (generate_latest, openmetrics):
        text = render(registry.restricted_registry(names)).decode()
        text = re.sub(r"^(\w+_created(\{[^}]*\})?) \S+$", r"\1 T", text, flags=re.M)  # creation times differ
        out.append(sorted(text.splitlines()))  # (a restricted registry collects in no set order)
    return out


def test_the_scrape_is_what_prometheus_clients_own_metrics_give():
    from prometheus_client import CollectorRegistry

    from guardrails.sidecar.metrics import Metrics

    engine = Engine.from_source(METRICS_POLICY)
    metrics = Metrics()
    ref_registry = CollectorRegistry(auto_describe=True)
    ref = _reference(ref_registry)
    routed = metrics.routed.labels("active")
    calls = [("x", {}), ("x", {"n": 9}), ("y", {}), ("x", {"s": "q"}), ("x", {"n": 1})]
    # Latencies on bucket bounds, between them, and past the last one.
    seconds = [0.000025, 0.00003, 0.3, 7.0, 0.001, 2.5, 0.0]
    for i in range(21):
        tool, args = calls[i % len(calls)]
        d = engine.check_tool_call(tool, args)
        s = seconds[i % len(seconds)]
        metrics.observe(d, s, routed)
        p = d.policy
        ref["latency"].labels(d.stage).observe(s)
        ref["decisions"].labels(d.stage, d.outcome.value, p.name, p.version).inc()
        for v in d.violations:
            ref["hits"].labels(p.name, v.rule, v.effect).inc()
        for e in d.errors:
            ref["errors"].labels(p.name, e.code).inc()
        ref["routed"].labels("active").inc()
    names = ["guardrails_decision_latency_seconds_bucket", "guardrails_decision_latency_seconds_count",
             "guardrails_decision_latency_seconds_sum", "guardrails_decision_latency_seconds_created",
             "guardrails_decisions_total", "guardrails_decisions_created", "guardrails_rule_hits_total",
             "guardrails_rule_hits_created", "guardrails_evaluation_errors_total",
             "guardrails_evaluation_errors_created", "guardrails_rollout_routed_total",
             "guardrails_rollout_routed_created"]
    ours, theirs = _families(metrics.registry, names), _families(ref_registry, names)
    text = "\n".join(theirs[0])
    assert "guardrails_evaluation_errors_total{" in text and 'le="+Inf"' in text
    assert ours == theirs


def test_tallied_counts_are_exact_across_threads():
    import threading

    from guardrails.sidecar.metrics import Metrics

    engine = Engine.from_source(METRICS_POLICY)
    metrics = Metrics()
    d = engine.check_tool_call("x", {"n": 9})  # one rule hit per decision
    rpc = metrics.rpc("svc", "Method", "unary")

    def work():
        for _ in range(3000):
            rpc.started()
            metrics.observe(d, 0.0001)
            rpc.handled("OK")

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    r = metrics.registry
    assert r.get_sample_value("guardrails_decisions_total", {"stage": "tool_call", "outcome": "deny",
                                                             "policy": "m", "version": "1.2.3"}) == 18000
    assert r.get_sample_value("guardrails_rule_hits_total", {"policy": "m", "rule": "b", "effect": "deny"}) == 18000
    assert r.get_sample_value("guardrails_decision_latency_seconds_count", {"stage": "tool_call"}) == 18000
    assert r.get_sample_value("grpc_server_handled_total", {"grpc_service": "svc", "grpc_method": "Method",
                                                            "grpc_type": "unary", "grpc_code": "OK"}) == 18000


def test_tallied_refuses_what_prometheus_client_refuses():
    import pytest
    from prometheus_client import CollectorRegistry

    from guardrails.sidecar.metrics import Metrics

    metrics = Metrics()
    with pytest.raises(ValueError):
        metrics.decisions.labels("tool_call", "allow")  # four labels
    with pytest.raises(ValueError):
        metrics.routed.labels("active").inc(-1)
    registry = CollectorRegistry(auto_describe=True)
    Metrics(registry=registry)
    with pytest.raises(ValueError):  # the names are taken: one Metrics per registry
        Metrics(registry=registry)
