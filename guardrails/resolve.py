"""Find policy files, parse them and resolve imports into policy units.

A *unit* is a selectable policy together with the modules it imports
(transitively): the set of sources its decisions depend on.  Names are
resolved here; every other check lives in :mod:`guardrails.checker`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from guardrails import ast
from guardrails.diagnostics import Diagnostics, Span
from guardrails.parser import parse

POLICY_SUFFIX = ".policy"


@dataclass(slots=True)
class SourceFile:
    path: str
    text: str
    policy: ast.Policy | None
    blanked: set[str] = field(default_factory=set)  # definitions lost to syntax errors

    @property
    def origin(self) -> str:
        """Where the file came from: its bundle (`x.bundle!member`) or its directory."""
        return self.path.split("!", 1)[0] if "!" in self.path else str(Path(self.path).parent)


@dataclass(frozen=True, slots=True)
class Defined:
    """A definition visible in a scope, and the module it came from."""

    node: ast.Definition
    origin: str


@dataclass(frozen=True, slots=True)
class ScopedRule:
    qid: str  # rule id, qualified as `module/rule` when imported
    rule: ast.Rule
    stage: str
    origin: str  # name of the policy or module that wrote it
    file: SourceFile


@dataclass(slots=True)
class Unit:
    """A policy and everything it imports, ready for checking and compiling."""

    source: SourceFile
    modules: list[SourceFile]  # transitive imports, in dependency order
    scope: dict[str, Defined]
    rules: list[ScopedRule]
    schema: object = None  # guardrails.schema.Schema, set by the check stage

    @property
    def policy(self) -> ast.Policy:
        assert self.source.policy is not None
        return self.source.policy

    def digest(self) -> str:
        """sha256 over the policy's own source and every imported module's."""
        h = hashlib.sha256()
        for f in [self.source, *sorted(self.modules, key=lambda m: m.policy.name)]:
            h.update(f.policy.name.encode() + b"\0" + f.text.encode("utf-8") + b"\0")
        return h.hexdigest()


def discover(paths: list[str | Path], diags: Diagnostics) -> list[Path]:
    """Policy files under the given files and directories (recursively)."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found.extend(sorted(q for q in p.rglob(f"*{POLICY_SUFFIX}") if q.is_file()))
        elif p.is_file():
            found.append(p)
        else:
            diags.error("E701", f"no such file or directory: {p}", Span(str(p), 1, 1, 1, 1, 0, 0))
    seen: set[Path] = set()
    unique = []
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def read_sources(files: list[Path], diags: Diagnostics) -> list[SourceFile]:
    sources = []
    for p in files:
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            diags.error("E701", f"cannot read policy file: {exc}", Span(str(p), 1, 1, 1, 1, 0, 0))
            continue
        sources.append(parse_source(text, str(p), diags))
    return sources


def parse_source(text: str, path: str, diags: Diagnostics) -> SourceFile:
    result = parse(text, path)
    diags.extend(result.diagnostics.items)
    return SourceFile(path, text, result.policy, result.blanked_names)


def _definitions(f: SourceFile) -> list[ast.Definition]:
    return list(f.policy.definitions) if f.policy else []


