"""Judge each claim of an answer against the sources, one check at a time.

Precision first: by default a claim is flagged only on strong evidence that
something is wrong (evidence.py), since a supported answer flagged is a
false alarm an operator learns to ignore. The checks run in this order, and
the first finding that flags names the reason:

1. ``bad_citation``: a citation ``[2]`` / ``[doc-3]`` names no source, or a
   quoted passage is in no source.
2. ``number_mismatch`` / ``missing_number``: a number, quantity, date or time
   of day of the claim is in no source passage about the same thing; a
   mismatch when such a passage holds a value of the same kind (30 days where
   the claim says 90), or when the passage clearly about the claim gives
   another value and the claim's figure is only in passages about
   something else.
3. ``entity_missing``: a name, code, or name with its number is in no
   source, or the passage that best supports the claim names another one
   instead (the Basic plan where the claim says the Premium plan); or a
   term of two words or more none of which any source has, or a word the
   sources give to another thing in the closest passage's frame (terms.py).
   ``missing_number`` again: a claim that something is free that no
   passage says is free.
4. ``negation``: the closest passage clearly about the claim says the
   opposite (contradiction.py).
5. ``unsupported``, only with ``strict`` or an NLI backend: the claim brings
   a word no source has that names a thing (not an everyday word, not one
   that reads as a verb), or shares under half its words with the sources;
   the backend, when configured, judges those claims.
6. ``bad_citation`` again: a cited source exists but does not hold the
   claim's hard facts, or holds under half its words while another source
   holds it.

Each finding names the check that made it (evidence.CHECKS). By default a
finding flags the claim alone only when that check is hard evidence
(evidence.DEFAULT), or when a check of another family agrees on the same
clause; a weak finding alone is listed as unverified with its reason and
passage, and ``strict`` flags every finding. A claim with nothing hard to
check passes as unverified too (listed in the result). Sources are analysed once per text (passages.analyse, cached) so
a chunk checked against many answers is split and normalised once.

Why one module: the checks share one clause's state (its blanked text,
stems, names, quantities, the passages sharing its words and the closest
one) and their order is the reason a claim gets; the checks with a
vocabulary of their own live beside it (terms.py, contradiction.py, and
worked.py for figures an answer works out).
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from guardrails.detectors.grounding.claims import (
    QUOTE,
    Clause,
    extract_claims,
    without_citations,
)
from guardrails.detectors.grounding.contradiction import (
    POLARITY_OVERLAP,
    asserts_denied,
    contradiction,
    denies_predicate,
    denies_restated,
    plain_flip,
)
from guardrails.detectors.grounding.evidence import DEFAULT, Evidence, family
from guardrails.detectors.grounding.passages import (
    Passage,
    SourceIndex,
    build_index,
    by_prefix,
    value_key,
)
from guardrails.detectors.grounding.quantities import (
    BARE_FREQUENCY,
    CURRENCIES,
    MONTHS,
    Quantity,
    find_quantities,
)
from guardrails.detectors.grounding.sources import Source
from guardrails.detectors.grounding.terms import (
    COMMON_STEMS,
    cycle_mismatch,
    free_unsupported,
    new_term,
    swapped,
)
from guardrails.detectors.grounding.words import (
    ANY_NEGATION,
    BROADER,
    NEGATION_WORDS,
    STOPWORDS,
    WORD,
    content_stems,
    function_contraction,
    plain,
    stem,
    verb_like,
)
from guardrails.detectors.grounding.worked import (
    PRICE_UNITS,
    presented_as_worked,
    refunded_in_full,
    worked_out,
)

REASONS: tuple[str, ...] = ("missing_number", "number_mismatch", "entity_missing", "negation", "bad_citation",
                            "unsupported")

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Days and months are compared as values (terms.cycle_mismatch), not as names.
_NOT_NAMES = frozenset([*MONTHS, *_WEEKDAYS, *(d + "s" for d in _WEEKDAYS)])
_NAME_BEFORE = re.compile(r"\b([A-Z][A-Za-z-]*)\s+$")
_NOT_A_MODEL = STOPWORDS | _NOT_NAMES
_DEMONYM = re.compile(r"\b([A-Z][a-z]+)\s+(?:francs?|dollars?|pounds?|euros?|yen|kron[aeor]r?|rupees?|pesos?)\b")
_TOKEN = re.compile(r"\w(?:[\w.-]*\w)?")
#: Below this share of its content words found in the sources, a claim is unsupported.
MIN_COVERAGE = 0.5
#: An NLI backend's entailment probability at or above which it supports a claim.
ENTAILED = 0.5


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A claim the sources do not support: where, why, and the nearest passage."""

    start: int
    end: int
    text: str
    reason: str
    detail: str
    source_id: str | None  # the closest passage's source
    passage: str | None  # the closest passage
    evidence: tuple[str, ...] = ()  # the checks that found something in the clause (evidence.CHECKS)

    def to_json(self) -> dict:
        return {"start": self.start, "end": self.end, "text": self.text, "reason": self.reason,
                "detail": self.detail, "source_id": self.source_id, "passage": self.passage,
                "evidence": list(self.evidence)}


