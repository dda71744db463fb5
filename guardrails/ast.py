"""The immutable syntax tree of a policy file.

Every node carries a :class:`~guardrails.diagnostics.Span`, excluded from
equality so that two trees parsed from differently laid-out sources compare
equal.  Nodes never change after parsing; passes build new values.

The nodes are dataclasses (``dataclasses.fields`` and ``replace`` work on
them) that behave as ``@dataclass(frozen=True, slots=True)`` ones do: the
same constructor, equality, hash, repr, match arguments, pickling and
FrozenInstanceError. They are not built by that decorator, though, because
it writes and compiles six methods per class as the module is imported:
the 47 classes cost about a tenth of a cold `guardrails eval`. Here
:func:`node` runs ``dataclass`` with every method generator off (it then
only records the fields), gives the class its slots, and the methods are
plain code: each ``__init__`` is written out in its class, equality and
hash are closures over the class's compared fields (:func:`_compare`), and
repr, the frozen guard and pickling are shared by :class:`_Node`.
``__dataclass_params__`` therefore says ``init=False, repr=False,
eq=False, frozen=False``: what the methods do, not that flag record, is
the contract.

Why one module: the syntax tree is one vocabulary that every pass reads by
``ast.X``; the written-out constructors make it long, not varied.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass, field
from operator import attrgetter
from reprlib import recursive_repr
from typing import Any, Callable, Union

from guardrails.diagnostics import UNKNOWN_SPAN, Span

_set = object.__setattr__


def _span() -> Span:
    return field(default=UNKNOWN_SPAN, compare=False, repr=False)


class _Node:
    """What every node shares: the methods ``dataclass(frozen=True)`` would
    generate, written once; :func:`node` adds each class's equality and hash
    over its compared fields, and ``_shown``, the names its repr shows."""

    __slots__ = ()
    _shown: tuple[str, ...]

    @recursive_repr()
    def __repr__(self) -> str:
        return f"{self.__class__.__qualname__}(" + ", ".join(
            f"{name}={getattr(self, name)!r}" for name in self._shown) + ")"

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    # Slots and a frozen __setattr__: pickle and copy restore through these.
    def __getstate__(self) -> list[Any]:
        return [getattr(self, name) for name in self.__slots__]

    def __setstate__(self, state: list[Any]) -> None:
        for name, value in zip(self.__slots__, state):
            _set(self, name, value)


def _compare(names: tuple[str, ...]) -> tuple[Callable[[Any, Any], Any], Callable[[Any], int]]:
    """``__eq__`` and ``__hash__`` over the fields `names`, as the decorator
    writes them: the tuples of those fields compared and hashed (so a node
    hashes as before, and sets of nodes iterate in the same order). Closures
    over a C getter, not compiled text: as fast as the generated methods."""
    if len(names) > 1:
        key = attrgetter(*names)  # a tuple already
    elif names:
        one = attrgetter(names[0])

        def key(node: Any) -> tuple:
            return (one(node),)
    else:
        def key(node: Any) -> tuple:
            return ()

    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return key(self) == key(other)
        return NotImplemented

    def __hash__(self: Any) -> int:
        return hash(key(self))

    return __eq__, __hash__


_record_fields = dataclass(init=False, repr=False, eq=False)


def node(cls: type) -> type:
    """A frozen, slotted dataclass of `cls`, whose ``__init__`` `cls` writes."""
    cls = _record_fields(cls)
    fields = cls.__dataclass_fields__
    names = tuple(fields)
    ns = {k: v for k, v in cls.__dict__.items() if k not in names and k not in ("__dict__", "__weakref__")}
    ns["__slots__"] = names
    ns["__eq__"], ns["__hash__"] = _compare(tuple(n for n, f in fields.items() if f.compare))
    ns["_shown"] = tuple(n for n, f in fields.items() if f.repr)
    return type(cls)(cls.__name__, cls.__bases__, ns)


# ---- expressions -----------------------------------------------------------


@node
class Literal(_Node):
    value: str | float | int | bool | None
    span: Span = _span()

    def __init__(self, value: str | float | int | bool | None, span: Span = UNKNOWN_SPAN):
        _set(self, "value", value)
        _set(self, "span", span)


@node
class ListLit(_Node):
    items: tuple[Literal, ...]
    span: Span = _span()

    def __init__(self, items: tuple[Literal, ...], span: Span = UNKNOWN_SPAN):
        _set(self, "items", items)
        _set(self, "span", span)


@node
class RegexLit(_Node):
    pattern: str
    flags: str
    span: Span = _span()

    def __init__(self, pattern: str, flags: str, span: Span = UNKNOWN_SPAN):
        _set(self, "pattern", pattern)
        _set(self, "flags", flags)
        _set(self, "span", span)


@node
class Var(_Node):
    name: str
    span: Span = _span()

    def __init__(self, name: str, span: Span = UNKNOWN_SPAN):
        _set(self, "name", name)
        _set(self, "span", span)


@node
class Attr(_Node):
    obj: "Expr"
    name: str
    span: Span = _span()

    def __init__(self, obj: "Expr", name: str, span: Span = UNKNOWN_SPAN):
        _set(self, "obj", obj)
        _set(self, "name", name)
        _set(self, "span", span)


@node
class Index(_Node):
    obj: "Expr"
    key: str | int
    span: Span = _span()

    def __init__(self, obj: "Expr", key: str | int, span: Span = UNKNOWN_SPAN):
        _set(self, "obj", obj)
        _set(self, "key", key)
        _set(self, "span", span)


@node
class KwArg(_Node):
    name: str
    value: Literal
    span: Span = _span()

    def __init__(self, name: str, value: Literal, span: Span = UNKNOWN_SPAN):
        _set(self, "name", name)
        _set(self, "value", value)
        _set(self, "span", span)


@node
class Call(_Node):
    func: str
    args: tuple["Expr", ...]
    kwargs: tuple[KwArg, ...]
    span: Span = _span()

    def __init__(
        self,
        func: str,
        args: tuple['Expr', ...],
        kwargs: tuple[KwArg, ...],
        span: Span = UNKNOWN_SPAN,
    ):
        _set(self, "func", func)
        _set(self, "args", args)
        _set(self, "kwargs", kwargs)
        _set(self, "span", span)


@node
class Not(_Node):
    operand: "Expr"
    span: Span = _span()

    def __init__(self, operand: "Expr", span: Span = UNKNOWN_SPAN):
        _set(self, "operand", operand)
        _set(self, "span", span)


@node
class And(_Node):
    operands: tuple["Expr", ...]
    span: Span = _span()

    def __init__(self, operands: tuple['Expr', ...], span: Span = UNKNOWN_SPAN):
        _set(self, "operands", operands)
        _set(self, "span", span)


@node
class Or(_Node):
    operands: tuple["Expr", ...]
    span: Span = _span()

    def __init__(self, operands: tuple['Expr', ...], span: Span = UNKNOWN_SPAN):
        _set(self, "operands", operands)
        _set(self, "span", span)


@node
class Compare(_Node):
    op: str  # == != < <= > >=
    left: "Expr"
    right: "Expr"
    span: Span = _span()

    def __init__(self, op: str, left: "Expr", right: "Expr", span: Span = UNKNOWN_SPAN):
        _set(self, "op", op)
        _set(self, "left", left)
        _set(self, "right", right)
        _set(self, "span", span)


@node
class In(_Node):
    item: "Expr"
    container: "Expr"
    negated: bool
    span: Span = _span()

    def __init__(self, item: "Expr", container: "Expr", negated: bool, span: Span = UNKNOWN_SPAN):
        _set(self, "item", item)
        _set(self, "container", container)
        _set(self, "negated", negated)
        _set(self, "span", span)


@node
class Matches(_Node):
    subject: "Expr"
    regex: RegexLit | None  # an inline /regex/
    pattern: str | None  # or the name of a `pattern` definition
    span: Span = _span()

    def __init__(self, subject: "Expr", regex: RegexLit | None, pattern: str | None, span: Span = UNKNOWN_SPAN):
        _set(self, "subject", subject)
        _set(self, "regex", regex)
        _set(self, "pattern", pattern)
        _set(self, "span", span)


@node
class StrTest(_Node):
    op: str  # contains | starts_with | ends_with
    left: "Expr"
    right: "Expr"
    span: Span = _span()

    def __init__(self, op: str, left: "Expr", right: "Expr", span: Span = UNKNOWN_SPAN):
        _set(self, "op", op)
        _set(self, "left", left)
        _set(self, "right", right)
        _set(self, "span", span)


@node
class Has(_Node):
    obj: "Expr"
    key: str
    span: Span = _span()

    def __init__(self, obj: "Expr", key: str, span: Span = UNKNOWN_SPAN):
        _set(self, "obj", obj)
        _set(self, "key", key)
        _set(self, "span", span)


Expr = Union[Literal, ListLit, Var, Attr, Index, Call, Not, And, Or, Compare, In, Matches, StrTest, Has]


# ---- effects ---------------------------------------------------------------


@node
class Deny(_Node):
    message: str
    span: Span = _span()

    def __init__(self, message: str, span: Span = UNKNOWN_SPAN):
        _set(self, "message", message)
        _set(self, "span", span)


@node
class Warn(_Node):
    message: str
    span: Span = _span()

    def __init__(self, message: str, span: Span = UNKNOWN_SPAN):
        _set(self, "message", message)
        _set(self, "span", span)


@node
class Allow(_Node):
    span: Span = _span()

    def __init__(self, span: Span = UNKNOWN_SPAN):
        _set(self, "span", span)


@node
class Escalate(_Node):
    route: str
    message: str | None
    span: Span = _span()

    def __init__(self, route: str, message: str | None, span: Span = UNKNOWN_SPAN):
        _set(self, "route", route)
        _set(self, "message", message)
        _set(self, "span", span)


@node
class Target(_Node):
    """What a redact rule removes: entity groups/types, secrets, a pattern or terms."""

    kind: str  # "entities" | "secrets" | "pattern" | "terms"
    names: tuple[str, ...]  # entity group or type names; the pattern/terms name
    span: Span = _span()
    name_spans: tuple[Span, ...] = field(default=(), compare=False, repr=False)

    def __init__(
        self,
        kind: str,
        names: tuple[str, ...],
        span: Span = UNKNOWN_SPAN,
        name_spans: tuple[Span, ...] = (),
    ):
        _set(self, "kind", kind)
        _set(self, "names", names)
        _set(self, "span", span)
        _set(self, "name_spans", name_spans)


@node
class Operator(_Node):
    name: str  # mask | replace | hash | remove
    args: tuple[Literal, ...]
    span: Span = _span()

    def __init__(self, name: str, args: tuple[Literal, ...], span: Span = UNKNOWN_SPAN):
        _set(self, "name", name)
        _set(self, "args", args)
        _set(self, "span", span)


@node
class Redact(_Node):
    target: Target
    min_score: float | None
    operator: Operator
    span: Span = _span()

    def __init__(
        self,
        target: Target,
        min_score: float | None,
        operator: Operator,
        span: Span = UNKNOWN_SPAN,
    ):
        _set(self, "target", target)
        _set(self, "min_score", min_score)
        _set(self, "operator", operator)
        _set(self, "span", span)


@node
class Label(_Node):
    """Attach labels to this request's step of its session (``label untrusted``)."""

    names: tuple[str, ...]
    name_spans: tuple[Span, ...] = field(default=(), compare=False, repr=False)
    span: Span = _span()

    def __init__(self, names: tuple[str, ...], name_spans: tuple[Span, ...] = (), span: Span = UNKNOWN_SPAN):
        _set(self, "names", names)
        _set(self, "name_spans", name_spans)
        _set(self, "span", span)


