"""Types of conditions: the checker's pass over one rule's expression.

Without a schema the request's values are ``any`` and only what the
expression itself shows is checked (a list where a string is needed, a
regex on a number). With one (docs/schema.md) every attribute path a rule
reads has a declared type, and the checks are sound: a condition that
passes never meets a type error, or a missing attribute, at run time on a
request that matches the schema. That rests on three rules, Cedar's:

* a path must be declared (``args.priorty`` is E108, with "did you mean");
* an optional attribute is read only after ``has`` proved it present,
  earlier in the same ``and`` (E304);
* every operator gets operands of the kinds it takes (E301), and an enum
  is compared only with its own literals (E305).

``args`` is typed by the tools the rule can apply to: the ones its
condition names (``tool == "x"``, ``tool in group``), or else every
declared tool, with an argument optional unless all of them require it.
"""

from __future__ import annotations

from typing import Any, Callable

from guardrails import ast
from guardrails.diagnostics import Span
from guardrails.functions import FUNCTIONS, NAME, Function
from guardrails.resolve import suggest, tools_of
from guardrails.schema import ANY, EMPTY, MIXED, SHAPE_ROOTS, FieldTy, Schema, Ty
from guardrails.stages import ALL_ROOTS, ROOTS
from guardrails.values import kind_of




def path_of(e: ast.Expr) -> str | None:
    """``args.meta.owner`` for an attribute path, else None."""
    parts: list[str] = []
    while isinstance(e, (ast.Attr, ast.Index)):
        parts.append(e.name if isinstance(e, ast.Attr) else str(e.key))
        e = e.obj
    if not isinstance(e, ast.Var):
        return None
    return ".".join([e.name, *reversed(parts)])


def name_span(e: ast.Attr) -> Span:
    """Where the attribute's name is written: the end of the path."""
    return _tail(e.span, len(e.name))


def _tail(s: Span, n: int) -> Span:
    """The last `n` characters of `s` (on its last line)."""
    return Span(s.file, s.end_line, max(1, s.end_col - n), s.end_line, s.end_col, s.end - n, s.end)


