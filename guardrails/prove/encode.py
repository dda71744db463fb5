"""Conditions as z3 terms over a :class:`~guardrails.prove.symbolic.Space`.

Each expression becomes a :class:`Sym`: a JSON value (the sort ``J``) and
two error flags, ``missing`` (``missing-attribute``) and ``wrong``
(``type-error``), kept apart because ``has`` turns the first into false and
lets the second through. ``and``/``or`` stop where the engine stops, so an
error after a false conjunct is no error, as in :mod:`guardrails.conditions`.

What is exact, what is a free input and what is refused is listed in
docs/prove.md; a refusal raises :class:`~guardrails.prove.symbolic.Outside`
with the reason, and a free input is recorded in the space with what it
stands for.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from guardrails import ast
from guardrails.detectors import SECRET_KINDS
from guardrails.detectors.injection import LEVELS as INJECTION_LEVELS
from guardrails.prove.regex import MAX_CHAR, Untranslatable, search_regex
from guardrails.prove.symbolic import Free, Outside, Space
from guardrails.resolve import Unit, group_members
from guardrails.rulegraph import DEFAULT_MIN_SCORE
from guardrails.unparse import format_expr

SESSION_FUNCTIONS = frozenset({"labelled", "calls", "occurred_since", "repeats", "flows_from", "over"})


@dataclass(frozen=True, slots=True)
class Sym:
    value: Any  # a J term
    missing: Any  # Bool: reading it fails with missing-attribute
    wrong: Any  # Bool: it fails with type-error
    path: str | None = None  # the attribute path, when it is one
    consts: tuple | None = None  # a list literal or a tools/terms group: its values

    @property
    def err(self) -> Any:
        import z3

        return z3.Or(self.missing, self.wrong)


def _fingerprint(*parts: str) -> str:
    return hashlib.sha1("\0".join(parts).encode()).hexdigest()[:8]


class Encoder:
    """Encodes the conditions of one unit (a policy and its imports) over a space."""

    def __init__(self, space: Space, unit: Unit, pii_default: frozenset[str] = frozenset()):
        self.s = space
        self.z3 = space.z3
        self.J = space.J
        self.unit = unit
        self.pii_default = pii_default
        self.F = self.z3.BoolVal(False)
        self.T = self.z3.BoolVal(True)
        self.notes: list[str] = []  # what became a free input, for the report
        self.session = False  # a condition reads session state

    # -- helpers
    def ok(self, value: Any, **kw: Any) -> Sym:
        return Sym(value, self.F, self.F, **kw)

    def boolean(self, b: Any) -> Sym:
        return self.ok(self.J.boolean(b))

    def number(self, n: Any) -> Sym:
        return self.ok(self.J.number(n))

    def literal(self, v: Any) -> Any:
        z3, J = self.z3, self.J
        if v is None:
            return J.null
        if isinstance(v, bool):
            return J.boolean(z3.BoolVal(v))
        if isinstance(v, (int, float)):
            return J.number(real(z3, v))
        if isinstance(v, str):
            if any(ord(ch) > MAX_CHAR for ch in v):
                raise Outside(f"the string {v!r} has characters beyond U+{MAX_CHAR:X}, which the solver cannot represent")
            return J.string(z3.StringVal(v))
        raise Outside(f"the literal {v!r}")

    def definition(self, name: str) -> Any:
        d = self.unit.scope.get(name)
        return d.node if d is not None else None

    def then(self, first: Sym, second: Sym) -> tuple[Any, Any]:
        """Errors of `first` then `second` (evaluated in that order)."""
        z3 = self.z3
        ok1 = z3.Not(first.err)
        return z3.Or(first.missing, z3.And(ok1, second.missing)), z3.Or(first.wrong, z3.And(ok1, second.wrong))

    # -- the condition of a rule: true, false or an error
    def condition(self, e: ast.Expr) -> tuple[Any, Any]:
        """(fires, fails): the condition is `true`; its evaluation fails (a
        value that is not a boolean is a type-error, as in the engine)."""
        z3, J = self.z3, self.J
        v = self.expr(e)
        fails = z3.Or(v.err, z3.Not(J.is_boolean(v.value)))
        return z3.And(z3.Not(fails), J.b(v.value)), fails

    def truth(self, v: Sym) -> tuple[Any, Any]:
        z3, J = self.z3, self.J
        bad = z3.Or(v.err, z3.Not(J.is_boolean(v.value)))
        return z3.And(z3.Not(bad), J.b(v.value)), bad

    # -- expressions
    def expr(self, e: ast.Expr) -> Sym:
        method = getattr(self, "e_" + type(e).__name__, None)
        if method is None:
            raise Outside(f"the expression `{format_expr(e)}`")
        return method(e)

    def e_Literal(self, e: ast.Literal) -> Sym:
        return self.ok(self.literal(e.value))

    def e_ListLit(self, e: ast.ListLit) -> Sym:
        return self.ok(self.J.null, consts=tuple(i.value for i in e.items))

    def e_Var(self, e: ast.Var) -> Sym:
        d = self.definition(e.name)
        if isinstance(d, ast.ToolsDef):
            return self.ok(self.J.null, consts=group_members(d, self.unit.scope))
        if isinstance(d, ast.TermsDef):
            return self.ok(self.J.null, consts=tuple(i.value for i in d.terms))
        if e.name == "tool" and self.s.tool is not None:
            return self.ok(self.J.string(self.s.tool))
        if e.name == "text" and self.s.text is not None:
            return self.ok(self.J.string(self.s.text))
        if e.name in self.s.paths and "." not in e.name and "[" not in e.name:
            return self.ok(self.s.paths[e.name], path=e.name)
        if e.name in ("tool", "text", "args", "principal", "context", "metadata", "result"):
            # not part of this stage's request: the engine fails the rule
            return Sym(self.J.absent, self.T, self.F)
        raise Outside(f"the name {e.name!r}")

    def _child(self, obj: Sym, key: str | int, where: str) -> Sym:
        z3, J = self.z3, self.J
        if obj.path is None:
            raise Outside(f"reading {key!r} from `{where}`, which is not an attribute path")
        if isinstance(key, int) and key < 0:
            raise Outside(f"the negative index [{key}] in `{where}`")
        name, v = self.s.child(obj.path, key)
        ok = z3.Not(obj.err)
        if isinstance(key, int):
            shape = J.is_list(obj.value)
        else:
            shape = J.is_map(obj.value)
        missing = z3.Or(obj.missing, z3.And(ok, shape, J.is_absent(v)))
        wrong = z3.Or(obj.wrong, z3.And(ok, z3.Not(shape)))
        return Sym(v, missing, wrong, path=name)

    def schema(self) -> Any:
        sch = getattr(self.unit, "schema", None)
        return sch if sch is not None and sch.tools else None

    def e_Attr(self, e: ast.Attr) -> Sym:
        if isinstance(e.obj, ast.Var) and e.obj.name == "tool" and self.s.tool is not None and self.schema():
            from guardrails.prove.shapes import tool_attribute

            value, missing = tool_attribute(self, self.schema(), e.name)
            return Sym(value, missing, self.F)
        return self._child(self.expr(e.obj), e.name, format_expr(e.obj))

    def e_Index(self, e: ast.Index) -> Sym:
        obj = self.expr(e.obj)
        if isinstance(e.key, str):
            # `["k"]` reads a map only; a list cannot be indexed by a string
            return self._child(obj, e.key, format_expr(e.obj))
        return self._child(obj, e.key, format_expr(e.obj))

    def e_Has(self, e: ast.Has) -> Sym:
        z3, J = self.z3, self.J
        if isinstance(e.obj, ast.Var) and e.obj.name == "tool" and self.s.tool is not None and self.schema():
            from guardrails.prove.shapes import tool_has

            return self.boolean(tool_has(self, self.schema(), e.key))
        obj = self.expr(e.obj)
        if obj.path is None:
            raise Outside(f"`has` on `{format_expr(e.obj)}`, which is not an attribute path")
        _, v = self.s.child(obj.path, e.key)
        present = z3.And(J.is_map(obj.value), z3.Not(J.is_absent(v)))
        fine = z3.Not(obj.err)
        return Sym(J.boolean(z3.And(fine, present)), self.F, obj.wrong)

    def e_Not(self, e: ast.Not) -> Sym:
        z3 = self.z3
        v = self.expr(e.operand)
        val, bad = self.truth(v)
        return Sym(self.J.boolean(z3.Not(val)), self.F, bad)

    def _chain(self, operands: tuple, stop_on: bool) -> Sym:
        """`and` (stops at the first false) or `or` (stops at the first true)."""
        z3 = self.z3
        bad_terms, decided, reached = [], [], self.T
        for o in operands:
            val, bad = self.truth(self.expr(o))
            hit = val if stop_on else z3.Not(val)  # this operand ends the chain
            bad_terms.append(z3.And(reached, bad))
            decided.append(z3.And(reached, z3.Not(bad), hit))
            reached = z3.And(reached, z3.Not(bad), z3.Not(hit))
        ended = z3.Or(*decided)
        value = ended if stop_on else z3.Not(ended)
        return Sym(self.J.boolean(value), self.F, z3.Or(*bad_terms))

    def e_And(self, e: ast.And) -> Sym:
        return self._chain(e.operands, stop_on=False)

    def e_Or(self, e: ast.Or) -> Sym:
        return self._chain(e.operands, stop_on=True)

    def equal(self, a: Any, b: Any) -> Any:
        """strict_eq: kinds must agree; numbers by value; true is not 1."""
        z3, J = self.z3, self.J
        either = z3.simplify(z3.And(z3.Or(J.is_map(a), J.is_list(a)), z3.Or(J.is_map(b), J.is_list(b))))
        opaque = self.F if z3.is_false(either) else self.s.fresh(
            f"eq:{a.sexpr()}=={b.sexpr()}", "opaque", f"`{a} == {b}` when both are maps or lists")
        return z3.Or(
            z3.And(J.is_null(a), J.is_null(b)),
            z3.And(J.is_boolean(a), J.is_boolean(b), J.b(a) == J.b(b)),
            z3.And(J.is_number(a), J.is_number(b), J.n(a) == J.n(b)),
            z3.And(J.is_string(a), J.is_string(b), J.s(a) == J.s(b)),
            z3.And(z3.Or(z3.And(J.is_map(a), J.is_map(b)), z3.And(J.is_list(a), J.is_list(b))), opaque),
        )

    def e_Compare(self, e: ast.Compare) -> Sym:
        z3, J = self.z3, self.J
        left, right = self.expr(e.left), self.expr(e.right)
        if left.consts is not None or right.consts is not None:
            raise Outside(f"comparing a list in `{format_expr(e)}`")
        missing, wrong = self.then(left, right)
        a, b = left.value, right.value
        if e.op in ("==", "!="):
            eq = self.equal(a, b)
            return Sym(J.boolean(eq if e.op == "==" else z3.Not(eq)), missing, wrong)
        nums = z3.And(J.is_number(a), J.is_number(b))
        strs = z3.And(J.is_string(a), J.is_string(b))
        op = e.op
        num_test = {"<": J.n(a) < J.n(b), "<=": J.n(a) <= J.n(b), ">": J.n(a) > J.n(b), ">=": J.n(a) >= J.n(b)}[op]
        sa, sb = J.s(a), J.s(b)
        str_test = {"<": z3.StrLT(sa, sb) if hasattr(z3, "StrLT") else sa < sb,
                    "<=": z3.StrLE(sa, sb) if hasattr(z3, "StrLE") else sa <= sb,
                    ">": z3.StrLT(sb, sa) if hasattr(z3, "StrLT") else sb < sa,
                    ">=": z3.StrLE(sb, sa) if hasattr(z3, "StrLE") else sb <= sa}[op]
        fine = z3.Not(z3.Or(missing, wrong))
        wrong = z3.Or(wrong, z3.And(fine, z3.Not(z3.Or(nums, strs))))
        return Sym(J.boolean(z3.If(nums, num_test, z3.And(strs, str_test))), missing, wrong)

    def e_In(self, e: ast.In) -> Sym:
        z3, J = self.z3, self.J
        item, box = self.expr(e.item), self.expr(e.container)
        if item.consts is not None:
            raise Outside(f"a list on the left of `in` in `{format_expr(e)}`")
        if box.consts is not None:
            found = z3.Or(*[self.equal(item.value, self.literal(c)) for c in box.consts]) if box.consts else self.F
            return Sym(J.boolean(z3.Xor(found, z3.BoolVal(e.negated))), item.missing, item.wrong)
        missing, wrong = self.then(item, box)
        found, bad = self.contains(box, item, f"`{format_expr(e)}`", in_form=True)
        fine = z3.Not(z3.Or(missing, wrong))
        return Sym(J.boolean(z3.Xor(found, z3.BoolVal(e.negated))), missing, z3.Or(wrong, z3.And(fine, bad)))

    def contains(self, box: Sym, item: Sym, where: str, in_form: bool) -> tuple[Any, Any]:
        """(found, type error) for `item in box` / `box contains item`."""
        z3, J = self.z3, self.J
        b, v = box.value, item.value
        in_string = z3.And(J.is_string(b), J.is_string(v), z3.Contains(J.s(b), J.s(v)))
        in_list = self._in_list(box, item, where)
        if in_form:
            # a map: the item is one of its keys
            in_map = self._in_map(box, item, where)
            found = z3.If(J.is_string(b), in_string, z3.If(J.is_map(b), in_map, z3.And(J.is_list(b), in_list)))
            bad = z3.Or(z3.And(J.is_string(b), z3.Not(J.is_string(v))),
                        z3.Not(z3.Or(J.is_string(b), J.is_map(b), J.is_list(b))))
        else:
            found = z3.If(J.is_list(b), in_list, in_string)
            bad = z3.And(z3.Not(J.is_list(b)), z3.Not(z3.And(J.is_string(b), J.is_string(v))))
        return found, bad

    def _in_list(self, box: Sym, item: Sym, where: str) -> Any:
        if box.path is None:
            return self.s.fresh(f"in-list:{box.value.sexpr()}:{item.value.sexpr()}", "opaque",
                                f"list membership in {where}")
        lit = _literal_of(item.value, self.z3)
        if lit is None:
            return self.s.fresh(f"in-list:{box.path}:{item.value.sexpr()}", "opaque", f"list membership in {where}")
        return self.s.member(box.path, repr(lit), lit, item.value)

    def _in_map(self, box: Sym, item: Sym, where: str) -> Any:
        z3, J = self.z3, self.J
        lit = _literal_of(item.value, z3)
        if box.path is None or not isinstance(lit, str):
            key = f"in-map:{box.value.sexpr()}:{item.value.sexpr()}"
            return z3.And(J.is_string(item.value), self.s.fresh(key, "opaque", f"a map's key in {where}"))
        _, v = self.s.child(box.path, lit)
        return z3.Not(J.is_absent(v))

    def e_StrTest(self, e: ast.StrTest) -> Sym:
        z3, J = self.z3, self.J
        left, right = self.expr(e.left), self.expr(e.right)
        if left.consts is not None or right.consts is not None:
            raise Outside(f"a list literal in `{format_expr(e)}`")
        missing, wrong = self.then(left, right)
        fine = z3.Not(z3.Or(missing, wrong))
        a, b = left.value, right.value
        if e.op == "contains":
            found, bad = self.contains(left, right, f"`{format_expr(e)}`", in_form=False)
        else:
            strs = z3.And(J.is_string(a), J.is_string(b))
            test = z3.PrefixOf(J.s(b), J.s(a)) if e.op == "starts_with" else z3.SuffixOf(J.s(b), J.s(a))
            found, bad = z3.And(strs, test), z3.Not(strs)
        return Sym(J.boolean(found), missing, z3.Or(wrong, z3.And(fine, bad)))

    def e_Matches(self, e: ast.Matches) -> Sym:
        z3, J = self.z3, self.J
        subject = self.expr(e.subject)
        if e.regex is not None:
            pattern, flags, label = e.regex.pattern, e.regex.flags, f"/{e.regex.pattern}/{e.regex.flags}"
        else:
            d = self.definition(e.pattern)
            pattern, flags, label = d.regex.pattern, d.regex.flags, e.pattern
        s = J.s(subject.value)
        try:
            hit = z3.InRe(s, search_regex(z3, pattern, flags))
        except Untranslatable as why:
            key = f"regex:{_fingerprint(pattern, flags)}:{subject.value.sexpr()}"
            hit = self.s.fresh(key, "regex", f"`{format_expr(e.subject)} matches {label}` ({why})")
        fine = z3.Not(subject.err)
        wrong = z3.Or(subject.wrong, z3.And(fine, z3.Not(J.is_string(subject.value))))
        return Sym(J.boolean(z3.And(J.is_string(subject.value), hit)), subject.missing, wrong)

    # -- calls
    def e_Call(self, e: ast.Call) -> Sym:
        f = e.func
        if f in SESSION_FUNCTIONS:
            self.session = True
            kind = "count" if f in ("calls", "repeats") else "bool"
            var = self.s.fresh(f"session:{format_expr(e)}", "session", format_expr(e), kind)
            return self.number(var) if kind == "count" else self.boolean(var)
        method = getattr(self, "f_" + f, None)
        if method is None:
            raise Outside(f"the function {f}()")
        return method(e)

    def pii_score(self, entity: str) -> Any:
        return self.s.fresh(f"pii:{entity}", "pii", entity, "unit")

    def pii_found(self, entities: frozenset[str], min_score: float) -> Any:
        z3 = self.z3
        if not entities:
            return self.F
        return z3.Or(*[self.pii_score(x) >= real(z3, float(min_score)) for x in sorted(entities)])

    def entity_set(self, names: tuple[str, ...]) -> frozenset[str]:
        out: set[str] = set()
        for n in names:
            d = self.definition(n)
            if isinstance(d, ast.EntitiesDef):
                out.update(x.value for x in d.entities)
            else:
                out.add(n)
        return frozenset(out)

    def f_pii(self, e: ast.Call) -> Sym:
        names = tuple(a.name for a in e.args)
        entities = self.entity_set(names) if names else self.pii_default
        min_score = next((float(k.value.value) for k in e.kwargs if k.name == "min_score"), DEFAULT_MIN_SCORE)
        return self.boolean(self.pii_found(entities, min_score))

    def secret_found(self, kinds: tuple[str, ...]) -> Any:
        z3 = self.z3
        kinds = kinds or tuple(sorted(SECRET_KINDS))
        return z3.Or(*[self.s.fresh(f"secret:{k}", "secret", k) for k in kinds])

    def f_secrets(self, e: ast.Call) -> Sym:
        return self.boolean(self.secret_found(tuple(a.name for a in e.args)))

    def topic_key(self, name: str) -> str:
        d = self.definition(name)
        return f"topic:{name}:{_fingerprint(*(f'{t.text}={t.weight}' for t in d.terms))}"

    def f_topic(self, e: ast.Call) -> Sym:
        name = e.args[0].name
        return self.number(self.s.fresh(self.topic_key(name), "topic", name, "unit"))

    def terms_found(self, name: str) -> Any:
        d = self.definition(name)
        key = f"terms:{name}:{_fingerprint(*(str(t.value) for t in d.terms))}"
        return self.s.fresh(key, "terms", name)

    def f_banned(self, e: ast.Call) -> Sym:
        return self.boolean(self.terms_found(e.args[0].name))

    def injection_score(self) -> Any:
        return self.s.fresh("injection", "injection", "injection()", "unit")

    def f_injection(self, e: ast.Call) -> Sym:
        return self.number(self.injection_score())

    def f_injected(self, e: ast.Call) -> Sym:
        level = INJECTION_LEVELS[e.args[0].name]
        return self.boolean(self.injection_score() >= real(self.z3, float(level)))

    def f_length(self, e: ast.Call) -> Sym:
        z3, J = self.z3, self.J
        v = self.expr(e.args[0])
        if v.consts is not None:
            return self.number(z3.RealVal(len(v.consts)))
        x = v.value
        n = z3.If(J.is_string(x), z3.ToReal(z3.Length(J.s(x))),
                  z3.If(J.is_list(x), z3.ToReal(J.len(x)), z3.ToReal(J.keys(x))))
        fine = z3.Not(v.err)
        bad = z3.Not(z3.Or(J.is_string(x), J.is_list(x), J.is_map(x)))
        return Sym(J.number(n), v.missing, z3.Or(v.wrong, z3.And(fine, bad)))

    def _case(self, e: ast.Call, upper: bool) -> Sym:
        z3, J = self.z3, self.J
        v = self.expr(e.args[0])
        x = J.s(v.value)
        c = z3.Const("c", z3.CharSort())
        lo, hi, shift = (97, 122, -32) if upper else (65, 90, 32)
        step = z3.Lambda([c], z3.If(z3.And(c.to_int() >= lo, c.to_int() <= hi),
                                    z3.CharFromBv(z3.Int2BV(c.to_int() + shift, 18)), c))
        # Exact on ASCII strings; a string with other characters gets a free result.
        plain = z3.InRe(x, z3.Star(z3.Range(chr(0), chr(127))))
        name = "upper" if upper else "lower"
        free = z3.String(f"{name}({v.value.sexpr()})")
        key = f"case:{free}"
        self.s.free.setdefault(key, Free(key, "opaque", f"{name}() of a string with non-ASCII characters", free))
        out = z3.If(plain, z3.SeqMap(step, x), free)
        fine = z3.Not(v.err)
        return Sym(J.string(out), v.missing, z3.Or(v.wrong, z3.And(fine, z3.Not(J.is_string(v.value)))))

    def f_lower(self, e: ast.Call) -> Sym:
        return self._case(e, upper=False)

    def f_upper(self, e: ast.Call) -> Sym:
        return self._case(e, upper=True)


def real(z3: Any, v: float) -> Any:
    """A number as the engine holds it: a float is its exact binary value (0.1 is not 1/10)."""
    return z3.RealVal(str(Fraction(v)))


def _literal_of(term: Any, z3: Any) -> Any:
    """The Python value of a J term built from a literal; None when it is not one."""
    t = z3.simplify(term)
    name = t.decl().name()
    if name == "string" and z3.is_string_value(t.arg(0)):
        return t.arg(0).as_string()
    if name == "number" and z3.is_rational_value(t.arg(0)):
        v = t.arg(0)
        return int(v.as_long()) if v.denominator_as_long() == 1 else float(v.as_fraction())
    if name == "boolean" and z3.is_bool(t.arg(0)) and (z3.is_true(t.arg(0)) or z3.is_false(t.arg(0))):
        return z3.is_true(t.arg(0))
    if name == "null":
        return None
    return None


__all__ = ["SESSION_FUNCTIONS", "Encoder", "Sym"]