Effect = Union[Deny, Warn, Allow, Escalate, Redact, Label]


def effect_name(effect: Effect) -> str:
    return type(effect).__name__.lower()


# ---- declarations ----------------------------------------------------------


@node
class Rule(_Node):
    """``rule ID: EFFECT [when A] [unless B]``.

    ``condition`` is what the rule tests, the only field the later passes
    read: ``A``, or ``A and not (B)`` when the rule has ``unless B`` (Cedar's
    meaning), with the ``not`` placed at ``B``'s span. ``unless`` keeps ``B``
    as written so the formatter can print the rule as it was.
    """

    id: str
    effect: Effect
    condition: Expr | None
    span: Span = _span()
    id_span: Span = _span()
    unless: Expr | None = None

    def __init__(
        self,
        id: str,
        effect: Effect,
        condition: Expr | None,
        span: Span = UNKNOWN_SPAN,
        id_span: Span = UNKNOWN_SPAN,
        unless: Expr | None = None,
    ):
        _set(self, "id", id)
        _set(self, "effect", effect)
        _set(self, "condition", condition)
        _set(self, "span", span)
        _set(self, "id_span", id_span)
        _set(self, "unless", unless)

    @property
    def when(self) -> Expr | None:
        """The ``when`` part as written (``condition`` without ``unless``)."""
        if self.unless is None:
            return self.condition
        c = self.condition
        if isinstance(c, Not):
            return None
        assert isinstance(c, And)
        rest = c.operands[:-1]
        return rest[0] if len(rest) == 1 else And(rest, c.span)


