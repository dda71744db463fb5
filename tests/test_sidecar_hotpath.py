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


# ---- a tool call read straight from its bytes (wire.read_tool_call) ----------------------

def _general(raw: bytes):
    """What the handler gets the general way: upb's parse and request_to_engine, or the refusal's kind."""
    from guardrails.sidecar._proto import guardrails_pb2 as pb
    from guardrails.sidecar.admission import Refuse, parse
    from guardrails.sidecar.convert import ConversionError, request_to_engine

    try:
        msg = parse(pb.CheckToolCallRequest, raw)
        request, policy = request_to_engine("tool_call", msg)
    except Refuse as r:
        return ("refused", r.kind)
    except ConversionError:
        return ("refused", "invalid")
    return request, policy, msg.explain, msg.request_key


def _json_values(leaf):
    from hypothesis import strategies as st

    return st.recursive(leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                           max_size=3), max_leaves=8)


def _leaves():
    from hypothesis import strategies as st

    return (st.none() | st.booleans() | st.text(max_size=140)
            | st.integers(-2**53, 2**53) | st.floats(allow_nan=False, allow_infinity=False)
            | st.sampled_from([0.5, -0.0, 1e300, 2.0**60, float("inf")]))


def _requests_strategy():
    from hypothesis import strategies as st

    structs = st.none() | st.dictionaries(st.text(max_size=140), _json_values(_leaves()), max_size=5)
    return st.fixed_dictionaries({
        "tool": st.text(max_size=3), "args": structs, "principal": structs, "context": structs,
        "policy": st.sampled_from(["", "shop", "shop@1.0.0"]), "request_key": st.sampled_from(["", "k1"]),
        "explain": st.booleans(), "session": st.sampled_from(["", "run-1"]),
        "at": st.sampled_from([0.0, 1.5e9, -1.0, float("nan")]),
    })


def _message(r: dict):
    from guardrails.sidecar._proto import guardrails_pb2 as pb
    from guardrails.sidecar.convert import fill_struct

    msg = pb.CheckToolCallRequest(tool=r["tool"], policy=r["policy"], request_key=r["request_key"],
                                  explain=r["explain"], session=r["session"], at=r["at"])
    for name in ("args", "principal", "context"):
        if r[name] is not None:
            fill_struct(getattr(msg, name), r[name], name)
    return msg


def _typed(v):
    if isinstance(v, dict):
        return sorted((k, _typed(x)) for k, x in v.items())
    if isinstance(v, list):
        return [_typed(x) for x in v]
    return type(v).__name__, repr(v)


def _same_reading(raw: bytes) -> None:
    import math

    from guardrails.sidecar.wire import read_tool_call

    fast, general = read_tool_call(raw), _general(raw)
    if fast is None:
        return  # the general way reads it (or refuses it)
    assert general[0] != "refused", (raw, general)
    request, policy, explain, key, args_bytes = fast
    want_request, want_policy, want_explain, want_key = general
    at, want_at = request.pop("at", None), want_request.pop("at", None)
    assert (at is None) == (want_at is None) and (at is None or at == want_at or math.isnan(at) and math.isnan(want_at))
    assert (request, policy, explain, key) == (want_request, want_policy, want_explain, want_key)
    # The values' types too: a whole number is an int, as the general way gives it. (The keys come in
    # the order they arrived; protobuf's map gives them in its own.)
    assert _typed(request) == _typed(want_request)
    assert (args_bytes is None) == (request["args"] is None)


def test_the_plain_reading_equals_protobufs():
    from hypothesis import given, settings

    @settings(max_examples=400, deadline=None)
    @given(_requests_strategy())
    def check(r):
        raw = _message(r).SerializeToString()
        _same_reading(raw)

    check()


def test_every_plain_request_is_read_without_protobuf():
    from guardrails.sidecar.wire import read_tool_call

    # The benchmark's requests, and the test's own: all in the plain form.
    for r in _requests(200):
        raw = _message({"tool": r["tool"], "args": r["args"], "principal": r["principal"], "context": r["context"],
                        "policy": "shop", "request_key": "", "explain": False, "session": r["session"] or "",
                        "at": 0.0}).SerializeToString()
        assert read_tool_call(raw) is not None
        _same_reading(raw)


