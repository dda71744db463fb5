"""Figures an answer works out from its sources: which are read as support,
and which are presented as worked out and left unverified.

A figure no passage gives may be one the answer computes: a total, a price
times a count, a price plus an amount a source gives as added, a balance
after a deposit, a refund in full of a price (:func:`worked_out`,
:func:`refunded_in_full`; rounds 4 and 5 of docs/grounding.md). Each
reading is anchored in the sources' or the claim's own wording: any two
figures as operands took the catches of changed figures. A price the claim
words as a total or a result that none of those readings explains is
unverified, not a mismatch (:func:`presented_as_worked`; round 6): the
arithmetic is not checked. check.py asks these after a claim's price is
found in no passage about it.
"""
from __future__ import annotations

import re

from guardrails.detectors.grounding.passages import SourceIndex
from guardrails.detectors.grounding.quantities import CURRENCIES, Quantity

#: The units of a price: a currency, or cents.
PRICE_UNITS = CURRENCIES | {"cent"}

#: What a worked-out figure may be off by: half a penny or cent of rounding.
_ROUNDING = 0.005
# An amount a source gives as added to another: "adds £40" (the verb may
# govern a list: "adds £40 for A4 and £65 for A3"), "plus £10", "an extra
# £15", "costs £40 more", "£6 extra", "£10 on top".
_ADDED_BEFORE = re.compile(r"\b(?:adds?|added)\b[^,;.!?]*$|\b(?:plus|extra|additional)\s*$", re.IGNORECASE)
_ADDED_AFTER = re.compile(r"\s*(?:more|extra|on\s+top)\b", re.IGNORECASE)
# A price per one of something: "£25 per child", "£25 a head", "£260 per A level subject".
_PER_ONE = re.compile(r"\s*(?:per|a|an|each|every|/|for\s+(?:each|every|a|an|per))\s+[^\W\d_]", re.IGNORECASE)
_PERIOD_OF = {"second": 1 / 86400, "minute": 1 / 1440, "hour": 1 / 24, "day": 1.0, "night": 1.0, "week": 7.0}
# The period of a rate priced per one of something first: "£150 per person per hour".
_THEN_PER = re.compile(r"\s*(?:per|a|an|each)\s+[^\W\d_]+\s+(?:per|a|an|each)\s+(second|minute|hour|day|night|week)\b",
                       re.IGNORECASE)
# The claim's own wording of a total (round 5): "so £14 altogether", "would cost £200 in total",
# "that'd be £6", "would come to £225".
_TOTAL_BEFORE = re.compile(r"(?:\b(?:so|altogether|total(?:ling)?|that[’']d\s+be|that[’']s|would\s+(?:be|cost|come\s+to)"
                           r"|comes?\s+to|works?\s+out\s+(?:at|to))\s+(?:(?:just|only|about|around)\s+)?)$",
                           re.IGNORECASE)
_TOTAL_AFTER = re.compile(r"\s*(?:altogether|in\s+total|in\s+all|all\s+in|combined|between\s+(?:them|you))\b",
                          re.IGNORECASE)
# A difference the claim states with both operands: "the £320 course fee minus the £40 admin fee".
_LESS_BETWEEN = re.compile(r"\b(?:minus|less|take\s+off|taken\s+off|comes?\s+off|deducted|after(?:\s+taking\s+off)?)\b",
                           re.IGNORECASE)
# A source's wording of an amount that comes off another: "refund minus a £40 admin fee",
# "less a £40 admin fee", "a £10 deposit ..., and it comes off the price".
_DEDUCTED_BEFORE = re.compile(r"\b(?:minus|less)\s+(?:an?\s+|the\s+)?$", re.IGNORECASE)
_DEDUCTED_AFTER = re.compile(r"[^.;!?]{0,80}?\b(?:comes?\s+off|deducted|taken\s+off|off\s+the\s+(?:price|total|balance|"
                             r"fee|cost|bill))\b", re.IGNORECASE)
_EACH = re.compile(r"\b(?:each|apiece)\b", re.IGNORECASE)


def _total_wording(text: str, q: Quantity) -> bool:
    """Whether the claim words its figure `q` as a total (round 5)."""
    return (_TOTAL_BEFORE.search(text, max(0, q.start - 40), q.start) is not None
            or _TOTAL_AFTER.match(text, q.end) is not None)


