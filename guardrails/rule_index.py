"""The attribute index: a decision evaluates only the rules that can fire.

The tool index (:mod:`guardrails.compiler`) files tool-call rules under the
tools they name. This one files rules under the value their condition's
*first* test requires of a request attribute, as OPA's rule index does:

    rule role-7: allow when principal.role == "role_7" and args.amount <= 500
    rule team-3: deny "frozen" when context.team in ["team_3", "team_4"] and context.frozen

``role-7`` is filed under ``principal.role = "role_7"``. A request whose
``principal.role`` is ``"role_2"`` never runs it. Skipping a rule this way
gives exactly the decision that running it would:

* the test comes first, so when it is false the condition stops there:
  nothing after it runs, so no error is skipped with it;
* the test is an equality with a string (``==``, ``in`` a list or group of
  strings), and both are false for any other value, a non-string included,
  without an error;
* when the attribute is missing, or a step of its path is not an object,
  the rule would fail (``missing-attribute``, ``type-error``), so every
  rule filed under that path runs and fails as before.

Small rule sets are not indexed (:data:`MIN_RULES`): below that, picking
costs more than running. Coverage builds are not indexed either: they
report every rule's branches.

Why one module: the index (which rules a value selects), the generated
dispatch that reads it (Picker) and the shape matchers that give each of
its groups a template are one design; each reads the filing the others
make, and a group's inlined row must hold what its matcher found.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

from guardrails import ast
from guardrails.codegen import BASE_NAMES, MASK_PARAMS, MISSING, Unshared, comment_line, shape_of
from guardrails.conditions import source_of
from guardrails.decision import shared_violation
from guardrails.detectors import DetectorError
from guardrails.resolve import group_members
from guardrails.rulegraph import TIER_CHEAP, TIER_PII, TIER_PLAIN, Ctx, RuleError, RuleNode

#: Index a rule set only when at least this many of its rules can be filed.
MIN_RULES = 16

#: A rule's filing: the attribute path its first test reads, and the strings it accepts.
Guard = tuple[tuple[str, ...], frozenset[str]]


def first_test_guard(cond: ast.Expr | None, scope: dict[str, Any]) -> Guard | None:
    """The guard of a condition whose first test is `PATH == "s"` or `PATH in
    [strings]` (a list, or a tools/terms group of strings); None otherwise."""
    first = cond
    while isinstance(first, ast.And):
        first = first.operands[0]
    if isinstance(first, ast.Compare) and first.op == "==":
        for subject, other in ((first.left, first.right), (first.right, first.left)):
            if isinstance(other, ast.Literal) and type(other.value) is str:
                path = _path(subject, scope)
                if path is not None:
                    return path, frozenset([other.value])
        return None
    if isinstance(first, ast.In) and not first.negated:
        values = _strings(first.container, scope)
        path = _path(first.item, scope)
        if values is not None and path is not None:
            return path, values
    return None


def _path(e: ast.Expr, scope: dict[str, Any]) -> tuple[str, ...] | None:
    names: list[str] = []
    while isinstance(e, ast.Attr):
        names.append(e.name)
        e = e.obj
    if not isinstance(e, ast.Var):
        return None
    d = scope.get(e.name)
    if d is not None and isinstance(d.node, (ast.ToolsDef, ast.TermsDef)):
        return None  # a group's name is a value, not a request attribute (as the compiler reads it)
    return (e.name, *reversed(names))


def _strings(e: ast.Expr, scope: dict[str, Any]) -> frozenset[str] | None:
    if isinstance(e, ast.ListLit):
        items = [i.value for i in e.items]
    elif isinstance(e, ast.Var) and e.name in scope and isinstance(scope[e.name].node, (ast.ToolsDef, ast.TermsDef)):
        node = scope[e.name].node
        items = list(group_members(node, scope)) if isinstance(node, ast.ToolsDef) else [i.value for i in node.terms]
    else:
        return None
    return frozenset(items) if items and all(type(v) is str for v in items) else None


_UNKNOWN = object()


@dataclass(frozen=True, slots=True)
class _Filed:
    path: tuple[str, ...]
    by_value: dict[str, tuple[RuleNode, ...]]
    everyone: tuple[RuleNode, ...]  # every rule filed under this path: run when the path is unknown


@dataclass(frozen=True, slots=True)
class AttrIndex:
    """One rule set's rules, filed by attribute (see the module docstring)."""

    unfiled: tuple[RuleNode, ...]
    paths: tuple[_Filed, ...]

    def select(self, roots: dict) -> tuple[tuple[RuleNode, ...], ...]:
        """The rules this request can fire, in tiers (cheapest first, by id within a tier)."""
        chosen = list(self.unfiled)
        for filed in self.paths:
            value = roots.get(filed.path[0], _UNKNOWN)
            for key in filed.path[1:]:
                value = value.get(key, _UNKNOWN) if type(value) is dict else _UNKNOWN
            if value is _UNKNOWN:
                chosen.extend(filed.everyone)
            elif type(value) is str:
                hit = filed.by_value.get(value)
                if hit:
                    chosen.extend(hit)
        return tiered(chosen)