def test_what_is_not_plain_goes_the_general_way():
    """Malformed bytes, bad UTF-8, repeated or unknown fields, deep values,
    odd encodings: never read here differently from protobuf, and a message
    protobuf refuses is never read here."""
    import random as _random

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from guardrails.sidecar.wire import READ_DEPTH, read_tool_call

    base = _message({"tool": "refund", "args": {"amount": 5, "note": "é", "l": [1, {"a": None}]},
                     "principal": {"role": "staff"}, "context": {"flagged": True}, "policy": "shop",
                     "request_key": "", "explain": False, "session": "", "at": 0.0}).SerializeToString()
    assert read_tool_call(base) is not None
    cases = [
        b"\x0a\x02\xff\xfe",  # the tool is not UTF-8
        base + b"\x0a\x01x",  # tool repeated (protobuf keeps the last)
        base + b"\x12\x00",  # args repeated (protobuf merges)
        base + b"\x50\x01",  # an unknown field
        base[:-1],  # cut short
        b"\x0a\x00",  # an empty tool: refused
        b"",
        # a Struct entry whose key is not UTF-8
        b"\x0a\x01t\x12\x07\x0a\x05\x0a\x01\xff\x12\x00",
        # a Value with two members (protobuf keeps the last)
        b"\x0a\x01t\x12\x0e\x0a\x0c\x0a\x01k\x12\x07\x1a\x01x\x20\x01\x08\x00",
        # a boolean written as a wide varint
        b"\x0a\x01t\x12\x0a\x0a\x08\x0a\x01k\x12\x03\x20\x81\x00",
    ]
    deep: dict = {"x": 1}
    for _ in range(READ_DEPTH + 2):
        deep = {"d": deep}
    cases.append(_message({"tool": "t", "args": deep, "principal": None, "context": None, "policy": "",
                           "request_key": "", "explain": False, "session": "", "at": 0.0}).SerializeToString())
    assert read_tool_call(cases[-1]) is None  # deeper than READ_DEPTH: the general way
    for raw in cases:
        _same_reading(raw)
    rnd = _random.Random(6)
    for _ in range(3000):  # random damage to a plain message
        b = bytearray(base)
        for _k in range(rnd.randint(1, 3)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        _same_reading(bytes(b))

    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=60))
    def noise(raw):
        _same_reading(raw)

    noise()


def test_forwarded_args_travel_back_as_they_came():
    """The answer reuses the request's args bytes only when the decision
    forwards that very dict; it decodes to decision_to_proto's message."""
    from guardrails.sidecar._proto import guardrails_pb2 as pb
    from guardrails.sidecar.convert import decision_to_proto
    from guardrails.sidecar.wire import decision_bytes, read_tool_call

    engine = Engine.from_source(STATELESS.format(version="1.0.0"), hash_salt=SALT)
    reused = 0
    for r in _requests(300):
        raw = _message({"tool": r["tool"], "args": r["args"], "principal": r["principal"], "context": r["context"],
                        "policy": "", "request_key": "", "explain": False, "session": "", "at": 0.0}
                       ).SerializeToString()
        request, _policy, _explain, _key, args_bytes = read_tool_call(raw)
        d = engine.check_tool_call(request["tool"], request["args"], principal=request["principal"],
                                   context=request["context"])
        out = decision_bytes(d, request, args_bytes)
        assert pb.Decision.FromString(out) == decision_to_proto(d, request)
        reused += d.text is request["args"] and args_bytes is not None
        if d.text is not None and d.text is not request["args"]:  # another dict: encoded, not the request's bytes
            assert pb.Decision.FromString(out).args == decision_to_proto(d).args
    assert reused > 50


def test_decision_ids_drawn_from_the_hex_pool_are_random_uuids():
    """The pool keeps the ids' hex digits with the version and variant set:
    every id across several refills is a distinct version 4, RFC 4122 UUID,
    and the answer carries the decision's own id."""
    import uuid

    from guardrails.decision import new_decision_id
    from guardrails.sidecar._proto import guardrails_pb2 as pb
    from guardrails.sidecar.wire import decision_bytes

    ids = [new_decision_id() for _ in range(1000)]  # 128 ids a pool
    assert len(set(ids)) == 1000
    for i in ids:
        u = uuid.UUID(i)
        assert u.hex == i and u.version == 4 and u.variant == uuid.RFC_4122
    # The random digits vary at every position (the fixed ones are the version's and the variant's).
    assert all(len({i[k] for i in ids}) > 4 for k in range(32) if k not in (12, 16))
    assert {i[12] for i in ids} == {"4"} and {i[16] for i in ids} == set("89ab")
    engine = Engine.from_source(STATELESS.format(version="1.0.0"))
    d = engine.check_tool_call("lookup", {})
    assert pb.Decision.FromString(decision_bytes(d)).decision_id == d.decision_id


def test_long_ids_and_long_forwarded_args_keep_their_lengths():
    from guardrails.decision import Decision, PolicyRef
    from guardrails.sidecar._proto import guardrails_pb2 as pb
    from guardrails.sidecar.convert import decision_to_proto
    from guardrails.sidecar.wire import decision_bytes, read_tool_call

    args = {"note": "n" * 300, "k": 1}
    raw = _message({"tool": "t", "args": args, "principal": None, "context": None, "policy": "", "request_key": "",
                    "explain": False, "session": "", "at": 0.0}).SerializeToString()
    request, _p, _e, _k, args_bytes = read_tool_call(raw)
    assert len(args_bytes) >= 0x80 and request["args"] == args
    for did in ("i" * 200, "é" * 70, ""):
        d = Decision(decision_id=did, stage="tool_call", outcome=Outcome.ALLOW, text=request["args"], violations=[],
                     policy=PolicyRef(name="p", version="1", digest="d"), errors=[], elapsed_us=1, labels=[])
        assert pb.Decision.FromString(decision_bytes(d, request, args_bytes)) == decision_to_proto(d, request)