@node
class StageBlock(_Node):
    stage: str
    rules: tuple[Rule, ...]
    span: Span = _span()

    def __init__(self, stage: str, rules: tuple[Rule, ...], span: Span = UNKNOWN_SPAN):
        _set(self, "stage", stage)
        _set(self, "rules", rules)
        _set(self, "span", span)


@node
class Name(_Node):
    value: str
    span: Span = _span()

    def __init__(self, value: str, span: Span = UNKNOWN_SPAN):
        _set(self, "value", value)
        _set(self, "span", span)


@node
class EntitiesDef(_Node):
    name: str
    entities: tuple[Name, ...]
    span: Span = _span()

    def __init__(self, name: str, entities: tuple[Name, ...], span: Span = UNKNOWN_SPAN):
        _set(self, "name", name)
        _set(self, "entities", entities)
        _set(self, "span", span)


@node
class TopicTerm(_Node):
    text: str
    weight: float
    span: Span = _span()

    def __init__(self, text: str, weight: float, span: Span = UNKNOWN_SPAN):
        _set(self, "text", text)
        _set(self, "weight", weight)
        _set(self, "span", span)


@node
class TopicDef(_Node):
    name: str
    terms: tuple[TopicTerm, ...]
    span: Span = _span()

    def __init__(self, name: str, terms: tuple[TopicTerm, ...], span: Span = UNKNOWN_SPAN):
        _set(self, "name", name)
        _set(self, "terms", terms)
        _set(self, "span", span)


