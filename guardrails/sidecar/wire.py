"""A unary check's answer, encoded straight to the bytes of a ``pb.Decision``.

Most of a common answer repeats from one request to the next: the policy
reference, and the violation of each rule that fired (the engine shares a
rule's spanless :class:`~guardrails.decision.Violation` between decisions).
Those pieces are encoded once, by protobuf, and kept; an answer is the
decision id, the stage and outcome, the forwarded text or args, the elapsed
time and the cached pieces, joined in field order. That costs a fraction of
building the message field by field and serializing it.

An answer this module does not cover (spans, a trace, retrieval chunks, a
tool result) is built by :func:`~.convert.decision_to_proto` as before. The
bytes decode to the message ``decision_to_proto`` builds, field for field
(``tests/test_server_wire.py``), so a caller cannot tell the two apart.
"""

from __future__ import annotations

import struct
from typing import Any

from guardrails.decision import Decision
from guardrails.sidecar._proto import guardrails_pb2 as pb
from guardrails.sidecar.convert import (EFFECT_WIRE, MAX_SAFE_INT, OUTCOME_WIRE, STAGE_WIRE, decision_to_proto,
                                         to_struct)

# Tags: (field number << 3) | wire type (0 varint, 2 length-delimited).
_ID, _STAGE, _OUTCOME, _TEXT, _ARGS = b"\x0a", 0x10, 0x18, b"\x22", b"\x2a"
_VIOLATION, _POLICY, _ERROR, _ELAPSED = b"\x3a", b"\x42", b"\x4a", b"\x50"
_ROUTE, _LABEL, _SESSION = b"\x5a", b"\x72", b"\x7a"

#: Cached pieces at most (the policy references and violations a sidecar
#: serves are few; the cache starts afresh past this).
MAX_PIECES = 4096

_SMALL = [bytes([n]) for n in range(0x80)]
# (stage, outcome) -> the two fields' bytes
_HEAD = {(s, o): bytes([_STAGE, sv, _OUTCOME, ov]) for s, sv in STAGE_WIRE.items()
         for o, ov in OUTCOME_WIRE.items()}


def varint(n: int) -> bytes:
    """`n` as a protobuf varint (an int64: a negative number takes ten bytes)."""
    if 0 <= n < 0x80:
        return _SMALL[n]
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# google.protobuf.Value's fields (a set oneof member is written even when it is 0 or false).
_NULL, _NUMBER, _TRUE, _FALSE = b"\x08\x00", b"\x11", b"\x20\x01", b"\x20\x00"
_STRING, _STRUCT, _LIST, _ENTRY, _KEY, _VALUE = b"\x1a", b"\x2a", b"\x32", b"\x0a", b"\x0a", b"\x12"
_double = struct.Struct("<d").pack


class _NotPlain(Exception):
    """A value encode_struct leaves to protobuf (which refuses it with the right message)."""


def _value(v: Any) -> bytes:
    t = type(v)
    if t is str:
        return _text(_STRING, v)
    if t is bool:
        return _TRUE if v else _FALSE
    if (t is int and -MAX_SAFE_INT <= v <= MAX_SAFE_INT) or t is float:
        return _NUMBER + _double(v)  # an int within 2**53 is exactly a double
    if v is None:
        return _NULL
    if t is dict:
        return _field(_STRUCT, _struct(v))
    if t is list or t is tuple:
        return _field(_LIST, b"".join(_field(_ENTRY, _value(x)) for x in v))
    raise _NotPlain


def _struct(d: dict) -> bytes:
    parts = []
    for k, v in d.items():
        if type(k) is not str:
            raise _NotPlain
        key = k.encode()
        value = _value(v)
        # An entry: its key (field 1) and its value (field 2), each length-prefixed.
        entry = _KEY + varint(len(key)) + key + _VALUE + varint(len(value)) + value
        parts.append(_ENTRY + varint(len(entry)) + entry)
    return b"".join(parts)


def struct_bytes(value: dict, where: str) -> bytes:
    """A JSON object as a serialized ``google.protobuf.Struct``, as
    ``to_struct(value, where).SerializeToString()`` gives it; anything not
    plain JSON goes through protobuf, which refuses it with the same error."""
    if type(value) is dict:
        try:
            return _struct(value)
        except (_NotPlain, RecursionError, UnicodeEncodeError):
            pass
    return to_struct(value, where).SerializeToString()


def _field(tag: bytes, payload: bytes) -> bytes:
    return tag + varint(len(payload)) + payload


def _text(tag: bytes, s: str) -> bytes:
    return _field(tag, s.encode())  # a lone surrogate raises, as protobuf does


class _Pieces:
    """Encoded pieces by the identity of the (frozen) object they encode; the
    object is kept with its bytes, so an id is never read for another one."""

    __slots__ = ("_by_id", "_encode")

    def __init__(self, encode: Any):
        self._by_id: dict[int, tuple[Any, bytes]] = {}
        self._encode = encode

    def __call__(self, obj: Any) -> bytes:
        hit = self._by_id.get(id(obj))
        if hit is not None and hit[0] is obj:
            return hit[1]
        data = self._encode(obj)
        if len(self._by_id) >= MAX_PIECES:
            self._by_id.clear()
        self._by_id[id(obj)] = (obj, data)
        return data


def _encode_policy(p: Any) -> bytes:
    return _field(_POLICY, pb.PolicyRef(name=p.name, version=p.version, digest=p.digest).SerializeToString())


def _encode_violation(v: Any) -> bytes:
    mv = pb.Violation(rule=v.rule, effect=EFFECT_WIRE[v.effect])
    for name in ("message", "route", "error", "chunk", "location"):
        value = getattr(v, name)
        if value is not None:
            setattr(mv, name, value)
    return _field(_VIOLATION, mv.SerializeToString())


_policy_bytes = _Pieces(_encode_policy)
_violation_bytes = _Pieces(_encode_violation)


def covers(d: Decision) -> bool:
    """Whether :func:`decision_bytes` encodes `d` itself (else it falls back)."""
    if d.trace is not None or d.chunks or d.stage not in ("tool_call", "input", "output"):
        return False
    for v in d.violations:
        if v.spans:
            return False
    return True


def decision_bytes(d: Decision, request: dict | None = None) -> bytes:
    """The serialized ``pb.Decision`` for `d` (what
    ``decision_to_proto(d, request).SerializeToString()`` would send)."""
    if not covers(d):
        return decision_to_proto(d, request).SerializeToString()
    parts = [_text(_ID, d.decision_id), _HEAD[d.stage, d.outcome]]
    text = d.text
    if text is not None:
        if d.stage == "tool_call":
            parts.append(_field(_ARGS, struct_bytes(text, "args")))
        else:
            parts.append(_text(_TEXT, text))
    parts.extend(_violation_bytes(v) for v in d.violations)
    parts.append(_policy_bytes(d.policy))
    for e in d.errors:
        me = pb.EvalError(code=e.code, message=e.message)
        if e.rule is not None:
            me.rule = e.rule
        parts.append(_field(_ERROR, me.SerializeToString()))
    if d.elapsed_us:
        parts.append(_ELAPSED + varint(d.elapsed_us))
    if d.route is not None:
        parts.append(_text(_ROUTE, d.route))
    parts.extend(_text(_LABEL, label) for label in d.labels)
    if d.session is not None:
        parts.append(_text(_SESSION, d.session))
    return b"".join(parts)


__all__ = ["MAX_PIECES", "covers", "decision_bytes", "struct_bytes", "varint"]
