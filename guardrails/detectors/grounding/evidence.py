"""How strong a finding is: which checks flag a claim on their own by
default, and which need another check to agree on the same clause.

Each finding of check.py names the check that made it (:data:`CHECKS`),
with what the check already knows folded into the name: whether a figure
has the unit of the source's figure or is bare, whether the passage giving
another value is clearly about the claim (two thirds of its words),
whether the figure is written in digits or in words ("six fifty"), the
shape of a missing name (a code, a capitalised name, a lower-case term),
and on which side a polarity's negation is. A check in
:attr:`Evidence.hard` flags a claim alone; any other finding is weak and
flags only when a check of another family (:func:`family`) agrees on the
same clause. A weak finding alone leaves the claim unverified, listed with
its reason and passage; `strict=1` flags every finding as before.

:data:`DEFAULT` is the hard evidence of issue 19's redesign, not a fit: a
figure in digits with its unit that no passage about the same words gives,
where one gives a figure of that kind (in that unit, bare, or in another
currency) or none does; a figure's structure (given for something else, a
price per or for another thing, a count per another period, days); a bare
figure differing in a passage clearly about the claim; a citation naming
no source, a quotation in no source, a cited source lacking the claim's
hard facts or holding at most one of its words where a source not cited is
clearly about it (`citation.elsewhere`: round 3); a capitalised name, a code or a number-bearing name no source
has; a passage holding every content word of the claim under a negation
the claim lacks (the same statement, denied); a negation governing the
claim's own predicate on one side only, the other side stating it
(`negation.predicate`: round 2, docs/grounding.md); a passage restating the
claim under a negation it lacks, short of one word that is not the claim's
predicate (`negation.restated`: round 3). Other polarity findings, new
terms, a "free" no source gives, a name the passage gives to another thing,
figures in words, and a price the claim presents as worked out
(`figure.worked`: round 6) are weak: in four held-out runs they were where the
false flags came from, in new wordings each time. A table fitted on the
development splits does not carry over (scripts/grounding_loso.py
``--table fit``: docs/grounding.md, "Evidence strength").
"""
from __future__ import annotations

from dataclasses import dataclass

#: Every check id a finding can carry, in the checks' order (check.py).
CHECKS: tuple[str, ...] = (
    "citation.none", "quote.none",
    "figure.elsewhere", "price.per", "price.list", "figure.frequency", "figure.period",
    "figure.kin.unit.close", "figure.kin.unit.far", "figure.kin.other.close", "figure.kin.other.far",
    "figure.kin.bare.close", "figure.kin.bare.far", "figure.kin.words",
    "figure.missing.unit.digits", "figure.missing.unit.words", "figure.missing.bare.digits",
    "figure.missing.bare.words", "figure.worked",
    "name.code", "name.capital", "term.hyphen", "days.other", "term.new", "term.swap", "term.swap.new",
    "name.other", "name.given", "free", "free.none",
    "negation.denied", "negation.predicate", "negation.restated", "negation.dropped.plain", "negation.dropped",
    "negation.added.plain", "negation.added", "negation.both", "negation.other",
    "content", "citation.facts", "citation.elsewhere", "citation.share",
)


def family(check: str) -> str:
    """What a check reads: figures (and prices, days), names, words (new
    terms, swapped words, "free", the content check), polarity, or
    citations. Two checks agree only from two families: two findings of
    words no source has are one signal, not two."""
    head = check.split(".", 1)[0]
    return _FAMILY.get(head, head)


_FAMILY = {"price": "figure", "days": "figure", "term": "words", "content": "words", "free": "words",
           "quote": "citation", "negation": "polarity"}


@dataclass(frozen=True, slots=True)
class Evidence:
    """Which checks are hard evidence alone (`hard`), and how many distinct
    checks of different families (:func:`family`) must agree on a clause
    otherwise (`agree`)."""

    hard: frozenset[str]
    agree: int = 2

    def agreed(self, checks: list[str] | tuple[str, ...]) -> bool:
        return len({family(c) for c in checks}) >= self.agree

    def strong(self, checks: list[str] | tuple[str, ...]) -> bool:
        """Whether a clause with these findings is flagged."""
        return any(c in self.hard for c in checks) or self.agreed(checks)


#: Every check counts alone: the default before evidence strength, and what
#: `strict=1` still does (with the content check on).
ALL = Evidence(frozenset(CHECKS), 1)

DEFAULT = Evidence(frozenset([
    "citation.none", "quote.none", "citation.facts", "citation.elsewhere",
    "figure.elsewhere", "price.per", "price.list", "figure.frequency", "figure.period", "days.other",
    "figure.kin.unit.close", "figure.kin.unit.far", "figure.kin.other.close", "figure.kin.other.far",
    "figure.missing.unit.digits", "figure.kin.bare.close",
    "name.code", "name.capital", "negation.denied", "negation.predicate", "negation.restated",
    "negation.dropped.plain", "negation.added.plain", "free.none",
]))
