"""The schema check's quick pass changes no answer (schema._record_check).

A record's check first tries a pass for values that match with plain
types, and falls back to the ordered tests that name the problem. Generated
types and values (matching ones, near misses, subclassed and odd values)
get the same answer, message included, from the check with the quick pass
and from the check without it (``compile_check(..., quick=False)``). At the
engine, a tool policy with a schema now takes the one-function tool-call
path: it decides as the full path does, and a request the schema refuses
is still refused, with the same message.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardrails import Engine
from guardrails.diagnostics import RuntimeCode
from guardrails.evaluate_tools import tool_call_fast_path
from guardrails.schema import FieldTy, Ty, compile_check


class Text(str):
    pass


class Flag(int):
    pass


class Map(dict):
    pass


NAMES = ["a", "b", "c", "d"]
SCALARS = st.sampled_from([Ty("string"), Ty("number"), Ty("integer"), Ty("boolean"), Ty("any"),
                           Ty("enum", values=("x", "y")), Ty("enum", values=(1, 2.5, True)),
                           Ty("enum", values=(0, "0", False)), Ty("enum", values=(3.0,))])


def _record(children):
    fields = st.lists(st.tuples(st.sampled_from(NAMES), st.one_of(SCALARS, children), st.booleans()), max_size=4,
                      unique_by=lambda f: f[0])
    return st.builds(lambda fs, o: Ty("record", fields=tuple(FieldTy(n, t, opt) for n, t, opt in fs), open=o),
                     fields, st.booleans())


TYPES = st.recursive(SCALARS, lambda inner: st.one_of(st.builds(lambda e: Ty("list", elem=e), inner),
                                                      _record(inner)), max_leaves=8)
ODD = st.sampled_from([None, True, False, 0, 1, -7, 2.0, 2.5, 3.0, float("nan"), "", "x", "y", "0", Text("x"),
                       Flag(1), [], (), {}, Map(), [1, "x"], {"a": 1}, b"x"])


def matching(ty: Ty, draw):
    """A value `ty` accepts, now and then with plain types swapped for subclasses."""
    match ty.kind:
        case "string":
            return draw(st.sampled_from(["", "x", Text("y")]))
        case "number":
            return draw(st.sampled_from([0, -3, 2.5, 1e9]))
        case "integer":
            return draw(st.sampled_from([0, 7, 4.0]))
        case "boolean":
            return draw(st.booleans())
        case "any":
            return draw(ODD)
        case "enum":
            return draw(st.sampled_from(ty.values))
        case "list":
            return [matching(ty.elem, draw) for _ in range(draw(st.integers(0, 3)))]
    out = {}
    for f in ty.fields:
        if not f.optional or draw(st.booleans()):
            out[f.name] = matching(f.ty, draw)
    if ty.open and draw(st.booleans()):
        out["zz"] = 1
    return Map(out) if draw(st.integers(0, 9)) == 0 else out


def near(ty: Ty, draw):
    """A matching value with one thing changed, at any depth: a field dropped or
    added, or a field's or an item's value swapped for another."""
    return _changed(ty, matching(ty, draw), draw)


def _changed(ty: Ty, v, draw):
    if ty.kind == "list" and type(v) is list and v:
        i = draw(st.integers(0, len(v) - 1))
        v[i] = _changed(ty.elem, v[i], draw) if draw(st.booleans()) else draw(ODD)
        return v
    if ty.kind != "record" or not isinstance(v, dict):
        return draw(ODD)
    choice = draw(st.integers(0, 3))
    if choice == 0 and v:
        v.pop(draw(st.sampled_from(sorted(v))))
    elif choice == 1:
        v[draw(st.sampled_from([*NAMES, "aa", "e"]))] = draw(ODD)
    elif v:
        k = draw(st.sampled_from(sorted(v)))
        sub = next((f.ty for f in ty.fields if f.name == k), Ty("any"))
        v[k] = _changed(sub, v[k], draw)
    return v


@settings(max_examples=1500, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(ty=_record(TYPES), data=st.data())
def test_the_quick_pass_gives_the_ordered_checks_answer(ty, data) -> None:
    quick, ordered = compile_check(ty, "argument"), compile_check(ty, "argument", quick=False)
    for _ in range(6):
        kind = data.draw(st.integers(0, 3))
        v = matching(ty, data.draw) if kind < 2 else near(ty, data.draw) if kind == 2 else data.draw(ODD)
        assert quick(v) == ordered(v), (ty.describe(), v)


def test_the_quick_pass_accepts_the_plain_match_and_hands_on_the_rest() -> None:
    ty = Ty("record", fields=(FieldTy("id", Ty("string"), False), FieldTy("n", Ty("integer"), True),
                              FieldTy("kind", Ty("enum", values=("a", "b")), False)))
    check = compile_check(ty, "argument")
    assert check({"id": "x", "kind": "a"}) is None
    assert check({"id": Text("x"), "n": 4.0, "kind": Text("b")}) is None  # the ordered tests accept these
    assert check({"id": "x", "kind": "a", "idd": 1}) == ("", "has an unknown argument 'idd' (did you mean 'id'?)")
    assert check({"kind": "a"}) == ("", "lacks the required argument 'id'")
    assert check({"id": "x", "kind": "c"}) == (".kind", 'is a string outside its enum; expected one of "a" | "b"')
    assert check({"id": "x", "n": True, "kind": "a"}) == (".n", "is a bool; expected integer")
    assert check({"id": "x", "n": 2.5, "kind": "a"}) == (".n", "is a number; expected integer")
    assert check(["x"]) == ("", "is a list; expected an object")


POLICY = """
policy "shop" version "1.0.0"
tool refund(order_id: string, amount: number, currency: "USD" | "EUR", note?: string,
            lines?: list[{sku: string, qty: integer}])
