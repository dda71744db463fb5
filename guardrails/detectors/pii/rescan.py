"""The candidates a rejected candidate would hide, found by scanning inside it.

A Presidio pattern recognizer scans a text with ``finditer``: after each
candidate the scan resumes at the candidate's end, whether or not the
candidate passed its recognizer's check (Luhn for cards, mod 97 for IBANs,
a known top-level domain for emails, ...). So a candidate that fails its
check hides every candidate starting inside it. In
``"001-01-1001 5100 0000 3000 0036"`` the card pattern's first candidate is
``"1001 5100 0000 3000"``, which starts inside the SSN and fails Luhn; the
real card number ``"5100 0000 3000 0036"`` overlaps it and is never tried.

:func:`inside_rejected` gives the candidates that start inside a rejected
one. Both PII paths call it: the recognizers that
:func:`guardrails.detectors.pii.presidio.build_analyzer` registers, and the
fast path's copy of their loop (:mod:`.fastpath`), so both find the same.

The bound. The scan inside ``[start, end)`` tries start positions from
``start + 1`` on and stops at the first candidate that starts at or after
``end``, which is the next candidate of the recognizer's own scan. Positions
inside the rejected candidate are ones that scan skipped; positions after it
are ones it tries too. So no position is tried more than twice, and the
regex work is at most twice that of one scan of the text. What is not
bounded that way is the check itself, run on every candidate found inside:
:data:`MAX_INSIDE` caps those at 32 per rejected candidate. That is more than
any pattern with a bounded length can start inside one of its candidates (a
card candidate has at most 3 other starts, an IBAN candidate at most 8), so
the cap only ever binds on unbounded patterns (an email whose local part has
more than 32 dots or dashes), where checking every start would be quadratic
in the candidate's length; with it, checking costs at most 32 times the
length of the rejected candidate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["MAX_INSIDE", "inside_rejected"]

# Candidates checked inside one rejected candidate (see the module docstring).
MAX_INSIDE = 32

R = TypeVar("R")


def inside_rejected(rx: Any, text: str, start: int, end: int, judge: Callable[[Any], R | None],
                    timeout: float | None) -> list[R]:
    """What ``judge`` accepts among the candidates of ``rx`` starting inside ``text[start:end]``.

    ``text[start:end]`` is a match of the compiled ``regex`` pattern ``rx``
    that its recognizer rejected. The scan goes on from ``start + 1`` as
    ``finditer`` would, except that after a candidate ``judge`` rejects
    (returns None) it resumes one character after that candidate's start,
    not at its end. It stops at the first candidate starting at or after
    ``end`` (the outer scan finds that one), after :data:`MAX_INSIDE`
    candidates. A regex that runs past ``timeout`` raises ``TimeoutError``,
    which the caller reports as its pattern's timeout (:mod:`.timeouts`).
    Empty matches are skipped, as Presidio skips them.
    """
    found: list[R] = []
    pos = start + 1
    for _ in range(MAX_INSIDE):
        if pos >= end:
            break
        m = rx.search(text, pos, timeout=timeout)
        if m is None:
            break
        a, b = m.span()
        if a >= end:
            break
        result = judge(m) if a < b else None
        if result is None:
            pos = a + 1
        else:
            found.append(result)
            pos = b
    return found