def _glued(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] is part of a word with letters on either side."""
    return (start > 0 and text[start - 1].isalpha()) or (end < len(text) and text[end].isalpha())


# What a word is to _names, by the word as written: 0 nothing, 1 a name,
# 2 a key term, 3 a name unless it is the first word. Bounded like
# words.content_stems' cache: words come from requests.
_KIND: dict[str, int] = {}


def _kind(w: str) -> int:
    lw = w.lower()
    if lw in STOPWORDS or lw in _NOT_NAMES or lw[0].isdigit() or function_contraction(lw.replace("’", "'")):
        return 0
    if any(ch.isdigit() for ch in w) or (len(w) > 1 and w.isupper()):
        return 1  # a code (letters with digits) or an acronym
    if w[0].isupper():
        return 3
    return 2 if "-" in w and not lw.startswith("non-") else 0


def _names(clause: str) -> tuple[list[str], list[str]]:
    """(names, key terms): names are capitalised words after the first, codes
    and acronyms; key terms add hyphenated words. A capitalised first word is
    only a sentence's first word ("Bookings for ...", "No student ..."): it
    is compared as a content word."""
    names, keys = [], []
    kinds = _KIND
    last = -1  # where the last name ended
    for i, m in enumerate(WORD.finditer(clause)):
        w = m.group()
        k = kinds.get(w)
        if k is None:
            if len(kinds) >= 100_000:
                kinds.clear()
            k = kinds[w] = _kind(w)
        if k == 1 or (k == 3 and i > 0):
            names.append(w)
            keys.append(w)
            last = m.end()
        elif k == 0 and last >= 0 and last == m.start() - 1 and w[0].isupper() and w.isalpha() and clause[last] == " ":
            # a capitalised function word right after a name is part of it: "HomeHeat Plus"
            names[-1] = keys[-1] = f"{names[-1]} {w}"
            last = m.end()
        elif k == 2 or k == 3 and "-" in w and not w.lower().startswith("non-"):
            keys.append(w)
    return names, keys


# Holidays on a fixed date, by name: a source may give the date instead.
_HOLIDAYS = {"boxing day": (12, 26), "christmas day": (12, 25), "christmas eve": (12, 24),
             "new year's day": (1, 1), "new year's eve": (12, 31), "st stephen's day": (12, 26),
             "hogmanay": (12, 31)}
_HOLIDAY = re.compile(r"\b(?:Boxing Day|Christmas (?:Day|Eve)|New Year[’']s (?:Day|Eve)|St\.? Stephen[’']s Day"
                      r"|Hogmanay)\b")


def _holidays_dated(text: str, passages) -> set[str]:
    """The words of the holidays `text` names whose date a passage gives
    ("Boxing Day" of "closes at 17:00 on 25 and 26 December"): the name is
    the date, not a name the sources lack."""
    out: set[str] = set()
    for m in _HOLIDAY.finditer(text):
        month, day = _HOLIDAYS[m.group().lower().replace("’", "'").replace("st. ", "st ")]
        if any(sq.unit == "date" and any(mm == month and dd == day for _, mm, dd in sq.value)
               for p in passages for sq in p.quantities):
            out.update(re.findall(r"[\w’']+", m.group()))
    return out


def _has_key(ix: SourceIndex, allowed: set[int] | None, stems: frozenset[str], key: str) -> bool:
    """Whether the sources hold a name or key term: each of its words, or
    the term itself in their plain text (built only when the words fail)."""
    if all(stem(p) in stems for p in re.split(r"[-\s]+", key) if p):
        return True
    text = ix.plain if allowed is None else " ".join(_plain_text(ix.sources[i].text) for i in sorted(allowed))
    if plain(key) in text:
        return True
    if _AGE_GROUP_IN.fullmatch(key):  # "under-5s" of "children under 5", "over-18s" of "ages 18 and over"
        side, n = plain(key.lower().rstrip("s")).split()
        rx = _OVER_BOUND if side == "over" else _UNDER_BOUND
        return re.search(rx.replace("N", n), text) is not None
    return 3 <= len(key) <= 6 and key.isalpha() and key.isupper() and _spelled_out(key, text)


# An age bound in plain text (lower case, no punctuation), N its age: what an
# age group ("over-18s", "under-5s") stands for.
_OVER_BOUND = r"\b(?:over|older than|at least|aged) N\b(?! (?:or|and) (?:under|younger|below))|\bN (?:years? )?(?:old )?(?:and|or) (?:over|older|above|up)\b"
_UNDER_BOUND = r"\b(?:under|younger than|below) N\b"


def _spelled_out(acronym: str, text: str) -> bool:
    """Whether the sources write the words an acronym of three letters or
    more stands for: its letters are the initials of consecutive content
    words ("IHS" of "Immigration Health Surcharge"; "of", "and", "for" and
    "the" between them are skipped, any other function word breaks the
    run)."""
    letters = acronym.lower()
    words = [w for w in text.split() if w not in _INITIALS_SKIP]
    n = len(letters)
    return any(all(words[i + j][0] == letters[j] and words[i + j] not in STOPWORDS for j in range(n))
               for i in range(len(words) - n + 1))


_INITIALS_SKIP = frozenset(["of", "and", "for", "the"])


def _weighted_best(overlap: dict[Passage, int], names: set[str], quantities=()) -> Passage | None:
    """The passage sharing most with the claim: its words (`overlap`: the
    count per passage), names twice, and (a tie-breaker that is often
    decisive) the claim's quantities."""
    best, best_w = None, 0
    values = frozenset(value_key(q) for q in quantities if not q.is_date)
    for p, w in overlap.items():
        if names:
            w += len(names & p.stems)
        if values and p.values:
            w += len(values & p.values)
        if w > best_w:
            best, best_w = p, w
    return best


def _blank(m: re.Match) -> str:
    return " " * len(m.group())


def _shown(clause: Clause, q: Quantity) -> str:
    """A claim's figure as the clause writes it (its value when it lies past the clause's text)."""
    return clause.text[q.start:q.end] if q.end <= len(clause.text) else str(q.value)


def check_clause(clause: Clause, ix: SourceIndex, allowed: set[int] | None = None, strict: bool = False,
                 content: bool = False, context: frozenset[str] | None = None,
                 ) -> tuple[str | None, str, Passage | None, bool]:
    """(reason or None, detail, closest passage, judged) for one clause: the
    first of :func:`clause_findings`, which the rest of this describes."""
    reason, detail, passage, check = next(clause_findings(clause, ix, allowed, strict, content, context))
    return reason, detail, passage, reason is not None or check == JUDGED


#: The last item :func:`clause_findings` yields when the clause held
#: something hard to check (its check field); "" when it held nothing.
JUDGED = "judged"