def tiered(rules: list[RuleNode]) -> tuple[tuple[RuleNode, ...], ...]:
    """Rules by cost tier (the order the evaluator runs them), by id within one."""
    if len(rules) < 2:
        return (tuple(rules),) if rules else ()
    buckets: dict[int, list[RuleNode]] = {}
    for r in rules:
        buckets.setdefault(r.tier, []).append(r)
    return tuple(tuple(sorted(buckets[t], key=_by_id)) for t in (TIER_PLAIN, TIER_CHEAP, TIER_PII) if t in buckets)


def _by_id(r: RuleNode) -> str:
    return r.qid


def build_index(rules: list[RuleNode], guards: dict[str, Guard]) -> AttrIndex | None:
    """The index of a rule set, or None when too few of its rules can be filed."""
    if sum(1 for r in rules if r.qid in guards) < MIN_RULES:
        return None
    unfiled: list[RuleNode] = []
    by_path: dict[tuple[str, ...], dict[str, list[RuleNode]]] = {}
    everyone: dict[tuple[str, ...], list[RuleNode]] = {}
    for r in rules:
        guard = guards.get(r.qid)
        if guard is None:
            unfiled.append(r)
            continue
        path, values = guard
        everyone.setdefault(path, []).append(r)
        table = by_path.setdefault(path, {})
        for v in values:
            table.setdefault(v, []).append(r)
    return AttrIndex(tuple(unfiled), tuple(
        _Filed(path, {v: tuple(rs) for v, rs in table.items()}, tuple(everyone[path]))
        for path, table in sorted(by_path.items())))


#: Every group of an indexed rule set runs its shape's template when the set
#: is compiled (Picker): inlined in the dispatch, or bound to its literals.
#: Tests turn it off to run every group by its rules' closures, the
#: interpreter's own.
BIND = True

#: A fired rule's effect as a bit of a Picker record, for evaluate.combine_picked.
EFFECT_BITS = {"deny": 1, "escalate": 2, "allow": 4, "redact": 8, "warn": 16, "label": 32}


