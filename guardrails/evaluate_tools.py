"""Evaluate the two tool stages: a call an agent wants to make (``tool_call``)
and what a tool returned before the model sees it (``tool_result``).

Both scan every string in a JSON value in one pass: the strings are joined by
:data:`~guardrails.values.ARG_SEPARATOR` (which holds a NUL, so no phrase or
term matches across two of them), and each finding's span is mapped back to
its string's path (``args.note``, ``result.items[2].body``). Redactions are
applied per string, so the forwarded value keeps its shape. The combining
rules are :mod:`guardrails.evaluate`'s.
"""

from __future__ import annotations

import copy
import time
from typing import Any, Callable, Mapping

from guardrails.decision import Decision, Outcome, Span
from guardrails.detectors import Finding, Redaction, apply_redactions, merge_redactions
from guardrails.diagnostics import RuntimeCode
from guardrails.evaluate import (
    Coverage,
    Runtime,
    check_session_id,
    combine_picked,
    decide,
    error_decision,
    kept_labels,
    memo_entry,
    micros_since,
    open_state,
    plain_entry,
    policy_ref,
    run_compiled,
    text_too_long,
)
from guardrails.rulegraph import CompiledPolicy, Ctx
from guardrails.schema import request_problem
from guardrails.values import ARG_SEPARATOR, MAX_DEPTH, MAX_INT, MIN_INT, is_json_like, is_unicode, string_leaves

#: One string of a JSON value: (start, end) in the joined text, its path, its trail of keys.
Offsets = list[tuple[int, int, str, list]]


def _joined(value: Any, root: str) -> tuple[str, Offsets]:
    """Every string leaf of `value`, joined, with where each one lies."""
    leaves: list[tuple[str, list, str]] = []
    if isinstance(value, str):
        leaves.append((root, [], value))
    elif isinstance(value, dict):
        for v in value.values():
            if isinstance(v, (str, dict, list)):  # else there is no string to collect
                string_leaves(value, root, leaves, [])
                break
    elif isinstance(value, list):
        string_leaves(value, root, leaves, [])
    joined, offsets, pos = [], [], 0
    for path, trail, text in leaves:
        offsets.append((pos, pos + len(text), path, trail))
        joined.append(text)
        pos += len(text) + len(ARG_SEPARATOR)
    return ARG_SEPARATOR.join(joined), offsets


def _joined_length(value: Any) -> int:
    """len(_joined(value, ...)[0]), without building it."""
    if type(value) is dict:
        n = count = 0
        for v in value.values():
            t = type(v)
            if t is str:
                n += len(v)
                count += 1
            elif t is dict or t is list or isinstance(v, (str, dict, list)):
                break  # nested (or a str subclass): count the long way
        else:
            return n + len(ARG_SEPARATOR) * (count - 1) if count else 0
    return len(_joined(value, "args")[0])


def _mapper(offsets: Offsets):
    def mapper(f: Finding) -> list[Span]:
        out = []
        for a, b, path, _ in offsets:
            s, e = max(f.start, a), min(f.end, b)
            if s < e:
                out.append(Span(start=s - a, end=e - a, entity=f.entity, score=round(f.score, 4), field=path))
        if len(out) > 1:
            # A finding across several strings (the model's score of a whole
            # result): by path, so the order does not depend on the order of
            # the JSON object's keys, which a wire format need not keep.
            out.sort(key=lambda sp: sp.field)
        return out

    return mapper


def _bad_maps(**maps: Any) -> str | None:
    for name, value in maps.items():
        if value is not None and not (isinstance(value, dict) and is_json_like(value)):
            return name
    return None


def _not_a_map(p: CompiledPolicy, stage: str, name: str, started: float) -> Decision:
    return error_decision(p, stage, RuntimeCode.INVALID_REQUEST,
                          f"{name} must be a JSON object (string keys, JSON values, "
                          f"at most {MAX_DEPTH} levels deep)", started)


def _memo_decision(p: CompiledPolicy, compiled: Any, first: tuple, tool: str, args: dict, started: float,
                   session: str | None) -> Decision | None:
    """The decision from the generated function's memo, when its rules fired
    without spans and none failed (else None: decide() takes `first`)."""
    fired, failed, mask = first
    if failed or mask == -1:
        return None
    hit = memo_entry(p, compiled, fired, mask, "tool_call", p.settings.tool_default, tool)
    outcome = hit[0]
    return Decision.lean("tool_call", outcome, None if outcome is Outcome.DENY else args, list(hit[1]), hit[5], [],
                         micros_since(started), hit[2], None, list(hit[3]), session)


