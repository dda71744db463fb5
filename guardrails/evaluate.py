"""Evaluate a compiled rule graph on one request and combine the results.

The combining rules live here and nowhere else (docs/language.md repeats
them):

1. Every applicable rule is evaluated, cheapest tier first. The set of rules
   that fire does not depend on their order in the source.
2. ``deny`` overrides everything. Once a deny is certain, rules in costlier
   tiers are skipped (unless ``exhaustive``), which is why they can be.
3. ``escalate`` overrides ``redact`` and ``allow``; the forwarded text is
   still redacted.
4. Redactions compose: all spans from every redact rule that fired are
   merged (overlaps become one span, the strongest operator wins).
5. ``tool_call`` is deny-by-default: without an ``allow`` that fired, the
   call is denied, unless the policy set ``tool_default = "allow"``. An
   ``escalate`` still escalates a call no rule allows: escalation hands the
   decision to its route, which is stricter than denying it outright.
6. ``warn`` and ``label`` are recorded and never change the outcome; a
   denied step keeps no labels (it never reached the model).
7. A rule that fails to evaluate (detector failure, regex timeout, wrong
   data type, missing attribute) counts as a deny when the policy fails
   closed (the default) and as not firing when it fails open. Either way the
   error is reported in the decision.
8. Sessions (see :func:`settle`): a limit found full when the step is
   written turns the decision into the deny (or escalation) of the rule that
   asked ``over()``; a session store that cannot be written fails the
   decision closed unless the policy fails open.

Why one module: the combining rules, the text and retrieval stages and the
decide/settle loop share the two private records a combination passes
through (``_Run``, ``_Combined``); split, they would be public types that
no caller outside the evaluator should build.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Mapping

from guardrails.codegen import fired_rule_nodes, fired_rules
from guardrails.rule_index import EFFECT_BITS
from guardrails.diagnostics import RuntimeCode
from guardrails.history import History, check_session_id, open_history
from guardrails.values import ARG_SEPARATOR, MAX_DEPTH, is_json_like
from guardrails.rulegraph import TIER_PII, CompiledPolicy, Ctx, RuleError, RuleNode
from guardrails.schema import request_problem
from guardrails.decision import (DEFAULT_DENY_RULE, REQUEST_RULE, ChunkDecision, Decision, EvalError, Outcome, PolicyRef, Span,
                                 TraceStep, Violation, default_deny, shared_violation)
from guardrails.detectors import (DetectorCache, DetectorError, Finding, PiiConfig, Redaction, TopicClassifier,
                                  apply_redactions, get_pii_detector, merge_redactions)
from guardrails.detectors.pii.allow import DEFAULT_OPTIONS, PiiOptions


#: A coverage sink: the evaluation adds ``(rule id, branch index, value)`` for
#: each boolean node it evaluates (index -1: the rule as a whole).
Coverage = set[tuple[str, int, bool]]


class Runtime:
    """Engine-wide, thread-safe services shared by every evaluation."""

    def __init__(self, pii_config: PiiConfig, hash_key: bytes, topic_classifier: TopicClassifier | None = None,
                 cache_size: int = 4096, injection: Any = None, store: Any = None):
        self.pii_config = pii_config
        # The session store (guardrails.sessions), or None when no policy
        # keeps session state. Its keys and fingerprints are keyed by hash_key.
        self.store = store
        self.hash_key = hash_key
        self.topic_classifier = topic_classifier
        # An InjectionDetector over the engine's opt-in backend, or None: the
        # compiled injection() node then uses the shipped model. The cache is
        # per engine, so its injection entries all come from one model.
        self.injection = injection
        self.cache = DetectorCache(cache_size)
        self._pii_keys: dict[tuple[frozenset[str], PiiOptions], str] = {}

    def pii(self, text: str, entities: frozenset[str], options: PiiOptions = DEFAULT_OPTIONS) -> list[Finding]:
        """Findings for ``entities``; ``options`` are the policy's allow-lists
        and mode, so policies with different ones never share a cache entry."""
        if not entities or not text:
            return []
        key = self._pii_keys.get((entities, options))
        if key is None:
            key = self._pii_keys.setdefault(
                (entities, options), "pii:" + ",".join(sorted(entities)) + (f"|{options.key}" if options.key else ""))
        config = self.pii_config
        return self.cache.get_or_compute(key, text, lambda: get_pii_detector(config).analyze(text, entities, options))


@dataclass(slots=True)
class _Run:
    """What the rules said about one text."""

    fired: list[tuple[RuleNode, list[Finding]]] = field(default_factory=list)
    failed: list[tuple[RuleNode, str, str]] = field(default_factory=list)
    redactions: list[Redaction] = field(default_factory=list)
    trace: list[TraceStep] | None = None


def run_rules(tiers: tuple[tuple[RuleNode, ...], ...], ctx: Ctx, fail_closed: bool, *,
              exhaustive: bool = False, explain: bool = False, chunk: int | None = None) -> _Run:
    out = _Run(trace=[] if explain else None)
    trace, fired, cov = out.trace, out.fired, ctx.cov
    deny_fired = False
    for t_index, tier in enumerate(tiers):
        for rule in tier:
            ctx.evidence = []
            try:
                cond = rule.cond
                value = True if cond is None else cond(ctx)
                if value is not True and value is not False:
                    raise RuleError(RuntimeCode.TYPE_ERROR, f"the condition gave a {type(value).__name__}, not true or false")
                if value and rule.redact is not None:
                    spec = rule.redact
                    findings: list[Finding] = [f for f in spec.collect(ctx) if f.score >= spec.min_score]
                    out.redactions.extend(
                        Redaction(f.start, f.end, f.entity, f.score, spec.operator, spec.params) for f in findings
                    )
                    value = bool(findings)
                elif value:
                    findings = ctx.evidence
            except (RuleError, DetectorError) as exc:
                code = getattr(exc, "code", "error")
                message = getattr(exc, "message", None) or str(exc)
                out.failed.append((rule, code, message))
                if trace is not None:
                    trace.append(TraceStep(rule=rule.qid, tier=rule.tier, status="error",
                                           detail=f"{code}: {message}", chunk=chunk))
                continue
            if cov is not None:
                cov.add((rule.qid, -1, bool(value)))  # -1: the rule as a whole
            if value:
                fired.append((rule, findings))
                if rule.effect == "deny":
                    deny_fired = True
            if trace is not None:
                trace.append(TraceStep(rule=rule.qid, tier=rule.tier,
                                       status="fired" if value else "not_fired", value=value, chunk=chunk))
        if (deny_fired or (fail_closed and out.failed)) and not exhaustive:
            if trace is not None:
                for later in tiers[t_index + 1:]:
                    for rule in later:
                        trace.append(TraceStep(rule=rule.qid, tier=rule.tier, status="skipped",
                                               detail="outcome already deny", chunk=chunk))
            break
    return out


def _spans(findings: list[Finding], mapper=None) -> list[Span]:
    spans = []
    for f in sorted(findings, key=lambda f: (f.start, f.end, f.entity)):
        if mapper is None:
            spans.append(Span(start=f.start, end=f.end, entity=f.entity, score=round(f.score, 4)))
        else:
            spans.extend(mapper(f))
    return spans


@dataclass(slots=True)
class _Combined:
    outcome: Outcome
    violations: list[Violation]
    errors: list[EvalError]
    route: str | None
    redactions: list[Redaction]


def combine(run: _Run, *, stage: str, fail_closed: bool, tool_default: str = "deny",
            tool: str | None = None, mapper=None) -> _Combined:
    """Apply the combining rules (module docstring) to one text's results."""
    fired = run.fired
    if not run.failed and len(fired) < 2 and (not fired or not fired[0][1]):
        # The common shapes, taken before the general code below, which gives
        # the same: nothing fired, or one rule without spans that decides alone.
        if not fired:
            if stage == "tool_call" and tool_default != "allow":
                return _Combined(Outcome.DENY, [default_deny(tool)], [], None, [])
            return _Combined(Outcome.REDACT if run.redactions else Outcome.ALLOW, [], [], None, run.redactions)
        rule = fired[0][0]
        effect = rule.effect
        if effect == "deny":
            return _Combined(Outcome.DENY, [shared_violation(rule)], [], None, [])
        if effect == "escalate":
            return _Combined(Outcome.ESCALATE, [shared_violation(rule)], [], rule.route, run.redactions)
        if effect == "allow" and stage == "tool_call":
            return _Combined(Outcome.REDACT if run.redactions else Outcome.ALLOW, [shared_violation(rule)], [], None,
                             run.redactions)
    # One violation per fired rule, grouped by effect, each group in rule-id order.
    by_effect: dict[str, list[Violation]] = {}
    for rule, findings in _by_rule(run.fired, _first_qid):
        if findings:
            viol = Violation(rule=rule.qid, effect=rule.effect, message=rule.message, route=rule.route,
                             spans=_spans(findings, mapper), location=rule.location)
        else:
            viol = shared_violation(rule)
        by_effect.setdefault(rule.effect, []).append(viol)
    errors: list[EvalError] = []
    error_denies: list[Violation] = []
    if run.failed:
        failed = _by_rule(run.failed, _first_qid)
        errors = [EvalError(rule=r.qid, code=code, message=msg) for r, code, msg in failed]
        if fail_closed:
            error_denies = [
                Violation(rule=r.qid, effect="deny", message="rule could not be evaluated (fail closed)",
                          error=f"{code}: {msg}", location=r.location)
                for r, code, msg in failed
            ]
    none: list[Violation] = []
    # Labels, like warnings, are reported and never change the outcome.
    warns = by_effect.get("warn", none) + by_effect.get("label", none)
    denies = by_effect.get("deny", none) + error_denies
    if denies:
        return _Combined(Outcome.DENY, _by_rule(denies + warns), errors, None, [])
    redacts = by_effect.get("redact", none)
    escalates = by_effect.get("escalate", none)
    if escalates:
        return _Combined(Outcome.ESCALATE, _by_rule(escalates + redacts + warns),
                         errors, escalates[0].route, run.redactions)
    allows = none
    if stage == "tool_call":
        allows = by_effect.get("allow", none)
        if not allows and tool_default != "allow":
            return _Combined(Outcome.DENY, _by_rule([default_deny(tool)] + warns), errors, None, [])
    outcome = Outcome.REDACT if run.redactions else Outcome.ALLOW
    return _Combined(outcome, _by_rule(allows + redacts + warns), errors, None, run.redactions)


