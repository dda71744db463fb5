"""A PII pattern that runs past its time limit fails the check, closed.

Presidio gives each pattern scan a time limit
(``presidio_analyzer.pattern_recognizer.REGEX_TIMEOUT_SECONDS``) and, when
it fires, logs a warning and carries on without that pattern's findings:
the text is then judged as if it held none of that entity, which is a
guardrail failing open. Here a timeout is an error of the check instead.

* The loops this package runs itself (:mod:`.fastpath`, :mod:`.rescan`,
  :mod:`.presidio`) raise :class:`PatternTimeout` where Presidio's skip.
* Presidio's own loop (the whole-text path, the optional recognizers) still
  only logs. :func:`watching` records those log records, for the calls made
  inside it on this thread or task, and the caller raises once they return.

:meth:`.detector.PiiDetector.analyze` turns either into a
``DetectorError("regex-timeout")``, which the rule's ``on_error`` decides: a
deny by default, the rule skipped with the error in the decision under
``fail_open``. The limit itself stays Presidio's, so that no scan which
Presidio finishes is cut short here.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator

__all__ = ["PatternTimeout", "install", "pattern_time_limit", "watching"]

# The (pattern name, limit) pairs Presidio's loop reported as timed out, for
# the calls inside `watching` (None outside it: the record is left alone).
_SEEN: contextvars.ContextVar[list[tuple[str, float]] | None] = contextvars.ContextVar("pii_pattern_timeouts", default=None)

# Presidio's message, "Regex pattern '%s' timed out after %s seconds, skipping."
_PRESIDIO_MESSAGE = "Regex pattern '%s' timed out"


class PatternTimeout(Exception):
    """A recognizer's pattern ran past the time limit of its scan."""

    def __init__(self, pattern: str, limit: float) -> None:
        super().__init__(pattern, limit)
        self.pattern = pattern
        self.limit = limit


class _Recorder(logging.Filter):
    """Takes Presidio's timeout warnings made inside :func:`watching`: the
    check reports the timeout as its error, so the warning (and its
    traceback) is not also logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        seen = _SEEN.get()
        if seen is None or not isinstance(record.msg, str) or not record.msg.startswith(_PRESIDIO_MESSAGE):
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        try:
            limit = float(args[1])
        except (IndexError, TypeError, ValueError):
            limit = pattern_time_limit()
        seen.append((str(args[0]) if args else "?", limit))
        return False


_RECORDER = _Recorder()


def install() -> None:
    """Attach the recorder to Presidio's logger (once; called when a detector is built)."""
    logger = logging.getLogger("presidio-analyzer")
    if _RECORDER not in logger.filters:
        logger.addFilter(_RECORDER)


@contextlib.contextmanager
def watching() -> Iterator[None]:
    """Raise :class:`PatternTimeout` on leaving when Presidio's loop timed
    out a pattern inside the block (in this thread or task)."""
    seen: list[tuple[str, float]] = []
    token = _SEEN.set(seen)
    try:
        yield
    finally:
        _SEEN.reset(token)
    if seen:
        raise PatternTimeout(*seen[0])


def pattern_time_limit() -> float:
    """Presidio's limit on one pattern scan, in seconds (read when reported: it is a module setting)."""
    from presidio_analyzer import pattern_recognizer

    return float(pattern_recognizer.REGEX_TIMEOUT_SECONDS)
