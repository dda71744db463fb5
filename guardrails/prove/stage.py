"""A stage's outcome as z3 terms: the combining rules of
:mod:`guardrails.evaluate`, rule by rule.

For each rule: whether it *applies* (the tool index runs a tool-call rule
only for the tools its condition requires, so a rule filed under other tools
neither fires nor fails), *fires* (its condition is true; a redact rule must
also find something) and *fails* (its condition cannot be evaluated). Then,
as :func:`guardrails.evaluate.combine` does:

* any deny that fires, or any rule that fails when the policy fails closed,
  makes the outcome ``deny``;
* otherwise an escalation that fires makes it ``escalate``;
* on ``tool_call``, no ``allow`` that fires means ``deny``, unless
  ``tool_default = "allow"``;
* otherwise ``redact`` when a redaction fired, else ``allow``.

``warn`` and ``label`` never change the outcome, but their failures do.
Skipping costlier tiers after a certain deny changes nothing here (the
outcome is already deny). Detectors are assumed not to fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from guardrails import ast
from guardrails.prove.encode import Encoder
from guardrails.prove.symbolic import Outside, Space
from guardrails.resolve import Unit, tools_of
from guardrails.rulegraph import DEFAULT_MIN_SCORE, Settings


@dataclass(frozen=True, slots=True)
class RuleTerms:
    qid: str
    effect: str
    location: str
    applies: Any
    fires: Any
    fails: Any


@dataclass(slots=True)
class StageTerms:
    """One policy's stage, encoded: its rules, and the outcome as four exclusive Bools."""

    policy: str
    stage: str
    rules: list[RuleTerms]
    outside: list[tuple[str, str, str]]  # (rule, location, why)
    deny: Any = None
    escalate: Any = None
    redact: Any = None
    allow: Any = None
    session: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def allows(self) -> Any:
        """Forwarded: `allow` or `redact` (Decision.allowed)."""
        import z3

        return z3.Or(self.allow, self.redact)

    def outcome_of(self, model: Any) -> str:
        import z3

        for name in ("deny", "escalate", "redact", "allow"):
            if z3.is_true(model.eval(getattr(self, name), model_completion=True)):
                return name
        return "?"


def encode_stage(space: Space, unit: Unit, settings: Settings, stage: str,
                 pii_default: frozenset[str] = frozenset(), label: str | None = None) -> StageTerms:
    """Encode the rules of `stage` of a unit. A rule outside the fragment is
    listed in ``outside`` and the outcome is not built (callers refuse)."""
    z3 = space.z3
    enc = Encoder(space, unit, pii_default)
    out = StageTerms(label or f"{unit.policy.name} {unit.policy.version}", stage, [], [])
    for r in unit.rules:
        if r.stage != stage:
            continue
        loc = str(r.rule.span)
        try:
            out.rules.append(_rule(enc, space, unit, r.qid, r.rule, stage))
        except Outside as why:
            out.outside.append((r.qid, loc, str(why)))
    out.session = enc.session
    if out.outside:
        return out
    fired = {k: [] for k in ("deny", "escalate", "allow", "redact")}
    failed = []
    for rt in out.rules:
        if rt.effect in fired:
            fired[rt.effect].append(rt.fires)
        failed.append(rt.fails)
    refused = z3.BoolVal(False)
    schema = getattr(unit, "schema", None)
    if schema is not None and not schema.empty and stage in ("tool_call", "tool_result", "retrieval", "input",
                                                              "output"):
        from guardrails.prove.shapes import valid

        refused = z3.Not(valid(enc, schema))  # refused before any rule runs (schema-violation)
    denied = z3.Or(refused, *fired["deny"], *(failed if settings.fail_closed else []))
    escalated = z3.And(z3.Not(denied), z3.Or(*fired["escalate"]))
    passed = z3.And(z3.Not(denied), z3.Not(escalated))
    if stage == "tool_call" and settings.tool_default != "allow":
        passed = z3.And(passed, z3.Or(*fired["allow"]))
    out.deny = z3.And(z3.Not(escalated), z3.Not(passed))
    out.escalate = escalated
    out.redact = z3.And(passed, z3.Or(*fired["redact"]))
    out.allow = z3.And(passed, z3.Not(z3.Or(*fired["redact"])))
    return out


def _rule(enc: Encoder, space: Space, unit: Unit, qid: str, rule: ast.Rule, stage: str) -> RuleTerms:
    z3 = space.z3
    effect = ast.effect_name(rule.effect)
    applies = z3.BoolVal(True)
    if stage == "tool_call":
        tools = tools_of(rule.condition, unit)
        if tools is not None:
            applies = z3.Or(*[space.tool == z3.StringVal(t) for t in sorted(tools)]) if tools else z3.BoolVal(False)
    if rule.condition is None:
        fires, fails = z3.BoolVal(True), z3.BoolVal(False)
    else:
        fires, fails = enc.condition(rule.condition)
    if isinstance(rule.effect, ast.Redact):
        fires = z3.And(fires, _found(enc, rule.effect))
    return RuleTerms(qid, effect, str(rule.span), applies, z3.And(applies, fires), z3.And(applies, fails))


def _found(enc: Encoder, effect: ast.Redact) -> Any:
    """Whether a redact rule's target finds something (a free input: what the detectors report)."""
    t = effect.target
    if t.kind == "entities":
        min_score = effect.min_score if effect.min_score is not None else DEFAULT_MIN_SCORE
        return enc.pii_found(enc.entity_set(t.names), min_score)
    if t.kind == "secrets":
        return enc.secret_found(())
    if t.kind == "terms":
        return enc.terms_found(t.names[0])
    if t.kind == "pattern":
        d = enc.definition(t.names[0])
        key = f"pattern:{t.names[0]}:{d.regex.pattern}/{d.regex.flags}"
        return enc.s.fresh(key, "pattern", t.names[0])
    raise Outside(f"the redaction target {t.kind}")


__all__ = ["RuleTerms", "StageTerms", "encode_stage"]