def shape_matcher(shape: Any) -> Callable[[Any], list | None]:
    """A generated function that gives what codegen.shape_of appends to its
    `values` for a condition of `shape`, and None for a condition of any
    other: a straight run of tests, several times faster than the walk, so
    a new group usually costs one match against a shape seen before."""
    lines: list[str] = []
    names: dict[str, Any] = {c: getattr(ast, c) for c in ("Literal", "Var", "Attr", "Has", "Compare", "And", "Or",
                                                           "Not", "In", "ListLit")}
    count = [0]

    def fresh() -> str:
        count[0] += 1
        return f"n{count[0]}"

    def const(value: Any) -> str:
        name = f"K{len(names)}"
        names[name] = value
        return name

    def test(cond: str) -> None:
        lines.append(f"    if {cond}:")
        lines.append("        return None")

    def node(x: str, sh: Any) -> None:  # the same order as shape_of's walk
        if isinstance(sh, type):
            test(f"type({x}) is not Literal or type({x}.value) is not {const(sh)}")
            lines.append(f"    out.append({x}.value)")
            return
        kind = sh[0]
        if kind == "var":
            test(f"type({x}) is not Var or {x}.name != {sh[1]!r}")
        elif kind in ("attr", "has"):
            cls, field = ("Attr", "name") if kind == "attr" else ("Has", "key")
            test(f"type({x}) is not {cls} or {x}.{field} != {sh[1]!r}")
            node(f"{x}.obj", sh[2])
        elif kind == "cmp":
            test(f"type({x}) is not Compare or {x}.op != {sh[1]!r}")
            node(f"{x}.left", sh[2])
            node(f"{x}.right", sh[3])
        elif kind in ("And", "Or"):
            test(f"type({x}) is not {kind} or len({x}.operands) != {len(sh[1])}")
            for i, sub in enumerate(sh[1]):
                t = fresh()
                lines.append(f"    {t} = {x}.operands[{i}]")
                node(t, sub)
        elif kind == "not":
            test(f"type({x}) is not Not")
            node(f"{x}.operand", sh[1])
        elif kind == "in":
            test(f"type({x}) is not In or {x}.negated is not {sh[1]!r}")
            node(f"{x}.item", sh[2])
            if sh[3][0] == "set":
                items(f"{x}.container", sh[3][1], "frozenset")
            else:
                node(f"{x}.container", sh[3])
        else:  # "list"
            items(x, sh[1], "tuple")

    def items(x: str, types: tuple, kind: str) -> None:
        test(f"type({x}) is not ListLit or tuple(type(i.value) for i in {x}.items) != {const(types)}")
        lines.append(f"    out.append({kind}(i.value for i in {x}.items))")

    lines.append("    out = []")
    node("e", shape)
    lines.append("    return out")
    source = "def match(e):\n" + "\n".join(lines) + "\n"
    exec(compile(source, "<guardrails:shape_matcher>", "exec"), names)  # noqa: S102 - our own source
    return names["match"]