def clause_findings(clause: Clause, ix: SourceIndex, allowed: set[int] | None = None, strict: bool = False,
                    content: bool = False, context: frozenset[str] | None = None,
                    ) -> Iterator[tuple[str | None, str, Passage | None, str]]:
    """Each finding against one clause, in the checks' order, as (reason,
    detail, passage, check), then (None, "", the closest passage, JUDGED or
    ""). `check` names the test that found it (evidence.CHECKS), the
    evidence the default weighs; a caller that needs only the first stops
    there, and the checks after it never run.
    `allowed`: the indices of the only sources to consider (a citation's).
    `strict`: hyphenated terms are key terms too; `content`: the clause's
    words are compared (step 5). `judged`: the clause held a hard fact to
    check (a figure, a name, a price of nothing) or a passage clearly about
    it was compared for polarity, or its words were compared. `context`: the
    content stems of the whole sentence the clause is part of ("..., and
    there's an extra £15 charge for that" is about what the sentence said
    before it)."""
    text = without_citations(clause.text, _blank)  # blanked in place: offsets stay the clause's
    passages = ix.passages if allowed is None else tuple(p for p in ix.passages if p.source in allowed)
    if allowed is not None:
        stems = frozenset().union(*(p.stems for p in passages))
        ordered = None
    else:
        stems, ordered = ix.stems, None
    quantities = find_quantities(text)
    bare = text
    for q in reversed(quantities):  # a quantity's words are compared as the quantity
        if _glued(text, q.start, q.end):
            continue  # "3D", "h264": one word with letters, kept whole for the name checks
        bare = bare[:q.start] + " " * (q.end - q.start) + bare[q.end:]
    cstems = set(content_stems(bare))
    names, keys = _names(bare)
    if names and _DEMONYM.search(bare):  # "354 Swiss francs": the currency's name
        demonyms = {m.group(1) for m in _DEMONYM.finditer(bare)}
        names = [n for n in names if n not in demonyms]
        keys = [k for k in keys if k not in demonyms]
    if names and _HOLIDAY.search(bare):  # "On Boxing Day" where a source closes early "on 25 and 26 December"
        held = _holidays_dated(bare, passages)
        names = [n for n in names if n not in held]
        keys = [k for k in keys if k not in held]
    if not strict:
        keys = names  # a hyphenated term ("check-up", "half-hour") is a word, not hard evidence: strict only
    name_stems = {stem(n) for n in names}
    # Only passages sharing a word with the claim can support it, be the
    # closest, or contradict it: the inverted index gives them without a scan.
    if allowed is None:
        overlap = ix.overlaps(cstems)
    else:
        overlap = {p: n for p in passages if (n := len(p.stems & cstems))}
    sharing = tuple(overlap)
    best = _weighted_best(overlap, name_stems, quantities)

    # 2. numbers, quantities, dates
    near = sharing or passages
    judged = bool(keys)
    for q in quantities:
        if q.unit is None and text[q.start:q.end].lower() == "one":
            continue  # "one licence", "from one user to another": an article or a pronoun more than a count
        judged = True
        key = None if q.is_date else value_key(q)
        holding = [p for p in near if (key is None or key in p.values or p.ranged)
                   and any(_supports(sq, q) and not _counted_other(p, sq, q) for sq in p.quantities)]
        if holding:
            other = None if q.is_date else _said_of_something_else(q, holding, overlap, cstems, quantities,
                                                                   context)
            if other is not None:
                shown = _shown(clause, q)
                if presented_as_worked(q, quantities, text):
                    yield ("number_mismatch", f"{shown!r}: worked out: not checked", other, "figure.worked")
                    continue
                yield ("number_mismatch", (f"{shown!r}: the passage about this gives another value; the sources "
                                           "give this one for something else"), other, "figure.elsewhere")
                continue
            if q.unit in PRICE_UNITS:
                wrong = _priced_for_another(q, text, holding, ix)
                if wrong is not None:
                    shown = _shown(clause, q)
                    yield ("number_mismatch", (f"{shown!r}: the sources give this price per or for "
                                               f"{wrong[0]!r}, not {wrong[1]!r}"), wrong[2], "price.per")
                    continue
                listed = _listed_for_another(q, cstems | _age_groups(text), holding, ix, quantities)
                if listed is not None:
                    shown = _shown(clause, q)
                    yield ("number_mismatch", (f"{shown!r}: the sources list this price for something else and "
                                               f"another for {listed[0]!r}"), listed[1], "price.list")
            continue
        if q.unit == "months" and _age_against_bound(q, text, near, ix, allowed):
            continue  # "your 16-year-old can join" where members must be "15 or older"
        if q.unit in _DURATIONS and _twin_held(q, quantities, near):
            continue  # "every 12 months" where a source says "every year": how often, which is held
        if q.always or (q.unit == "frequency" and BARE_FREQUENCY.fullmatch(text, q.start, q.end)):
            # "seven days a week", "once a month": a figure only against the same kind of figure
            kin = next((p for p in near for sq in p.quantities if sq.unit == q.unit and sq.per == q.per
                        and not sq.always), None)
            if kin is None:
                continue
            yield ("number_mismatch", f"{clause.text[q.start:q.end]!r}: the sources give another value", kin,
                   "figure.frequency")
            continue
        if key is not None and not any(sq.unit == q.unit for p in near for sq in p.quantities) \
                and _in_same_chunk(q, key, near, ix, allowed):
            continue
        if q.unit is None and q.per is not None:
            # a count per period: "two guest passes a month" where the passage gives two a year
            kin = next((p for p in near for sq in p.quantities if sq.unit is None and sq.per is not None
                        and sq.per != q.per and sq.value == q.value), None)
            if kin is not None:
                yield ("number_mismatch", (f"{clause.text[q.start:q.end]!r}: the sources give this count per "
                                           "another period"), kin, "figure.period")
                continue
        if q.unit is None and _written_anywhere(q, ix, allowed):
            continue  # a bare figure is weak evidence: "at least 16 to ride" of "Riders must be at least 16 years old"
        if worked_out(q, quantities, near, ix, cstems, text) or refunded_in_full(q, text, near, ix, allowed, names):
            continue  # "£200 at £25 a head for 8 children": a figure the answer works out from the sources'
        kin = next((p for p in near for sq in p.quantities if _same_kind(q, sq)), None)
        shown = _shown(clause, q)
        if presented_as_worked(q, quantities, text):
            # a figure the claim presents as worked out (a total, a price for a count, one figure of
            # several in one unit) is unverified, not a mismatch: round 6
            yield ("number_mismatch" if kin is not None else "missing_number",
                   f"{shown!r}: worked out: not checked", kin if kin is not None else best, "figure.worked")
        elif kin is not None:
            yield ("number_mismatch", f"{shown!r}: the sources give another value", kin,
                   _figure_check(q, kin, cstems, shown))
        else:
            yield "missing_number", f"{shown!r} is in no source", best, _missing_check(q, text)

    # 3. names and key terms; a name with its number ("Nimbus 6", "Terminal 2")
    # is one name, which the sources must write the same way
    for q in quantities:
        if q.unit is None and text[q.start].isdigit():
            m = _NAME_BEFORE.search(text, max(0, q.start - 40), q.start)
            if m is not None and m.group(1).lower() not in _NOT_A_MODEL:
                # the whole token the figure starts ("9f2c4e1", "3.12.1", "2FA"), not the figure alone
                keys = [*keys, f"{m.group(1)} {_TOKEN.match(text, q.start).group()}"]
    for k in keys:
        if not _has_key(ix, allowed, stems, k):
            if allowed is not None and k in names and _has_key(ix, None, ix.stems, k):
                # a name another source of the request holds (the business's: "Crossbows aren't allowed at
                # Oakfield [B]" where source A names Oakfield): where the claim is, not what it says
                continue
            yield "entity_missing", f"{k!r} is in no source", best, _name_check(k)
            break
    if overlap:
        other_days = cycle_mismatch(bare, overlap, cstems)
        if other_days is not None:
            yield ("entity_missing", f"{other_days[0]!r}: the passage about this names other days or months",
                   other_days[1], "days.other")
    term = new_term(bare, cstems, stems, ix, allowed)
    if term is not None:
        yield "entity_missing", f"{term!r}: no source has any of its words", best, "term.new"
    swap = swapped(bare, cstems, best)
    if swap is not None and stem(swap[0]) in stems:  # a word the sources give to something else
        yield "entity_missing", f"{swap[0]!r}: the passage about this has {swap[1]!r} in its place", best, "term.swap"
    elif swap is not None:
        # a word no source has, between two content words where the passage has another kind of the
        # same thing ("the previous fiscal year" where it says "the previous calendar year")
        swap = swapped(bare, cstems, best, strong=True)
        if swap is not None and stem(swap[0]) not in stems:
            yield ("entity_missing", f"{swap[0]!r}: the passage about this has {swap[1]!r} in its place", best,
                   "term.swap.new")
    if best is not None:
        missing = [n for n in names if stem(n) not in best.stems and plain(n) not in _plain_text(best.text)]
        if missing:
            _, other = _names(best.text)
            others = [o for o in other if o[0].isupper() and i_not_in(o, bare)]
            if others:
                yield "entity_missing", (f"{missing[0]!r}: the passage that supports the claim names "
                                         f"{others[0]!r}"), best, "name.other"
        given = _given_to_another(bare, cstems, name_stems, sharing)
        if given is not None:
            yield "entity_missing", (f"{given[0]!r}: the sources say this of {given[1]!r}, not of "
                                     f"{names[0]!r}"), given[2], "name.given"

    # A price of nothing is a price: "free parking", "park for free", "at no extra cost".
    free = free_unsupported(bare, cstems, sharing)
    if free:
        yield "missing_number", "'free': no source says this is free of charge", best, free
    judged = judged or free is not None

    # 4. polarity (contradiction.py)
    against, compared = contradiction(bare, cstems, sharing, overlap, quantities)
    if against is not None:
        yield "negation", "the closest passage says the opposite", against, _negation_check(bare, cstems, against)
    judged = judged or compared

    # 5. content
    if not content:
        yield None, "", best, JUDGED if judged else ""
        return
    # A word no source has is evidence of a new fact only when it names a
    # thing: everyday words and words that read as verbs (words.verb_like)
    # are the answer's own phrasing, and count only when the claim shares
    # under half of its words with the sources.
    missing_terms = {s for s in cstems - stems if BROADER.get(s) not in stems}
    if missing_terms:
        if ordered is None:
            ordered = ix.ordered if allowed is None else tuple(sorted(stems))
        missing_terms = {s for s in missing_terms if not by_prefix(s, stems, ordered)}
    if missing_terms:
        weak = COMMON_STEMS | verb_like(bare)
        specific = sorted(missing_terms - weak)
        weighed = (cstems - COMMON_STEMS) or cstems
        if specific or len(missing_terms & weighed) / len(weighed) > 1 - MIN_COVERAGE:
            what = ", ".join(specific) if specific else ", ".join(sorted(missing_terms))
            yield "unsupported", f"no source mentions: {what}", best, "content"
    yield None, "", best, JUDGED


