"""Types shared by every detector: findings and the one error they raise."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from guardrails.diagnostics import RuntimeCode

__all__ = ["DetectorError", "Finding", "call_factory"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected span.

    ``start``/``end`` are offsets into the *original* text (``end`` exclusive),
    ``entity`` names what was found (a PII entity, a secret kind, a policy term
    or ``TOPIC:<name>``) and ``score`` is the detector's confidence in [0, 1].
    """

    start: int
    end: int
    entity: str
    score: float


class DetectorError(Exception):
    """A detector could not produce an answer.

    The message is safe to show to users and to log: it never contains the
    text being analysed or any value a detector found in it. ``code`` is a
    stable machine-readable identifier such as ``"regex-timeout"`` or
    ``"detector-failed"``.
    """

    def __init__(self, message: str, *, code: str = RuntimeCode.DETECTOR_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __reduce__(self):  # keep `code` across pickling (multiprocessing, caches)
        return (_rebuild_detector_error, (type(self), self.message, self.code))


def _rebuild_detector_error(cls: type[DetectorError], message: str, code: str) -> DetectorError:
    return cls(message, code=code)


def call_factory(spec: str, what: str, example: str) -> Any:
    """Import ``module:factory`` and call the factory with no arguments: how
    an opt-in model backend is named (``what`` is "injection model", say).
    Any failure is a :class:`DetectorError` naming the spec."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise DetectorError(f"{what} {spec!r}: use module:factory, such as {example}")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except Exception as exc:  # noqa: BLE001 - user code: any failure is a load error
        raise DetectorError(f"{what} {spec!r} cannot be imported: {type(exc).__name__}: {exc}") from None
    if not callable(target):
        raise DetectorError(f"{what} {spec!r} is not callable (a factory returning a backend)")
    try:
        return target()
    except Exception as exc:  # noqa: BLE001 - user code: any failure is a load error
        raise DetectorError(f"{what} {spec!r} failed to start: {type(exc).__name__}: {exc}") from None