#: What each outcome of combine() lists, by effect (a tool_call's allows only
#: when it is allowed; an escalation its redactions; every outcome its warnings and labels).
_SHOWN_BY_DENY = frozenset(("deny", "warn", "label"))
_SHOWN_BY_ESCALATE = frozenset(("escalate", "redact", "warn", "label"))
_SHOWN_BY_ALLOW = {True: frozenset(("allow", "redact", "warn", "label")), False: frozenset(("redact", "warn", "label"))}
_WARNS = frozenset(("warn", "label"))


def combine_plain(rules: list[RuleNode], stage: str, tool_default: str,
                  tool: str | None) -> tuple[Outcome, list, str | None]:
    """(outcome, violations, route): what combine() gives when `rules`, in
    rule-id order, fired without spans, none failed and nothing was
    redacted, the case of every generated rule set's memo (memo_entry). The
    same combining rules, read off the effects present: every violation is
    the rule's shared one, and a list that is several effects' lists sorted
    by rule id is the fired rules of those effects in id order
    (tests/test_combine_plain.py checks it against combine)."""
    effects = {r.effect for r in rules}
    route = None
    if "deny" in effects:
        outcome, shown = Outcome.DENY, _SHOWN_BY_DENY
    elif "escalate" in effects:
        outcome, shown = Outcome.ESCALATE, _SHOWN_BY_ESCALATE
        route = next(r.route for r in rules if r.effect == "escalate")
    elif stage == "tool_call" and "allow" not in effects and tool_default != "allow":
        warns = [shared_violation(r) for r in rules if r.effect in _WARNS]
        return Outcome.DENY, _by_rule([default_deny(tool), *warns]), None
    else:
        outcome, shown = Outcome.ALLOW, _SHOWN_BY_ALLOW[stage == "tool_call"]
    return outcome, [shared_violation(r) for r in rules if r.effect in shown], route