def _figure_check(q: Quantity, kin: Passage, cstems: set[str], shown: str) -> str:
    """The check id of a figure another passage gives another value of: a
    figure the claim writes in words ("six fifty", "twelve pounds fifty")
    is read less surely than digits; else whether the claim's figure is bare
    (`bare`), has the unit of a figure of that passage (`unit`), or has a
    unit the passage's figures of that kind lack (`other`: a bare figure,
    another currency), and whether the passage is clearly about the claim
    (two thirds of its words)."""
    if not any(ch.isdigit() for ch in shown) and not (q.unit is not None and any(
            sq.unit == q.unit and sq.per == q.per and not sq.is_date
            and not any(ch.isdigit() for ch in kin.text[sq.start - kin.start:sq.end - kin.start])
            for sq in kin.quantities)):
        # in words against digits is read less surely; words against words in the same unit
        # ("around five weeks" / "around three weeks", round 5) as digits are
        return "figure.kin.words"
    if q.unit is None:
        kind = "bare"
    else:
        kind = "unit" if any(sq.unit == q.unit for sq in kin.quantities) else "other"
    close = bool(cstems) and 3 * len(kin.stems & cstems) >= 2 * len(cstems)
    return f"figure.kin.{kind}.{'close' if close else 'far'}"


def _missing_check(q: Quantity, text: str) -> str:
    """The check id of a figure no source gives: with a unit or bare, in
    digits or in words."""
    digits = any(ch.isdigit() for ch in text[q.start:q.end])
    return f"figure.missing.{'unit' if q.unit is not None else 'bare'}.{'digits' if digits else 'words'}"


def _name_check(key: str) -> str:
    """The check id of a name or term no source has, by the shape of the
    word: a code (digits, an acronym), a capitalised name, or a lower-case
    (hyphenated) term."""
    if any(ch.isdigit() for ch in key) or (len(key) > 1 and key.replace(" ", "").isupper()):
        return "name.code"
    return "name.capital" if key[0].isupper() else "term.hyphen"


def _negation_check(bare: str, cstems: set[str], against: Passage) -> str:
    """The check id of a polarity finding, by the side a negation is on: the
    passage's alone ("dropped": the claim asserts what the passage denies,
    the usual made-up flip; "denied" when the passage also holds every
    content word of the claim: the same statement, negated), the claim's
    alone ("added": often a rule the passage words positively, "you'll have
    to use their own" / "bringing your own isn't allowed"), both, or
    neither (opposed words). "dropped" or "both" is "predicate" when the
    passage's negation governs the claim's own predicate, which the claim
    asserts (contradiction.denies_predicate: "Linux is supported by the VPN
    client" / "Linux is not supported"); "added" is when the claim's
    negation governs it and the passage asserts it of the claim's object
    (contradiction.asserts_denied)."""
    c = ANY_NEGATION.search(bare) is not None
    p = ANY_NEGATION.search(against.text) is not None
    if p and not c and cstems <= against.stems:
        return "negation.denied"
    if p and denies_predicate(bare, against):
        return "negation.predicate"
    if p and not c:
        if denies_restated(bare, cstems, against):
            return "negation.restated"
        return "negation.dropped.plain" if plain_flip(bare, cstems, against, False) else "negation.dropped"
    if c and not p and asserts_denied(bare, against):
        return "negation.predicate"
    if c and not p:
        return "negation.added.plain" if plain_flip(bare, cstems, against, True) else "negation.added"
    return "negation." + ("both" if c and p else "other")


def _given_to_another(bare: str, cstems: set[str], name_stems: set[str], sharing) -> tuple[str, str, Passage] | None:
    """What the claim says of a name that the sources say only of another:
    the claim's words that no passage naming its name holds ("The Direct
    Cremation service includes embalming and a hearse") are all in a passage
    that names another name and not this one ("The Traditional Funeral
    package includes embalming, ..., a hearse"). Returns (a word, the other
    name, that passage), or None. Everyday words and words read as verbs are
    the answer's own phrasing and are not counted."""
    if not name_stems or not _opens_with_name(bare):
        return None
    named = [p for p in sharing if name_stems <= p.stems]
    if not named:
        return None
    rest = cstems - name_stems - COMMON_STEMS
    for p in named:
        rest = rest - p.stems
        if not rest:
            return None
    rest -= verb_like(bare)
    if not rest:
        return None
    for p in sharing:
        if rest <= p.stems and not name_stems & p.stems and _opens_with_name(p.text):
            other, _ = _names(p.text)  # names: a sentence's first word is none ("Run-flat tyres ...")
            others = [o for o in other if o[0].isupper()]
            if others:
                word = next(w for w in WORD.findall(bare) if stem(w) in rest)
                return word, others[0], p
    return None


_OPENING_WORDS = frozenset(["the", "our", "your", "their", "its", "a", "an", "this", "that", "each", "every"])


def _opens_with_name(text: str) -> bool:
    """Whether the sentence is about a name: one opens it ("The Traditional
    Funeral package includes", "Our Direct Cremation service costs",
    "RoadReady Basic includes"), not one after its verb ("They support
    Bluetooth", "with your personal PIN")."""
    toks = WORD.findall(text)[:3]
    if len(toks) < 2:
        return False
    if toks[0].lower() in _OPENING_WORDS:
        toks = toks[1:]
    return toks[0][0].isupper() and _kind(toks[0]) in (1, 3)


