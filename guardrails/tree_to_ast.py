"""Lark's parse tree -> the AST: the second of the parser's two passes.

:class:`AstBuilder` turns each grammar rule's tree into its node in
:mod:`guardrails.ast`, with a :class:`~guardrails.diagnostics.Span` on every
node. Problems found on the way (bad string escapes, overlong numbers,
invalid headers) are recorded in the diagnostics, never raised: Lark would
wrap an exception raised here in ``VisitError``. The first pass, and the
recovery from syntax errors, are :mod:`guardrails.parser`.
"""

from __future__ import annotations

import json
import re

from lark import Token, Transformer, v_args

from guardrails import ast
from guardrails.diagnostics import Diagnostics, Span

_SURROGATE = re.compile("[\ud800-\udfff]")
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")


def span_of(file: str, item) -> Span:
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


class AstBuilder(Transformer):
    """Parse tree -> AST. Problems are recorded, never raised (VisitError)."""

    def __init__(self, file: str, diags: Diagnostics):
        super().__init__()
        self.file = file
        self.diags = diags

    def sp(self, item) -> Span:
        return span_of(self.file, item)

    # -- literals
    def _string_value(self, tok: Token) -> str:
        try:
            value = json.loads(tok)
        except ValueError:
            self.diags.error(
                "E002",
                f"invalid string literal {tok}",
                self.sp(tok),
                hint=r'use JSON escapes: \" \\ \n \t \uXXXX',
            )
            return tok[1:-1]
        if _SURROGATE.search(value):
            # JSON lets `\ud800` stand alone; Python's str keeps it, and UTF-8
            # (digests, fingerprints, the wire) cannot encode it.
            self.diags.error("E002", f"string literal {tok} holds a lone surrogate: it is not valid Unicode",
                             self.sp(tok), hint="a \\uD800-\\uDBFF escape must be followed by a \\uDC00-\\uDFFF one")
            return _SURROGATE.sub("\ufffd", value)
        return value

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
    def label(self, meta, children):
        return ast.Label(tuple(str(c) for c in children), tuple(self.sp(c) for c in children), self.sp(meta))

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
        rid, effect, when, unless = children
        if unless is None:
            return ast.Rule(str(rid), effect, when, self.sp(meta), self.sp(rid))
        # `when A unless B` is `A and not (B)`: the later passes see one condition.
        negated = ast.Not(unless, unless.span)
        if when is None:
            condition = negated
        else:
            operands = when.operands if isinstance(when, ast.And) else (when,)
            condition = ast.And((*operands, negated), _joined(when.span, unless.span))
        return ast.Rule(str(rid), effect, condition, self.sp(meta), self.sp(rid), unless)

    def unless(self, children):
        return children[0]

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

    def tool_items(self, children):
        return tuple(c for c in children if c is not None)

    def tool_string(self, children):
        return ast.Literal(self._string_value(children[0]), self.sp(children[0]))

    def tool_group_ref(self, children):
        return ast.Var(str(children[0]), self.sp(children[0]))

    # -- schemas
    @v_args(meta=True)
    def tool_decl(self, meta, children):
        name_tok, fields, *attrs = children
        name = self._string_value(name_tok) if name_tok.type == "STRING" else str(name_tok)
        return ast.ToolDecl(name, fields, tuple(a for a in attrs if a is not None), self.sp(meta),
                            self.sp(name_tok))

    @v_args(meta=True)
    def tool_attr(self, meta, children):
        return ast.Setting(str(children[0]), children[1], self.sp(meta))

    def shape_root(self, children):
        return children[0]

    @v_args(meta=True)
    def shape_decl(self, meta, children):
        return ast.ShapeDecl(str(children[0]), children[1], self.sp(meta))

    @v_args(meta=True)
    def field_list(self, meta, children):
        items = [c for c in children if c is not None]
        fields = tuple(c for c in items if isinstance(c, ast.FieldDecl))
        span = self.sp(meta) if items else ast.UNKNOWN_SPAN
        return ast.RecordType(fields, any(c == "open" for c in items), span)

    def open_record(self, _):
        return "open"

    @v_args(meta=True)
    def field(self, meta, children):
        name, optional, typ = children
        return ast.FieldDecl(str(name), typ, optional is not None, self.sp(meta), self.sp(name))

    @v_args(meta=True)
    def type(self, meta, children):
        if len(children) == 1 and not isinstance(children[0], ast.Literal):
            return children[0]
        # A union: only of literals (an enum). Anything else is reported once.
        bad = [c for c in children if not isinstance(c, ast.Literal)]
        if bad:
            self.diags.error("E109", "a union lists literal values (an enum), such as \"p0\" | \"p1\"",
                             bad[0].span, hint="write one type, or only literals joined by |")
        return ast.EnumType(tuple(c for c in children if isinstance(c, ast.Literal)), self.sp(meta))

    @v_args(meta=True)
    def type_name(self, meta, children):
        return ast.TypeName(str(children[0]), self.sp(meta))

    @v_args(meta=True)
    def list_type(self, meta, children):
        return ast.ListType(children[0], self.sp(meta))

    @v_args(meta=True)
    def record_type(self, meta, children):
        rec = children[0]
        return ast.RecordType(rec.fields, rec.open, self.sp(meta))

    def enum_value(self, children):
        return children[0]

    # -- PII allow-lists
    @v_args(meta=True)
    def allow_decl(self, meta, children):
        name, items = children
        return ast.AllowDecl(ast.Name(str(name), self.sp(name)), items, self.sp(meta))

    def allow_items(self, children):
        return tuple(c for c in children if c is not None)

    @v_args(meta=True)
    def allow_value(self, meta, children):
        return ast.AllowItem("value", self._string_value(children[0]), "", self.sp(meta))

    @v_args(meta=True)
    def allow_domain(self, meta, children):
        return ast.AllowItem("domain", self._string_value(children[0]), "", self.sp(meta))

    @v_args(meta=True)
    def allow_regex(self, meta, children):
        rx = self._regex(children[0])
        return ast.AllowItem("regex", rx.pattern, rx.flags, self.sp(meta))

    @v_args(meta=True)
    def terms_def(self, meta, children):
        return ast.TermsDef(str(children[0]), children[1], self.sp(meta))

    @v_args(meta=True)
    def label_def(self, meta, children):
        name, doc = children
        return ast.LabelDef(str(name), self._string_value(doc) if doc is not None else None, self.sp(meta))

    @v_args(meta=True)
    def limit_def(self, meta, children):
        name, count, window, *keys = children
        window_lit = ast.Literal(self._string_value(window), self.sp(window))
        value = self._number_value(count)
        return ast.LimitDef(str(name), value, window_lit, tuple(keys), self.sp(meta))

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
        imports, settings, defs, stages, schemas, allows = [], [], [], [], [], []
        for item in items:
            if isinstance(item, ast.Import):
                imports.append(item)
            elif isinstance(item, tuple) and item and item[0] == "config":
                settings.extend(item[1])
            elif isinstance(item, ast.StageBlock):
                stages.append(item)
            elif isinstance(item, (ast.ToolDecl, ast.ShapeDecl)):
                schemas.append(item)
            elif isinstance(item, ast.AllowDecl):
                allows.append(item)
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
            tuple(schemas),
            tuple(allows),
        )


def _joined(a: Span, b: Span) -> Span:
    """The span from the start of `a` to the end of `b`."""
    return Span(a.file, a.line, a.col, b.end_line, b.end_col, a.start, b.end)


__all__ = ["AstBuilder", "span_of"]
