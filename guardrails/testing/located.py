"""The located YAML tree: parsed values that keep the line and column they were
written at, and typed reads of them that report located errors."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import yaml

from guardrails.diagnostics import Diagnostics, Span
from guardrails.values import kind_of


@dataclass(frozen=True, slots=True, eq=False)
class Node:
    """A YAML value and where it was written. Mappings hold ``{str: Node}``,
    sequences ``[Node]``; scalars hold the value YAML gives them."""

    value: Any
    span: Span
    key_span: Span | None = None  # the key it is the value of

    @property
    def where(self) -> Span:
        return self.key_span or self.span


def _span(start: Any, end: Any, path: str) -> Span:
    end_col = end.column + 1 if end.line == start.line else start.column + 2
    return Span(path, start.line + 1, start.column + 1, end.line + 1, max(end_col, start.column + 2),
                start.index, end.index)


def compose(text: str, path: str, diags: Diagnostics) -> Node | None:
    """Parse YAML keeping every value's line and column (yaml.compose)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.context_mark is not None and exc.problem:
            cm = exc.context_mark
            what += f" ({exc.context} at line {cm.line + 1}, column {cm.column + 1})"
        span = _span(mark, mark, path) if mark is not None else Span(path, 1, 1, 1, 2, 0, 1)
        diags.error("T001", f"invalid YAML: {what}", span)
        return None
    except yaml.YAMLError as exc:
        diags.error("T001", f"invalid YAML: {exc}", Span(path, 1, 1, 1, 2, 0, 1))
        return None
    except RecursionError:  # PyYAML's composer recurses once per nesting level
        diags.error("T001", "invalid YAML: nested too deeply (a test file needs a few levels, not hundreds)",
                    Span(path, 1, 1, 1, 2, 0, 1))
        return None
    if root is None:
        return None
    return _Converter(path, diags).convert(root, None, 0)


class _Converter:
    MAX_NODES = 1_000_000  # aliases can multiply a small file ("billion laughs")

    def __init__(self, path: str, diags: Diagnostics):
        self.path, self.diags = path, diags
        self.ctor = yaml.SafeLoader("")  # YAML's own scalar rules (int, float, bool, null, dates)
        self.count = 0

    def scalar(self, node: Any, span: Span) -> Any:
        try:
            return self.ctor.construct_object(node, deep=True)
        except Exception as exc:  # PyYAML's constructors raise many types (`!!int abc`, `!!timestamp x`)
            what = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.diags.error("T001", f"invalid YAML value: {what}", span)
            return None

    def convert(self, node: Any, key_span: Span | None, depth: int) -> Node:
        span = _span(node.start_mark, node.end_mark, self.path)
        self.count += 1
        if depth > 64 or self.count > self.MAX_NODES:
            if self.count <= self.MAX_NODES + 1:
                self.diags.error("T104", "the document nests too deeply or is too large (check its aliases)", span)
            return Node(None, span, key_span)
        if isinstance(node, yaml.MappingNode):
            try:
                self.ctor.flatten_mapping(node)  # resolves `<<` merge keys
            except yaml.YAMLError as exc:
                self.diags.error("T001", f"invalid YAML: {getattr(exc, 'problem', None) or exc}", span)
                return Node(None, span, key_span)
            out: dict[str, Node] = {}
            for k, v in node.value:
                kspan = _span(k.start_mark, k.end_mark, self.path)
                key = self.scalar(k, kspan) if isinstance(k, yaml.ScalarNode) else None
                if not isinstance(key, str):
                    # YAML 1.1 reads `on:`, `yes:`, `1:` as non-strings.
                    self.diags.error("T103", f"keys must be strings; quote {k.value!r} if it is meant as one"
                                     if isinstance(k, yaml.ScalarNode) else "keys must be strings", kspan)
                    continue
                if key in out:
                    self.diags.error("T104", f"duplicate key {key!r}", kspan)
                    continue
                out[key] = self.convert(v, kspan, depth + 1)
            return Node(out, span, key_span)
        if isinstance(node, yaml.SequenceNode):
            return Node([self.convert(v, None, depth + 1) for v in node.value], span, key_span)
        return Node(self.scalar(node, span), span, key_span)


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The hint for a misspelt name: the closest of ``choices``, if any is close."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {found[0]!r}?" if found else None


class Reader:
    """Typed reads of located values: each mismatch is a located error (T101-T104)
    collected in ``diags``, never raised. The test-file schema builds on it."""

    def __init__(self, diags: Diagnostics):
        self.diags = diags

    def err(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.diags.error(code, message, span, hint)

    def typed(self, n: Node, types: tuple[type, ...], what: str, want: str) -> bool:
        ok = isinstance(n.value, types) and not (isinstance(n.value, bool) and bool not in types)
        if not ok:
            hint = "quote the value to make it a string" if "string" in want and n.value is not None else None
            self.err("T103", f"{what} must be {want}, not a {kind_of(n.value)}", n.span, hint)
        return ok

    def mapping(self, n: Node, what: str) -> dict[str, Node] | None:
        return n.value if self.typed(n, (dict,), what, "a mapping") else None

    def seq(self, n: Node, what: str) -> list[Node] | None:
        return n.value if self.typed(n, (list,), what, "a list") else None

    def string(self, n: Node, what: str) -> str | None:
        if not self.typed(n, (str,), what, "a string"):
            return None
        if not n.value.strip():
            self.err("T104", f"{what} must not be empty", n.span)
            return None
        return n.value

    def number(self, n: Node, what: str, lo: float, hi: float) -> float | None:
        if not self.typed(n, (int, float), what, "a number"):
            return None
        if not (math.isfinite(n.value) and lo <= n.value <= hi):
            self.err("T104", f"{what} must be between {lo:g} and {hi:g}, not {n.value}", n.span)
            return None
        return float(n.value)

    def integer(self, n: Node, what: str) -> int | None:
        if not self.typed(n, (int,), what, "a whole number"):
            return None
        if n.value < 0:
            self.err("T104", f"{what} must not be negative", n.span)
            return None
        return n.value

    def strings(self, n: Node, what: str) -> list[tuple[str, Span]] | None:
        items = self.seq(n, what)
        if items is None:
            return None
        out = [(s, i.span) for i in items if (s := self.string(i, f"each item of {what}")) is not None]
        return out if len(out) == len(items) else None

    def keys(self, m: dict[str, Node], allowed: Iterable[str], what: str,
             elsewhere: Callable[[str], str | None] = lambda k: None) -> None:
        allowed = tuple(allowed)
        for key, n in m.items():
            if key not in allowed:
                hint = elsewhere(key) or did_you_mean(key, allowed) or f"{what} takes: {', '.join(allowed)}"
                self.err("T101", f"unknown key {key!r} in {what}", n.where, hint)

    def require(self, m: dict[str, Node], key: str, what: str, span: Span) -> Node | None:
        if key not in m:
            self.err("T102", f"{what} needs {key!r}", span)
            return None
        return m[key]

    def json(self, n: Node, what: str) -> Any:
        """Plain JSON-like data (requests): reject dates and other YAML-only types."""
        v = n.value
        if isinstance(v, dict):
            return {k: self.json(c, f"{what}.{k}") for k, c in v.items()}
        if isinstance(v, list):
            return [self.json(c, f"{what}[{i}]") for i, c in enumerate(v)]
        if v is None or isinstance(v, (str, bool, int, float)):
            return v
        self.err("T103", f"{what} is a {kind_of(v)}, which a JSON request cannot carry", n.span,
                 "quote the value to make it a string")
        return None
