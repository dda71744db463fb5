"""Compile conditions into closures over an evaluation context.

Each expression becomes a nested closure, built once, so the per-request path
never looks at the AST. A function call compiles through its entry in
:data:`guardrails.functions.FUNCTIONS`; the registry is read here, at load
time, and never per request. Coverage builds wrap each boolean node in a
closure that records its outcomes.

Detectors become nodes shared by every rule of a stage. Each node is keyed by
what it computes, so two rules asking for the same thing (one topic, one terms
list) share it and the evaluator runs it at most once per text. The analyzer
node is one per stage: it runs with the union of the entity types every rule
of the stage names.
"""

from __future__ import annotations

import hashlib
import operator
from typing import Any, Callable

from guardrails import ast
from guardrails.checker import pii_options
from guardrails.detectors import (
    DetectorError,
    Finding,
    InjectionDetector,
    SafeRegex,
    SecretScanner,
    TermMatcher,
    TopicScorer,
    normalize,
)
from guardrails.diagnostics import RuntimeCode
from guardrails.functions import FUNCTIONS
from guardrails.resolve import Unit, group_members
from guardrails.rulegraph import (
    TIER_CHEAP,
    TIER_PII,
    Ctx,
    DetectorNode,
    RuleError,
    Settings,
    as_bool,
)
from guardrails.unparse import format_expr, lazy_source
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


