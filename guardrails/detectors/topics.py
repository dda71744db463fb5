"""Weighted lexical topic scoring, and the hook for a semantic classifier."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from guardrails.detectors.base import Finding
from guardrails.detectors.normalize import NormalizedText
from guardrails.detectors.terms import TermMatcher

__all__ = ["TopicClassifier", "TopicResult", "TopicScorer"]


@dataclass(frozen=True, slots=True)
class TopicResult:
    """A topic score in [0, 1] and the term occurrences that produced it."""

    score: float
    findings: tuple[Finding, ...]


class TopicScorer:
    """Scores how strongly a text is about a topic from weighted indicator terms.

    The score is the sum of the weights of the *distinct* terms found, capped
    at 1.0: repeating one term does not raise it, several different terms do.
    Terms are matched by :class:`TermMatcher`, so the same evasions are
    handled. Each occurrence is reported as a finding with entity
    ``"TOPIC:<name>"`` and score equal to its term's weight. When two terms
    normalise alike, the first one's weight is used.

    Weights belong in (0, 1]. The policy checker warns about others rather
    than rejecting the policy, so here they are clamped: above 1 counts as 1,
    and a term weighing 0 or less can never contribute and is ignored. A
    weight that is not a finite-or-infinite number (NaN, a string) is a
    ``ValueError``.
    """

    def __init__(self, name: str, terms: Sequence[tuple[str, float]]) -> None:
        if not name:
            raise ValueError("topic name must not be empty")
        weights: dict[str, float] = {}
        for term, weight in terms:
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or math.isnan(weight):
                raise ValueError(f"weight of term {term!r} in topic {name!r} must be a number")
            if weight > 0:
                weights.setdefault(term, min(1.0, float(weight)))
        self.name = name
        self.entity = f"TOPIC:{name}"
        self._weights = weights
        self._matcher = TermMatcher(list(weights))

    def score(self, text: str, norm: NormalizedText | None = None) -> TopicResult:
        """Score ``text``; pass ``norm = normalize(text)`` to reuse a normalisation."""
        matches = self._matcher.find(text, norm)
        if not matches:
            return TopicResult(0.0, ())
        findings = tuple(Finding(f.start, f.end, self.entity, self._weights[f.entity]) for f in matches)
        # Sum in a fixed order so the float result does not depend on text order.
        distinct = sorted({f.entity for f in matches})
        total = math.fsum(self._weights[t] for t in distinct)
        return TopicResult(min(1.0, total), findings)


@runtime_checkable
class TopicClassifier(Protocol):
    """Plug-in point for a semantic topic classifier (embeddings, a small model).

    ``score`` returns how strongly ``text`` is about ``topic``, in [0, 1].
    When one is configured, the engine scores a topic as
    ``max(lexical score, classifier score)``: the classifier can only add
    recall, never hide a topic the term list found. Implementations must be
    thread-safe and must not touch the network unless the deployment allows it.
    """

    def score(self, topic: str, text: str) -> float: ...