def _plain_length(args: Any, principal: Any, context: Any) -> int:
    """len(_joined(args)[0]) when args, principal and context are each None
    or a flat JSON object of plain values (ASCII strings and keys, booleans,
    nulls, integers under MAX_INT, finite floats): one walk that both
    validates them and counts. -1 for anything else, which the full checks
    of evaluate_tool_call then judge (is_json_like accepts more)."""
    n = count = 0
    if args is not None:
        if type(args) is not dict:
            return -1
        for k, v in args.items():
            if type(k) is not str or not k.isascii():
                return -1
            t = type(v)
            if t is str:
                if not v.isascii():
                    return -1
                n += len(v)
                count += 1
            elif t is int:
                if not MIN_INT < v < MAX_INT:
                    return -1
            elif t is bool or v is None:
                pass
            elif t is not float or v - v != 0.0:  # (false for NaN and the infinities)
                return -1
    for m in (principal, context):
        if m is None:
            continue
        if type(m) is not dict:
            return -1
        for k, v in m.items():
            if type(k) is not str or not k.isascii():
                return -1
            t = type(v)
            if t is str:
                if not v.isascii():
                    return -1
            elif t is bool or v is None:
                pass
            elif t is int:
                if not MIN_INT < v < MAX_INT:
                    return -1
            elif t is not float or v - v != 0.0:
                return -1
    return n + len(ARG_SEPARATOR) * (count - 1) if count else 0


def tool_call_fast_path(newest: Mapping[str, CompiledPolicy],
                        rt: Runtime) -> Callable[[Any, Any, Any, Any], Decision | None] | None:
    """The common tool call, decided in one function: ``fast(tool, args,
    principal, context)`` gives the Decision evaluate_tool_call would give
    on the one policy loaded (`newest`: the engine's policies by name; None
    unless there is one), or None where that function must decide (then it
    does, from the start).

    It decides only what needs none of evaluate_tool_call's other steps: an
    ASCII tool name whose rule set has the mask form (codegen: rules that
    read only the request's values), flat maps of plain values (one walk
    validates them and counts the arguments' length), no rule that fails,
    and a combination the memo holds (by mask, and tool for the wildcard
    set), and a request the policy's schema accepts (a refused one is left
    to that function, which says why). None for a text detector in the
    stage, or a session store; the engine calls it only without session,
    ``at``, explain, overrides or coverage, and with no policy named but this one
    (``fast.policy_name``). Decisions stay identical: the memo's
    entry comes from :func:`~guardrails.evaluate.plain_entry`, memo_entry's
    combination."""
    if len(newest) != 1:
        return None
    p = next(iter(newest.values()))
    graph = p.stages.get("tool_call")
    if graph is None or graph.code is None or graph.detectors or rt.store is not None:
        return None

    def mask_form(f: Any) -> tuple | None:
        # The function, and its memo of decisions' parts: by mask (a tool's set), or (mask, tool).
        return (f, {}) if f is not None and f.mask_form else None

    by_tool = {t: mask_form(graph.compiled_for(t)) for t in graph.by_tool}  # None: evaluate_tool_call decides
    wildcard = mask_form(graph.compiled_for(None))
    max_len, tool_default = p.settings.max_text_length, p.settings.tool_default
    clock, lean, deny, the_ref = time.perf_counter, Decision.lean, Outcome.DENY, policy_ref(p)
    empty: dict = {}  # a missing principal or context, as the generated function reads it (it never writes)
    schema_problem = p.schema.call_problem if p.schema is not None else None

    def fast(tool: Any, args: Any, principal: Any, context: Any) -> Decision | None:
        started = clock()
        if type(tool) is not str:
            return None
        entry = by_tool.get(tool, wildcard)
        if entry is None or not tool or not tool.isascii():
            return None
        n = _plain_length(args, principal, context)
        if n < 0 or n > max_len:
            return None
        if not args:
            args = {}
        if schema_problem is not None and schema_problem(tool, args, principal, context) is not None:
            return None
        f, memo = entry
        mask = f(tool, args, principal or empty, context or empty)
        if mask == -1:  # (a codegen.Picker's mask is a tuple)
            return None
        hit = memo.get(key := mask if entry is not wildcard else (mask, tool))
        if hit is None:
            if f.picks:  # an indexed set: its key's records, combined
                e = combine_picked(f.records, mask, tool_default, tool)
                hit = (e[0], e[1], e[2], e[3], the_ref, e[0] is not deny)
            else:
                e = plain_entry(p, f, None, mask, "tool_call", tool_default, tool)  # (this memo is the function's)
                hit = (e[0], e[1], e[2], e[3], e[5], e[0] is not deny)
            if len(memo) >= 4096:
                memo.clear()
            memo[key] = hit
        outcome, violations, route, labels, ref, forwards = hit
        return lean("tool_call", outcome, args if forwards else None, list(violations), ref, [],
                    int((clock() - started) * 1_000_000), route, None, list(labels), None)

    fast.policy_name = p.name  # type: ignore[attr-defined]  # a request may name it (not a version)
    return fast


