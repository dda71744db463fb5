"""The language's builtin functions, defined once.

Each :class:`Function` holds a builtin's signature beside its body: the
arguments and options it takes, its return type and cost tier, a line of
documentation, an optional extra static check, and the compile function that
turns a call into a closure over the evaluation context. The checker
(:mod:`guardrails.checker`), the compiler (:mod:`guardrails.conditions`) and
the function table in ``docs/language.md`` (:func:`markdown_table`) all read
:data:`FUNCTIONS`; nothing else lists the builtins.

The registry is read at load time only: a compiled call is the closure its
compile function returned, so evaluating a request looks nothing up here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from guardrails import ast
from guardrails.detectors import SECRET_KINDS
from guardrails.detectors.injection import LEVELS as INJECTION_LEVELS
from guardrails.diagnostics import RuntimeCode, Span
from guardrails.functions_grounding import REASONS as GROUNDING_REASONS
from guardrails.functions_grounding import (
    check_output_stage,
    check_ungrounded,
    compile_grounded,
    compile_grounding,
    compile_ungrounded,
)
from guardrails.resolve import suggest
from guardrails.rulegraph import (
    DEFAULT_MIN_SCORE,
    TIER_CHEAP,
    TIER_PII,
    TIER_PLAIN,
    Ctx,
    DetectorNode,
    RuleError,
)
from guardrails.unparse import format_expr
from guardrails.values import WINDOW_PROBLEM, is_number, kind_of, parse_window

#: The kind of an argument that must be a bare name (a definition, an entity
#: type, a secret kind), never an expression.
NAME = "name"

#: How the docs name each cost tier.
TIER_NAMES = {TIER_PLAIN: "plain", TIER_CHEAP: "cheap detector", TIER_PII: "presidio"}

Closure = Callable[[Ctx], Any]


class CallChecker(Protocol):
    """What an extra check may ask of the checker (:class:`checker.FileChecker`)."""

    def err(self, code: str, msg: str, span: Span, hint: str | None = None) -> None: ...

    def lookup(self, name: str, kind: type, what: str, span: Span) -> ast.Definition | None: ...

    def check_entity_ref(self, name: str, span: Span) -> None: ...

    def infer(self, e: ast.Expr) -> str: ...


class CallCompiler(Protocol):
    """What a compile function may ask of the stage's compiler (:class:`conditions.ConditionCompiler`)."""

    pii_default: frozenset[str]
    pii_entities: set[str]

    def expr(self, e: ast.Expr) -> Closure: ...

    def entity_set(self, names: tuple[str, ...]) -> frozenset[str]: ...

    def pii_node(self) -> DetectorNode: ...

    def topic_node(self, name: str) -> DetectorNode: ...

    def secrets_node(self, kinds: tuple[str, ...]) -> DetectorNode: ...

    def terms_node(self, name: str) -> DetectorNode: ...

    def injection_node(self) -> DetectorNode: ...

    def uses_history(self) -> None: ...

    def uses_limit(self, d: ast.LimitDef) -> None: ...

    def node(self, node: DetectorNode) -> DetectorNode: ...


@dataclass(frozen=True, slots=True)
class Arg:
    """A positional argument: the kinds it accepts, or ``(NAME,)``."""

    label: str  # its placeholder in the docs
    kinds: tuple[str, ...]
    what: str = "argument"  # how an arity error names it
    variadic: bool = False  # zero or more of them


@dataclass(frozen=True, slots=True)
class Option:
    """A keyword argument: a number within `bounds`, `default` when absent;
    or, with ``window=True``, a time window (``within="10m"``, no default:
    the whole session)."""

    name: str
    default: float
    bounds: tuple[float, float]
    label: str = "N"
    window: bool = False

    def accepts(self, value: object) -> bool:
        if self.window:
            return parse_window(value) is not None
        return is_number(value) and self.bounds[0] <= value <= self.bounds[1]

    @property
    def code(self) -> str:
        return "E204" if self.window else "E302"

    @property
    def problem(self) -> str:
        if self.window:
            return f"{self.name}: {WINDOW_PROBLEM}"
        return f"{self.name} is a number between {self.bounds[0]:g} and {self.bounds[1]:g}"

    @property
    def shown_default(self) -> str:
        return "the whole session" if self.window else f"{self.default:g}"


