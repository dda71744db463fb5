"""Compile a stage's rules to one generated Python function (Jinja's way with templates).

The closures of :mod:`guardrails.conditions` stay the reference: the
interpreter (:func:`guardrails.evaluate.run_rules`) walks them, and a
property test (tests/test_codegen.py) checks that the generated function
decides what they decide. The generated function does what ``run_rules``
does for one tier of plain rules, without the calls between closures:

* conditions are inlined as statements, attribute reads are direct
  (``roots.get`` and ``dict.get``), string tests are set lookups;
* errors carry the closures' codes and messages, built from the same text;
* what the generator does not inline (function calls, regexes, indexing,
  declared tool attributes) calls that sub-expression's closure, so its
  semantics cannot drift.

Only rule sets of one tier of plain rules (no detector, no redaction) are
compiled: costlier tiers depend on early stopping and on detector memos,
which the interpreter already handles. ``explain``, coverage and rule
sets past :data:`MAX_RULES` use the interpreter too. An indexed tool_call
set is not generated whole: its dispatch is (guardrails.rule_index.Picker),
and each group of its rules binds a template shared by the groups of its shape.
The source is kept on the stage graph, so ``guardrails graph --format
python`` prints it. It is generated, never edited by hand.
"""

from __future__ import annotations

from typing import Any, Callable

from guardrails import ast
from guardrails.conditions import source_of
from guardrails.detectors import DetectorError
from guardrails.diagnostics import RuntimeCode
from guardrails.rulegraph import TIER_PLAIN, RuleError, RuleNode, as_bool
from guardrails.values import is_number, kind_of, strict_eq

#: A compiled rule set: ctx -> (fired [(rule, findings)], failed [(rule, code, message)], mask), or
#: ctx.roots -> the same when its ``on_roots`` is true:
#: mask has bit i set when the set's i-th rule fired, or is -1 when a rule fired with evidence.
#: A tool_call set whose rules read only the request's values has the mask form instead
#: (its ``mask_form``): (tool, args, principal, context) -> mask, or -1 when a rule failed.
Compiled = Callable[..., Any]

#: The mask form's parameters: the tool_call request's values, as its rules name them.
MASK_PARAMS = ("tool", "args", "principal", "context")

#: At most this many rules are generated per stage (a tool's set counts its
#: wildcard rules again). Python compiles generated source at about 0.5 ms
#: a rule, so a large unindexed rule set stays with the interpreter rather
#: than slow the load; the sets past the budget are interpreted.
MAX_RULES = 256

MISSING = object()
#: The forms whose value is always a bool when they do not fail.
_BOOLEAN = (ast.Not, ast.And, ast.Or, ast.Compare, ast.In, ast.Has)
_ORDER = {"<": "<", "<=": "<=", ">": ">", ">=": ">="}


def failure(exc: Exception) -> tuple[str, str]:
    """(code, message) of a rule that failed, as run_rules reports it."""
    return getattr(exc, "code", "error"), getattr(exc, "message", None) or str(exc)


def not_a_bool(v: Any) -> RuleError:
    return RuleError(RuntimeCode.TYPE_ERROR, f"the condition gave a {type(v).__name__}, not true or false")


BASE_NAMES: dict[str, Any] = {
    "RuleError": RuleError, "DetectorError": DetectorError, "MISSING": MISSING, "as_bool": as_bool,
    "kind_of": kind_of, "is_number": is_number, "strict_eq": strict_eq, "failure": failure,
    "not_a_bool": not_a_bool, "MA": RuntimeCode.MISSING_ATTRIBUTE, "TE": RuntimeCode.TYPE_ERROR,
}


class StageCode:
    """A stage's generated functions: by tool (None: the rules for any other tool,
    or the stage's rules when it has no tool index), and their source.

    ``source`` is the text of every function, the groups of an indexed set
    (guardrails.rule_index.Picker) included: those are generated as source
    when it is read (at load, a group binds its shape's template)."""

    __slots__ = ("functions", "_head", "_pickers")

    def __init__(self, functions: dict[str | None, Compiled], head: str, pickers: tuple[Any, ...] = ()):
        self.functions = functions
        self._head = head
        self._pickers = pickers

    @property
    def source(self) -> str:
        return "\n\n".join([self._head.rstrip("\n") + "\n", *(p.groups_source() for p in self._pickers)])