class TypeChecker:
    """Infers the type of an expression; reports mismatches. 'error' absorbs
    follow-on errors so one mistake is reported once.

    `fc` is the file's checker (errors, scope, name lookups); `tools` the
    tool names the rule is limited to (None: any tool).
    """

    def __init__(self, fc: Any, stage: str, schema: Schema = EMPTY, tools: frozenset[str] | None = None):
        self.fc = fc
        self.stage = stage
        self.roots = ROOTS[stage]
        self.schema = schema
        self.typed: dict[int, Ty] = {}  # id(expr) -> declared type, for paths the schema covers
        self.known: set[str] = set()  # paths `has` proved present, in the `and` being checked
        self.tools = self._declared(tools)

    def infer(self, e: ast.Expr) -> str:
        method = _METHODS.get(type(e))
        if method is None:  # each node type's t_ method, looked up once for every checker
            method = _METHODS[type(e)] = getattr(TypeChecker, "t_" + type(e).__name__)
        return method(self, e)

    # -- the schema's view of the request
    def _declared(self, tools: frozenset[str] | None) -> tuple[str, ...] | None:
        """The declared tools the rule reads `args` of; None when a tool
        without a declaration may be among them (then `args` is untyped)."""
        if not self.schema.tools or "tool" not in self.roots:
            return None
        if tools is None:
            return tuple(sorted(self.schema.tools))
        if all(t in self.schema.tools for t in tools):
            return tuple(sorted(tools))
        return None

    def root_type(self, name: str) -> Ty | None:
        if name == "args" and self.tools is not None:
            return _union([self.schema.tools[t].args for t in self.tools])
        if name in SHAPE_ROOTS:
            return self.schema.shapes.get(name)
        return None

    def tool_attribute(self, name: str, span: Span) -> tuple[Ty, bool] | None:
        """The type of ``tool.NAME`` over the rule's tools, and whether every one has it."""
        tools = self.tools or ()
        values = [self.schema.tools[t].attributes[name] for t in tools if name in self.schema.tools[t].attributes]
        if not values:
            known = self.schema.attribute_names()
            self.fc.err("E108", f"no declared tool{' the rule applies to' if self.tools and len(known) else ''} "
                        f"has the attribute {name!r}", span,
                        hint=suggest(name, known, "tool attributes") or "declare it: tool NAME(...) with NAME = value")
            return None
        kinds = {kind_of(v) for v in values}
        ty = Ty({"string": "string", "number": "number", "bool": "boolean", "list": "any"}.get(kinds.pop(), "any")
                ) if len(kinds) == 1 else ANY
        return ty, len(values) == len(tools)

    # -- leaves
    def t_Literal(self, e: ast.Literal) -> str:
        return kind_of(e.value)  # the same names the evaluator uses in its errors

    def t_ListLit(self, e: ast.ListLit) -> str:
        return "list"

    def t_Var(self, e: ast.Var) -> str:
        if e.name in self.roots:
            ty = self.root_type(e.name)
            if ty is not None:
                self.typed[id(e)] = ty
            return self.roots[e.name]
        if e.name in ALL_ROOTS:
            where = [s for s, r in ROOTS.items() if e.name in r]
            self.fc.err("E303", f"{e.name!r} is not available in the {self.stage} stage", e.span,
                        hint=f"it exists in: {', '.join(where)}")
            return "error"
        d = self.fc.scope.get(e.name)
        if d is not None:
            if isinstance(d.node, (ast.ToolsDef, ast.TermsDef)):
                self.fc.used.add(e.name)
                return "list"
            self.fc.used.add(e.name)
            usage = {ast.EntitiesDef: "inside pii(...)", ast.TopicDef: "inside topic(...)",
                     ast.PatternDef: "after `matches`", ast.LabelDef: "inside labelled(...) or a label effect",
                     ast.LimitDef: "inside over(...)"}[type(d.node)]
            self.fc.err("E301", f"{ast.KIND_NAMES[type(d.node)]} {e.name!r} can only be used {usage}", e.span)
            return "error"
        if e.name in self.fc.f.blanked:
            return "error"
        names = list(self.roots) + [n for n, dd in self.fc.scope.items()
                                    if isinstance(dd.node, (ast.ToolsDef, ast.TermsDef))]
        self.fc.err("E102", f"unknown name {e.name!r}", e.span, hint=suggest(e.name, names, "names in scope"))
        return "error"

    # -- paths
    def _container(self, e: ast.Expr, what: str) -> str:
        t = self.infer(e)
        if t in ("map", "any", "error"):
            return "error" if t == "error" else "any"
        if t == "list" and what == "index":
            return "any"
        self.fc.err("E301", f"cannot {'read attributes of' if what == 'attr' else 'index'} a {t}", e.span)
        return "error"

    def _is_tool(self, e: ast.Expr) -> bool:
        return isinstance(e, ast.Var) and e.name == "tool" and "tool" in self.roots and bool(self.schema.tools)

    def _field(self, owner: ast.Expr, rec: Ty, name: str, e: ast.Expr, span: Span) -> str:
        """Read field `name` of the typed record `rec` at `e`."""
        f = rec.field(name)
        path = path_of(e) or name
        if f is None:
            if rec.open:
                f = FieldTy(name, ANY, True)
            else:
                self.fc.err("E108", f"{_unknown_what(owner, self.tools)} {name!r}", span,
                            hint=suggest(name, [x.name for x in rec.fields], _known_what(owner)))
                return "error"
        if f.optional and path not in self.known:
            self.fc.err("E304", f"{path} may be absent: the schema declares it optional", span,
                        hint=f"test it first, in the same `and`: `{path.rsplit('.', 1)[0]} has {name} and ...`")
        self.typed[id(e)] = f.ty
        return f.ty.value_kind

    def t_Attr(self, e: ast.Attr) -> str:
        if self._is_tool(e.obj):
            found = self.tool_attribute(e.name, name_span(e))
            if found is None:
                return "error"
            ty, everywhere = found
            path = f"tool.{e.name}"
            if not everywhere and path not in self.known:
                self.fc.err("E304", f"not every tool the rule applies to has the attribute {e.name!r}", name_span(e),
                            hint=f"test it first: `tool has {e.name} and ...`, or narrow the rule's tools")
            self.typed[id(e)] = ty
            return ty.value_kind
        t = self._container(e.obj, "attr")
        rec = self.typed.get(id(e.obj))
        if t == "error" or rec is None or rec.kind != "record":
            return t
        return self._field(e.obj, rec, e.name, e, name_span(e))

    def t_Index(self, e: ast.Index) -> str:
        t = self._container(e.obj, "index")
        ty = self.typed.get(id(e.obj))
        if t == "error" or ty is None:
            return t
        if ty.kind == "record" and isinstance(e.key, str):
            return self._field(e.obj, ty, e.key, e, e.span)
        if ty.kind == "list" and isinstance(e.key, int):
            # An index past the end is a missing element at run time, as `has` cannot test it.
            self.typed[id(e)] = ty.elem
            return ty.elem.value_kind
        if ty.kind in ("record", "list"):
            self.fc.err("E301", f"a {'list' if ty.kind == 'list' else 'record'} is indexed by "
                        f"{'whole numbers' if ty.kind == 'list' else 'names'}", e.span)
            return "error"
        return t

    def t_Has(self, e: ast.Has) -> str:
        if self._is_tool(e.obj):
            if not any(e.key in self.schema.tools[t].attributes for t in self.tools or ()):
                self.tool_attribute(e.key, e.span)
            return "bool"
        t = self.infer(e.obj)
        if t not in ("map", "any", "error"):
            self.fc.err("E301", f"`has` tests the attributes of a map, not of a {t}", e.obj.span)
            return "bool"
        rec = self.typed.get(id(e.obj))
        if rec is not None and rec.kind == "record" and not rec.open and rec.field(e.key) is None:
            self.fc.err("E108", f"{_unknown_what(e.obj, self.tools)} {e.key!r}", _key_span(e),
                        hint=suggest(e.key, [x.name for x in rec.fields], _known_what(e.obj)))
        return "bool"

    # -- boolean structure
    def _bool_operand(self, e: ast.Expr) -> None:
        t = self.infer(e)
        if t not in ("bool", "any", "error"):
            self.fc.err("E301", f"expected true or false, found a {t}", e.span)

    def t_Not(self, e: ast.Not) -> str:
        self._bool_operand(e.operand)
        return "bool"

    def t_And(self, e: ast.And) -> str:
        # `has` earlier in an `and` makes the attribute present for what follows.
        before = set(self.known)
        for o in e.operands:
            self._bool_operand(o)
            self.known |= proven(o)
        self.known = before
        return "bool"

    def t_Or(self, e: ast.Or) -> str:
        for o in e.operands:
            self._bool_operand(o)
        return "bool"

    # -- tests
    def t_Compare(self, e: ast.Compare) -> str:
        lt, rt = self.infer(e.left), self.infer(e.right)
        if "error" in (lt, rt):
            return "bool"
        self._enum_literals(e.left, (e.right,), e)
        self._enum_literals(e.right, (e.left,), e)
        if e.op in ("==", "!=") and isinstance(e.right, ast.Literal):
            self._case_warning(e.left, e.right)
        if "any" in (lt, rt) or (MIXED in (lt, rt) and e.op in ("==", "!=")):
            return "bool"  # strict equality holds or fails; it never errs
        if e.op in ("==", "!="):
            if lt != rt and "null" not in (lt, rt):
                self.fc.err("E301", f"comparing a {lt} with a {rt} is never equal", e.span,
                            hint="both sides of == must have the same type")
            return "bool"
        if lt != rt or lt not in ("number", "string"):
            self.fc.err("E301", f"cannot order a {lt} against a {rt} with {e.op}", e.span,
                        hint="<, <=, >, >= compare two numbers or two strings")
        return "bool"

    def _enum_literals(self, side: ast.Expr, others: tuple[ast.Expr, ...], where: ast.Expr) -> None:
        ty = self.typed.get(id(side))
        if ty is None or ty.kind != "enum":
            return
        for o in others:
            lits = o.items if isinstance(o, ast.ListLit) else (o,) if isinstance(o, ast.Literal) else ()
            for lit in lits:
                if lit.value is None:
                    continue
                if not any(lit.value == v and kind_of(lit.value) == kind_of(v) for v in ty.values):
                    close = [v for v in ty.values if isinstance(v, str) and isinstance(lit.value, str)
                             and v.lower() == lit.value.lower()]
                    hint = (f"did you mean {close[0]!r}? comparisons are case-sensitive" if close
                            else f"{path_of(side) or 'it'} is one of {ty.describe()}")
                    self.fc.err("E305", f"{_shown(lit.value)} is not a value of {path_of(side) or 'this enum'}",
                                lit.span, hint=hint)

    def _case_warning(self, side: ast.Expr, lit: ast.Literal) -> None:
        """A declared free-form string compared with a literal that has letters."""
        ty = self.typed.get(id(side))
        if ty is None:
            return  # no declared type: nothing to warn about (most comparisons)
        path = path_of(side)
        if (ty.kind != "string" or not isinstance(lit.value, str) or path is None
                or path.startswith("tool.") or not any(ch.isalpha() for ch in lit.value)):
            return
        self.fc.warn("W305", f"{path} is a free string: == {_shown(lit.value)} misses other spellings "
                     f"such as {_shown(lit.value.upper() if lit.value != lit.value.upper() else lit.value.lower())}",
                     lit.span, hint=f"compare lower({path}) with a lower-case literal, or declare an enum")

    def t_In(self, e: ast.In) -> str:
        it = self.infer(e.item)
        ct = self.infer(e.container)
        if ct not in ("list", "map", "string", "any", "error"):
            self.fc.err("E301", f"`in` needs a list, map or string on its right, found a {ct}", e.container.span)
        elif ct == "string" and it not in ("string", "any", "error"):
            self.fc.err("E301", f"`in` a string looks for a string, not a {it}", e.item.span)
        self._enum_literals(e.item, (e.container,), e)
        return "bool"

    def t_Matches(self, e: ast.Matches) -> str:
        st = self.infer(e.subject)
        if st not in ("string", "any", "error"):
            self.fc.err("E301", f"`matches` needs a string on its left, found a {st}", e.subject.span)
        if e.regex is not None:
            self.fc.check_regex(e.regex)
        else:
            self.fc.lookup(e.pattern, ast.PatternDef, "pattern", e.span)
        return "bool"

    def t_StrTest(self, e: ast.StrTest) -> str:
        lt, rt = self.infer(e.left), self.infer(e.right)
        allowed_left = ("string", "list", "any", "error") if e.op == "contains" else ("string", "any", "error")
        if lt not in allowed_left:
            self.fc.err("E301", f"`{e.op}` cannot test a {lt}", e.left.span)
        elif lt == "string" and rt not in ("string", "any", "error"):
            hint = None
            if rt == "list" and e.op == "contains":
                hint = "to test a text for a terms list's terms, use banned(NAME)"
            self.fc.err("E301", f"`{e.op}` needs a string on its right, found a {rt}", e.right.span, hint=hint)
        return "bool"

    def t_Call(self, e: ast.Call) -> str:
        fn = FUNCTIONS.get(e.func)
        if fn is None:
            self.fc.err("E106", f"unknown function {e.func!r}", e.span,
                        hint=suggest(e.func, sorted(FUNCTIONS), "functions"))
            return "error"
        self.check_call(fn, e)
        return fn.returns

    def check_call(self, fn: Function, e: ast.Call) -> None:
        """The checks `fn`'s signature declares, then its own extra check."""
        for k in e.kwargs:
            option = fn.option(k.name)
            if option is None:
                self.fc.err("E302", f"{e.func}() has no option {k.name!r}", k.span)
            elif not option.accepts(k.value.value):
                self.fc.err(option.code, option.problem, k.value.span)
        specs = [*fn.args, *([fn.args[-1]] * max(0, len(e.args) - len(fn.args)))] if fn.variadic else list(fn.args)
        for a, spec in zip(e.args, specs):
            if spec.kinds == (NAME,) and not isinstance(a, ast.Var):
                self.fc.err("E302", f"{e.func}() takes names, not expressions", a.span)
                return
        problem = fn.arity_problem(len(e.args))
        if problem is not None:
            self.fc.err("E302", problem, e.span)
            return
        for a, spec in zip(e.args, specs):
            if NAME in spec.kinds:
                if isinstance(a, ast.Var) or spec.kinds == (NAME,):
                    continue  # a name: the function's own check looks it up
                kinds = tuple(k for k in spec.kinds if k != NAME)
            else:
                kinds = spec.kinds
            t = self.infer(a)
            if t not in kinds + ("any", "error"):
                self.fc.err("E301", f"{e.func}() cannot take a {t}", a.span)
                return
        if fn.check is not None:
            fn.check(self, e)

    # -- what a function's own check may ask (functions.CallChecker)
    def err(self, code: str, msg: str, span: Span, hint: str | None = None) -> None:
        self.fc.err(code, msg, span, hint)

    def lookup(self, name: str, kind: type, what: str, span: Span) -> ast.Definition | None:
        return self.fc.lookup(name, kind, what, span)

    def check_entity_ref(self, name: str, span: Span) -> None:
        self.fc.check_entity_ref(name, span)


