"""The one decision type every front door returns, and how it explains itself.

A decision never holds a raw detected value: spans are offsets, entity types
and scores; messages are the policy author's.  Only `text` (what to forward)
carries content, and it is the redacted content.
"""

from __future__ import annotations

import os
import re
import threading
from enum import Enum
from typing import Any, Literal, Mapping, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticSerializationError

from guardrails.stages import Stage


class Outcome(str, Enum):
    ALLOW = "allow"
    REDACT = "redact"
    DENY = "deny"
    ESCALATE = "escalate"


class Span(BaseModel):
    model_config = ConfigDict(frozen=True)

    start: int
    end: int
    entity: str
    score: float
    field: str | None = None  # "args.note", "chunks[2]": where the span lies when not in `text`


class Violation(BaseModel):
    """A rule that fired (or failed, when `error` is set)."""

    model_config = ConfigDict(frozen=True)

    rule: str
    effect: Literal["deny", "redact", "allow", "escalate", "warn", "label"]
    message: str | None = None
    route: str | None = None
    spans: list[Span] = Field(default_factory=list)
    error: str | None = None
    chunk: int | None = None  # retrieval: the chunk this rule fired on
    #: Where the rule is written, ``file:line:col`` (``policies/support-bot.policy:12:3``),
    #: the file as the policy was loaded. None for the violations no rule
    #: wrote: a refused request, a tool call's default deny, an unavailable guard.
    location: str | None = None


class PolicyRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    digest: str


class EvalError(BaseModel):
    """A failure during evaluation (detector, regex timeout, bad data)."""

    model_config = ConfigDict(frozen=True)

    rule: str | None
    code: str
    message: str


class TraceStep(BaseModel):
    """One rule's visit: the value its condition took, or why it was skipped."""

    rule: str
    tier: int
    status: Literal["fired", "not_fired", "error", "skipped"]
    value: Any = None
    detail: str | None = None
    chunk: int | None = None


class ChunkDecision(BaseModel):
    index: int
    outcome: Outcome
    text: str | None
    metadata: dict[str, Any] = Field(default_factory=dict)


#: The rule id of the violation that refuses a request the engine cannot
#: evaluate at all (malformed, or over the size limit); see
#: :attr:`Decision.request_error`.
REQUEST_RULE = "request"


_ID_LOCK = threading.Lock()


#: Random bytes for decision ids, read from the OS 4 KB at a time (a call
#: per id cost 1-4 us) and used once each, kept as the ids' hex digits with
#: the version and variant bits already set (an id is then one slice);
#: emptied in a forked child, which must not give the ids its parent gives.
_POOL_SIZE = 4096
_pool = ""
_pool_at = 0
_POOL_LOCK = threading.Lock()


def _fresh_pool() -> str:
    raw = bytearray(os.urandom(_POOL_SIZE))
    raw[6::16] = bytes((b & 0x0F) | 0x40 for b in raw[6::16])  # version 4
    raw[8::16] = bytes((b & 0x3F) | 0x80 for b in raw[8::16])  # RFC 4122 variant
    return raw.hex()


def _empty_pool() -> None:
    global _pool, _pool_at
    _pool, _pool_at = "", 0


if hasattr(os, "register_at_fork"):  # POSIX only; where there is no fork there is nothing to empty
    os.register_at_fork(after_in_child=_empty_pool)


def new_decision_id() -> str:
    """A fresh decision id: 32 hex digits of a random (version 4) UUID.

    The one generator of decision ids. It gives what ``uuid.uuid4().hex``
    gives (16 bytes of ``os.urandom``) without building a UUID object, which
    cost a tenth of a tool-call decision, and without a system call per id.
    """
    global _pool, _pool_at
    with _POOL_LOCK:
        at = _pool_at
        if at + 32 > len(_pool):
            _pool, at = _fresh_pool(), 0
        _pool_at = at + 32
        return _pool[at:at + 32]


class DecisionModel(BaseModel):
    """A :class:`Decision` as pydantic validates and serialises it (JSON, ``model_dump``).

    The hot path never builds one: a Decision builds it only when asked to
    dump, copy or compare itself with one.

    """

    decision_id: str = Field(default_factory=new_decision_id)
    stage: Stage
    outcome: Outcome
    text: Any = None
    violations: list[Violation] = Field(default_factory=list)
    policy: PolicyRef
    errors: list[EvalError] = Field(default_factory=list)
    elapsed_us: int = 0
    route: str | None = None  # set when escalated
    chunks: list[ChunkDecision] | None = None  # retrieval only
    trace: list[TraceStep] | None = None  # filled when asked to explain
    labels: list[str] = Field(default_factory=list)  # labels the rules attached to this step
    session: str | None = None  # the session the request named

    def model_dump_json(self, **kwargs: Any) -> str:
        """The decision as JSON text, as pydantic writes it, with one change:
        it never raises on a lone surrogate.

        A library caller may pass a ``str`` that is not valid Unicode (JSON's
        ``"\\ud800"`` escape decodes to one), and the decision can carry it
        back in ``text``, a span's ``field`` or ``session``. No UTF-8 text
        can hold it, so here each lone surrogate is written as U+FFFD, the
        replacement character; ``model_dump()`` keeps the values as they are.
        """
        try:
            return super().model_dump_json(**kwargs)
        except PydanticSerializationError:
            clean = _without_surrogates(self)
            if clean is self:
                raise  # not a surrogate: a bug of ours, not the caller's text
            return BaseModel.model_dump_json(clean, **kwargs)

