"""Between the wire (guardrails.v1 messages) and the engine's Python values.

The server and the client both use this module, so a decision survives the
round trip unchanged: ``decision_from_proto(decision_to_proto(d)) == d``.

``google.protobuf.Struct`` holds every number as a double. Reading one back,
a whole number within +-2**53 becomes an ``int`` (``amount: 50`` stays 50,
not 50.0), so the engine and the caller see what a JSON decoder would give
them. Writing, an ``int`` beyond 2**53 is refused: it would come back as a
different number.

Span offsets count code points (Python's str indices). On the wire each
span also carries them in UTF-8 bytes and UTF-16 code units
(:func:`span_texts` finds the string a span lies in), so Go, Java and
JavaScript callers can index their own strings without converting.

Every check request carries ``session`` and ``at``. On the wire an empty
``session`` and ``at == 0`` mean "none" and "now", since proto3 has no unset
scalars; here they become ``None``, which is what the engine takes.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2

from guardrails.sidecar._proto import guardrails_pb2 as pb
from guardrails.decision import ChunkDecision, Decision, EvalError, Outcome, PolicyRef, Span, TraceStep, Violation
from guardrails.values import string_leaves

MAX_SAFE_INT = 2**53

_STAGE_TO = {"input": pb.STAGE_INPUT, "output": pb.STAGE_OUTPUT, "retrieval": pb.STAGE_RETRIEVAL,
             "tool_call": pb.STAGE_TOOL_CALL, "tool_result": pb.STAGE_TOOL_RESULT}
_STAGE_FROM = {v: k for k, v in _STAGE_TO.items()}
_OUTCOME_TO = {Outcome.ALLOW: pb.OUTCOME_ALLOW, Outcome.REDACT: pb.OUTCOME_REDACT,
               Outcome.DENY: pb.OUTCOME_DENY, Outcome.ESCALATE: pb.OUTCOME_ESCALATE}
_OUTCOME_FROM = {v: k for k, v in _OUTCOME_TO.items()}
_EFFECT_TO = {"deny": pb.EFFECT_DENY, "redact": pb.EFFECT_REDACT, "allow": pb.EFFECT_ALLOW,
              "escalate": pb.EFFECT_ESCALATE, "warn": pb.EFFECT_WARN, "label": pb.EFFECT_LABEL}
_EFFECT_FROM = {v: k for k, v in _EFFECT_TO.items()}
_TRACE_TO = {"fired": pb.TRACE_STATUS_FIRED, "not_fired": pb.TRACE_STATUS_NOT_FIRED,
             "error": pb.TRACE_STATUS_ERROR, "skipped": pb.TRACE_STATUS_SKIPPED}
_TRACE_FROM = {v: k for k, v in _TRACE_TO.items()}
#: The wire's enum numbers by the engine's names (the stage, the Outcome, a violation's effect).
STAGE_WIRE, OUTCOME_WIRE, EFFECT_WIRE = _STAGE_TO, _OUTCOME_TO, _EFFECT_TO


class ConversionError(ValueError):
    """A value that has no faithful wire form, or a message that makes no sense."""


# ---- JSON-like values <-> Struct ---------------------------------------------


def fill_value(out: struct_pb2.Value, value: Any, where: str) -> None:
    if value is None:
        out.null_value = struct_pb2.NULL_VALUE
    elif isinstance(value, bool):  # before int: True is an int
        out.bool_value = value
    elif isinstance(value, int):
        if abs(value) > MAX_SAFE_INT:
            raise ConversionError(f"{where}: the integer {value} is beyond 2**53 and cannot travel exactly "
                                  "(send it as a string)")
        out.number_value = float(value)
    elif isinstance(value, float):
        out.number_value = value
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, dict):
        fill_struct(out.struct_value, value, where)
    elif isinstance(value, (list, tuple)):
        lst = out.list_value
        lst.SetInParent()
        for i, item in enumerate(value):
            fill_value(lst.values.add(), item, f"{where}[{i}]")
    else:
        raise ConversionError(f"{where}: a {type(value).__name__} is not a JSON value")


def fill_struct(out: struct_pb2.Struct, value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise ConversionError(f"{where} must be a JSON object, not {type(value).__name__}")
    out.SetInParent()
    fields = out.fields
    for k, v in value.items():
        if not isinstance(k, str):
            raise ConversionError(f"{where}: object keys must be strings, not {type(k).__name__}")
        # Plain values inline (the common case); the rest, and every error
        # with its path, through fill_value.
        t = type(v)
        if t is str:
            fields[k].string_value = v
        elif t is bool:
            fields[k].bool_value = v
        elif (t is int and -MAX_SAFE_INT <= v <= MAX_SAFE_INT) or t is float:
            fields[k].number_value = v
        else:
            fill_value(fields[k], v, f"{where}.{k}")


def to_struct(value: dict, where: str = "value") -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    fill_struct(s, value, where)
    return s


def from_value(v: struct_pb2.Value) -> Any:
    kind = v.WhichOneof("kind")
    if kind == "string_value":
        return v.string_value
    if kind == "number_value":
        n = v.number_value
        if n.is_integer() and -MAX_SAFE_INT <= n <= MAX_SAFE_INT:  # false for inf and nan
            return int(n)
        return n
    if kind == "bool_value":
        return v.bool_value
    if kind == "struct_value":
        return from_struct(v.struct_value)
    if kind == "list_value":
        return [from_value(x) for x in v.list_value.values]
    return None  # null_value, or a Value with nothing set


def from_struct(s: struct_pb2.Struct) -> dict:
    # Keys, then lookups: cheaper than the map's items() view. Strings,
    # booleans and numbers inline (the common case); the rest through from_value.
    fields = s.fields
    out = {}
    for k in fields:
        v = fields[k]
        kind = v.WhichOneof("kind")
        if kind == "string_value":
            out[k] = v.string_value
        elif kind == "number_value":
            n = v.number_value
            out[k] = int(n) if n.is_integer() and -MAX_SAFE_INT <= n <= MAX_SAFE_INT else n
        elif kind == "bool_value":
            out[k] = v.bool_value
        else:
            out[k] = from_value(v)
    return out


def _opt_struct(msg: Any, field: str) -> dict | None:
    return from_struct(getattr(msg, field)) if msg.HasField(field) else None


# ---- requests ------------------------------------------------------------------


def sources_to_engine(sources: Any) -> list[dict]:
    """A request's ``repeated Source`` as the engine's sources; an empty id
    is the source's position, counted from 1, as in the library (sources.py)."""
    return [{"id": s.id or i + 1, "text": s.text, "metadata": _opt_struct(s, "metadata")}
            for i, s in enumerate(sources)]