def build_units(sources: list[SourceFile], diags: Diagnostics) -> tuple[list[Unit], list[SourceFile]]:
    """Resolve imports by declared name; report unknown imports, cycles and
    definitions that clash with an imported one. Returns the selectable units
    (kind `policy`) and the sources with identical duplicates dropped."""
    # The same version with the same text in two places (an old bundle and a
    # new directory sharing a baseline) is one source, not a conflict.
    unique: list[SourceFile] = []
    seen_versions: dict[tuple[str, str], SourceFile] = {}
    for f in sources:
        if f.policy is None:
            unique.append(f)
            continue
        key = (f.policy.name, f.policy.version)
        other = seen_versions.get(key)
        if other is not None and other.text == f.text:
            continue
        unique.append(f)
        if other is not None:
            diags.error(
                "E703",
                f"policy {key[0]!r} version {key[1]} is also defined in {other.path}",
                f.policy.name_span,
                hint="bump the version, or remove one of the two files",
            )
        else:
            seen_versions[key] = f
    sources = unique

    by_name: dict[str, list[SourceFile]] = {}
    for f in sources:
        if f.policy is not None:
            by_name.setdefault(f.policy.name, []).append(f)

    # Several versions of a module may sit side by side. An import takes the
    # newest version from the importer's own origin (its bundle or directory)
    # and only then the newest anywhere, so an old bundle keeps its own baseline.
    def resolve(name: str, importer: SourceFile) -> SourceFile | None:
        files = by_name.get(name)
        if not files:
            return None
        local = [f for f in files if f.origin == importer.origin] or files
        return max(local, key=lambda f: version_key(f.policy.version))

    closure_cache: dict[int, list[SourceFile]] = {}

    def closure(f: SourceFile, stack: tuple[str, ...]) -> list[SourceFile]:
        if id(f) in closure_cache:
            return closure_cache[id(f)]
        out: list[SourceFile] = []
        for imp in f.policy.imports:
            target = resolve(imp.name, f)
            if target is None:
                known = sorted(n for n, fs in by_name.items() if n != f.policy.name)
                diags.error(
                    "E103",
                    f"unknown import {imp.name!r}",
                    imp.span,
                    hint=_suggest(imp.name, known, "policies and modules loaded"),
                )
                continue
            if target.policy.name in stack or target is f:
                cycle = " -> ".join((*stack, target.policy.name))
                diags.error("E105", f"import cycle: {cycle}", imp.span)
                continue
            for dep in closure(target, (*stack, target.policy.name)):
                if dep not in out:
                    out.append(dep)
            if target not in out:
                out.append(target)
        closure_cache[id(f)] = out
        return out

    units: list[Unit] = []
    for f in sources:
        if f.policy is None:
            continue
        modules = closure(f, (f.policy.name,))
        scope = build_scope(f, modules, diags)
        rules = [
            ScopedRule(r.id, r, block.stage, f.policy.name, f)
            for block in f.policy.stages
            for r in block.rules
        ]
        for m in modules:
            rules.extend(
                ScopedRule(f"{m.policy.name}/{r.id}", r, block.stage, m.policy.name, m)
                for block in m.policy.stages
                for r in block.rules
            )
        if f.policy.kind == "policy":
            units.append(Unit(f, modules, scope, rules))
    return units, sources


def build_scope(f: SourceFile, modules: list[SourceFile], diags: Diagnostics | None) -> dict[str, Defined]:
    """Definitions visible in `f`: its own plus its imports'. A name defined
    twice is an error: a team policy may not redefine a baseline's group."""
    scope: dict[str, Defined] = {}
    for m in modules:
        for d in _definitions(m):
            scope.setdefault(d.name, Defined(d, m.policy.name))
    own: dict[str, ast.Definition] = {}
    for d in _definitions(f):
        if d.name in own and diags is not None:
            diags.error("E104", f"{d.name!r} is already defined on line {own[d.name].span.line}", d.span)
            continue
        own[d.name] = d
        if d.name in scope and diags is not None:
            diags.error(
                "E104",
                f"{d.name!r} is already defined by imported module {scope[d.name].origin!r}",
                d.span,
                hint="imported definitions cannot be redefined; choose another name",
            )
            continue
        scope[d.name] = Defined(d, f.policy.name)
    return scope


# ---- facts about a resolved unit, shared by the logic checks and the compiler

# Stricter values per setting; used when a policy and its imports disagree.
STRICTER = {
    "on_error": lambda a, b: "fail_closed" if "fail_closed" in (a, b) else a,
    "tool_default": lambda a, b: "deny" if "deny" in (a, b) else a,
    "max_text_length": min,
    "regex_timeout_ms": min,
    "max_chunks": min,
    "pii_mode": lambda a, b: "strict" if "strict" in (a, b) else a,
    # A module's list bounds what an importer may keep in the decision log.
    "log_keep": lambda a, b: tuple(x for x in a if x in set(b)),
}


