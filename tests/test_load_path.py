"""What the load path's shortcuts must not change.

The compiler names an expression in a runtime message only when the message
is raised (``conditions.LazySource``), and ``unparse.format_expr`` dispatches
on the node's type: the messages, word for word, and the formatted text must
be what formatting at load time gave.
"""

from __future__ import annotations

import dataclasses

import pytest

from guardrails import Engine, ast
from guardrails.conditions import source_of
from guardrails.diagnostics import Diagnostics, Span
from guardrails.fastparse import fast_parse
from guardrails.logic import check_unit_logic
from guardrails.parser import lark_only, parse
from guardrails.resolve import build_units, parse_source
from guardrails.unparse import LazySource, lazy_source

HEADER = 'policy "lp" version "1.0.0"\n'


def _conditions(text: str) -> list[ast.Expr]:
    policy = parse(HEADER + text, "t.policy").policy
    assert policy is not None
    return [r.condition for s in policy.stages for r in s.rules if r.condition is not None]


SOURCE = """tool_call {
  rule a: deny "a" when args.n > 3 and not (context.flag) or args.s contains "x"
  rule b: allow when (args.m).k[0] == "y" and principal.role in ["r", "s"] unless context.off
  rule c: warn "c" when args.t matches /a\\/b/i and args.u has "k-1" and length(args.v) >= 2
}
"""


def test_a_lazy_source_prints_what_source_of_gives() -> None:
    for cond in _conditions(SOURCE):
        for e in ast.walk(cond):
            lazy = LazySource(e)
            assert lazy.text is None  # nothing formatted until printed
            assert f"{lazy}" == str(lazy) == source_of(e)
            assert repr(lazy) == repr(source_of(e))
            assert lazy.text == source_of(e)
            assert str(lazy_source(e)) == source_of(e)
            assert isinstance(lazy_source(e), str) == isinstance(e, ast.Var)  # a name needs no formatting


POLICY = HEADER + """tool_call {
  rule flag: deny "flagged" when args.n > 3 and not context.flag
  rule pick: deny "picked" when args.box.inner[0] == "x"
  rule part: deny "part" when args.word in args.list
  rule ends: deny "ends" when args.word ends_with args.tail
}
"""


@pytest.mark.parametrize(("args", "context", "messages"), [
    ({"n": "four", "box": {"inner": ["y"]}, "word": "a", "list": ["b"], "tail": "z"}, {"flag": False},
     ["cannot compare a string with a number in `args.n > 3`"]),
    ({"n": 4, "box": {"inner": ["y"]}, "word": "a", "list": ["b"], "tail": "z"}, {"flag": "no"},
     ["context.flag is a string, not true or false"]),
    ({"n": 1, "box": {"inner": 5}, "word": "a", "list": 7, "tail": 2}, {"flag": False},
     ["args.box.inner is a number; it cannot be indexed by 0", "args.list is a number, not a list, map or string",
      "`args.word ends_with args.tail` needs strings, got a string and a number"]),
])
@pytest.mark.parametrize("explain", [False, True])
def test_runtime_messages_name_the_expression_as_before(args, context, messages, explain) -> None:
    d = Engine.from_source(POLICY).check_tool_call("t", args, context=context, explain=explain)
    assert sorted(e.message for e in d.errors) == sorted(messages)


@pytest.mark.parametrize(("condition", "why"), [
    ('args.x == 1 and args.y == 2 and args.x == 3', "for `args.x`, it must equal 1 and 3 at once"),
    ("args.x > 1e999", "for `args.x`, its lower bound is above its upper bound"),
    ("args.x in [] and args.y == 1", "for `args.x`, no value is in every list it must be in"),
    ("length(args.s) < 0", "for `length(args.s)`, its lower bound is above its upper bound"),
    ('args.x == "a" and (args.y == 1 and args.x != "a")', "for `args.x`, it must equal and not equal 'a'"),
    ('args.x != 1 and args.y < 1e999 and args.z not in ["a"]', None),
])
def test_never_true_conditions_are_found_with_their_reason(condition, why) -> None:
    diags = Diagnostics()
    source = parse_source(HEADER + f"tool_call {{\n  rule r: deny \"x\" when {condition}\n}}\n", "t.policy", diags)
    units, _ = build_units([source], diags)
    check_unit_logic(units[0], diags)
    found = [d.message for d in diags.items if d.code == "E501"]
    assert found == ([f"the condition of rule 'r' can never be true: {why}"] if why else [])


def _fields(node):
    """A node as nested tuples of its fields, spans included (AST equality leaves them out)."""
    if isinstance(node, tuple):
        return tuple(_fields(x) for x in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, Span):
        return (type(node).__name__, *(_fields(getattr(node, f.name)) for f in dataclasses.fields(node)))
    return node


@pytest.mark.parametrize("literal", ['"plain"', '""', '"é ü 日本"', '"a\\"b"', '"a\\\\b"', '"\\u00e9"', '"a\tb"',
                                     '"\x7f"', '"a\\nb"', '"\\q"'])
def test_strings_read_as_lark_reads_them(literal: str) -> None:
    text = HEADER + f"tool_call {{\n  rule r: deny {literal} when args.s == {literal}\n}}\n"
    fast = fast_parse(text, "t.policy")
    with lark_only():
        ref = parse(text, "t.policy")
    if ref.diagnostics.items:  # a tab or a bad escape: Lark reports it, the fast path leaves it to Lark
        assert fast is None
        return
    assert fast is not None
    assert _fields(fast[0]) == _fields(ref.policy)