def evaluate_tool_call(p: CompiledPolicy, tool: Any, args: Any, principal: Any, context: Any,
                       rt: Runtime, *, explain: bool = False, exhaustive: bool = False,
                       overrides: Mapping[str, Any] | None = None, coverage: Coverage | None = None,
                       session: str | None = None, at: float | None = None) -> Decision:
    """One tool call: deny by default, rules indexed by tool name."""
    started = time.perf_counter()
    if not isinstance(tool, str) or not tool or not is_unicode(tool):
        return error_decision(p, "tool_call", RuntimeCode.INVALID_REQUEST,
                              "tool must be a non-empty string of valid Unicode", started)
    if not ((args is None or type(args) is dict and is_json_like(args))
            and (principal is None or type(principal) is dict and is_json_like(principal))
            and (context is None or type(context) is dict and is_json_like(context))):
        bad = _bad_maps(args=args, principal=principal, context=context)
        if bad is not None:  # (a dict subclass takes this way, and is let through when it is JSON)
            return _not_a_map(p, "tool_call", bad, started)
    bad_session = check_session_id(session, at) if session is not None or at is not None else None
    if bad_session:
        return error_decision(p, "tool_call", RuntimeCode.INVALID_REQUEST, bad_session, started)
    args = args or {}
    if p.schema is not None and (bad := request_problem(p.schema, tool, args, principal, context)):
        return error_decision(p, "tool_call", RuntimeCode.SCHEMA_VIOLATION, bad, started)
    graph = p.stages["tool_call"]
    if graph.detectors or rt.store is not None:
        subject, offsets = _joined(args, "args")
        size = len(subject)
    else:  # no rule reads the arguments' text: only its length is judged
        subject, offsets, size = "", None, _joined_length(args)
    too_long = text_too_long(p, size)
    if too_long:
        return error_decision(p, "tool_call", RuntimeCode.INPUT_TOO_LARGE, too_long, started)

    settings = p.settings
    roots = {"tool": tool, "args": args, "principal": principal or {}, "context": context or {}}
    # The generated function, when it decides (not for explain or coverage): no tiers to select.
    compiled = None if explain or coverage is not None else graph.compiled_for(tool)
    first = None
    if compiled is not None and rt.store is None and (compiled.mask_form or compiled.on_roots):
        # The common case: no session, and rules that read only the request's values (no Ctx to build).
        first = run_compiled(compiled, roots)
        if first is None:  # a rule failed: the interpreter reports it
            compiled = None
        elif (d := _memo_decision(p, compiled, first, tool, args, started, session)) is not None:
            return d
    ctx = Ctx(subject, roots, rt, overrides, coverage)
    h = None if rt.store is None else open_state(p, graph, rt, session, at, ctx, lambda: subject, (tool, args),
                                                 optimistic=True)
    if compiled is not None and h is None and first is None:
        first = run_compiled(compiled, roots, ctx)
        if first is None:
            compiled = None
        elif (d := _memo_decision(p, compiled, first, tool, args, started, session)) is not None:
            return d
    if offsets is None:
        subject, offsets = _joined(args, "args")
        ctx.text = subject
    tiers = graph.rules_for(ctx.roots, tool)  # (a mask-form function that sees a rule fail defers to them)
    run, c, labels = decide(p, graph, h, tiers, ctx, "tool_call", tool, explain=explain,
                            exhaustive=exhaustive, compiled=compiled, first=first,
                            tool_default=settings.tool_default, tool=tool,
                            mapper=_mapper(offsets))
    forwarded = None
    if c.outcome is not Outcome.DENY:
        forwarded = redact_value(args, offsets, c.redactions, rt) if c.redactions else args
    return Decision.lean("tool_call", c.outcome, forwarded, c.violations, policy_ref(p), c.errors,
                         micros_since(started), c.route, run.trace, kept_labels(c.outcome, labels), session)


