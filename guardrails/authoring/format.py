"""Canonical layout of whole policy files: the engine behind `guardrails fmt`.

:func:`format_source` parses a policy, lays it out again from the AST and
hands back the new text.  A source with syntax errors is never formatted: the
result carries the parser's diagnostics instead.  Expressions are rendered by
:mod:`guardrails.unparse`; :mod:`guardrails.authoring.comments` finds the item
each comment belongs to; this module lays out the file, breaks long lines and
writes the comments where their items put them.

The canonical layout
--------------------

* Top level, in this order, one blank line between sections: the header and
  the imports; one ``config`` block; the definitions; each stage block.
  Definitions keep their source order (they are not grouped by kind: authors
  order them to tell a story, and a reorder would make noisy diffs).  Stage
  blocks keep their source order.  Several ``config`` blocks are merged into
  one; an empty ``config {}`` without comments disappears (it means nothing).
* Blank lines: exactly one between sections and between stage blocks; none at
  the start or end of a block.  Between two imports, definitions, settings
  or rules a single blank line is kept where the author wrote one or more, so
  related definitions or rules can stay grouped.
* Two spaces of indentation inside blocks; one rule per line as
  ``rule ID: EFFECT [when COND]``.  A line longer than :data:`WIDTH` columns
  breaks before the top-level ``and``/``or`` of the condition, continuation
  lines indented 4 more spaces than the rule; inside a broken ``or``, an
  operand that is a long ``and`` chain breaks again, 4 spaces deeper.  When
  the first line would still be too long, ``when`` starts the first
  continuation line.  A condition without a top-level ``and``/``or`` moves
  whole to a ``when`` continuation line.  Parenthesised groups never break.
* Defaults are written out: a topic term always carries its weight (``1.0``
  when the source left it out) and a ``redact`` rule always names its
  operator (``using replace("<{entity}>")`` by default), because a reader
  should not need to know the defaults.  An operator without arguments is
  written without parentheses (``using hash``); a redaction of one entity
  group or type without brackets (``redact contact``).
* Lists: ``[a, b]``; ``topic t { "a" 0.8, "b" 1.0 }``.  A list that does not
  fit, or holds a comment, is exploded with a trailing comma: entity names
  and topic terms fill lines up to :data:`WIDTH`, while ``terms`` and ``tools``
  strings go one per line (phrase lists are reviewed entry by entry).
* Literals: strings as JSON with non-ASCII text kept as written (escapes
  normalised, e.g. ``"\\u00e9"`` becomes ``"é"``), numbers as Python prints
  them (``1.0``, ``1e-05``; infinity as ``1e999``), regexes as ``/pattern/flags``
  with ``/`` escaped.
* Comments are never lost or duplicated.  A comment on its own line stays
  before the item that follows it (or at the end of its block or file); a
  comment at the end of a line stays at the end of its item's last line.
  A comment in the middle of something laid out as a unit (a rule, a
  setting, a header) moves to its own line just above it.
* Output uses ``\\n`` line endings and ends with exactly one newline.  Widths
  are counted in characters.

After laying out, the result is parsed again and compared with the input (AST
and comments); a mismatch raises :class:`FormatError` rather than writing a
policy that means something else.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Callable

from guardrails import ast
from guardrails.authoring.comments import Item, SourceItems
from guardrails.diagnostics import Diagnostic, GuardrailsError
from guardrails.parser import Comment, parse
# format_operand/PRECEDENCE: the operands of a broken and/or chain get exactly the parentheses format_expr gives them.
from guardrails.unparse import (
    PRECEDENCE,
    format_allow_item,
    format_expr,
    format_literal,
    format_operand,
    format_regex,
    format_schema,
)

WIDTH = 100
INDENT = "  "
CONTINUATION = "    "

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
# Words that mean something else right after `redact`.
_TARGET_KEYWORDS = {"secrets", "pattern", "terms"}


class FormatError(GuardrailsError):
    """Formatting failed: the source has errors (:func:`format_text` only), or
    the layout would change the policy or drop a comment (a formatter bug)."""


@dataclass(frozen=True, slots=True)
class FormatResult:
    """The formatted text, or `None` with the diagnostics when the source has errors."""

    source: str
    text: str | None
    diagnostics: list[Diagnostic]

    @property
    def ok(self) -> bool:
        return self.text is not None

    @property
    def changed(self) -> bool:
        return self.text is not None and self.text != self.source


def format_source(text: str, file: str = "<string>") -> FormatResult:
    """Format one policy source.

    Returns a :class:`FormatResult`; when parsing reports any error the
    result has no text and carries the diagnostics.  Raises
    :class:`FormatError` if the layout would not parse back to the same
    policy with the same comments, which is a bug in the formatter.
    """
    result = parse(text, file)
    if result.policy is None or result.diagnostics.has_errors:
        return FormatResult(text, None, result.diagnostics.sorted())
    out = _Layout(SourceItems(text, result.policy, result.comments)).render()
    _verify(result.policy, result.comments, out, file)
    return FormatResult(text, out, [])


def format_text(text: str, file: str = "<string>") -> str:
    """Like :func:`format_source` but raises :class:`FormatError` on bad input."""
    res = format_source(text, file)
    if res.text is None:
        first = res.diagnostics[0] if res.diagnostics else None
        raise FormatError(f"cannot format {file}: {first.span}: {first.message}" if first else file)
    return res.text


def _verify(policy: ast.Policy, comments: list[Comment], out: str, file: str) -> None:
    again = parse(out, file)
    if again.policy is None or again.diagnostics.has_errors:
        problem = next(iter(again.diagnostics), None)
        raise FormatError(f"{file}: formatted text does not parse: {problem.render(out) if problem else ''}")
    # repr, not ==: Literal(1) == Literal(1.0) == Literal(True) under dataclass equality.
    if repr(again.policy) != repr(policy):
        raise FormatError(f"{file}: formatting would change the policy")
    if Counter(c.text.rstrip() for c in again.comments) != Counter(c.text.rstrip() for c in comments):
        raise FormatError(f"{file}: formatting would lose or duplicate a comment")


# ---- literals ---------------------------------------------------------------


def _is_name(s: str) -> bool:
    return _NAME.fullmatch(s) is not None


def _escape_surrogates(text: str) -> str:
    # A string literal may hold a lone surrogate ("\ud800"): printed raw it
    # could not be written as UTF-8, so it goes back to its escape.
    return re.sub("[\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}", text)


# ---- effects and rules --------------------------------------------------------


def _target(t: ast.Target) -> str:
    if t.kind == "secrets":
        return "secrets"
    if t.kind in ("pattern", "terms"):
        return f"{t.kind} {t.names[0]}"
    if len(t.names) == 1 and t.names[0] not in _TARGET_KEYWORDS:
        return t.names[0]
    return "[" + ", ".join(t.names) + "]"


def _operator(op: ast.Operator) -> str:
    if not op.args:
        return op.name
    return f"{op.name}(" + ", ".join(format_literal(a.value) for a in op.args) + ")"


def format_effect(e: ast.Effect) -> str:
    """One effect in canonical form, defaults written out."""
    match e:
        case ast.Deny(message=m):
            return f"deny {format_literal(m)}"
        case ast.Warn(message=m):
            return f"warn {format_literal(m)}"
        case ast.Allow():
            return "allow"
        case ast.Escalate(route=r, message=m):
            route = r if _is_name(r) else format_literal(r)
            return f"escalate to {route}" + (f" {format_literal(m)}" if m is not None else "")
        case ast.Redact(target=t, min_score=score, operator=op):
            text = f"redact {_target(t)}"
            if score is not None:
                text += f" above {format_literal(score)}"
            return text + f" using {_operator(op)}"
        case ast.Label(names=names):
            return "label " + ", ".join(names)
    raise TypeError(f"not an effect: {e!r}")


def _break(first: str, cond: ast.Expr, cont: str) -> list[str]:
    """`first + cond`, broken before each top-level and/or if it is too long."""
    one = first + format_expr(cond)
    if len(one) <= WIDTH or not isinstance(cond, (ast.And, ast.Or)):
        return [one]
    kind = type(cond)
    op = "and" if kind is ast.And else "or"
    lines: list[str] = []
    for i, operand in enumerate(cond.operands):
        prefix = first if i == 0 else f"{cont}{op} "
        if kind is ast.Or and isinstance(operand, ast.And):
            # An `and` chain inside `or` needs no parentheses: break it deeper.
            lines += _break(prefix, operand, cont + CONTINUATION)
        else:
            lines.append(prefix + format_operand(operand, PRECEDENCE[kind], strict=isinstance(operand, kind)))
    return lines


def format_rule(rule: ast.Rule, indent: str = "") -> list[str]:
    """The lines of one rule, wrapped at :data:`WIDTH` columns."""
    head = f"{indent}rule {rule.id}: {format_effect(rule.effect)}"
    lines = _when_lines(head, rule.when, indent + CONTINUATION)
    if rule.unless is None:
        return lines
    # `unless` ends the last line when it fits, else starts a line of its own.
    if len(one := f"{lines[-1]} unless {format_expr(rule.unless)}") <= WIDTH and len(lines) == 1:
        return [one]
    return [*lines, *_break(indent + CONTINUATION + "unless ", rule.unless, indent + CONTINUATION)]


def _when_lines(head: str, when: ast.Expr | None, cont: str) -> list[str]:
    if when is None:
        return [head]
    if isinstance(when, (ast.And, ast.Or)):
        lines = _break(head + " when ", when, cont)
        if len(lines[0]) <= WIDTH:
            return lines
    elif len(one := f"{head} when {format_expr(when)}") <= WIDTH:
        return [one]
    return [head, *_break(cont + "when ", when, cont)]


# ---- layout -------------------------------------------------------------------


class _Layout:
    """The canonical layout of one source, its comments already attached to items."""

    def __init__(self, source: SourceItems):
        self.source = source

    def render(self) -> str:
        src = self.source
        sections = [self._emit([src.header, *src.imports], "", self._unit)]
        config = self._merged_config()
        if config is not None:
            sections.append(self._emit([config], "", self._config))
        if src.schemas:
            sections.append(self._emit(src.schemas, "", lambda item, indent: format_schema(item.node, WIDTH)))
        if src.defs:
            sections.append(self._emit(src.defs, "", self._definition_lines))
        if src.allows:
            sections.append(self._emit(src.allows, "", self._definition_lines))
        for block in src.stages:
            sections.append(self._emit([block], "", self._stage))
        lines: list[str] = []
        for section in sections:
            if lines:
                lines.append("")
            lines += section
        self._comment_lines(src.dangling, "", lines)
        return _escape_surrogates("\n".join(lines) + "\n")

    def _emit(self, items: list[Item], indent: str, render: Callable[[Item, str], list[str]]) -> list[str]:
        """Items with their comments; a blank line kept wherever the source had one."""
        out: list[str] = []
        for item in items:
            self._comment_lines(item.leading, indent, out)
            blank = item.blank
            for c in item.hoisted:
                self._comment_lines([(c, blank)], indent, out)
                blank = False
            if blank and out:
                out.append("")
            lines = render(item, indent)
            if item.trailing is not None:
                lines[-1] += "  " + item.trailing.text
            out += lines
        return out

    @staticmethod
    def _comment_lines(entries: list[tuple[Comment, bool]], indent: str, out: list[str]) -> None:
        for c, blank in entries:
            if blank and out:
                out.append("")
            out.append(indent + c.text)

    def _unit(self, item: Item, indent: str) -> list[str]:
        match item.node:
            case "header":
                p = self.source.policy
                return [f"{indent}{p.kind} {format_literal(p.name)} version {format_literal(p.version)}"]
            case ast.Import(name=name):
                return [f"{indent}import {format_literal(name)}"]
            case ast.Setting(key=key, value=ast.ListLit(items=items)):
                return [f"{indent}{key} = [" + ", ".join(format_literal(i.value) for i in items) + "]"]
            case ast.Setting(key=key, value=value):
                return [f"{indent}{key} = {format_literal(value.value)}"]
            case ast.Rule() as rule:
                return format_rule(rule, indent)
            case ast.PatternDef(name=name, regex=rx):
                return [f"{indent}pattern {name} = {format_regex(rx)}"]
            case ast.LabelDef(name=name, doc=doc):
                return [f"{indent}label {name}" + (f" {format_literal(doc)}" if doc is not None else "")]
            case ast.LimitDef(name=name, max=count, window=window, keys=keys):
                by = ", ".join(format_expr(k) for k in keys)
                return [f"{indent}limit {name} = {format_literal(count)} per {format_literal(window.value)} by {by}"]
        raise TypeError(f"cannot lay out {item.node!r}")

    def _block(self, item: Item, indent: str, head: str, inner: list[str], close: str) -> list[str]:
        opening = f"{indent}{head}" + (f"  {item.opening.text}" if item.opening else "")
        self._comment_lines(item.dangling, indent + INDENT, inner)
        return [opening, *inner, f"{indent}{close}"]

    def _stage(self, item: Item, indent: str) -> list[str]:
        stage = item.node.stage
        if not item.children and not item.opening and not item.dangling:
            return [f"{indent}{stage} {{}}"]
        inner = self._emit(item.children, indent + INDENT, self._unit)
        return self._block(item, indent, f"{stage} {{", inner, "}")

    def _config(self, item: Item, indent: str) -> list[str]:
        inner = self._emit(item.children, indent + INDENT, self._unit)
        return self._block(item, indent, "config {", inner, "}")

    def _merged_config(self) -> Item | None:
        """All config blocks as one, their comments in source order."""
        configs = self.source.configs
        if not configs:
            return None
        first, last = configs[0], configs[-1]
        merged = Item("config", first.start, last.end, blank=first.blank,
                       leading=list(first.leading), hoisted=list(first.hoisted),
                       trailing=last.trailing, opening=first.opening)
        pending: list[tuple[Comment, bool]] = []
        for n, block in enumerate(configs):
            if n > 0:
                pending += block.leading + [(c, False) for c in block.hoisted]
                pending += [(block.opening, False)] if block.opening else []
            for setting in block.children:
                setting.leading = pending + setting.leading
                pending = []
                merged.children.append(setting)
            pending += block.dangling
            if block is not last and block.trailing is not None:
                pending.append((block.trailing, False))
        merged.dangling = pending
        if not merged.children and not any((merged.leading, merged.hoisted, merged.trailing,
                                            merged.opening, merged.dangling)):
            return None  # an empty `config {}` means nothing
        return merged

    def _definition_lines(self, item: Item, indent: str) -> list[str]:
        d = item.node
        match d:
            case ast.EntitiesDef(name=name):
                head, close, fill = f"entities {name} = [", "]", True
                texts = [n.value for n in d.entities]
            case ast.TopicDef(name=name):
                head, close, fill = f"topic {name} {{", "}", True
                texts = [f"{format_literal(t.text)} {format_literal(t.weight)}" for t in d.terms]
            case ast.AllowDecl(target=target):
                head, close, fill = f"allow {target.value} [", "]", True
                texts = [format_allow_item(i) for i in d.items]
            case ast.ToolsDef(name=name) | ast.TermsDef(name=name):
                kind = "tools" if isinstance(d, ast.ToolsDef) else "terms"
                head, close, fill = f"{kind} {name} = [", "]", False
                items = d.tools if isinstance(d, ast.ToolsDef) else d.terms
                texts = [s.name if isinstance(s, ast.Var) else format_literal(s.value) for s in items]
            case _:
                return self._unit(item, indent)
        pad = " " if close == "}" else ""
        one = f"{indent}{head}{pad}{', '.join(texts)}{pad}{close}"
        if len(one) <= WIDTH and not item.has_inner_comments():
            return [one]
        inner = self._elements(item.children, texts, indent + INDENT, fill)
        return self._block(item, indent, head, inner, close)

    def _elements(self, children: list[Item], texts: list[str], indent: str, fill: bool) -> list[str]:
        """An exploded list: a trailing comma after every element."""
        out: list[str] = []
        line = ""
        for child, text in zip(children, texts):
            comments = [c for c, _ in child.leading] + child.hoisted
            if comments and line:
                out.append(line)
                line = ""
            out += [indent + c.text for c in comments]
            piece = text + ","
            if line and (not fill or len(line) + 1 + len(piece) > WIDTH):
                out.append(line)
                line = ""
            line = f"{line} {piece}" if line else indent + piece
            if child.trailing is not None:
                out.append(f"{line}  {child.trailing.text}")
                line = ""
        if line:
            out.append(line)
        return out
