"""The schema as z3 facts: a request that does not match it is refused
before any rule runs (:func:`guardrails.schema.request_problem`), so the
outcome is ``deny`` exactly where these facts fail.

Declared types restrict each argument's sort, enums become finite domains,
required arguments are present, a closed record has no other keys (an open
one, ``...``, may), list elements read by a rule have the element type, and
a declared tool's attributes are constants per tool (``tool.owner``).
"""

from __future__ import annotations

from typing import Any

from guardrails.prove.symbolic import Space


def valid(enc: Any, schema: Any) -> Any:
    """The request matches the schema (tool_call: its tool's args, the principal and context shapes)."""
    s: Space = enc.s
    z3 = s.z3
    parts = []
    if s.tool is not None:
        for name, decl in sorted(schema.tools.items()):
            parts.append(z3.Implies(s.tool == z3.StringVal(name), record_ok(enc, "args", decl.args)))
    for root in ("principal", "context", "metadata"):
        shape = schema.shapes.get(root)
        if shape is None or root not in s.paths:
            continue
        if root == "metadata":
            parts.append(record_ok(enc, root, shape))
            continue
        # A request may leave the principal or context out: the rules then read {} and nothing is checked.
        omitted = s.fresh(f"omitted:{root}", "omitted", root)
        parts.append(z3.Implies(omitted, s.J.keys(s.paths[root]) == 0))
        parts.append(z3.Or(omitted, record_ok(enc, root, shape)))
    return z3.And(*parts)


def record_ok(enc: Any, path: str, ty: Any) -> Any:
    s: Space = enc.s
    z3, J = s.z3, s.J
    v = s.paths[path]
    parts = [J.is_map(v)]
    present = []
    for f in ty.fields:
        name, c = s.child(path, f.name)
        here = z3.Not(J.is_absent(c))
        present.append(z3.If(here, 1, 0))
        if not f.optional:
            parts.append(here)
        parts.append(z3.Implies(here, type_ok(enc, name, f.ty)))
    if not ty.open:
        parts.append(J.keys(v) == (z3.Sum(present) if present else 0))
    return z3.And(*parts)


def type_ok(enc: Any, path: str, ty: Any) -> Any:
    s: Space = enc.s
    z3, J = s.z3, s.J
    v = s.paths[path]
    match ty.kind:
        case "any":
            return z3.BoolVal(True)
        case "string":
            return J.is_string(v)
        case "number":
            return J.is_number(v)
        case "integer":
            return z3.And(J.is_number(v), z3.IsInt(J.n(v)))
        case "boolean":
            return J.is_boolean(v)
        case "enum":
            return z3.Or(*[enc.equal(v, enc.literal(x)) for x in ty.values])
        case "record":
            return record_ok(enc, path, ty)
        case "list":
            parts = [J.is_list(v)]
            for name, (parent, key) in list(s.parents.items()):
                if parent == path and isinstance(key, int):
                    parts.append(z3.Implies(z3.Not(J.is_absent(s.paths[name])), type_ok(enc, name, ty.elem)))
            for lit, b in s.members.get(path, {}).values():
                if not _fits(lit, ty.elem):
                    parts.append(z3.Not(b))
            s.fillers[path + "[]"] = filler(ty.elem)
            return z3.And(*parts)
    raise AssertionError(ty.kind)


def _fits(value: Any, ty: Any) -> bool:
    from guardrails.schema import problem

    return problem(value, ty, "x") is None


def filler(ty: Any) -> Any:
    """A value of type `ty` for list elements no rule reads."""
    match ty.kind:
        case "string":
            return ""
        case "number" | "integer":
            return 0
        case "boolean":
            return False
        case "enum":
            return ty.values[0]
        case "list":
            return []
        case "record":
            return {f.name: filler(f.ty) for f in ty.fields if not f.optional}
    return None


def tool_attribute(enc: Any, schema: Any, name: str) -> tuple[Any, Any]:
    """(value, missing) of `tool.NAME`: a constant per declared tool; missing for another tool."""
    s: Space = enc.s
    z3, J = s.z3, s.J
    value, missing = J.absent, z3.BoolVal(True)
    for tool, decl in sorted(schema.tools.items()):
        if name in decl.attributes:
            hit = s.tool == z3.StringVal(tool)
            value = z3.If(hit, enc.literal(decl.attributes[name]), value)
            missing = z3.And(missing, z3.Not(hit))
    return value, missing


def tool_has(enc: Any, schema: Any, name: str) -> Any:
    s: Space = enc.s
    z3 = s.z3
    return z3.Or(*[s.tool == z3.StringVal(t) for t, d in sorted(schema.tools.items()) if name in d.attributes])


__all__ = ["filler", "record_ok", "tool_attribute", "tool_has", "type_ok", "valid"]