def i_not_in(word: str, text: str) -> bool:
    return plain(word) not in plain(text)


_plain_text = lru_cache(maxsize=4096)(plain)


#: Units whose figure a bare number of the sources does not support: "$18"
#: is not the "18" of "visitors under 18".
_UNIT_NEEDED = CURRENCIES | {"percent", "cent"}


def _supports(source_q: Quantity, claim_q: Quantity) -> bool:
    """Whether a source's quantity supports a claim's: the same fact, and a
    price or a percentage only by a figure written as one."""
    if source_q.unit is None and claim_q.unit in _UNIT_NEEDED:
        return False
    if claim_q.unit is None and source_q.written is not None and claim_q.value == source_q.written:
        return True  # "at least 16 to ride" of "at least 16 years old" (held as 192 months)
    return claim_q.same(source_q)


_NEXT_WORD = re.compile(r"\s+([A-Za-z]+)")


def _counted_other(p: Passage, sq: Quantity, q: Quantity) -> bool:
    """Whether the passage's bare figure counts a thing (a plural content
    word right after it: "212 steps") where the claim's figure has a unit of measure
    ("a 212-metre climb"): the same number of another thing."""
    if sq.unit is not None or q.unit is None or q.unit in _UNIT_NEEDED or q.is_date:
        return False
    m = _NEXT_WORD.match(p.text, sq.end - p.start)
    if m is None or sq.value == 1:
        return False
    word = m.group(1)  # a plural noun: "children under 5 travel free" counts nothing
    return word.endswith("s") and not word.endswith("ss") and bool(content_stems(word))


def _in_same_chunk(q: Quantity, key: float, near, ix: SourceIndex, allowed: set[int] | None) -> bool:
    """The figure in another sentence of a chunk the claim draws on, with
    the same unit ("under 25", "25%"): the chunk is its context, though that
    sentence shares no word with the claim ("25% off" for "a discount of
    25%"). Asked only when no passage sharing words with the claim gives a
    figure in that unit (which would be evidence of a mismatch). A unit must
    be written the same there: a bare number does not stand for a price, nor
    a price for a bare number."""
    chunks = {p.source for p in near}
    return any(p.source in chunks and key in p.values and (allowed is None or p.source in allowed)
               and any(sq.unit == q.unit and sq.same(q) for sq in p.quantities) for p in ix.passages)


#: How much more of the claim the passage about it must share than any
#: passage holding the claim's figure, for that figure to be another thing's.
ELSEWHERE = 2


def _said_of_something_else(q: Quantity, holding, overlap: dict[Passage, int], cstems: set[str],
                            quantities=(), context: frozenset[str] | None = None) -> Passage | None:
    """The passage clearly about the claim (the one sharing most of its
    words, two thirds of them at least, alone) when it gives another value
    of the same kind while the claim's figure is only in passages sharing
    at most half as much: "check-ups cost £25" where the check-up passage
    says £20 and £25 is the eye test's.

    Not when the figure is given with the claim's other words: a passage
    holding it also holds the claim's other figures that the passage about
    the claim does not ("200 miles a day included before the 25 pence a
    mile charge" of "The standard mileage allowance is 200 miles per day;
    extra miles are charged at 25p per mile"), or shares as many words of the whole
    sentence (`context`) as the passage about the clause ("..., and there's
    an extra £15 charge for that" of "matted coats will be shaved ..., and a
    £15 matting fee applies"); and a value of that passage the claim states
    itself is no other value ("a pitch raise at £45 on top of the £95
    tuning" where the pitch-raise passage gives £45 and the tuning's is
    £95)."""
    if not overlap:
        return None
    top = max(overlap.values())
    best = [p for p, n in overlap.items() if n == top]
    if len(best) != 1 or best[0] in holding or top * 3 < 2 * len(cstems):
        return None
    if max(overlap.get(p, 0) for p in holding) * ELSEWHERE > top:
        return None
    others = [o for o in quantities if o is not q and not o.is_date and o.unit is not None
              and not _held_as_written(best[0], o)]
    if others and any(all(_held_as_written(p, o) for o in (q, *others)) for p in holding):
        return None
    if context is not None and len(context) > len(cstems):
        about = len(best[0].stems & context)
        if any(len(p.stems & context) >= about for p in holding):
            return None
    if any(_one_measure(sq.unit, q.unit) and not sq.is_date and not _supports(sq, q)
           and not any(_supports(sq, o) for o in quantities if o is not q) for sq in best[0].quantities):
        return best[0]
    return None


def _held_as_written(p: Passage, q: Quantity) -> bool:
    """Whether passage `p` gives `q` in its unit (not as a bare figure)."""
    return any(sq.unit == q.unit and _supports(sq, q) for sq in p.quantities)


_DURATIONS = frozenset(["time", "months"])
# What a price is for, right after it: "per bag", "a month", "for each adult" (a
# rate), "for vans"; one to three words, ending where the phrase does (also
# before a word of time or bound: "for each day after that" is per day).
_OBJECT = re.compile(r"\s*(?:(?P<rate>per|a|an|each|every|/|for\s+(?:each|every|a|an|per))|(?P<for>for))\s+"
                     r"(?P<words>(?:[^\W\d_][\w-]*\s+){0,2}?[^\W\d_][\w-]*)"
                     r"(?=\s*(?:[,.;:!?)]|$|\s(?:and|or|with|at|in|on|to|from|if|when|which|that|but|plus|is|are|"
                     r"including|includ\w*|after|before|until|thereafter|onwards|over|under|beyond)\b))",
                     re.IGNORECASE)
# Words that each name one person a price is counted by: "$58 a head" is
# "$58 per guest". A kind of person ("adult", "child", "member") is not one.
_ONE_PERSON = frozenset(["head", "person", "people", "guest", "attendee", "participant", "diner", "individual",
                         "pax", "cover"])
# Words a source prices one of anything by (round 5): "£4.50 per item" is met by "£4.50 a shirt"; a period is not
# a countable thing ("£3 an hour" is not "£3 per item").
_GENERAL_ITEM = frozenset(["item", "items", "piece", "pieces", "unit", "units", "garment", "garments", "thing",
                           "things", "article", "articles"])
_TIME_WORDS = frozenset(["second", "minute", "hour", "day", "night", "week", "fortnight", "month", "quarter", "term",
                         "year", "session", "lesson", "class", "visit", "time"])
# Who pays, not what is priced: "ninety pounds for you and your pup".
_BUYER = frozenset(["you", "me", "us", "them", "him", "her", "yourself", "yourselves", "both", "everyone"])


def _price_object(q: Quantity, text: str) -> tuple[str, str] | None:
    """(the kind of link, the head word) of what the price `q` in `text` is
    for: its period ("$16 per month": a rate, "month"), or the words after it
    ("€29 for motorcycles"); None when nothing is named there or the price
    is per a unit of a measure (compared as a unit)."""
    if q.per is not None:
        return None if "/" in q.per else ("rate", q.per)
    m = _OBJECT.match(text, q.end)
    if m is None:
        return None
    return ("rate" if m.group("rate") else "for"), m.group("words").split()[-1]