@dataclass(frozen=True, slots=True)
class Function:
    """One builtin: its signature, its checks and its compile function."""

    name: str
    args: tuple[Arg, ...]
    returns: str
    tier: int
    doc: str
    compile: Callable[[CallCompiler, ast.Call], Closure]
    check: Callable[[CallChecker, ast.Call], None] | None = None  # after the declared checks pass
    options: tuple[Option, ...] = ()
    bounds: tuple[float, float] | None = None  # the range of a number result

    @property
    def takes_names(self) -> bool:
        return any(NAME in a.kinds for a in self.args)

    @property
    def variadic(self) -> bool:
        return any(a.variadic for a in self.args)

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)

    def arity_problem(self, count: int) -> str | None:
        """The E302 message when `count` arguments do not fit, else None."""
        if self.variadic or count == len(self.args):
            return None
        n = len(self.args)
        what = self.args[0].what if n == 1 else "arguments"
        return f"{self.name}() takes exactly {_WORDS.get(n, str(n))} {what}"

    def signature(self) -> str:
        """How the docs write a call, e.g. ```pii()` / `pii(GROUP-or-TYPE, ..., min_score=N)```."""
        parts = [a.label + (", ..." if a.variadic else "") for a in self.args]
        parts += [f"{o.name}={o.label}" for o in self.options]
        full = f"`{self.name}({', '.join(parts)})`"
        return f"`{self.name}()` / {full}" if self.variadic else full


_WORDS = {0: "no", 1: "one", 2: "two", 3: "three"}


def _where(e: ast.Expr) -> str:
    return format_expr(e)


# ---- pii ---------------------------------------------------------------------

_MIN_SCORE = Option("min_score", DEFAULT_MIN_SCORE, (0.0, 1.0))


def _check_pii(fc: CallChecker, e: ast.Call) -> None:
    for a in e.args:
        fc.check_entity_ref(a.name, a.span)


def _compile_pii(cc: CallCompiler, e: ast.Call) -> Closure:
    names = tuple(a.name for a in e.args)
    entities = cc.entity_set(names) if names else cc.pii_default
    cc.pii_entities.update(entities)
    min_score = next((float(k.value.value) for k in e.kwargs if k.name == "min_score"), _MIN_SCORE.default)
    node = cc.pii_node()

    def pii(c: Ctx):
        hits = [f for f in c.detect(node) if f.entity in entities and f.score >= min_score]
        c.evidence.extend(hits)
        return bool(hits)

    return pii


# ---- topic -------------------------------------------------------------------


def _check_topic(fc: CallChecker, e: ast.Call) -> None:
    fc.lookup(e.args[0].name, ast.TopicDef, "topic", e.args[0].span)


def _compile_topic(cc: CallCompiler, e: ast.Call) -> Closure:
    node = cc.topic_node(e.args[0].name)

    def topic(c: Ctx):
        result = c.detect(node)
        c.evidence.extend(result.findings)
        return result.score

    return topic


# ---- secrets -----------------------------------------------------------------


def _check_secrets(fc: CallChecker, e: ast.Call) -> None:
    for n in e.args:
        if n.name not in SECRET_KINDS:
            fc.err("E102", f"unknown secret kind {n.name!r}", n.span,
                   hint=suggest(n.name, sorted(SECRET_KINDS), "secret kinds"))


def _compile_secrets(cc: CallCompiler, e: ast.Call) -> Closure:
    node = cc.secrets_node(tuple(a.name for a in e.args))

    def secrets(c: Ctx):
        hits = c.detect(node)
        c.evidence.extend(hits)
        return bool(hits)

    return secrets


# ---- banned ------------------------------------------------------------------


def _check_banned(fc: CallChecker, e: ast.Call) -> None:
    fc.lookup(e.args[0].name, ast.TermsDef, "terms list", e.args[0].span)


def _compile_banned(cc: CallCompiler, e: ast.Call) -> Closure:
    node = cc.terms_node(e.args[0].name)

    def banned(c: Ctx):
        hits = c.detect(node)
        c.evidence.extend(hits)
        return bool(hits)

    return banned


# ---- injection, injected ------------------------------------------------------


def _compile_injection(cc: CallCompiler, e: ast.Call) -> Closure:
    node = cc.injection_node()

    def injection(c: Ctx):
        result = c.detect(node)
        c.evidence.extend(result.findings)
        return result.score

    return injection


def _check_injected(fc: CallChecker, e: ast.Call) -> None:
    level = e.args[0]
    if level.name not in INJECTION_LEVELS:
        fc.err("E102", f"unknown injection level {level.name!r}", level.span,
               hint=suggest(level.name, list(INJECTION_LEVELS), "injection levels"))


def _compile_injected(cc: CallCompiler, e: ast.Call) -> Closure:
    node = cc.injection_node()
    threshold = INJECTION_LEVELS[e.args[0].name]

    def injected(c: Ctx):
        result = c.detect(node)
        if result.score >= threshold:
            c.evidence.extend(result.findings)
            return True
        return False

    return injected


# ---- length, lower, upper ----------------------------------------------------