class Picker:
    """An indexed tool_call rule set (guardrails.rule_index) as one generated
    dispatch function, OPA's rule index compiled: it reads each indexed
    attribute once, looks its value up, and runs only the group of rules
    filed under that value, and the rules no attribute files. What a
    decision costs then depends on the rules that can fire, not on how many
    there are.

    ``function(tool, args, principal, context)`` has the mask form, with a
    key for a mask: ``(group, mask, group, mask, ...)`` for the groups where
    a rule fired (a group's mask has bit i set when its i-th rule did; a
    rule filed under two values is in both groups), or -1 when a rule failed
    or an indexed path is unknown (missing, or under a value that is not an
    object): the interpreter then decides and reports it, exactly as
    rule_index explains. Small ints, not one bit per rule of the set: a
    mask over 10,000 rules would be a 1.3 KB int built and hashed each time.

    Only the dispatch is generated as source, and it grows with the indexed
    attributes, not the rules. Each group gets its function at load, from a
    template: the groups of a large set are mostly alike (``role ==
    "role_7" and args.amount <= 500``, ``role == "role_8" and args.amount
    <= 250``), so the groups whose conditions have one shape
    (codegen.shape_of) share one generated and compiled function whose
    literals are parameters. The groups of each indexed path's commonest
    shape run that template inlined in the dispatch, their literals a row
    of the path's table (inlined): they need no function at all. Each other
    group binds its own values as the template's first arguments (a
    functools.partial, group_function). A group then costs a match of its
    conditions against the shapes seen (shape_matcher: generated tests,
    several times faster than shape_of's walk; the shape the group before
    matched is tried first, since a path's groups are mostly of one shape),
    not a compile (about 0.4 ms, which the few shapes of a set pay once
    each). A group whose rules need the Ctx runs its rules' closures (the
    interpreter's own). Matching and binding at load rather than at a
    group's first request keeps that work off the request that first
    reaches a rule, which in a large set is most requests.

    ``function.records`` holds, by group, its rules' records for
    evaluate.combine_picked (:data:`EFFECT_BITS`): the parts of a decision
    each rule brings, so a set of groups that fired is combined in a few
    operations. The functions, templates and records are kept on the
    stage's Generator (``gen.shared``) and shared by its pickers: a tool's
    set holds the rules for any tool again, and would bind them again."""

    def __init__(self, gen: Any, name: str, index: Any, tool: str | None):
        self.gen = gen
        self.name = name
        self.tool = tool
        groups: list[tuple[RuleNode, ...]] = [index.unfiled] if index.unfiled else []
        tables: list[dict[str, int]] = []
        for filed in index.paths:
            table: dict[str, int] = {}
            for value, rules in filed.by_value.items():
                table[value] = len(groups)
                groups.append(rules)
            tables.append(table)
        self.groups = groups
        shared = gen.shared
        self.templates: dict[Any, Callable | None] = shared.setdefault("templates", {})  # by shape (None: needs the Ctx)
        self.matchers: list[tuple[int, Callable]] = shared.setdefault("matchers", [])  # the shapes seen, with matchers
        self.last: list[int] = shared.setdefault("last", [0])  # the shape a group last matched
        # By the group's rules: (its shape, or None when it has no template; the shape's literals) ...
        shaped: dict[tuple[int, ...], tuple[Any, list]] = shared.setdefault("shapes", {})
        # ... and its function, bound when a dispatch first calls it (group_function).
        self.functions: dict[tuple[int, ...], Callable] = shared.setdefault("functions", {})
        records: dict[int, tuple] = shared.setdefault("records", {})  # by id of the rule
        self.keys: list[tuple[int, ...]] = []  # by group: its rules' ids
        self.shapes: list[tuple[Any, list]] = []  # by group: (its shape, or None when it has no template; its literals)
        self.records: list[tuple[tuple, ...]] = []
        shape_of_group = self.shape_of_group
        for group in groups:
            ids = tuple(map(id, group))
            made = shaped.get(ids)
            if made is None:
                made = shaped[ids] = shape_of_group(group)
            self.keys.append(ids)
            self.shapes.append(made)
            # Each rule's record, its violation built now: a set this large
            # fires a rule for the first time on many requests, and building
            # its Violation then (with the CPU caches cold) was the largest
            # part of that first decision.
            recs = []
            for rule in group:
                rec = records.get(id(rule))
                if rec is None:
                    rec = records[id(rule)] = rule_record(rule)
                recs.append(rec)
            self.records.append(tuple(recs))
        # By group: the function the dispatch calls (None for a group it inlines).
        self.run: list[Callable | None] = [None] * len(groups)
        names: dict[str, Any] = {**BASE_NAMES, "MISSING": MISSING, "RUN": self.run}
        lines = [f"def {name}(tool, args, principal, context):",
                 f"    {'The rules for ' + self.what() + ', picked by the attributes they test.'!r}",
                 "    key = ()"]
        if index.unfiled:
            lines.append(f"    # the {len(index.unfiled)} rules no attribute files")
            lines += self.call("0", 1, first=True)
            self.run[0] = self.group_function(0)
        for i, (filed, table) in enumerate(zip(index.paths, tables)):
            lines.append(comment_line(f"    # {'.'.join(filed.path)}: {len(table)} values"))
            root, *steps = filed.path
            if root not in MASK_PARAMS:
                lines.append("    return -1  # not part of this request: the interpreter reports it")
                break
            lines.append(f"    v = {root}")
            lines += [f"    v = v.get({k!r}, MISSING) if type(v) is dict else MISSING" for k in steps]
            lines.append("    if type(v) is str:")
            inline, others = self.inlined(i, table, names)
            lines += inline
            if others:
                names[f"Q{i}"] = others
                for g in others.values():
                    self.run[g] = self.group_function(g)
                lines += [f"        {'elif' if inline else 'if'} (g := Q{i}.get(v)) is not None:", *self.call("g", 3)]
            lines += ["    elif v is MISSING:", "        return -1"]
        lines.append("    return key")
        self.source = "\n".join(lines) + "\n"
        exec(compile(self.source, f"<guardrails:{name}>", "exec"), names)  # noqa: S102 - our own source
        f = names[name]
        f.memo = {}
        f.on_roots = False
        f.mask_form = True
        f.rules = ()
        f.groups = tuple(groups)
        f.records = tuple(self.records)
        f.picks = True  # its result is a key, not a mask (see fired_rules)
        self.function = f

    def what(self) -> str:
        return "any tool the index does not name" if self.tool is None else f"tool {self.tool!r}"

    @staticmethod
    def call(g: str, depth: int, first: bool = False) -> list[str]:
        pad = "    " * depth
        return [f"{pad}m = RUN[{g}](tool, args, principal, context)", f"{pad}if m:", f"{pad}    if m < 0:",
                f"{pad}        return -1", f"{pad}    key = ({g}, m)" if first else f"{pad}    key += ({g}, m)"]

    def inlined(self, i: int, table: dict[str, int], names: dict[str, Any]) -> tuple[list[str], dict[str, int]]:
        """The dispatch's lines for the groups of indexed path `i` that have
        the path's commonest shape: that shape's template inlined, each
        group's literals read from the path's table (``P{i}``: value ->
        (group, literals...)), so the usual group costs no call; and the
        table of the path's other groups (value -> group), which call
        their functions."""
        count: dict[Any, int] = {}
        for g in table.values():
            shape = self.shapes[g][0]
            if shape is not None:
                count[shape] = count.get(shape, 0) + 1
        if not count or not BIND:
            return [], table
        shape = max(count, key=count.__getitem__)
        inline = {v: (g, *self.shapes[g][1]) for v, g in table.items() if self.shapes[g][0] == shape}
        others = {v: g for v, g in table.items() if v not in inline}
        names[f"P{i}"] = inline
        first = next(iter(inline.values()))[0]
        group = self.groups[first]
        nodes: list[ast.Expr] = []
        for rule in group:
            if rule.cond is not None:
                shape_of(self.gen.conditions[rule.qid], nodes, [])
        slots = {id(node): f"S{k}" for k, node in enumerate(nodes)}
        body = self.gen.inline_body(group, names, self.tool, slots)
        unpack = ", ".join(["g", *(f"S{k}" for k in range(len(nodes)))])
        return [f"        e = P{i}.get(v)", "        if e is not None:",
                comment_line(f"            # {len(inline)} groups of one shape, with their literals; the first: "
                             f"{'; '.join(self.shown(r) for r in group)}"),
                f"            {unpack} = e", "            mask = 0", "            try:",
                *("        " + line for line in body),
                "            except (RuleError, DetectorError):", "                return -1",
                "            if mask:", "                key += (g, mask)"], others

    def shown(self, rule: RuleNode) -> str:
        cond = self.gen.conditions.get(rule.qid)
        return f"rule {rule.qid}: " + (source_of(cond) if cond is not None else rule.source)

    def shape_of_group(self, group: tuple[RuleNode, ...]) -> tuple[Any, list]:
        """The group's shape and its literals, or (None, []) when it has no
        template: a rule needs the Ctx, or BIND is off. A shape's template is
        generated at its first group."""
        if not BIND:
            return None, []
        values: list[Any] = []
        shapes = []
        for rule in group:
            shape = self.shape(rule, values)
            if shape is None:
                return None, []
            shapes.append(shape)
        shape = tuple(shapes)
        template = self.templates.get(shape, _UNKNOWN)
        if template is _UNKNOWN:
            nodes: list[ast.Expr] = []
            for rule in group:
                if rule.cond is not None:
                    shape_of(self.gen.conditions[rule.qid], nodes, [])
            template = self.templates[shape] = self.template(group, nodes)
        return (None, []) if template is None else (shape, values)

    def group_function(self, g: int) -> Callable:
        """Group `g`'s function: its shape's template with its literals as the
        first arguments, or its rules' closures (run_closures) when it has no
        template. Bound once for the pickers of a stage, when a dispatch
        first calls the group: the groups it inlines need none."""
        ids = self.keys[g]
        f = self.functions.get(ids)
        if f is None:
            shape, values = self.shapes[g]
            if shape is None:
                f = partial(run_closures, self.groups[g])
            else:
                template = self.templates[shape]
                f = partial(template, *values) if values else template
            self.functions[ids] = f
        return f

    def shape(self, rule: RuleNode, values: list[Any]) -> int | None:
        """The shape of `rule`'s condition (codegen.shape_of), by number (-1:
        always), its literals appended to `values`; None when it has none
        (the generator would call a closure)."""
        if rule.cond is None:
            return -1
        cond = self.gen.conditions.get(rule.qid)  # (None: no AST kept; its closure is called)
        matchers, last = self.matchers, self.last
        if matchers:
            # The shape of the group before first: groups come by indexed
            # path, and a path's groups are mostly of one shape.
            found = matchers[last[0]][1](cond)
            if found is not None:
                values += found
                return last[0]
        for shape, match in matchers:
            found = match(cond)
            if found is not None:
                values += found
                last[0] = shape
                return shape
        try:
            shape = shape_of(cond, [], found := [])
        except Unshared:
            return None
        number = last[0] = len(matchers)
        matchers.append((number, shape_matcher(shape)))
        values += found
        return number

    def template(self, group: tuple[RuleNode, ...], nodes: list[ast.Expr]) -> Callable | None:
        """The function of `group`'s shape: the group's, with the literals `nodes` as parameters."""
        name = f"{self.name}__shape{len(self.templates)}"
        names: dict[str, Any] = dict(BASE_NAMES)
        slots = {id(node): f"S{i}" for i, node in enumerate(nodes)}
        source, any_ctx = self.gen.body(name, group, names, self.tool, MASK_PARAMS, slots)
        if any_ctx:
            return None
        exec(compile(source, f"<guardrails:{name}>", "exec"), names)  # noqa: S102 - our own source
        return names[name]

    def group_source(self, g: int) -> tuple[str, str, dict[str, Any]] | None:
        """Group `g`'s generated function: (name, source, names), or None when a rule needs the Ctx."""
        name = f"{self.name}__g{g}"
        names: dict[str, Any] = dict(BASE_NAMES)
        source, any_ctx = self.gen.body(name, self.groups[g], names, self.tool, MASK_PARAMS)
        return None if any_ctx else (name, source, names)

    def groups_source(self) -> str:
        """Every group's function, as it is generated: for reading."""
        out = [f"# {self.name}: the groups' functions (each group runs its shape's template with its own literals)"]
        for g in range(len(self.groups)):
            made = self.group_source(g)
            out.append(made[1] if made is not None else f"# {self.name}__g{g}: runs its rules' closures\n")
        return "\n\n".join(out)


def rule_record(rule: RuleNode) -> tuple:
    """What a rule brings to a decision when it fires without spans, for
    evaluate.combine_picked: (id, effect bit (EFFECT_BITS), its shared
    Violation, labels, route)."""
    return rule.qid, EFFECT_BITS[rule.effect], shared_violation(rule), rule.labels, rule.route


def run_closures(group: tuple[RuleNode, ...], tool: Any, args: Any, principal: Any, context: Any) -> int:
    """A group by its rules' closures (the interpreter's own), with the mask form's result."""
    c = Ctx("", {"tool": tool, "args": args, "principal": principal, "context": context}, None)
    m, bit = 0, 1
    for rule in group:
        cond = rule.cond
        if cond is None:
            m |= bit
        else:
            try:
                v = cond(c)
            except (RuleError, DetectorError):
                return -1
            if v is True:
                if c.evidence:  # (plain rules find no spans; a set that did is the interpreter's)
                    return -1
                m |= bit
            elif v is not False:
                return -1
        bit <<= 1
    return m


__all__ = ["BIND", "EFFECT_BITS", "MIN_RULES", "AttrIndex", "Guard", "Picker", "build_index", "first_test_guard",
           "rule_record", "run_closures", "shape_matcher", "tiered"]