#: combine_picked's table: by the effect bits of the rules that fired (rule_index.EFFECT_BITS), the
#: outcome and the effects whose violations it lists; None where the call is denied by default.
def _picked_rows(default_allows: bool) -> tuple:
    deny, escalate, allow, redact, warn, label = (EFFECT_BITS[e] for e in
                                                  ("deny", "escalate", "allow", "redact", "warn", "label"))
    rows: list = []
    for present in range(2 * max(EFFECT_BITS.values())):
        if present & deny:
            rows.append((Outcome.DENY, deny | warn | label))
        elif present & escalate:
            rows.append((Outcome.ESCALATE, escalate | redact | warn | label))
        elif not present & allow and not default_allows:
            rows.append(None)
        else:
            rows.append((Outcome.ALLOW, allow | redact | warn | label))
    return tuple(rows)


_PICKED_ROWS = {False: _picked_rows(False), True: _picked_rows(True)}
_WARN_BITS = EFFECT_BITS["warn"] | EFFECT_BITS["label"]
_ESCALATE_BIT = EFFECT_BITS["escalate"]
_FIRST = itemgetter(0)


def combine_picked(records: tuple, key: tuple, tool_default: str, tool: str | None) -> tuple:
    """(outcome, violations, route, kept labels, labels) of a tool call
    whose indexed set (rule_index.Picker) gave `key`, what combine_plain and
    memo_entry give for the rules it says fired, read off the records the
    set built at load (by group, each rule's (id, effect bit, shared
    violation, labels, route)): the outcome is a row of a table by the
    effects present, the violations those of its effects, in rule-id order.
    A far-off rule's first decision then combines in a few operations, in
    one frame, and touches no rule object (tests/test_combine_plain.py
    checks it against combine_plain)."""
    fired = []
    pairs = iter(key)
    for g in pairs:
        m = next(pairs)
        if m == 1:  # (most groups hold one rule)
            fired.append(records[g][0])
        else:
            for r in records[g]:
                if m & 1:
                    fired.append(r)
                m >>= 1
    present = 0
    labels = _NO_LABELS
    for r in fired:
        present |= r[1]
        if r[3]:
            labels = labels.union(r[3])
    if len(fired) > 1:
        fired.sort(key=_FIRST)  # (by rule id; a C key: no Python frame per record)
    row = _PICKED_ROWS[tool_default == "allow"][present]
    violations = []
    route = None
    if row is None:
        outcome = Outcome.DENY
        for r in fired:
            if r[1] & _WARN_BITS:
                violations.append(r[2])
        violations = _by_rule([default_deny(tool), *violations])
    else:
        outcome, shown = row
        escalates = outcome is Outcome.ESCALATE
        for r in fired:
            if r[1] & shown:
                violations.append(r[2])
                if escalates and r[1] & _ESCALATE_BIT:
                    route, escalates = r[4], False  # the first escalation's, by rule id
    return outcome, tuple(violations), route, (tuple(sorted(labels)) if labels and outcome is not Outcome.DENY
                                               else ()), labels