class _Fn:
    """The text and names of one generated function."""

    def __init__(self, names: dict[str, Any]):
        self.lines: list[str] = []
        self.names = names
        self.temps = 0
        self.uses_ctx = False
        self.params: tuple[str, ...] = ()  # mask form: the roots that are the function's parameters
        self.slots: dict[int, str] = {}  # a shape's template: its literals' parameters, by id of their node

    def temp(self) -> str:
        self.temps += 1
        return f"t{self.temps}"

    def const(self, value: Any) -> str:
        if type(value) in (str, int, bool) or value is None:
            return repr(value)
        name = f"K{len(self.names)}"
        self.names[name] = value
        return name

    def literal(self, node: ast.Expr, value: Any) -> str:
        """A literal's value: the template's parameter for `node`, or the constant."""
        return self.slots.get(id(node)) or self.const(value)

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)


class Generator:
    """Generates a stage's functions from the conditions its compiler compiled.

    ``cc`` is the stage's :class:`guardrails.compiler.StageCompiler`: its
    scope says what a name is, and its closures are what the generated code
    calls where it does not inline."""

    def __init__(self, cc: Any, conditions: dict[str, ast.Expr | None]):
        self.cc = cc
        self.conditions = conditions
        self.on_roots: set[str] = set()  # the functions that take ctx.roots, not ctx
        self.mask_form: set[str] = set()  # tool_call functions of the request's values, giving the mask alone
        # What the stage's indexed sets share (rule_index.Picker): templates, groups' functions, records.
        self.shared: dict[str, Any] = {}

    @staticmethod
    def compilable(tiers: tuple[tuple[RuleNode, ...], ...]) -> bool:
        return len(tiers) <= 1 and all(r.tier == TIER_PLAIN and r.redact is None for t in tiers for r in t)

    def stage(self, graph: Any, sets: dict[str | None, tuple[tuple[RuleNode, ...], ...]], header: str,
              pickers: dict[str | None, Any] | None = None) -> StageCode | None:
        """The stage's functions: one per rule set of `sets` (up to
        MAX_RULES rules in all), and the dispatch of each indexed set
        (`pickers`, by tool: guardrails.rule_index.Picker)."""
        names: dict[str, Any] = dict(BASE_NAMES)
        chunks: list[str] = []
        fn_names: dict[str | None, str] = {}
        pickers = pickers or {}
        budget = MAX_RULES
        for key, tiers in sets.items():
            size = sum(map(len, tiers))
            if not self.compilable(tiers) or size > budget:
                continue
            budget -= size
            fn_name = f"decide_{graph.stage}" + ("" if key is None else "__" + ident(key))
            while fn_name in names:
                fn_name += "_"
            fn_names[key] = fn_name
            names[fn_name] = None
            chunks.append(self.function(fn_name, tiers[0] if tiers else (), names, key))
        if not fn_names and not pickers:
            return None
        head = comment_line(f"# {header}") + "\n# Generated by guardrails.codegen; do not edit.\n\n"
        shown = head + "\n\n".join([*(p.source for p in pickers.values()), *chunks])
        if not fn_names:
            return StageCode({k: p.function for k, p in pickers.items()}, shown, tuple(pickers.values()))
        source = head + "\n\n".join(chunks)
        namespace = dict(names)
        exec(compile(source, f"<guardrails:{graph.stage}>", "exec"), namespace)  # noqa: S102 - our own source
        functions = {k: namespace[n] for k, n in fn_names.items()}
        for k, f in functions.items():
            f.memo = {}  # the evaluator's: combined results by the set of rules that fired (see evaluate.decide)
            f.on_roots = fn_names[k] in self.on_roots  # call it with ctx.roots (see function())
            # The mask form: f(tool, args, principal, context) -> mask, or -1 when a rule failed;
            # its rules, in bit order, say which fired.
            f.mask_form = fn_names[k] in self.mask_form
            f.rules = sets[k][0] if sets[k] else ()
            f.picks = False
        functions.update((k, p.function) for k, p in pickers.items())
        return StageCode(functions, shown, tuple(pickers.values()))

    def function(self, name: str, rules: tuple[RuleNode, ...], names: dict[str, Any], tool: str | None) -> str:
        source, any_ctx = self.body(name, rules, names, tool, ())
        if any_ctx:
            return source
        if self.cc.stage == "tool_call":
            # Its rules read only the request's values: the mask form takes them as parameters.
            self.mask_form.add(name)
            return self.body(name, rules, names, tool, MASK_PARAMS)[0]
        self.on_roots.add(name)
        return source

    def body(self, name: str, rules: tuple[RuleNode, ...], names: dict[str, Any], tool: str | None,
             params: tuple[str, ...], slots: dict[int, str] | None = None) -> tuple[str, bool]:
        """The function's source, and whether a rule reads the Ctx. `params`
        (the mask form): the request's values are its parameters, the result
        is the mask alone, and a rule that fails makes it -1 (the caller then
        asks the interpreter, which reports the failure). `slots` (a shape's
        template, mask form only: see shape_of): the literals become
        parameters before the request's values."""
        fn = _Fn(names)
        fn.params = params
        fn.slots = slots or {}
        body: list[str] = []
        any_ctx = False
        pad = 1 if params else 0  # the mask form's rules sit in one try
        for i, rule in enumerate(rules):
            any_ctx = any_ctx or fn.uses_ctx
            bit = 1 << i
            fn.lines, fn.uses_ctx = [], False
            rname = fn.const(rule)
            cond = self.conditions.get(rule.qid)
            if rule.cond is None:
                fn.emit(1 + pad, f"mask |= {bit}" if params else f"fired.append(({rname}, NONE))")
                if not params:
                    fn.emit(1, f"mask |= {bit}")
                body += [f"{'    ' * pad}    # rule {rule.qid}: always", *fn.lines]
                continue
            if not params:
                fn.emit(1, "try:")
            if cond is None:  # no AST kept for it: call its closure
                v = self.closure(fn, rule.cond, 2)
            else:
                v = self.expr(fn, cond, 2)
            evidence = "ctx.evidence" if fn.uses_ctx else "NONE"
            fn.emit(2, f"if {v} is True:")
            if params:
                fn.emit(3, f"mask |= {bit}")
                fn.emit(2, f"elif {v} is not False:")
                fn.emit(3, "return -1")
            else:
                fn.emit(3, f"fired.append(({rname}, {evidence}))")
                # A rule that fired with evidence (spans) makes the set unfit for the memo: -1.
                fn.emit(3, f"mask = -1 if ctx.evidence else mask | {bit}" if fn.uses_ctx else f"mask |= {bit}")
                fn.emit(2, f"elif {v} is not False:")
                fn.emit(3, f"raise not_a_bool({v})")
                fn.emit(1, "except (RuleError, DetectorError) as exc:")
                fn.emit(2, f"failed.append(({rname}, *failure(exc)))")
            lines = fn.lines
            if fn.uses_ctx:
                lines = ["    ctx.evidence = []", *lines]
            shown = source_of(cond) if cond is not None else rule.source  # less the tool tests the index holds
            body += [comment_line(f"{'    ' * pad}    # rule {rule.qid}: {shown}"), *lines]
        any_ctx = any_ctx or fn.uses_ctx
        names["NONE"] = ()
        what = "any tool the index does not name" if tool is None and self.cc.stage == "tool_call" else (
            f"tool {tool!r}" if tool is not None else f"stage {self.cc.stage}")
        # Policy text reaches the source only as repr() literals and comments
        # without line breaks: a tool named 'x""" ...' must not end a docstring.
        doc = f"    {'The rules for ' + what + '.'!r}"
        if params:
            head = [f"def {name}({', '.join([*sorted(fn.slots.values(), key=_slot_order), *params])}):", doc,
                    "    mask = 0", "    try:"]
            tail = ["    except (RuleError, DetectorError):", "        return -1", "    return mask"]
            if not rules:
                head, tail = head[:-1], tail[-1:]
        else:
            # A set whose rules only read the request's values takes them alone
            # (the function's on_roots): the caller need not build a Ctx for it.
            head = [f"def {name}(ctx):", doc, "    roots = ctx.roots"] if any_ctx else [f"def {name}(roots):", doc]
            head += ["    fired = []", "    failed = []", "    mask = 0"]
            tail = ["    return fired, failed, mask"]
        return "\n".join([*head, *body, *tail]) + "\n", any_ctx

    def inline_body(self, rules: tuple[RuleNode, ...], names: dict[str, Any], tool: str | None,
                    slots: dict[int, str]) -> list[str]:
        """A shape's template's statements (body() in the mask form), which set
        ``mask`` inside its ``try``, for rule_index.Picker's dispatch to inline:
        no head, ``try``, ``except`` or rule comments."""
        lines = self.body("inline", rules, names, tool, MASK_PARAMS, slots)[0].rstrip("\n").split("\n")
        assert lines[2:4] == ["    mask = 0", "    try:"] and lines[-3:] == [
            "    except (RuleError, DetectorError):", "        return -1", "    return mask"]
        return [line for line in lines[4:-3] if not line.lstrip().startswith("# rule ")]

    # -- expressions: each emits statements and returns the name (or literal) holding the value
    def closure(self, fn: _Fn, f: Callable, depth: int) -> str:
        fn.uses_ctx = True
        t = fn.temp()
        fn.emit(depth, f"{t} = {fn.const(f)}(ctx)")
        return t

    def fallback(self, fn: _Fn, e: ast.Expr, depth: int) -> str:
        return self.closure(fn, self.cc.expr(e), depth)

    def expr(self, fn: _Fn, e: ast.Expr, depth: int) -> str:
        method = getattr(self, "g_" + type(e).__name__, None)
        return self.fallback(fn, e, depth) if method is None else method(fn, e, depth)

    def g_Literal(self, fn: _Fn, e: ast.Literal, depth: int) -> str:
        return fn.literal(e, e.value)

    def g_ListLit(self, fn: _Fn, e: ast.ListLit, depth: int) -> str:
        return fn.literal(e, tuple(i.value for i in e.items))

    def root(self, fn: _Fn, name: str, depth: int) -> str:
        if fn.params:  # the mask form: the request's values are its parameters
            if name in fn.params:
                return name
            fn.emit(depth, f"raise RuleError(MA, {f'{name!r} is not part of this request'!r})")
            return "MISSING"
        t = fn.temp()
        fn.emit(depth, f"{t} = roots.get({name!r}, MISSING)")
        fn.emit(depth, f"if {t} is MISSING:")
        fn.emit(depth + 1, f"raise RuleError(MA, {f'{name!r} is not part of this request'!r})")
        return t

    def g_Var(self, fn: _Fn, e: ast.Var, depth: int) -> str:
        if self.cc.root_name(e) is None:
            return fn.const(self.cc.expr(e)(None))  # a group: a constant
        return self.root(fn, e.name, depth)

    def g_Attr(self, fn: _Fn, e: ast.Attr, depth: int) -> str:
        root = self.cc.root_name(e.obj)
        if root == "tool" and self.cc.tool_attributes():
            return self.fallback(fn, e, depth)
        path, name = source_of(e.obj), e.name
        o = self.root(fn, root, depth) if root is not None else self.expr(fn, e.obj, depth)
        t = fn.temp()
        fn.emit(depth, f"if isinstance({o}, dict):")
        fn.emit(depth + 1, f"{t} = {o}.get({name!r}, MISSING)")
        fn.emit(depth + 1, f"if {t} is MISSING:")
        fn.emit(depth + 2, f"raise RuleError(MA, {f'{path} has no attribute {name!r}'!r})")
        fn.emit(depth, "else:")
        fn.emit(depth + 1, f"raise RuleError(TE, {path + ' is a '!r} + kind_of({o}) + {f'; it has no attribute {name!r}'!r})")
        return t

    def g_Has(self, fn: _Fn, e: ast.Has, depth: int) -> str:
        if self.cc.root_name(e.obj) == "tool" and self.cc.tool_attributes():
            return self.fallback(fn, e, depth)
        t = fn.temp()
        fn.emit(depth, "try:")
        before = len(fn.lines)
        o = self.expr(fn, e.obj, depth + 1)
        if len(fn.lines) == before:  # a parameter of the mask form: nothing to read
            fn.emit(depth + 1, "pass")
        fn.emit(depth, "except RuleError as err:")
        fn.emit(depth + 1, "if err.code != MA:")
        fn.emit(depth + 2, "raise")
        fn.emit(depth + 1, f"{t} = False")
        fn.emit(depth, "else:")
        fn.emit(depth + 1, f"{t} = isinstance({o}, dict) and {e.key!r} in {o}")
        return t

    def boolean(self, fn: _Fn, v: str, e: ast.Expr, depth: int) -> None:
        """Check that `v`, the value of `e`, is a bool, as as_bool does; these
        forms always give one, so they need no check."""
        if isinstance(e, _BOOLEAN):
            return
        where = source_of(e)
        fn.emit(depth, f"if {v} is not True and {v} is not False:")
        fn.emit(depth + 1, f"as_bool({v}, {where!r})")

    def g_Not(self, fn: _Fn, e: ast.Not, depth: int) -> str:
        v = self.expr(fn, e.operand, depth)
        self.boolean(fn, v, e.operand, depth)
        t = fn.temp()
        fn.emit(depth, f"{t} = not {v}")
        return t

    def g_And(self, fn: _Fn, e: ast.And, depth: int) -> str:
        return self.chain(fn, e.operands, depth, stop=False)

    def g_Or(self, fn: _Fn, e: ast.Or, depth: int) -> str:
        return self.chain(fn, e.operands, depth, stop=True)

    def chain(self, fn: _Fn, operands: tuple[ast.Expr, ...], depth: int, stop: bool) -> str:
        """`and` (stop on False) or `or` (stop on True): nested ifs, each operand checked to be a bool."""
        t = fn.temp()
        fn.emit(depth, f"{t} = {stop}")
        d = depth
        for i, o in enumerate(operands):
            v = self.expr(fn, o, d)
            self.boolean(fn, v, o, d)
            if i == len(operands) - 1:
                fn.emit(d, f"{t} = {v}")
            else:
                fn.emit(d, f"if {v} is {not stop}:")
                d += 1
        return t

    def g_Compare(self, fn: _Fn, e: ast.Compare, depth: int) -> str:
        op, where = e.op, source_of(e)
        lit = e.right.value if isinstance(e.right, ast.Literal) else None
        a = self.expr(fn, e.left, depth)
        t = fn.temp()
        if op in ("==", "!=") and type(lit) is str:
            test = f"(type({a}) is str and {a} == {fn.literal(e.right, lit)})"
            fn.emit(depth, f"{t} = {test if op == '==' else 'not ' + test}")
            return t
        if op in ("==", "!="):
            b = self.expr(fn, e.right, depth)
            fn.emit(depth, f"{t} = {'' if op == '==' else 'not '}strict_eq({a}, {b})")
            return t
        if is_number(lit):
            b = fn.literal(e.right, lit)
            fn.emit(depth, f"if type({a}) is int or type({a}) is float or is_number({a}):")
            fn.emit(depth + 1, f"{t} = {a} {_ORDER[op]} {b}")
        else:
            b = self.expr(fn, e.right, depth)
            fn.emit(depth, f"if (is_number({a}) and is_number({b})) or (isinstance({a}, str) and isinstance({b}, str)):")
            fn.emit(depth + 1, f"{t} = {a} {_ORDER[op]} {b}")
        fn.emit(depth, "else:")
        fn.emit(depth + 1, f"raise RuleError(TE, 'cannot compare a ' + kind_of({a}) + ' with a ' + kind_of({b}) + "
                           f"{' in `' + where + '`'!r})")
        return t

    def g_In(self, fn: _Fn, e: ast.In, depth: int) -> str:
        constant = None
        if isinstance(e.container, ast.ListLit) or (
            isinstance(e.container, ast.Var) and e.container.name in self.cc.unit.scope
        ):
            values = self.cc.expr(e.container)(None)
            if all(isinstance(v, str) for v in values):
                constant = frozenset(values)
        if constant is None:
            return self.fallback(fn, e, depth)
        root = self.cc.root_name(e.item)
        v = self.root(fn, root, depth) if root is not None else self.expr(fn, e.item, depth)
        t = fn.temp()
        fn.emit(depth, f"{t} = (isinstance({v}, str) and {v} in {fn.literal(e.container, constant)}) != {e.negated}")
        return t


