"""Binding a test file to the loaded policies: its policy, version, rule ids,
routes and `with:` fixtures must exist; fixtures become the engine's detector overrides."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from guardrails.diagnostics import Diagnostic, Diagnostics, Span
from guardrails.stages import STAGES
from guardrails.values import ARG_SEPARATOR, string_leaves
from guardrails.testing.located import did_you_mean
from guardrails.testing.model import SEQUENCE, STATIC, Case, Fixed, PolicyTests, Step

# Rule ids the engine itself puts in decisions.
_ENGINE_RULES = {"request": STAGES, "default-deny": ("tool_call",)}


@dataclass(frozen=True, slots=True)
class Bound:
    """A case ready to run: its policy reference and translated overrides."""

    case: Case
    policy: str  # name@version; "" for a static case
    overrides: dict
    engine: Any = None  # the engine of an inline policy; None: the file's
    step_overrides: tuple[dict, ...] = ()  # a step case: each step's overrides, in order


def bind(tests: PolicyTests, engine: Any) -> tuple[Any, list[Bound], list[Diagnostic]]:
    """Check a test file against loaded policies: the policy, version, rule
    ids, routes and fixtures must exist. Returns (policy, bound cases, errors).
    Only the cases of the file's named `policy` are bound here."""
    from guardrails.engine import UnknownPolicyError

    diags = Diagnostics()
    at = tests.policy_span or Span(tests.path, 1, 1, 1, 2, 0, 1)
    ref = tests.policy + (f"@{tests.version}" if tests.version else "")
    try:
        policy = engine.get_policy(ref)
    except UnknownPolicyError as exc:
        if tests.policy not in engine.policy_names():
            diags.error("T201", f"unknown policy {tests.policy!r}", at,
                        did_you_mean(tests.policy, engine.policy_names())
                        or f"policies found: {', '.join(engine.policy_names())}")
        else:
            diags.error("T201", str(exc), tests.version_span or at)
        return None, [], diags.sorted()
    bound = [b for case in tests.cases if case.inline is None
             if (b := bind_case(case, policy, diags, at)) is not None]
    return policy, bound, diags.sorted()


def bind_case(case: Case, policy: Any, diags: Diagnostics, at: Span, engine: Any = None) -> Bound | None:
    """One request case against one compiled policy; None (and errors in ``diags``) when it does not fit."""
    if case.stage == STATIC:
        return Bound(case, "", {}, engine)
    before = len(diags.items)
    if case.stage == SEQUENCE:
        step_overrides = tuple(_bind_request(step, policy, diags, at) for step in case.steps)
        if len(diags.items) > before:
            return None
        return Bound(case, f"{policy.name}@{policy.version}", {}, engine, step_overrides)
    overrides = _bind_request(case, policy, diags, at)
    if len(diags.items) > before:
        return None
    return Bound(case, f"{policy.name}@{policy.version}", overrides, engine)


def _bind_request(case: Case | Step, policy: Any, diags: Diagnostics, at: Span) -> dict:
    """One request (a case or a step): its rule ids, routes and labels must
    exist in its stage; its fixtures become overrides."""
    graph = policy.stages[case.stage]
    rules = {r.qid for r in graph.rules} | {k for k, st in _ENGINE_RULES.items() if case.stage in st}
    for rid, span in zip(case.expect.rules or (), case.expect.rule_spans):
        if rid not in rules:
            diags.error("T202", f"{policy.name} has no rule {rid!r} in the {case.stage} stage", span,
                        _rule_hint(rid, policy, case.stage, rules))
    routes = {r.route for r in graph.rules if r.route}
    if isinstance(case.expect.route, str) and case.expect.route not in routes:
        diags.error("T202", f"no rule of the {case.stage} stage escalates to {case.expect.route!r}",
                    case.expect.route_span or at,
                    f"routes: {', '.join(sorted(routes))}" if routes else "no rule of this stage escalates")
    attached = {label for r in graph.rules for label in r.labels}
    for label, span in zip(case.expect.labels or (), case.expect.label_spans):
        if label not in attached:
            # A decision lists the labels its own step attached, not the session's.
            where = [st for st, g in policy.stages.items() if any(label in r.labels for r in g.rules)]
            diags.error("T202", f"no rule of the {case.stage} stage attaches label {label!r}", span,
                        f"{label!r} is attached by rules of the {' and '.join(where)} stage" if where else
                        did_you_mean(label, attached) or (
                            f"rules of this stage attach: {', '.join(sorted(attached))}" if attached else
                            "no rule of this stage attaches a label"))
    return overrides_for(case, graph, diags)