def _qid(rule: RuleNode) -> str:
    return rule.qid


def _first_qid(item: tuple) -> str:
    return item[0].qid


def _by_rule(items: list, key=lambda x: x.rule) -> list:
    """Sorted by rule id (most decisions have one item: skip the sort)."""
    return sorted(items, key=key) if len(items) > 1 else list(items)


# ---- the stages ------------------------------------------------------------


_policy_refs: dict[tuple[str, str, str], PolicyRef] = {}


def policy_ref(p: CompiledPolicy) -> PolicyRef:
    # PolicyRef is frozen, so one instance per policy serves every decision.
    key = (p.name, p.version, p.digest)
    ref = _policy_refs.get(key)
    if ref is None:
        if len(_policy_refs) >= 4096:
            _policy_refs.clear()
        ref = _policy_refs[key] = PolicyRef(name=p.name, version=p.version, digest=p.digest)
    return ref


def error_decision(p: CompiledPolicy, stage: str, code: str, message: str, started: float) -> Decision:
    """A request that cannot be evaluated at all is denied, whatever on_error
    says. A refused retrieval forwards no chunk (``chunks == []``, as the
    sidecar's wire form has it)."""
    return Decision.lean(
        stage, Outcome.DENY, None, [Violation(rule=REQUEST_RULE, effect="deny", message=message, error=code)],
        policy_ref(p), [EvalError(rule=None, code=code, message=message)], micros_since(started),
        chunks=[] if stage == "retrieval" else None,
    )


def micros_since(started: float) -> int:
    return int((time.perf_counter() - started) * 1_000_000)


