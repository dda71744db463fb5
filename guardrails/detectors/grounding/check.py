"""Judge each claim of an answer against the sources, one check at a time.

The checks run in this order, and the first that fails names the reason:

1. ``bad_citation``: a citation ``[2]`` / ``[doc-3]`` names no source, or a
   quoted passage is in no source.
2. ``number_mismatch`` / ``missing_number``: a number, quantity or date of the
   claim is in no source passage about the same thing; a mismatch when such a
   passage holds a value of the same kind (30 days where the claim says 90).
3. ``entity_missing``: a name, code or key term is in no source, or the
   passage that best supports the claim names another one instead (the Basic
   plan where the claim says the Premium plan).
4. ``negation``: the passage that best matches the claim's subject and
   predicate says the opposite ("is not covered" against "is covered").
5. ``unsupported``: the claim brings content words no source has (a feature,
   a place, a service); an NLI backend, when configured, may still find the
   claim entailed.
6. ``bad_citation`` again: a cited source exists but does not hold the claim.

Sources are analysed once per text (cached) so a chunk checked against many
answers is split and normalised once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from guardrails.detectors.grounding.claims import (
    CITATION,
    QUOTE,
    Clause,
    extract_claims,
    sentences,
)
from guardrails.detectors.grounding.quantities import (
    CURRENCIES,
    MONTHS,
    Quantity,
    find_quantities,
)
from guardrails.detectors.grounding.sources import Source
from guardrails.detectors.grounding.words import (
    ANY_NEGATION,
    BROADER,
    COMMON,
    NEGATION_CS,
    STOPWORDS,
    WORD,
    content_stems,
    negated_stems,
    plain,
    stem,
)

REASONS: tuple[str, ...] = ("missing_number", "number_mismatch", "entity_missing", "negation", "bad_citation",
                            "unsupported")

_COMMON_STEMS = frozenset(stem(w) for w in COMMON)
_NOT_NAMES = frozenset([*MONTHS, "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"])
_AUX = re.compile(r"\b(?:is|are|was|were|be|been|can|may|must|will|shall|should|has|have|had|does|do|did|"
                  r"cannot|can't|isn't|aren't|won't|doesn't|don't)\b", re.IGNORECASE)
#: The share of a claim's content words the passage compared for polarity must hold.
POLARITY_OVERLAP = 0.5
#: Below this share of its content words found in the sources, a claim is unsupported.
MIN_COVERAGE = 0.5
#: An NLI backend's entailment probability at or above which it supports a claim.
ENTAILED = 0.5


@dataclass(frozen=True, slots=True)
class Passage:
    """One sentence of a source, analysed."""

    source: int  # index into the sources
    start: int
    end: int
    text: str
    stems: frozenset[str]
    quantities: tuple[Quantity, ...]
    negated: frozenset[str]  # the stems it says are not so (words.negated_stems)
    values: frozenset[float]  # _value_key of each quantity that is not a date: a cheap first test
    ranged: bool  # states a range, which a value inside it matches without being in `values`


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

    def to_json(self) -> dict:
        return {"start": self.start, "end": self.end, "text": self.text, "reason": self.reason,
                "detail": self.detail, "source_id": self.source_id, "passage": self.passage}


@dataclass(frozen=True, slots=True)
class _Index:
    """Every passage of the request's sources, and what all of them hold."""

    sources: tuple[Source, ...]
    passages: tuple[Passage, ...]
    stems: frozenset[str]
    plain: str
    by_stem: dict[str, list[int]]  # stem -> the passages holding it, in order: a claim reads only those

    def sharing(self, stems: set[str]) -> tuple[Passage, ...]:
        """The passages sharing a stem with `stems`, in source order."""
        hits: set[int] = set()
        for s in stems:
            hits.update(self.by_stem.get(s, ()))
        return tuple(self.passages[i] for i in sorted(hits))


def _value_key(q: Quantity) -> float:
    return round(q.value, 6)


