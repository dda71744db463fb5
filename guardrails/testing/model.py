"""The parsed form of a test file: cases, their expectations, their `with:` fixtures and inline policies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from guardrails.diagnostics import Diagnostic, Span

OUTCOMES = ("allow", "redact", "deny", "escalate")
STATIC = "static"  # the stage of a case that checks or formats its policy instead of running a request
SEQUENCE = "steps"  # the stage of a case made of steps: one session's requests, in order
#: Where a case's clock starts (unix seconds): a step's `at` counts from here,
#: so windows and limits are tested on a fixed timeline, without sleeping.
BASE_TIME = 1_700_000_000.0


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


@dataclass(frozen=True, slots=True)
class FixedFinding:
    """One finding in a ``with:`` fixture; ``match`` or ``start``/``end``."""

    entity: str | None
    start: int | None
    end: int | None
    match: str | None
    score: float
    span: Span


@dataclass(frozen=True, slots=True)
class Fixed:
    """One detector result fixed by a case's ``with:``."""

    detector: str  # pii | secrets | topic | terms | pattern
    name: str | None  # the topic, term list or pattern; None for pii and secrets
    score: float | None  # topics only
    findings: tuple[FixedFinding, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class ChunkExpect:
    outcome: str | None  # None: any outcome but deny (the chunk is forwarded)
    text: Any  # the forwarded text, None when dropped, UNSET to not check


@dataclass(frozen=True, slots=True)
class Expect:
    outcome: str
    rules: tuple[str, ...] | None = None
    messages: tuple[str, ...] | None = None
    route: Any = UNSET
    text: Any = UNSET  # forwarded text (input, output), args (tool_call) or result (tool_result)
    chunks: tuple[ChunkExpect, ...] | None = None
    errors: tuple[str, ...] | None = None
    rule_spans: tuple[Span, ...] = ()
    route_span: Span | None = None
    labels: tuple[str, ...] | None = None  # the labels the decision attached, in any order
    label_spans: tuple[Span, ...] = ()


@dataclass(frozen=True, slots=True)
class StaticExpect:
    """What a static case expects of its inline policy: the checker's errors
    and warnings, and the formatter's output. ``None``: not checked."""

    errors: tuple[tuple[str, int, int], ...] | None = None  # every error, as (code, line, col)
    warnings: tuple[str, ...] = ()  # warning codes that must be among the diagnostics
    message: str | None = None  # text the rendered diagnostics contain
    formatted: str | None = None  # what `guardrails fmt` makes of the source

    @property
    def checks(self) -> bool:
        return self.errors is not None or bool(self.warnings) or self.message is not None


@dataclass(frozen=True, slots=True)
class Inline:
    """A policy written in the test file, with the modules it may import."""

    source: str
    modules: tuple[tuple[str, str], ...]  # (name, source)
    span: Span


@dataclass(frozen=True, slots=True)
class Step:
    """One request of a step case. It has a single case's ``stage``,
    ``request``, ``expect`` and ``fixed``, so the same binding and comparison
    serve both; its request already holds the session, the principal and
    context defaults, and ``at`` as unix seconds."""

    index: int  # from 0, as in steps[i]
    stage: str  # one of STAGES
    request: dict
    expect: Expect
    fixed: tuple[Fixed, ...] = ()
    offset: float = 0.0  # seconds since the case started
    span: Span | None = None

    @property
    def line(self) -> int:
        return self.span.line if self.span else 0


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    stage: str  # one of STAGES, STATIC, or SEQUENCE (then `steps` holds the requests)
    request: dict  # the JSON shape `Engine.check` takes; {} for a static or step case
    expect: Expect | StaticExpect | None  # None for a step case: each step has its own
    fixed: tuple[Fixed, ...] = ()
    todo: str | None = None
    span: Span | None = None
    inline: Inline | None = None  # its own policy, or the file's `source`; None: the file's `policy`
    steps: tuple[Step, ...] = ()

    @property
    def line(self) -> int:
        return self.span.line if self.span else 0

    @property
    def requests(self) -> tuple[tuple[str, dict], ...]:
        """Every (stage, request) the case sends, in order: one, or one per step."""
        if self.stage == SEQUENCE:
            return tuple((s.stage, s.request) for s in self.steps)
        return () if self.stage == STATIC else ((self.stage, self.request),)


@dataclass(frozen=True, slots=True)
class PolicyTests:
    """A parsed test file. ``diagnostics`` holds its errors; cases are
    runnable only when there are none."""

    path: str
    text: str
    policy: str | None
    version: str | None
    cases: tuple[Case, ...]
    diagnostics: tuple[Diagnostic, ...]
    policy_span: Span | None = None
    version_span: Span | None = None
    inline: Inline | None = None  # the file's `source:`, when it has one

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)