def text_too_long(p: CompiledPolicy, n: int) -> str | None:
    if n > p.settings.max_text_length:
        return f"input of {n} characters exceeds max_text_length {p.settings.max_text_length}"
    return None


def evaluate_text(p: CompiledPolicy, stage: str, text: Any, context: Any, rt: Runtime, *,
                  explain: bool = False, exhaustive: bool = False,
                  overrides: Mapping[str, Any] | None = None, coverage: Coverage | None = None,
                  session: str | None = None, at: float | None = None) -> Decision:
    """One prompt or completion. The options are the engine's (see :class:`guardrails.Engine`)."""
    started = time.perf_counter()
    bad_session = check_session_id(session, at)
    if bad_session:
        return error_decision(p, stage, RuntimeCode.INVALID_REQUEST, bad_session, started)
    if not isinstance(text, str):
        return error_decision(p, stage, RuntimeCode.INVALID_REQUEST, f"text must be a string, not {type(text).__name__}", started)
    if context is not None and not (isinstance(context, dict) and is_json_like(context)):
        return error_decision(p, stage, RuntimeCode.INVALID_REQUEST, "context must be a JSON object", started)
    too_long = text_too_long(p, len(text))
    if too_long:
        return error_decision(p, stage, RuntimeCode.INPUT_TOO_LARGE, too_long, started)
    if p.schema is not None and (bad := request_problem(p.schema, context=context)):
        return error_decision(p, stage, RuntimeCode.SCHEMA_VIOLATION, bad, started)
    graph = p.stages[stage]
    ctx = Ctx(text, {"text": text, "context": context or {}}, rt, overrides, coverage)
    h = open_state(p, graph, rt, session, at, ctx, lambda: text, optimistic=True)
    run, c, labels = decide(p, graph, h, graph.rules_for(ctx.roots), ctx, stage, None, explain=explain,
                            exhaustive=exhaustive, compiled=graph.compiled_for())
    forwarded = None
    if c.outcome is not Outcome.DENY:
        forwarded = apply_text(text, c.redactions, rt) if c.redactions else text
    return Decision.lean(stage, c.outcome, forwarded, c.violations, policy_ref(p), c.errors, micros_since(started),
                         c.route, run.trace, kept_labels(c.outcome, labels), session)


def apply_text(text: str, redactions: list[Redaction], rt: Runtime) -> str:
    return apply_redactions(text, merge_redactions(redactions), hash_key=rt.hash_key)


