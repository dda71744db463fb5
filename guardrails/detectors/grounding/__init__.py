"""Grounding: is an answer supported by the sources it was generated from?

Offline and model-free by default, and precision first: a claim is flagged
only on strong evidence (:mod:`.evidence`). The answer is split into claims (:mod:`.claims`:
sentences, then clauses; framing skipped); each claim is checked against
the sources (:mod:`.check`, over :mod:`.passages`): numbers, quantities and
dates normalised (:mod:`.quantities`), names and codes, terms and prices no
source gives (:mod:`.terms`), polarity (:mod:`.contradiction`), citations
and quotations; with ``strict`` (or an NLI backend), the share of its
content words too (:mod:`.words`). The result is the share of claims
supported and, for each claim that is not, its span in the answer, a
reason code (:data:`REASONS`) and the closest source passage; claims with
nothing hard to check, or only weak evidence against them, are listed as
unverified. An NLI model can be plugged
in (:mod:`.backends`) for what words alone cannot judge. docs/grounding.md
describes each check.

>>> from guardrails.detectors.grounding import Source, check_grounding
>>> r = check_grounding("The refund window is 90 days.", [Source("1", "Refunds within 30 days.")])
>>> r.score, r.unsupported[0].reason
(0.0, 'number_mismatch')
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from guardrails.detectors.base import Finding
from guardrails.detectors.grounding.sources import SessionSources, Source, read_sources

if TYPE_CHECKING:
    from guardrails.detectors.grounding.check import (
        REASONS,
        GroundingResult,
        Unsupported,
        check_grounding,
    )
    from guardrails.detectors.grounding.claims import Claim, extract_claims
    from guardrails.detectors.grounding.quantities import Quantity, find_quantities

# The checks are imported when first named, not with the package: the
# engine imports .sources and .backends at start-up, which runs this file,
# and the checks' modules and regexes were about 40 ms of every cold start
# (a policy without grounding never needs them).
_LAZY = {"REASONS": "check", "GroundingResult": "check", "Unsupported": "check", "check_grounding": "check",
         "Claim": "claims", "extract_claims": "claims", "Quantity": "quantities", "find_quantities": "quantities"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # once: later reads are plain attribute lookups
    return value


def findings(result: GroundingResult, reasons: frozenset[str] | None = None) -> list[Finding]:
    """The unsupported claims as findings (entity: the reason, upper case),
    those of `reasons` only when given: what a rule's violation shows."""
    return [Finding(u.start, u.end, u.reason.upper(), 1.0) for u in result.unsupported
            if reasons is None or u.reason in reasons]


__all__ = ["REASONS", "Claim", "GroundingResult", "Quantity", "SessionSources", "Source", "Unsupported",
           "check_grounding", "extract_claims", "find_quantities", "findings", "read_sources"]
