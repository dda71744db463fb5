"""The attribute index (guardrails/rule_index.py) never changes a decision.

An engine compiled with the index and one compiled without it (MIN_RULES
raised past the rule count) must decide every request identically: same
outcome, same rules, same errors, including requests where the indexed
attribute is missing, not a string, or sits under a value that is not an
object.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guardrails import Engine, rule_index

ROLES = ["admin", "agent", "viewer", "guest"]
TEAMS = ["red", "blue", "green"]


def _policy(n: int) -> str:
    lines = ['policy "ix" version "1.0.0"', 'tools payments = ["refund", "void"]', "tool_call {"]
    for k in range(n):
        role, team = ROLES[k % 4], TEAMS[k % 3]
        shape = k % 6
        if shape == 0:
            lines.append(f'  rule r{k}: allow when principal.role == "{role}" and args.amount <= {100 + k}')
        elif shape == 1:
            lines.append(f'  rule r{k}: deny "frozen {k}" when context.team in ["{team}", "x{k}"] and context.frozen')
        elif shape == 2:
            lines.append(f'  rule r{k}: allow when "{team}" == context.team and tool in payments')
        elif shape == 3:
            lines.append(f'  rule r{k}: redact secrets using mask when principal.org.unit == "u{k % 5}"')
        elif shape == 4:
            lines.append(f'  rule r{k}: warn "w{k}" when args.amount > {k} and principal.role == "{role}"')
        else:
            lines.append(f'  rule r{k}: escalate to ops "e{k}" when context.team in payments')
    lines.append("}")
    return "\n".join(lines) + "\n"


SOURCE = _policy(60)


@pytest.fixture(scope="module")
def engines():
    indexed = Engine.from_source(SOURCE)
    saved = rule_index.MIN_RULES
    rule_index.MIN_RULES = 10**9
    try:
        plain = Engine.from_source(SOURCE)
    finally:
        rule_index.MIN_RULES = saved
    return indexed, plain


def test_the_index_is_built_only_where_it_pays(engines):
    indexed, plain = engines
    assert indexed.get_policy().stages["tool_call"].index is not None
    assert plain.get_policy().stages["tool_call"].index is None
    small = Engine.from_source(_policy(6))
    assert small.get_policy().stages["tool_call"].index is None


def test_a_request_runs_only_the_rules_its_attributes_can_fire(engines):
    indexed, _ = engines
    graph = indexed.get_policy().stages["tool_call"]
    roots = {"tool": "lookup", "args": {"amount": 5}, "principal": {"role": "admin", "org": {"unit": "u1"}},
             "context": {"team": "red", "frozen": False}}
    chosen = {r.qid for tier in graph.rules_for(roots, "lookup") for r in tier}
    everything = {r.qid for tier in graph.tiers for r in tier}
    assert chosen < everything
    assert {"r0", "r12"} <= chosen and "r6" not in chosen  # r0 and r12 want an admin, r6 a viewer
    assert "r4" in chosen  # its first test reads args.amount: not filed, always run
    # a missing attribute runs every rule filed under it (they fail as before)
    missing = {r.qid for tier in graph.rules_for({**roots, "principal": {}}, "lookup") for r in tier}
    assert {"r0", "r6", "r12"} <= missing


_values = st.one_of(st.sampled_from(ROLES + TEAMS + ["u1", "u3", "x1"]), st.integers(-5, 200), st.booleans(),
                    st.none(), st.just([]), st.just({}))


def _maybe(draw, value):
    return draw(st.sampled_from([value, None]))


@st.composite
def requests(draw):
    principal = {}
    if draw(st.booleans()):
        principal["role"] = draw(_values)
    if draw(st.booleans()):
        principal["org"] = draw(st.one_of(st.just({"unit": draw(_values)}), _values))
    context = {}
    if draw(st.booleans()):
        context["team"] = draw(_values)
    if draw(st.booleans()):
        context["frozen"] = draw(st.booleans())
    args = {}
    if draw(st.booleans()):
        args["amount"] = draw(st.one_of(st.integers(0, 400), st.text(max_size=3)))
    tool = draw(st.sampled_from(["refund", "void", "lookup"]))
    return tool, args, principal, context


@settings(max_examples=400, deadline=None)
@given(requests())
def test_indexed_and_unindexed_decide_identically(engines, request):
    indexed, plain = engines
    tool, args, principal, context = request
    a = indexed.check_tool_call(tool, args, principal=principal, context=context)
    b = plain.check_tool_call(tool, args, principal=principal, context=context)
    assert a.outcome == b.outcome
    assert sorted(a.rule_ids) == sorted(b.rule_ids)
    assert sorted((e.rule, e.code) for e in a.errors) == sorted((e.rule, e.code) for e in b.errors)
    assert a.text == b.text
