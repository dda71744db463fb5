"""Parse policy source into the AST: Lark (LALR) parse tree, then a Transformer.

Syntax errors become E001 diagnostics.  To report more than the first one,
the statement holding an error is blanked out (keeping every offset) and the
text parsed again, so one mistake neither hides nor cascades into others.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from guardrails import ast
from guardrails.diagnostics import Diagnostics, Span

_MAX_RECOVERIES = 25
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
# Statement keywords at the start of a line: where recovery resynchronises.
_STATEMENT = re.compile(
    r"^[ \t]*(rule|entities|topic|pattern|tools|terms|import|config|input|output|retrieval|tool_call)\b",
    re.M,
)
_TOP_LEVEL = {"entities", "topic", "pattern", "tools", "terms", "import", "config"}


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


@lru_cache(maxsize=1)
def _lark() -> Lark:
    return Lark(
        grammar_path().read_text(encoding="utf-8"),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=True,
        lexer_callbacks={"COMMENT": _collect_comment},
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


def _span_of(file: str, item) -> Span:
    """Span from a Lark token or a tree's meta."""
    return Span(
        file,
        item.line,
        item.column,
        item.end_line,
        item.end_column,
        item.start_pos,
        item.end_pos,
    )


class _Builder(Transformer):
    """Parse tree -> AST. Problems are recorded, never raised (VisitError)."""

    def __init__(self, file: str, diags: Diagnostics):
        super().__init__()
        self.file = file
        self.diags = diags

    def sp(self, item) -> Span:
        return _span_of(self.file, item)

    # -- literals
    def _string_value(self, tok: Token) -> str:
        try:
            return json.loads(tok)
        except ValueError:
            self.diags.error(
                "E002",
                f"invalid string literal {tok}",
                self.sp(tok),
                hint=r'use JSON escapes: \" \\ \n \t \uXXXX',
            )
            return tok[1:-1]

    def _number_value(self, tok: Token) -> int | float:
        text = str(tok)
        if any(c in text for c in ".eE"):
            return float(text)
        if len(text.lstrip("-")) > 30:
            # Python refuses very long int conversions; no policy needs them.
            self.diags.error("E002", "number literal too long (at most 30 digits)", self.sp(tok))
            return 0
        return int(text)

    @v_args(meta=True)
    def string(self, meta, children):
        return ast.Literal(self._string_value(children[0]), self.sp(meta))

    @v_args(meta=True)
    def number(self, meta, children):
        return ast.Literal(self._number_value(children[0]), self.sp(meta))

    @v_args(meta=True)
    def true(self, meta, _):
        return ast.Literal(True, self.sp(meta))

    @v_args(meta=True)
    def false(self, meta, _):
        return ast.Literal(False, self.sp(meta))

    @v_args(meta=True)
    def null(self, meta, _):
        return ast.Literal(None, self.sp(meta))

    def _regex(self, tok: Token) -> ast.RegexLit:
        text = str(tok)
        close = text.rfind("/")
        body = text[1:close].replace("\\/", "/")
        return ast.RegexLit(body, text[close + 1 :], self.sp(tok))

    # -- expressions
    @v_args(meta=True)
    def var(self, meta, children):
        return ast.Var(str(children[0]), self.sp(meta))

    @v_args(meta=True)
    def attr(self, meta, children):
        return ast.Attr(children[0], str(children[1]), self.sp(meta))

    @v_args(meta=True)
    def index(self, meta, children):
        obj, key = children
        value = self._string_value(key) if key.type == "STRING" else self._number_value(key)
        if isinstance(value, float):
            self.diags.error("E301", "list indexes must be whole numbers", self.sp(key))
            value = int(value)
        return ast.Index(obj, value, self.sp(meta))

    @v_args(meta=True)
    def kwarg(self, meta, children):
        return ast.KwArg(str(children[0]), children[1], self.sp(meta))

    @v_args(meta=True)
    def call(self, meta, children):
        name, *rest = children
        args = tuple(a for a in rest if a is not None and not isinstance(a, ast.KwArg))
        kwargs = tuple(a for a in rest if isinstance(a, ast.KwArg))
        return ast.Call(str(name), args, kwargs, self.sp(meta))

    @v_args(meta=True)
    def list_lit(self, meta, children):
        return ast.ListLit(tuple(c for c in children if c is not None), self.sp(meta))

    @v_args(meta=True)
    def not_(self, meta, children):
        return ast.Not(children[0], self.sp(meta))

    @v_args(meta=True)
    def and_expr(self, meta, children):
        return ast.And(tuple(children), self.sp(meta))

    @v_args(meta=True)
    def or_expr(self, meta, children):
        return ast.Or(tuple(children), self.sp(meta))

    @v_args(meta=True)
    def compare(self, meta, children):
        left, op, right = children
        return ast.Compare(str(op), left, right, self.sp(meta))

    @v_args(meta=True)
    def in_(self, meta, children):
        return ast.In(children[0], children[1], False, self.sp(meta))

    @v_args(meta=True)
    def not_in(self, meta, children):
        return ast.In(children[0], children[1], True, self.sp(meta))

    @v_args(meta=True)
    def matches_regex(self, meta, children):
        return ast.Matches(children[0], self._regex(children[1]), None, self.sp(meta))

    @v_args(meta=True)
    def matches_pattern(self, meta, children):
        return ast.Matches(children[0], None, str(children[1]), self.sp(meta))

    def _strtest(op):  # noqa: N805 - builds methods
        @v_args(meta=True)
        def method(self, meta, children):
            return ast.StrTest(op, children[0], children[1], self.sp(meta))

        return method

    contains = _strtest("contains")
    starts_with = _strtest("starts_with")
    ends_with = _strtest("ends_with")

    @v_args(meta=True)
    def has(self, meta, children):
        obj, key = children
        name = self._string_value(key) if key.type == "STRING" else str(key)
        return ast.Has(obj, name, self.sp(meta))

    # -- effects
    @v_args(meta=True)
    def deny(self, meta, children):
        return ast.Deny(self._string_value(children[0]), self.sp(meta))

    @v_args(meta=True)
    def warn(self, meta, children):
        return ast.Warn(self._string_value(children[0]), self.sp(meta))

    @v_args(meta=True)
    def allow(self, meta, _):
        return ast.Allow(self.sp(meta))

    @v_args(meta=True)
    def escalate(self, meta, children):
        route, message = children
        route_text = self._string_value(route) if route.type == "STRING" else str(route)
        msg = self._string_value(message) if message is not None else None
        return ast.Escalate(route_text, msg, self.sp(meta))

    @v_args(meta=True)
    def target_group(self, meta, children):
        return ast.Target("entities", (str(children[0]),), self.sp(meta), (self.sp(children[0]),))

    @v_args(meta=True)
    def target_list(self, meta, children):
        names = children[0]
        return ast.Target(
            "entities", tuple(n.value for n in names), self.sp(meta), tuple(n.span for n in names)
        )

    @v_args(meta=True)
    def target_secrets(self, meta, _):
        return ast.Target("secrets", (), self.sp(meta))

    @v_args(meta=True)
    def target_pattern(self, meta, children):
        return ast.Target("pattern", (str(children[0]),), self.sp(meta), (self.sp(children[0]),))

    @v_args(meta=True)
    def target_terms(self, meta, children):
        return ast.Target("terms", (str(children[0]),), self.sp(meta), (self.sp(children[0]),))

    def min_score(self, children):
        return ("min_score", float(self._number_value(children[0])))

    @v_args(meta=True)
    def using(self, meta, children):
        name, *args = children
        return ast.Operator(str(name), tuple(a for a in args if a is not None), self.sp(meta))

    @v_args(meta=True)
    def redact(self, meta, children):
        target, min_score, operator = children
        score = min_score[1] if min_score is not None else None
        if operator is None:
            operator = ast.Operator("replace", (ast.Literal("<{entity}>", target.span),), target.span)
        return ast.Redact(target, score, operator, self.sp(meta))

    # -- declarations
    @v_args(meta=True)
    def rule(self, meta, children):
        rid, effect, condition = children
        return ast.Rule(str(rid), effect, condition, self.sp(meta), self.sp(rid))

    def stage_name(self, children):
        return children[0]

    @v_args(meta=True)
    def stage_block(self, meta, children):
        stage, *rules = children
        return ast.StageBlock(str(stage), tuple(rules), self.sp(meta))

    def name_list(self, children):
        return tuple(ast.Name(str(c), self.sp(c)) for c in children if c is not None)

    def string_list(self, children):
        return tuple(ast.Literal(self._string_value(c), self.sp(c)) for c in children if c is not None)

    @v_args(meta=True)
    def entities_def(self, meta, children):
        return ast.EntitiesDef(str(children[0]), children[1], self.sp(meta))

    @v_args(meta=True)
    def topic_term(self, meta, children):
        text, weight = children
        w = float(self._number_value(weight)) if weight is not None else 1.0
        return ast.TopicTerm(self._string_value(text), w, self.sp(meta))

    @v_args(meta=True)
    def topic_def(self, meta, children):
        name, *terms = children
        return ast.TopicDef(str(name), tuple(t for t in terms if t is not None), self.sp(meta))

    @v_args(meta=True)
    def pattern_def(self, meta, children):
        return ast.PatternDef(str(children[0]), self._regex(children[1]), self.sp(meta))

    @v_args(meta=True)
    def tools_def(self, meta, children):
        return ast.ToolsDef(str(children[0]), children[1], self.sp(meta))

    @v_args(meta=True)
    def terms_def(self, meta, children):
        return ast.TermsDef(str(children[0]), children[1], self.sp(meta))

    @v_args(meta=True)
    def import_decl(self, meta, children):
        return ast.Import(self._string_value(children[0]), self.sp(meta))

    @v_args(meta=True)
    def setting_list(self, meta, children):
        return ast.ListLit(tuple(c for c in children if c is not None), self.sp(meta))

    @v_args(meta=True)
    def setting(self, meta, children):
        return ast.Setting(str(children[0]), children[1], self.sp(meta))

    def config_block(self, children):
        return ("config", tuple(children))

    def header_kind(self, children):
        return children[0]

    def header(self, children):
        return children

    @v_args(meta=True)
    def start(self, meta, children):
        (kind, name_tok, version_tok), *items = children
        name = self._string_value(name_tok)
        version = self._string_value(version_tok)
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", name):
            self.diags.error(
                "E003",
                f"invalid policy name {name!r}",
                self.sp(name_tok),
                hint="use lower-case letters, digits, '.', '_' and '-'",
            )
        if not _SEMVER.match(version):
            self.diags.error(
                "E003",
                f"version {version!r} is not a semantic version",
                self.sp(version_tok),
                hint='write MAJOR.MINOR.PATCH, e.g. "1.0.0"',
            )
        imports, settings, defs, stages = [], [], [], []
        for item in items:
            if isinstance(item, ast.Import):
                imports.append(item)
            elif isinstance(item, tuple) and item and item[0] == "config":
                settings.extend(item[1])
            elif isinstance(item, ast.StageBlock):
                stages.append(item)
            else:
                defs.append(item)
        return ast.Policy(
            str(kind),
            name,
            version,
            tuple(imports),
            tuple(settings),
            tuple(defs),
            tuple(stages),
            self.sp(meta),
            self.sp(name_tok),
            self.sp(version_tok),
        )


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
    if keyword in {"input", "output", "retrieval", "tool_call"}:
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
    if keyword in {"entities", "topic", "pattern", "tools", "terms"}:
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


def parse(text: str, file: str = "<string>") -> ParseResult:
    """Parse one policy source. Never raises for bad input: see `.diagnostics`."""
    diags = Diagnostics()
    blanked: set[str] = set()
    current = text
    last_error: int | None = None
    for _ in range(_MAX_RECOVERIES):
        _comment_sink.items = []
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
        comments = [Comment(t.line, t.column, str(t), t.start_pos) for t in _comment_sink.items]
        _comment_sink.items = None
        try:
            policy = _Builder(file, diags).transform(tree)
        except VisitError as exc:  # a bug of ours: report it, never raise from parse()
            diags.error("E002", f"cannot read this policy ({type(exc.orig_exc).__name__}: {exc.orig_exc})",
                        Span(file, 1, 1, 1, 2, 0, 1))
            return ParseResult(None, diags, blanked, comments)
        return ParseResult(policy, diags, blanked, comments)
    return ParseResult(None, diags, blanked)
