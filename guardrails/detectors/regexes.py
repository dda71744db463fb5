"""Policy-supplied regular expressions, compiled once and run with a time limit.

Patterns come from policy authors, so a catastrophic-backtracking pattern must
not be able to stall a request: every match call passes ``timeout=`` to the
``regex`` module and a timeout surfaces as ``DetectorError("regex-timeout")``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import regex

from guardrails.diagnostics import RuntimeCode
from guardrails.detectors.base import DetectorError

__all__ = ["DEFAULT_TIMEOUT_S", "RegexSyntaxError", "SafeRegex"]

DEFAULT_TIMEOUT_S = 0.05

# The regex module overflows on huge timeouts and then times out at once
# (timeout=inf fails every call); beyond this bound, run without a limit.
_UNBOUNDED_AFTER_S = 1e6

# Canonical order of the flag letters; also used to normalise ``flags``.
_FLAG_BITS = {
    "i": regex.IGNORECASE,
    "m": regex.MULTILINE,
    "s": regex.DOTALL,
    "x": regex.VERBOSE,
}


class RegexSyntaxError(Exception):
    """A pattern or flag string is invalid.

    ``offset`` is the 0-based position in the pattern the problem was found at
    (for a caret under the policy source), or ``None`` when it is not tied to
    one position (for example an unknown flag letter).
    """

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


def _parse_flags(flags: str) -> tuple[str, int]:
    """Return the canonical flag string and the ``regex`` flag bits."""
    bits = 0
    for letter in flags:
        bit = _FLAG_BITS.get(letter)
        if bit is None:
            raise RegexSyntaxError(
                f"unknown regex flag {letter!r}; valid flags are "
                + ", ".join(repr(k) for k in _FLAG_BITS)
            )
        bits |= bit
    canonical = "".join(k for k in _FLAG_BITS if k in flags)
    return canonical, bits


@functools.lru_cache(maxsize=1024)
def _compile(pattern: str, bits: int) -> regex.Pattern[str]:
    try:
        return regex.compile(pattern, bits)
    except regex.error as exc:
        raise RegexSyntaxError(exc.msg, exc.pos) from None
    except (OverflowError, ValueError, RecursionError) as exc:
        # e.g. absurd repeat counts or pathological nesting: not a regex.error,
        # but still the author's pattern at fault.
        raise RegexSyntaxError(f"invalid pattern ({type(exc).__name__})") from None


@dataclass(frozen=True, slots=True)
class SafeRegex:
    """A compiled pattern whose every match call is bounded by ``timeout_s``.

    An infinite (or absurdly large) ``timeout_s`` means no limit.

    Build with :meth:`compile`. ``flags`` holds the canonical flag letters
    (a subset of ``"imsx"`` in that order). Equality ignores the compiled
    object; compiling the same pattern and flags twice shares it.
    """

    pattern: str
    flags: str
    timeout_s: float
    _compiled: regex.Pattern[str] = field(repr=False, compare=False)

    @classmethod
    def compile(
        cls, pattern: str, flags: str = "", timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> SafeRegex:
        """Compile ``pattern`` with flag letters from ``"imsx"``.

        Raises :class:`RegexSyntaxError` for a bad pattern or flag letter.
        """
        if not timeout_s > 0:  # also rejects NaN
            raise ValueError("timeout_s must be positive")
        canonical, bits = _parse_flags(flags)
        return cls(pattern, canonical, timeout_s, _compile(pattern, bits))

    def search(self, text: str) -> bool:
        """Whether the pattern matches anywhere in ``text``."""
        try:
            return self._compiled.search(text, timeout=self._limit()) is not None
        except TimeoutError:
            raise self._timeout() from None

    def finditer_spans(self, text: str) -> list[tuple[int, int]]:
        """Non-overlapping match spans, left to right.

        Empty matches are skipped: a zero-width span can be neither reported
        nor redacted meaningfully. The time limit covers the whole scan.
        """
        try:
            return [
                m.span()
                for m in self._compiled.finditer(text, timeout=self._limit())
                if m.end() > m.start()
            ]
        except TimeoutError:
            raise self._timeout() from None

    def _limit(self) -> float | None:
        return None if self.timeout_s >= _UNBOUNDED_AFTER_S else self.timeout_s

    def _timeout(self) -> DetectorError:
        ms = self.timeout_s * 1000
        return DetectorError(f"regex timed out after {ms:g} ms", code=RuntimeCode.REGEX_TIMEOUT)