def evaluate_retrieval(p: CompiledPolicy, chunks: Any, context: Any, rt: Runtime, *,
                       explain: bool = False, exhaustive: bool = False,
                       overrides: Mapping[str, Any] | None = None, coverage: Coverage | None = None,
                       session: str | None = None, at: float | None = None) -> Decision:
    """Each chunk is judged on its own; denied chunks are dropped.

    The request is denied only when every chunk is; it escalates when any
    chunk does; it is a redaction when any chunk was dropped or redacted.
    """
    started = time.perf_counter()
    bad_session = check_session_id(session, at)
    if bad_session:
        return error_decision(p, "retrieval", RuntimeCode.INVALID_REQUEST, bad_session, started)
    if not isinstance(chunks, list):
        return error_decision(p, "retrieval", RuntimeCode.INVALID_REQUEST, "chunks must be a list", started)
    if len(chunks) > p.settings.max_chunks:  # the policy's max_chunks, values.MAX_CHUNKS by default
        return error_decision(p, "retrieval", RuntimeCode.INVALID_REQUEST, f"{len(chunks)} chunks is more than "
                              f"the {p.settings.max_chunks} one request may carry (max_chunks)", started)
    if context is not None and not (isinstance(context, dict) and is_json_like(context)):
        return error_decision(p, "retrieval", RuntimeCode.INVALID_REQUEST, "context must be a JSON object", started)
    normal: list[tuple[str, dict]] = []
    for i, ch in enumerate(chunks):
        if isinstance(ch, str):
            ch = {"text": ch}
        if not isinstance(ch, dict) or not isinstance(ch.get("text"), str):
            return error_decision(p, "retrieval", RuntimeCode.INVALID_REQUEST, f"chunks[{i}] needs a string 'text'", started)
        meta = ch.get("metadata") or {}
        if not (isinstance(meta, dict) and is_json_like(meta)):
            return error_decision(p, "retrieval", RuntimeCode.INVALID_REQUEST,
                                   f"chunks[{i}].metadata must be a JSON object (string keys, JSON values, "
                                   f"at most {MAX_DEPTH} levels deep)", started)
        normal.append((ch["text"], meta))
    if p.schema is not None and (bad := request_problem(p.schema, context=context, metadata=[m for _, m in normal])):
        return error_decision(p, "retrieval", RuntimeCode.SCHEMA_VIOLATION, bad, started)
    too_long = text_too_long(p, sum(len(t) for t, _ in normal))
    if too_long:
        return error_decision(p, "retrieval", RuntimeCode.INPUT_TOO_LARGE, too_long, started)

    graph = p.stages["retrieval"]
    violations: list[Violation] = []
    errors: list[EvalError] = []
    trace: list[TraceStep] | None = [] if explain else None
    results: list[ChunkDecision] = []
    routes: list[str] = []
    labels: set[str] = set()
    labelled_texts: list[str] = []
    h = None
    compiled = graph.compiled_for() if not explain and coverage is None else None
    for i, (text, meta) in enumerate(normal):
        ctx = Ctx(text, {"text": text, "metadata": meta, "context": context or {}}, rt, overrides, coverage)
        if i == 0:  # one History for the whole request, read once
            h = open_state(p, graph, rt, session, at, ctx, lambda: ARG_SEPARATOR.join(labelled_texts))
        ctx.state = h
        if compiled is not None:
            run = _Run(*(compiled(ctx.roots) if compiled.on_roots else compiled(ctx))[:2])
        else:
            run = run_rules(graph.rules_for(ctx.roots), ctx, p.settings.fail_closed, exhaustive=exhaustive,
                            explain=explain, chunk=i)
        field_name = f"chunks[{i}]"

        def mapper(f: Finding, field_name=field_name):
            return [Span(start=f.start, end=f.end, entity=f.entity, score=round(f.score, 4), field=field_name)]

        c = combine(run, stage="retrieval", fail_closed=p.settings.fail_closed, mapper=mapper)
        violations.extend(v.model_copy(update={"chunk": i}) for v in c.violations)
        errors.extend(c.errors)
        if trace is not None and run.trace:
            trace.extend(run.trace)
        if c.route:
            routes.append(c.route)
        forwarded = None if c.outcome is Outcome.DENY else (apply_text(text, c.redactions, rt) if c.redactions else text)
        chunk_labels = labels_of(run.fired)
        if chunk_labels and forwarded is not None:  # a dropped chunk never reaches the model
            labels |= chunk_labels
            labelled_texts.append(text)
        results.append(ChunkDecision(index=i, outcome=c.outcome, text=forwarded, metadata=meta))

    outcomes = {r.outcome for r in results}
    if results and outcomes == {Outcome.DENY}:
        outcome = Outcome.DENY
    elif Outcome.ESCALATE in outcomes:
        outcome = Outcome.ESCALATE
    elif outcomes - {Outcome.ALLOW}:
        outcome = Outcome.REDACT
    else:
        outcome = Outcome.ALLOW
    if h is not None:
        c = settle(p, graph, h, _Combined(outcome, violations, errors, routes[0] if routes else None, []),
                   "retrieval", None, frozenset(labels))
        if c.outcome is not outcome:  # the store failed (fail closed): every chunk is dropped
            outcome, violations, errors = c.outcome, c.violations, c.errors
            results = [r.model_copy(update={"outcome": Outcome.DENY, "text": None}) for r in results]
        else:
            errors = c.errors
    forwarded_chunks = None if outcome is Outcome.DENY else [
        {"text": r.text, "metadata": r.metadata} for r in results if r.outcome is not Outcome.DENY
    ]
    return Decision.lean("retrieval", outcome, forwarded_chunks, violations, policy_ref(p), errors,
                         micros_since(started), routes[0] if routes else None, trace, kept_labels(outcome, labels),
                         session, chunks=results)


# ---- sessions: open the History before the rules, settle after them ---------

STATE_RULE = "session-state"


_NO_LABELS: frozenset[str] = frozenset()


def labels_of(fired: list[tuple[RuleNode, list[Finding]]]) -> frozenset[str]:
    return labels_of_rules([rule for rule, _ in fired])


