"""The immutable syntax tree of a policy file.

Every node carries a :class:`~guardrails.diagnostics.Span`, excluded from
equality so that two trees parsed from differently laid-out sources compare
equal.  Nodes never change after parsing; passes build new values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from guardrails.diagnostics import UNKNOWN_SPAN, Span



def _span() -> Span:
    return field(default=UNKNOWN_SPAN, compare=False, repr=False)


node = dataclass(frozen=True, slots=True)


# ---- expressions -----------------------------------------------------------


@node
class Literal:
    value: str | float | int | bool | None
    span: Span = _span()


@node
class ListLit:
    items: tuple[Literal, ...]
    span: Span = _span()


@node
class RegexLit:
    pattern: str
    flags: str
    span: Span = _span()


@node
class Var:
    name: str
    span: Span = _span()


@node
class Attr:
    obj: "Expr"
    name: str
    span: Span = _span()


@node
class Index:
    obj: "Expr"
    key: str | int
    span: Span = _span()


@node
class KwArg:
    name: str
    value: Literal
    span: Span = _span()


@node
class Call:
    func: str
    args: tuple["Expr", ...]
    kwargs: tuple[KwArg, ...]
    span: Span = _span()


@node
class Not:
    operand: "Expr"
    span: Span = _span()


@node
class And:
    operands: tuple["Expr", ...]
    span: Span = _span()


@node
class Or:
    operands: tuple["Expr", ...]
    span: Span = _span()


@node
class Compare:
    op: str  # == != < <= > >=
    left: "Expr"
    right: "Expr"
    span: Span = _span()


@node
class In:
    item: "Expr"
    container: "Expr"
    negated: bool
    span: Span = _span()


@node
class Matches:
    subject: "Expr"
    regex: RegexLit | None  # an inline /regex/
    pattern: str | None  # or the name of a `pattern` definition
    span: Span = _span()


@node
class StrTest:
    op: str  # contains | starts_with | ends_with
    left: "Expr"
    right: "Expr"
    span: Span = _span()


@node
class Has:
    obj: "Expr"
    key: str
    span: Span = _span()


Expr = Union[Literal, ListLit, Var, Attr, Index, Call, Not, And, Or, Compare, In, Matches, StrTest, Has]


# ---- effects ---------------------------------------------------------------


@node
class Deny:
    message: str
    span: Span = _span()


@node
class Warn:
    message: str
    span: Span = _span()


@node
class Allow:
    span: Span = _span()


@node
class Escalate:
    route: str
    message: str | None
    span: Span = _span()


@node
class Target:
    """What a redact rule removes: entity groups/types, secrets, a pattern or terms."""

    kind: str  # "entities" | "secrets" | "pattern" | "terms"
    names: tuple[str, ...]  # entity group or type names; the pattern/terms name
    span: Span = _span()
    name_spans: tuple[Span, ...] = field(default=(), compare=False, repr=False)


@node
class Operator:
    name: str  # mask | replace | hash | remove
    args: tuple[Literal, ...]
    span: Span = _span()


@node
class Redact:
    target: Target
    min_score: float | None
    operator: Operator
    span: Span = _span()


@node
class Label:
    """Attach labels to this request's step of its session (``label untrusted``)."""

    names: tuple[str, ...]
    name_spans: tuple[Span, ...] = field(default=(), compare=False, repr=False)
    span: Span = _span()


Effect = Union[Deny, Warn, Allow, Escalate, Redact, Label]


def effect_name(effect: Effect) -> str:
    return type(effect).__name__.lower()


# ---- declarations ----------------------------------------------------------


@node
class Rule:
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
class StageBlock:
    stage: str
    rules: tuple[Rule, ...]
    span: Span = _span()


@node
class Name:
    value: str
    span: Span = _span()


@node
class EntitiesDef:
    name: str
    entities: tuple[Name, ...]
    span: Span = _span()


@node
class TopicTerm:
    text: str
    weight: float
    span: Span = _span()


@node
class TopicDef:
    name: str
    terms: tuple[TopicTerm, ...]
    span: Span = _span()


@node
class PatternDef:
    name: str
    regex: RegexLit
    span: Span = _span()


@node
class ToolsDef:
    """``tools NAME = ["a", "b", other_group]``: tool names and the groups it includes."""

    name: str
    tools: tuple[Literal | Var, ...]
    span: Span = _span()


@node
class TermsDef:
    name: str
    terms: tuple[Literal, ...]
    span: Span = _span()


@node
class LabelDef:
    """``label untrusted "what it means"``: a name rules may attach to a session step."""

    name: str
    doc: str | None
    span: Span = _span()


@node
class LimitDef:
    """``limit refunds = 20 per "1m" by principal.id``: a sliding-window quota."""

    name: str
    max: int
    window: Literal
    keys: tuple[Expr, ...]
    span: Span = _span()


Definition = Union[EntitiesDef, TopicDef, PatternDef, ToolsDef, TermsDef, LabelDef, LimitDef]


@node
class AllowItem:
    """One allow-list entry: ``kind`` is ``"value"`` (a literal), ``"domain"``
    or ``"regex"`` (``value`` is then the pattern, ``flags`` its letters)."""

    kind: str
    value: str
    flags: str = ""
    span: Span = _span()


@node
class AllowDecl:
    """``allow TYPE-or-GROUP [items]``: values that are not PII for this policy.
    It names nothing, so it is not a definition (docs/language.md)."""

    target: Name
    items: tuple[AllowItem, ...]
    span: Span = _span()

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
class TypeName:
    """``string``, ``number``, ``integer``, ``boolean`` or ``any``."""

    name: str
    span: Span = _span()


@node
class ListType:
    elem: "TypeExpr"
    span: Span = _span()


@node
class EnumType:
    """``"p0" | "p1" | "p2"``: one of these literals."""

    values: tuple[Literal, ...]
    span: Span = _span()


@node
class FieldDecl:
    name: str
    type: "TypeExpr"
    optional: bool
    span: Span = _span()
    name_span: Span = _span()


@node
class RecordType:
    """``{ a: string, b?: number, ... }``; ``open`` when ``...`` allows other fields."""

    fields: tuple[FieldDecl, ...]
    open: bool
    span: Span = _span()


TypeExpr = Union[TypeName, ListType, EnumType, RecordType]


@node
class ToolDecl:
    """``tool refund(order_id: string, amount: number) with owner = "finance"``."""

    name: str
    args: RecordType
    attributes: tuple[Setting, ...]
    span: Span = _span()
    name_span: Span = _span()


@node
class ShapeDecl:
    """``principal { ... }``, ``context { ... }`` or ``metadata { ... }``."""

    root: str
    record: RecordType
    span: Span = _span()


SchemaDecl = Union[ToolDecl, ShapeDecl]


@node
class Import:
    name: str
    span: Span = _span()


@node
class Setting:
    key: str
    value: "Literal | ListLit"
    span: Span = _span()

    @property
    def python_value(self):
        if isinstance(self.value, ListLit):
            return tuple(i.value for i in self.value.items)
        return self.value.value


@node
class Policy:
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
