"""Messages whose JSON values nest deeper than protobuf's parser will read.

protobuf's parser (upb) refuses a message more than 100 messages deep, and
each level of a JSON object in a ``google.protobuf.Struct`` costs three
(Struct, map entry, Value): about 33 JSON levels. The engine accepts 64. So
when the fast parser refuses a message, :func:`parse_deep` reads it again:

1. it walks the wire bytes with the message's descriptor, takes every
   Struct, Value and ListValue field out and decodes it into a Python value
   here, with an explicit depth limit (:data:`MAX_JSON_DEPTH`);
2. what is left is shallow, and the fast parser reads it;
3. the values are written back into the parsed message, in place.

The result equals what an unlimited parser would have built, so the rest of
the sidecar (and the client, for decisions) never knows which path ran. A
value deeper than :data:`MAX_JSON_DEPTH` is :class:`TooDeep`, naming its
field; one between 64 and that deep reaches the engine, which refuses it
exactly as in process.
"""

from __future__ import annotations

import struct
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError

from guardrails.sidecar.convert import fill_struct, fill_value
from guardrails.sidecar.wire import varint
from guardrails.values import MAX_DEPTH

#: Deeper than this, a value is refused here; up to it, the engine decides (its limit is MAX_DEPTH).
MAX_JSON_DEPTH = MAX_DEPTH + 8
#: Field records the slow path reads in one message before giving up (a
#: malformed message could otherwise keep a thread busy for long).
MAX_RECORDS = 100_000

_STRUCT, _VALUE, _LIST = "google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"
_JSON_TYPES = {_STRUCT, _VALUE, _LIST}
_DOUBLE = struct.Struct("<d")


class TooDeep(ValueError):
    """A JSON value nested deeper than :data:`MAX_JSON_DEPTH`: `field` names
    the request field (``args``), `at` the path where the reading stopped."""

    def __init__(self, field: str, at: str = ""):
        at = at or field
        shown = at if len(at) <= 60 else at[:57] + "..."
        super().__init__(f"{field} is nested deeper than {MAX_DEPTH} levels (at {shown}; JSON values may nest "
                         f"at most {MAX_DEPTH} levels)")
        self.field, self.at = field, at


class TooManyFields(DecodeError):
    """The slow path gave up: more than :data:`MAX_RECORDS` fields."""