def labels_of_rules(rules: list[RuleNode]) -> frozenset[str]:
    out: set[str] | None = None
    for rule in rules:
        if rule.labels:  # most rules attach none: no set is built for them
            out = set(rule.labels) if out is None else out | set(rule.labels)
    return _NO_LABELS if out is None else frozenset(out)


def kept_labels(outcome: Outcome, labels: frozenset[str]) -> list[str]:
    """Decision.labels: what the step keeps. A denied step never reached the
    model, so it keeps none (its label rules still show among the violations)."""
    return sorted(labels) if labels and outcome is not Outcome.DENY else []


def open_state(p: CompiledPolicy, graph: Any, rt: Runtime, session: str | None, at: float | None,
               ctx: Ctx, content, call: tuple[str, dict] | None = None, optimistic: bool = False) -> History | None:
    """The decision's session History (None: the stateless fast path), set on
    `ctx`. `optimistic`: the caller decides through :func:`decide`, which can
    decide again, so a shared store may answer from its cache."""
    needs = graph.needs
    if rt.store is None or needs is None or (not needs.any and not (session is not None and p.records)):
        return None
    h = open_history(rt.store, rt.hash_key, p.name, needs, p.records, session, at, ctx, content, call,
                     optimistic)
    ctx.state = h
    return h


def run_compiled(compiled: Any, roots: dict, ctx: Ctx | None = None) -> tuple | None:
    """(fired, failed, mask) from a rule set's generated function, or None
    when a mask-form function (codegen's ``mask_form``: the tool_call sets
    that read only the request's values) saw a rule fail: the interpreter
    then decides, and reports the failure. A mask-form rule fires with no
    evidence, so its mask says all that fired. `ctx` is needed only by a
    function that is neither mask-form nor ``on_roots``."""
    if compiled.mask_form:
        mask = compiled(roots["tool"], roots["args"], roots["principal"], roots["context"])
        if mask == -1:  # (a codegen.Picker's is a tuple)
            return None
        return fired_rules(compiled, mask), [], mask
    return compiled(roots) if compiled.on_roots else compiled(ctx)


def memo_entry(p: CompiledPolicy, compiled: Any, fired: list | None, mask: Any, stage: str,
               tool_default: str = "deny", tool: str | None = None) -> tuple:
    """What a generated rule set decides when the rules in `mask` fired with
    no spans and none failed: the result then depends only on that set (and
    the tool), so it is combined once per set and the memo on the function
    (``compiled.memo``, keyed by ``(mask, tool)``) holds it. (outcome,
    violations, route, kept labels, labels, the policy's PolicyRef), the
    sequences as tuples: each caller copies them. `fired`: the (rule,
    findings) pairs the mask says fired, or None to read them off the mask
    (a mask-form function's). A miss runs combine_plain, combine() for this case."""
    hit = compiled.memo.get(key := (mask, tool))
    if hit is None:
        hit = plain_entry(p, compiled, fired, mask, stage, tool_default, tool)
        if len(compiled.memo) >= 4096:  # (a large indexed set fires many different sets: keep the recent ones)
            compiled.memo.clear()
        compiled.memo[key] = hit
    return hit


def plain_entry(p: CompiledPolicy, compiled: Any, fired: list | None, mask: Any, stage: str,
                tool_default: str = "deny", tool: str | None = None) -> tuple:
    """memo_entry's entry, combined (a miss of its memo): for an indexed set
    (a Picker's key) by combine_picked, else by combine_plain."""
    if fired is None and compiled.picks:
        return (*combine_picked(compiled.records, mask, tool_default, tool), policy_ref(p))
    if fired is None:
        rules = fired_rule_nodes(compiled, mask)
    else:
        rules = [r for r, _ in fired]
        if len(rules) > 1:
            rules.sort(key=_qid)
    outcome, violations, route = combine_plain(rules, stage, tool_default, tool)
    labels = labels_of_rules(rules)
    return outcome, tuple(violations), route, tuple(kept_labels(outcome, labels)), labels, policy_ref(p)


#: How many times one request is decided again because its session changed
#: under an optimistic read, before it fails as state-unavailable.
MAX_STALE = 3