_AGE_GROUP_IN = re.compile(r"\b((?:under|over)-\d{1,3})s?\b", re.IGNORECASE)


def _age_groups(text: str) -> set[str]:
    """The age groups a text names ("over-65s" as "over-65"): words with a
    figure, which content_stems leaves out."""
    return {m.group(1).lower() for m in _AGE_GROUP_IN.finditer(text)} if "-" in text else set()


_FOR_AFTER = re.compile(r"\s*(?:(?:per|a|an)\s+[^\W\d]+\s+)?for\s")  # "£90 for", "£180 per year for"
_ITEM_END = re.compile(r"[,;.]|\s(?:and|or|but|while)\s")


def _listed_for_another(q: Quantity, cstems: set[str], holding, ix: SourceIndex, quantities=()
                        ) -> tuple[str, Passage] | None:
    """A price a list gives for another thing: in a passage listing prices
    each followed by what it is for ("£180 per year for adults, £90 for
    juniors under 18 and £120 for over-65s"), the claim names what another
    price of the list is for and nothing of its own price's ("Full
    membership for over-65s is £90"). Returns (the claim's word, the
    passage), or None. Only a list whose every price is followed by "for"
    (after its period, if any: "£180 per year for adults") is read: a label
    before a price ("juniors £90 and over-65s £120") would be read as the
    one before, and "£5.95 per trade, falling to £3.95 for ..." names a
    unit, not a thing. An item whose price the claim also states
    (`quantities`) is the claim's other price's: "£38 for the first day and
    £19 for each day after that" names the first day for the £38."""
    for p in holding:
        src = ix.sources[p.source].text
        prices = list({sq.start: sq for sq in p.quantities if sq.unit in PRICE_UNITS}.values())  # one per figure
        if len(prices) < 2 or not all(_FOR_AFTER.match(src, sq.end) for sq in prices):
            continue
        owned = []
        for i, sq in enumerate(prices):
            end = prices[i + 1].start if i + 1 < len(prices) else p.end
            start = _FOR_AFTER.match(src, sq.end).end()
            stop = _ITEM_END.search(src, start, end)  # "£90 for juniors under 18 and ...": up to the next item
            item = src[start:stop.start() if stop else end]
            owned.append((set(content_stems(item)) - COMMON_STEMS) | _age_groups(item))
        mine = [i for i, sq in enumerate(prices) if _supports(sq, q)]
        if len(mine) != 1 or owned[mine[0]] & cstems:
            continue
        stated = {i for i, sq in enumerate(prices) if i != mine[0]
                  and any(o is not q and _supports(sq, o) for o in quantities)}
        others = set().union(*(o for i, o in enumerate(owned) if i != mine[0] and i not in stated)) - owned[mine[0]]
        named = others & cstems
        if named:
            return next(iter(sorted(named))), p
    return None


def _priced_for_another(q: Quantity, text: str, holding, ix: SourceIndex) -> tuple[str, str, Passage] | None:
    """A price the sources give for another thing: the claim says what it is
    per or for ("$16 per month", "€29 for vans"), and every passage holding
    that price says it is per or for something else ("$16 per bag", "€29
    for motorcycles") and never names the claim's. Returns (the sources'
    word, the claim's, the passage), or None."""
    mine = _price_object(q, text)
    if mine is None or mine[1].lower() in _BUYER:
        return None
    head = stem(mine[1])
    countable = q.per is None and mine[1].lower() not in _TIME_WORDS
    person = mine[1].lower() in _ONE_PERSON
    found = None
    for p in holding:
        src = ix.sources[p.source].text
        for sq in p.quantities:
            if not _supports(sq, q):
                continue
            theirs = _price_object(sq, src)
            if theirs is None or theirs[0] != mine[0] or stem(theirs[1]) == head or head in p.stems \
                    or BROADER.get(head) in p.stems or (person and theirs[1].lower() in _ONE_PERSON) \
                    or (countable and theirs[1].lower() in _GENERAL_ITEM):
                return None
            found = (theirs[1], mine[1], p)
    return found


def _twin_held(q: Quantity, quantities, near) -> bool:
    """Whether the frequency read from the duration `q` ("every 12 months":
    once a year) is in a passage about the claim."""
    return any(f.unit == "frequency" and f.start == q.start and f is not q
               and any(sq.unit == "frequency" and sq.same(f) for p in near for sq in p.quantities)
               for f in quantities)


# An age bound a passage sets: "15 or older", "aged 15 and over", "at least
# 15", "15+" (a lowest age), "over 15", "over-18s" (above it), "under 18",
# "under-18s" (below it), "aged 2 to 11" (a band).
_AGE_BOUND = re.compile(r"\b(?P<low>\d{1,3})(?:\s*years?(?:\s+old)?)?\s+(?:or|and)\s+(?:older|over|above|up)\b"
                        r"|\b(?:aged|ages)\s+(?P<from>\d{1,3})\s*(?:to|-|–)\s*(?P<to>\d{1,3})\b"
                        r"|\b(?:at\s+least|minimum\s+age\s+(?:is|of)|aged)\s+(?P<low2>\d{1,3})\b(?!\s*(?:or|and)\s+(?:under|younger|below))"
                        r"|\b(?P<low3>\d{1,3})\+"
                        r"|\b(?:over|older\s+than)[\s-](?P<above>\d{1,3})s?\b"
                        r"|\b(?:under|younger\s+than|below)[\s-](?P<below>\d{1,3})s?\b", re.IGNORECASE)
# A person's age: "your 16-year-old", "a 6 year old" (one person, not "8- to 11-year-olds").
_YEAR_OLD = re.compile(r"[\s-]old\b(?!s)", re.IGNORECASE)


# A negation in a clause: whether a person may, on either side.
_DENIED = re.compile(r"\b(?:not|no|never|cannot|unable|nobody)\b|n[’']t\b", re.IGNORECASE)


