"""Opt-in model backends for ``injection()``: a classifier the user has (a
local transformers or ONNX model, say) in place of the shipped model.

A backend is any object with ``score(text) -> float`` (the probability that
the text is an injection, in [0, 1]) and ``digest`` (a string that changes
whenever the model's behaviour does: a hash of its weights). It replaces the
*model* view only; the heuristic signals still run and the two are combined
as usual. ``name`` is optional; the policy digest names the backend as
``name:digest``. ``score`` may be called from several threads at once.

Configuration names a backend by a dotted path, ``module:factory``: the
factory is imported and called with no arguments, once, when the engine (or
the sidecar) starts, and must return a backend. ``module:attr.factory`` reaches
into a class or namespace. Nothing here is imported by ``import guardrails``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from guardrails.detectors.base import DetectorError, call_factory

__all__ = ["InjectionBackend", "backend_label", "check_backend", "load_backend"]


@runtime_checkable
class InjectionBackend(Protocol):
    """What ``injection()`` needs from a model."""

    digest: str

    def score(self, text: str) -> float:
        """The probability, in [0, 1], that ``text`` is a prompt injection."""
        ...


def check_backend(obj: Any, origin: str = "the injection backend") -> InjectionBackend:
    """``obj`` if it is a usable backend, else :class:`DetectorError` saying why."""
    if not callable(getattr(obj, "score", None)):
        raise DetectorError(f"{origin} has no score(text) method")
    digest = getattr(obj, "digest", None)
    if not isinstance(digest, str) or not digest.strip():
        raise DetectorError(f"{origin} has no digest (a non-empty string naming its weights)")
    return obj


def backend_label(backend: Any) -> str:
    """How a policy digest names a backend: ``name:digest`` (name optional)."""
    name = getattr(backend, "name", None)
    return f"{name}:{backend.digest}" if isinstance(name, str) and name else str(backend.digest)


def load_backend(spec: str) -> InjectionBackend:
    """Import ``module:factory``, call the factory with no arguments and check
    what it returns. Any failure is a :class:`DetectorError` naming the spec."""
    backend = call_factory(spec, "injection model", "mypkg.detect:load")
    return check_backend(backend, f"injection model {spec!r}")

