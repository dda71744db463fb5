"""Attribute paths (``args.amount``, ``tool.owner``, ``principal.role``):
what may follow a path, and what a path is.

Two sources, the declared one first: the file's schema (its own ``tool``,
``principal``, ``context`` and ``metadata`` declarations and its imports',
built by :func:`guardrails.schema.build_schema` as the checker builds it),
then the paths the loaded policies already read, which is all there is to
go on for a policy without a schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from guardrails import ast
from guardrails.diagnostics import Diagnostics
from guardrails.lsp.workspace import Snapshot
from guardrails.schema import EMPTY, Schema, Ty, build_schema


def schema_of(snap: Snapshot, path: str) -> Schema:
    """The schema a file sees: its imports' declarations and its own."""
    unit = snap.unit(path)
    if unit is None or unit.source.policy is None:
        return EMPTY
    policies = [m.policy for m in unit.modules if m.policy is not None] + [unit.source.policy]
    return build_schema(policies, Diagnostics())  # its mistakes are the checker's to report


def tool_declaration(snap: Snapshot, path: str, name: str) -> ast.ToolDecl | None:
    """The ``tool NAME(...)`` declaration a file sees for a tool name."""
    unit = snap.unit(path)
    if unit is None:
        return None
    for f in [unit.source, *unit.modules]:
        for d in f.policy.schemas if f.policy is not None else ():
            if isinstance(d, ast.ToolDecl) and d.name == name:
                return d
    return None


def describe_tool(schema: Schema, name: str) -> str | None:
    """``tool refund(order_id: string, ...) with owner = "finance"``, as declared."""
    tool = schema.tools.get(name)
    if tool is None:
        return None
    args = tool.args.describe()[1:-1]
    attrs = ", ".join(f"{k} = {_show(v)}" for k, v in tool.attributes.items())
    return f"tool {name}({args})" + (f" with {attrs}" if attrs else "")


def declared_after(schema: Schema, parts: tuple[str, ...]) -> dict[str, str]:
    """name -> what it is, for the names the schema declares after `parts`."""
    root, rest = parts[0], parts[1:]
    out: dict[str, str] = {}
    if root == "tool" and not rest:
        for tool in sorted(schema.tools.values(), key=lambda t: t.name):
            for name, value in tool.attributes.items():
                out.setdefault(name, f"tool attribute ({tool.name}: {_show(value)})")
        return out
    for owner, ty in _roots(schema, root):
        ty = _walk(ty, rest)
        if ty is None or ty.kind != "record":
            continue
        for f in ty.fields:
            what = f"{f.ty.describe()}{', optional' if f.optional else ''}"
            out.setdefault(f.name, f"{what} ({owner})" if owner else what)
    return out


def declared_type(schema: Schema, parts: tuple[str, ...]) -> list[str]:
    """How the schema types the path `parts` (one line per tool that has
    it, for ``args``), or nothing when it does not declare it."""
    root, rest = parts[0], parts[1:]
    if root == "tool" and len(rest) == 1:
        return [f"`{t.name}`: {_show(t.attributes[rest[0]])}" for t in sorted(schema.tools.values(),
                                                                             key=lambda t: t.name)
                if rest[0] in t.attributes]
    lines = []
    for owner, ty in _roots(schema, root):
        steps: list[bool] = []
        found = _walk(ty, rest, steps)
        if found is not None and rest:
            optional = ", optional" if any(steps) else ""
            lines.append(f"`{owner}`: {found.describe()}{optional}" if owner else f"{found.describe()}{optional}")
    return lines


def _roots(schema: Schema, root: str) -> list[tuple[str, Ty]]:
    """(owner, record type) of a path's root: each declared tool's args, or a shape."""
    if root == "args":
        return [(f"{t.name}()", t.args) for t in sorted(schema.tools.values(), key=lambda t: t.name)]
    if root in schema.shapes:
        return [("", schema.shapes[root])]
    return []


def _walk(ty: Ty, names: tuple[str, ...], optional: list[bool] | None = None) -> Ty | None:
    for name in names:
        f = ty.field(name) if ty.kind == "record" else None
        if f is None:
            return None
        if optional is not None:
            optional.append(f.optional)
        ty = f.ty
    return ty


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return "true" if value is True else "false" if value is False else str(value)


def read_after(snap: Snapshot, parts: tuple[str, ...]) -> dict[str, str]:
    """name -> where, for what the loaded policies read after `parts`
    (``args.amount``, ``args has order_id``)."""
    out: dict[str, str] = {}
    for f in snap.parsed_files():
        for expr in _conditions(f.policy):
            for e in ast.walk(expr):
                if isinstance(e, ast.Attr) and path_of(e.obj) == parts:
                    out.setdefault(e.name, f"read in {f.policy.name}")
                elif isinstance(e, ast.Has) and path_of(e.obj) == parts:
                    out.setdefault(e.key, f"read in {f.policy.name}")
    return out


def _conditions(policy: ast.Policy) -> Iterator[ast.Expr]:
    for block in policy.stages:
        for r in block.rules:
            if r.condition is not None:
                yield r.condition
    for d in policy.definitions:
        if isinstance(d, ast.LimitDef):
            yield from d.keys


def path_of(e: ast.Expr) -> tuple[str, ...] | None:
    """``args.a.b`` as ("args", "a", "b"); None for anything else."""
    names: list[str] = []
    while isinstance(e, ast.Attr):
        names.append(e.name)
        e = e.obj
    if not isinstance(e, ast.Var):
        return None
    return (e.name, *reversed(names))


__all__ = ["declared_after", "declared_type", "describe_tool", "path_of", "read_after", "schema_of", "tool_declaration"]
