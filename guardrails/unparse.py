"""Render AST back to canonical source text.

Used for messages, traces and graph labels today; `guardrails fmt` builds on
the same functions.
"""

from __future__ import annotations

import json
import math
from json.encoder import encode_basestring

from guardrails import ast

#: Binding strength of the boolean operators: a child binding more loosely
#: than its parent gets parentheses (see :func:`format_operand`).
PRECEDENCE = {ast.Or: 1, ast.And: 2, ast.Not: 3}
_TEST = 4
_OPERAND = 5


def _prec(e: ast.Expr) -> int:
    p = _PREC.get(type(e))
    if p is not None:
        return p
    if isinstance(e, (ast.Compare, ast.In, ast.Matches, ast.StrTest, ast.Has)):
        return _TEST
    return _OPERAND


def format_literal(v) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, str):
        return encode_basestring(v)  # what json.dumps(v, ensure_ascii=False) returns, without its encoder
    if isinstance(v, float) and math.isinf(v):
        return "1e999" if v > 0 else "-1e999"  # what the parser reads back as infinity
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return f"{v:.1f}"
    return repr(v)


def format_regex(rx: ast.RegexLit) -> str:
    return "/" + rx.pattern.replace("/", "\\/") + "/" + rx.flags


def format_operand(child: ast.Expr, parent_prec: int, strict: bool = False) -> str:
    """`child` as an operand of an operator binding `parent_prec`, in parentheses
    when it binds more loosely (or, with `strict`, as loosely)."""
    text = format_expr(child)
    p = _prec(child)
    if p < parent_prec or (strict and p == parent_prec):
        return f"({text})"
    return text


def format_expr(e: ast.Expr) -> str:
    # One table lookup by the node's type: a load formats tens of thousands
    # of expressions (messages, traces and the logic pass's keys).
    f = _FORMAT.get(type(e))
    if f is None:
        f = next((g for t, g in _FORMAT.items() if isinstance(e, t)), None)
        if f is None:
            raise TypeError(f"not an expression: {e!r}")
    return f(e)


def _operand(e: ast.Expr) -> str:
    """`format_operand(e, _OPERAND)`: parentheses unless `e` is an operand itself."""
    text = format_expr(e)
    return text if _prec(e) == _OPERAND else f"({text})"


def _f_call(e: ast.Call) -> str:
    parts = [format_expr(a) for a in e.args] + [f"{k.name}={format_literal(k.value.value)}" for k in e.kwargs]
    return f"{e.func}({', '.join(parts)})"


def _f_not(e: ast.Not) -> str:
    o = e.operand
    # `not (a == 1)` reads better than the equivalent `not a == 1`.
    if _prec(o) == _TEST:
        return f"not ({format_expr(o)})"
    return f"not {format_operand(o, PRECEDENCE[ast.Not])}"


def _f_and(e: ast.And) -> str:
    return " and ".join(format_operand(o, 2, strict=isinstance(o, ast.And)) for o in e.operands)


def _f_or(e: ast.Or) -> str:
    return " or ".join(format_operand(o, 1, strict=isinstance(o, ast.Or)) for o in e.operands)


def _f_matches(e: ast.Matches) -> str:
    return f"{_operand(e.subject)} matches {format_regex(e.regex) if e.regex is not None else e.pattern}"


def _f_has(e: ast.Has) -> str:
    key = e.key if _is_name(e.key) else json.dumps(e.key)
    return f"{_operand(e.obj)} has {key}"


_FORMAT = {
    ast.Literal: lambda e: format_literal(e.value),
    ast.ListLit: lambda e: "[" + ", ".join(format_literal(i.value) for i in e.items) + "]",
    ast.Var: lambda e: e.name,
    ast.Attr: lambda e: f"{_object(e.obj)}.{e.name}",
    ast.Index: lambda e: f"{_object(e.obj)}[{format_literal(e.key)}]",
    ast.Call: _f_call,
    ast.Not: _f_not,
    ast.And: _f_and,
    ast.Or: _f_or,
    ast.Compare: lambda e: f"{_operand(e.left)} {e.op} {_operand(e.right)}",
    ast.In: lambda e: f"{_operand(e.item)} {'not in' if e.negated else 'in'} {_operand(e.container)}",
    ast.Matches: _f_matches,
    ast.StrTest: lambda e: f"{_operand(e.left)} {e.op} {_operand(e.right)}",
    ast.Has: _f_has,
}
_PREC = {**PRECEDENCE,
         **dict.fromkeys((ast.Compare, ast.In, ast.Matches, ast.StrTest, ast.Has), _TEST),
         **dict.fromkeys((ast.Literal, ast.ListLit, ast.Var, ast.Attr, ast.Index, ast.Call), _OPERAND)}