_METHODS: dict[type, Callable[[TypeChecker, Any], str]] = {}


def check_condition(fc: Any, stage: str, rule: ast.Rule, schema: Schema) -> str:
    """The type of `rule`'s condition, its attribute paths checked against `schema`."""
    # The tools matter only when the schema declares some (TypeChecker._declared).
    tools = tools_of(rule.condition, fc) if schema.tools and "tool" in ROOTS[stage] else None
    return TypeChecker(fc, stage, schema, tools).infer(rule.condition)


def strict_problems(fc: Any, stage: str, rule: ast.Rule, schema: Schema):
    """What `check --strict` refuses in a rule: a tool it names without a
    declaration, a principal, context or metadata read without one.
    Yields (message, span, hint)."""
    declared = sorted(schema.tools)
    for e in ast.walk(rule.condition):
        names: list[tuple[str, Span]] = []
        if isinstance(e, ast.Compare) and e.op in ("==", "!="):
            for a, b in ((e.left, e.right), (e.right, e.left)):
                if isinstance(a, ast.Var) and a.name == "tool" and isinstance(b, ast.Literal) and isinstance(b.value, str):
                    names.append((b.value, b.span))
        elif isinstance(e, ast.In) and isinstance(e.item, ast.Var) and e.item.name == "tool" and isinstance(
                e.container, ast.ListLit):
            names.extend((str(i.value), i.span) for i in e.container.items)
        elif isinstance(e, ast.Var) and e.name in SHAPE_ROOTS and e.name in ROOTS[stage] and e.name not in schema.shapes:
            yield (f"{e.name} has no schema", e.span, f"declare it: {e.name} {{ name: string, ... }}")
        for name, span in names:
            if name not in schema.tools:
                yield (f"tool {name!r} has no schema", span,
                       suggest(name, declared, "declared tools") or "declare it: tool NAME(arg: string, ...)")