def _slot_order(name: str) -> int:
    return int(name[1:])


class Unshared(Exception):
    """A condition the generator does not inline (it calls a closure): no template for its shape."""


def shape_of(e: ast.Expr, nodes: list[ast.Expr], values: list[Any]) -> Any:
    """The shape of a condition the generator inlines: the condition less
    its literals' values, and everything else the generator reads (node
    kinds, operators, names, the literals' types). Its literals' nodes and
    values are appended to `nodes` and `values`, in the order of the walk:
    two conditions of one shape generate the same source once the literals
    are parameters (Generator.body's `slots`), so they share one compiled
    template, each with its own values. Raises Unshared where the generator
    would call a closure (that function needs the Ctx and is not made).

    It mirrors the g_ methods: a literal or a list reaches the source only
    through _Fn.literal, a list tested by ``in`` as the frozenset g_In makes."""
    t = type(e)
    if t is ast.Literal:
        nodes.append(e)
        values.append(e.value)
        return type(e.value)
    if t is ast.Var:
        return "var", e.name  # (the scope says what a name is, and one stage has one scope)
    if t is ast.Attr:
        return "attr", e.name, shape_of(e.obj, nodes, values)
    if t is ast.Compare:
        return "cmp", e.op, shape_of(e.left, nodes, values), shape_of(e.right, nodes, values)
    if t is ast.And or t is ast.Or:
        return t.__name__, tuple(shape_of(o, nodes, values) for o in e.operands)
    if t is ast.Not:
        return "not", shape_of(e.operand, nodes, values)
    if t is ast.Has:
        return "has", e.key, shape_of(e.obj, nodes, values)
    if t is ast.In:
        item = shape_of(e.item, nodes, values)
        c = e.container
        if type(c) is ast.ListLit:
            nodes.append(c)
            values.append(frozenset(i.value for i in c.items))
            return "in", e.negated, item, ("set", tuple(type(i.value) for i in c.items))
        return "in", e.negated, item, shape_of(c, nodes, values)
    if t is ast.ListLit:
        nodes.append(e)
        values.append(tuple(i.value for i in e.items))
        return "list", tuple(type(i.value) for i in e.items)
    raise Unshared


