"""The located YAML tree: parsed values that keep the line and column they were written at."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from guardrails.diagnostics import Diagnostics, Span


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
