"""A unary check's answer, encoded straight to the bytes of a ``pb.Decision``;
and a tool call's request, read straight from its bytes (:func:`read_tool_call`).

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


#: Encoded pieces by the identity of the (frozen) object they encode: the
#: policy references and the spanless violations the engine shares between
#: decisions. The object is kept with its bytes, so an id is never read for
#: another one.
_pieces: dict[int, tuple[Any, bytes]] = {}


def _piece(obj: Any, encode: Any) -> bytes:
    data = encode(obj)
    if len(_pieces) >= MAX_PIECES:
        _pieces.clear()
    _pieces[id(obj)] = (obj, data)
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


_COVERED = frozenset(("tool_call", "input", "output"))


def covers(d: Decision) -> bool:
    """Whether :func:`decision_bytes` encodes `d` itself (else it falls back)."""
    if d.trace is not None or d.chunks or d.stage not in _COVERED:
        return False
    for v in d.violations:
        if v.spans:
            return False
    return True


def decision_bytes(d: Decision, request: dict | None = None, args_bytes: bytes | None = None) -> bytes:
    """The serialized ``pb.Decision`` for `d` (what
    ``decision_to_proto(d, request).SerializeToString()`` would send).

    `args_bytes` is the request's args Struct as it arrived (from
    :func:`read_tool_call`): a tool call that forwards the request's args
    unchanged (the engine's ``text`` is that very dict, which it never
    changes in place) sends them back as they came. They read back as the
    same values: the args dict was read from these bytes."""
    stage = d.stage
    if d.trace is not None or d.chunks or stage not in _COVERED:
        return decision_to_proto(d, request).SerializeToString()
    # The violations first (what covers() checks), each a cached piece.
    get = _pieces.get
    violations = []
    for v in d.violations:
        if v.spans:
            return decision_to_proto(d, request).SerializeToString()
        hit = get(id(v))
        violations.append(hit[1] if hit is not None and hit[0] is v else _piece(v, _encode_violation))
    p = d.policy
    hit = get(id(p))
    policy = hit[1] if hit is not None and hit[0] is p else _piece(p, _encode_policy)
    did = d.decision_id.encode()  # (a lone surrogate raises, as protobuf does)
    # Lengths under 128 are one byte (the common case: an id is 32 digits).
    parts = [_ID + (_SMALL[len(did)] if len(did) < 0x80 else varint(len(did))) + did, _HEAD[stage, d.outcome]]
    text = d.text
    if text is not None:
        if stage == "tool_call":
            if args_bytes is not None and request is not None and text is request["args"]:
                n = len(args_bytes)
                parts.append(_ARGS + (_SMALL[n] if n < 0x80 else varint(n)) + args_bytes)
            else:
                parts.append(_field(_ARGS, struct_bytes(text, "args")))
        else:
            parts.append(_text(_TEXT, text))
    parts += violations
    parts.append(policy)
    for e in d.errors:
        me = pb.EvalError(code=e.code, message=e.message)
        if e.rule is not None:
            me.rule = e.rule
        parts.append(_field(_ERROR, me.SerializeToString()))
    elapsed = d.elapsed_us
    if elapsed:
        parts.append(_ELAPSED + (_SMALL[elapsed] if 0 < elapsed < 0x80 else varint(elapsed)))
    if d.route is not None:
        parts.append(_text(_ROUTE, d.route))
    for label in d.labels:
        parts.append(_text(_LABEL, label))
    if d.session is not None:
        parts.append(_text(_SESSION, d.session))
    return b"".join(parts)




# ---- a tool call's request, read from its bytes ------------------------------------
#
# upb's parse and the walk over its Struct maps cost about 30% of check() in
# service: each map value is a Python object made for one read, and the
# walk calls into protobuf three or four times a field. A tool call's
# request is small and flat; read straight from its bytes it costs about a
# quarter less in service (20 against 26 us; gRPC's own work evicts
# protobuf's code from the caches between requests), and the answer can
# send the args back as they came. Only the plain form is read here: every length in one
# to five bytes, each field once, no unknown field, values at most
# READ_DEPTH deep, each Value with exactly one member. Anything else (and
# every malformed message) is left to upb and :func:`~.convert.request_to_engine`,
# which refuse it with their own messages, so the reading is an
# optimisation a caller cannot see.

#: How deep (JSON levels) a value is read here; deeper ones go the general way.
READ_DEPTH = 16

_unpack_double = struct.Struct("<d").unpack_from


class _General(Exception):
    """Not the plain form: the general parser reads this message."""


def _length(b: bytes, i: int) -> tuple[int, int]:
    """A varint of two to five bytes at `i` (the first byte is >= 0x80): (value, the next index)."""
    n, shift = b[i] & 0x7F, 7
    while True:
        i += 1
        c = b[i]
        n |= (c & 0x7F) << shift
        if c < 0x80:
            return n, i + 1
        shift += 7
        if shift > 28:
            raise _General


def _read_value(b: bytes, i: int, e: int, depth: int) -> Any:
    """The google.protobuf.Value in b[i:e] (one member, or none: null)."""
    if i == e:
        return None
    tag = b[i]
    if tag == 0x1A:  # string_value
        n = b[i + 1]
        j = i + 2
        if n >= 0x80:
            n, j = _length(b, i + 1)
        if j + n != e:
            raise _General
        return b[j:e].decode()
    if tag == 0x11:  # number_value
        if i + 9 != e:
            raise _General
        x = _unpack_double(b, i + 1)[0]
        return int(x) if x.is_integer() and -MAX_SAFE_INT <= x <= MAX_SAFE_INT else x
    if tag == 0x20 or tag == 0x08:  # bool_value, null_value: one byte 0 or 1
        if i + 2 != e or b[i + 1] > 1:
            raise _General
        return None if tag == 0x08 else b[i + 1] == 1
    n = b[i + 1]
    j = i + 2
    if n >= 0x80:
        n, j = _length(b, i + 1)
    if j + n != e or depth >= READ_DEPTH:
        raise _General
    if tag == 0x2A:  # struct_value
        return _read_struct(b, j, e, depth + 1)
    if tag == 0x32:  # list_value: repeated Value values = 1
        out = []
        while j < e:
            if b[j] != 0x0A:
                raise _General
            n = b[j + 1]
            j += 2
            if n >= 0x80:
                n, j = _length(b, j - 1)
            out.append(_read_value(b, j, j + n, depth + 1))
            j += n
        if j != e:
            raise _General
        return out
    raise _General


def _read_struct(b: bytes, i: int, end: int, depth: int) -> dict:
    """The google.protobuf.Struct in b[i:end] as a dict (entries in wire order; a repeated key: the last)."""
    out: dict = {}
    while i < end:
        # An entry: 0x0a, its length; its key (0x0a, length, UTF-8); its
        # value (0x12, length, a Value). Short entries with a string, number
        # or boolean are read here (the common case); the rest by _read_entry.
        if b[i] == 0x0A and (n := b[i + 1]) < 0x80 and b[i + 2] == 0x0A and (k := b[i + 3]) < 0x80:
            e = i + 2 + n
            j = i + 4 + k
            if j < e and b[j] == 0x12 and b[j + 1] == e - j - 2:
                tag = b[j + 2]
                if tag == 0x1A and b[j + 3] == e - j - 4:
                    out[b[i + 4:j].decode()] = b[j + 4:e].decode()
                    i = e
                    continue
                if tag == 0x11 and e - j == 11:
                    x = _unpack_double(b, j + 3)[0]
                    out[b[i + 4:j].decode()] = (int(x) if x.is_integer() and -MAX_SAFE_INT <= x <= MAX_SAFE_INT
                                                else x)
                    i = e
                    continue
                if tag == 0x20 and e - j == 4 and b[j + 3] < 2:
                    out[b[i + 4:j].decode()] = b[j + 3] == 1
                    i = e
                    continue
        i = _read_entry(b, i, out, depth)
    if i != end:
        raise _General
    return out


def _read_entry(b: bytes, i: int, out: dict, depth: int) -> int:
    """Read the Struct entry at `i` into `out`; the index after it."""
    if b[i] != 0x0A:
        raise _General
    n = b[i + 1]
    i += 2
    if n >= 0x80:
        n, i = _length(b, i - 1)
    e = i + n
    if b[i] != 0x0A:
        raise _General
    k = b[i + 1]
    i += 2
    if k >= 0x80:
        k, i = _length(b, i - 1)
    key = b[i:i + k].decode()
    i += k
    if i == e:
        out[key] = None  # no value: protobuf reads an empty Value
        return e
    if b[i] != 0x12:
        raise _General
    n = b[i + 1]
    i += 2
    if n >= 0x80:
        n, i = _length(b, i - 1)
    if i + n != e:
        raise _General
    out[key] = _read_value(b, i, e, depth)
    return e


# CheckToolCallRequest's fields by their tag byte: 1 tool, 2 args, 3 principal, 4 policy, 5 context,
# 6 request_key, 8 session (length-delimited); 7 explain (varint); 9 at (double).
_TOOL, _ARGS_IN, _PRINCIPAL, _POLICY_IN, _CONTEXT, _KEY_IN, _SESSION_IN = 0x0A, 0x12, 0x1A, 0x22, 0x2A, 0x32, 0x42
_EXPLAIN_IN, _AT_IN = 0x38, 0x49


#: What :func:`read_tool_call` gives: (the request dict the engine takes, the policy named or None,
#: explain, request_key, the args' Struct as the request carried it or None).
ToolCallRequest = tuple[dict, str | None, bool, str, bytes | None]


def read_tool_call(raw: bytes) -> ToolCallRequest | None:
    """`raw` (a serialized CheckToolCallRequest) read as
    :func:`~.convert.request_to_engine` reads the parsed message, or None
    when it is not in the plain form (then the general parser reads it)."""
    try:
        return _read_tool_call(raw)
    except (_General, IndexError, UnicodeDecodeError):
        return None


def _read_tool_call(b: bytes) -> ToolCallRequest | None:
    # A repeated scalar keeps its last value, as protobuf does; a repeated
    # Struct (protobuf merges them) goes the general way.
    i, end = 0, len(b)
    tool = policy = request_key = session = ""
    args = principal = context = args_bytes = None
    explain, at = False, 0.0
    while i < end:
        tag = b[i]
        if tag == _EXPLAIN_IN:
            if b[i + 1] > 1:
                raise _General
            explain = b[i + 1] == 1
            i += 2
            continue
        if tag == _AT_IN:
            if i + 9 > end:
                raise _General
            at = _unpack_double(b, i + 1)[0]
            i += 9
            continue
        n = b[i + 1]
        i += 2
        if n >= 0x80:
            n, i = _length(b, i - 1)
        e = i + n
        if e > end:
            raise _General
        if tag == _ARGS_IN and args is None:
            args = _read_struct(b, i, e, 1)
            args_bytes = b[i:e]
        elif tag == _PRINCIPAL and principal is None:
            principal = _read_struct(b, i, e, 1)
        elif tag == _CONTEXT and context is None:
            context = _read_struct(b, i, e, 1)
        elif tag == _TOOL:
            tool = b[i:e].decode()
        elif tag == _POLICY_IN:
            policy = b[i:e].decode()
        elif tag == _SESSION_IN:
            session = b[i:e].decode()
        elif tag == _KEY_IN:
            request_key = b[i:e].decode()
        else:
            raise _General  # an unknown field, a known one with another wire type, or a repeated Struct
        i = e
    if not tool:
        return None  # refused by the general way, with its message
    req = {"tool": tool, "args": args, "principal": principal, "context": context}
    if session:
        req["session"] = session
    if at:
        req["at"] = at
    return req, policy or None, explain, request_key, args_bytes


__all__ = ["MAX_PIECES", "READ_DEPTH", "ToolCallRequest", "covers", "decision_bytes", "read_tool_call", "struct_bytes",
           "varint"]