def decide(p: CompiledPolicy, graph: Any, h: History | None, tiers: tuple, ctx: Ctx, stage: str,
           step_tool: str | None, *, explain: bool, exhaustive: bool, compiled: Any = None,
           first: tuple | None = None, **combine_kw: Any) -> tuple[_Run, _Combined, frozenset[str]]:
    """Run the rules and combine them; with a History, settle the decision in
    the store, and decide again when another replica wrote the session since
    it was read (an optimistic read from the store's cache; see
    guardrails.sessions.redis_store). `compiled`: the rule set's generated
    function (graph.compiled_for), which decides what run_rules would;
    explain and coverage take the interpreter, which records them."""
    fail_closed = p.settings.fail_closed
    if explain or ctx.cov is not None:
        compiled = None
    for _ in range(MAX_STALE):
        out = None
        if compiled is not None:
            out, first = (first, None) if first is not None else (run_compiled(compiled, ctx.roots, ctx), None)
        if out is not None:  # (None: a mask-form function saw a rule fail; `tiers` are the same rules)
            fired, failed, mask = out
            run = _Run(fired, failed)
            if not failed and mask != -1:
                hit = memo_entry(p, compiled, fired, mask, stage, combine_kw.get("tool_default", "deny"),
                                 combine_kw.get("tool"))
                c, labels = _Combined(hit[0], list(hit[1]), [], hit[2], []), hit[4]
            else:
                c, labels = combine(run, stage=stage, fail_closed=fail_closed, **combine_kw), labels_of(fired)
        else:
            run = run_rules(tiers, ctx, fail_closed, exhaustive=exhaustive, explain=explain)
            c, labels = combine(run, stage=stage, fail_closed=fail_closed, **combine_kw), labels_of(run.fired)
        if h is None:
            return run, c, labels
        settled = settle(p, graph, h, c, stage, step_tool, labels)
        if settled is not None:
            return run, settled, labels
    h.error = f"the session kept changing under this decision (other replicas writing); gave up after {MAX_STALE} tries"
    return run, settle(p, graph, h, c, stage, step_tool, labels), labels


def settle(p: CompiledPolicy, graph: Any, h: History, c: _Combined, stage: str, tool: str | None,
           labels: frozenset[str]) -> _Combined | None:
    """Write the step and take the limits' slots; a limit found full at this
    point (another replica took the last slot) turns the decision into its
    rule's deny (or escalation); a store that fails fails the decision closed
    unless the policy fails open. None: the session changed since an
    optimistic read, nothing was written, decide again."""
    result = h.commit(stage, tool, c.outcome.value, labels, p.records)
    if result is None:
        return None
    full, error = result
    if full:
        limit = next(lim for lim in graph.needs.limits if lim.name == full[0])
        rule = next(r for r in graph.rules if r.qid == limit.rule)
        escalate = limit.effect == "escalate"
        viol = Violation(rule=rule.qid, effect="escalate" if escalate else "deny",
                         message=rule.message or f"limit {limit.name} has no slot left", route=rule.route,
                         location=rule.location)
        if escalate:
            return _Combined(Outcome.ESCALATE, [viol, *c.violations], c.errors, rule.route, c.redactions)
        return _Combined(Outcome.DENY, [viol, *(v for v in c.violations if v.effect in ("warn", "label"))],
                         c.errors, None, [])
    if error is None or any(e.code == RuntimeCode.STATE_UNAVAILABLE for e in c.errors):
        return c  # (a rule that read the store reported its failure already)
    errors = [*c.errors, EvalError(rule=None, code=RuntimeCode.STATE_UNAVAILABLE, message=error)]
    if p.settings.fail_closed and c.outcome is not Outcome.DENY:
        viol = Violation(rule=STATE_RULE, effect="deny", message="the session store failed (fail closed)",
                         error=f"{RuntimeCode.STATE_UNAVAILABLE}: {error}")
        return _Combined(Outcome.DENY, [viol], errors, None, [])
    return _Combined(c.outcome, c.violations, errors, c.route, c.redactions)


__all__ = ["DEFAULT_DENY_RULE", "Coverage", "Runtime", "evaluate_text", "evaluate_retrieval", "combine", "decide", "kept_labels",
           "combine_picked", "combine_plain", "memo_entry", "plain_entry", "open_state", "run_compiled", "settle", "TIER_PII"]