def request_to_engine(stage: str, msg: Any) -> tuple[dict, str | None]:
    """A check request message as (the request dict `Engine.check` takes, policy)."""
    ctx = _opt_struct(msg, "context")
    if stage in ("input", "output"):
        req = {"text": msg.text, "context": ctx}
        if stage == "output" and msg.sources:
            req["sources"] = sources_to_engine(msg.sources)
    elif stage == "retrieval":
        req = {"chunks": [{"text": c.text, "metadata": _opt_struct(c, "metadata")} for c in msg.chunks],
               "context": ctx}
    elif stage in ("tool_call", "tool_result"):
        if not msg.tool:
            raise ConversionError("tool must be a non-empty string")
        req = {"tool": msg.tool, "args": _opt_struct(msg, "args"), "principal": _opt_struct(msg, "principal"),
               "context": ctx}
        if stage == "tool_result":
            # Unset is None, which the engine refuses as a result (INVALID_ARGUMENT).
            req["result"] = from_value(msg.result) if msg.HasField("result") else None
    else:  # pragma: no cover - the service only passes the five stages
        raise ConversionError(f"unknown stage {stage!r}")
    # The engine checks both (a too-long session, a negative time: INVALID_ARGUMENT).
    if msg.session:
        req["session"] = msg.session
    if msg.at:
        req["at"] = msg.at
    return req, (msg.policy or None)


