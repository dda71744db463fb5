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
    names = frozenset(f.name for f in ty.fields)
    required = tuple(f.name for f in ty.fields if not f.optional)
    checked = tuple((f.name, c) for f in ty.fields if (c := compile_check(f.ty)) is not None)
    closed = not ty.open

    def record(v: Any):
        if type(v) is not dict:
            return ("", f"is a {kind_of(v)}; expected an object")
        # An unknown name first: a misspelt argument is also a missing one,
        # and "did you mean" says more than "lacks". Sorted: a JSON object
        # has no order, and the message must not depend on the wire's.
        if closed and not v.keys() <= names:
            key = sorted(set(v) - names)[0]
            hint = suggest(key, sorted(names), f"{what}s")
            return ("", f"has an unknown {what} {key!r}" + (f" ({hint})" if hint else ""))
        for name in required:
            if name not in v:
                return ("", f"lacks the required {what} {name!r}")
        for name, check in checked:
            if name in v:
                bad = check(v[name])
                if bad:
                    return (f".{name}{bad[0]}", bad[1])
        return None

    return record


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


def _literal(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(v)
