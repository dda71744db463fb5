"""Shared helpers for the command modules."""

from __future__ import annotations


import json
from typing import Any



class UsageError(Exception):
    """Bad arguments or a malformed request: exit code 2."""


def read_json(text: str, where: str, *, first_line: int = 1) -> Any:
    """Parse JSON; errors name `where:line:col` (line counted from `first_line`)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        line = first_line + exc.lineno - 1
        raise UsageError(f"{where}:{line}:{exc.colno}: invalid JSON: {exc.msg}") from None


def add_ner_option(p) -> None:
    p.add_argument("--ner-model", metavar="NAME",
                   help="installed spaCy model package enabling PERSON, LOCATION, ... (never downloaded)")
