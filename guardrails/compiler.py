"""Compile a checked policy unit into a rule graph.

Everything that can be decided at load time is decided here:

* conditions become nested closures over an evaluation context, so the
  per-request path never looks at the AST;
* detectors become nodes shared by every rule of a stage, each run at most
  once per evaluated text (one analyzer call with the union of entity types);
* rules are sorted into cost tiers (plain conditions, cheap detectors,
  presidio), so expensive detectors are skipped once a deny is certain;
* tool-call rules are indexed by the tool names their conditions require, so
  a decision costs the same however many rules concern other tools.
"""

from __future__ import annotations

import operator
from typing import Any, Callable

from guardrails import ast
from guardrails.logic import merged_settings
from guardrails.detectors import (
    NER_ENTITIES,
    DetectorError,
    Finding,
    SafeRegex,
    SecretScanner,
    TermMatcher,
    TopicScorer,
    normalize,
)
from guardrails.resolve import Unit
from guardrails.rulegraph import (
    DEFAULT_MAX_TEXT,
    DEFAULT_MIN_SCORE,
    DEFAULT_REGEX_TIMEOUT_MS,
    TIER_CHEAP,
    TIER_PII,
    TIER_PLAIN,
    CompiledPolicy,
    Ctx,
    DetectorNode,
    RedactSpec,
    RuleError,
    RuleNode,
    Settings,
    StageGraph,
    as_bool,
)
from guardrails.diagnostics import RuntimeCode
from guardrails.stages import STAGES
from guardrails.values import is_number, kind_of, strict_eq



def _and_unrolled(parts):
    """`a and b (and c)` without a loop; the same values and errors as the loop."""
    (f1, w1), (f2, w2) = parts[0], parts[1]
    if len(parts) == 2:
        def and2(c: Ctx):
            v = f1(c)
            if v is not True:
                if v is False:
                    return False
                as_bool(v, w1)
            v = f2(c)
            return v if v is True or v is False else as_bool(v, w2)

        return and2
    f3, w3 = parts[2]

    def and3(c: Ctx):
        v = f1(c)
        if v is not True:
            if v is False:
                return False
            as_bool(v, w1)
        v = f2(c)
        if v is not True:
            if v is False:
                return False
            as_bool(v, w2)
        v = f3(c)
        return v if v is True or v is False else as_bool(v, w3)

    return and3


