"""Compile a checked policy unit into a rule graph.

Everything that can be decided at load time is decided here:

* conditions become nested closures over an evaluation context, so the
  per-request path never looks at the AST (:mod:`guardrails.conditions`);
* detectors become nodes shared by every rule of a stage, each run at most
  once per evaluated text (one analyzer call with the union of entity types);
* rules are sorted into cost tiers (plain conditions, cheap detectors,
  presidio), so expensive detectors are skipped once a deny is certain;
* tool-call rules are indexed by the tool names their conditions require, so
  a decision costs the same however many rules concern other tools; and
  rules whose first test requires a string of a request attribute are
  indexed by it (:mod:`guardrails.rule_index`);
* each rule set of plain rules also becomes one generated Python function
  (:mod:`guardrails.codegen`), and an indexed tool_call set a generated
  dispatch on its indexed attributes (:class:`guardrails.rule_index.Picker`);
  the closures stay the reference.
"""

from __future__ import annotations

import dataclasses
import hashlib

from guardrails import ast
from guardrails.codegen import Generator, ident
from guardrails.conditions import ConditionCompiler
from guardrails.detectors import NER_ENTITIES, Finding
from guardrails.fastparse import frozen_builder
from guardrails.resolve import Unit, merged_settings, tools_of
from guardrails.rulegraph import (
    DEFAULT_MAX_TEXT,
    DEFAULT_MIN_SCORE,
    DEFAULT_REGEX_TIMEOUT_MS,
    TIER_CHEAP,
    TIER_PLAIN,
    CompiledPolicy,
    Ctx,
    RedactSpec,
    RuleNode,
    Settings,
    StageGraph,
)
from guardrails.history import NO_NEEDS, LimitSpec, StateNeeds
from guardrails.rule_index import Guard, Picker, build_index, first_test_guard, tiered
from guardrails.stages import STAGES
from guardrails.unparse import LazySource
from guardrails.values import MAX_CHUNKS, parse_window


#: RuleNode(...) with every field given, in order: a load builds one per rule
#: (10,000 for the largest policy), and the frozen constructor sets each of
#: its 15 fields through object.__setattr__ (see fastparse._draft).
_rule_node = frozen_builder(RuleNode, "qid", "effect", "message", "route", "cond", "tier", "detectors", "redact",
                            "tools", "origin", "source_text", "branches", "span", "location", "labels")


