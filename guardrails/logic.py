"""Logical checks over conditions: never-true conditions (E501), rules that a
deny always overrides (E502), and settings that an import makes stricter.

The reasoning is deliberately simple and sound in one direction: it only
reports what it can prove from the conjuncts of a condition (equalities,
memberships and numeric bounds on the same expression).  It never guesses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from guardrails import ast
from guardrails.diagnostics import Diagnostics
from guardrails.functions import FUNCTIONS
from guardrails.resolve import STRICTER, ScopedRule, Unit, group_members, tools_of
from guardrails.unparse import format_expr
from guardrails.values import strict_eq

_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
# Known ranges of numeric built-ins.
_RANGES = {f.name: f.bounds for f in FUNCTIONS.values() if f.bounds is not None}


def _conjuncts(e: ast.Expr | None) -> list[ast.Expr]:
    if e is None:
        return []
    if isinstance(e, ast.And):
        if not any(isinstance(o, ast.And) for o in e.operands):
            return list(e.operands)
        return [c for o in e.operands for c in _conjuncts(o)]
    return [e]


def _key(e: ast.Expr) -> str:
    # Canonical source text: structural (spans play no part) and readable in messages.
    return format_expr(e)


@dataclass(slots=True)
class _Facts:
    """What a conjunction says about one expression."""

    eq: set = field(default_factory=set)
    ne: set = field(default_factory=set)
    within: list[frozenset] = field(default_factory=list)
    outside: set = field(default_factory=set)
    lo: float = -math.inf
    lo_incl: bool = True
    hi: float = math.inf
    hi_incl: bool = True

    def bound(self, op: str, v: float) -> None:
        if op in (">", ">="):
            incl = op == ">="
            if v > self.lo or (v == self.lo and not incl):
                self.lo, self.lo_incl = v, incl
        elif op in ("<", "<="):
            incl = op == "<="
            if v < self.hi or (v == self.hi and not incl):
                self.hi, self.hi_incl = v, incl

    def in_bounds(self, v) -> bool:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            return True
        if v < self.lo or (v == self.lo and not self.lo_incl):
            return False
        if v > self.hi or (v == self.hi and not self.hi_incl):
            return False
        return True

    def contradiction(self) -> str | None:
        if len(self.eq) > 1:
            return f"it must equal {_show(sorted(self.eq, key=repr))} at once"
        if self.eq & self.ne:
            return f"it must equal and not equal {_show(self.eq & self.ne)}"
        allowed = None
        for s in self.within:
            allowed = s if allowed is None else allowed & s
        if allowed is not None:
            allowed = allowed - self.outside - self.ne
            if self.eq:
                if not self.eq <= allowed:
                    return f"{_show(self.eq)} is not among the allowed values"
            elif not allowed:
                return "no value is in every list it must be in"
        for v in self.eq:
            if not self.in_bounds(v):
                return f"{v!r} is outside the bounds it must lie in"
        if self.lo > self.hi or (self.lo == self.hi and not (self.lo_incl and self.hi_incl)):
            return "its lower bound is above its upper bound"
        return None


def _show(values) -> str:
    return " and ".join(repr(v) for v in values)


class _Logic:
    """Resolves list names (tool groups, terms) to value sets."""

    def __init__(self, unit: Unit):
        # atom() per node, keyed by id with the node kept: the shadowing pass
        # asks for each rule's atoms many times, and each asks for the
        # canonical text of a subject.
        self._atoms: dict[int, tuple] = {}
        self.lists: dict[str, frozenset] = {}
        for name, d in unit.scope.items():
            if isinstance(d.node, ast.ToolsDef):
                self.lists[name] = frozenset(group_members(d.node, unit.scope))
            elif isinstance(d.node, ast.TermsDef):
                self.lists[name] = frozenset(lit.value for lit in d.node.terms)

    def value_set(self, e: ast.Expr) -> frozenset | None:
        if isinstance(e, ast.ListLit):
            return frozenset(i.value for i in e.items)
        if isinstance(e, ast.Var) and e.name in self.lists:
            return self.lists[e.name]
        return None

    # -- atoms as (key, kind, value)
    def atom(self, e: ast.Expr):
        known = self._atoms.get(id(e))
        if known is not None and known[0] is e:
            return known[1]
        found = self._atom(e)
        self._atoms[id(e)] = (e, found)
        return found

    def _atom(self, e: ast.Expr):
        if isinstance(e, ast.Compare):
            left, right, op = e.left, e.right, e.op
            if isinstance(left, ast.Literal) and not isinstance(right, ast.Literal):
                left, right, op = right, left, _FLIP[op]
            if isinstance(right, ast.Literal) and not isinstance(left, ast.Literal):
                return _key(left), op, right.value, left
        if isinstance(e, ast.In):
            vs = self.value_set(e.container)
            if vs is not None:
                return _key(e.item), ("notin" if e.negated else "in"), vs, e.item
        return None

    def facts(self, conj: list[ast.Expr]) -> dict[str, _Facts]:
        out: dict[str, _Facts] = {}
        for c in conj:
            a = self.atom(c)
            if a is None:
                continue
            key, kind, value, subject = a
            f = out.get(key)
            if f is None:
                f = out[key] = _Facts()
                if isinstance(subject, ast.Call) and subject.func in _RANGES:
                    lo, hi = _RANGES[subject.func]
                    f.lo, f.hi = lo, hi
            if kind == "==":
                f.eq.add(value)
            elif kind == "!=":
                f.ne.add(value)
            elif kind == "in":
                f.within.append(value)
            elif kind == "notin":
                f.outside |= value
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                f.bound(kind, float(value))
        return out

    def never_true(self, e: ast.Expr | None) -> str | None:
        if e is None:
            return None
        if isinstance(e, ast.Literal) and e.value is False:
            return "it is the constant false"
        if isinstance(e, ast.Compare) and isinstance(e.left, ast.Literal) and isinstance(e.right, ast.Literal):
            if not _const_compare(e.op, e.left.value, e.right.value):
                return f"{e.left.value!r} {e.op} {e.right.value!r} is always false"
            return None
        if isinstance(e, ast.Or):
            reasons = [self.never_true(o) for o in e.operands]
            return reasons[0] if all(reasons) else None
        if isinstance(e, ast.And):
            for o in e.operands:
                r = self.never_true(o)
                if r:
                    return r
            # Each conjunct has passed on its own, so only two atoms about the
            # same expression can contradict each other.
            conj = _conjuncts(e)
            keys = [a[0] for c in conj if (a := self.atom(c)) is not None]
            if len(set(keys)) == len(keys):
                return None
        else:
            a = self.atom(e)
            if a is None or not _may_contradict(a):
                return None
            conj = [e]
        for key, f in self.facts(conj).items():
            why = f.contradiction()
            if why:
                return f"for {_pretty(key)}, {why}"
        return None

    # -- implication: does `a` (a conjunction) guarantee atom `b`?
    def implies_atom(self, conj: list[ast.Expr], b: ast.Expr) -> bool:
        if any(c == b for c in conj):
            return True
        bat = self.atom(b)
        if bat is None:
            return False
        key, kind, value, _ = bat
        f = self.facts(conj).get(key)
        if f is None:
            return False
        if kind == "in":
            if f.eq and f.eq <= value:
                return True
            return any(s <= value for s in f.within)
        if kind == "==":
            return f.eq == {value}
        if kind == "!=":
            return value in f.ne or (bool(f.eq) and value not in f.eq)
        if kind == "notin":
            return value <= f.outside or (bool(f.eq) and not (f.eq & value))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            lo, hi = f.lo, f.hi
            if f.eq and all(isinstance(v, (int, float)) for v in f.eq):
                lo = hi = min(f.eq) if kind in (">", ">=") else max(f.eq)
                lo_incl = hi_incl = True
            else:
                lo_incl, hi_incl = f.lo_incl, f.hi_incl
            if kind == ">":
                return lo > value or (lo == value and not lo_incl)
            if kind == ">=":
                return lo >= value
            if kind == "<":
                return hi < value or (hi == value and not hi_incl)
            if kind == "<=":
                return hi <= value
        return False

    def implies(self, a: ast.Expr | None, b: ast.Expr | None) -> bool:
        """Whenever `a` holds, `b` holds (None means always true)."""
        if b is None:
            return True
        if isinstance(b, ast.Or):
            return any(self.implies(a, o) for o in b.operands)
        conj = _conjuncts(a)
        return all(self.implies_atom(conj, bb) for bb in _conjuncts(b))


def _may_contradict(atom: tuple) -> bool:
    """Whether an atom alone can be never true (see _Facts.contradiction).

    One equality, inequality or exclusion cannot; a membership can (an empty
    list), and so can a bound on a built-in with a known range or a bound at
    infinity (`x > 1e999`). The others are settled without building facts.
    """
    _key_text, kind, value, subject = atom
    if isinstance(subject, ast.Call) and subject.func in _RANGES:
        return True
    if kind == "in":
        return True
    if kind in ("==", "!=", "notin"):
        return False
    return isinstance(value, float) and not math.isfinite(value)


def _const_compare(op: str, a, b) -> bool:
    """What the evaluator would answer (strict equality; ordering only
    between two numbers or two strings, anything else being an error)."""
    if op == "==":
        return strict_eq(a, b)
    if op == "!=":
        return not strict_eq(a, b)
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
    if not (numbers or (isinstance(a, str) and isinstance(b, str))):
        return True  # a runtime type error, not a constant false: leave it to the type checker
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _pretty(key: str) -> str:
    return f"`{key}`"


class _DenyIndex:
    """Deny rules (that name no tool) filed under one equality test each."""

    def __init__(self, logic: _Logic, denies: list[tuple[ScopedRule, frozenset | None]]):
        self.logic = logic
        self.unfiled: list[tuple[ScopedRule, frozenset | None]] = []
        self.by_eq: dict[tuple[str, object], list[tuple[ScopedRule, frozenset | None]]] = {}
        for d, tools in denies:
            key = self._equality(d.rule.condition)
            if key is None:
                self.unfiled.append((d, tools))
            else:
                self.by_eq.setdefault(key, []).append((d, tools))

    def _equality(self, cond: ast.Expr | None) -> tuple[str, object] | None:
        if cond is None or isinstance(cond, ast.Or):
            return None
        for c in _conjuncts(cond):
            a = self.logic.atom(c)
            if a is not None and a[1] == "==" and _hashable(a[2]):
                return a[0], a[2]
        return None

    def candidates(self, cond: ast.Expr | None) -> list[tuple[ScopedRule, frozenset | None]]:
        """The denies `cond` could imply: the unfiled ones, and those filed
        under an equality `cond` itself fixes (implies_atom needs it)."""
        out = list(self.unfiled)
        if self.by_eq:
            # The equalities of `cond`'s conjuncts, each (subject, value) once:
            # what facts() would gather as `eq`, without building the facts.
            seen: set = set()
            for c in _conjuncts(cond):
                a = self.logic.atom(c)
                if a is not None and a[1] == "==" and _hashable(a[2]):
                    pair = (a[0], a[2])
                    if pair not in seen:
                        seen.add(pair)
                        out += self.by_eq.get(pair, [])
        return out


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def check_unit_logic(unit: Unit, diags: Diagnostics) -> None:
    """Report never-true conditions, rules a deny shadows, and weakened settings
    of one unit (the pipeline's `logic` stage)."""
    logic = _Logic(unit)
    own = [r for r in unit.rules if r.file is unit.source]
    never = {id(r): logic.never_true(r.rule.condition) for r in own}
    for r in own:
        why = never[id(r)]
        if why:
            diags.error("E501", f"the condition of rule {r.qid!r} can never be true: {why}",
                        r.rule.condition.span)
    # A deny can only shadow a rule in its own stage, and for tool calls only
    # if it covers every tool the rule can apply to: index denies that way so
    # large policies do not compare every pair. A deny with an equality test
    # (`principal.role == "x"`) is also filed under it: only a rule that
    # fixes the same value can imply it, so each rule looks at the denies
    # filed under its own equalities and at the unfiled ones.
    live_denies: dict[str, list[tuple[ScopedRule, frozenset | None]]] = {}
    for d in unit.rules:
        if isinstance(d.rule.effect, ast.Deny) and not (
                never[id(d)] if id(d) in never else logic.never_true(d.rule.condition)):
            tools = tools_of(d.rule.condition, unit) if d.stage == "tool_call" else None
            live_denies.setdefault(d.stage, []).append((d, tools))
    by_tool: dict[str, list[tuple[ScopedRule, frozenset | None]]] = {}
    for d, tools in live_denies.get("tool_call", []):
        for t in tools or ():
            by_tool.setdefault(t, []).append((d, tools))
    filed = {stage: _DenyIndex(logic, [(d, t) for d, t in denies if t is None])
             for stage, denies in live_denies.items()}
    for r in own:
        if not isinstance(r.rule.effect, (ast.Allow, ast.Redact)):
            continue
        index = filed.get(r.stage)
        if index is None:
            continue
        candidates = index.candidates(r.rule.condition)
        if r.stage == "tool_call" and by_tool:  # (no deny names a tool: nothing to add)
            mine = tools_of(r.rule.condition, unit)
            if mine:
                first = min(mine)
                candidates = candidates + [(d, t) for d, t in by_tool.get(first, []) if mine <= t]
        for d, _tools in sorted(candidates, key=lambda x: x[0].qid):
            if d is r:
                continue
            if logic.implies(r.rule.condition, d.rule.condition):
                kind = ast.effect_name(r.rule.effect)
                diags.error(
                    "E502",
                    f"{kind} rule {r.qid!r} can never take effect: deny rule {d.qid!r} "
                    f"always fires with it",
                    r.rule.id_span,
                    hint="deny overrides every other effect; narrow the deny or remove this rule",
                )
                break
    _check_labels(unit, own, diags)
    _check_settings(unit, diags)


#: Session builtins whose first argument, a label, must be attached by some rule.
_LABEL_READERS = ("labelled", "flows_from", "occurred_since")


def _check_labels(unit: Unit, own: list[ScopedRule], diags: Diagnostics) -> None:
    """A label no rule of the unit attaches makes its readers constant: in a
    conjunct, the condition can never be true (E501); elsewhere it is a
    warning (W304)."""
    attached = {n for r in unit.rules if isinstance(r.rule.effect, ast.Label) for n in r.rule.effect.names}
    if not set(unit.scope) - attached:
        return  # every reader's label is attached or unknown (checker's E101): no walk needed
    for r in own:
        cond = r.rule.condition
        if cond is None:
            continue
        top = {id(c) for c in _conjuncts(cond)}
        for e in ast.walk(cond):
            if not (isinstance(e, ast.Call) and e.func in _LABEL_READERS and e.args
                    and isinstance(e.args[0], ast.Var)):
                continue
            label = e.args[0].name
            if label in attached or label not in unit.scope:
                continue
            why = f"no rule of this policy attaches label {label!r}"
            if id(e) in top:
                diags.error("E501", f"the condition of rule {r.qid!r} can never be true: {why}", e.span,
                            hint=f"add a rule such as `rule mark: label {label} when ...`")
            else:
                diags.warning("W304", f"{e.func}({label}) is always false: {why}", e.span)


def _check_settings(unit: Unit, diags: Diagnostics) -> None:
    from_modules: dict[str, tuple[object, str]] = {}
    for m in unit.modules:
        for s in m.policy.settings:
            if s.key in STRICTER:
                prev = from_modules.get(s.key)
                value = s.python_value if prev is None else STRICTER[s.key](prev[0], s.python_value)
                from_modules[s.key] = (value, m.policy.name)
    for s in unit.policy.settings:
        if s.key in from_modules and s.key in STRICTER:
            theirs, origin = from_modules[s.key]
            try:
                merged = STRICTER[s.key](s.python_value, theirs)
            except TypeError:
                continue
            if merged != s.python_value:
                diags.warning(
                    "W102",
                    f"setting {s.key}={s.python_value!r} becomes {merged!r} because of import {origin!r}",
                    s.span,
                    hint="imported modules cannot be weakened; the stricter value applies",
                )


__all__ = ["check_unit_logic"]