def fired_rules(f: Compiled, mask: Any) -> list[tuple[RuleNode, tuple]]:
    """The rules a mask-form function's `mask` (a Picker's key) says fired,
    in the interpreter's order (by rule id: a mask-form set has one tier),
    with their findings (none)."""
    return [(r, ()) for r in fired_rule_nodes(f, mask)]


def fired_rule_nodes(f: Compiled, mask: Any) -> list[RuleNode]:
    """fired_rules less the findings."""
    if not f.picks:
        return [r for i, r in enumerate(f.rules) if mask >> i & 1]
    groups, out = f.groups, []
    pairs = iter(mask)
    for g in pairs:
        rules, m = groups[g], next(pairs)
        if m == 1:  # (most groups hold one rule)
            out.append(rules[0])
        else:
            out += [r for i, r in enumerate(rules) if m >> i & 1]
    if len(out) > 1:
        out.sort(key=_qid)
    return out


def _qid(rule: RuleNode) -> str:
    return rule.qid


def ident(name: str) -> str:
    # ASCII only: str.isalnum() accepts characters no identifier may hold ("²").
    return "".join(ch if ch.isascii() and ch.isalnum() else "_" for ch in name)


def comment_line(line: str) -> str:
    """A comment line of generated source: whatever could end the line
    (a carriage return in a regex, say) becomes a space."""
    return "".join(ch if ch.isprintable() else " " for ch in line)


__all__ = ["BASE_NAMES", "MASK_PARAMS", "MAX_RULES", "MISSING", "Compiled", "Generator", "StageCode", "Unshared",
           "comment_line", "failure", "fired_rule_nodes", "fired_rules", "ident", "not_a_bool", "shape_of"]
