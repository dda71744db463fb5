"""Parse policy source into the AST: Lark's LALR parser builds a parse tree,
then :class:`~guardrails.tree_to_ast.AstBuilder` turns it into the AST.

Syntax errors become E001 diagnostics.  To report more than the first one,
the statement holding an error is blanked out (keeping every offset) and the
text parsed again, so one mistake neither hides nor cascades into others.

Two checks run before the tree is built, because every later pass (the
AST builder, checker, logic, compiler, formatter) walks expressions
recursively: an expression nested deeper than :data:`MAX_NESTING` levels is
E004, and so are parentheses nested deeper than that; the statement is then
blanked like a syntax error. A lone surrogate (text that is not valid
Unicode, possible only in a Python ``str``) is E001 at its position, since
digests and fingerprints encode the text as UTF-8.
"""

from __future__ import annotations

import gc
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from guardrails import ast
from guardrails.diagnostics import Diagnostics, Span
from guardrails.fastparse import fast_parse

if TYPE_CHECKING:
    from lark import Token


def _import_lark() -> None:
    """Lark and the tree builder, imported when a parse first needs them:
    a policy the hand-written reader (guardrails.fastparse) reads whole never
    does, and a cold start then skips Lark's import."""
    global Lark, Tree, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError, AstBuilder
    from lark import Lark, Tree
    from lark.exceptions import (
        UnexpectedCharacters,
        UnexpectedEOF,
        UnexpectedInput,
        UnexpectedToken,
        VisitError,
    )

    from guardrails.tree_to_ast import AstBuilder

_MAX_RECOVERIES = 25
#: The deepest an expression may nest: each `not`, call, attribute, index,
#: test or and/or inside another counts one level, and so does each pair of
#: parentheses. Real conditions stay under ten; the passes that recurse over
#: an expression use a few Python frames per level, so 64 levels stay far
#: below Python's recursion limit even when the caller is itself deep.
MAX_NESTING = 64
_SURROGATE = re.compile("[\ud800-\udfff]")
# The grammar rules whose children are expressions: nesting counts from them.
_EXPRESSION_HOLDERS = frozenset({"rule", "limit_def"})
# Statement keywords at the start of a line: where recovery resynchronises.
# `tool`, `principal`, `context` and `metadata` also begin conditions (`tool ==
# "x"` on a rule's second line), so they count only as a schema's head:
# `tool NAME(` and `principal {`.
_STATEMENT = re.compile(
    r"^[ \t]*(rule|entities|topic|pattern|tools|terms|label|limit|import|config|input|output|retrieval|tool_call"
    r"|tool_result|tool(?=[ \t]+(?:\"[^\"\n]*\"|[A-Za-z_][\w-]*)[ \t]*\()|(?:principal|context|metadata)(?=[ \t]*\{))\b",
    re.M,
)
_TOP_LEVEL = {"entities", "topic", "pattern", "tools", "terms", "label", "limit", "import", "config", "tool",
              "principal", "context", "metadata"}