@node
class PatternDef(_Node):
    name: str
    regex: RegexLit
    span: Span = _span()

    def __init__(self, name: str, regex: RegexLit, span: Span = UNKNOWN_SPAN):
        _set(self, "name", name)
        _set(self, "regex", regex)
        _set(self, "span", span)


@node
class ToolsDef(_Node):
    """``tools NAME = ["a", "b", other_group]``: tool names and the groups it includes."""

    name: str
    tools: tuple[Literal | Var, ...]
    span: Span = _span()

    def __init__(self, name: str, tools: tuple[Literal | Var, ...], span: Span = UNKNOWN_SPAN):
        _set(self, "name", name)
        _set(self, "tools", tools)
        _set(self, "span", span)


@node
class TermsDef(_Node):
    name: str
    terms: tuple[Literal, ...]
    span: Span = _span()

    def __init__(self, name: str, terms: tuple[Literal, ...], span: Span = UNKNOWN_SPAN):
        _set(self, "name", name)
        _set(self, "terms", terms)
        _set(self, "span", span)


@node
class LabelDef(_Node):
    """``label untrusted "what it means"``: a name rules may attach to a session step."""

    name: str
    doc: str | None
    span: Span = _span()

    def __init__(self, name: str, doc: str | None, span: Span = UNKNOWN_SPAN):
        _set(self, "name", name)
        _set(self, "doc", doc)
        _set(self, "span", span)


