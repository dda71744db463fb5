"""Source positions and diagnostics: collected, sorted, rendered with carets.

Every stage of the pipeline (parse, check, compile) reports problems as
:class:`Diagnostic` values in a :class:`Diagnostics` bag instead of raising on
the first one; :class:`PolicyError` carries the whole bag out of the front
door when a policy set cannot be loaded.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Iterable, Iterator


@dataclass(frozen=True, slots=True)
class Span:
    """A region of a policy source. Excluded from AST equality by its owners."""

    file: str
    line: int  # 1-based
    col: int  # 1-based
    end_line: int
    end_col: int  # 1-based, exclusive
    start: int  # 0-based offsets into the source text
    end: int

    @staticmethod
    def point(file: str, text: str, offset: int) -> "Span":
        line = text.count("\n", 0, offset) + 1
        col = offset - (text.rfind("\n", 0, offset) + 1) + 1
        return Span(file, line, col, line, col + 1, offset, offset + 1)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


_SURROGATE = re.compile("[\ud800-\udfff]")

UNKNOWN_SPAN = Span("<unknown>", 1, 1, 1, 1, 0, 0)


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


# One table of every code, so docs and tests can enumerate them.
CODES: dict[str, str] = {
    # syntax
    "E001": "syntax error",
    "E002": "invalid literal",
    "E003": "invalid header (name or version)",
    "E004": "nested too deeply",
    # names
    "E101": "unknown entity type",
    "E102": "unknown name",
    "E103": "unknown import",
    "E104": "duplicate definition",
    "E105": "import cycle",
    "E106": "unknown function",
    "E107": "unknown setting",
    "E108": "unknown attribute",
    "E109": "invalid type",
    "E110": "tool groups include each other",
    "E111": "tool without a schema",
    "E112": "invalid allow-list entry",
    # rules
    "E201": "duplicate rule id",
    "E202": "effect not allowed in this stage",
    "E203": "invalid redaction operator",
    "E204": "invalid time window",
    # types
    "E301": "type mismatch",
    "E302": "wrong arguments",
    "E303": "attribute not available in this stage",
    "E304": "optional attribute read without `has`",
    "E305": "value outside the enum",
    # regex
    "E401": "invalid regular expression",
    # logic
    "E501": "condition can never be true",
    "E502": "rule can never take effect",
    # detectors
    "E601": "entity needs an NER model",
    # io
    "E701": "cannot read policy file",
    "E702": "no policies found",
    "E703": "duplicate policy",
    # bundles (guardrails.bundle)
    "E801": "cannot read bundle archive",
    "E802": "invalid bundle manifest",
    "E803": "bundle file changed",
    "E804": "bundle file missing",
    "E805": "bundle file not in the manifest",
    "E806": "bundle signature does not verify",
    "E807": "policy changed without a version bump",
    # warnings
    "W101": "unused definition",
    "W102": "setting weakened by an import",
    "W201": "rule without a condition",
    "W202": "redundant comparison",
    "W301": "topic weight out of range",
    "W302": "empty list",
    "W303": "term can never match",
    "W304": "label never attached",
    "W305": "case-sensitive comparison with a free string",
}


class RuntimeCode:
    """The codes an evaluation reports in ``Decision.errors[].code``.

    These are not diagnostics: a policy that loads can still meet a request
    it cannot judge. Each one fails closed unless the policy set
    ``on_error: fail_open`` (docs/language.md, "Errors at run time").
    """

    TYPE_ERROR = "type-error"
    MISSING_ATTRIBUTE = "missing-attribute"
    DETECTOR_FAILED = "detector-failed"
    REGEX_TIMEOUT = "regex-timeout"
    NER_UNAVAILABLE = "ner-unavailable"
    UNKNOWN_ENTITY = "unknown-entity"
    INVALID_REQUEST = "invalid-request"
    INPUT_TOO_LARGE = "input-too-large"
    GUARD_UNAVAILABLE = "guard-unavailable"
    NO_SESSION = "no-session"
    STATE_UNAVAILABLE = "state-unavailable"
    SCHEMA_VIOLATION = "schema-violation"


# One table of every runtime code, beside CODES, so docs and tests can enumerate them.
RUNTIME_CODES: dict[str, str] = {
    RuntimeCode.TYPE_ERROR: "a value has the wrong kind for its operator or function",
    RuntimeCode.MISSING_ATTRIBUTE: "the request has no such attribute or element",
    RuntimeCode.DETECTOR_FAILED: "a detector raised while running",
    RuntimeCode.REGEX_TIMEOUT: "a regular expression ran past its time limit",
    RuntimeCode.NER_UNAVAILABLE: "an NER entity was asked for and no NER model is loaded",
    RuntimeCode.UNKNOWN_ENTITY: "Presidio does not know an entity type",
    RuntimeCode.INVALID_REQUEST: "the request is malformed (a field missing or of the wrong kind)",
    RuntimeCode.INPUT_TOO_LARGE: "the request is over the policy's max_input_chars",
    RuntimeCode.GUARD_UNAVAILABLE: "the guard's checker failed (an unreachable sidecar, say)",
    RuntimeCode.NO_SESSION: "a rule reads the session's history and the request named no session",
    RuntimeCode.STATE_UNAVAILABLE: "the session store could not be read or written (Redis unreachable, say)",
    RuntimeCode.SCHEMA_VIOLATION: "the request does not match the policy's schema (an unknown, missing or "
                                  "mistyped argument)",
}


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    message: str
    span: Span
    severity: Severity = Severity.ERROR
    hint: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple:
        return (self.span.file, self.span.start, self.code, self.message)

    def render(self, source: str | None = None) -> str:
        """`path:line:col: error[CODE]: message`, the line, a caret, a hint."""
        head = f"{self.span}: {self.severity.value}[{self.code}]: {self.message}"
        lines = [head]
        if source is not None:
            src_lines = source.split("\n")  # Span lines count "\n" only, unlike str.splitlines()
            if 1 <= self.span.line <= len(src_lines):
                # A lone surrogate (E001) would fail the write to a terminal:
                # U+FFFD takes its one column.
                text = _SURROGATE.sub("\ufffd", src_lines[self.span.line - 1].replace("\t", " "))
                width = 1
                if self.span.end_line == self.span.line:
                    width = max(1, self.span.end_col - self.span.col)
                width = min(width, max(1, len(text) - self.span.col + 1))
                gutter = f"{self.span.line:>4} | "
                lines.append(gutter + text)
                lines.append(" " * (len(gutter) + self.span.col - 1) + "^" * width)
        if self.hint:
            lines.append(f"     = hint: {self.hint}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "file": self.span.file,
            "line": self.span.line,
            "col": self.span.col,
            "end_line": self.span.end_line,
            "end_col": self.span.end_col,
            "hint": self.hint,
        }


@dataclass(slots=True)
class Diagnostics:
    """A bag of diagnostics; sorted and capped when read."""

    items: list[Diagnostic] = field(default_factory=list)
    cap: int = 200

    def error(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.items.append(Diagnostic(code, message, span, Severity.ERROR, hint))

    def warning(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.items.append(Diagnostic(code, message, span, Severity.WARNING, hint))

    def extend(self, other: Iterable[Diagnostic]) -> None:
        self.items.extend(other)

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        unique = {(d.code, d.span, d.message): d for d in self.items}
        return sorted(unique.values(), key=Diagnostic.sort_key)[: self.cap]

    def errors(self) -> list[Diagnostic]:
        return [d for d in self.sorted() if d.is_error]

    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.sorted() if not d.is_error]

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.sorted())

    def __len__(self) -> int:
        return len(self.items)


class GuardrailsError(Exception):
    """Base class of every error this package raises on purpose."""


class PolicyError(GuardrailsError):
    """A policy set failed to load; carries every diagnostic found."""

    def __init__(self, diagnostics: list[Diagnostic], sources: dict[str, str] | None = None):
        self.diagnostics = diagnostics
        self.sources = sources or {}
        errors = [d for d in diagnostics if d.is_error]
        first = errors[0] if errors else (diagnostics[0] if diagnostics else None)
        summary = f"{len(errors)} error(s) in policy set"
        if first is not None:
            summary += f"; first: {first.span}: {first.code}: {first.message}"
        super().__init__(summary)

    def render(self) -> str:
        return render_all(self.diagnostics, self.sources)


def render_all(diagnostics: Iterable[Diagnostic], sources: dict[str, str]) -> str:
    return "\n".join(d.render(sources.get(d.span.file)) for d in diagnostics)


def diagnostics_json(diagnostics: Iterable[Diagnostic]) -> str:
    return json.dumps([d.to_json() for d in diagnostics], indent=2)
