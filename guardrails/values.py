"""JSON values as the language sees them: their kinds, numbers, equality.

:func:`kind_of` is the one name for a value's kind. The language's type
errors, the test-file schema and the decision log's masks all use it, so a
user meets one vocabulary: ``null``, ``bool``, ``number``, ``string``,
``list``, ``map``.
"""

from __future__ import annotations

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