@lru_cache(maxsize=4096)
def _passages(text: str) -> tuple[tuple, ...]:
    """A source's sentences, analysed once per text (the cache is keyed by
    the text itself, so an edited chunk is analysed again). Quantities are
    found in one pass over the whole text and handed to their sentences;
    negation is scoped only in the sentences where a negation word occurs."""
    spans = sentences(text)
    quantities = find_quantities(text)
    low = text.lower()
    negations = [m.start() for m in (NEGATION_CS.finditer(low) if len(low) == len(text) else ANY_NEGATION.finditer(text))]
    out = []
    qi = ni = 0
    for s, e in spans:
        qs = []
        while qi < len(quantities) and quantities[qi].start < e:
            q = quantities[qi]
            if q.start >= s:
                qs.append(replace(q, start=q.start - s, end=q.end - s))
            qi += 1
        negated = False
        while ni < len(negations) and negations[ni] < e:
            negated = negated or negations[ni] >= s
            ni += 1
        sent = text[s:e]
        qs = tuple(qs)
        out.append((s, e, sent, frozenset(content_stems(sent)), qs, negated_stems(sent) if negated else frozenset(),
                    frozenset(_value_key(q) for q in qs if not q.is_date)))
    return tuple(out)


_plain_source = lru_cache(maxsize=4096)(plain)


def _glued(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] is part of a word with letters on either side."""
    return (start > 0 and text[start - 1].isalpha()) or (end < len(text) and text[end].isalpha())


def build_index(sources: tuple[Source, ...]) -> _Index:
    passages: list[Passage] = []
    by_stem: dict[str, list[int]] = {}
    for i, src in enumerate(sources):
        for s, e, sent, st, qs, neg, vals in _passages(src.text):
            for x in st:
                got = by_stem.get(x)
                if got is None:
                    by_stem[x] = [len(passages)]
                else:
                    got.append(len(passages))
            passages.append(Passage(i, s, e, sent, st, qs, neg, vals, any(q.within for q in qs)))
    return _Index(sources, tuple(passages), frozenset(by_stem), " ".join(_plain_source(s.text) for s in sources),
                  by_stem)


def _function_contraction(lw: str) -> bool:
    """"there's", "it's", "that's": a function word and "is", not a name."""
    lw = lw.replace("’", "'")
    return lw.endswith("'s") and lw[:-2] in STOPWORDS


def _names(clause: str) -> tuple[list[str], list[str]]:
    """(names, key terms): names are capitalised words after the first, codes
    and acronyms; key terms add hyphenated words. A capitalised first word is
    only a sentence's first word ("Bookings for ...", "No student ..."): it
    is compared as a content word."""
    names, keys = [], []
    for i, m in enumerate(WORD.finditer(clause)):
        w = m.group()
        lw = w.lower()
        if lw in STOPWORDS or lw in _NOT_NAMES or lw[0].isdigit() or _function_contraction(lw):
            continue
        code = any(ch.isdigit() for ch in w)
        if (w[0].isupper() and i > 0) or code or (len(w) > 1 and w.isupper()):
            names.append(w)
            keys.append(w)
        elif "-" in w and not lw.startswith("non-"):
            keys.append(w)
    return names, keys


def _has_key(index_plain: str, stems: frozenset[str], key: str) -> bool:
    if plain(key) in index_plain:
        return True
    parts = [p for p in re.split(r"[-\s]+", key) if p]
    return all(stem(p) in stems for p in parts)


def _weighted_best(passages, cstems: set[str], names: set[str], quantities=()) -> tuple[Passage | None, float]:
    """The passage sharing most with the claim: its words, names twice, and
    (a tie-breaker that is often decisive) the claim's quantities."""
    best, best_w = None, 0.0
    values = frozenset(_value_key(q) for q in quantities if not q.is_date)
    for p in passages:
        common = cstems & p.stems
        if not common:
            continue
        w = len(common) + len(common & names)
        if values and p.values:
            w += len(values & p.values)
        if w > best_w:
            best, best_w = p, w
    return best, best_w