@node
class LimitDef(_Node):
    """``limit refunds = 20 per "1m" by principal.id``: a sliding-window quota."""

    name: str
    max: int
    window: Literal
    keys: tuple[Expr, ...]
    span: Span = _span()

    def __init__(
        self,
        name: str,
        max: int,
        window: Literal,
        keys: tuple[Expr, ...],
        span: Span = UNKNOWN_SPAN,
    ):
        _set(self, "name", name)
        _set(self, "max", max)
        _set(self, "window", window)
        _set(self, "keys", keys)
        _set(self, "span", span)


Definition = Union[EntitiesDef, TopicDef, PatternDef, ToolsDef, TermsDef, LabelDef, LimitDef]


@node
class AllowItem(_Node):
    """One allow-list entry: ``kind`` is ``"value"`` (a literal), ``"domain"``
    or ``"regex"`` (``value`` is then the pattern, ``flags`` its letters)."""

    kind: str
    value: str
    flags: str = ""
    span: Span = _span()

    def __init__(self, kind: str, value: str, flags: str = "", span: Span = UNKNOWN_SPAN):
        _set(self, "kind", kind)
        _set(self, "value", value)
        _set(self, "flags", flags)
        _set(self, "span", span)


@node
class AllowDecl(_Node):
    """``allow TYPE-or-GROUP [items]``: values that are not PII for this policy.
    It names nothing, so it is not a definition (docs/language.md)."""

    target: Name
    items: tuple[AllowItem, ...]
    span: Span = _span()

    def __init__(self, target: Name, items: tuple[AllowItem, ...], span: Span = UNKNOWN_SPAN):
        _set(self, "target", target)
        _set(self, "items", items)
        _set(self, "span", span)

#: How each kind of definition is named to an author (messages, hovers, outlines).
KIND_NAMES: dict[type, str] = {
    EntitiesDef: "entity group",
    TopicDef: "topic",
    PatternDef: "pattern",
    ToolsDef: "tool group",
    TermsDef: "terms list",
    LabelDef: "label",
    LimitDef: "limit",
}


# ---- schemas (docs/schema.md) ----------------------------------------------


@node
class TypeName(_Node):
    """``string``, ``number``, ``integer``, ``boolean`` or ``any``."""

    name: str
    span: Span = _span()

    def __init__(self, name: str, span: Span = UNKNOWN_SPAN):
        _set(self, "name", name)
        _set(self, "span", span)


@node
class ListType(_Node):
    elem: "TypeExpr"
    span: Span = _span()

    def __init__(self, elem: "TypeExpr", span: Span = UNKNOWN_SPAN):
        _set(self, "elem", elem)
        _set(self, "span", span)


@node
class EnumType(_Node):
    """``"p0" | "p1" | "p2"``: one of these literals."""

    values: tuple[Literal, ...]
    span: Span = _span()

    def __init__(self, values: tuple[Literal, ...], span: Span = UNKNOWN_SPAN):
        _set(self, "values", values)
        _set(self, "span", span)


@node
class FieldDecl(_Node):
    name: str
    type: "TypeExpr"
    optional: bool
    span: Span = _span()
    name_span: Span = _span()

    def __init__(
        self,
        name: str,
        type: "TypeExpr",
        optional: bool,
        span: Span = UNKNOWN_SPAN,
        name_span: Span = UNKNOWN_SPAN,
    ):
        _set(self, "name", name)
        _set(self, "type", type)
        _set(self, "optional", optional)
        _set(self, "span", span)
        _set(self, "name_span", name_span)


@node
class RecordType(_Node):
    """``{ a: string, b?: number, ... }``; ``open`` when ``...`` allows other fields."""

    fields: tuple[FieldDecl, ...]
    open: bool
    span: Span = _span()

    def __init__(self, fields: tuple[FieldDecl, ...], open: bool, span: Span = UNKNOWN_SPAN):
        _set(self, "fields", fields)
        _set(self, "open", open)
        _set(self, "span", span)