def proven(e: ast.Expr) -> set[str]:
    """The paths `e` proves present when it is true."""
    if isinstance(e, ast.Has):
        base = path_of(e.obj)
        return {f"{base}.{e.key}"} if base else set()
    if isinstance(e, ast.And):
        out: set[str] = set()
        for o in e.operands:
            out |= proven(o)
        return out
    return set()


def _union(records: list[Ty]) -> Ty:
    """The arguments of any one of several tools: a field is required only
    if every tool requires it, and keeps its type only if they all agree."""
    if len(records) == 1:
        return records[0]
    names: dict[str, None] = {}
    for r in records:
        for f in r.fields:
            names.setdefault(f.name)
    fields = []
    for n in names:
        found = [r.field(n) for r in records]
        present = [f for f in found if f is not None]
        ty = present[0].ty if all(f.ty == present[0].ty for f in present) else Ty(
            "mixed", alts=tuple(dict.fromkeys(f.ty for f in present)))
        fields.append(FieldTy(n, ty, any(f is None or f.optional for f in found)))
    return Ty("record", fields=tuple(fields), open=any(r.open for r in records))


def _unknown_what(owner: ast.Expr, tools: tuple[str, ...] | None) -> str:
    root = path_of(owner) or ""
    if root == "args":
        if tools and len(tools) == 1:
            return f"tool {tools[0]!r} has no argument"
        return "no declared tool the rule applies to has the argument"
    return f"{root or 'the record'} has no attribute"


def _known_what(owner: ast.Expr) -> str:
    return "declared arguments" if path_of(owner) == "args" else "declared attributes"


def _key_span(e: ast.Has) -> Span:
    return _tail(e.span, len(e.key))


def _shown(v: Any) -> str:
    return repr(v) if not isinstance(v, bool) else ("true" if v else "false")
