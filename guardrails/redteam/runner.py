"""Run the cases through the engine and judge each decision.

A case is *caught* when the rule it attacks did its job on it: a deny, warn
or escalate rule fired; a redact rule fired and the planted value is gone
from what would be forwarded; an allow rule's exception kept it from
allowing the call. It is *stopped* when the policy as a whole kept it out:
caught, or another rule denied or escalated it (or, for a redact rule,
removed the value), or a tool call fell to the default deny. What is not
stopped *passed*, and the report lists it with its exact text.

The benign corpus runs through every text stage in which a rule of the
policy can deny, escalate, warn or redact, attacked or not, and through
each tool call whose rules read text (a secret, a term, PII in the
arguments), the line set where an attack's payload would go. A line is a
false positive when any rule other than an allow or a label fires on it in
any of those stages; in a tool call, when it fires with the line and not
with a neutral sentence in its place, so a rule that fires on every call of
a tool (a review of every shell command) flags nothing here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from guardrails.decision import Decision, Outcome
from guardrails.redteam.attacks import NEUTRAL_TEXT, Case, build_cases, request_for
from guardrails.redteam.corpus import Corpus
from guardrails.redteam.report import BenignResult, PolicyReport, RuleReport, Tally
from guardrails.redteam.solve import ABSENT
from guardrails.redteam.targets import Target, find_targets

__all__ = ["Progress", "RunOptions", "fit_schema", "judge", "run_policy"]

#: ``progress(policy, done, total)``: called as cases are checked.
Progress = Callable[[str, int, int], None]
_TEXT_STAGES = ("input", "output", "retrieval", "tool_result")
_FIRING = ("deny", "escalate", "warn", "redact")
# Benign lines flagged in a policy: how many the report quotes.
_FLAGGED_SHOWN = 50


@dataclass(frozen=True, slots=True)
class RunOptions:
    seed: int = 0
    sample: int | None = None  # at most this many variants per rule and family
    families: frozenset[str] | None = None  # only these families


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _forwarded(d: Decision) -> list[str]:
    """The strings the application would pass on after this decision."""
    if d.outcome is Outcome.DENY:
        return []
    if d.chunks is not None:
        return [c.text for c in d.chunks if c.outcome is not Outcome.DENY and c.text is not None]
    return list(_strings(d.text))


def judge(target: Target, case: Case, d: Decision) -> tuple[bool, bool]:
    """``(caught, stopped)`` for one case's decision (see the module doc)."""
    fired = {v.rule for v in d.violations if v.effect in _FIRING}
    if target.effect == "allow":
        allowed = {v.rule for v in d.violations if v.effect == "allow"}
        return target.rule not in allowed, d.outcome in (Outcome.DENY, Outcome.ESCALATE)
    if target.effect == "redact":
        planted = case.planted or case.text
        survived = any(planted in s for s in _forwarded(d))
        return target.rule in fired and not survived, not survived
    caught = target.rule in fired
    return caught, caught or d.outcome in (Outcome.DENY, Outcome.ESCALATE)


def _filler(ty: Any) -> Any:
    """A value of a declared type, for a required argument the attack leaves out."""
    if ty.kind == "record":
        return {f.name: _filler(f.ty) for f in ty.fields if not f.optional}
    if ty.kind == "mixed":
        return _filler(ty.alts[0])
    return {"enum": lambda: ty.values[0], "list": list, "integer": lambda: 1, "number": lambda: 1,
            "boolean": lambda: False}.get(ty.kind, lambda: "redteam")()


def _string_field(record: Any, skip: set[str] = frozenset()) -> str | None:
    """Where a text payload goes in a declared tool's arguments: its first
    required string argument, else its first string argument."""
    strings = [f for f in record.fields if f.ty.kind in ("string", "any") and f.name not in skip]
    required = [f for f in strings if not f.optional]
    return (required or strings)[0].name if strings else None


def fit_schema(request: dict[str, Any], target: Target, schema: Any) -> dict[str, Any]:
    """The case's request shaped to the policy's schema (docs/schema.md).

    A request the schema refuses never reaches the rule under attack, so a
    text payload goes in a string argument the tool declares (not the
    generic ``input``), a call whose tool the solver left open names a
    declared tool that takes a string, and required arguments the attack
    does not touch get a value of their type. Values the rule's condition
    binds and the fields the tricks disguise are left as they are: type
    confusion is an attack, and its refusal counts as stopped.
    """
    if schema is None or not schema.tools or target.stage != "tool_call":
        return request
    # An argument the solver wants absent but the schema requires is
    # sent anyway: the schema decides what a call can be.
    bound = {p for p, v in target.bindings if v is not ABSENT}
    tool, args = request.get("tool"), request.get("args") or {}
    if not isinstance(tool, str) or not isinstance(args, dict):  # a type-confusion trick: sent as it is
        return request
    args = dict(args)
    if tool not in schema.tools and ("tool",) not in bound:
        tool = next((t.name for t in schema.tools.values() if _string_field(t.args)), tool)
    decl = schema.tools.get(tool)
    if decl is None:
        return request
    if "input" in args and decl.args.field("input") is None:
        # a string argument the condition leaves free, else any: a payload
        # that overwrites a bound value still reaches the rule under attack
        free = _string_field(decl.args, skip={p[1] for p in bound if len(p) == 2 and p[0] == "args"})
        where = free or _string_field(decl.args)
        if where is not None:
            args[where] = args.pop("input")
    for f in decl.args.fields:
        if not f.optional and f.name not in args:
            args[f.name] = _filler(f.ty)
    return {**request, "tool": tool, "args": args}