def evaluate_tool_result(p: CompiledPolicy, tool: Any, result: Any, args: Any, principal: Any, context: Any,
                         rt: Runtime, *, explain: bool = False, exhaustive: bool = False,
                         overrides: Mapping[str, Any] | None = None, coverage: Coverage | None = None,
                         session: str | None = None, at: float | None = None) -> Decision:
    """What a tool returned: a string, or any JSON value whose strings are
    scanned. Allowed by default, like the text stages; a denied result is
    dropped (``text`` is None), a redacted one keeps its shape."""
    started = time.perf_counter()
    stage = "tool_result"
    if not isinstance(tool, str) or not tool or not is_unicode(tool):
        return error_decision(p, stage, RuntimeCode.INVALID_REQUEST,
                              "tool must be a non-empty string of valid Unicode", started)
    if not (isinstance(result, str) or is_json_like(result)) or result is None:
        return error_decision(p, stage, RuntimeCode.INVALID_REQUEST,
                              "result must be a string or a JSON value (object, array, number, boolean), "
                              f"at most {MAX_DEPTH} levels deep", started)
    bad = _bad_maps(args=args, principal=principal, context=context)
    if bad is not None:
        return _not_a_map(p, stage, bad, started)
    bad_session = check_session_id(session, at)
    if bad_session:
        return error_decision(p, stage, RuntimeCode.INVALID_REQUEST, bad_session, started)
    if p.schema is not None and (bad := request_problem(p.schema, tool, args, principal, context)):
        return error_decision(p, stage, RuntimeCode.SCHEMA_VIOLATION, bad, started)
    text, offsets = _joined(result, "result")
    too_long = text_too_long(p, len(text))
    if too_long:
        return error_decision(p, stage, RuntimeCode.INPUT_TOO_LARGE, too_long, started)

    graph = p.stages[stage]
    ctx = Ctx(text, {"text": text, "tool": tool, "result": result, "args": args or {}, "principal": principal or {},
                     "context": context or {}}, rt, overrides, coverage)
    h = open_state(p, graph, rt, session, at, ctx, lambda: text, optimistic=True)
    run, c, labels = decide(p, graph, h, graph.rules_for(ctx.roots), ctx, stage, tool, explain=explain,
                            exhaustive=exhaustive, compiled=graph.compiled_for(),
                            mapper=_mapper(offsets))
    forwarded = None
    if c.outcome is not Outcome.DENY:
        if not c.redactions:
            forwarded = result
        elif isinstance(result, str):
            forwarded = apply_redactions(result, merge_redactions(c.redactions), hash_key=rt.hash_key)
        else:
            forwarded = redact_value(result, offsets, c.redactions, rt)
    return Decision.lean(stage, c.outcome, forwarded, c.violations, policy_ref(p), c.errors,
                         micros_since(started), c.route, run.trace, kept_labels(c.outcome, labels), session)


def redact_value(value: Any, offsets: Offsets, redactions: list[Redaction], rt: Runtime) -> Any:
    """A copy of `value` with each string leaf's redactions applied."""
    merged = merge_redactions(redactions)
    out = copy.deepcopy(value)
    for a, b, _path, trail in offsets:
        local = [
            Redaction(max(r.start, a) - a, min(r.end, b) - a, r.entity, r.score, r.operator, r.params)
            for r in merged if max(r.start, a) < min(r.end, b)
        ]
        if not local:
            continue
        target = out
        for k in trail[:-1]:
            target = target[k]
        if trail:
            target[trail[-1]] = apply_redactions(target[trail[-1]], local, hash_key=rt.hash_key)
    return out


__all__ = ["evaluate_tool_call", "evaluate_tool_result", "redact_value", "tool_call_fast_path"]
