"""An opt-in NLI model for ``grounded()``: an entailment model the user has
locally (an ONNX or transformers NLI model, say) to judge the claims the
deterministic checks cannot, such as paraphrases.

A backend is any object with ``entails(premise, hypothesis) -> float`` (the
probability, in [0, 1], that the premise entails the hypothesis) and
``digest`` (a string that changes whenever the model's behaviour does: a
hash of its weights). It is asked only about a claim whose numbers, names,
citations and polarity all check out but whose words the sources do not
share; the premise is the source holding the closest passage (or that
passage alone, for a source over 2,000 characters). At or above 0.5 the
claim counts as supported. It can never overrule a number, name, negation
or citation failure. ``entails`` may be called from several threads at once.

Configuration names a backend by a dotted path, ``module:factory``, as for
the injection backend (:mod:`guardrails.detectors.injection.backends`): the
factory is imported and called with no arguments, once, when the engine
starts. Nothing here is imported by ``import guardrails``; the default is no
backend, offline and model-free.
"""

from __future__ import annotations

import math
from typing import Any, Protocol, runtime_checkable

from guardrails.detectors.base import DetectorError, call_factory

__all__ = ["GroundingBackend", "checked_backend", "load_grounding_backend"]


@runtime_checkable
class GroundingBackend(Protocol):
    """What ``grounded()`` needs from an NLI model."""

    digest: str

    def entails(self, premise: str, hypothesis: str) -> float:
        """The probability, in [0, 1], that `premise` entails `hypothesis`."""
        ...


def checked_backend(obj: Any, origin: str = "the grounding backend") -> GroundingBackend:
    """``obj`` if it is a usable backend, else :class:`DetectorError` saying why."""
    if not callable(getattr(obj, "entails", None)):
        raise DetectorError(f"{origin} has no entails(premise, hypothesis) method")
    digest = getattr(obj, "digest", None)
    if not isinstance(digest, str) or not digest.strip():
        raise DetectorError(f"{origin} has no digest (a non-empty string naming its weights)")
    return obj


class Guarded:
    """A backend whose failures become detector errors: a model that raises,
    or answers outside [0, 1], fails the rule (``detector-failed``)."""

    def __init__(self, backend: GroundingBackend):
        self.backend = backend
        self.digest = backend.digest

    def entails(self, premise: str, hypothesis: str) -> float:
        try:
            p = float(self.backend.entails(premise, hypothesis))
        except Exception as exc:  # noqa: BLE001 - a plug-in: any failure is a detector error
            raise DetectorError(f"grounding backend failed: {type(exc).__name__}") from None
        if not (math.isfinite(p) and 0.0 <= p <= 1.0):
            raise DetectorError(f"grounding backend answered {p!r}, not a probability in [0, 1]")
        return p


def load_grounding_backend(spec: Any) -> Guarded:
    """A backend object, or ``module:factory`` imported and called now."""
    if not isinstance(spec, str):
        return Guarded(checked_backend(spec))
    backend = call_factory(spec, "grounding model", "mypkg.nli:load")
    return Guarded(checked_backend(backend, f"grounding model {spec!r}"))