def _compile_length(cc: CallCompiler, e: ast.Call) -> Closure:
    arg, where = cc.expr(e.args[0]), _where(e.args[0])

    def length(c: Ctx):
        v = arg(c)
        if isinstance(v, (str, list, tuple, dict)):
            return len(v)
        raise RuleError(RuntimeCode.TYPE_ERROR, f"length() of {where}, a {kind_of(v)}")

    return length


def _case_compiler(fn: Callable[[str], str]) -> Callable[[CallCompiler, ast.Call], Closure]:
    def compile_case(cc: CallCompiler, e: ast.Call) -> Closure:
        arg, where = cc.expr(e.args[0]), _where(e.args[0])

        def case(c: Ctx):
            v = arg(c)
            if isinstance(v, str):
                return fn(v)
            raise RuleError(RuntimeCode.TYPE_ERROR, f"{e.func}() of {where}, a {kind_of(v)}")

        return case

    return compile_case


# ---- sessions: labelled, calls, occurred_since, repeats, flows_from, over ------
# Each asks the decision's History (guardrails.history), opened before the
# rules run; a request without a session makes them fail (no-session).

_WITHIN = Option("within", math.inf, (0.0, math.inf), label='"10m"', window=True)
#: grounding(), grounded(): 1 adds the content check to the hard evidence (docs/grounding.md).
_STRICT = Option("strict", 0.0, (0.0, 1.0))


def _within(e: ast.Call) -> float | None:
    return next((parse_window(k.value.value) for k in e.kwargs if k.name == "within"), None)


def _check_label(fc: CallChecker, e: ast.Call) -> None:
    a = e.args[0]
    if isinstance(a, ast.Var):
        fc.lookup(a.name, ast.LabelDef, "label", a.span)


def _compile_labelled(cc: CallCompiler, e: ast.Call) -> Closure:
    label, within = e.args[0].name, _within(e)
    cc.uses_history()
    return lambda c: c.state.labelled(label, within)


def _check_calls(fc: CallChecker, e: ast.Call) -> None:
    for a in e.args:
        if not isinstance(a, ast.Literal):
            fc.err("E302", "calls() takes tool names written as strings", a.span)


def _compile_calls(cc: CallCompiler, e: ast.Call) -> Closure:
    tools = frozenset(a.value for a in e.args)
    within = _within(e)
    cc.uses_history()
    if not tools:
        return lambda c: c.state.calls(None, within)
    if len(tools) == 1:
        (tool,) = tools
        return lambda c: c.state.calls(tool, within)
    return lambda c: sum(c.state.calls(t, within) for t in tools)


def _check_occurred_since(fc: CallChecker, e: ast.Call) -> None:
    _check_label(fc, e)
    if not isinstance(e.args[1], ast.Literal):
        fc.err("E302", "occurred_since() takes the tool's name written as a string", e.args[1].span)


def _compile_occurred_since(cc: CallCompiler, e: ast.Call) -> Closure:
    what, tool = e.args[0], e.args[1].value
    is_label = isinstance(what, ast.Var)
    name = what.name if is_label else what.value
    cc.uses_history()
    return lambda c: c.state.occurred_since(name, is_label, tool)


def _compile_repeats(cc: CallCompiler, e: ast.Call) -> Closure:
    cc.uses_history()
    return lambda c: c.state.repeats()


def _compile_flows_from(cc: CallCompiler, e: ast.Call) -> Closure:
    label = e.args[0].name
    cc.uses_history()
    return lambda c: c.state.flows_from(label)


def _check_over(fc: CallChecker, e: ast.Call) -> None:
    d = fc.lookup(e.args[0].name, ast.LimitDef, "limit", e.args[0].span)
    if isinstance(d, ast.LimitDef):
        for k in d.keys:  # the `by` values are read in the stage that asks
            fc.infer(k)


def _compile_over(cc: CallCompiler, e: ast.Call) -> Closure:
    d = cc.definition(e.args[0].name)
    assert isinstance(d, ast.LimitDef)
    cc.uses_limit(d)
    name = d.name
    return lambda c: c.state.over(name)


_LABEL = Arg("LABEL", (NAME,), "label")


# ---- the table -----------------------------------------------------------------

_ENTITY_NAMES = Arg("GROUP-or-TYPE", (NAME,), "entity group or type", variadic=True)
_STRING = Arg("s", ("string",))