class _Reader:
    """A cursor over wire bytes, counting the records it reads."""

    __slots__ = ("buf", "records")

    def __init__(self, buf: bytes):
        self.buf = memoryview(buf)
        self.records = 0

    def varint(self, pos: int, end: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            if pos >= end or shift > 63:
                raise DecodeError("truncated or overlong varint")
            b = self.buf[pos]
            pos += 1
            value |= (b & 0x7F) << shift
            if b < 0x80:
                return value, pos
            shift += 7

    def fields(self, pos: int, end: int):
        """(number, wire type, start of record, start of payload, end of record) for each record."""
        while pos < end:
            self.records += 1
            if self.records > MAX_RECORDS:
                raise TooManyFields(f"a message with values nested past protobuf's parser limit may have at most "
                                    f"{MAX_RECORDS:,} fields in all")
            start = pos
            key, pos = self.varint(pos, end)
            number, wire = key >> 3, key & 7
            if number == 0:
                raise DecodeError("field number 0")
            if wire == 0:
                _, stop = self.varint(pos, end)
            elif wire == 1:
                stop = pos + 8
            elif wire == 5:
                stop = pos + 4
            elif wire == 2:
                n, pos = self.varint(pos, end)
                stop = pos + n
            else:  # groups are not used by these messages
                raise DecodeError(f"wire type {wire}")
            if stop > end:
                raise DecodeError("truncated field")
            yield number, wire, start, pos, stop
            pos = stop


def _text(r: _Reader, a: int, b: int) -> str:
    return bytes(r.buf[a:b]).decode("utf-8")  # strict: the fast parser refuses bad UTF-8 too


def _value(r: _Reader, a: int, b: int, depth: int, where: str) -> Any:
    if depth > MAX_JSON_DEPTH:
        raise TooDeep(where)
    out: Any = None
    for number, wire, _s, p, q in r.fields(a, b):
        if number == 1 and wire == 0:
            out = None
        elif number == 2 and wire == 1:
            out = _DOUBLE.unpack_from(r.buf, p)[0]
        elif number == 3 and wire == 2:
            out = _text(r, p, q)
        elif number == 4 and wire == 0:
            out = r.varint(p, q)[0] != 0
        elif number == 5 and wire == 2:
            out = _struct(r, p, q, depth, where)
        elif number == 6 and wire == 2:
            out = _list(r, p, q, depth, where)
    return out


def _struct(r: _Reader, a: int, b: int, depth: int, where: str) -> dict:
    out: dict = {}
    for number, wire, _s, p, q in r.fields(a, b):
        if number != 1 or wire != 2:
            continue
        key, value = "", None
        for n2, w2, _s2, p2, q2 in r.fields(p, q):
            if n2 == 1 and w2 == 2:
                key = _text(r, p2, q2)
            elif n2 == 2 and w2 == 2:
                value = (p2, q2)
        out[key] = _value(r, *value, depth + 1, f"{where}.{key}") if value is not None else None
    return out


def _list(r: _Reader, a: int, b: int, depth: int, where: str) -> list:
    out = []
    for number, wire, _s, p, q in r.fields(a, b):
        if number == 1 and wire == 2:
            out.append(_value(r, p, q, depth + 1, f"{where}[{len(out)}]"))
    return out


def _json(r: _Reader, type_name: str, a: int, b: int, where: str) -> Any:
    if type_name == _STRUCT:
        return _struct(r, a, b, 0, where)
    if type_name == _LIST:
        return _list(r, a, b, 0, where)
    return _value(r, a, b, 0, where)


def _split(r: _Reader, desc: Descriptor, a: int, b: int, path: tuple, found: list, where: str) -> bytes:
    """The bytes of [a, b) without their JSON fields, which go to `found` as (path, type, value)."""
    out = bytearray()
    seen: dict[int, int] = {}
    for number, wire, start, p, q in r.fields(a, b):
        field = desc.fields_by_number.get(number)
        if field is None or wire != 2 or field.type != FieldDescriptor.TYPE_MESSAGE:
            out += r.buf[start:q]
            continue
        index = seen.get(number, 0)
        seen[number] = index + 1
        repeated = field.is_repeated
        step = (field.name, index if repeated else None)
        name = f"{where}.{field.name}" if where else field.name
        if repeated:
            name += f"[{index}]"
        sub = field.message_type
        if sub.full_name in _JSON_TYPES:
            try:
                value = _json(r, sub.full_name, p, q, name)
            except TooDeep as exc:
                raise TooDeep(name, exc.at) from None
            found.append((path + (step,), sub.full_name, value))
            continue
        inner = _split(r, sub, p, q, path + (step,), found, name)
        out += varint((number << 3) | 2) + varint(len(inner)) + inner
    return bytes(out)


def parse_deep(cls: Any, raw: bytes) -> Any:
    """`raw` parsed as `cls`, with JSON values up to :data:`MAX_JSON_DEPTH`
    deep. Raises DecodeError (or UnicodeDecodeError) for malformed bytes,
    :class:`TooDeep` for a value nested deeper."""
    r = _Reader(raw)
    found: list[tuple[tuple, str, Any]] = []
    # Field names as the engine's messages spell them: args, chunks[2].metadata.
    shallow = _split(r, cls.DESCRIPTOR, 0, len(raw), (), found, "")
    msg = cls.FromString(shallow)
    for path, type_name, value in found:
        target = msg
        for name, index in path[:-1]:
            target = getattr(target, name)
            if index is not None:
                target = target[index]
        name, index = path[-1]
        target = getattr(target, name)
        if index is not None:  # a repeated JSON field: none of ours has one, but stay faithful
            target = target.add()
        if type_name == _STRUCT:
            fill_struct(target, value, name)
        elif type_name == _LIST:
            target.SetInParent()
            for item in value:
                fill_value(target.values.add(), item, name)
        else:
            fill_value(target, value, name)
    return msg


__all__ = ["MAX_JSON_DEPTH", "MAX_RECORDS", "TooDeep", "TooManyFields", "parse_deep"]