def _stated_operands(q: Quantity, quantities, text: str, tol: float) -> bool:
    """Whether the claim works `q` out from two figures it states itself:
    a difference it words ("£280 back, which is the £320 course fee minus
    the £40 admin fee") or a sum it words as a total ("£12 to enter plus £2
    to hire an SI card, so £14 altogether"). The operands are figures of the
    claim, checked against the sources on their own."""
    mine = [o for o in quantities if o is not q and o.unit == q.unit and o.per == q.per]
    for i, a in enumerate(mine):
        for b in mine[i + 1:]:
            lo, hi = (a, b) if a.start < b.start else (b, a)
            if abs(lo.value - hi.value - q.value) <= tol and _LESS_BETWEEN.search(text, lo.end, hi.start):
                return True
            if abs(a.value + b.value - q.value) <= tol and _total_wording(text, q):
                return True
    return False


def _deducted(src: str, sq: Quantity) -> bool:
    """Whether a source gives its amount `sq` as one that comes off another."""
    return (_DEDUCTED_BEFORE.search(src, max(0, sq.start - 20), sq.start) is not None
            or _DEDUCTED_AFTER.match(src, sq.end) is not None)


# "give you the full £65 back", "a full refund of £65": against "refund you in full".
_FULL_BEFORE = re.compile(r"\bfull\s+$", re.IGNORECASE)
_IN_FULL = re.compile(r"\b(?:refund(?:ed)?\s+(?:\w+\s+)?in\s+full|full\s+refunds?|refunded\s+in\s+full)\b",
                      re.IGNORECASE)


def refunded_in_full(q: Quantity, text: str, near, ix: SourceIndex, allowed: set[int] | None, names) -> bool:
    """Whether the claim's "full £65 back" is a refund in full (a passage
    about the claim says so) of a price a source naming the claim's names
    gives as written (round 5)."""
    if q.unit not in PRICE_UNITS or _FULL_BEFORE.search(text, max(0, q.start - 10), q.start) is None:
        return False
    if not any(_IN_FULL.search(p.text) for p in near):
        return False
    for p in ix.passages:
        if allowed is not None and p.source not in allowed:
            continue
        if not any(sq.unit == q.unit and abs(sq.value - q.value) <= _ROUNDING for sq in p.quantities):
            continue
        src = ix.sources[p.source].text
        if all(n in src for n in names):
            return True
    return False


def worked_out(q: Quantity, quantities, near, ix: SourceIndex, cstems: set[str], text: str = "") -> bool:
    """Whether the claim's price `q`, which no passage about it gives, is
    one the answer works out from the prices of those passages (`near`) in
    one step: a price plus an amount a source gives as added to one ("£143"
    of "A3 starts at £78" and museum glass "adds ... £65 for A3"; "£169" of
    "£129" and "costs £40 more"), or a price per something times a count the
    claim states ("£200" for "8 children" at "£25 per child"; "£50" for a
    "2-hour" session at "£25 per hour"). Two operands at most, in the
    claim's currency; a difference, a half or a double and a percentage off
    are not read (docs/grounding.md, round 4: they took the catches of
    changed figures)."""
    if q.unit not in PRICE_UNITS or q.unit == "cent":
        return False
    tol = _ROUNDING + 1e-9 * abs(q.value)
    mine = [(p, sq) for p in near for sq in p.quantities
            if sq.unit == q.unit and (q.per is None or sq.per is None or sq.per == q.per)]
    if not mine:
        return False
    if _stated_operands(q, quantities, text, tol):
        return True
    counts = [o for o in quantities if o is not q and not o.is_date and o.per is None
              and (o.unit is None or o.unit == "time")]
    total = _total_wording(text, q)
    each = total and _EACH.search(text) is not None  # "gave the suggested donation for each, that'd be £6"
    stated = [o for o in quantities if o is not q and o.unit == q.unit and o.per == q.per]
    for p, sq in mine:
        src = ix.sources[p.source].text
        about = 2 * len(p.stems & cstems) >= len(cstems)  # the passage holds half of the claim's words
        if counts and (about or each) and (sq.per is not None or _PER_ONE.match(src, sq.end) is not None):
            period = sq.per
            if period is None and (m := _THEN_PER.match(src, sq.end)) is not None:
                period = m.group(1).lower()  # "£150 per person per hour"
            for o in counts:
                if o.unit is None:
                    n = o.value
                elif period in _PERIOD_OF:
                    n = o.value / _PERIOD_OF[period]  # "a 2-hour session" at "£25 per hour": 2
                else:
                    continue
                if 1 < n <= 1000 and abs(sq.value * n - q.value) <= tol:
                    return True
        if sq.per == q.per and about and (
                _ADDED_AFTER.match(src, sq.end) is not None
                or _ADDED_BEFORE.search(src, max(p.start, sq.start - 60), sq.start) is not None):
            base = q.value - sq.value
            if base > 0 and any(b is not sq and b.per == q.per and abs(b.value - base) <= tol and (
                    2 * len(bp.stems & cstems) >= len(cstems) or any(o.same(b) for o in quantities if o is not q))
                    for bp, b in mine):
                return True
        if sq.per == q.per and stated and (about or total or len(p.stems & cstems) >= 2):
            # a balance after an amount the claim states and a source gives as coming off:
            # "a £10 deposit up front and £20 on the day" where nose piercings are "£30" and the
            # deposit "comes off the price"
            for b in stated:
                if abs(sq.value - b.value - q.value) <= tol and any(
                        sb.unit == q.unit and abs(sb.value - b.value) <= tol and _deducted(ix.sources[bp.source].text, sb)
                        for bp in near for sb in bp.quantities):
                    return True
        if total and sq.per == q.per:
            # a sum of two prices the claim words as a total: "£200 in total" for the puppy course (£90)
            # and the Adolescent course (£110), each in a passage sharing the claim's words
            for bp, b in mine:
                if b is not sq and b.per == q.per and b.start != sq.start and abs(sq.value + b.value - q.value) <= tol \
                        and (bp is not p or b.start > sq.start):
                    return True
    return False


