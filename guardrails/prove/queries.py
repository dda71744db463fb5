"""The questions `guardrails prove` answers, each one solver search.

* :func:`no_new_allows`: every request NEW forwards, OLD forwards too.
* :func:`never_allows` / :func:`always_denies`: a condition, written in the
  policy language, never meets an allow / always meets a deny.
* :func:`check_rules`: every rule can fire, and no deny overrides it
  whenever it fires.

A search ends proved (no model: it holds for every request), with a
counterexample the engine confirmed, or unknown (a timeout, or models the
engine disowned because a free input stood for something it computes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from guardrails import ast
from guardrails.prove.load import Loaded
from guardrails.prove.stage import StageTerms, encode_stage
from guardrails.prove.symbolic import Outside, Space
from guardrails.prove.witness import Witness, build, decide

#: Models tried before a search gives up on confirming one with the engine.
MAX_MODELS = 8


@dataclass(slots=True)
class Result:
    status: str  # proved | counterexample | unknown | outside
    message: str
    witness: Witness | None = None
    outcomes: dict[str, str] = field(default_factory=dict)  # policy label -> outcome (solver and engine agree)
    free: list[str] = field(default_factory=list)  # the free inputs the encoding used
    outside: list[str] = field(default_factory=list)  # "rule X (loc): outside the fragment: why"
    elapsed_s: float = 0.0


def _free_notes(space: Space) -> list[str]:
    kinds = {"regex": "a free boolean", "opaque": "a free input", "session": "a free input (session state)"}
    return sorted({f"{f.name}: {kinds[f.kind]}" for f in space.free.values() if f.kind in kinds})


def _encode(space: Space, loaded: Loaded, label: str | None = None) -> StageTerms:
    return encode_stage(space, loaded.unit, loaded.policy.settings, space.stage, loaded.pii_default, label)


def _outside(terms: list[StageTerms]) -> list[str]:
    return [f"{t.policy}: rule {qid} ({loc}): outside the fragment: {why}"
            for t in terms for qid, loc, why in t.outside]


def search(space: Space, goal: Any, sides: list[tuple[Loaded, StageTerms]], timeout_ms: int,
           progress: Callable[[str], None] | None = None) -> Result:
    """Find a request satisfying `goal` that the engine decides as the solver does."""
    import time

    z3 = space.z3
    started = time.perf_counter()
    solver = z3.Solver()
    if timeout_ms:
        solver.set(timeout=timeout_ms)
    solver.add(*space.axioms())
    solver.add(goal)
    free = _free_notes(space)
    for attempt in range(MAX_MODELS):
        verdict = solver.check()
        if verdict == z3.unsat:
            return Result("proved", "proved", free=free, elapsed_s=time.perf_counter() - started)
        if verdict != z3.sat:
            return Result("unknown", f"the solver gave up: {solver.reason_unknown()}", free=free,
                          elapsed_s=time.perf_counter() - started)
        model = solver.model()
        if solver.check(*space.tidy()) == z3.sat:  # the same request, without keys no rule reads
            model = solver.model()
        graphs = {ld.ref: ld.policy.stages[space.stage] for ld, _ in sides}
        w = build(space, model, graphs)
        outcomes, agree = {}, True
        for ld, terms in sides:
            said = terms.outcome_of(model)
            got = decide(ld.engine, ld.ref, space.stage, w).outcome.value
            outcomes[terms.policy] = got
            if said != got:
                agree = False
                if progress:
                    progress(f"model {attempt + 1}: the solver says {said} for {terms.policy}, the engine {got}; "
                             "trying another")
        if agree:
            return Result("counterexample", "counterexample", w, outcomes, free,
                          elapsed_s=time.perf_counter() - started)
        solver.add(_block(space, model))
    return Result("unknown", f"none of {MAX_MODELS} models held on the engine (free inputs stood for what it "
                  "computes)", free=free, elapsed_s=time.perf_counter() - started)


def _block(space: Space, model: Any) -> Any:
    """Not this request again."""
    z3 = space.z3
    same = [v == model.eval(v, model_completion=True) for v in space.paths.values()]
    if space.tool is not None:
        same.append(space.tool == model.eval(space.tool, model_completion=True))
    if space.text is not None:
        same.append(space.text == model.eval(space.text, model_completion=True))
    return z3.Not(z3.And(*same))


def no_new_allows(old: Loaded, new: Loaded, timeout_ms: int = 0, progress=None) -> Result:
    space = Space("tool_call")
    t_old = _encode(space, old, f"OLD {old.ref}")
    t_new = _encode(space, new, f"NEW {new.ref}")
    outside = _outside([t_old, t_new])
    if outside:
        return Result("outside", "outside the fragment", outside=outside)
    z3 = space.z3
    r = search(space, z3.And(t_new.allows, z3.Not(t_old.allows)), [(old, t_old), (new, t_new)], timeout_ms, progress)
    if r.status == "proved":
        r.message = f"proved: every tool call {new.ref} allows, {old.ref} allows too"
    elif r.status == "counterexample":
        r.message = f"{new.ref} allows a tool call that {old.ref} does not"
    return r


def query_condition(space: Space, loaded: Loaded, expr: ast.Expr) -> Any:
    """The query holds: true and evaluated without error, read in the policy's scope."""
    from guardrails.prove.encode import Encoder

    enc = Encoder(space, loaded.unit, loaded.pii_default)
    fires, _fails = enc.condition(expr)
    return fires