def merged_settings(unit: Unit) -> dict[str, object]:
    """Settings in force for a unit: explicit values, stricter one winning."""
    out: dict[str, object] = {}
    for f in [*unit.modules, unit.source]:
        for s in f.policy.settings:
            if s.key not in STRICTER:
                continue
            out[s.key] = s.python_value if s.key not in out else STRICTER[s.key](out[s.key], s.python_value)
    return out


def tools_of(cond: ast.Expr | None, unit: Unit) -> frozenset[str] | None:
    """The tool names a condition requires, or None when it may match any.

    Tool groups are looked up in the unit's scope. The compiler indexes
    tool-call rules by this set; the logic checks compare denies by it.
    """
    if cond is None:
        return None
    if isinstance(cond, ast.Compare) and cond.op == "==":
        for a, b in ((cond.left, cond.right), (cond.right, cond.left)):
            if isinstance(a, ast.Var) and a.name == "tool" and isinstance(b, ast.Literal) and isinstance(b.value, str):
                return frozenset((b.value,))
        return None
    if isinstance(cond, ast.In) and not cond.negated and isinstance(cond.item, ast.Var) and cond.item.name == "tool":
        c = cond.container
        if isinstance(c, ast.ListLit):
            return frozenset(str(i.value) for i in c.items)
        if isinstance(c, ast.Var) and c.name in unit.scope and isinstance(unit.scope[c.name].node, ast.ToolsDef):
            return frozenset(group_members(unit.scope[c.name].node, unit.scope))
        return None
    if isinstance(cond, ast.And):
        found = None
        for o in cond.operands:
            s = tools_of(o, unit)
            if s is not None:
                found = s if found is None else found & s
        return found
    if isinstance(cond, ast.Or):
        sets = [tools_of(o, unit) for o in cond.operands]
        if all(s is not None for s in sets):
            return frozenset().union(*sets)
        return None
    return None


def group_members(group: ast.ToolsDef, scope: dict[str, Defined]) -> tuple[str, ...]:
    """The tool names of a group, the groups it includes expanded, in order
    and once each. A cycle or an unknown name adds nothing here: the checker
    reports both (E110, E102)."""
    out: dict[str, None] = {}
    stack: list[str] = [group.name]

    def walk(g: ast.ToolsDef) -> None:
        for item in g.tools:
            if isinstance(item, ast.Literal):
                out.setdefault(str(item.value))
                continue
            d = scope.get(item.name)
            if d is not None and isinstance(d.node, ast.ToolsDef) and item.name not in stack:
                stack.append(item.name)
                walk(d.node)
                stack.pop()

    walk(group)
    return tuple(out)


def version_key(version: str) -> tuple:
    """Semantic-version ordering (pre-releases sort before the release).

    Total over any string, because it also orders versions the parser has
    already refused (E003), such as ``1.0`` beside ``1.0.0``: each part is a
    fixed-shape tuple, and digits compare by length then text, so a
    5,000-digit part needs no int conversion (which Python refuses).
    """
    core, _, pre = version.partition("+")[0].partition("-")
    release = tuple(_number_key(p) if p.isdigit() else (-1, p) for p in core.split("."))
    pre_key = (1,) if not pre else (0, *(((0, _number_key(x)) if x.isdigit() else (1, (0, x))) for x in pre.split(".")))
    return (release, pre_key)


def _number_key(digits: str) -> tuple[int, str]:
    """A numeral's order without converting it: shorter is smaller, then text."""
    digits = digits.lstrip("0") or "0"
    return (len(digits), digits)


def _suggest(name: str, candidates: list[str], what: str) -> str | None:
    import difflib

    close = difflib.get_close_matches(name, candidates, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    if candidates:
        shown = ", ".join(candidates[:8])
        return f"{what}: {shown}"
    return None


suggest = _suggest