def request_from_engine(stage: str, request: dict, *, policy: str | None = None, request_key: str | None = None,
                        explain: bool = False) -> Any:
    """The message for `Engine.check`'s request shape (what the client sends)."""
    if not isinstance(request, dict):
        raise ConversionError("request must be a dict")
    common = {"policy": policy or "", "request_key": request_key or "", "explain": bool(explain),
              "session": _session(request.get("session")), "at": _at(request.get("at"))}
    if stage in ("input", "output"):
        text = request.get("text")
        if not isinstance(text, str):
            raise ConversionError(f"text must be a string, not {type(text).__name__}")
        cls = pb.CheckInputRequest if stage == "input" else pb.CheckOutputRequest
        msg = cls(text=text, **common)
        if stage == "output" and request.get("sources") is not None:
            fill_sources(msg, request["sources"])
    elif stage == "retrieval":
        chunks = request.get("chunks")
        if not isinstance(chunks, (list, tuple)):
            raise ConversionError("chunks must be a list")
        msg = pb.CheckRetrievalRequest(**common)
        for i, ch in enumerate(chunks):
            if isinstance(ch, str):
                ch = {"text": ch}
            if not isinstance(ch, dict) or not isinstance(ch.get("text"), str):
                raise ConversionError(f"chunks[{i}] needs a string 'text'")
            c = msg.chunks.add(text=ch["text"])
            if ch.get("metadata") is not None:
                fill_struct(c.metadata, ch["metadata"], f"chunks[{i}].metadata")
    elif stage in ("tool_call", "tool_result"):
        tool = request.get("tool")
        if not isinstance(tool, str) or not tool:
            raise ConversionError("tool must be a non-empty string")
        if stage == "tool_call":
            msg = pb.CheckToolCallRequest(tool=tool, **common)
        else:
            msg = pb.CheckToolResultRequest(tool=tool, **common)
            if request.get("result") is None:
                raise ConversionError("result must be a string or a JSON value (the tool's output), not None")
            fill_value(msg.result, request["result"], "result")
        for name in ("args", "principal"):
            if request.get(name) is not None:
                fill_struct(getattr(msg, name), request[name], name)
    else:
        raise ConversionError(f"unknown stage {stage!r}; use {', '.join(_STAGE_TO)}")
    if request.get("context") is not None:
        fill_struct(msg.context, request["context"], "context")
    return msg


def fill_sources(msg: Any, sources: Any) -> None:
    """An output request's sources: strings or ``{"text", "id", "metadata"}``
    objects (guardrails.detectors.grounding.sources); the sidecar's engine
    checks the rest (unique ids, sizes)."""
    if isinstance(sources, (str, bytes)) or not isinstance(sources, (list, tuple)):
        raise ConversionError("sources must be a list of strings or {text, id, metadata} objects")
    for i, src in enumerate(sources):
        if isinstance(src, str):
            src = {"text": src}
        if not isinstance(src, dict) or not isinstance(src.get("text"), str):
            raise ConversionError(f"sources[{i}] needs a string 'text'")
        sid = src.get("id")
        if sid is not None and (isinstance(sid, bool) or not isinstance(sid, (str, int))):
            raise ConversionError(f"sources[{i}].id must be a string or a whole number")
        m = msg.sources.add(text=src["text"], id="" if sid is None else str(sid))
        if src.get("metadata") is not None:
            fill_struct(m.metadata, src["metadata"], f"sources[{i}].metadata")


def _session(session: Any) -> str:
    if session is None:
        return ""
    if not isinstance(session, str) or not session:
        raise ConversionError("session must be a non-empty string (or None)")
    return session