def _rule_hint(rid: str, policy: Any, stage: str, rules: set[str]) -> str | None:
    qualified = sorted(q for q in rules if q.endswith("/" + rid))
    if qualified:
        return f"imported rules keep their module's name: {qualified[0]!r}"
    for other, graph in policy.stages.items():
        if other != stage and any(r.qid == rid for r in graph.rules):
            return f"{rid!r} is a rule of the {other} stage"
    return did_you_mean(rid, rules)


def _subject(case: Case | Step) -> str | None:
    """The text detectors see for a request; None for retrieval (one per chunk)."""
    if case.stage in ("input", "output"):
        text = case.request.get("text")
        return text if isinstance(text, str) else None
    if case.stage in ("tool_call", "tool_result"):
        # The engine's own walk and separator, so offsets agree with its spans.
        root = "args" if case.stage == "tool_call" else "result"
        value = case.request.get(root)
        if root == "result" and isinstance(value, str):
            return value
        leaves: list = []
        string_leaves(value if isinstance(value, dict) or (root == "result" and isinstance(value, list)) else {},
                      root, leaves, [])
        return ARG_SEPARATOR.join(text for _, _, text in leaves)
    return None


def overrides_for(case: Case | Step, graph: Any, diags: Diagnostics | None = None) -> dict[str, Any]:
    """Translate a case's (or a step's) ``with:`` into the engine's
    ``overrides`` (detector node id -> result) for one stage graph. Problems
    go to ``diags``."""
    from guardrails.detectors import Finding, TopicResult

    diags = diags if diags is not None else Diagnostics()
    subject = _subject(case)
    nodes = graph.detectors
    stage = case.stage
    out: dict[str, Any] = {}

    def used(prefix: str) -> str:
        names = sorted(k.split(":", 1)[1] for k in nodes if k.startswith(prefix + ":"))
        return f"the {stage} stage uses: {', '.join(names)}" if names else f"the {stage} stage uses no {prefix}"

    def found(fx: Fixed, label: str | None) -> list[Finding]:
        result = []
        for f in fx.findings:
            start, end = f.start, f.end
            if f.match is not None:
                pos = subject.find(f.match) if subject is not None else -1
                if pos < 0:
                    diags.error("T104", f"{f.match!r} does not occur in the request", f.span)
                    continue
                start, end = pos, pos + len(f.match)
            elif subject is not None and end is not None and end > len(subject):
                diags.error("T104", f"end {end} is past the end of the request text ({len(subject)} characters)",
                            f.span)
                continue
            result.append(Finding(start or 0, end or 0, f.entity or label or "", f.score))
        return result

    for fx in case.fixed:
        if fx.detector == "topic":
            node = f"topic:{fx.name}"
            if node not in nodes:
                diags.error("T203", f"no rule of the {stage} stage uses topic {fx.name!r}", fx.span,
                            did_you_mean(fx.name, [k[6:] for k in nodes if k.startswith("topic:")]) or used("topic"))
                continue
            out[node] = TopicResult(fx.score, ())
        elif fx.detector in ("terms", "pattern"):
            node = f"{fx.detector}:{fx.name}"
            if node not in nodes:
                kind = "term list" if fx.detector == "terms" else "pattern"
                hint = did_you_mean(fx.name, [k.split(":", 1)[1] for k in nodes if k.startswith(fx.detector + ":")])
                diags.error("T203", f"no rule of the {stage} stage uses the {kind} {fx.name!r}", fx.span,
                            hint or used(fx.detector))
                continue
            out[node] = found(fx, fx.name.upper().replace("-", "_"))
        elif fx.detector == "pii":
            if "pii" not in nodes:
                diags.error("T203", f"no rule of the {stage} stage uses the PII detector", fx.span)
                continue
            for f in fx.findings:
                if f.entity not in graph.pii_entities:
                    diags.error("T203", f"no rule of the {stage} stage looks for {f.entity}", f.span,
                                f"it looks for: {', '.join(sorted(graph.pii_entities))}")
            out["pii"] = found(fx, None)
        else:  # secrets: every secrets node of the stage, each seeing its own kinds
            ids = [k for k in nodes if k == "secrets" or k.startswith("secrets:")]
            if not ids:
                diags.error("T203", f"no rule of the {stage} stage uses secrets()", fx.span)
                continue
            findings = found(fx, None)
            for node in ids:
                kinds = None if node == "secrets" else {k.upper() for k in node.split(":", 1)[1].split(",")}
                out[node] = [f for f in findings if kinds is None or f.entity in kinds]
    return out
