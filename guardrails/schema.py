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
    # The check of a call's tool, args, principal and context, built from `checks` (call_check).
    call_problem: CallCheck | None = field(default=None, compare=False, repr=False)

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
    return Schema(tools, records, checks, call_check(checks))


# ---- requests against the schema --------------------------------------------

#: A compiled check of one value: None when it matches, else (where below the
#: value, what is wrong), so the path is only built for a request refused.
Check = Callable[[Any], "tuple[str, str] | None"]
#: A compiled check of a call: (tool, args, principal, context) -> why it does not match, or None.
CallCheck = Callable[[Any, Any, Any, Any], "str | None"]


def compile_check(ty: Ty, what: str = "field", quick: bool = True) -> Check | None:
    """The check of a value against `ty`, decided once at load (None: any
    value matches). Messages name the kind of a wrong value, never the value:
    they reach the decision log, which must not hold the data it protects.
    `quick` False leaves out the records' quick pass (_record_check): the
    tests' reference, which must give the same answer for every value."""
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
        elem = compile_check(ty.elem, quick=quick) if ty.elem is not None else None

        def each(v: Any):
            if type(v) is not list:
                return ("", f"is a {kind_of(v)}; expected {expected}")
            if elem is not None:
                for item in v:
                    if elem(item):
                        break
                else:
                    return None
                for i, item in enumerate(v):  # (which item, only for a list refused)
                    bad = elem(item)
                    if bad:
                        return (f"[{i}]{bad[0]}", bad[1])
            return None

        return each
    return _record_check(ty, what, quick)


