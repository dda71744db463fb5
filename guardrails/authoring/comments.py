"""Where each comment of a policy source belongs, for :mod:`guardrails.authoring.format`.

The parser hands back the AST and, apart, the comments with their offsets.
:class:`SourceItems` cuts the source into items (:class:`Item`), the units the
layout keeps whole (the header, an import, a setting, a definition, a rule,
a list element, a block), and attaches every comment to the innermost item
around or next to it: before it (``leading``), inside it (``hoisted``, moved
above it), at the end of its line (``trailing``), after an opening bracket
(``opening``) or after a block's last child (``dangling``). It also records
where the author left blank lines. Rendering reads these and nothing else of
the source text.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Any

from guardrails import ast
from guardrails.parser import Comment

_WS = " \t\f\r\n"


@dataclass(eq=False)
class Item:
    """Something laid out as a unit, with the comments attached to it."""

    node: Any
    start: int
    end: int
    blank: bool = False  # a blank line before it in the source
    leading: list[tuple[Comment, bool]] = field(default_factory=list)  # (comment, blank before)
    hoisted: list[Comment] = field(default_factory=list)  # from inside the unit
    trailing: Comment | None = None
    # Containers (blocks and bracketed lists) only:
    interior: tuple[int, int] | None = None  # just after the opening bracket .. the closing one
    open_line: int = 0
    children: list["Item"] = field(default_factory=list)
    opening: Comment | None = None  # at the end of the line holding the opening bracket
    dangling: list[tuple[Comment, bool]] = field(default_factory=list)  # after the last child

    def has_inner_comments(self) -> bool:
        return bool(self.opening or self.dangling) or any(
            k.leading or k.hoisted or k.trailing for k in self.children
        )


class SourceItems:
    """One policy source cut into items, each comment attached to one of them."""

    def __init__(self, text: str, policy: ast.Policy, comments: list[Comment]):
        self.text = text
        self.policy = policy
        self.comments = [Comment(c.line, c.col, c.text.rstrip(), c.offset) for c in comments]
        self._comment_ranges = [(c.offset, c.offset + len(c.text)) for c in comments]
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.dangling: list[tuple[Comment, bool]] = []

        p = policy
        self.header = self._item("header", p.span.start, p.version_span.end)
        self.imports = [self._node(i) for i in p.imports]
        self.schemas = [self._node(d) for d in p.schemas]
        self.defs = [self._definition(d) for d in p.definitions]
        self.allows = [self._container(a, a.span, "[", [self._node(i) for i in a.items]) for a in p.allows]
        self.stages = [self._container(b, b.span, "{", [self._node(r) for r in b.rules]) for b in p.stages]
        self.configs = self._config_blocks()
        top = sorted([self.header, *self.imports, *self.configs, *self.schemas, *self.defs, *self.allows,
                      *self.stages],
                     key=lambda i: i.start)
        self._assign(top, self.comments, None)

    # -- source positions
    def _line(self, offset: int) -> int:
        return bisect.bisect_right(self._line_starts, offset)

    def _own_line(self, c: Comment) -> bool:
        start = self._line_starts[c.line - 1]
        return self.text[start : c.offset].strip(_WS) == ""

    def _blank_before(self, offset: int) -> bool:
        i, newlines = offset, 0
        while i > 0 and self.text[i - 1] in _WS:
            newlines += self.text[i - 1] == "\n"
            i -= 1
        return i > 0 and newlines >= 2

    @staticmethod
    def _skip(pos: int, ranges: list[tuple[int, int]]) -> int:
        """`pos`, moved past the range of `ranges` (sorted, disjoint) it falls in."""
        i = bisect.bisect_right(ranges, (pos, float("inf"))) - 1
        if i >= 0 and ranges[i][0] <= pos < ranges[i][1]:
            return ranges[i][1]
        return pos

    def _find(self, char: str, start: int) -> int:
        """The first `char` at or after `start` that is not inside a comment."""
        pos = start
        while True:
            pos = self.text.index(char, pos)
            moved = self._skip(pos, self._comment_ranges)
            if moved == pos:
                return pos
            pos = moved

    # -- items
    def _item(self, node, start: int, end: int) -> Item:
        return Item(node, start, end, blank=self._blank_before(start))

    def _node(self, node) -> Item:
        return self._item(node, node.span.start, node.span.end)

    def _container(self, node, span, bracket: str, children: list[Item]) -> Item:
        item = self._item(node, span.start, span.end)
        opening = self._find(bracket, span.start)
        item.interior = (opening + 1, span.end - 1)
        item.open_line = self._line(opening)
        item.children = children
        return item

    def _definition(self, d: ast.Definition) -> Item:
        match d:
            case ast.EntitiesDef():
                return self._container(d, d.span, "[", [self._node(n) for n in d.entities])
            case ast.TopicDef():
                return self._container(d, d.span, "{", [self._node(t) for t in d.terms])
            case ast.ToolsDef() | ast.TermsDef():
                items = d.tools if isinstance(d, ast.ToolsDef) else d.terms
                return self._container(d, d.span, "[", [self._node(s) for s in items])
        return self._node(d)

    def _config_blocks(self) -> list[Item]:
        """Config blocks have no AST node: after a clean parse, all that lies
        outside the other items, the settings and the comments is their
        `config`, `{` and `}`."""
        settings = [self._node(s) for s in self.policy.settings]
        known = [(i.start, i.end) for i in (self.header, *self.imports, *self.schemas, *self.defs, *self.allows,
                                            *self.stages, *settings)]
        ranges = _union(known + self._comment_ranges)
        blocks: list[Item] = []
        start = opening = -1
        pos = 0
        while pos < len(self.text):
            pos = self._skip(pos, ranges)
            if pos >= len(self.text):
                break
            ch = self.text[pos]
            if ch in _WS:
                pos += 1
            elif self.text.startswith("config", pos):
                start, pos = pos, pos + len("config")
            elif ch == "{":
                opening, pos = pos, pos + 1
            elif ch == "}":
                item = self._item("config", start, pos + 1)
                item.interior = (opening + 1, pos)
                item.open_line = self._line(opening)
                item.children = [s for s in settings if opening < s.start < pos]
                blocks.append(item)
                pos += 1
            else:  # pragma: no cover - the parse succeeded, so this cannot happen
                raise AssertionError(f"unexpected text at offset {pos}: {self.text[pos:pos + 20]!r}")
        return blocks

    # -- comments
    def _assign(self, children: list[Item], comments: list[Comment], container: Item | None) -> None:
        """Attach each comment to the innermost item around or next to it."""
        starts = [k.start for k in children]
        inner: dict[int, list[Comment]] = {}
        for c in comments:
            i = bisect.bisect_right(starts, c.offset) - 1  # the last child starting before c
            if i >= 0 and c.offset < children[i].end:
                child = children[i]
                if child.interior and child.interior[0] <= c.offset < child.interior[1]:
                    inner.setdefault(i, []).append(c)
                else:
                    child.hoisted.append(c)
                continue
            if not self._own_line(c):
                prev = children[i] if i >= 0 else None
                if prev is not None and self._line(prev.end - 1) == c.line and prev.trailing is None:
                    prev.trailing = c
                    continue
                if container is not None and container.opening is None and c.line == container.open_line:
                    container.opening = c
                    continue
            entry = (c, self._blank_before(c.offset))
            if i + 1 < len(children):
                children[i + 1].leading.append(entry)
            elif container is not None:
                container.dangling.append(entry)
            else:
                self.dangling.append(entry)
        for i, cs in inner.items():
            self._assign(children[i].children, cs, children[i])


def _union(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, disjoint ranges covering the same offsets (comments nest in items)."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out