def _with_sources(stage: str, request: dict[str, Any]) -> dict[str, Any]:
    """An answer is sent with itself as its source, so a policy's grounding
    rules (``grounded()``) find it supported and judge nothing here: the
    harness attacks the other rules of the output stage, and grounding has
    its own evaluation (docs/grounding.md)."""
    if stage != "output" or not isinstance(request.get("text"), str) or "sources" in request:
        return request
    return {**request, "sources": [request["text"]]}


def _stateful(policy: Any) -> bool:
    return bool(policy.records or any(g.needs is not None and g.needs.any for g in policy.stages.values()))


def run_policy(engine: Any, unit: Any, corpus: Corpus, options: RunOptions,
               progress: Progress | None = None) -> PolicyReport:
    """Attack one policy (``unit`` is its :class:`guardrails.resolve.Unit`)."""
    name = unit.policy.name
    compiled = engine.get_policy(name)
    schema = compiled.schema
    targets, skipped = find_targets(unit, options.seed)
    planned = [(t, build_cases(t, corpus, options.seed, families=options.families, sample=options.sample))
               for t in targets]
    stages = _benign_stages(compiled, targets)
    probes = _tool_probes(targets, schema)
    total = sum(len(cases) for _, cases in planned) + len(corpus.benign) * (len(stages) + len(probes)) + len(probes)
    session = iter(range(1, 1 << 62)) if _stateful(compiled) else None
    done = 0

    def check(stage: str, request: dict[str, Any]) -> Decision:
        nonlocal done
        if session is not None:  # a fresh session: no case sees another's history
            request = {**request, "session": f"redteam-{next(session)}"}
        request = _with_sources(stage, request)
        done += 1
        if progress is not None and (done % 200 == 0 or done == total):
            progress(name, done, total)
        return engine.check(stage, request, policy=name, exhaustive=True)

    rules = []
    for target, cases in planned:
        tally, families = Tally(), {}
        passed, listed = [], {}
        for case in cases:
            caught, stopped = judge(target, case, check(target.stage, fit_schema(case.request, target, schema)))
            tally.add(caught, stopped)
            families.setdefault(case.family, Tally()).add(caught, stopped)
            if not stopped:
                passed.append((case.family, case.how, case.hidden, case.text))
            if case.listed:
                listed[case.how] = caught
        rules.append(RuleReport(target, tally, families, passed, listed))
    benign = _benign(corpus, stages, probes, {t.rule: t.kind for t in targets}, check)
    if progress is not None and done != total:
        progress(name, total, total)
    return PolicyReport(name, compiled.version, compiled.digest, rules, skipped, benign)


def _benign_stages(compiled: Any, targets: list[Target]) -> list[str]:
    """The text stages a benign line goes through: each one with a target,
    or with any rule that denies, escalates, warns or redacts."""
    firing = {name for name, graph in compiled.stages.items() if any(r.effect in _FIRING for r in graph.rules)}
    return sorted(({t.stage for t in targets} | firing) & set(_TEXT_STAGES), key=_TEXT_STAGES.index)


def _tool_probes(targets: list[Target], schema: Any) -> list[tuple[Target, dict[str, Any]]]:
    """One tool call per distinct request shape of the tool-call rules that
    read text, each with the neutral sentence where the payload goes."""
    probes: dict[str, tuple[Target, dict[str, Any]]] = {}
    for t in targets:
        if t.stage == "tool_call" and t.kind != "fields":
            neutral = fit_schema(request_for(t, t.bindings, NEUTRAL_TEXT), t, schema)
            probes.setdefault(repr(sorted(neutral.items(), key=lambda kv: kv[0])), (t, neutral))
    return list(probes.values())


def _swap(value: Any, new: str) -> Any:
    """``value`` with the neutral sentence replaced by ``new`` wherever it is."""
    if value == NEUTRAL_TEXT:
        return new
    if isinstance(value, dict):
        return {k: _swap(v, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_swap(v, new) for v in value]
    return value


def _benign(corpus: Corpus, stages: list[str], probes: list[tuple[Target, dict[str, Any]]],
            kinds: dict[str, str], check) -> BenignResult:
    def fired(d: Decision) -> set[str]:
        return {v.rule for v in d.violations if v.effect in _FIRING}

    result = BenignResult(lines=len(corpus.benign), stages=tuple(stages) + (("tool_call",) if probes else ()))
    # What each probe's call fires with the neutral sentence: not the line's doing.
    always = [fired(check("tool_call", neutral)) for _, neutral in probes]
    for section, text in corpus.benign:
        hits: set[str] = set()
        where: list[str] = []
        for stage in stages:
            if stage == "retrieval":
                request: dict[str, Any] = {"chunks": [{"text": text, "metadata": {}}]}
            elif stage == "tool_result":
                request = {"tool": "web_fetch", "result": text}
            else:
                request = {"text": text}
            rules = fired(check(stage, request))
            if rules:
                hits |= rules
                where.append(stage)
        for (_, neutral), base in zip(probes, always, strict=True):
            rules = fired(check("tool_call", _swap(neutral, text))) - base
            if rules:
                hits |= rules
                if "tool_call" not in where:
                    where.append("tool_call")
        result.add(section, text, sorted(hits), where, {kinds.get(r, "other") for r in hits}, shown=_FLAGGED_SHOWN)
    return result
