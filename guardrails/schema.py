"""Schemas: what a policy acts on, declared in the policy (docs/schema.md).

``tool NAME(arg: TYPE, ...) with attr = value`` declares a tool's arguments
and attributes; ``principal { ... }``, ``context { ... }`` and ``metadata
{ ... }`` declare the shape of those request values. This module turns the
declarations of a file and the modules it imports into one :class:`Schema`
(reporting bad and clashing declarations), and holds what reads it: the
types the checker gives attribute paths (:mod:`guardrails.typecheck`) and
the check of a request against the schema before any rule runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from guardrails import ast
from guardrails.diagnostics import Diagnostics
from guardrails.resolve import suggest
from guardrails.unparse import format_literal
from guardrails.values import kind_of

#: The type names a declaration may use.
TYPE_NAMES = ("string", "number", "integer", "boolean", "any")
#: The request values a shape declaration describes.
SHAPE_ROOTS = ("principal", "context", "metadata")


@dataclass(frozen=True, slots=True)
class Ty:
    """A declared type. ``kind`` is one of string, number, integer, boolean,
    any, list (``elem``), record (``fields``, ``open``) or enum (``values``);
    or ``mixed`` (``alts``): an argument several tools declare with different
    types, which a rule naming none of them may only test for equality."""

    kind: str
    elem: "Ty | None" = None
    fields: tuple["FieldTy", ...] = ()
    open: bool = False
    values: tuple[Any, ...] = ()
    alts: tuple["Ty", ...] = ()

    def field(self, name: str) -> "FieldTy | None":
        for f in self.fields:
            if f.name == name:
                return f
        return None

    @property
    def value_kind(self) -> str:
        """The checker's name for a value of this type (values.kind_of's vocabulary)."""
        if self.kind == "enum":
            kinds = {kind_of(v) for v in self.values}
            return kinds.pop() if len(kinds) == 1 else "any"
        return {"string": "string", "number": "number", "integer": "number", "boolean": "bool", "any": "any",
                "list": "list", "record": "map", "mixed": MIXED}[self.kind]

    def describe(self) -> str:
        match self.kind:
            case "list":
                return f"list[{self.elem.describe()}]"
            case "record":
                inner = ", ".join(f"{f.name}{'?' if f.optional else ''}: {f.ty.describe()}" for f in self.fields)
                return "{" + inner + (", ..." if self.open else "") + "}"
            case "enum":
                return " | ".join(format_literal(v) for v in self.values)
            case "mixed":
                return " or ".join(a.describe() for a in self.alts)
        return self.kind


@dataclass(frozen=True, slots=True)
class FieldTy:
    name: str
    ty: Ty
    optional: bool


ANY = Ty("any")
#: The checker's kind for a `mixed` value: no operator but == and != takes it.
MIXED = "value whose type differs between the rule's tools"


@dataclass(frozen=True, slots=True)
class ToolSchema:
    name: str
    args: Ty  # a record
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Schema:
    """Every declaration a file can see: its own and its imports'."""

    tools: dict[str, ToolSchema] = field(default_factory=dict)
    shapes: dict[str, Ty] = field(default_factory=dict)  # principal / context / metadata -> record
    # Compiled request checks: ("tool", name) -> its arguments' check; a shape's root -> its check.
    checks: dict[Any, Check] = field(default_factory=dict, compare=False, repr=False)

    @property
    def empty(self) -> bool:
        return not self.tools and not self.shapes

    def attribute_names(self) -> list[str]:
        return sorted({a for t in self.tools.values() for a in t.attributes})


EMPTY = Schema()


def type_of(t: ast.TypeExpr, diags: Diagnostics) -> Ty:
    """A declared type; unknown names are E109 (and read as any)."""
    match t:
        case ast.TypeName(name=name):
            if name in TYPE_NAMES:
                return Ty(name)
            diags.error("E109", f"unknown type {name!r}", t.span,
                        hint=suggest(name, [*TYPE_NAMES, "list"], "types") or
                        f"types are {', '.join(TYPE_NAMES)}, list[T], {{...}} or literals joined by |")
            return ANY
        case ast.ListType(elem=elem):
            return Ty("list", elem=type_of(elem, diags))
        case ast.EnumType(values=values):
            seen: list[Any] = []
            for lit in values:
                if lit.value is None or isinstance(lit.value, float) and not math.isfinite(lit.value):
                    diags.error("E109", "an enum lists strings, numbers or booleans", lit.span)
                elif any(lit.value == v and type(lit.value) is type(v) for v in seen):
                    diags.error("E104", f"{format_literal(lit.value)} is listed twice", lit.span)
                else:
                    seen.append(lit.value)
            return Ty("enum", values=tuple(seen))
        case ast.RecordType():
            return record_of(t, diags)
    raise AssertionError(t)


