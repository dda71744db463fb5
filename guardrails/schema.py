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
from typing import Any, Iterable

from guardrails import ast
from guardrails.diagnostics import Diagnostics
from guardrails.resolve import suggest
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
                return " | ".join(_literal(v) for v in self.values)
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
                    diags.error("E104", f"{_literal(lit.value)} is listed twice", lit.span)
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
    return Schema(tools, {root: Ty("record", fields=tuple(fs), open=o) for root, (fs, o) in shapes.items()})


# ---- requests against the schema --------------------------------------------


def request_problem(schema: Schema, tool: str | None = None, args: Any = None, principal: Any = None,
                    context: Any = None, metadata: list[dict] = ()) -> str | None:
    """Why a request does not match `schema`, or None. Checked once, before
    any rule runs: an undeclared argument, a missing required one, a value
    of the wrong type. A tool the schema does not declare is not checked
    here (``tool_default`` decides calls of unknown tools). `metadata` are
    the retrieved chunks' metadata, in order."""
    if tool is not None:
        decl = schema.tools.get(tool)
        if decl is not None:
            bad = record_problem(args or {}, decl.args, "args", what="argument")
            if bad:
                return f"tool {tool!r}: {bad}"
    for root, value in (("principal", principal), ("context", context)):
        shape = schema.shapes.get(root)
        if shape is not None and value is not None:
            bad = record_problem(value, shape, root)
            if bad:
                return bad
    shape = schema.shapes.get("metadata")
    for i, meta in enumerate(metadata if shape is not None else ()):
        bad = record_problem(meta, shape, f"chunks[{i}].metadata")
        if bad:
            return bad
    return None


def problem(value: Any, ty: Ty, path: str) -> str | None:
    """Why `value` does not match `ty` (naming the field), or None."""
    match ty.kind:
        case "any":
            return None
        case "string":
            ok = isinstance(value, str)
        case "boolean":
            ok = isinstance(value, bool)
        case "number":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        case "integer":
            ok = (isinstance(value, int) and not isinstance(value, bool)) or (
                isinstance(value, float) and value.is_integer())
        case "enum":
            if any(value == v and kind_of(value) == kind_of(v) for v in ty.values):
                return None
            return f"{path} is a {kind_of(value)} outside its enum; expected one of {ty.describe()}"
        case "list":
            if not isinstance(value, list):
                return f"{path} is a {kind_of(value)}; expected {ty.describe()}"
            for i, item in enumerate(value):
                bad = problem(item, ty.elem, f"{path}[{i}]")
                if bad:
                    return bad
            return None
        case "record":
            if not isinstance(value, dict):
                return f"{path} is a {kind_of(value)}; expected an object"
            return record_problem(value, ty, path)
        case _:
            raise AssertionError(ty.kind)
    if ok:
        return None
    # Never the value itself: the message reaches the decision log, which
    # must not hold the personal data the request may carry.
    return f"{path} is a {kind_of(value)}; expected {ty.describe()}"


def record_problem(value: dict, ty: Ty, path: str, *, what: str = "field") -> str | None:
    # An unknown name first: a misspelt argument is also a missing one, and
    # "did you mean" says more than "lacks".
    if not ty.open:
        for key in value:
            if ty.field(key) is None:
                hint = suggest(key, [f.name for f in ty.fields], f"{what}s")
                return f"{path} has an unknown {what} {key!r}" + (f" ({hint})" if hint else "")
    for f in ty.fields:
        if f.name not in value:
            if not f.optional:
                return f"{path} lacks the required {what} {f.name!r}"
            continue
        bad = problem(value[f.name], f.ty, f"{path}.{f.name}")
        if bad:
            return bad
    return None


def _literal(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(v)
