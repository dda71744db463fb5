"""Render AST back to canonical source text.

Used for messages, traces and graph labels today; `guardrails fmt` builds on
the same functions.
"""

from __future__ import annotations

import json
import math

from guardrails import ast

#: Binding strength of the boolean operators: a child binding more loosely
#: than its parent gets parentheses (see :func:`format_operand`).
PRECEDENCE = {ast.Or: 1, ast.And: 2, ast.Not: 3}
_TEST = 4
_OPERAND = 5


def _prec(e: ast.Expr) -> int:
    if type(e) in PRECEDENCE:
        return PRECEDENCE[type(e)]
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
        return json.dumps(v, ensure_ascii=False)
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
    match e:
        case ast.Literal(value=v):
            return format_literal(v)
        case ast.ListLit(items=items):
            return "[" + ", ".join(format_literal(i.value) for i in items) + "]"
        case ast.Var(name=n):
            return n
        case ast.Attr(obj=o, name=n):
            return f"{_object(o)}.{n}"
        case ast.Index(obj=o, key=k):
            return f"{_object(o)}[{format_literal(k)}]"
        case ast.Call(func=f, args=args, kwargs=kwargs):
            parts = [format_expr(a) for a in args] + [f"{k.name}={format_literal(k.value.value)}" for k in kwargs]
            return f"{f}({', '.join(parts)})"
        case ast.Not(operand=o):
            # `not (a == 1)` reads better than the equivalent `not a == 1`.
            if _prec(o) == _TEST:
                return f"not ({format_expr(o)})"
            return f"not {format_operand(o, PRECEDENCE[ast.Not])}"
        case ast.And(operands=ops):
            return " and ".join(format_operand(o, PRECEDENCE[ast.And], strict=isinstance(o, ast.And)) for o in ops)
        case ast.Or(operands=ops):
            return " or ".join(format_operand(o, PRECEDENCE[ast.Or], strict=isinstance(o, ast.Or)) for o in ops)
        case ast.Compare(op=op, left=l, right=r):
            return f"{format_operand(l, _OPERAND)} {op} {format_operand(r, _OPERAND)}"
        case ast.In(item=i, container=c, negated=neg):
            return f"{format_operand(i, _OPERAND)} {'not in' if neg else 'in'} {format_operand(c, _OPERAND)}"
        case ast.Matches(subject=s, regex=rx, pattern=pat):
            return f"{format_operand(s, _OPERAND)} matches {format_regex(rx) if rx is not None else pat}"
        case ast.StrTest(op=op, left=l, right=r):
            return f"{format_operand(l, _OPERAND)} {op} {format_operand(r, _OPERAND)}"
        case ast.Has(obj=o, key=k):
            key = k if _is_name(k) else json.dumps(k)
            return f"{format_operand(o, _OPERAND)} has {key}"
    raise TypeError(f"not an expression: {e!r}")


def _object(o: ast.Expr) -> str:
    """The object of `.name` or `[key]`."""
    if isinstance(o, ast.Literal) and _is_number(o.value):
        return f"({format_expr(o)})"  # `2.y` would lex as the number `2.` then a name
    return format_operand(o, _OPERAND)


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