def _at(at: Any) -> float:
    if at is None:
        return 0.0
    if isinstance(at, bool) or not isinstance(at, (int, float)):
        raise ConversionError(f"at must be the request's time in unix seconds, not {type(at).__name__}")
    if at == 0:
        # 0 is "now" on the wire: sending it would not give the time asked for.
        raise ConversionError("at=0 cannot travel (the wire reads 0 as now); pass None for now")
    return float(at)


# ---- span offsets in other units ----------------------------------------------------


def span_texts(stage: str, request: dict) -> dict[str | None, str]:
    """The strings a decision's spans can lie in, by the spans' ``field``
    (None: the request's ``text``)."""
    if stage in ("input", "output"):
        text = request.get("text")
        return {None: text} if isinstance(text, str) else {}
    out: dict[str | None, str] = {}
    if stage == "retrieval":
        for i, ch in enumerate(request.get("chunks") or ()):
            text = ch.get("text") if isinstance(ch, dict) else ch
            if isinstance(text, str):
                out[f"chunks[{i}]"] = text
        return out
    leaves: list[tuple[str, list, str]] = []
    if stage == "tool_result":
        string_leaves(request.get("result"), "result", leaves, [])
    string_leaves(request.get("args"), "args", leaves, [])
    return {path: text for path, _trail, text in leaves}


class UnitOffsets:
    """Code-point offsets into one string as (UTF-8 bytes, UTF-16 code units).
    Offsets asked in ascending order cost one pass over the string in all."""

    __slots__ = ("_at", "ascii", "text")

    def __init__(self, text: str):
        self.text = text
        self.ascii = text.isascii()
        self._at = (0, 0, 0)  # (code points, bytes, code units) of the last answer

    def __call__(self, offset: int) -> tuple[int, int]:
        if self.ascii:
            return offset, offset
        cp, b8, b16 = self._at if offset >= self._at[0] else (0, 0, 0)
        piece = self.text[cp:offset]
        b8 += len(piece.encode("utf-8", "surrogatepass"))
        b16 += len(piece) + sum(1 for c in piece if c > "\uffff")
        self._at = (offset, b8, b16)
        return b8, b16


# ---- decisions -------------------------------------------------------------------


def decision_to_proto(d: Decision, request: dict | None = None) -> pb.Decision:
    """The wire form of `d`; given the `request` it decides, each span also
    carries its offsets in UTF-8 bytes and UTF-16 code units."""
    texts: dict[str | None, str] | None = None
    measured: dict[str | None, UnitOffsets] = {}
    m = pb.Decision(decision_id=d.decision_id, stage=_STAGE_TO[d.stage], outcome=_OUTCOME_TO[d.outcome],
                    elapsed_us=d.elapsed_us,
                    policy=pb.PolicyRef(name=d.policy.name, version=d.policy.version, digest=d.policy.digest))
    if d.text is not None:
        if d.stage in ("input", "output"):
            m.text = d.text
        elif d.stage == "tool_call":
            fill_struct(m.args, d.text, "args")
        elif d.stage == "tool_result":
            fill_value(m.result, d.text, "result")
        else:
            fwd = m.chunks_forwarded
            fwd.SetInParent()
            for ch in d.text:
                c = fwd.chunks.add(text=ch["text"])
                fill_struct(c.metadata, ch.get("metadata") or {}, "metadata")
    for v in d.violations:
        mv = m.violations.add(rule=v.rule, effect=_EFFECT_TO[v.effect])
        for name in ("message", "route", "error", "chunk", "location"):
            if getattr(v, name) is not None:
                setattr(mv, name, getattr(v, name))
        for s in v.spans:
            ms = mv.spans.add(start=s.start, end=s.end, entity=s.entity, score=s.score)
            if s.field is not None:
                ms.field = s.field
            if texts is None:
                texts = span_texts(d.stage, request) if request is not None else {}
            text = texts.get(s.field)
            if text is not None and 0 <= s.start <= s.end <= len(text):
                units = measured.get(s.field)
                if units is None:
                    units = measured[s.field] = UnitOffsets(text)
                ms.start_utf8, ms.start_utf16 = units(s.start)
                ms.end_utf8, ms.end_utf16 = units(s.end)
    for e in d.errors:
        me = m.errors.add(code=e.code, message=e.message)
        if e.rule is not None:
            me.rule = e.rule
    if d.route is not None:
        m.route = d.route
    for c in d.chunks or ():
        mc = m.chunks.add(index=c.index, outcome=_OUTCOME_TO[c.outcome])
        if c.text is not None:
            mc.text = c.text
        fill_struct(mc.metadata, c.metadata, "metadata")
    m.labels.extend(d.labels)
    if d.session is not None:
        m.session = d.session
    if d.trace is not None:
        m.trace.SetInParent()
        for t in d.trace:
            mt = m.trace.steps.add(rule=t.rule, tier=t.tier, status=_TRACE_TO[t.status])
            if t.value is not None:
                fill_value(mt.value, t.value, "trace.value")
            if t.detail is not None:
                mt.detail = t.detail
            if t.chunk is not None:
                mt.chunk = t.chunk
    return m