def _condition_query(loaded: Loaded, expr: ast.Expr, source: str, want_deny: bool, timeout_ms: int,
                     progress=None) -> Result:
    space = Space("tool_call")
    terms = _encode(space, loaded, loaded.ref)
    try:
        q = query_condition(space, loaded, expr)
    except Outside as why:
        return Result("outside", "outside the fragment", outside=[f"the query: outside the fragment: {why}"])
    outside = _outside([terms])
    if outside:
        return Result("outside", "outside the fragment", outside=outside)
    z3 = space.z3
    bad = z3.Not(terms.deny) if want_deny else terms.allows
    r = search(space, z3.And(q, bad), [(loaded, terms)], timeout_ms, progress)
    what = "denies" if want_deny else "allows no tool call where"
    if r.status == "proved":
        r.message = f"proved: {loaded.ref} {what} {source}" if not want_deny else f"proved: {loaded.ref} denies every tool call where {source}"
    elif r.status == "counterexample":
        got = next(iter(r.outcomes.values()))
        r.message = f"{loaded.ref} decides {got} on a tool call where {source}"
    return r


def never_allows(loaded: Loaded, expr: ast.Expr, source: str, timeout_ms: int = 0, progress=None) -> Result:
    return _condition_query(loaded, expr, source, False, timeout_ms, progress)


def always_denies(loaded: Loaded, expr: ast.Expr, source: str, timeout_ms: int = 0, progress=None) -> Result:
    return _condition_query(loaded, expr, source, True, timeout_ms, progress)


@dataclass(slots=True)
class RuleReport:
    qid: str
    location: str
    stage: str
    verdict: str  # ok | never-fires | shadowed | outside | unknown
    detail: str = ""


def check_rules(loaded: Loaded, timeout_ms: int = 0, progress=None) -> list[RuleReport]:
    """Each rule of every stage: can it fire, and can it take effect (no deny always with it)."""
    z3 = None
    out: list[RuleReport] = []
    stages = sorted({r.stage for r in loaded.unit.rules}, key=_STAGE_ORDER.index)
    for stage in stages:
        space = Space(stage)
        z3 = space.z3
        terms = _encode(space, loaded, loaded.ref)
        for qid, loc, why in terms.outside:
            out.append(RuleReport(qid, loc, stage, "outside", f"outside the fragment: {why}"))
        solver = z3.Solver()
        if timeout_ms:
            solver.set(timeout=timeout_ms)
        solver.add(*space.axioms())
        fail_closed = loaded.policy.settings.fail_closed
        for rt in terms.rules:
            if progress:
                progress(f"{stage}: {rt.qid}")
            verdict = _check(solver, rt.fires)
            if verdict is None:
                out.append(RuleReport(rt.qid, rt.location, stage, "unknown", "the solver gave up"))
                continue
            if not verdict:
                out.append(RuleReport(rt.qid, rt.location, stage, "never-fires", "its condition is never true"))
                continue
            if rt.effect not in ("allow", "redact", "escalate"):
                out.append(RuleReport(rt.qid, rt.location, stage, "ok"))
                continue
            others = [o for o in terms.rules if o is not rt]
            blocked = z3.Or(*[o.fires for o in others if o.effect == "deny"],
                            *([o.fails for o in others] if fail_closed else []))
            verdict = _check(solver, z3.And(rt.fires, z3.Not(blocked)))
            if verdict is None:
                out.append(RuleReport(rt.qid, rt.location, stage, "unknown", "the solver gave up"))
            elif verdict:
                out.append(RuleReport(rt.qid, rt.location, stage, "ok"))
            else:
                by = [o.qid for o in others if o.effect == "deny"
                      and _check(solver, z3.And(rt.fires, z3.Not(o.fires))) is False]
                detail = (f"deny rule {by[0]!r} always fires with it" if by else
                          "a deny (or, failing closed, a rule that fails) always fires with it")
                out.append(RuleReport(rt.qid, rt.location, stage, "shadowed", detail))
    return out


_STAGE_ORDER = ["input", "output", "retrieval", "tool_call", "tool_result"]


def _check(solver: Any, goal: Any) -> bool | None:
    import z3

    r = solver.check(goal)
    if r == z3.sat:
        return True
    if r == z3.unsat:
        return False
    return None


__all__ = ["MAX_MODELS", "Result", "RuleReport", "always_denies", "check_rules", "never_allows", "no_new_allows",
           "search"]
