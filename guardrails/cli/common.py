"""Shared helpers for the command modules."""

from __future__ import annotations

import json
import math
from typing import Any


class UsageError(Exception):
    """Bad arguments or a malformed request: exit code 2."""


#: The most digits a JSON integer may have here: Python refuses to convert
#: more than 4,300, and the engine refuses 4,000 or more (values.MAX_INT).
MAX_INT_DIGITS = 3999


class _NotJson(ValueError):
    """A value Python's json module accepts and JSON does not."""


def _constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON value (JSON numbers are finite)")


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _NotJson(f"an integer of {len(text.lstrip('-'))} digits is too long (at most {MAX_INT_DIGITS})")
    return int(text)


def _number(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NotJson(f"{text[:20]}{'...' if len(text) > 20 else ''} is too large for a number")
    return value


def read_json(text: str, where: str, *, first_line: int = 1) -> Any:
    """Parse strict JSON; errors name `where:line:col` (line counted from
    `first_line`), or `where:line` for a value JSON does not allow: NaN,
    Infinity, a number too large for a float, an integer too long to convert,
    nesting too deep for Python's parser."""
    try:
        return json.loads(text, parse_constant=_constant, parse_int=_integer, parse_float=_number)
    except json.JSONDecodeError as exc:
        line = first_line + exc.lineno - 1
        raise UsageError(f"{where}:{line}:{exc.colno}: invalid JSON: {exc.msg}") from None
    except _NotJson as exc:
        raise UsageError(f"{_line_of(text, where, first_line)}: invalid JSON: {exc}") from None
    except RecursionError:
        raise UsageError(f"{_line_of(text, where, first_line)}: invalid JSON: nested too deeply to read "
                         "(a request may nest 64 levels)") from None


def _line_of(text: str, where: str, first_line: int) -> str:
    """`where:line` when the text is one line, else `where`: these errors
    come without a position."""
    return f"{where}:{first_line}" if "\n" not in text.strip() else where


def printable(text: str) -> str:
    """`text` as a terminal can take it: a lone surrogate (a str that is not
    valid Unicode) is written as its escape, ``\\ud800``, instead of failing
    the write."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def add_ner_option(p) -> None:
    p.add_argument("--ner-model", metavar="NAME",
                   help="installed spaCy model package enabling PERSON, LOCATION, ... (never downloaded)")


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``1 policy``, ``2 policies``: a count and its noun, agreeing."""
    return f"{n} {noun if n == 1 else (nouns or noun + 's')}"