def grammar_path() -> Path:
    """The grammar ships in the wheel as guardrails/_grammar; in a checkout it is ../grammar."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_grammar" / "policy.lark", here.parent / "grammar" / "policy.lark"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("policy.lark grammar not found next to the guardrails package")


# Comments are ignored by the grammar but kept for the formatter: the lexer
# hands each COMMENT token to the list of the parse running on this thread.
_comment_sink = threading.local()


def _collect_comment(tok: Token) -> None:
    sink = getattr(_comment_sink, "items", None)
    if sink is not None:
        sink.append(tok)


# Parentheses leave no node in the tree, so their depth is counted as the
# lexer meets them: [current depth, the first '(' past MAX_NESTING or None].
def _open_paren(tok: Token) -> Token:
    depth = getattr(_comment_sink, "parens", None)
    if depth is not None:
        depth[0] += 1
        if depth[0] > MAX_NESTING and depth[1] is None:
            depth[1] = tok
    return tok


def _close_paren(tok: Token) -> Token:
    depth = getattr(_comment_sink, "parens", None)
    if depth is not None:
        depth[0] -= 1
    return tok


@lru_cache(maxsize=1)
def _lark() -> Lark:
    _import_lark()
    return Lark(
        grammar_path().read_text(encoding="utf-8"),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=True,
        lexer_callbacks={"COMMENT": _collect_comment, "LPAR": _open_paren, "RPAR": _close_paren},
    )


_TERMINAL_NAMES = {
    "NAME": "a name",
    "STRING": 'a string ("...")',
    "NUMBER": "a number",
    "REGEX": "a regex (/.../)",
    "CMP_OP": "a comparison (==, !=, <, <=, >, >=)",
    "$END": "end of file",
}


@lru_cache(maxsize=1)
def _terminal_display() -> dict[str, str]:
    out = dict(_TERMINAL_NAMES)
    for term in _lark().terminals:
        if term.name in out:
            continue
        if term.pattern.type == "str":
            out[term.name] = repr(term.pattern.value).replace('"', "'")
    return out


def _display(name: str) -> str:
    return _terminal_display().get(name, name)


def _hint_for(err: UnexpectedInput, text: str) -> str | None:
    if isinstance(err, UnexpectedToken):
        tok = err.token
        if tok.type == "EQUAL" or str(tok) == "=":
            return "use '==' to compare"
        if tok.type == "NAME" and "COLON" in err.expected:
            return "a rule id is followed by ':' and then its effect"
        if "RULE" in err.expected and tok.type != "$END":
            return "each rule starts with `rule ID:`"
        if tok.type == "$END" and "RBRACE" in err.expected:
            return "a block opened with '{' is never closed"
    if isinstance(err, UnexpectedCharacters):
        ch = text[err.pos_in_stream] if err.pos_in_stream < len(text) else ""
        if ch == '"':
            return "a string must close on the same line"
        if ch == "'":
            return 'strings use double quotes: "..."'
        if ch == "/":
            return "a regex is written /pattern/flags and must close on the same line"
    return None


def _describe(err: UnexpectedInput, text: str) -> tuple[str, int, int]:
    """Message, start offset and length of the offending input."""
    if isinstance(err, UnexpectedToken):
        tok = err.token
        if tok.type == "$END":
            # Point at the end of the last line that has content, so the
            # caret lands under real source rather than past the file's end.
            found, start, width = "end of file", len(text.rstrip()), 1
        else:
            found, start, width = f"{str(tok)!r}", tok.start_pos, max(1, len(str(tok)))
        # Closers and statement starts first: they are what a reader missed.
        first = ("'}'", "'rule'", "':'", "')'", "']'")
        expected = sorted({_display(e) for e in err.expected},
                          key=lambda s: (first.index(s) if s in first else len(first), s))
        if len(expected) > 8:
            expected = expected[:8] + ["..."]
        return f"unexpected {found}; expected {', '.join(expected)}", start, width
    if isinstance(err, UnexpectedCharacters):
        pos = err.pos_in_stream
        ch = text[pos] if pos < len(text) else ""
        return f"unexpected character {ch!r}", pos, 1
    if isinstance(err, UnexpectedEOF):
        return "unexpected end of file", len(text.rstrip()), 1
    return str(err), getattr(err, "pos_in_stream", 0) or 0, 1


def _blank_statement(text: str, offset: int) -> tuple[str, str | None] | None:
    """Blank the statement around `offset`; returns the new text and, for a
    definition, its name (so the checker can stay quiet about it)."""
    starts = [m for m in _STATEMENT.finditer(text) if m.start(1) <= offset]
    if not starts:
        return None
    head = starts[-1]
    keyword = head.group(1)
    if keyword in {"input", "output", "retrieval", "tool_call", "tool_result"}:
        return None  # a broken stage header: nothing sensible to resync on
    begin = head.start(1)
    nxt = _STATEMENT.search(text, max(offset, head.end()) + 0)
    # Inside a stage block a rule also ends at a line holding only '}'.
    closing = re.compile(r"^[ \t]*\}", re.M).search(text, max(offset, head.end()))
    ends = [m.start() for m in (nxt, closing) if m is not None]
    if keyword in _TOP_LEVEL:
        ends = [nxt.start()] if nxt is not None else []
    end = min(ends) if ends else len(text)
    if end <= begin:
        return None
    name = None
    if keyword in {"entities", "topic", "pattern", "tools", "terms", "label", "limit"}:
        m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_\-]*)", text[head.end(1) : end])
        name = m.group(1) if m else None
    blanked = text[:begin] + re.sub(r"[^\n]", " ", text[begin:end]) + text[end:]
    return blanked, name


@dataclass(frozen=True, slots=True)
class Comment:
    line: int
    col: int
    text: str  # including the leading '#'
    offset: int


class ParseResult:
    __slots__ = ("policy", "diagnostics", "blanked_names", "comments")

    def __init__(self, policy: ast.Policy | None, diagnostics: Diagnostics, blanked_names: set[str],
                 comments: list[Comment] | None = None):
        self.policy = policy
        self.diagnostics = diagnostics
        self.blanked_names = blanked_names
        self.comments = comments or []


def _too_deep(tree: Tree) -> Tree | None:
    """The first node nested more than MAX_NESTING levels below its rule or
    limit, found without recursion (the point is to refuse what would
    exhaust the stack)."""
    stack: list[tuple[Tree, int]] = [(tree, 0)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        if depth:
            if depth > MAX_NESTING:
                return node
            inner = depth + 1
        else:
            inner = 1 if node.data in _EXPRESSION_HOLDERS else 0
        for c in reversed(node.children):  # first child on top: the first deep node in the source wins
            if isinstance(c, Tree):
                push((c, inner))
    return None


def _surrogates(text: str, file: str, diags: Diagnostics) -> str:
    """Report each lone surrogate (a str that is not valid Unicode, which a
    file read as UTF-8 never holds) and replace it by U+FFFD, keeping every
    offset: in a string or a comment that raises no second error."""
    if text.isascii():
        return text  # no surrogate, and no scan of a large policy's text
    found = list(_SURROGATE.finditer(text))
    for m in found[:10]:
        diags.error("E001", f"lone surrogate U+{ord(m.group()):04X} in the policy text: it is not valid Unicode",
                    Span.point(file, text, m.start()),
                    hint="a policy is UTF-8 text; check how this text was decoded")
    return _SURROGATE.sub("\ufffd", text) if found else text


def _nesting_error(file: str, text: str, start: int, what: str, diags: Diagnostics) -> None:
    hint = ("parentheses around a single test can go" if what == "parentheses"
            else "split the condition across several rules (`not not x` is `x`)")
    diags.error("E004", f"{what} nested more than {MAX_NESTING} levels deep", Span.point(file, text, start), hint=hint)


class _LarkOnly(threading.local):
    flag = False


# Set by lark_only(): the tests compare the fast path with Lark's own reading.
_lark_only = _LarkOnly()


class lark_only:
    """Within this block, parse() on this thread always uses Lark (the reference)."""

    def __enter__(self) -> None:
        self.before, _lark_only.flag = _lark_only.flag, True

    def __exit__(self, *exc) -> None:
        _lark_only.flag = self.before


@contextmanager
def paused_gc():
    """Hold the cyclic garbage collector off while a load builds its trees.

    A load allocates hundreds of thousands of long-lived objects and almost
    no cyclic garbage, yet every 700 allocations start a collection that
    walks them: on 10,000 rules that was half the load (1.5 s of ~2.7 s).
    Reference counting still frees what dies; the collector resumes at the
    end, and the full collections, which are rare, still examine what the
    load built. It is one switch for the process: a load that finds collections off
    (another thread's load, or the caller's choice) leaves them as it found them.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        # What the load built joins the oldest generation at once (freeze then
        # unfreeze moves every tracked object there, in constant time): left
        # in the youngest, the first collection after the pause would walk it
        # all (0.2 s on 10,000 rules) only to promote it.
        gc.freeze()
        gc.unfreeze()
        gc.enable()