class StageCompiler(ConditionCompiler):
    """Compiles one stage's rules: conditions, redactions, cost tiers, tool index."""

    def __init__(self, unit: Unit, stage: str, settings: Settings, pii_default: frozenset[str],
                 coverage: bool = False):
        super().__init__(unit, settings, pii_default, coverage)
        self.stage = stage
        self.guards: dict[str, Guard] = {}  # rule qid -> its attribute-index filing
        self.conditions: dict[str, ast.Expr | None] = {}  # rule qid -> the condition as evaluated (codegen)

    # -- redact targets
    def redact_spec(self, eff: ast.Redact) -> RedactSpec:
        t = eff.target
        if t.kind == "entities":
            entities = self.entity_set(t.names)
            self.pii_entities.update(entities)
            node = self.pii_node()

            def collect(c: Ctx) -> list[Finding]:
                return [f for f in c.detect(node) if f.entity in entities]

        elif t.kind == "secrets":
            node = self.secrets_node(())
            collect = lambda c: list(c.detect(node))  # noqa: E731
        elif t.kind == "pattern":
            node = self.pattern_node(t.names[0])
            collect = lambda c: list(c.detect(node))  # noqa: E731
        else:
            node = self.terms_node(t.names[0])
            collect = lambda c: list(c.detect(node))  # noqa: E731
        op = eff.operator
        params: tuple[tuple[str, str], ...] = ()
        if op.name == "replace":
            params = (("template", op.args[0].value if op.args else "<{entity}>"),)
        elif op.name == "mask":
            params = (("char", op.args[0].value if op.args else "*"),)
        min_score = eff.min_score if eff.min_score is not None else (
            DEFAULT_MIN_SCORE if t.kind == "entities" else 0.0)
        return RedactSpec(collect, min_score, op.name, params)

    # -- sessions
    def state_needs(self, nodes: list[RuleNode]) -> StateNeeds:
        """What this stage's rules ask of the session store, and (tool_call)
        for which tools: a call of another tool reads nothing it need not."""
        by_qid = {n.qid: n for n in nodes}

        def tools_of_rules(qids) -> frozenset[str] | None:
            tools: set[str] = set()
            for q in qids:
                if by_qid[q].tools is None:
                    return None
                tools |= by_qid[q].tools
            return frozenset(tools)

        limits = []
        for name, (d, askers) in sorted(self.limits.items()):
            first = by_qid[min(askers)]
            keys = tuple(self.expr(k) for k in d.keys)
            limits.append(LimitSpec(name, int(d.max), parse_window(d.window.value) or 0.0, keys,
                                    first.qid, first.effect, tools_of_rules(askers)))
        labels = any(n.labels for n in nodes)
        if not (self.history or limits or labels):
            return NO_NEEDS
        history_tools = tools_of_rules(self.history) if self.history else frozenset()
        return StateNeeds(bool(self.history), tuple(limits), labels, history_tools)

    # -- rules
    def rule(self, qid: str, r: ast.Rule, origin: str) -> RuleNode:
        self.rule_detectors = set()
        self.rule_qid, self.branches = qid, []
        tools = tools_of(r.condition, self.unit) if self.stage == "tool_call" else None
        condition = r.condition
        if tools is not None and not self.coverage:
            # The tool index runs this rule only for `tools`, so its tool
            # tests are true whenever it runs: leave them out. (Coverage
            # builds keep them, to report their branches.)
            condition = _without_tool_tests(condition, self.unit)
        cond = self.expr(condition) if condition is not None else None
        self.conditions[qid] = condition
        if not self.coverage:
            guard = first_test_guard(condition, self.unit.scope)
            if guard is not None:
                self.guards[qid] = guard
        redact = self.redact_spec(r.effect) if isinstance(r.effect, ast.Redact) else None
        used = tuple(sorted(self.rule_detectors))
        tier = TIER_PLAIN
        for d in used:
            node = self.detectors.get(d)
            tier = max(tier, node.tier if node else TIER_CHEAP)
        eff = r.effect
        return _rule_node(
            qid,  # qid
            ast.effect_name(eff),  # effect
            getattr(eff, "message", None),  # message
            eff.route if isinstance(eff, ast.Escalate) else None,  # route
            cond,  # cond
            tier,  # tier
            used,  # detectors
            redact,  # redact
            tools,  # tools
            origin,  # origin
            LazySource(r.condition) if r.condition is not None else "always",  # source_text
            tuple(self.branches),  # branches
            r.span,  # span
            str(r.span) if r.span is not None else None,  # location
            eff.names if isinstance(eff, ast.Label) else (),  # labels
        )


def _without_tool_tests(cond: ast.Expr, unit: Unit) -> ast.Expr | None:
    """`cond` less its top-level conjuncts that only test the tool (None: nothing left).

    Such a conjunct allows every tool the rule is indexed under, because the
    index is the intersection of what those conjuncts allow (see tools_of).
    """
    if _is_tool_test(cond, unit):
        return None
    if not isinstance(cond, ast.And):
        return cond
    kept = tuple(o for o in cond.operands if not _is_tool_test(o, unit))
    if not kept:
        return None
    if len(kept) == 1:
        return kept[0]
    return ast.And(kept, cond.span)


def _is_tool_test(e: ast.Expr, unit: Unit) -> bool:
    """`tool == "x"`, `tool in [..]`, `tool in group`, or an `or` of those."""
    if isinstance(e, ast.Or):
        return all(_is_tool_test(o, unit) for o in e.operands)
    if isinstance(e, (ast.Compare, ast.In)):
        return tools_of(e, unit) is not None
    return False


_tiered = tiered