TypeExpr = Union[TypeName, ListType, EnumType, RecordType]


@node
class ToolDecl(_Node):
    """``tool refund(order_id: string, amount: number) with owner = "finance"``."""

    name: str
    args: RecordType
    attributes: tuple[Setting, ...]
    span: Span = _span()
    name_span: Span = _span()

    def __init__(
        self,
        name: str,
        args: RecordType,
        attributes: tuple[Setting, ...],
        span: Span = UNKNOWN_SPAN,
        name_span: Span = UNKNOWN_SPAN,
    ):
        _set(self, "name", name)
        _set(self, "args", args)
        _set(self, "attributes", attributes)
        _set(self, "span", span)
        _set(self, "name_span", name_span)


@node
class ShapeDecl(_Node):
    """``principal { ... }``, ``context { ... }`` or ``metadata { ... }``."""

    root: str
    record: RecordType
    span: Span = _span()

    def __init__(self, root: str, record: RecordType, span: Span = UNKNOWN_SPAN):
        _set(self, "root", root)
        _set(self, "record", record)
        _set(self, "span", span)


SchemaDecl = Union[ToolDecl, ShapeDecl]


@node
class Import(_Node):
    name: str
    span: Span = _span()

    def __init__(self, name: str, span: Span = UNKNOWN_SPAN):
        _set(self, "name", name)
        _set(self, "span", span)


@node
class Setting(_Node):
    key: str
    value: "Literal | ListLit"
    span: Span = _span()

    def __init__(self, key: str, value: "Literal | ListLit", span: Span = UNKNOWN_SPAN):
        _set(self, "key", key)
        _set(self, "value", value)
        _set(self, "span", span)

    @property
    def python_value(self):
        if isinstance(self.value, ListLit):
            return tuple(i.value for i in self.value.items)
        return self.value.value


@node
class Policy(_Node):
    kind: str  # "policy" | "module"
    name: str
    version: str
    imports: tuple[Import, ...]
    settings: tuple[Setting, ...]
    definitions: tuple[Definition, ...]
    stages: tuple[StageBlock, ...]
    span: Span = _span()
    name_span: Span = _span()
    version_span: Span = _span()
    schemas: tuple[SchemaDecl, ...] = ()
    allows: tuple[AllowDecl, ...] = ()

    def __init__(
        self,
        kind: str,
        name: str,
        version: str,
        imports: tuple[Import, ...],
        settings: tuple[Setting, ...],
        definitions: tuple[Definition, ...],
        stages: tuple[StageBlock, ...],
        span: Span = UNKNOWN_SPAN,
        name_span: Span = UNKNOWN_SPAN,
        version_span: Span = UNKNOWN_SPAN,
        schemas: tuple[SchemaDecl, ...] = (),
        allows: tuple[AllowDecl, ...] = (),
    ):
        _set(self, "kind", kind)
        _set(self, "name", name)
        _set(self, "version", version)
        _set(self, "imports", imports)
        _set(self, "settings", settings)
        _set(self, "definitions", definitions)
        _set(self, "stages", stages)
        _set(self, "span", span)
        _set(self, "name_span", name_span)
        _set(self, "version_span", version_span)
        _set(self, "schemas", schemas)
        _set(self, "allows", allows)

    def rules(self, stage: str) -> tuple[Rule, ...]:
        return tuple(r for block in self.stages if block.stage == stage for r in block.rules)


def walk(expr: Expr):
    """Pre-order traversal of an expression tree."""
    yield expr
    match expr:
        case Attr(obj=o) | Index(obj=o) | Has(obj=o):
            yield from walk(o)
        case Call(args=args):
            for a in args:
                yield from walk(a)
        case Not(operand=o):
            yield from walk(o)
        case And(operands=ops) | Or(operands=ops):
            for o in ops:
                yield from walk(o)
        case Compare(left=l, right=r) | StrTest(left=l, right=r):
            yield from walk(l)
            yield from walk(r)
        case In(item=i, container=c):
            yield from walk(i)
            yield from walk(c)
        case Matches(subject=s):
            yield from walk(s)