def _predicate(clause: str) -> tuple[str | None, frozenset[str]]:
    """(the first content word after the clause's first auxiliary verb, the
    content words before it: the subject)."""
    m = _AUX.search(clause)
    if m is None:
        return None, frozenset()
    rest = content_stems(clause[m.end():])
    return (rest[0] if rest else None), frozenset(content_stems(clause[:m.start()]))


def check_clause(clause: Clause, ix: _Index, allowed: set[int] | None = None
                 ) -> tuple[str | None, str, Passage | None]:
    """(reason or None, detail, closest passage) for one clause. `allowed`:
    the indices of the only sources to consider (a citation's)."""
    text = CITATION.sub(" ", clause.text)
    passages = ix.passages if allowed is None else tuple(p for p in ix.passages if p.source in allowed)
    if allowed is not None:
        stems = frozenset().union(*(p.stems for p in passages))
        index_plain = " ".join(plain(ix.sources[i].text) for i in sorted(allowed))
    else:
        stems, index_plain = ix.stems, ix.plain
    quantities = find_quantities(text)
    bare = text
    for q in reversed(quantities):  # a quantity's words are compared as the quantity
        if _glued(text, q.start, q.end):
            continue  # "3D", "h264": one word with letters, kept whole for the name checks
        bare = bare[:q.start] + " " * (q.end - q.start) + bare[q.end:]
    cstems = set(content_stems(bare))
    names, keys = _names(bare)
    name_stems = {stem(n) for n in names}
    # Only passages sharing a word with the claim can support it, be the
    # closest, or contradict it: the inverted index gives them without a scan.
    sharing = ix.sharing(cstems) if allowed is None else tuple(p for p in passages if p.stems & cstems)
    best, _ = _weighted_best(sharing, cstems, name_stems, quantities)

    # 2. numbers, quantities, dates
    near = sharing or passages
    for q in quantities:
        key = None if q.is_date else _value_key(q)
        if any(q.same(sq) for p in near if key is None or key in p.values or p.ranged for sq in p.quantities):
            continue
        kin = next((p for p in near for sq in p.quantities if _same_kind(q, sq)), None)
        shown = clause.text[q.start:q.end] if q.end <= len(clause.text) else str(q.value)
        if kin is not None:
            return "number_mismatch", f"{shown!r}: the sources give another value", kin
        return "missing_number", f"{shown!r} is in no source", best

    # 3. names and key terms
    for k in keys:
        if not _has_key(index_plain, stems, k):
            return "entity_missing", f"{k!r} is in no source", best
    if best is not None:
        best_plain = plain(best.text)
        missing = [n for n in names if plain(n) not in best_plain and stem(n) not in best.stems]
        if missing:
            _, other = _names(best.text)
            others = [o for o in other if o[0].isupper() and i_not_in(o, bare)]
            if others:
                return "entity_missing", (f"{missing[0]!r}: the passage that supports the claim names "
                                          f"{others[0]!r}"), best

    # 4. polarity
    pred, subject = _predicate(bare)
    # The passages saying something of the same subject with the same predicate
    # ("Linux is not supported" for "Linux is supported by the VPN client"),
    # else those naming what the claim names.
    cands = [p for p in sharing if pred in p.stems and subject <= p.stems] if pred and subject else []
    if not cands:
        cands = [p for p in sharing if (pred is None or pred in p.stems) and name_stems <= p.stems]
    if not cands and pred is not None:
        cands = [p for p in sharing if pred in p.stems]
    if not cands and name_stems:
        cands = [p for p in sharing if name_stems <= p.stems]
    polar, _ = _weighted_best(cands or sharing, cstems, name_stems, quantities)
    if polar is not None and cstems and len(cstems & polar.stems) / len(cstems) >= POLARITY_OVERLAP:
        # Compare what is negated: the predicate when both have it, else anything shared.
        shared = cstems & polar.stems
        key = {pred} if pred in shared else shared
        if bool(negated_stems(bare) & key) != bool(polar.negated & key):
            return "negation", "the closest passage says the opposite", polar

    # 5. content
    # Everyday words count only in a claim made of nothing else.
    missing_terms = {s for s in cstems - stems if BROADER.get(s) not in stems}
    specific = sorted(missing_terms - _COMMON_STEMS)
    weighed = (cstems - _COMMON_STEMS) or cstems
    if cstems and (specific or len(missing_terms & weighed) / len(weighed) > 1 - MIN_COVERAGE):
        what = ", ".join(specific) if specific else ", ".join(sorted(missing_terms))
        return "unsupported", f"no source mentions: {what}", best
    return None, "", best