def _age_against_bound(q: Quantity, text: str, near, ix: SourceIndex, allowed: set[int] | None) -> bool:
    """Whether `q` is a person's age ("your 16-year-old") that agrees with an
    age bound a chunk the claim draws on sets: the bound admits the age and
    the claim says the person may ("Members need to be 15 or older" / "your
    16-year-old can join"; "under-18s are welcome with an adult" / "your
    16-year-old can come along"), or it does not and the claim says the
    person may not ("Taster sessions are for ages 14 and over" / "Your
    12-year-old can't do the taster yet"; "Children under 8 are not
    allowed" / "your 6-year-old wouldn't be able to come"). Then the age is
    an example of the rule, not a figure of it. A bound's clause with a
    negation excludes the ages it names. The claim's own bound ("must be
    under 12 years old") is a figure, compared."""
    if q.written is None or _YEAR_OLD.match(text, q.end) is None:
        return False
    if any(m.start() <= q.start < m.end() or m.start() <= q.end <= m.end() for m in _AGE_BOUND.finditer(text)):
        return False  # "must be under 12 years old": the claim's own bound, which the passage must give
    age = q.written
    may = _DENIED.search(text) is None
    chunks = {p.source for p in near}
    for p in ix.passages:
        if p.source not in chunks or (allowed is not None and p.source not in allowed):
            continue
        for m in _AGE_BOUND.finditer(p.text):
            g = m.groupdict()
            low = g["low"] or g["low2"] or g["low3"]
            if low is not None:
                inside = age >= int(low)
            elif g["from"] is not None:
                inside = int(g["from"]) <= age <= int(g["to"])
            elif g["above"] is not None:
                inside = age > int(g["above"])
            else:
                inside = age < int(g["below"])
            start = max(p.text.rfind(";", 0, m.start()), p.text.rfind(",", 0, m.start())) + 1
            stop = min((i for i in (p.text.find(";", m.end()), p.text.find(",", m.end())) if i >= 0),
                       default=len(p.text))
            if (inside != (_DENIED.search(p.text, start, stop) is not None)) == may:
                return True
    return False


def _one_measure(a: str | None, b: str | None) -> bool:
    """The same unit, or two durations ("6 weeks" against "6 months")."""
    return a == b or {a, b} == {"time", "months"}


def _written_anywhere(q: Quantity, ix: SourceIndex, allowed: set[int] | None) -> bool:
    """Whether some source writes the bare figure `q` (as it is, or before
    its unit's conversion), in any passage."""
    return any((allowed is None or p.source in allowed) and any(
        sq.written == q.value or (sq.value == q.value and not sq.is_date) for sq in p.quantities)
        for p in ix.passages)


def _same_kind(a: Quantity, b: Quantity) -> bool:
    if a.is_date or b.is_date:
        return a.unit == b.unit
    return a.unit == b.unit or a.unit is None or b.unit is None or {a.unit, b.unit} <= CURRENCIES | {"cent"}


def _resolve(key: str, sources: tuple[Source, ...]) -> int | None:
    k = key.strip().lower()
    for i, s in enumerate(sources):
        if s.id.lower() == k:
            return i
    bare = re.sub(r"^(?:source|doc|document|ref)\s*", "", k)
    for i, s in enumerate(sources):
        if s.id.lower() == bare:
            return i
    if bare.isdigit() and not any(s.id.isdigit() for s in sources) and 1 <= int(bare) <= len(sources):
        return int(bare) - 1
    return None


def _quote_found(quote: str, ix: SourceIndex) -> bool:
    return plain(quote) in ix.plain


@dataclass(frozen=True, slots=True)
class GroundingResult:
    """The answer's claims, the share the sources support, and the rest.
    `unverified`: the claims counted as supported by default though nothing
    confirmed them: a claim nothing in which could be checked (a Clause: no
    figure, name, citation, quotation or price, and no passage clearly
    about it to compare polarity with), and a clause with only weak
    evidence against it (an Unsupported: its reason, detail, passage and
    checks, evidence.py): docs/grounding.md."""

    claims: int
    supported: int
    unsupported: tuple[Unsupported, ...]
    unverified: tuple[Clause | Unsupported, ...] = ()

    @property
    def score(self) -> float:
        return 1.0 if self.claims == 0 else self.supported / self.claims

    def reasons(self) -> frozenset[str]:
        return frozenset(u.reason for u in self.unsupported)

    def to_json(self) -> dict:
        return {"score": round(self.score, 4), "claims": self.claims, "supported": self.supported,
                "unsupported": [u.to_json() for u in self.unsupported],
                "unverified": [c.to_json() if isinstance(c, Unsupported) else
                               {"start": c.start, "end": c.end, "text": c.text} for c in self.unverified]}


def check_grounding(answer: str, sources: tuple[Source, ...] | list[Source], backend: Any = None,
                    strict: bool = False, evidence: Evidence | None = None) -> GroundingResult:
    """Check every claim of `answer` against `sources` (module docstring).

    By default a claim is flagged only on strong evidence (evidence.py): a
    finding of a check that is hard evidence on its own (a citation naming
    no source, a figure of the same unit that differs, a code no source
    has, ...), or findings of two checks agreeing on one clause. A weaker
    finding alone is listed in `unverified` with its reason and passage,
    and the claim counts as supported, as does a claim with nothing hard to
    check. `strict` flags every finding and adds the content check: a
    claim bringing a word no source has that names a thing is
    `unsupported`, and a hyphenated term must be in a source. `backend`, an
    optional NLI model (:class:`~.backends.GroundingBackend`), turns the
    content check on too and judges the claims it flags: entailed ones are
    supported. `evidence` replaces the default's strength table (the
    evaluation script fits one)."""
    ix = build_index(tuple(sources))
    claims = extract_claims(answer)
    bad: list[Unsupported] = []
    unverified: list[Clause | Unsupported] = []
    weigh = None if strict or backend is not None else (evidence or DEFAULT)
    for claim in claims:
        found, judged, weak = _check_claim(claim, ix, backend, strict, weigh)
        if found is not None:
            bad.append(found)
        elif weak:
            unverified.extend(weak)
        elif not judged:
            unverified.append(Clause(claim.start, claim.end, claim.text))
    return GroundingResult(len(claims), len(claims) - len(bad), tuple(bad), tuple(unverified))


def _unsupported(c: Clause, reason: str, detail: str, p: Passage | None, ix: SourceIndex,
                 evidence: tuple[str, ...] = ()) -> Unsupported:
    return Unsupported(c.start, c.end, c.text.strip(), reason, detail,
                       ix.sources[p.source].id if p is not None else None, p.text if p is not None else None,
                       evidence)


class _Weigher:
    """One clause's findings weighed as they come (evidence.py): the first
    strong enough to flag, or the first weak one, with every check seen."""

    __slots__ = ("checks", "evidence", "first", "ix")

    def __init__(self, ix: SourceIndex, evidence: Evidence | None, checks: tuple[str, ...] = ()):
        self.ix, self.evidence, self.checks, self.first = ix, evidence, list(checks), None

    def flag(self, span: Clause, reason: str, detail: str, p: Passage | None, check: str) -> Unsupported | None:
        """The finding to flag the clause with, or None while the evidence is weak."""
        self.checks.append(check)
        u = _unsupported(span, reason, detail, p, self.ix, tuple(self.checks))
        if self.first is None:
            self.first = u
        if self.evidence is None or check in self.evidence.hard:
            return u
        if self.evidence.agreed(self.checks):
            return replace(self.first, evidence=tuple(self.checks))
        return None

    def weak(self) -> Unsupported | None:
        return None if self.first is None else replace(self.first, evidence=tuple(self.checks))