_new = object.__new__

#: The fields of a decision, in the order pydantic writes them.
DECISION_FIELDS: tuple[str, ...] = tuple(DecisionModel.model_fields)


class Decision:
    """What a policy decided about one request.

    * ``outcome``: allow | redact | deny | escalate
    * ``text``: what to forward. The original or redacted text for the text
      stages, the (possibly redacted) args for tool calls, the forwarded
      chunks for retrieval; ``None`` when denied.
    * ``violations``: the rules that fired, sorted by rule id.
    * ``policy``: name, version and sha256 digest of the sources that decided.

    A plain slotted object, because building a pydantic model cost a third
    of a tool-call decision. ``Decision(**fields)`` validates its fields as
    :class:`DecisionModel` does; the evaluator builds one with
    :meth:`lean`, which does not, and the id is drawn when first read. The
    pydantic side (``model_dump``, ``model_dump_json``, ``model_copy``,
    ``model_validate``) goes through a DecisionModel built on demand.
    """

    __slots__ = ("_id", "stage", "outcome", "text", "violations", "policy", "errors", "elapsed_us", "route",
                 "chunks", "trace", "labels", "session")

    model_fields = DecisionModel.model_fields

    def __init__(self, **fields: Any):
        self._set(DecisionModel(**fields))

    def _set(self, m: DecisionModel) -> None:
        self._id = m.decision_id
        for name in DECISION_FIELDS[1:]:
            setattr(self, name, getattr(m, name))

    @classmethod
    def lean(cls, stage: str, outcome: Outcome, text: Any, violations: list[Violation], policy: PolicyRef,
             errors: list[EvalError], elapsed_us: int, route: str | None = None,
             trace: list[TraceStep] | None = None, labels: list[str] | None = None, session: str | None = None,
             chunks: list[ChunkDecision] | None = None) -> Decision:
        """The evaluator's constructor: its values are already of the right
        types, so nothing is validated; the id is drawn when first read."""
        d = _new(cls)
        d._id = None
        d.stage = stage
        d.outcome = outcome
        d.text = text
        d.violations = violations
        d.policy = policy
        d.errors = errors
        d.elapsed_us = elapsed_us
        d.route = route
        d.chunks = chunks
        d.trace = trace
        d.labels = [] if labels is None else labels
        d.session = session
        return d

    @property
    def decision_id(self) -> str:
        if self._id is None:
            # Drawn on first read. Under the lock, so two threads reading a
            # fresh decision at once (the caller and a log writer) see one id.
            with _ID_LOCK:
                if self._id is None:
                    self._id = new_decision_id()
        return self._id

    @decision_id.setter
    def decision_id(self, value: str) -> None:
        self._id = value

    # -- the pydantic side
    def model(self) -> DecisionModel:
        """This decision as a DecisionModel (not validated again)."""
        return DecisionModel.model_construct(**{name: getattr(self, name) for name in DECISION_FIELDS})

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        return self.model().model_dump(**kwargs)

    def model_dump_json(self, **kwargs: Any) -> str:
        """The decision as JSON text (see :meth:`DecisionModel.model_dump_json`:
        a lone surrogate is written as U+FFFD)."""
        return self.model().model_dump_json(**kwargs)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Decision:
        return Decision.of(self.model().model_copy(update=update, deep=deep))

    @classmethod
    def of(cls, m: DecisionModel) -> Decision:
        d = _new(cls)
        d._set(m)
        return d

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Decision:
        return cls.of(DecisionModel.model_validate(obj, **kwargs))

    @classmethod
    def model_validate_json(cls, data: str | bytes, **kwargs: Any) -> Decision:
        return cls.of(DecisionModel.model_validate_json(data, **kwargs))

    @classmethod
    def model_json_schema(cls, **kwargs: Any) -> dict[str, Any]:
        return DecisionModel.model_json_schema(**kwargs)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DecisionModel):
            return self.model() == other
        if not isinstance(other, Decision):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in DECISION_FIELDS)

    __hash__ = None  # type: ignore[assignment]  # mutable, as the pydantic model was

    def __getstate__(self) -> dict[str, Any]:
        # The id is drawn first, so a copy or a pickle is the same decision.
        self.decision_id  # noqa: B018
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def __repr__(self) -> str:
        return "Decision(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in DECISION_FIELDS) + ")"

    @property
    def allowed(self) -> bool:
        return self.outcome in (Outcome.ALLOW, Outcome.REDACT)

    @property
    def denied(self) -> bool:
        return self.outcome is Outcome.DENY

    @property
    def request_error(self) -> EvalError | None:
        """Why the request was refused before any rule ran (it was malformed
        or too large), or None when the rules judged it."""
        if self.violations and self.violations[0].rule == REQUEST_RULE and self.errors:
            return self.errors[0]
        return None

    @property
    def rule_ids(self) -> list[str]:
        return [v.rule for v in self.violations]

    def messages(self) -> list[str]:
        return [v.message for v in self.violations if v.message]

    def explain(self) -> str:
        """A human-readable account of the decision and, if traced, its path."""
        p = self.policy
        lines = [f"{self.stage} -> {self.outcome.value.upper()}  ({p.name} {p.version}, {p.digest[:12]})"]
        for v in self.violations:
            what = f"  {v.effect:<8} {v.rule}"
            if v.location:
                what += f" ({v.location})"
            if v.message:
                what += f": {v.message}"
            if v.route:
                what += f" [route: {v.route}]"
            if v.error:
                what += f" [error: {v.error}]"
            if v.chunk is not None:
                what += f" [chunk {v.chunk}]"
            lines.append(what)
            for s in v.spans:
                where = f" in {s.field}" if s.field else ""
                lines.append(f"           {s.entity} at {s.start}-{s.end}{where} (score {s.score:.2f})")
        for e in self.errors:
            lines.append(f"  error    {e.rule or '-'}: {e.code}: {e.message}")
        if self.trace is not None:
            lines.append("  path:")
            for t in self.trace:
                chunk = f" chunk {t.chunk}" if t.chunk is not None else ""
                val = "" if t.value is None else f" = {t.value!r}"
                detail = f" ({t.detail})" if t.detail else ""
                lines.append(f"    tier {t.tier}{chunk}: {t.rule:<24} {t.status}{val}{detail}")
        return "\n".join(lines)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_surrogates(value: Any) -> Any:
    """`value` with every lone surrogate replaced by U+FFFD; the same object
    when there was none (a model is copied only where a field changes)."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value
    if isinstance(value, BaseModel):
        update = {}
        for name in type(value).model_fields:
            old = getattr(value, name)
            new = _without_surrogates(old)
            if new is not old:
                update[name] = new
        return value.model_copy(update=update) if update else value
    if isinstance(value, dict):
        items = [(_without_surrogates(k), _without_surrogates(v)) for k, v in value.items()]
        changed = any(nk is not k or nv is not v for (nk, nv), (k, v) in zip(items, value.items()))
        return dict(items) if changed else value
    if isinstance(value, (list, tuple)):
        items = [_without_surrogates(v) for v in value]
        return type(value)(items) if any(n is not o for n, o in zip(items, value)) else value
    return value


#: The rule id of a tool call's default deny (no rule allowed the call).
DEFAULT_DENY_RULE = "default-deny"

# Violations are frozen, so a rule that fired without spans, or the default
# deny of one tool, can share one instance between decisions. Bounded.
_bare: dict[int, tuple[Any, Violation]] = {}
_defaults: dict[Any, Violation] = {}


def shared_violation(rule: Any) -> Violation:
    """The violation of a rule (a rulegraph.RuleNode) that fired without spans."""
    hit = _bare.get(id(rule))
    if hit is not None and hit[0] is rule:
        return hit[1]
    if len(_bare) >= 65536:
        _bare.clear()
    v = Violation(rule=rule.qid, effect=rule.effect, message=rule.message, route=rule.route, spans=[],
                  location=rule.location)
    _bare[id(rule)] = (rule, v)
    return v


def default_deny(tool: Any) -> Violation:
    """The violation of a tool call no rule allowed."""
    v = _defaults.get(tool)
    if v is None:
        if len(_defaults) >= 4096:
            _defaults.clear()
        v = _defaults[tool] = Violation(rule=DEFAULT_DENY_RULE, effect="deny",
                                        message=f"no rule allows tool {tool!r} (tool calls are denied by default)")
    return v


@runtime_checkable
class DecisionSink(Protocol):
    """What an engine writes its decisions to: the decision log.

    :class:`guardrails.decision_log.DecisionLog` is the shipped one; pass any
    object with this method as ``Engine(..., decision_log=...)``. The engine
    calls ``write`` after every check, on the thread that made the decision,
    before returning it. ``request`` is the request as the check received
    it (``text``, ``chunks``, or ``tool``/``args``/``principal``, and
    ``context``), raw: masking what must not be stored is the sink's job.

    ``write`` should return quickly and must not keep ``request`` (the caller
    may mutate it afterwards). An exception it raises never fails the decision:
    the engine counts it in ``Engine.log_failures`` and returns the decision.
    """

    def write(self, decision: Decision, request: Mapping[str, Any]) -> None: ...