class ConditionCompiler:
    """Compiles the conditions of one stage's rules, and owns the stage's detector
    nodes that they read (see :class:`functions.CallCompiler`)."""

    def __init__(self, unit: Unit, settings: Settings, pii_default: frozenset[str], coverage: bool = False):
        self.unit = unit
        self.settings = settings
        self.coverage = coverage
        self.detectors: dict[str, DetectorNode] = {}
        self.pii_entities: set[str] = set()
        self.pii_final: list[frozenset[str]] = [frozenset()]
        self.pii_default = pii_default
        # The digests of the models the stage's detectors load (the policy
        # digest names them, see compiler.compile_unit).
        self.model_digests: set[str] = set()
        self.regex_timeout = settings.regex_timeout_ms / 1000.0
        # The rule being compiled: the ids of the nodes it reads, and (coverage
        # builds) its qualified id and boolean nodes so far. Reset per rule.
        self.rule_detectors: set[str] = set()
        self.rule_qid = ""
        self.branches: list[str] = []
        # Sessions: whether a rule reads the history, and the limits asked
        # about, each with the ids of the rules that ask (compiler.StateNeeds).
        self.history: set[str] = set()  # the rules that read history
        self.limits: dict[str, tuple[ast.LimitDef, set[str]]] = {}
        self._methods: dict[type, Callable[[Any], Callable[[Ctx], Any]]] = {}

    # -- sessions
    def uses_history(self) -> None:
        self.history.add(self.rule_qid)

    def uses_limit(self, d: ast.LimitDef) -> None:
        self.limits.setdefault(d.name, (d, set()))[1].add(self.rule_qid)

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
        self.rule_detectors.add(existing.id)
        return existing

    def norm_node(self) -> DetectorNode:
        return self.node(DetectorNode("normalize", TIER_CHEAP, lambda c: normalize(c.text)))

    def pii_node(self) -> DetectorNode:
        # One node per stage. The entity union is known only once every rule
        # is compiled, so the node reads the final set from `self.pii_final`,
        # filled in by compile_unit. The runtime caches analyzer results.
        holder, options = self.pii_final, pii_options(self.unit, self.regex_timeout)  # allow-lists, pii_mode
        self.node(DetectorNode("pii", TIER_PII, lambda c: c.rt.pii(c.text, holder[0], options)))
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

    def injection_node(self) -> DetectorNode:
        # Loads the model now, at compile time (once per process), so a
        # missing or broken weights file fails the load, not a request.
        if "injection" not in self.detectors:
            detector = InjectionDetector()
            key = f"injection:{detector.digest}"
            self.model_digests.add(key)
            norm = self.norm_node()  # the stage's normalised text, shared with banned() and topic()

            def run(c: Ctx):
                # An engine's opt-in backend (Runtime.injection) replaces the
                # shipped model; the engine folds its digest into the policy's.
                chosen = c.rt.injection if c.rt is not None and c.rt.injection is not None else detector
                return chosen.scan(c.text, c.detect(norm))

            self.detectors["injection"] = DetectorNode("injection", TIER_CHEAP, run, key)
        return self.node(self.detectors["injection"])

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
        if (method := self._methods.get(type(e))) is None:  # each node type's e_ method, looked up once
            method = self._methods[type(e)] = getattr(self, "e_" + type(e).__name__)
        f = method(e)
        if self.coverage and _is_branch(e):
            f = self._instrument(f, e)
        return f

    def _instrument(self, f: Callable[[Ctx], Any], e: ast.Expr) -> Callable[[Ctx], Any]:
        """Coverage builds only: record each boolean node's outcomes."""
        key = (self.rule_qid, len(self.branches))
        self.branches.append(source_of(e))

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
        if d is not None and isinstance(d.node, ast.ToolsDef):
            v = group_members(d.node, self.unit.scope)
            return lambda c: v
        if d is not None and isinstance(d.node, ast.TermsDef):
            v = tuple(i.value for i in d.node.terms)
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

    root_name = _root_name  # public: guardrails.codegen asks it too

    def tool_attributes(self) -> dict[str, dict]:
        """Each declared tool's attributes (``tool.owner``), from the unit's schema."""
        schema = self.unit.schema
        return {t.name: t.attributes for t in schema.tools.values()} if schema is not None else {}

    def e_Attr(self, e: ast.Attr):
        name, path = e.name, lazy_source(e.obj)
        root = self._root_name(e.obj)  # a request root: its closure is never called, so not built
        if root == "tool" and self.tool_attributes():
            table = self.tool_attributes()

            def tool_attr(c: Ctx):
                tool = c.roots.get("tool")
                attrs = table.get(tool) if type(tool) is str else None
                if attrs is None:
                    raise RuleError(RuntimeCode.MISSING_ATTRIBUTE,
                                    f"tool {tool!r} is not declared, so it has no attribute {name!r}")
                try:
                    return attrs[name]
                except KeyError:
                    raise RuleError(RuntimeCode.MISSING_ATTRIBUTE, f"tool {tool!r} has no attribute {name!r}") from None

            return tool_attr
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
        obj = self.expr(e.obj)

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
        obj, key, path = self.expr(e.obj), e.key, lazy_source(e.obj)

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
        if self._root_name(e.obj) == "tool" and self.tool_attributes():
            table, key = self.tool_attributes(), e.key
            return lambda c: key in table.get(c.roots.get("tool"), ())
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
        f, where = self.expr(e.operand), lazy_source(e.operand)
        return lambda c: not as_bool(f(c), where)

    def e_And(self, e: ast.And):
        parts = tuple((self.expr(o), lazy_source(o)) for o in e.operands)
        if len(parts) in (2, 3):
            return _and_unrolled(parts)

        def and_(c: Ctx):
            for f, where in parts:
                if not as_bool(f(c), where):
                    return False
            return True

        return and_

    def e_Or(self, e: ast.Or):
        parts = tuple((self.expr(o), lazy_source(o)) for o in e.operands)

        def or_(c: Ctx):
            for f, where in parts:
                if as_bool(f(c), where):
                    return True
            return False

        return or_

    def e_Compare(self, e: ast.Compare):
        left, op, where = self.expr(e.left), e.op, lazy_source(e)
        lit = e.right.value if isinstance(e.right, ast.Literal) else None
        if op in ("==", "!=") and type(lit) is str:
            # strict_eq(a, "s") is exactly this; no closure for the constant.
            if op == "==":
                return lambda c: type(a := left(c)) is str and a == lit
            return lambda c: not (type(a := left(c)) is str and a == lit)
        right = self.expr(e.right) if not is_number(lit) or op in ("==", "!=") else None  # built where called
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
        if constant is not None:  # a set lookup on any other item
            def in_set(c: Ctx):
                v = item(c)
                return (isinstance(v, str) and v in constant) != negated

            return in_set
        container, where = self.expr(e.container), lazy_source(e.container)

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
        subject, where = self.expr(e.subject), lazy_source(e.subject)
        if e.regex is not None:
            rx = SafeRegex.compile(e.regex.pattern, e.regex.flags, self.regex_timeout)
            label = "PATTERN"
        else:
            d = self.definition(e.pattern)
            rx = SafeRegex.compile(d.regex.pattern, d.regex.flags, self.regex_timeout)
            label = e.pattern.upper().replace("-", "_")
        on_text = isinstance(e.subject, ast.Var) and e.subject.name == "text"
        self.rule_detectors.add(f"regex:{label}")

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
        left, right, op, where = self.expr(e.left), self.expr(e.right), e.op, lazy_source(e)

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
        return FUNCTIONS[e.func].compile(self, e)


def _is_branch(e: ast.Expr) -> bool:
    """Boolean nodes whose two outcomes coverage tracks."""
    return isinstance(e, (ast.And, ast.Or, ast.Not, ast.Compare, ast.In, ast.Matches, ast.StrTest, ast.Has)) or (
        isinstance(e, ast.Call) and FUNCTIONS[e.func].returns == "bool")


def source_of(e: ast.Expr | None) -> str:
    """Readable source for an expression (used in messages, traces, graphs)."""
    return format_expr(e) if e is not None else ""



def _fingerprint(*parts: str) -> str:
    return parts[0] + ":" + hashlib.sha1("\0".join(parts).encode()).hexdigest()[:16]