def _check_claim(claim, ix: SourceIndex, backend: Any, strict: bool = False, evidence: Evidence | None = None,
                 ) -> tuple[Unsupported | None, bool, list[Unsupported]]:
    """(the claim's flagged clause or None, whether anything in it was
    checked, its weak findings). `evidence` None: every finding flags (strict
    or a backend); else a finding flags only when it is strong."""
    cited: set[int] = set()
    at_claim = _Weigher(ix, evidence)  # citations and quotations: the claim's own findings
    for raw in claim.citations:
        for key in re.split(r"\s*[,;]\s*", raw):
            i = _resolve(key, ix.sources)
            if i is None:
                span = next((c for c in claim.clauses if key in c.text), claim.clauses[-1])
                u = at_claim.flag(span, "bad_citation", f"[{key}] names no source", None, "citation.none")
                if u is not None:
                    return u, True, []
                continue
            cited.add(i)
    for q in claim.quotes:
        if not _quote_found(q, ix):
            span = next((c for c in claim.clauses if q in c.text), claim.clauses[-1])
            u = at_claim.flag(span, "bad_citation", f"the quotation {q!r} is in no source", None, "quote.none")
            if u is not None:
                return u, True, []
    content = strict or backend is not None
    judged = bool(cited or claim.quotes)
    weak = [] if at_claim.first is None else [at_claim.weak()]
    previous = None
    context = frozenset(content_stems(without_citations(claim.text))) if len(claim.clauses) > 1 else None
    for written in claim.clauses:
        clause = _elided(written, previous)
        previous = written
        if clause is not written and _copied(claim.text, ix, cited):
            continue  # a source says the whole sentence, its ellipsis too
        if claim.quotes and any(q in clause.text for q in claim.quotes):
            continue  # a quotation found verbatim is its own support
        if _copied(clause.text, ix, cited):
            judged = True  # a source (a cited one, when it cites) says it word for word
            continue
        w = _Weigher(ix, evidence, tuple(at_claim.checks))
        best = None
        seen: set[tuple[str, str]] = set()  # (check, detail) of the clause's findings against every source
        for reason, detail, p, check in clause_findings(clause, ix, None, strict, content, context):
            if reason is None:
                best = p
                judged = judged or check == JUDGED
                break
            judged = True
            if reason == "unsupported" and backend is not None and p is not None \
                    and _entailed(backend, ix, p, clause.text):
                best = p
                break
            seen.add((check, detail))
            u = w.flag(written, reason, detail, p, check)
            if u is not None:
                return u, True, []
        if cited:
            reason, detail, _best_cited, found = next(clause_findings(clause, ix, cited, strict, content))
            ids = ", ".join(ix.sources[i].id for i in sorted(cited))
            u = None
            if reason is not None and (found, detail) in seen and family(found) in ("words", "name"):
                # a word or name no source has is in no cited source either ("'double-check': no source has
                # any of its words"): the same finding, not a second signal (round 6)
                pass
            elif reason is not None:
                u = w.flag(written, "bad_citation", f"the cited source ({ids}) does not hold this: {detail}", best,
                           "citation.facts")
            elif best is not None and best.source not in cited and not _cited_covers(clause, ix, cited):
                u = w.flag(written, "bad_citation", f"the cited source ({ids}) shares under half of the claim's "
                           f"words; source {ix.sources[best.source].id} holds it", best,
                           "citation.elsewhere" if _cited_elsewhere(clause, ix, cited) else "citation.share")
            if u is not None:
                return u, True, []
        if w.first is not None:
            weak.append(w.weak())
    return None, judged, weak


_AUXILIARY = (r"(?:is|are|was|were|can|could|may|might|must|will|would|shall|should|does|do|did|has|have|"
              r"cannot|can't|isn't|aren't|wasn't|weren't|won't|wouldn't|couldn't|shouldn't|doesn't|don't|didn't|"
              r"hasn't|haven't)")
# A clause that ends at its auxiliary: "but sky lanterns are", "but gifts cannot".
_ENDS_AT_AUX = re.compile(rf"\W*(?P<subject>(?:[\w'’-]+\s+){{1,5}}?)(?P<aux>{_AUXILIARY}(?:\s+not)?)\s*[.!?]*\s*",
                          re.IGNORECASE)
_AUX_IN = re.compile(rf"\b{_AUXILIARY}(?:\s+not)?\b", re.IGNORECASE)


def _elided(clause: Clause, previous: Clause | None) -> Clause:
    """A clause that ends at its auxiliary takes the predicate of the clause
    before it, with its own polarity: "Fireworks aren't allowed at the barn,
    but sky lanterns are" says sky lanterns "are allowed at the barn". The
    offsets stay the written clause's; the text is the one checked."""
    if previous is None:
        return clause
    m = _ENDS_AT_AUX.fullmatch(clause.text)
    if m is None:
        return clause
    aux = _AUX_IN.search(previous.text)
    if aux is None:
        return clause
    rest = previous.text[aux.end():].strip()
    if not rest:
        return clause
    return Clause(clause.start, clause.end, f"{m.group('subject')}{m.group('aux')} {rest}")


#: The fewest words a clause copied from a source must have to pass as copied.
COPIED_WORDS = 4


def _copied(text: str, ix: SourceIndex, cited: set[int]) -> bool:
    """Whether a source (one of `cited`, when given) holds the clause word
    for word, not right after a negation ("no dental care is covered" does
    not support "dental care is covered"): support without analysing it."""
    t = plain(without_citations(text))
    if t.count(" ") <= COPIED_WORDS:
        return False
    for i, sp in enumerate(ix.plains):
        if cited and i not in cited:
            continue
        at = sp.find(t)
        while at >= 0:
            before = sp.rfind(" ", 0, at)
            word = sp[before + 1:at]
            if word not in NEGATION_WORDS and not word.endswith("n't"):
                return True
            at = sp.find(t, at + 1)
    return False


def _cited_covers(clause: Clause, ix: SourceIndex, cited: set[int]) -> bool:
    """Whether the cited sources hold at least half of the clause's content
    words: a citation says where the claim is, and a claim another source
    holds while the cited one barely mentions it is cited wrongly."""
    words = set(content_stems(without_citations(clause.text)))
    if not words:
        return True
    held = frozenset().union(*(ix.chunks[i].stems for i in cited))
    return len(words & held) >= MIN_COVERAGE * len(words)


def _cited_elsewhere(clause: Clause, ix: SourceIndex, cited: set[int]) -> bool:
    """Whether the claim is another source's and not the cited one's: the
    cited sources hold at most one of the clause's content words, and one
    source not cited holds at least POLARITY_OVERLAP of them (clearly about
    the claim). "Dental cleaning is not included [policy]" where the policy
    chunk has none of its words and the price list all of them."""
    words = set(content_stems(without_citations(clause.text)))
    held = frozenset().union(*(ix.chunks[i].stems for i in cited))
    if len(words & held) > 1:
        return False
    return any(len(words & ch.stems) >= POLARITY_OVERLAP * len(words)
               for i, ch in enumerate(ix.chunks) if i not in cited)


def _entailed(backend: Any, ix: SourceIndex, best: Passage, hypothesis: str) -> bool:
    src = ix.sources[best.source].text
    premise = src if len(src) <= 2000 else best.text
    return float(backend.entails(premise, QUOTE.sub(r"\1", hypothesis))) >= ENTAILED