class _StageCompiler:
    def __init__(self, unit: Unit, stage: str, settings: Settings, pii_default: frozenset[str],
                 coverage: bool = False):
        self.unit = unit
        self.coverage = coverage
        self._rule_qid = ""
        self._branches: list[str] = []
        self.stage = stage
        self.settings = settings
        self.detectors: dict[str, DetectorNode] = {}
        self.pii_entities: set[str] = set()
        self.pii_final: list[frozenset[str]] = [frozenset()]
        self.pii_default = pii_default
        self.regex_timeout = settings.regex_timeout_ms / 1000.0
        # Per-rule bookkeeping while compiling one rule.
        self._rule_detectors: set[str] = set()

    # -- definitions
    def definition(self, name: str) -> ast.Definition:
        return self.unit.scope[name].node

    def entity_set(self, names: tuple[str, ...]) -> frozenset[str]:
        out: set[str] = set()
        for n in names:
            d = self.unit.scope.get(n)
            if d is not None and isinstance(d.node, ast.EntitiesDef):
                out.update(x.value for x in d.node.entities)
            else:
                out.add(n)
        return frozenset(out)

    # -- detector nodes
    def node(self, node: DetectorNode) -> DetectorNode:
        existing = self.detectors.setdefault(node.id, node)
        self._rule_detectors.add(existing.id)
        return existing

    def norm_node(self) -> DetectorNode:
        return self.node(DetectorNode("normalize", TIER_CHEAP, lambda c: normalize(c.text)))

    def pii_node(self) -> DetectorNode:
        # One node per stage. The entity union is known only once every rule
        # is compiled, so the node reads the final set from `self.pii_final`,
        # filled in by compile_unit. The runtime caches analyzer results.
        holder = self.pii_final
        self.node(DetectorNode("pii", TIER_PII, lambda c: c.rt.pii(c.text, holder[0])))
        return self.detectors["pii"]

    def topic_node(self, name: str) -> DetectorNode:
        d = self.definition(name)
        assert isinstance(d, ast.TopicDef)
        scorer = TopicScorer(name, [(t.text, t.weight) for t in d.terms])
        norm = self.norm_node()

        def run(c: Ctx):
            result = scorer.score(c.text, c.detect(norm))
            clf = c.rt.topic_classifier if c.rt is not None else None
            if clf is not None:
                try:
                    semantic = float(clf.score(name, c.text))
                except Exception as exc:  # a plug-in: any failure becomes a detector error
                    raise DetectorError(f"topic classifier failed: {type(exc).__name__}") from None
                if semantic > result.score:
                    return type(result)(semantic, result.findings)
            return result

        return self.node(DetectorNode(f"topic:{name}", TIER_CHEAP, run))

    def terms_node(self, name: str) -> DetectorNode:
        d = self.definition(name)
        assert isinstance(d, ast.TermsDef)
        matcher_terms = [str(t.value) for t in d.terms]
        matcher = TermMatcher(matcher_terms)
        norm = self.norm_node()
        label = name.upper().replace("-", "_")

        def run(c: Ctx) -> list[Finding]:
            return [Finding(f.start, f.end, label, f.score) for f in matcher.find(c.text, c.detect(norm))]

        return self.node(DetectorNode(f"terms:{name}", TIER_CHEAP, run, _fingerprint("terms", label, *matcher_terms)))

    def secrets_node(self, kinds: tuple[str, ...]) -> DetectorNode:
        scanner = SecretScanner(kinds or None)
        key = "secrets" + (":" + ",".join(sorted(kinds)) if kinds else "")
        return self.node(DetectorNode(key, TIER_CHEAP, lambda c: scanner.find(c.text), key))

    def pattern_node(self, name: str) -> DetectorNode:
        d = self.definition(name)
        assert isinstance(d, ast.PatternDef)
        rx = SafeRegex.compile(d.regex.pattern, d.regex.flags, self.regex_timeout)
        label = name.upper().replace("-", "_")

        def run(c: Ctx) -> list[Finding]:
            return [Finding(s, e, label, 1.0) for s, e in rx.finditer_spans(c.text)]

        key = _fingerprint("pattern", label, d.regex.pattern, d.regex.flags, str(self.regex_timeout))
        return self.node(DetectorNode(f"pattern:{name}", TIER_CHEAP, run, key))

    # -- expressions
    def expr(self, e: ast.Expr) -> Callable[[Ctx], Any]:
        f = getattr(self, "e_" + type(e).__name__)(e)
        if self.coverage and _is_branch(e):
            f = self._instrument(f, e)
        return f

    def _instrument(self, f: Callable[[Ctx], Any], e: ast.Expr) -> Callable[[Ctx], Any]:
        """Coverage builds only: record each boolean node's outcomes."""
        key = (self._rule_qid, len(self._branches))
        self._branches.append(source_of(e))

        def counted(c: Ctx):
            v = f(c)
            if c.cov is not None and (v is True or v is False):
                c.cov.add((*key, v))
            return v

        return counted

    def e_Literal(self, e: ast.Literal):
        v = e.value
        return lambda c: v

    def e_ListLit(self, e: ast.ListLit):
        v = tuple(i.value for i in e.items)
        return lambda c: v

    def e_Var(self, e: ast.Var):
        name = e.name
        d = self.unit.scope.get(name)
        if d is not None and isinstance(d.node, (ast.ToolsDef, ast.TermsDef)):
            items = d.node.tools if isinstance(d.node, ast.ToolsDef) else d.node.terms
            v = tuple(i.value for i in items)
            return lambda c: v

        def root(c: Ctx):
            try:
                return c.roots[name]
            except KeyError:
                raise RuleError(RuntimeCode.MISSING_ATTRIBUTE, f"{name!r} is not part of this request") from None

        return root

    def _root_name(self, e: ast.Expr) -> str | None:
        """The name when `e` reads a request root (`args`, `principal`, ...)."""
        if isinstance(e, ast.Var):
            d = self.unit.scope.get(e.name)
            if d is None or not isinstance(d.node, (ast.ToolsDef, ast.TermsDef)):
                return e.name
        return None

    def e_Attr(self, e: ast.Attr):
        obj, name, path = self.expr(e.obj), e.name, source_of(e.obj)
        root = self._root_name(e.obj)
        if root is not None:
            # `principal.role`: the hot path of tool rules, fused (same errors).
            def root_attr(c: Ctx):
                try:
                    o = c.roots[root]
                except KeyError:
                    raise RuleError(RuntimeCode.MISSING_ATTRIBUTE, f"{root!r} is not part of this request") from None
                if type(o) is dict or isinstance(o, dict):
                    try:
                        return o[name]
                    except KeyError:
                        raise RuleError(RuntimeCode.MISSING_ATTRIBUTE, f"{path} has no attribute {name!r}") from None
                raise RuleError(RuntimeCode.TYPE_ERROR, f"{path} is a {kind_of(o)}; it has no attribute {name!r}")

            return root_attr

        def attr(c: Ctx):
            o = obj(c)
            if isinstance(o, dict):
                try:
                    return o[name]
                except KeyError:
                    raise RuleError(RuntimeCode.MISSING_ATTRIBUTE, f"{path} has no attribute {name!r}") from None
            raise RuleError(RuntimeCode.TYPE_ERROR, f"{path} is a {kind_of(o)}; it has no attribute {name!r}")

        return attr

    def e_Index(self, e: ast.Index):
        obj, key, path = self.expr(e.obj), e.key, source_of(e.obj)

        def index(c: Ctx):
            o = obj(c)
            try:
                if isinstance(o, dict) and isinstance(key, str):
                    return o[key]
                if isinstance(o, (list, tuple)) and isinstance(key, int):
                    return o[key]
            except (KeyError, IndexError):
                raise RuleError(RuntimeCode.MISSING_ATTRIBUTE, f"{path} has no element {key!r}") from None
            raise RuleError(RuntimeCode.TYPE_ERROR, f"{path} is a {kind_of(o)}; it cannot be indexed by {key!r}")

        return index

    def e_Has(self, e: ast.Has):
        obj, key = self.expr(e.obj), e.key

        def has(c: Ctx):
            try:
                o = obj(c)
            except RuleError as err:
                if err.code == RuntimeCode.MISSING_ATTRIBUTE:
                    return False
                raise
            return isinstance(o, dict) and key in o

        return has

    def e_Not(self, e: ast.Not):
        f, where = self.expr(e.operand), source_of(e.operand)
        return lambda c: not as_bool(f(c), where)

    def e_And(self, e: ast.And):
        parts = tuple((self.expr(o), source_of(o)) for o in e.operands)
        if len(parts) in (2, 3):
            return _and_unrolled(parts)

        def and_(c: Ctx):
            for f, where in parts:
                if not as_bool(f(c), where):
                    return False
            return True

        return and_

    def e_Or(self, e: ast.Or):
        parts = tuple((self.expr(o), source_of(o)) for o in e.operands)

        def or_(c: Ctx):
            for f, where in parts:
                if as_bool(f(c), where):
                    return True
            return False

        return or_

    def e_Compare(self, e: ast.Compare):
        left, right, op = self.expr(e.left), self.expr(e.right), e.op
        where = source_of(e)
        lit = e.right.value if isinstance(e.right, ast.Literal) else None
        if op in ("==", "!=") and type(lit) is str:
            # strict_eq(a, "s") is exactly this; no closure for the constant.
            if op == "==":
                return lambda c: type(a := left(c)) is str and a == lit
            return lambda c: not (type(a := left(c)) is str and a == lit)
        if op == "==":
            return lambda c: strict_eq(left(c), right(c))
        if op == "!=":
            return lambda c: not strict_eq(left(c), right(c))
        test = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}[op]
        if is_number(lit):
            b = lit

            def ordered_num(c: Ctx):
                a = left(c)
                t = type(a)
                if t is int or t is float or is_number(a):
                    return test(a, b)
                raise RuleError(RuntimeCode.TYPE_ERROR, f"cannot compare a {kind_of(a)} with a {kind_of(b)} in `{where}`")

            return ordered_num

        def ordered(c: Ctx):
            a, b = left(c), right(c)
            if (is_number(a) and is_number(b)) or (isinstance(a, str) and isinstance(b, str)):
                return test(a, b)
            raise RuleError(RuntimeCode.TYPE_ERROR, f"cannot compare a {kind_of(a)} with a {kind_of(b)} in `{where}`")

        return ordered

    def e_In(self, e: ast.In):
        item, negated = self.expr(e.item), e.negated
        constant = None
        if isinstance(e.container, ast.ListLit) or (
            isinstance(e.container, ast.Var) and e.container.name in self.unit.scope
        ):
            values = self.expr(e.container)(None)
            if all(isinstance(v, str) for v in values):
                constant = frozenset(values)
        root = self._root_name(e.item)
        if constant is not None and root is not None:
            # The common case (`tool in refunds`): a set lookup on a request root.
            def root_in_set(c: Ctx):
                try:
                    v = c.roots[root]
                except KeyError:
                    raise RuleError(RuntimeCode.MISSING_ATTRIBUTE, f"{root!r} is not part of this request") from None
                return (isinstance(v, str) and v in constant) != negated

            return root_in_set
        if constant is not None:
            # The common case (`tool in refunds`): a set lookup.
            def in_set(c: Ctx):
                v = item(c)
                return (isinstance(v, str) and v in constant) != negated

            return in_set
        container, where = self.expr(e.container), source_of(e.container)

        def in_(c: Ctx):
            v, box = item(c), container(c)
            if isinstance(box, str):
                if not isinstance(v, str):
                    raise RuleError(RuntimeCode.TYPE_ERROR, f"cannot look for a {kind_of(v)} in the string {where}")
                found = v in box
            elif isinstance(box, dict):
                found = isinstance(v, str) and v in box
            elif isinstance(box, (list, tuple)):
                found = any(strict_eq(v, x) for x in box)
            else:
                raise RuleError(RuntimeCode.TYPE_ERROR, f"{where} is a {kind_of(box)}, not a list, map or string")
            return found != negated

        return in_

    def e_Matches(self, e: ast.Matches):
        subject, where = self.expr(e.subject), source_of(e.subject)
        if e.regex is not None:
            rx = SafeRegex.compile(e.regex.pattern, e.regex.flags, self.regex_timeout)
            label = "PATTERN"
        else:
            d = self.definition(e.pattern)
            rx = SafeRegex.compile(d.regex.pattern, d.regex.flags, self.regex_timeout)
            label = e.pattern.upper().replace("-", "_")
        on_text = isinstance(e.subject, ast.Var) and e.subject.name == "text"
        self._rule_detectors.add(f"regex:{label}")

        def matches(c: Ctx):
            s = subject(c)
            if not isinstance(s, str):
                raise RuleError(RuntimeCode.TYPE_ERROR, f"{where} is a {kind_of(s)}, not a string")
            if on_text:
                spans = rx.finditer_spans(s)
                c.evidence.extend(Finding(a, b, label, 1.0) for a, b in spans)
                return bool(spans)
            return rx.search(s)

        return matches

    def e_StrTest(self, e: ast.StrTest):
        left, right, op, where = self.expr(e.left), self.expr(e.right), e.op, source_of(e)

        def strtest(c: Ctx):
            a, b = left(c), right(c)
            if op == "contains" and isinstance(a, (list, tuple)):
                return any(strict_eq(b, x) for x in a)
            if not isinstance(a, str) or not isinstance(b, str):
                raise RuleError(RuntimeCode.TYPE_ERROR, f"`{where}` needs strings, got a {kind_of(a)} and a {kind_of(b)}")
            if op == "contains":
                return b in a
            return a.startswith(b) if op == "starts_with" else a.endswith(b)

        return strtest

    def e_Call(self, e: ast.Call):
        return getattr(self, "f_" + e.func)(e)

    def f_pii(self, e: ast.Call):
        names = tuple(a.name for a in e.args)
        entities = self.entity_set(names) if names else self.pii_default
        self.pii_entities.update(entities)
        min_score = next((float(k.value.value) for k in e.kwargs if k.name == "min_score"), DEFAULT_MIN_SCORE)
        node = self.pii_node()

        def pii(c: Ctx):
            hits = [f for f in c.detect(node) if f.entity in entities and f.score >= min_score]
            c.evidence.extend(hits)
            return bool(hits)

        return pii

    def f_topic(self, e: ast.Call):
        node = self.topic_node(e.args[0].name)

        def topic(c: Ctx):
            result = c.detect(node)
            c.evidence.extend(result.findings)
            return result.score

        return topic

    def f_secrets(self, e: ast.Call):
        node = self.secrets_node(tuple(a.name for a in e.args))

        def secrets(c: Ctx):
            hits = c.detect(node)
            c.evidence.extend(hits)
            return bool(hits)

        return secrets

    def f_banned(self, e: ast.Call):
        node = self.terms_node(e.args[0].name)

        def banned(c: Ctx):
            hits = c.detect(node)
            c.evidence.extend(hits)
            return bool(hits)

        return banned

    def f_length(self, e: ast.Call):
        arg, where = self.expr(e.args[0]), source_of(e.args[0])

        def length(c: Ctx):
            v = arg(c)
            if isinstance(v, (str, list, tuple, dict)):
                return len(v)
            raise RuleError(RuntimeCode.TYPE_ERROR, f"length() of {where}, a {kind_of(v)}")

        return length

    def _case(self, e: ast.Call, fn: Callable[[str], str]):
        arg, where = self.expr(e.args[0]), source_of(e.args[0])

        def case(c: Ctx):
            v = arg(c)
            if isinstance(v, str):
                return fn(v)
            raise RuleError(RuntimeCode.TYPE_ERROR, f"{e.func}() of {where}, a {kind_of(v)}")

        return case

    def f_lower(self, e: ast.Call):
        return self._case(e, str.lower)

    def f_upper(self, e: ast.Call):
        return self._case(e, str.upper)

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

    # -- rules
    def rule(self, qid: str, r: ast.Rule, origin: str) -> RuleNode:
        self._rule_detectors = set()
        self._rule_qid, self._branches = qid, []
        tools = tools_of(r.condition, self.unit) if self.stage == "tool_call" else None
        condition = r.condition
        if tools is not None and not self.coverage:
            # The tool index runs this rule only for `tools`, so its tool
            # tests are true whenever it runs: leave them out. (Coverage
            # builds keep them, to report their branches.)
            condition = _without_tool_tests(condition, self.unit)
        cond = self.expr(condition) if condition is not None else None
        redact = self.redact_spec(r.effect) if isinstance(r.effect, ast.Redact) else None
        used = tuple(sorted(self._rule_detectors))
        tier = TIER_PLAIN
        for d in used:
            node = self.detectors.get(d)
            tier = max(tier, node.tier if node else TIER_CHEAP)
        eff = r.effect
        return RuleNode(
            qid=qid,
            effect=ast.effect_name(eff),
            message=getattr(eff, "message", None),
            route=eff.route if isinstance(eff, ast.Escalate) else None,
            cond=cond,
            tier=tier,
            detectors=used,
            redact=redact,
            tools=tools,
            origin=origin,
            source=source_of(r.condition) if r.condition is not None else "always",
            branches=tuple(self._branches),
            span=r.span,
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


def _tiered(rules: list[RuleNode]) -> tuple[tuple[RuleNode, ...], ...]:
    ordered = sorted(rules, key=lambda r: (r.tier, r.qid))
    return tuple(tuple(r for r in ordered if r.tier == t) for t in (TIER_PLAIN, TIER_CHEAP, TIER_PII)
                 if any(r.tier == t for r in ordered))


def _is_branch(e: ast.Expr) -> bool:
    """Boolean nodes whose two outcomes coverage tracks."""
    if isinstance(e, (ast.And, ast.Or, ast.Not, ast.Compare, ast.In, ast.Matches, ast.StrTest, ast.Has)):
        return True
    return isinstance(e, ast.Call) and e.func in ("pii", "secrets", "banned")


def compile_unit(unit: Unit, pii_default: frozenset[str] = frozenset(), *,
                 coverage: bool = False) -> CompiledPolicy:
    """Compile a checked unit. `coverage=True` builds an instrumented graph
    (slower) that records which branches of each condition were taken."""
    raw = merged_settings(unit)
    settings = Settings(
        on_error=str(raw.get("on_error", "fail_closed")),
        tool_default=str(raw.get("tool_default", "deny")),
        max_text_length=int(raw.get("max_text_length", DEFAULT_MAX_TEXT)),
        regex_timeout_ms=int(raw.get("regex_timeout_ms", DEFAULT_REGEX_TIMEOUT_MS)),
        log_keep=tuple(raw.get("log_keep", ())),
    )
    stages: dict[str, StageGraph] = {}
    for stage in STAGES:
        sc = _StageCompiler(unit, stage, settings, pii_default, coverage)
        nodes = [sc.rule(r.qid, r.rule, r.origin) for r in unit.rules if r.stage == stage]
        pii_entities = frozenset(sc.pii_entities)
        sc.pii_final[0] = pii_entities
        graph = StageGraph(stage, tuple(sorted(nodes, key=lambda n: n.qid)), _tiered(nodes),
                           dict(sc.detectors), pii_entities)
        if stage == "tool_call":
            wildcard = [n for n in nodes if n.tools is None]
            named: dict[str, list[RuleNode]] = {}
            for n in nodes:
                for t in n.tools or ():
                    named.setdefault(t, []).append(n)
            by_tool = {t: _tiered(rs + wildcard) for t, rs in named.items()}
            graph = StageGraph(stage, graph.rules, graph.tiers, graph.detectors, pii_entities,
                               by_tool, _tiered(wildcard))
        stages[stage] = graph
    return CompiledPolicy(
        unit.policy.name, unit.policy.version, unit.digest(), settings, stages,
        tuple([unit.source.path, *(m.path for m in unit.modules)]),
    )


def tools_of(cond: ast.Expr | None, unit: Unit) -> frozenset[str] | None:
    """The tool names a condition requires, or None when it may match any."""
    if cond is None:
        return None
    if isinstance(cond, ast.Compare) and cond.op == "==":
        for a, b in ((cond.left, cond.right), (cond.right, cond.left)):
            if isinstance(a, ast.Var) and a.name == "tool" and isinstance(b, ast.Literal) and isinstance(b.value, str):
                return frozenset((b.value,))
        return None
    if isinstance(cond, ast.In) and not cond.negated and isinstance(cond.item, ast.Var) and cond.item.name == "tool":
        c = cond.container
        if isinstance(c, ast.ListLit):
            return frozenset(str(i.value) for i in c.items)
        if isinstance(c, ast.Var) and c.name in unit.scope and isinstance(unit.scope[c.name].node, ast.ToolsDef):
            return frozenset(str(i.value) for i in unit.scope[c.name].node.tools)
        return None
    if isinstance(cond, ast.And):
        found = None
        for o in cond.operands:
            s = tools_of(o, unit)
            if s is not None:
                found = s if found is None else found & s
        return found
    if isinstance(cond, ast.Or):
        sets = [tools_of(o, unit) for o in cond.operands]
        if all(s is not None for s in sets):
            return frozenset().union(*sets)
        return None
    return None


def _fingerprint(*parts: str) -> str:
    import hashlib

    return parts[0] + ":" + hashlib.sha1("\0".join(parts).encode()).hexdigest()[:16]


def source_of(e: ast.Expr | None) -> str:
    """Readable source for an expression (used in messages, traces, graphs)."""
    from guardrails.unparse import format_expr

    return format_expr(e) if e is not None else ""


def ner_entities_in(compiled: CompiledPolicy) -> frozenset[str]:
    return frozenset(e for g in compiled.stages.values() for e in g.pii_entities if e in NER_ENTITIES)