tool lookup(order_id: string)
principal { id: string, role: "agent" | "manager" }
context { tenant?: string }

tool_call {
  rule small: allow when tool == "refund" and args.amount <= 100
  rule managers: allow when tool == "refund" and principal.role == "manager"
  rule reads: allow when tool == "lookup"
  rule big: deny "over 5000" when tool == "refund" and args.amount > 5000
}
"""
ENGINE = Engine.from_source(POLICY)


class _Rt:  # what the fast path reads of the engine's Runtime
    store = None


FAST = tool_call_fast_path({"shop": ENGINE.get_policy()}, _Rt())


def _full(tool, args, principal, context):
    # Naming the policy with its version takes the full path (evaluate_tool_call).
    return ENGINE.check_tool_call(tool, args, principal=principal, context=context, policy="shop@1.0.0")


def _same(a, b) -> None:
    assert (a.outcome, a.violations, a.errors, a.route, a.labels) == (b.outcome, b.violations, b.errors, b.route,
                                                                     b.labels)
    assert json.dumps(a.text, sort_keys=True, default=repr) == json.dumps(b.text, sort_keys=True, default=repr)


def test_a_policy_with_a_schema_takes_the_fast_path_and_refusals_keep_their_message() -> None:
    assert FAST is not None
    who = {"id": "u1", "role": "agent"}
    d = FAST("refund", {"order_id": "A1", "amount": 40, "currency": "USD"}, who, None)
    assert d is not None and d.outcome.value == "allow" and d.rule_ids == ["small"]
    _same(d, _full("refund", {"order_id": "A1", "amount": 40, "currency": "USD"}, who, None))
    for tool, args, principal, context, message in (
            ("refund", {"order_id": "A1", "amount": 40, "currency": "GBP"}, who, None,
             'tool \'refund\': args.currency is a string outside its enum; expected one of "USD" | "EUR"'),
            ("refund", {"order_id": "A1", "amount": 40}, who, None,
             "tool 'refund': args lacks the required argument 'currency'"),
            ("lookup", {"order_id": "A1", "amount": 1}, who, None,
             "tool 'lookup': args has an unknown argument 'amount' (arguments: order_id)"),
            ("lookup", {"order_id": "A1"}, {"id": "u1", "role": "boss"}, None,
             'principal.role is a string outside its enum; expected one of "agent" | "manager"'),
            ("lookup", {"order_id": "A1"}, who, {"tenant": 3}, "context.tenant is a number; expected string"),
            ("lookup", None, who, None, "tool 'lookup': args lacks the required argument 'order_id'")):
        assert FAST(tool, args, principal, context) is None  # refused: left to the full path, which says why
        for d in (ENGINE.check_tool_call(tool, args, principal=principal, context=context),
                  _full(tool, args, principal, context)):
            assert d.denied and d.rule_ids == ["request"]
            assert d.request_error.code == RuntimeCode.SCHEMA_VIOLATION and d.request_error.message == message


plain = st.sampled_from(["A1", "", "USD", "EUR", "GBP", "agent", "manager", 0, 40, 100.5, 9000, True, None])
arg_maps = st.one_of(
    st.fixed_dictionaries({"order_id": plain, "amount": plain, "currency": plain}, optional={"note": plain}),
    st.dictionaries(st.sampled_from(["order_id", "amount", "currency", "note", "lines", "x"]), plain, max_size=4),
    st.none())
requests = st.tuples(st.sampled_from(["refund", "lookup", "other"]), arg_maps,
                     st.one_of(st.fixed_dictionaries({"id": plain, "role": plain}), st.none(),
                               st.dictionaries(st.sampled_from(["id", "role", "x"]), plain, max_size=3)),
                     st.one_of(st.none(), st.fixed_dictionaries({}, optional={"tenant": plain, "x": plain})))


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(req=requests)
def test_with_a_schema_the_fast_path_decides_as_the_full_path(req) -> None:
    tool, args, principal, context = req
    full = _full(tool, args, principal, context)
    _same(ENGINE.check_tool_call(tool, args, principal=principal, context=context), full)
    direct = FAST(tool, args, principal, context)
    if direct is not None:
        _same(direct, full)
        assert full.request_error is None
