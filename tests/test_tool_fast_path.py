"""The common tool call's one-function path (evaluate_tools.tool_call_fast_path)
decides what evaluate_tool_call decides, and leaves every other request to it.

The engine takes the fast path only when no session, ``at``, explain,
overrides or coverage is given, and no policy or the loaded one by name;
naming it with its version takes the full path, so the two can be compared
on one engine. Requests are generated
with the values the fast path's one walk must refuse (non-ASCII and
unpaired-surrogate strings, NaN and infinities, integers past MAX_INT,
nesting, a dict subclass, a non-string key) as well as plain ones.
"""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardrails import Engine
from guardrails.decision import Decision
from guardrails.evaluate_tools import tool_call_fast_path
from guardrails.values import MAX_INT

POLICY = """
policy "fast" version "1.0.0"
config { max_text_length = 40 }
tools payments = ["pay", "refund"]
tools reads = ["read"]

tool_call {
  rule reads: allow when tool in reads
  rule small: allow when tool in payments and args.amount <= 100
  rule managers: allow when tool in payments and principal.role == "manager"
  rule big: deny "over 5000 needs a ticket" when tool in payments and args.amount > 5000 and not (context has ticket)
  rule suspended: deny "suspended" when principal.suspended
  rule note: warn "a note" when args.note == "x"
  rule anyone: allow when tool == "open" and context.env in ["dev", "staging"]
}
"""


class Sub(dict):
    pass


plain = st.one_of(st.none(), st.booleans(), st.integers(-10, 10_000), st.sampled_from([0.5, 5000.5, -1.0]),
                  st.sampled_from(["manager", "dev", "x", "", "staging", "a" * 20]))
odd = st.sampled_from(["é", "\ud800", math.nan, math.inf, -math.inf, MAX_INT, -MAX_INT, MAX_INT - 1, [1, "a"],
                       {"k": "v"}, {"k": {"deep": 1}}, ("t",), b"x"])
values = st.one_of(plain, plain, plain, odd)
keys = st.sampled_from(["amount", "note", "role", "suspended", "ticket", "env", "id"])
maps = st.dictionaries(keys, values, max_size=4)
# Mostly the attributes the rules read, so most requests are decided rather than failed.
numbers = st.one_of(st.integers(-10, 10_000), st.sampled_from([0.5, 5000.5, -1.0]))
full_maps = st.fixed_dictionaries({"amount": numbers, "note": plain, "role": plain, "suspended": st.booleans(),
                                   "env": plain}, optional={"ticket": plain, "id": plain})
maybe_maps = st.one_of(st.none(), full_maps, maps, maps.map(Sub), st.just({1: "a"}), st.just({"é": 1}),
                       st.just([]), st.just("role"))
tools = st.sampled_from(["pay", "refund", "read", "open", "other", "", "pay\u00e9", None, 3, ["pay"]])
# Half the requests are plain (the fast path's to decide), half anything.
requests = st.one_of(
    st.tuples(st.sampled_from(["pay", "refund", "read", "open", "other"]), full_maps, full_maps,
              st.one_of(full_maps, st.none())),
    st.tuples(tools, maybe_maps, maybe_maps, maybe_maps))


def _same(a: Decision, b: Decision) -> None:
    assert a.outcome is b.outcome
    assert a.violations == b.violations
    assert a.errors == b.errors
    assert json.dumps(a.text, sort_keys=True, default=repr) == json.dumps(b.text, sort_keys=True, default=repr)
    assert (a.stage, a.route, a.labels, a.session, a.trace, a.chunks) == (b.stage, b.route, b.labels, b.session,
                                                                         b.trace, b.chunks)
    assert a.policy == b.policy


class _Rt:  # what the fast path reads of the engine's Runtime
    def __init__(self, store):
        self.store = store


ENGINE = Engine.from_source(POLICY)
FAST = tool_call_fast_path({"fast": ENGINE.get_policy()}, _Rt(None))


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(req=requests)
def test_the_fast_path_decides_as_the_full_path(req) -> None:
    tool, args, principal, context = req
    fast = ENGINE.check_tool_call(tool, args, principal=principal, context=context)
    full = ENGINE.check_tool_call(tool, args, principal=principal, context=context, policy="fast@1.0.0")
    _same(fast, full)
    direct = FAST(tool, args, principal, context)
    if direct is not None:
        _same(direct, full)
    if fast.allowed and isinstance(args, dict) and args:
        assert fast.text is args  # the arguments are forwarded as given, as the full path does


def test_it_decides_the_plain_requests_and_leaves_the_rest() -> None:
    fast = FAST
    assert fast is not None
    # Plain requests: decided here, with the full path's decision.
    for tool, args, principal, context in (
            ("pay", {"amount": 50, "note": "y"}, {"role": "x", "suspended": False}, None),
            ("pay", {"amount": 9000, "note": "x"}, {"role": "manager", "suspended": False}, {}),
            ("read", {"note": ""}, {"suspended": True}, {"env": "dev"}),
            ("open", {"note": "x"}, {"suspended": False}, {"env": "dev"}),
            ("other", {"amount": 1.5, "note": None}, {"suspended": False}, {})):
        d = fast(tool, args, principal, context)
        assert d is not None, (tool, args, principal, context)
        _same(d, ENGINE.check_tool_call(tool, args, principal=principal, context=context, policy="fast@1.0.0"))
    # What the full checks must judge: None, and the engine's full path answers.
    for tool, args, principal, context in (
            ("", {}, None, None), (3, {}, None, None), ("pay\u00e9", {}, None, None),
            ("pay", {"note": "é"}, None, None), ("pay", {"amount": math.nan}, None, None),
            ("pay", {"amount": MAX_INT}, None, None), ("pay", {"amount": {"v": 1}}, None, None),
            ("pay", Sub(amount=5), None, None), ("pay", {}, {"role": ["a"]}, None),
            ("pay", {"note": "a" * 41}, None, None),  # past max_text_length
            ("pay", {}, None, None),  # a rule fails (args.amount is missing): the interpreter reports it
            ("open", {}, None, {"env": 3})):
        assert fast(tool, args, principal, context) is None, (tool, args, principal, context)
    assert ENGINE.check_tool_call("pay", {}).errors[0].code == "missing-attribute"
    assert FAST.policy_name == "fast"  # the engine takes the fast path for policy="fast" too
    plain = ("read", {"note": ""}, {"suspended": False}, {"env": "dev"})
    _same(ENGINE.check_tool_call(*plain[:2], principal=plain[2], context=plain[3], policy="fast"), FAST(*plain))
    assert ENGINE.check_tool_call("pay", {"note": "a" * 41}).errors[0].code == "input-too-large"


def test_it_is_not_built_where_it_could_not_decide() -> None:
    two = Engine.from_source(POLICY).policies + Engine.from_source(POLICY.replace('"fast"', '"other"')).policies
    assert tool_call_fast_path({p.name: p for p in two}, _Rt(None)) is None  # several policies: the request names one
    stateful = Engine.from_source(POLICY, state="memory")
    assert tool_call_fast_path({"fast": stateful.get_policy()}, _Rt(stateful.state)) is None