def record_of(r: ast.RecordType, diags: Diagnostics) -> Ty:
    fields: list[FieldTy] = []
    for f in r.fields:
        if any(g.name == f.name for g in fields):
            diags.error("E104", f"field {f.name!r} is declared twice", f.name_span)
            continue
        fields.append(FieldTy(f.name, type_of(f.type, diags), f.optional))
    return Ty("record", fields=tuple(fields), open=r.open)


def build_schema(policies: Iterable[ast.Policy], diags: Diagnostics) -> Schema:
    """One schema from the declarations of `policies` (a file and its
    imports). A tool declared twice, or a field of a shape declared in two
    places, is E104; shapes declared in several modules are merged."""
    tools: dict[str, ToolSchema] = {}
    where: dict[str, ast.ToolDecl] = {}
    shapes: dict[str, tuple[list[FieldTy], bool]] = {}
    for p in policies:
        for d in p.schemas:
            if isinstance(d, ast.ToolDecl):
                if d.name in where:
                    first = where[d.name]
                    diags.error("E104", f"tool {d.name!r} is declared twice (first in {first.span.file} "
                                f"line {first.span.line})", d.name_span)
                    continue
                where[d.name] = d
                attrs: dict[str, Any] = {}
                for a in d.attributes:
                    if a.key in attrs:
                        diags.error("E104", f"attribute {a.key!r} of tool {d.name!r} is set twice", a.span)
                    attrs[a.key] = a.python_value
                tools[d.name] = ToolSchema(d.name, record_of(d.args, diags), attrs)
            else:
                rec = record_of(d.record, diags)
                fields, is_open = shapes.get(d.root, ([], False))
                for f in rec.fields:
                    if any(g.name == f.name for g in fields):
                        diags.error("E104", f"{d.root}.{f.name} is declared twice", d.span)
                    else:
                        fields.append(f)
                shapes[d.root] = (fields, is_open or rec.open)
    records = {root: Ty("record", fields=tuple(fs), open=o) for root, (fs, o) in shapes.items()}
    checks: dict[Any, Check] = {("tool", name): _record_check(t.args, "argument") for name, t in tools.items()}
    checks.update((root, _record_check(ty, "field")) for root, ty in records.items())
    return Schema(tools, records, checks)


# ---- requests against the schema --------------------------------------------

#: A compiled check of one value: None when it matches, else (where below the
#: value, what is wrong), so the path is only built for a request refused.
Check = Callable[[Any], "tuple[str, str] | None"]


def compile_check(ty: Ty, what: str = "field") -> Check | None:
    """The check of a value against `ty`, decided once at load (None: any
    value matches). Messages name the kind of a wrong value, never the value:
    they reach the decision log, which must not hold the data it protects."""
    kind, expected = ty.kind, ty.describe()
    if kind in ("any", "mixed"):
        return None
    if kind in ("string", "boolean", "number", "integer"):
        test = _SCALARS[kind]
        return lambda v: None if test(v) else ("", f"is a {kind_of(v)}; expected {expected}")
    if kind == "enum":
        allowed = frozenset((kind_of(v), v) for v in ty.values)

        def enum(v: Any):
            if isinstance(v, (str, int, float)) and (kind_of(v), v) in allowed:
                return None
            return ("", f"is a {kind_of(v)} outside its enum; expected one of {expected}")

        return enum
    if kind == "list":
        elem = compile_check(ty.elem) if ty.elem is not None else None

        def each(v: Any):
            if type(v) is not list:
                return ("", f"is a {kind_of(v)}; expected {expected}")
            if elem is not None:
                for i, item in enumerate(v):
                    bad = elem(item)
                    if bad:
                        return (f"[{i}]{bad[0]}", bad[1])
            return None

        return each
    return _record_check(ty, what)