def _object(o: ast.Expr) -> str:
    """The object of `.name` or `[key]`."""
    if type(o) is ast.Var:
        return o.name
    if isinstance(o, ast.Literal) and _is_number(o.value):
        return f"({format_expr(o)})"  # `2.y` would lex as the number `2.` then a name
    return _operand(o)


class LazySource:
    """An expression's :func:`format_expr` text, made the first time it is printed.

    The closures name their operands in runtime messages (``args.x is a
    string, not true or false``), but almost none ever raises: formatting every
    operand at load time cost about half the compile of 10,000 rules. An
    f-string or ``str()`` gives the same text as ``format_expr`` would have, and
    the text is kept once made. The expression is kept until then.
    """

    __slots__ = ("expr", "text")

    def __init__(self, expr: ast.Expr):
        self.expr = expr
        self.text: str | None = None

    def __str__(self) -> str:
        text = self.text
        if text is None:
            text = self.text = format_expr(self.expr)
        return text

    def __repr__(self) -> str:
        return repr(str(self))


def lazy_source(e: ast.Expr) -> str | LazySource:
    """What prints as ``format_expr(e)``: a name as it is (nothing to format),
    anything else as a :class:`LazySource`."""
    return e.name if type(e) is ast.Var else LazySource(e)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_name(s: str) -> bool:
    import re

    return re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", s) is not None


# ---- schemas ------------------------------------------------------------------


def format_type(t: ast.TypeExpr) -> str:
    match t:
        case ast.TypeName(name=name):
            return name
        case ast.ListType(elem=elem):
            return f"list[{format_type(elem)}]"
        case ast.EnumType(values=values):
            return " | ".join(format_literal(v.value) for v in values)
        case ast.RecordType():
            inner = ", ".join(_fields(t))
            return "{" + (f" {inner} " if inner else "") + "}"
    raise TypeError(f"not a type: {t!r}")


def _fields(r: ast.RecordType) -> list[str]:
    out = [f"{f.name}{'?' if f.optional else ''}: {format_type(f.type)}" for f in r.fields]
    return out + (["..."] if r.open else [])


def _setting_value(s: ast.Setting) -> str:
    if isinstance(s.value, ast.ListLit):
        return "[" + ", ".join(format_literal(i.value) for i in s.value.items) + "]"
    return format_literal(s.value.value)


def format_allow_item(item: "ast.AllowItem") -> str:
    """One allow-list entry as written: ``"value"``, ``domain "d"``, ``/regex/flags``."""
    if item.kind == "regex":
        return format_regex(ast.RegexLit(item.value, item.flags))
    return ("domain " if item.kind == "domain" else "") + format_literal(item.value)


def format_schema(d: "ast.SchemaDecl", width: int = 100) -> list[str]:
    """A tool or shape declaration: on one line when it fits in `width`,
    else one field per line."""
    fields = _fields(d.args if isinstance(d, ast.ToolDecl) else d.record)
    if isinstance(d, ast.ToolDecl):
        name = d.name if _is_name(d.name) else format_literal(d.name)
        attrs = ", ".join(f"{a.key} = {_setting_value(a)}" for a in d.attributes)
        tail = ")" + (f" with {attrs}" if attrs else "")
        one = f"tool {name}(" + ", ".join(fields) + tail
        if len(one) <= width or not fields:
            return [one]
        return [f"tool {name}(", *(f"    {f}," for f in fields), tail]
    one = f"{d.root} {{" + (" " + ", ".join(fields) + " " if fields else "") + "}"
    if len(one) <= width or not fields:
        return [one]
    return [f"{d.root} {{", *(f"    {f}," for f in fields), "}"]
