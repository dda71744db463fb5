"""From a rule's condition to a request that makes it true (or false).

The harness attacks a rule by first building a request the rule catches,
then disguising what made it fire. This module does the first half: it
walks the condition's syntax tree and returns *solutions*, each a set of
bindings (``("args", "amount") -> 7500``, ``("context", "ticket") -> ABSENT``)
plus the *demands* on the text that only a detector can judge (``banned(x)``,
``topic(t) >= 0.6``, ``secrets()``): the attack's payload supplies those.

It is a small, honest solver, not a complete one: ``and`` multiplies the
alternatives of its operands, ``or`` lists them, ``not`` flips what is
wanted, and a comparison picks a value on the right side of its literal.
A condition it cannot satisfy without session history (``labelled``,
``occurred_since`` ... wanted true) or with syntax it does not model gives
no solution, and the reason is kept for the report. The runner checks every
solution against the engine before using it, so a wrong guess here costs a
skipped rule, never a wrong figure.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any

import regex

from guardrails import ast
from guardrails.redteam.examples import Unsupported, example
from guardrails.resolve import group_members

__all__ = ["ABSENT", "PRESENT", "Demand", "Solution", "Solver", "merge_solutions", "path_of"]

Path = tuple[Any, ...]


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: The key must not be there / must be there with any value.
ABSENT = _Marker("ABSENT")
PRESENT = _Marker("PRESENT")

#: Alternatives kept per node: enough to find one an allow rule agrees with
#: (an allow rule listing every tool group offers one per tool).
MAX_ALTERNATIVES = 64
#: Detector calls: true only when the text holds what they look for.
DETECTORS = frozenset({"banned", "secrets", "injected", "pii"})
#: Session calls: false on a fresh session, never made true here.
SESSION = frozenset({"labelled", "occurred_since", "flows_from", "over", "calls", "repeats"})
_NEGATE = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}
_FLIP = {"==": "==", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}


@dataclass(frozen=True, slots=True)
class Demand:
    """What the text must hold for a detector call to be true."""

    kind: str  # terms | topic | injection | secrets | pii | pattern | contains
    name: str | None = None  # the terms list, topic or pattern
    detail: Any = None  # topic: (threshold, strict); pattern: (regex, flags); pii: entities; ...


@dataclass(frozen=True, slots=True)
class Solution:
    bindings: tuple[tuple[Path, Any], ...]
    demands: tuple[Demand, ...]

    def as_dict(self) -> dict[Path, Any]:
        return dict(self.bindings)


_EMPTY: tuple[dict[Path, Any], tuple[Demand, ...]] = ({}, ())


def path_of(e: ast.Expr) -> Path | None:
    """``args.a.b`` -> ``("args", "a", "b")``; None for anything but a path."""
    if isinstance(e, ast.Var):
        return (e.name,)
    if isinstance(e, (ast.Attr, ast.Index)):
        base = path_of(e.obj)
        return None if base is None else (*base, e.name if isinstance(e, ast.Attr) else e.key)
    return None


def _merge(a: dict[Path, Any], b: dict[Path, Any]) -> dict[Path, Any] | None:
    """Both sets of bindings at once, or None when they disagree."""
    out = dict(a)
    for path, value in b.items():
        if path not in out:
            out[path] = value
            continue
        have = out[path]
        if have is PRESENT and value is not ABSENT:
            out[path] = value
        elif value is PRESENT and have is not ABSENT:
            continue
        elif not (have is value or (type(have) is type(value) and have == value)):
            return None
    for path, value in out.items():  # an absent key has no fields
        if value is ABSENT and any(len(q) > len(path) and q[:len(path)] == path and v is not ABSENT
                                   for q, v in out.items()):
            return None
    return out


def merge_solutions(a: Solution, b: Solution) -> Solution | None:
    """One request meeting both solutions, or None when they disagree."""
    merged = _merge(a.as_dict(), b.as_dict())
    return None if merged is None else Solution(tuple(merged.items()), a.demands + b.demands)


def _other(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "-other" if value else "other"
    return "other"


def _ordered(op: str, n: Any) -> Any:
    if isinstance(n, bool) or not isinstance(n, (int, float)):
        raise Unsupported(f"an ordered comparison with {n!r}")
    if op == ">":
        v = int(n * 1.5) if isinstance(n, int) else n * 1.5
        return v if v > n else n + 1
    if op == "<":
        return n - 1
    return n  # >= and <=: the boundary


class Solver:
    """Solves conditions in one unit's scope; ``why`` collects what it could not do."""

    def __init__(self, scope: dict[str, Any], rng: random.Random) -> None:
        self.scope = scope
        self.rng = rng
        self.why: list[str] = []

    def solve(self, e: ast.Expr | None, want: bool = True) -> list[Solution]:
        if e is None:
            return [Solution((), ())]
        try:
            found = self._solve(e, want)
        except Unsupported as exc:
            self.why.append(str(exc))
            return []
        return [Solution(tuple(b.items()), d) for b, d in found]

    # -- the walk: each returns up to MAX_ALTERNATIVES (bindings, demands)
    def _solve(self, e: ast.Expr, want: bool) -> list[tuple[dict[Path, Any], tuple[Demand, ...]]]:
        if isinstance(e, ast.Not):
            return self._solve(e.operand, not want)
        if isinstance(e, (ast.And, ast.Or)):
            product = isinstance(e, ast.And) == want
            if not product:  # any operand will do
                return list(itertools.islice(
                    itertools.chain.from_iterable(self._solve(o, want) for o in e.operands), MAX_ALTERNATIVES))
            acc = [_EMPTY]
            for operand in e.operands:
                options = self._solve(operand, want)
                acc = [(m, d1 + d2) for (b1, d1), (b2, d2) in itertools.product(acc, options)
                       if (m := _merge(b1, b2)) is not None][:MAX_ALTERNATIVES]
                if not acc:
                    return []
            return acc
        if isinstance(e, ast.Literal):
            return [_EMPTY] if bool(e.value) == want else []
        if isinstance(e, ast.Call):
            return self._call(e, want)
        if isinstance(e, ast.Compare):
            return self._compare(e, want)
        if isinstance(e, ast.In):
            return self._in(e, want != e.negated)
        if isinstance(e, ast.Has):
            base = path_of(e.obj)
            if base is None:
                raise Unsupported("`has` on something other than a field")
            return [({(*base, e.key): PRESENT if want else ABSENT}, ())]
        if isinstance(e, ast.Matches):
            return self._matches(e, want)
        if isinstance(e, ast.StrTest):
            return self._strtest(e, want)
        path = path_of(e)
        if path is not None:  # a boolean field
            return [({path: want}, ())]
        raise Unsupported(f"a {type(e).__name__} condition")

    def _call(self, e: ast.Call, want: bool):
        if e.func in SESSION:
            if want:
                raise Unsupported(f"{e.func}() needs session history")
            return [_EMPTY]
        if e.func not in DETECTORS:
            raise Unsupported(f"{e.func}() as a condition")
        if not want:
            return [_EMPTY]  # nothing planted; the runner checks it stays quiet
        names = tuple(a.name for a in e.args if isinstance(a, ast.Var))
        if e.func == "banned":
            return [({}, (Demand("terms", names[0]),))]
        if e.func == "secrets":
            return [({}, (Demand("secrets", None, names),))]
        if e.func == "injected":
            return [({}, (Demand("injection", None, names[0] if names else "likely"),))]
        return [({}, (Demand("pii", None, self.entities(names)),))]

    def entities(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """Entity groups expanded into their types, in order."""
        out: list[str] = []
        for name in names:
            d = self.scope.get(name)
            node = getattr(d, "node", None)
            if isinstance(node, ast.EntitiesDef):
                out.extend(n.value for n in node.entities)
            else:
                out.append(name)
        return tuple(dict.fromkeys(out))

    def _compare(self, e: ast.Compare, want: bool):
        left, right, op = e.left, e.right, e.op
        if isinstance(left, ast.Literal) and not isinstance(right, ast.Literal):
            left, right, op = right, left, _FLIP[op]
        if not isinstance(right, ast.Literal):
            raise Unsupported("a comparison of two fields")
        if not want:
            op = _NEGATE[op]
        lit = right.value
        if isinstance(left, ast.Call):
            return self._compare_call(left, op, lit)
        path = path_of(left)
        if path is None:
            raise Unsupported("a comparison of a computed value")
        return [({path: self._value(op, lit)}, ())]

    def _value(self, op: str, lit: Any) -> Any:
        if op == "==":
            return lit
        if op == "!=":
            return _other(lit)
        return _ordered(op, lit)

    def _compare_call(self, call: ast.Call, op: str, lit: Any):
        if call.func in ("topic", "injection"):
            if op in ("<", "<="):
                return [_EMPTY]  # wanted low: plant nothing
            if op not in (">", ">="):
                raise Unsupported(f"{call.func}() compared with {op}")
            if call.func == "injection":
                return [({}, (Demand("injection", None, float(lit)),))]
            name = call.args[0].name if call.args and isinstance(call.args[0], ast.Var) else None
            return [({}, (Demand("topic", name, (float(lit), op == ">")),))]
        if call.func in SESSION:
            # On a fresh session every count is 0.
            if (op in ("<", "<=") and lit > 0) or (op == "==" and lit == 0) or (op == "<=" and lit == 0):
                return [_EMPTY]
            raise Unsupported(f"{call.func}() {op} {lit} needs session history")
        if call.func in ("lower", "upper") and call.args and op == "==" and isinstance(lit, str):
            path = path_of(call.args[0])
            if path is not None:
                return [({path: lit}, ())]
        if call.func == "length" and call.args and isinstance(lit, (int, float)):
            path = path_of(call.args[0])
            if path is not None and path != ("text",):
                return [({path: "x" * max(0, int(self._value(op, lit)))}, ())]
        raise Unsupported(f"{call.func}() {op} {lit!r}")

    def _container(self, e: ast.Expr) -> list[Any] | None:
        if isinstance(e, ast.ListLit):
            return [i.value for i in e.items]
        if isinstance(e, ast.Var) and e.name in self.scope:
            node = self.scope[e.name].node
            if isinstance(node, ast.ToolsDef):
                return list(group_members(node, self.scope))
            if isinstance(node, ast.TermsDef):
                return [t.value for t in node.terms]
        return None

    def _in(self, e: ast.In, want: bool):
        items = self._container(e.container)
        path = path_of(e.item)
        if items is not None and path is not None:
            if want:
                return [({path: v}, ()) for v in items[:MAX_ALTERNATIVES]]
            outside = next(v for v in ("other_tool", "other", "unlisted") if v not in items)
            return [({path: outside}, ())]
        cpath = path_of(e.container)
        if isinstance(e.item, ast.Literal) and cpath is not None:
            return [({cpath: [e.item.value] if want else []}, ())]
        raise Unsupported("an `in` test of this shape")

    def _matches(self, e: ast.Matches, want: bool):
        if e.regex is not None:
            name, pattern, flags = None, e.regex.pattern, e.regex.flags
        else:
            node = self.scope[e.pattern].node
            name, pattern, flags = e.pattern, node.regex.pattern, node.regex.flags
        path = path_of(e.subject)
        if path is None:
            raise Unsupported("`matches` on a computed value")
        if path == ("text",):
            return [({}, (Demand("pattern", name, (pattern, flags)),))] if want else [_EMPTY]
        if want:
            return [({path: example(pattern, flags, self.rng)}, ())]
        compiled = regex.compile(pattern, regex.I if "i" in flags else 0)
        for candidate in ("other", "plain-value", "x", "0"):
            if not compiled.search(candidate):
                return [({path: candidate}, ())]
        raise Unsupported(f"no string found that /{pattern}/ does not match")

    def _strtest(self, e: ast.StrTest, want: bool):
        path = path_of(e.left)
        if path is None or not isinstance(e.right, ast.Literal) or not isinstance(e.right.value, str):
            raise Unsupported(f"`{e.op}` of this shape")
        lit = e.right.value
        if path == ("text",):
            return [({}, (Demand("contains", None, lit),))] if want and e.op == "contains" else [_EMPTY]
        if want:
            value = {"starts_with": lit + "notes.txt", "ends_with": "user" + lit, "contains": "a" + lit + "b"}[e.op]
            return [({path: value}, ())]
        for candidate in ("other", "zzz"):
            if lit not in candidate:
                return [({path: candidate}, ())]
        raise Unsupported(f"no string found that fails `{e.op} {lit!r}`")