#: Every builtin, by name, in the order the docs list them.
FUNCTIONS: dict[str, Function] = {f.name: f for f in (
    Function("pii", (_ENTITY_NAMES,), "bool", TIER_PII,
             "the text holds any of these PII entities with a score of at least `N`",
             _compile_pii, _check_pii, options=(_MIN_SCORE,)),
    Function("topic", (Arg("NAME", (NAME,), "topic name"),), "number", TIER_CHEAP,
             "the topic's score for the text",
             _compile_topic, _check_topic, bounds=(0.0, 1.0)),
    Function("secrets", (Arg("kind", (NAME,), "secret kind", variadic=True),), "bool", TIER_CHEAP,
             "the text holds a credential (of these kinds)",
             _compile_secrets, _check_secrets),
    Function("banned", (Arg("NAME", (NAME,), "terms list"),), "bool", TIER_CHEAP,
             "the text holds a term of this `terms` list",
             _compile_banned, _check_banned),
    Function("injection", (), "number", TIER_CHEAP,
             "the text's prompt-injection score: heuristic signals and a small model combined",
             _compile_injection, bounds=(0.0, 1.0)),
    Function("injected", (Arg("LEVEL", (NAME,), "injection level"),), "bool", TIER_CHEAP,
             "`injection()` is at least the level's threshold: "
             + ", ".join(f"`{k}` {v:g}" for k, v in INJECTION_LEVELS.items()),
             _compile_injected, _check_injected),
    Function("grounding", (), "number", TIER_CHEAP,
             "the share of the answer's claims its sources support (1 when it makes none); output only; "
             "`strict=1` compares the claims' content words too",
             compile_grounding, check_output_stage, bounds=(0.0, 1.0), options=(_STRICT,)),
    Function("grounded", (), "bool", TIER_CHEAP,
             "`grounding()` is at least `N`: the sources support the answer (docs/grounding.md)",
             compile_grounded, check_output_stage, options=(Option("min_share", 1.0, (0.0, 1.0)), _STRICT)),
    Function("ungrounded", (Arg("REASON", (NAME,), "grounding reason", variadic=True),), "bool", TIER_CHEAP,
             "a claim of the answer is unsupported (for one of these reasons: "
             + ", ".join(f"`{r}`" for r in GROUNDING_REASONS) + "; naming `unsupported` turns the content "
             "check on)",
             compile_ungrounded, check_ungrounded),
    Function("labelled", (_LABEL,), "bool", TIER_PLAIN,
             "an earlier step of this session carries the label (within the window)",
             _compile_labelled, _check_label, options=(_WITHIN,)),
    Function("calls", (Arg('"tool"', ("string",), "tool name", variadic=True),), "number", TIER_PLAIN,
             "earlier calls of these tools (of any tool when none is named) this session made and "
             "the policy let through (within the window)",
             _compile_calls, _check_calls, options=(_WITHIN,), bounds=(0.0, math.inf)),
    Function("occurred_since", (Arg("LABEL-or-\"tool\"", (NAME, "string"), "label or tool"),
                                Arg('"tool"', ("string",), "tool name")), "bool", TIER_PLAIN,
             "a step with the label (or of the named tool, not denied) came after the last call of the "
             "second tool that was let through (or at all, when there was none)",
             _compile_occurred_since, _check_occurred_since),
    Function("repeats", (), "number", TIER_PLAIN,
             "how many tool calls just before this one, in a row, were this same call (tool and args)",
             _compile_repeats, bounds=(0.0, math.inf)),
    Function("flows_from", (_LABEL,), "bool", TIER_PLAIN,
             "this request's text (a tool call: its string args) holds content of an earlier step "
             "with the label, matched on fingerprints (docs/sessions.md)",
             _compile_flows_from, _check_label),
    Function("over", (Arg("LIMIT", (NAME,), "limit name"),), "bool", TIER_PLAIN,
             "the limit has no slot left for this request's key; when it has one, and the request "
             "goes through, the request takes it",
             _compile_over, _check_over),
    Function("length", (Arg("x", ("string", "list", "map")),), "number", TIER_PLAIN,
             "characters of a string, items of a list, keys of a map",
             _compile_length, bounds=(0.0, math.inf)),
    Function("lower", (_STRING,), "string", TIER_PLAIN,
             "the string in lower case",
             _case_compiler(str.lower)),
    Function("upper", (_STRING,), "string", TIER_PLAIN,
             "the string in upper case",
             _case_compiler(str.upper)),
)}


def markdown_table() -> str:
    """The function table of ``docs/language.md``, generated from :data:`FUNCTIONS`."""
    rows = ["| function | returns | cost | meaning |", "| --- | --- | --- | --- |"]
    for f in FUNCTIONS.values():
        returns = f.returns
        if f.bounds is not None and math.isfinite(f.bounds[1]):
            returns += f" {f.bounds[0]:g}..{f.bounds[1]:g}"
        meaning = f.doc + "".join(f" (default {o.shown_default})" for o in f.options)
        rows.append(f"| {f.signature()} | {returns} | {TIER_NAMES[f.tier]} | {meaning} |")
    return "\n".join(rows) + "\n"