def i_not_in(word: str, text: str) -> bool:
    return plain(word) not in plain(text)


def _same_kind(a: Quantity, b: Quantity) -> bool:
    if a.is_date or b.is_date:
        return a.is_date and b.is_date
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


def _quote_found(quote: str, ix: _Index) -> bool:
    return plain(quote) in ix.plain


@dataclass(frozen=True, slots=True)
class GroundingResult:
    """The answer's claims, the share the sources support, and the rest."""

    claims: int
    supported: int
    unsupported: tuple[Unsupported, ...]

    @property
    def score(self) -> float:
        return 1.0 if self.claims == 0 else self.supported / self.claims

    def reasons(self) -> frozenset[str]:
        return frozenset(u.reason for u in self.unsupported)

    def to_json(self) -> dict:
        return {"score": round(self.score, 4), "claims": self.claims, "supported": self.supported,
                "unsupported": [u.to_json() for u in self.unsupported]}


def check_grounding(answer: str, sources: tuple[Source, ...] | list[Source], backend: Any = None
                    ) -> GroundingResult:
    """Check every claim of `answer` against `sources` (module docstring).

    `backend` is an optional NLI model (:class:`~.backends.GroundingBackend`)
    asked about claims that fail only for want of shared words."""
    ix = build_index(tuple(sources))
    claims = extract_claims(answer)
    bad: list[Unsupported] = []
    for claim in claims:
        found = _check_claim(claim, ix, backend)
        if found is not None:
            bad.append(found)
    return GroundingResult(len(claims), len(claims) - len(bad), tuple(bad))


def _unsupported(c: Clause, reason: str, detail: str, p: Passage | None, ix: _Index) -> Unsupported:
    return Unsupported(c.start, c.end, c.text.strip(), reason, detail,
                       ix.sources[p.source].id if p is not None else None, p.text if p is not None else None)


def _check_claim(claim, ix: _Index, backend: Any) -> Unsupported | None:
    cited: set[int] = set()
    for raw in claim.citations:
        for key in re.split(r"\s*[,;]\s*", raw):
            i = _resolve(key, ix.sources)
            if i is None:
                span = next((c for c in claim.clauses if key in c.text), claim.clauses[-1])
                return _unsupported(span, "bad_citation", f"[{key}] names no source", None, ix)
            cited.add(i)
    for q in claim.quotes:
        if not _quote_found(q, ix):
            span = next((c for c in claim.clauses if q in c.text), claim.clauses[-1])
            return _unsupported(span, "bad_citation", f"the quotation {q!r} is in no source", None, ix)
    for clause in claim.clauses:
        if claim.quotes and any(q in clause.text for q in claim.quotes):
            continue  # a quotation found verbatim is its own support
        reason, detail, best = check_clause(clause, ix)
        if reason == "unsupported" and backend is not None and best is not None \
                and _entailed(backend, ix, best, clause.text):
            reason = None
        if reason is not None:
            return _unsupported(clause, reason, detail, best, ix)
        if cited:
            reason, detail, _best_cited = check_clause(clause, ix, cited)
            if reason is not None:
                ids = ", ".join(ix.sources[i].id for i in sorted(cited))
                return _unsupported(clause, "bad_citation", f"the cited source ({ids}) does not hold this: "
                                    f"{detail}", best, ix)
    return None


def _entailed(backend: Any, ix: _Index, best: Passage, hypothesis: str) -> bool:
    src = ix.sources[best.source].text
    premise = src if len(src) <= 2000 else best.text
    return float(backend.entails(premise, QUOTE.sub(r"\1", hypothesis))) >= ENTAILED