# Round 6: the claim's wording of a figure it works out, right before it ("would pay £88", "comes to
# £165", "works out at £13.50 a session", "which is £2.50 less", "would add another £3") or right after
# it ("£165 altogether", "£1,450 together").
_WORKED_BEFORE = re.compile(
    r"(?:\b(?:so|altogether|total(?:ling)?|together|that[’']d\s+be|that[’']s|which\s+is|another|saving|save"
    r"|(?:would|you[’']d|we[’']d|they[’']d|I[’']d)\s+(?:pay|cost(?:\s+(?:you|them|us))?|be|come\s+to|save|spend)"
    r"|comes?\s+to|came\s+to|works?\s+out\s+(?:at|to|as)|adds?\s+(?:another|an\s+extra))"
    r"\s+(?:(?:just|only|about|around|a\s+total\s+of)\s+)?)$",
    re.IGNORECASE)
_WORKED_AFTER = re.compile(r"\s*(?:altogether|in\s+total|in\s+all|all\s+in|combined|together|between\s+(?:them|you))\b",
                           re.IGNORECASE)


def _worded_as_worked(o: Quantity, quantities, text: str) -> bool:
    """Whether the claim words its price `o` as one it works out: a total's
    or a result's wording right before or after it, a rate ("come to £28 a
    visit") only after "works out"; or it is in brackets after another
    figure of its unit ("three visits at £19.50 each (£58.50)")."""
    if o.unit not in PRICE_UNITS or o.is_date:
        return False
    before = _WORKED_BEFORE.search(text, max(0, o.start - 40), o.start)
    if before is not None and (o.per is not None or _PER_ONE.match(text, o.end)) \
            and not before.group().lower().startswith("work"):
        before = None  # "come to £28 a visit": a rate the sources give, not a total
    return (before is not None or _WORKED_AFTER.match(text, o.end) is not None
            or (text[max(0, o.start - 2):o.start].strip() == "("
                and any(b.unit == o.unit and b.end <= o.start for b in quantities)))


def presented_as_worked(q: Quantity, quantities, text: str) -> bool:
    """Whether the claim presents its figure `q` as worked out (round 6): a
    price of the clause is worded as a total or a result (_worded_as_worked)
    and `q` is that price or another figure of its currency in the clause,
    one of its operands ("a £20 full-price book would cost you £18"). Such a
    figure, when the sources do not give it, is unverified, not a mismatch:
    the arithmetic is not checked, and held-out writers word it anew each
    time. A count ("two adults") stays a fact to check, and a figure of
    another unit too."""
    if q.is_date or q.unit not in PRICE_UNITS:
        return False
    return any((o is q or o.unit == q.unit) and _worded_as_worked(o, quantities, text) for o in quantities)


__all__ = ["PRICE_UNITS", "presented_as_worked", "refunded_in_full", "worked_out"]