def _record_check(ty: Ty, what: str, quick: bool = True) -> Check:
    """A record's check as one generated function in two parts.

    The quick pass is for the value that matches with plain types, as
    nearly every request's does: it reads each field once, counts the
    declared names present against the object's size (so no unknown name,
    without building a set) and tests each value's exact type (an enum of
    strings is one set lookup). It returns None only where the second part
    would; anything else (a problem, a bool or str subclass, a missing
    name) falls through to that part, which says what is wrong.

    The second part tests in the order of the messages: an unknown name
    first (a misspelt argument is also a missing one, and "did you mean"
    says more than "lacks"), then the required names, then each field's
    type, as declared. Scalar and enum fields are tested inline (a function
    call per field was most of the check's cost); nested lists and records
    call their own checks, shared by both parts."""
    names = frozenset(f.name for f in ty.fields)
    env: dict[str, Any] = {"kind_of": kind_of, "NAMES": names, "MISSING": _MISSING}
    for i, f in enumerate(ty.fields):
        if f.ty.kind not in _INLINE and f.ty.kind != "enum" and (sub := compile_check(f.ty, quick=quick)) is not None:
            env[f"SUB{i}"] = sub
    src = ["def check(v):", *(_quick_pass(ty, env) if quick else ()),
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
        elif f"SUB{i}" in env:
            src += [read, f"    if {present.removesuffix(' and ') or 'True'}:", f"        r = SUB{i}(x)",
                    "        if r:", f"            return ({'.' + f.name!r} + r[0], r[1])"]
    src.append("    return None")
    exec(compile("\n".join(src), f"<schema check: {ty.describe()[:60]}>", "exec"), env)
    return env["check"]


def _quick_pass(ty: Ty, env: dict[str, Any]) -> list[str]:
    """The generated lines of a record check's quick pass (see _record_check)."""
    required, optional, present, tests = [], [], [], []
    for i, f in enumerate(ty.fields):
        x, test = f"x{i}", _exact_test(f.ty, f"x{i}", i, env)
        if f.optional:
            optional.append(f"        {x} = v.get({f.name!r}, MISSING)")
            present.append(f"({x} is not MISSING)")
            if test is not None:
                tests.append(f"({x} is MISSING or {test})")
        else:
            required.append(f"            {x} = v[{f.name!r}]")  # (in the try: a missing name is a KeyError)
            if test is not None:
                tests.append(test)
    if not ty.open:
        tests.insert(0, f"len(v) == {' + '.join([str(len(required)), *present])}")
    return ["    if type(v) is dict:",
            "        try:", *(required or ["            pass"]),
            "        except KeyError:",
            "            pass",
            "        else:",
            *["    " + line for line in optional],
            f"            if {' and '.join(tests) or 'True'}:",
            "                return None"]


def _exact_test(ty: Ty, x: str, i: int, env: dict[str, Any]) -> str | None:
    """An expression true only where the value `x` passes `ty`'s check,
    with plain types (None: every value passes). A nested list or record
    uses its check, SUB{i} in `env`."""
    kind = ty.kind
    if kind in _EXACT:
        return _EXACT[kind].format(x=x)
    if kind == "enum":
        strings = frozenset(v for v in ty.values if type(v) is str)
        numbers = frozenset(v for v in ty.values if type(v) in (int, float))
        flags = frozenset(v for v in ty.values if type(v) is bool)
        parts = []
        if strings:
            env[f"STRINGS{i}"] = strings
            parts.append(f"type({x}) is str and {x} in STRINGS{i}")
        if numbers:
            env[f"NUMBERS{i}"] = numbers
            parts.append(f"(type({x}) is int or type({x}) is float) and {x} in NUMBERS{i}")
        if flags:
            env[f"FLAGS{i}"] = flags
            parts.append(f"({x} is True or {x} is False) and {x} in FLAGS{i}")
        return "(" + " or ".join(f"({p})" for p in parts) + ")" if parts else "False"
    return f"SUB{i}({x}) is None" if f"SUB{i}" in env else None


#: Exact-type tests of the quick pass, stricter than _INLINE's (no subclass, no bool as a number).
_EXACT = {
    "string": "type({x}) is str",
    "boolean": "({x} is True or {x} is False)",
    "number": "(type({x}) is int or type({x}) is float)",
    "integer": "(type({x}) is int or type({x}) is float and {x}.is_integer())",
}


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


def call_check(checks: dict[Any, Check]) -> CallCheck:
    """request_problem's check of a call (tool, args, principal, context),
    decided once at load: the tools' checks by name, and a check of a shape
    the schema does not declare is left out rather than looked up per call."""
    by_tool = {key[1]: check for key, check in checks.items() if type(key) is tuple}
    tool_check, principal_check, context_check = by_tool.get, checks.get("principal"), checks.get("context")

    def problem(tool: Any, args: Any, principal: Any, context: Any) -> str | None:
        # `args` None: a tool result sent without its call's arguments; there is
        # nothing to check, and a rule that reads them fails closed.
        if args is not None and (check := tool_check(tool)) is not None and (bad := check(args)):
            return f"tool {tool!r}: args{bad[0]} {bad[1]}"
        if principal is not None and principal_check is not None and (bad := principal_check(principal)):
            return f"principal{bad[0]} {bad[1]}"
        if context is not None and context_check is not None and (bad := context_check(context)):
            return f"context{bad[0]} {bad[1]}"
        return None

    return problem


def request_problem(schema: Schema, tool: str | None = None, args: Any = None, principal: Any = None,
                    context: Any = None, metadata: list[dict] = ()) -> str | None:
    """Why a request does not match `schema`, or None. Checked once, before
    any rule runs: an undeclared argument, a missing required one, a value
    of the wrong type. A tool the schema does not declare is not checked
    here (``tool_default`` decides calls of unknown tools). `metadata` are
    the retrieved chunks' metadata, in order."""
    call = schema.call_problem or call_check(schema.checks)
    bad = call(tool, args, principal, context)
    if bad:
        return bad
    check = schema.checks.get("metadata")
    for i, meta in enumerate(metadata if check is not None else ()):
        bad = check(meta)
        if bad:
            return f"chunks[{i}].metadata{bad[0]} {bad[1]}"
    return None