def parse(text: str, file: str = "<string>") -> ParseResult:
    """Parse one policy source. Never raises for bad input: see `.diagnostics`."""
    with paused_gc():
        return _parse(text, file)


def _parse(text: str, file: str) -> ParseResult:
    diags = Diagnostics()
    blanked: set[str] = set()
    current = _surrogates(text, file, diags)
    if not diags.items and not _lark_only.flag:
        fast = fast_parse(text, file)
        if fast is not None:  # clean text read by the hand-written parser, exactly as Lark would
            policy, comments = fast
            return ParseResult(policy, diags, blanked, [Comment(*c) for c in comments])
    _import_lark()
    last_error: int | None = None
    for _ in range(_MAX_RECOVERIES):
        _comment_sink.items = []
        _comment_sink.parens = parens = [0, None]
        try:
            tree = _lark().parse(current)
        except UnexpectedInput as err:
            message, start, width = _describe(err, current)
            if start == last_error:
                break  # recovery made no progress: the first report stands
            last_error = start
            span = Span.point(file, text, min(start, len(text)))
            span = Span(span.file, span.line, span.col, span.line, span.col + width, start, start + width)
            diags.error("E001", message, span, _hint_for(err, current))
            at_end = isinstance(err, UnexpectedEOF) or (
                isinstance(err, UnexpectedToken) and err.token.type == "$END")
            if at_end:
                break  # nothing follows to resynchronise on
            recovered = _blank_statement(current, min(start, max(0, len(current) - 1)))
            if recovered is None or recovered[0] == current:
                return ParseResult(None, diags, blanked)
            current, name = recovered
            if name:
                blanked.add(name)
            continue
        finally:
            _comment_sink.parens = None
        deep = _too_deep(tree)
        if deep is not None or parens[1] is not None:
            # Parentheses first: the deepest '(' is met before the node inside it.
            start = parens[1].start_pos if parens[1] is not None else deep.meta.start_pos
            _nesting_error(file, text, start, "parentheses" if parens[1] is not None else "expression", diags)
            recovered = _blank_statement(current, start)
            if recovered is None or recovered[0] == current:
                return ParseResult(None, diags, blanked)
            current, name = recovered
            if name:
                blanked.add(name)
            continue
        comments = [Comment(t.line, t.column, str(t), t.start_pos) for t in _comment_sink.items]
        _comment_sink.items = None
        try:
            policy = AstBuilder(file, diags).transform(tree)
        except VisitError as exc:  # a bug of ours: report it, never raise from parse()
            diags.error("E002", f"cannot read this policy ({type(exc.orig_exc).__name__}: {exc.orig_exc})",
                        Span(file, 1, 1, 1, 2, 0, 1))
            return ParseResult(None, diags, blanked, comments)
        return ParseResult(policy, diags, blanked, comments)
    return ParseResult(None, diags, blanked)
