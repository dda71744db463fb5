"""Policy-supplied regular expressions, compiled once and run with a time limit.

Patterns come from policy authors, so a catastrophic-backtracking pattern must
not be able to stall a request: every match call passes ``timeout=`` to the
``regex`` module and a timeout surfaces as ``DetectorError("regex-timeout")``.

The limit is on the pattern's own work, not on the clock. The ``regex``
module's timeout counts wall time, which includes time the thread spent
waiting for the CPU (other threads, other processes); on a busy machine a
50 ms limit then fires on a scan that needs a fraction of a millisecond, and
the rule fails closed for no reason. So a timeout is checked against the
thread's CPU time: when the scans so far used less CPU than the limit, they
were waiting, not matching, and the scan runs again, at most
:data:`MAX_ATTEMPTS` times in all, with the wall-clock room of
:data:`ROOMS` (the limit, the limit again, then twice it). A pattern that
really backtracks uses its CPU budget in the first attempt on an idle
machine, and within the attempts on a busy one. One call never takes more
than four times the limit of wall time (50 + 50 + 100 ms with the default
limit): a sidecar's caller waits a bounded time, whatever the load.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

import regex

from guardrails.diagnostics import RuntimeCode
from guardrails.detectors.base import DetectorError

__all__ = ["DEFAULT_TIMEOUT_S", "MAX_ATTEMPTS", "ROOMS", "RegexSyntaxError", "SafeRegex"]

DEFAULT_TIMEOUT_S = 0.05

#: How many times one match call may run when its timeouts were waits for
#: the CPU rather than matching (see the module doc).
#: Each attempt's wall-clock room, in multiples of the limit (their sum bounds one call).
ROOMS = (1.0, 1.0, 2.0)
MAX_ATTEMPTS = len(ROOMS)

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
        return self._bounded(lambda room: self._compiled.search(text, timeout=room) is not None)

    def finditer_spans(self, text: str) -> list[tuple[int, int]]:
        """Non-overlapping match spans, left to right.

        Empty matches are skipped: a zero-width span can be neither reported
        nor redacted meaningfully. The time limit covers the whole scan.
        """
        return self._bounded(lambda room: [
            m.span() for m in self._compiled.finditer(text, timeout=room) if m.end() > m.start()
        ])

    def _bounded(self, scan):
        """Run ``scan(room)`` until it finishes or has used ``timeout_s`` of CPU."""
        if self.timeout_s >= _UNBOUNDED_AFTER_S:
            return scan(None)
        used = 0.0
        for share in ROOMS:
            started = time.thread_time()
            try:
                return scan(self.timeout_s * share)
            except TimeoutError:
                used += time.thread_time() - started
                if used >= self.timeout_s:
                    break  # the pattern's own work: a real timeout
                # it waited for the CPU: run again, within the call's wall-clock bound
        raise self._timeout()

    def _timeout(self) -> DetectorError:
        ms = self.timeout_s * 1000
        return DetectorError(f"regex timed out after {ms:g} ms", code=RuntimeCode.REGEX_TIMEOUT)