def compile_unit(unit: Unit, pii_default: frozenset[str] = frozenset(), *,
                 coverage: bool = False, codegen: bool = True) -> CompiledPolicy:
    """Compile a checked unit. `coverage=True` builds an instrumented graph
    (slower) that records which branches of each condition were taken.
    `codegen=False` leaves out the generated functions (guardrails.codegen),
    so every decision is the interpreter's."""
    raw = merged_settings(unit)
    settings = Settings(
        on_error=str(raw.get("on_error", "fail_closed")),
        tool_default=str(raw.get("tool_default", "deny")),
        max_text_length=int(raw.get("max_text_length", DEFAULT_MAX_TEXT)),
        regex_timeout_ms=int(raw.get("regex_timeout_ms", DEFAULT_REGEX_TIMEOUT_MS)),
        max_chunks=int(raw.get("max_chunks", MAX_CHUNKS)),
        log_keep=tuple(raw.get("log_keep", ())),
    )
    stages: dict[str, StageGraph] = {}
    models: set[str] = set()
    records = False
    for stage in STAGES:
        sc = StageCompiler(unit, stage, settings, pii_default, coverage)
        nodes = [sc.rule(r.qid, r.rule, r.origin) for r in unit.rules if r.stage == stage]
        models |= sc.model_digests
        pii_entities = frozenset(sc.pii_entities)
        sc.pii_final[0] = pii_entities
        needs = sc.state_needs(nodes)
        records = records or needs.history
        # tool_call indexes its rule sets below, not this whole set: no index for it here.
        index = build_index(nodes, sc.guards) if stage != "tool_call" else None
        graph = StageGraph(stage, tuple(sorted(nodes, key=lambda n: n.qid)), _tiered(nodes),
                           dict(sc.detectors), pii_entities, needs=needs, index=index)
        if stage == "tool_call":
            wildcard = [n for n in nodes if n.tools is None]
            named: dict[str, list[RuleNode]] = {}
            for n in nodes:
                for t in n.tools or ():
                    named.setdefault(t, []).append(n)
            by_tool = {t: _tiered(rs + wildcard) for t, rs in named.items()}
            tool_index = {t: ix for t, rs in named.items() if (ix := build_index(rs + wildcard, sc.guards))}
            any_tool = graph.tiers if len(wildcard) == len(nodes) else _tiered(wildcard)  # no rule names a tool
            graph = StageGraph(stage, graph.rules, graph.tiers, graph.detectors, pii_entities,
                               by_tool, any_tool, needs, build_index(wildcard, sc.guards), tool_index)
        if codegen and not coverage:
            gen = Generator(sc, sc.conditions)
            pickers = {key: Picker(gen, f"pick_{stage}" + ("" if key is None else "__" + ident(key)), index, key)
                       for key, (tiers, index) in _indexed_sets(graph).items() if gen.compilable(tiers)}
            graph = dataclasses.replace(graph, code=gen.stage(
                graph, _rule_sets(graph), f"policy {unit.policy.name} {unit.policy.version}, stage {stage}",
                pickers))
        stages[stage] = graph
    return CompiledPolicy(
        unit.policy.name, unit.policy.version, policy_digest(unit, models), settings, stages,
        tuple([unit.source.path, *(m.path for m in unit.modules)]), records,
        unit.schema if unit.schema is not None and not unit.schema.empty else None,
    )


def _rule_sets(graph: StageGraph) -> dict:
    """The rule sets a decision of this stage can run, by tool (None: any other
    tool, or the stage's only set), less those an attribute index selects from."""
    sets: dict = {t: tiers for t, tiers in graph.by_tool.items() if t not in graph.tool_index}
    if graph.index is None:
        sets[None] = graph.any_tool if graph.stage == "tool_call" else graph.tiers
    return sets


def _indexed_sets(graph: StageGraph) -> dict:
    """The rule sets an attribute index selects from, by tool (None: any other
    tool), with their index: each can be a generated dispatch (codegen.Picker).
    None when a rule reads the session (its closures need the request's History)."""
    if graph.stage != "tool_call" or graph.needs.history or graph.needs.limits:
        return {}
    sets: dict = {t: (graph.by_tool[t], ix) for t, ix in graph.tool_index.items()}
    if graph.index is not None:
        sets[None] = (graph.any_tool, graph.index)
    return sets


def policy_digest(unit: Unit, models: set[str]) -> str:
    """The unit's source digest, and the digest of every model its detectors
    load (``injection:<sha256 of the weights>``): a decision names the model
    that scored it, and new weights make a new policy digest. A policy that
    loads no model keeps its source digest."""
    if not models:
        return unit.digest()
    h = hashlib.sha256(unit.digest().encode())
    for m in sorted(models):
        h.update(b"\0" + m.encode())
    return h.hexdigest()


def uses_injection(policy: CompiledPolicy) -> bool:
    """Whether any rule of the policy evaluates ``injection()``."""
    return any("injection" in g.detectors for g in policy.stages.values())


def with_injection_backend(policy: CompiledPolicy, label: str) -> CompiledPolicy:
    """The policy as an engine with an opt-in injection backend serves it:
    its digest also names the backend (``injection-backend:<label>``, see
    :func:`~guardrails.detectors.injection.backends.backend_label`), so a
    decision names the model that scored it. A policy without ``injection()``
    is returned unchanged."""
    if not uses_injection(policy):
        return policy
    h = hashlib.sha256(policy.digest.encode())
    h.update(b"\0injection-backend:" + label.encode())
    return dataclasses.replace(policy, digest=h.hexdigest())


def ner_entities_in(compiled: CompiledPolicy) -> frozenset[str]:
    return frozenset(e for g in compiled.stages.values() for e in g.pii_entities if e in NER_ENTITIES)
