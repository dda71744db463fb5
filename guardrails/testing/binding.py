"""Binding a test file to the loaded policies: its policy, version, rule ids, routes and fixtures must exist."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from guardrails.diagnostics import Diagnostic, Diagnostics, Span
from guardrails.testing.fixtures import overrides_for
from guardrails.stages import STAGES
from guardrails.testing.model import Case, PolicyTests
from guardrails.testing.schema import _close

# Rule ids the engine itself puts in decisions.
_ENGINE_RULES = {"request": STAGES, "default-deny": ("tool_call",)}


@dataclass(frozen=True, slots=True)
class Bound:
    """A case ready to run: its policy reference and translated overrides."""

    case: Case
    policy: str  # name@version
    overrides: dict


def bind(tests: PolicyTests, engine: Any) -> tuple[Any, list[Bound], list[Diagnostic]]:
    """Check a test file against loaded policies: the policy, version, rule
    ids, routes and fixtures must exist. Returns (policy, bound cases, errors)."""
    from guardrails.engine import UnknownPolicyError

    diags = Diagnostics()
    at = tests.policy_span or Span(tests.path, 1, 1, 1, 2, 0, 1)
    ref = tests.policy + (f"@{tests.version}" if tests.version else "")
    try:
        policy = engine.get_policy(ref)
    except UnknownPolicyError as exc:
        if tests.policy not in engine.policy_names():
            diags.error("T201", f"unknown policy {tests.policy!r}", at,
                        _close(tests.policy, engine.policy_names())
                        or f"policies found: {', '.join(engine.policy_names())}")
        else:
            diags.error("T201", str(exc), tests.version_span or at)
        return None, [], diags.sorted()
    bound = []
    for case in tests.cases:
        before = len(diags.items)
        graph = policy.stages[case.stage]
        rules = {r.qid for r in graph.rules} | {k for k, st in _ENGINE_RULES.items() if case.stage in st}
        for rid, span in zip(case.expect.rules or (), case.expect.rule_spans):
            if rid not in rules:
                diags.error("T202", f"{tests.policy} has no rule {rid!r} in the {case.stage} stage", span,
                            _rule_hint(rid, policy, case.stage, rules))
        routes = {r.route for r in graph.rules if r.route}
        if isinstance(case.expect.route, str) and case.expect.route not in routes:
            diags.error("T202", f"no rule of the {case.stage} stage escalates to {case.expect.route!r}",
                        case.expect.route_span or at,
                        f"routes: {', '.join(sorted(routes))}" if routes else "no rule of this stage escalates")
        overrides = overrides_for(case, graph, diags)
        if len(diags.items) == before:
            bound.append(Bound(case, f"{policy.name}@{policy.version}", overrides))
    return policy, bound, diags.sorted()


def _rule_hint(rid: str, policy: Any, stage: str, rules: set[str]) -> str | None:
    qualified = sorted(q for q in rules if q.endswith("/" + rid))
    if qualified:
        return f"imported rules keep their module's name: {qualified[0]!r}"
    for other, graph in policy.stages.items():
        if other != stage and any(r.qid == rid for r in graph.rules):
            return f"{rid!r} is a rule of the {other} stage"
    return _close(rid, rules)