def _record_check(ty: Ty, what: str) -> Check:
    """A record's check as one generated function: the scalar and enum
    fields are tested inline (a function call per field was most of the
    check's cost), nested lists and records call their own checks. The order
    of the tests is the order of the messages: an unknown name first (a
    misspelt argument is also a missing one, and "did you mean" says more
    than "lacks"), then the required names, then each field's type, as
    declared."""
    names = frozenset(f.name for f in ty.fields)
    env: dict[str, Any] = {"kind_of": kind_of, "NAMES": names, "MISSING": _MISSING}
    src = ["def check(v):",
           "    if type(v) is not dict:",
           "        return ('', 'is a ' + kind_of(v) + '; expected an object')"]
    if not ty.open:
        def unknown(v: dict) -> tuple[str, str]:
            # Sorted: a JSON object has no order, and the message must not depend on the wire's.
            key = sorted(set(v) - names)[0]
            hint = suggest(key, sorted(names), f"{what}s")
            return ("", f"has an unknown {what} {key!r}" + (f" ({hint})" if hint else ""))

        env["unknown"] = unknown
        src += ["    if not v.keys() <= NAMES:", "        return unknown(v)"]
    for i, f in enumerate(x for x in ty.fields if not x.optional):
        env[f"LACKS{i}"] = ("", f"lacks the required {what} {f.name!r}")
        src += [f"    if {f.name!r} not in v:", f"        return LACKS{i}"]
    for i, f in enumerate(ty.fields):
        test = _INLINE.get(f.ty.kind)
        if f.ty.kind == "enum":
            env[f"ENUM{i}"] = frozenset((kind_of(v), v) for v in f.ty.values)
            test = f"(isinstance(x, (str, int, float)) and (kind_of(x), x) in ENUM{i})"
        read = f"    x = v[{f.name!r}]" if not f.optional else f"    x = v.get({f.name!r}, MISSING)"
        present = "" if not f.optional else "x is not MISSING and "
        if test is not None:
            env[f"BAD{i}"] = _scalar_problem(f.ty, f".{f.name}")
            src += [read, f"    if {present}not {test}:", f"        return BAD{i}(x)"]
        elif (sub := compile_check(f.ty)) is not None:
            env[f"SUB{i}"] = sub
            src += [read, f"    if {present.removesuffix(' and ') or 'True'}:", f"        r = SUB{i}(x)",
                    "        if r:", f"            return ({'.' + f.name!r} + r[0], r[1])"]
    src.append("    return None")
    exec(compile("\n".join(src), f"<schema check: {ty.describe()[:60]}>", "exec"), env)
    return env["check"]


_MISSING = object()

#: Scalar tests inlined in a record's generated check, on the field's value `x`.
_INLINE = {
    "string": "(type(x) is str or isinstance(x, str))",
    "boolean": "(x is True or x is False)",
    "number": "(isinstance(x, (int, float)) and x is not True and x is not False)",
    "integer": "((isinstance(x, int) and x is not True and x is not False) or (isinstance(x, float) and x.is_integer()))",
}


def _scalar_problem(ty: Ty, where: str) -> Callable[[Any], tuple[str, str]]:
    expected = ty.describe()
    if ty.kind == "enum":
        return lambda x: (where, f"is a {kind_of(x)} outside its enum; expected one of {expected}")
    return lambda x: (where, f"is a {kind_of(x)}; expected {expected}")


_SCALARS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: type(v) is str or isinstance(v, str),
    "boolean": lambda v: v is True or v is False,
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
}


def request_problem(schema: Schema, tool: str | None = None, args: Any = None, principal: Any = None,
                    context: Any = None, metadata: list[dict] = ()) -> str | None:
    """Why a request does not match `schema`, or None. Checked once, before
    any rule runs: an undeclared argument, a missing required one, a value
    of the wrong type. A tool the schema does not declare is not checked
    here (``tool_default`` decides calls of unknown tools). `metadata` are
    the retrieved chunks' metadata, in order."""
    checks = schema.checks
    # `args` None: a tool result sent without its call's arguments; there is
    # nothing to check, and a rule that reads them fails closed.
    if tool is not None and args is not None and (check := checks.get(("tool", tool))) is not None:
        bad = check(args)
        if bad:
            return f"tool {tool!r}: args{bad[0]} {bad[1]}"
    for root, value in (("principal", principal), ("context", context)):
        if value is not None and (check := checks.get(root)) is not None:
            bad = check(value)
            if bad:
                return f"{root}{bad[0]} {bad[1]}"
    check = checks.get("metadata")
    for i, meta in enumerate(metadata if check is not None else ()):
        bad = check(meta)
        if bad:
            return f"chunks[{i}].metadata{bad[0]} {bad[1]}"
    return None
