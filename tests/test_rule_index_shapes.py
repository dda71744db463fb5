"""Shapes (codegen.shape_of) and their generated matchers (rule_index.shape_matcher).

Groups of an indexed set share a compiled template when their conditions
have one shape; a new group finds its shape by running the matchers of the
shapes seen. A matcher must give exactly the literals shape_of gives for a
condition of its shape, in the same order, and None for a condition of any
other shape: else a group would run another shape's code, or its
literals in the wrong places. Every pair of (shape, condition) drawn from
policies of varied conditions is checked.
"""

from __future__ import annotations

import random

from guardrails import ast
from guardrails.codegen import Unshared, shape_of
from guardrails.parser import parse
from guardrails.rule_index import shape_matcher

PARTS = [
    'principal.role == "r{k}"', '"r{k}" == principal.role', "args.amount <= {k}", "args.amount > {k}.5",
    'context.team in ["a{k}", "b"]', 'not (context.team in ["x", "y{k}"])', "context.frozen", "not context.frozen",
    "context has ticket", 'args.note == "n{k}" or args.amount < 3', "principal.level >= 2",
    "args.flag == true", "args.other == null", 'args.tags == ["t{k}", "u"]', "principal.org.unit == \"u{k}\"",
]


def _conditions(seed: int, n: int = 80) -> list[ast.Expr]:
    rnd = random.Random(seed)
    lines = [f'policy "shapes" version "1.0.{seed}"', "tool_call {"]
    for k in range(n):
        parts = [rnd.choice(PARTS).format(k=k) for _ in range(rnd.randrange(1, 4))]
        lines.append(f'  rule s{k:03d}: warn "w" when {" and ".join(parts)}')
    result = parse("\n".join([*lines, "}"]) + "\n", "shapes.guard")
    assert not result.diagnostics.items
    return [r.condition for block in result.policy.stages for r in block.rules]


def _shape(cond: ast.Expr) -> tuple:
    values: list = []
    return shape_of(cond, [], values), values


def test_a_matcher_takes_its_shape_and_refuses_every_other() -> None:
    conditions = _conditions(1) + _conditions(2)
    shapes = {}
    for c in conditions:
        try:
            shape, _ = _shape(c)
        except Unshared:
            continue
        shapes.setdefault(shape, shape_matcher(shape))
    assert len(shapes) > 20
    for c in conditions:
        try:
            mine, values = _shape(c)
        except Unshared:
            mine, values = None, None
        for shape, match in shapes.items():
            got = match(c)
            assert got == (values if shape == mine else None), (shape, mine)
            if got is not None:
                assert [type(v) for v in got] == [type(v) for v in values]


def test_literals_differ_shapes_do_not() -> None:
    one = ast.Compare("<=", ast.Attr(ast.Var("args"), "amount"), ast.Literal(5))
    two = ast.Compare("<=", ast.Attr(ast.Var("args"), "amount"), ast.Literal(9))
    other = ast.Compare("<=", ast.Attr(ast.Var("args"), "amount"), ast.Literal(9.5))
    assert _shape(one)[0] == _shape(two)[0] != _shape(other)[0]
    match = shape_matcher(_shape(one)[0])
    assert match(two) == [9] and match(other) is None
