"""JSON values as the language sees them: their kinds, numbers, equality.

:func:`kind_of` is the one name for a value's kind. The language's type
errors, the test-file schema and the decision log's masks all use it, so a
user meets one vocabulary: ``null``, ``bool``, ``number``, ``string``,
``list``, ``map``.
"""

from __future__ import annotations

import math
import re
from typing import Any

#: Every kind :func:`kind_of` names for a JSON value.
KINDS: tuple[str, ...] = ("null", "bool", "number", "string", "list", "map")


def kind_of(value: Any) -> str:
    """The kind of a JSON value; a non-JSON value gets its Python type's name."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple, frozenset)):
        return "list"
    if isinstance(value, dict):
        return "map"
    return type(value).__name__


def is_number(value: Any) -> bool:
    """True for ints and floats; a bool is not a number here."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def strict_eq(a: Any, b: Any) -> bool:
    """Equality without Python's ``True == 1`` and ``1 == "1"``-style surprises."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if is_number(a) and is_number(b):
        return a == b
    return type(a) is type(b) and a == b if not (is_number(a) or is_number(b)) else False


#: Between a tool call's string arguments when detectors read them as one
#: text: a line break and a NUL, so no term, regex or PII value spans two
#: arguments, and offsets map back to the argument they fell in.
ARG_SEPARATOR = "\n\x00\n"


def string_leaves(value: Any, path: str, out: list[tuple[str, list, str]], trail: list) -> None:
    """Append every string leaf of a JSON value to `out` as (dotted path, key
    trail, text): ``args.to``, ``args.cc[0]``. The paths are the ``field`` of a
    tool call's redaction spans; the decision log finds the same leaves by them.
    """
    if isinstance(value, str):
        out.append((path, list(trail), value))
    elif isinstance(value, dict):
        # By key: a JSON object has no order, and a wire format (the sidecar's
        # Struct) need not keep the caller's, so the joined text, and what a
        # detector scores on it, must not depend on it.
        for k in sorted(value):
            string_leaves(value[k], f"{path}.{k}", out, trail + [k])
    elif isinstance(value, list):
        for i, v in enumerate(value):
            string_leaves(v, f"{path}[{i}]", out, trail + [i])


# ---- time windows ("30s", "10m", "1h", "7d"): limits and history functions --

WINDOW_UNITS: dict[str, float] = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
MAX_WINDOW = 366 * 86400.0  # a year and a day: past that, a window is a typo
_WINDOW = re.compile(r"(\d{1,9}(?:\.\d{1,6})?)(ms|s|m|h|d)")


def parse_window(text: object) -> float | None:
    """Seconds in a window such as ``"90s"``, ``"10m"``, ``"1.5h"``, ``"7d"``;
    None when it is not one (no unit, an unknown unit, zero, over a year)."""
    if not isinstance(text, str):
        return None
    m = _WINDOW.fullmatch(text.strip())
    if m is None:
        return None
    seconds = float(m.group(1)) * WINDOW_UNITS[m.group(2)]
    return seconds if 0 < seconds <= MAX_WINDOW else None


WINDOW_PROBLEM = ('a window is a positive number and a unit: ms, s, m, h or d ("30s", "10m", "1h", "7d"), '
                  "at most 366 days")


# ---- JSON values in requests --------------------------------------------------

#: How deeply a request's JSON may nest.
MAX_DEPTH = 64
#: How many chunks one retrieval request may carry: each is judged on its
#: own, so the cost grows with the count (100,000 chunks took 25 s), and a
#: retriever hands a model tens, not thousands.
MAX_CHUNKS = 1000
#: The most a policy's ``max_chunks`` setting may allow (it defaults to MAX_CHUNKS).
MAX_CHUNKS_SETTING = 10_000
#: Integers must be smaller than this in magnitude (4,000 digits): Python
#: refuses to print an int of over 4,300 digits, so a bigger one would fail
#: in the decision log or on the wire after being judged.
MAX_INT = 10**4000
MIN_INT = -MAX_INT  # negating MAX_INT per value would build a 4,000-digit number each time


_SURROGATE = re.compile("[\ud800-\udfff]")


def is_unicode(text: str) -> bool:
    """Whether `text` is valid Unicode: no lone surrogate, which a Python
    ``str`` can hold (JSON's ``"\\ud800"`` escape decodes to one) and
    UTF-8 cannot encode. The sidecar never receives one (protobuf strings are
    UTF-8), so the engine refuses them too, and hashes and fingerprints never
    meet one."""
    return text.isascii() or _SURROGATE.search(text) is None


def is_json_like(value: Any, depth: int = 0) -> bool:
    """Whether `value` is what JSON can carry: string keys, at most MAX_DEPTH
    deep, finite numbers (NaN and Infinity are not JSON, and compare false
    with everything, so ``args.amount > 5000`` would let NaN through),
    integers under MAX_INT, and strings (keys too) that are valid Unicode."""
    if depth > MAX_DEPTH:
        return False
    if type(value) is dict and depth < MAX_DEPTH:
        # The common shape (a flat map of plain values) without a call per value.
        for k, v in value.items():
            if type(k) is not str and not isinstance(k, str):
                return False
            if not (k.isascii() or is_unicode(k)):
                return False
            t = type(v)
            if t is str:
                if v.isascii() or is_unicode(v):
                    continue
                return False
            if t is bool or v is None:
                continue
            if t is int:
                if MIN_INT < v < MAX_INT:
                    continue
                return False
            if t is float:
                if v - v == 0.0:  # false for NaN and the infinities
                    continue
                return False
            if not is_json_like(v, depth + 1):
                return False
        return True
    if isinstance(value, str):
        return is_unicode(value)
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return MIN_INT < value < MAX_INT
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(is_json_like(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_unicode(k) and is_json_like(v, depth + 1) for k, v in value.items())
    return False
