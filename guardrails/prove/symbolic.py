"""The symbolic request: a z3 sort for JSON values, one variable per
attribute path a rule reads, and the free inputs (detector results, session
counts) that stand for what the solver does not model.

Both policies of a comparison are encoded over one :class:`Space`, so they
read the same variables: ``args.amount`` is one unknown, however many rules
and versions read it. Only necessary facts relate variables (a child of a
value that is not a map is absent; a list element read past the end is
absent), so every real request is a model: a proof over the space holds for
every request, and a model is replayed on the engine before it is shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: The optional extra that installs the solver.
EXTRA = "prove"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")


class ProveUnavailable(Exception):
    """z3 is not installed."""


def load_z3() -> Any:
    """The z3 module, or a clear error naming the extra that installs it."""
    try:
        import z3
    except ImportError:
        raise ProveUnavailable(
            "guardrails prove needs the z3 SMT solver: pip install 'guardlang[prove]' (or z3-solver>=4.12)"
        ) from None
    return z3


class Outside(Exception):
    """A construct the encoding cannot express: the query is refused, never weakened."""


@dataclass(frozen=True, slots=True)
class Free:
    """A free input the solver may set as it likes: what it stands for, and its variable."""

    key: str
    kind: str  # "pii" | "secret" | "topic" | "terms" | "pattern" | "injection" | "regex" | "session" | "opaque"
    name: str
    var: Any


def child_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if _NAME.match(key) else f"{path}[{key!r}]"


class Space:
    """The unknowns of one stage's request, shared by every policy encoded over it."""

    def __init__(self, stage: str):
        z3 = self.z3 = load_z3()
        self.stage = stage
        self.ctx = z3.main_ctx()
        J = z3.Datatype("J")
        J.declare("absent")
        J.declare("null")
        J.declare("boolean", ("b", z3.BoolSort()))
        J.declare("number", ("n", z3.RealSort()))
        J.declare("string", ("s", z3.StringSort()))
        J.declare("map", ("keys", z3.IntSort()))
        J.declare("list", ("len", z3.IntSort()))
        self.J = J.create()
        self.paths: dict[str, Any] = {}  # path -> J constant
        self.parents: dict[str, tuple[str, str | int]] = {}
        self.facts: list[Any] = []
        self.free: dict[str, Free] = {}
        self.members: dict[str, dict[str, tuple[Any, Any]]] = {}  # list path -> literal key -> (value, Bool)
        self.fillers: dict[str, Any] = {}  # "path[]" -> a value for list elements no rule reads
        self.text = z3.String("text") if stage != "tool_call" else None
        self.tool = z3.String("tool") if stage in ("tool_call", "tool_result") else None
        if self.tool is not None:
            self.facts.append(z3.Length(self.tool) > 0)
        for root in ROOTS[stage]:
            v = self.path(root)
            if root == "result":  # a string or any JSON value but null
                self.facts.append(z3.Not(z3.Or(self.J.is_absent(v), self.J.is_null(v))))
            else:
                self.facts.append(self.J.is_map(v))
        if stage == "tool_result":  # the text detectors read: the result's strings
            r = self.paths["result"]
            self.facts.append(z3.Implies(self.J.is_string(r), self.text == self.J.s(r)))

    # -- variables
    def path(self, path: str) -> Any:
        v = self.paths.get(path)
        if v is None:
            z3, J = self.z3, self.J
            v = self.paths[path] = z3.Const(path, J)
            if path not in ROOT_NAMES:
                return v
            self.facts.append(z3.Not(J.is_absent(v)))
        return v

    def child(self, path: str, key: str | int) -> tuple[str, Any]:
        z3, J = self.z3, self.J
        name = child_path(path, key)
        known = name in self.paths
        v = self.path(name)
        if not known:
            parent = self.paths[path]
            self.parents[name] = (path, key)
            if isinstance(key, int):
                inside = z3.And(J.is_list(parent), J.len(parent) > key)
                self.facts.append(J.is_absent(v) == z3.Not(inside))
            else:
                self.facts.append(z3.Implies(z3.Not(J.is_map(parent)), J.is_absent(v)))
        return name, v

    def fresh(self, key: str, kind: str, name: str, sort: str = "bool") -> Any:
        """The free input named `key` (one variable per key, shared by every rule)."""
        f = self.free.get(key)
        if f is None:
            z3 = self.z3
            var = z3.Bool(key) if sort == "bool" else z3.Real(key)
            if sort == "unit":  # a score in [0, 1]
                self.facts.append(z3.And(var >= 0, var <= 1))
            elif sort == "count":
                self.facts.append(var >= 0)
                self.facts.append(z3.IsInt(var))
            f = self.free[key] = Free(key, kind, name, var)
        return f.var

    def member(self, path: str, key: str, literal: Any, value: Any) -> Any:
        """Whether the list at `path` holds `literal` (a free input tied to its length)."""
        box = self.members.setdefault(path, {})
        hit = box.get(key)
        if hit is None:
            z3 = self.z3
            b = z3.Bool(f"{path} holds {key}")
            self.facts.append(z3.Implies(b, self.J.len(self.paths[path]) >= 1))
            hit = box[key] = (literal, b)
        return hit[1]

    def tidy(self) -> list[Any]:
        """Preferences for a readable witness (no keys or elements that no rule reads),
        tried first and dropped when they cannot hold."""
        z3, J = self.z3, self.J
        out = []
        kids: dict[str, list[Any]] = {}
        longest: dict[str, int] = {}
        for name, (parent, key) in self.parents.items():
            if isinstance(key, int):
                longest[parent] = max(longest.get(parent, 0), key + 1)
            else:
                kids.setdefault(parent, []).append(self.paths[name])
        for name, v in self.paths.items():
            count = z3.Sum([z3.If(J.is_absent(k), 0, 1) for k in kids.get(name, [])]) if name in kids else 0
            out.append(z3.Implies(J.is_map(v), J.keys(v) == count))
            room = longest.get(name, 0) + len(self.members.get(name, {}))
            out.append(z3.Implies(J.is_list(v), J.len(v) <= room))
        return out

    def axioms(self) -> list[Any]:
        """Every fact about the variables made so far (a map's key count, a list's length)."""
        z3, J = self.z3, self.J
        out = list(self.facts)
        kids: dict[str, list[Any]] = {}
        for name, (parent, key) in self.parents.items():
            if not isinstance(key, int):
                kids.setdefault(parent, []).append(self.paths[name])
        for parent, vs in kids.items():
            p = self.paths[parent]
            count = z3.Sum([z3.If(J.is_absent(v), 0, 1) for v in vs])
            out.append(z3.Implies(J.is_map(p), J.keys(p) >= count))
        for v in self.paths.values():
            out.append(z3.Implies(J.is_map(v), J.keys(v) >= 0))
            out.append(z3.Implies(J.is_list(v), J.len(v) >= 0))
        return out


#: Each stage's request roots, as conditions read them.
ROOTS: dict[str, tuple[str, ...]] = {
    "input": ("context",),
    "output": ("context",),
    "retrieval": ("metadata", "context"),
    "tool_call": ("args", "principal", "context"),
    "tool_result": ("result", "args", "principal", "context"),
}
ROOT_NAMES = frozenset(n for roots in ROOTS.values() for n in roots)

__all__ = ["EXTRA", "ROOTS", "Free", "Outside", "ProveUnavailable", "Space", "child_path", "load_z3"]
