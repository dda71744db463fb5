"""The compiled form of a policy: the rule graph and its evaluation context.

:mod:`guardrails.compiler` builds these values from the AST once;
:mod:`guardrails.evaluate` walks them per request. Nothing here refers to
the syntax tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from guardrails.detectors import Finding
from guardrails.diagnostics import RuntimeCode, Span
from guardrails.values import MAX_CHUNKS, kind_of

# Cost tiers: evaluated in this order; a certain deny stops before the next.
TIER_PLAIN, TIER_CHEAP, TIER_PII = 0, 1, 2

DEFAULT_MAX_TEXT = 1_000_000
# Presidio reports weak guesses too (any 8 digits is a US_BANK_NUMBER at 0.05).
# Below this score a finding neither satisfies pii() nor gets redacted, unless
# the rule lowers it (`pii(..., min_score=0)`, `redact X above 0`).
DEFAULT_MIN_SCORE = 0.3
DEFAULT_REGEX_TIMEOUT_MS = 50


class RuleError(Exception):
    """A rule could not be evaluated on this request (bad data, wrong type)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Settings:
    on_error: str = "fail_closed"
    tool_default: str = "deny"
    max_text_length: int = DEFAULT_MAX_TEXT
    regex_timeout_ms: int = DEFAULT_REGEX_TIMEOUT_MS
    max_chunks: int = MAX_CHUNKS  # chunks one retrieval request may carry
    log_keep: tuple[str, ...] = ()  # request fields the decision log may keep

    @property
    def fail_closed(self) -> bool:
        return self.on_error == "fail_closed"


@dataclass(frozen=True, slots=True)
class DetectorNode:
    """A detector shared by the rules of one stage."""

    id: str  # unique within a stage; the memo key
    tier: int
    run: Callable[["Ctx"], Any]
    cache_key: str | None = None  # key in the engine-wide detector cache; None = memo only


@dataclass(frozen=True, slots=True)
class RedactSpec:
    collect: Callable[["Ctx"], list[Finding]]
    min_score: float
    operator: str
    params: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class RuleNode:
    qid: str
    effect: str
    message: str | None
    route: str | None
    cond: Callable[["Ctx"], Any] | None
    tier: int
    detectors: tuple[str, ...]
    redact: RedactSpec | None
    tools: frozenset[str] | None  # tool_call: the tools it can apply to; None = any
    origin: str
    # The condition's source text, or what prints it when first asked
    # (unparse.LazySource: a load formats no condition that nobody reads).
    source_text: Any
    branches: tuple[str, ...] = ()  # coverage builds: the boolean nodes, in evaluation-index order
    span: Span | None = None  # the rule's source span (file, line, col)
    location: str | None = None  # str(span), "file:line:col": copied into each Violation
    labels: tuple[str, ...] = ()  # a label rule: the labels it attaches

    @property
    def source(self) -> str:
        """The condition's source text ("always" without one), for graphs and traces."""
        return str(self.source_text)


@dataclass(frozen=True, slots=True)
class StageGraph:
    stage: str
    rules: tuple[RuleNode, ...]
    tiers: tuple[tuple[RuleNode, ...], ...]  # all rules, by tier
    detectors: dict[str, DetectorNode]
    pii_entities: frozenset[str]
    by_tool: dict[str, tuple[tuple[RuleNode, ...], ...]] = field(default_factory=dict)
    any_tool: tuple[tuple[RuleNode, ...], ...] = ()  # rules for tools not in the index
    needs: Any = None  # a history.StateNeeds: what the rules ask of the session store
    # The attribute index (guardrails.rule_index.AttrIndex) of `tiers` (for
    # tool_call: of `any_tool`), and of each tool's rules; None: not indexed.
    index: Any = None
    tool_index: dict[str, Any] = field(default_factory=dict)
    # The generated functions of the rule sets above (guardrails.codegen.StageCode),
    # or None: the stage is evaluated by the interpreter only.
    code: Any = None

    def compiled_for(self, tool: str | None = None) -> Callable[["Ctx"], tuple[list, list]] | None:
        """The generated function that decides what :meth:`rules_for` would
        select for this tool (for an indexed set, a rule_index.Picker's dispatch),
        or None when the interpreter must (a tiered rule set, say)."""
        code = self.code
        if code is None:
            return None
        return code.functions.get(tool if tool is not None and tool in self.by_tool else None)

    def tiers_for_tool(self, tool: str) -> tuple[tuple[RuleNode, ...], ...]:
        return self.by_tool.get(tool, self.any_tool)

    def rules_for(self, roots: dict, tool: str | None = None) -> tuple[tuple[RuleNode, ...], ...]:
        """The rules a request can fire, in tiers: through the tool index
        (tool_call) and the attribute index, where the stage has them."""
        if tool is None:
            return self.tiers if self.index is None else self.index.select(roots)
        tiers = self.by_tool.get(tool)
        if tiers is None:
            return self.any_tool if self.index is None else self.index.select(roots)
        ix = self.tool_index.get(tool)
        return tiers if ix is None else ix.select(roots)

    @property
    def needs_pii(self) -> bool:
        return bool(self.pii_entities)


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    name: str
    version: str
    digest: str
    settings: Settings
    stages: dict[str, StageGraph]
    sources: tuple[str, ...]  # file paths that went into it
    # Some rule reads session history: a request that names a session leaves
    # a step in the store at every stage (guardrails.history).
    records: bool = False
    # The declared tools and shapes (guardrails.schema.Schema): a request
    # that does not match them is refused before any rule runs. None: no schema.
    schema: Any = None

    def stage(self, name: str) -> StageGraph:
        return self.stages[name]


class Ctx:
    """Per-evaluation state. Created per text (per chunk for retrieval)."""

    __slots__ = ("text", "roots", "memo", "evidence", "rt", "cov", "state")

    def __init__(self, text: str, roots: dict[str, Any], rt: Any,
                 overrides: dict[str, Any] | None = None, cov: set | None = None):
        self.text = text
        self.roots = roots
        # Fixed detector results (policy tests, like OPA's `with`) pre-seed the memo.
        self.memo: dict[str, Any] = dict(overrides) if overrides else {}
        self.evidence: list[Finding] = []
        self.rt = rt
        self.cov = cov  # coverage sink: {(rule, branch index, bool)}; None outside tests
        self.state: Any = None  # the session's History (guardrails.history), when the stage needs one

    def detect(self, node: DetectorNode) -> Any:
        memo = self.memo
        if node.id in memo:
            return memo[node.id]
        if node.cache_key is not None and self.rt is not None:
            value = self.rt.cache.get_or_compute(node.cache_key, self.text, lambda: node.run(self))
        else:
            value = node.run(self)
        memo[node.id] = value
        return value


# ---- value helpers used by compiled closures -------------------------------


def as_bool(v: Any, where: str) -> bool:
    if v is True or v is False:
        return v
    raise RuleError(RuntimeCode.TYPE_ERROR, f"{where} is a {kind_of(v)}, not true or false")