def _opt(msg: Any, field: str) -> Any:
    return getattr(msg, field) if msg.HasField(field) else None


_policy_refs: dict[tuple[str, str, str], PolicyRef] = {}


def _policy_ref(name: str, version: str, digest: str) -> PolicyRef:
    """One frozen PolicyRef per policy version (a sidecar serves a few)."""
    key = (name, version, digest)
    ref = _policy_refs.get(key)
    if ref is None:
        if len(_policy_refs) >= 256:
            _policy_refs.clear()  # bounded; entries are cheap to rebuild
        ref = _policy_refs[key] = PolicyRef(name=name, version=version, digest=digest)
    return ref


def decision_from_proto(m: pb.Decision) -> Decision:
    if m.stage not in _STAGE_FROM or m.outcome not in _OUTCOME_FROM:
        raise ConversionError("the decision names no known stage or outcome (is the server newer?)")
    stage = _STAGE_FROM[m.stage]
    which = m.WhichOneof("forwarded")
    text: Any = None
    if which == "text":
        text = m.text
    elif which == "args":
        text = from_struct(m.args)
    elif which == "chunks_forwarded":
        text = [{"text": c.text, "metadata": from_struct(c.metadata)} for c in m.chunks_forwarded.chunks]
    elif which == "result":
        text = from_value(m.result)
    violations = [
        Violation(rule=v.rule, effect=_EFFECT_FROM.get(v.effect, "deny"), message=_opt(v, "message"),
                  route=_opt(v, "route"), error=_opt(v, "error"), chunk=_opt(v, "chunk"),
                  location=_opt(v, "location"),
                  spans=[Span(start=s.start, end=s.end, entity=s.entity, score=s.score, field=_opt(s, "field"))
                         for s in v.spans])
        for v in m.violations
    ]
    chunks = None
    if stage == "retrieval":
        chunks = [ChunkDecision(index=c.index, outcome=_OUTCOME_FROM[c.outcome], text=_opt(c, "text"),
                                metadata=from_struct(c.metadata)) for c in m.chunks]
    trace = None
    if m.HasField("trace"):
        trace = [TraceStep(rule=t.rule, tier=t.tier, status=_TRACE_FROM.get(t.status, "error"),
                           value=from_value(t.value) if t.HasField("value") else None,
                           detail=_opt(t, "detail"), chunk=_opt(t, "chunk")) for t in m.trace.steps]
    return Decision(
        decision_id=m.decision_id, stage=stage, outcome=_OUTCOME_FROM[m.outcome], text=text,
        violations=violations,
        policy=_policy_ref(m.policy.name, m.policy.version, m.policy.digest),
        errors=[EvalError(rule=_opt(e, "rule"), code=e.code, message=e.message) for e in m.errors],
        elapsed_us=m.elapsed_us, route=_opt(m, "route"), chunks=chunks, trace=trace, labels=list(m.labels),
        session=_opt(m, "session"),
    )


def stage_name(value: int) -> str:
    return _STAGE_FROM[value]
