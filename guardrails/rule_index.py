"""The attribute index: a decision evaluates only the rules that can fire.

The tool index (:mod:`guardrails.compiler`) files tool-call rules under the
tools they name. This one files rules under the value their condition's
*first* test requires of a request attribute, as OPA's rule index does:

    rule role-7: allow when principal.role == "role_7" and args.amount <= 500
    rule team-3: deny "frozen" when context.team in ["team_3", "team_4"] and context.frozen

``role-7`` is filed under ``principal.role = "role_7"``. A request whose
``principal.role`` is ``"role_2"`` never runs it. Skipping a rule this way
gives exactly the decision that running it would:

* the test comes first, so when it is false the condition stops there:
  nothing after it runs, so no error is skipped with it;
* the test is an equality with a string (``==``, ``in`` a list or group of
  strings), and both are false for any other value, a non-string included,
  without an error;
* when the attribute is missing, or a step of its path is not an object,
  the rule would fail (``missing-attribute``, ``type-error``), so every
  rule filed under that path runs and fails as before.

Small rule sets are not indexed (:data:`MIN_RULES`): below that, picking
costs more than running. Coverage builds are not indexed either: they
report every rule's branches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from guardrails import ast
from guardrails.resolve import group_members
from guardrails.rulegraph import TIER_CHEAP, TIER_PII, TIER_PLAIN, RuleNode

#: Index a rule set only when at least this many of its rules can be filed.
MIN_RULES = 16

#: A rule's filing: the attribute path its first test reads, and the strings it accepts.
Guard = tuple[tuple[str, ...], frozenset[str]]


def first_test_guard(cond: ast.Expr | None, scope: dict[str, Any]) -> Guard | None:
    """The guard of a condition whose first test is `PATH == "s"` or `PATH in
    [strings]` (a list, or a tools/terms group of strings); None otherwise."""
    first = cond
    while isinstance(first, ast.And):
        first = first.operands[0]
    if isinstance(first, ast.Compare) and first.op == "==":
        for subject, other in ((first.left, first.right), (first.right, first.left)):
            if isinstance(other, ast.Literal) and type(other.value) is str:
                path = _path(subject, scope)
                if path is not None:
                    return path, frozenset([other.value])
        return None
    if isinstance(first, ast.In) and not first.negated:
        values = _strings(first.container, scope)
        path = _path(first.item, scope)
        if values is not None and path is not None:
            return path, values
    return None


def _path(e: ast.Expr, scope: dict[str, Any]) -> tuple[str, ...] | None:
    names: list[str] = []
    while isinstance(e, ast.Attr):
        names.append(e.name)
        e = e.obj
    if not isinstance(e, ast.Var):
        return None
    d = scope.get(e.name)
    if d is not None and isinstance(d.node, (ast.ToolsDef, ast.TermsDef)):
        return None  # a group's name is a value, not a request attribute (as the compiler reads it)
    return (e.name, *reversed(names))


def _strings(e: ast.Expr, scope: dict[str, Any]) -> frozenset[str] | None:
    if isinstance(e, ast.ListLit):
        items = [i.value for i in e.items]
    elif isinstance(e, ast.Var) and e.name in scope and isinstance(scope[e.name].node, (ast.ToolsDef, ast.TermsDef)):
        node = scope[e.name].node
        items = list(group_members(node, scope)) if isinstance(node, ast.ToolsDef) else [i.value for i in node.terms]
    else:
        return None
    return frozenset(items) if items and all(type(v) is str for v in items) else None


_UNKNOWN = object()


@dataclass(frozen=True, slots=True)
class _Filed:
    path: tuple[str, ...]
    by_value: dict[str, tuple[RuleNode, ...]]
    everyone: tuple[RuleNode, ...]  # every rule filed under this path: run when the path is unknown


@dataclass(frozen=True, slots=True)
class AttrIndex:
    """One rule set's rules, filed by attribute (see the module docstring)."""

    unfiled: tuple[RuleNode, ...]
    paths: tuple[_Filed, ...]

    def select(self, roots: dict) -> tuple[tuple[RuleNode, ...], ...]:
        """The rules this request can fire, in tiers (cheapest first, by id within a tier)."""
        chosen = list(self.unfiled)
        for filed in self.paths:
            value = roots.get(filed.path[0], _UNKNOWN)
            for key in filed.path[1:]:
                value = value.get(key, _UNKNOWN) if type(value) is dict else _UNKNOWN
            if value is _UNKNOWN:
                chosen.extend(filed.everyone)
            elif type(value) is str:
                hit = filed.by_value.get(value)
                if hit:
                    chosen.extend(hit)
        return tiered(chosen)


def tiered(rules: list[RuleNode]) -> tuple[tuple[RuleNode, ...], ...]:
    """Rules by cost tier (the order the evaluator runs them), by id within one."""
    if len(rules) < 2:
        return (tuple(rules),) if rules else ()
    buckets: dict[int, list[RuleNode]] = {}
    for r in rules:
        buckets.setdefault(r.tier, []).append(r)
    return tuple(tuple(sorted(buckets[t], key=_by_id)) for t in (TIER_PLAIN, TIER_CHEAP, TIER_PII) if t in buckets)


def _by_id(r: RuleNode) -> str:
    return r.qid


def build_index(rules: list[RuleNode], guards: dict[str, Guard]) -> AttrIndex | None:
    """The index of a rule set, or None when too few of its rules can be filed."""
    if sum(1 for r in rules if r.qid in guards) < MIN_RULES:
        return None
    unfiled: list[RuleNode] = []
    by_path: dict[tuple[str, ...], dict[str, list[RuleNode]]] = {}
    everyone: dict[tuple[str, ...], list[RuleNode]] = {}
    for r in rules:
        guard = guards.get(r.qid)
        if guard is None:
            unfiled.append(r)
            continue
        path, values = guard
        everyone.setdefault(path, []).append(r)
        table = by_path.setdefault(path, {})
        for v in values:
            table.setdefault(v, []).append(r)
    return AttrIndex(tuple(unfiled), tuple(
        _Filed(path, {v: tuple(rs) for v, rs in table.items()}, tuple(everyone[path]))
        for path, table in sorted(by_path.items())))


__all__ = ["MIN_RULES", "AttrIndex", "Guard", "build_index", "first_test_guard", "tiered"]
