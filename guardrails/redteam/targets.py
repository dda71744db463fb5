"""What a policy guards, rule by rule: the harness's targets.

A :class:`Target` is one rule and the thing it is there to stop: a term
list, a topic, a pattern, an injection level, secrets, PII entity types, or
the tool-call fields (tool name, arguments) and retrieval metadata a
condition compares. It carries the request around the payload (context,
metadata, the tool and arguments an allow rule would let through), solved
from the conditions by :mod:`.solve`.

Rules that cannot be attacked this way are :class:`Skipped`, with the reason:
labels (nothing to evade), allow rules without an exception, rules that need
session history to fire, and conditions the solver does not model.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

import regex

from guardrails import ast
from guardrails.redteam.examples import Unsupported, example
from guardrails.redteam.solve import (
    ABSENT,
    PRESENT,
    Demand,
    Path,
    Solution,
    Solver,
    merge_solutions,
)

__all__ = ["ATTACKER_ROOTS", "TOPIC_JOIN", "Skipped", "Target", "find_targets", "path_text"]

#: Request fields an attacker can shape: the model picks tools and
#: arguments, documents carry metadata. Principal and context are the
#: application's, so their values are never disguised.
ATTACKER_ROOTS = frozenset({"tool", "args", "metadata", "result"})

#: How a topic's phrase joins the terms it needs to reach the threshold.
TOPIC_JOIN = " and "

#: Which demand a rule is attacked through, when its condition has several.
_DEMAND_ORDER = ("terms", "topic", "injection", "secrets", "pii", "pattern", "contains")


@dataclass(frozen=True, slots=True)
class Target:
    rule: str  # the qualified rule id, as decisions name it
    stage: str
    effect: str  # deny | warn | escalate | redact | allow
    kind: str  # terms | topic | pattern | injection | secrets | pii | fields
    what: str  # what the rule looks for, as the report shows it
    location: str | None
    bindings: tuple[tuple[Path, Any], ...]  # the request around the payload
    demand: Demand | None = None
    attacked: tuple[Path, ...] = ()  # fields: the values the tricks change
    note: str | None = None
    #: terms, topics and patterns: what the rule catches when written plainly
    #: (the terms; for a topic, sets of its terms that reach the threshold;
    #: examples of the pattern), each of which the text families disguise.
    phrases: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """What seeds this target's draws: the same rule draws the same
        variants in every policy that imports it."""
        return f"{self.rule}|{self.stage}|{self.kind}|{self.what}"


@dataclass(frozen=True, slots=True)
class Skipped:
    rule: str
    stage: str
    reason: str


def path_text(path: Path) -> str:
    return ".".join(str(p) for p in path)


def _describe(demand: Demand) -> str:
    if demand.kind == "terms":
        return f"banned({demand.name})"
    if demand.kind == "topic":
        threshold, strict = demand.detail
        return f"topic({demand.name}) {'>' if strict else '>='} {threshold:g}"
    if demand.kind == "pattern":
        return f"matches {demand.name}" if demand.name else f"matches /{demand.detail[0]}/"
    if demand.kind == "contains":
        return f"contains {demand.detail!r}"
    if demand.kind == "injection":
        return f"injected({demand.detail})" if isinstance(demand.detail, str) else f"injection() >= {demand.detail}"
    if demand.kind == "secrets":
        return f"secrets({', '.join(demand.detail)})"
    return ", ".join(demand.detail) or "pii()"


def _redact_demand(target: ast.Target, solver: Solver) -> Demand:
    if target.kind == "entities":
        return Demand("pii", None, solver.entities(target.names))
    if target.kind == "secrets":
        return Demand("secrets", None, tuple(target.names))
    if target.kind == "terms":
        return Demand("terms", target.names[0])
    node = solver.scope[target.names[0]].node
    return Demand("pattern", target.names[0], (node.regex.pattern, node.regex.flags))


def _phrases(demand: Demand | None, scope: dict[str, Any], rng: random.Random) -> tuple[str, ...]:
    if demand is None:
        return ()
    if demand.kind == "terms":
        return tuple(str(t.value) for t in scope[demand.name].node.terms if str(t.value).strip())
    if demand.kind == "topic":
        threshold, strict = demand.detail
        weights = {t.text: min(1.0, t.weight) for t in scope[demand.name].node.terms if t.weight > 0}

        def enough(terms: list[str]) -> bool:
            total = math.fsum(weights[t] for t in terms)
            return total > threshold if strict else total >= threshold

        out = []
        for term in weights:
            # A minimal set: every member is needed to reach the threshold,
            # so the rule fires only if the disguised member is still found.
            chosen = [term]
            others = [t for t in weights if t != term]
            rng.shuffle(others)
            while others and not enough(chosen):
                chosen.append(others.pop())
            if not enough(chosen):
                continue
            for t in list(chosen[1:]):
                if enough([c for c in chosen if c != t]):
                    chosen.remove(t)
            if all(not enough([c for c in chosen if c != t]) for t in chosen):
                out.append(TOPIC_JOIN.join(chosen))
        return tuple(dict.fromkeys(out))
    if demand.kind == "pattern":
        pattern, flags = demand.detail
        found = []
        for _ in range(6):
            try:
                found.append(example(pattern, flags, rng))
            except Unsupported:
                return ()
        return tuple(dict.fromkeys(found))[:3]
    return ()


def _with_allow(solution: Solution, allows: list[list[Solution]]) -> tuple[Solution, bool]:
    """The call merged with one an allow rule admits, and whether one did."""
    for options in allows:
        for allowed in options:
            merged = merge_solutions(solution, allowed)
            if merged is not None:
                return merged, True
    return solution, False


def _exceptions(cond: ast.Expr | None) -> tuple[list[ast.Expr], list[ast.Expr]]:
    """An allow rule's condition split into its positive parts and the
    parts under ``not`` (the exceptions an attacker wants to slip past)."""
    parts = list(cond.operands) if isinstance(cond, ast.And) else [cond] if cond is not None else []
    return [p for p in parts if not isinstance(p, ast.Not)], [p.operand for p in parts if isinstance(p, ast.Not)]


def _attacked(solution: Solution) -> tuple[Path, ...]:
    return tuple(p for p, v in solution.bindings if p[0] in ATTACKER_ROOTS and v is not ABSENT and v is not PRESENT)


class _Finder:
    """Walks one unit's rules; each method files a target or says why not."""

    def __init__(self, unit: Any, seed: int) -> None:
        self.unit = unit
        self.seed = seed
        self.solver = Solver(unit.scope, random.Random(f"{seed}|{unit.policy.name}|solve"))
        self.allows = [self.solver.solve(r.rule.condition) for r in unit.rules
                       if r.stage == "tool_call" and isinstance(r.rule.effect, ast.Allow)]
        self.targets: list[Target] = []
        self.skipped: list[Skipped] = []

    def why(self) -> str:
        return self.solver.why[-1] if self.solver.why else "no solution"

    def skip(self, r: Any, reason: str) -> None:
        self.skipped.append(Skipped(r.qid, r.stage, reason))

    def add(self, r: Any, kind: str, what: str, solution: Solution, demand: Demand | None = None,
            attacked: tuple[Path, ...] = ()) -> None:
        effect = ast.effect_name(r.rule.effect)
        note = None
        if r.stage == "tool_call" and effect != "allow":
            solution, admitted = _with_allow(solution, self.allows)
            if not admitted:
                note = "no allow rule admits this call: the default deny stops it whatever the disguise"
        phrases = _phrases(demand, self.unit.scope, random.Random(f"{self.seed}|{r.qid}|phrases"))
        if kind in ("terms", "topic", "pattern") and not phrases:
            self.skip(r, f"no plain example of {what} to disguise")
            return
        self.targets.append(Target(r.qid, r.stage, effect, kind, what, str(r.rule.span), solution.bindings,
                                   demand, attacked, note, phrases))

    def rule(self, r: Any) -> None:
        effect = ast.effect_name(r.rule.effect)
        if effect == "label":
            self.skip(r, "attaches a label; there is nothing to slip past")
        elif effect == "allow":
            self.allow_rule(r)
        elif not (solutions := self.solver.solve(r.rule.condition)):
            self.skip(r, f"cannot build a request it catches: {self.why()}")
        elif isinstance(r.rule.effect, ast.Redact):
            demand = _redact_demand(r.rule.effect.target, self.solver)
            self.add(r, demand.kind, _describe(demand), solutions[0], demand)
        elif with_demand := [s for s in solutions if s.demands]:
            demand = min(with_demand[0].demands, key=lambda d: _DEMAND_ORDER.index(d.kind))
            what = _describe(demand)
            if demand.kind == "contains":  # a literal is a pattern of itself
                demand = Demand("pattern", None, (regex.escape(demand.detail), ""))
            self.add(r, demand.kind, what, with_demand[0], demand)
        elif attacked := _attacked(solutions[0]):
            self.add(r, "fields", ", ".join(map(path_text, attacked)), solutions[0], None, attacked)
        else:
            self.skip(r, "reads only the principal and context, which the application sets")

    def allow_rule(self, r: Any) -> None:
        positive, negated = _exceptions(r.rule.condition)
        if not negated:
            self.skip(r, "an allow rule without an exception (`and not ...`) to slip past")
            return
        base = self.solver.solve(ast.And(tuple(positive)) if positive else None)
        for exception in negated:
            inner = self.solver.solve(exception)
            merged = next((m for b in base for i in inner if (m := merge_solutions(b, i)) is not None), None)
            if merged is None:
                self.skip(r, f"cannot build a call that meets the exception: {self.why()}")
                continue
            attacked = _attacked(inner[0])
            demand = next(iter(inner[0].demands), None)
            if not demand and not attacked:
                self.skip(r, "its exception reads only the principal and context, which the application sets")
                continue
            what = _describe(demand) if demand else ", ".join(map(path_text, attacked))
            self.add(r, demand.kind if demand else "fields", "not " + what, merged, demand, attacked)


def find_targets(unit: Any, seed: int) -> tuple[list[Target], list[Skipped]]:
    """The targets of one policy unit (a :class:`guardrails.resolve.Unit`), and
    the rules that are not attacked, with the reason."""
    finder = _Finder(unit, seed)
    for r in unit.rules:
        finder.rule(r)
    return finder.targets, finder.skipped
