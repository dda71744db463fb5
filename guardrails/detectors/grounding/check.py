"""Judge each claim of an answer against the sources, one check at a time.

A claim is flagged only on positive evidence that something is wrong. The
checks run in this order, and the first that fails names the reason:

1. ``bad_citation``: a citation ``[2]`` / ``[doc-3]`` names no source, or a
   quoted passage is in no source.
2. ``number_mismatch`` / ``missing_number``: a number, quantity, date or time
   of day of the claim is in no source passage about the same thing; a
   mismatch when such a passage holds a value of the same kind (30 days where
   the claim says 90).
3. ``entity_missing``: a name, code, name with its number or key term is in
   no source, or the passage that best supports the claim names another one
   instead (the Basic plan where the claim says the Premium plan).
4. ``negation``: the closest passages holding the claim's predicate deny it,
   or deny under a phrase negation what the claim asserts ("without an exit
   fee"), and none of them agrees.
5. ``unsupported``: the claim brings a word no source has that names a thing
   (not an everyday word, not one that reads as a verb), or shares under half
   its words with the sources; an NLI backend, when configured, may still
   find the claim entailed.
6. ``bad_citation`` again: a cited source exists but does not hold the claim.

Sources are analysed once per text (passages.analyse, cached) so a chunk
checked against many answers is split and normalised once.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from guardrails.detectors.grounding.claims import (
    CITATION,
    QUOTE,
    Clause,
    extract_claims,
)
from guardrails.detectors.grounding.passages import (
    Passage,
    SourceIndex,
    build_index,
    by_prefix,
    value_key,
)
from guardrails.detectors.grounding.quantities import (
    CURRENCIES,
    MONTHS,
    Quantity,
    find_quantities,
)
from guardrails.detectors.grounding.sources import Source
from guardrails.detectors.grounding.words import (
    BROADER,
    COMMON,
    FEE,
    STOPWORDS,
    WORD,
    content_stems,
    function_contraction,
    plain,
    polarity,
    stem,
    verb_like,
)

REASONS: tuple[str, ...] = ("missing_number", "number_mismatch", "entity_missing", "negation", "bad_citation",
                            "unsupported")

_COMMON_STEMS = frozenset(stem(w) for w in COMMON)
_NOT_NAMES = frozenset([*MONTHS, "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"])
_AUX = re.compile(r"\b(?:is|are|was|were|be|been|can|may|must|will|shall|should|has|have|had|does|do|did|"
                  r"cannot|can't|isn't|aren't|won't|doesn't|don't)\b", re.IGNORECASE)
_NAME_BEFORE = re.compile(r"\b([A-Z][A-Za-z-]*)\s+$")
_NOT_A_MODEL = STOPWORDS | _NOT_NAMES
_TOKEN = re.compile(r"\w(?:[\w.-]*\w)?")
_AUX_CS = re.compile(_AUX.pattern)  # on lower-cased text: several times faster than IGNORECASE
_NEGATED_BOUND = re.compile(r"\b(?:no|not|never|cannot|\w+n't)\b[^,;]*\b(?:(?:more|longer|later)\s+than|exceed\w*)\b",
                            re.IGNORECASE)
# "does not need to be approved": the predicate is "approved".
_MODAL_LIKE = re.compile(r"\b(?:need|needs|able|going|want|wants|required|supposed|allowed)\s+to\b", re.IGNORECASE)
#: The share of a claim's content words the passage compared for polarity must hold.
POLARITY_OVERLAP = 0.5
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

    def to_json(self) -> dict:
        return {"start": self.start, "end": self.end, "text": self.text, "reason": self.reason,
                "detail": self.detail, "source_id": self.source_id, "passage": self.passage}


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
    for i, w in enumerate(WORD.findall(clause)):
        k = kinds.get(w)
        if k is None:
            if len(kinds) >= 100_000:
                kinds.clear()
            k = kinds[w] = _kind(w)
        if k == 1 or (k == 3 and i > 0):
            names.append(w)
            keys.append(w)
        elif k == 2 or k == 3 and "-" in w and not w.lower().startswith("non-"):
            keys.append(w)
    return names, keys


def _has_key(ix: SourceIndex, allowed: set[int] | None, stems: frozenset[str], key: str) -> bool:
    """Whether the sources hold a name or key term: each of its words, or
    the term itself in their plain text (built only when the words fail)."""
    if all(stem(p) in stems for p in re.split(r"[-\s]+", key) if p):
        return True
    if allowed is None:
        return plain(key) in ix.plain
    return plain(key) in " ".join(_plain_text(ix.sources[i].text) for i in sorted(allowed))


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


def _most_shared(passages, overlap: dict[Passage, int], extra: str | None, quantities=()) -> list[Passage]:
    """The passages sharing most words with the claim (`overlap`, plus one
    for `extra` when a passage holds it; its quantities break ties), in
    source order."""
    values = frozenset(value_key(q) for q in quantities if not q.is_date)
    best: list[Passage] = []
    best_w = 0.0
    for p in passages:
        n = overlap.get(p, 0) + (extra is not None and extra in p.stems)
        if not n:
            continue
        w = n + (0.5 * len(values & p.values) if values and p.values else 0)
        if w > best_w:
            best, best_w = [p], w
        elif w == best_w:
            best.append(p)
    return best


def _flips(p: Passage, cstems, pred, subject, c_clause, c_phrase, c_mixed, c_clause_mixed) -> bool:
    """Whether passage `p` says the opposite of the claim (step 4)."""
    shared = cstems & p.stems
    if pred is not None and pred in p.stems:
        flipped = (pred in c_clause or pred in c_phrase) != (pred in p.negated)
    else:  # the predicate put another way: the clause's polarity, on what is said of the subject
        rest = shared - subject
        # (a stem one clause denies and another asserts cannot be told apart here: not compared)
        flipped = bool(rest) and bool((c_clause - c_clause_mixed) & rest) != bool((p.clause_negated - p.clause_mixed)
                                                                                  & rest)
    return flipped or bool((shared - subject - {pred} - c_mixed - p.mixed) & (c_phrase ^ p.phrase_negated))


def _predicate(clause: str) -> tuple[str | None, frozenset[str]]:
    """(the first content word after the clause's first auxiliary verb, the
    content words before it: the subject)."""
    low = clause.lower()
    m = (_AUX_CS if len(low) == len(clause) else _AUX).search(low)
    if m is None:
        return None, frozenset()
    tail = clause[m.end():]
    rest = content_stems(_MODAL_LIKE.sub(" ", tail) if " to " in tail else tail)
    return (rest[0] if rest else None), frozenset(content_stems(clause[:m.start()]))


def _blank(m: re.Match) -> str:
    return " " * len(m.group())


def check_clause(clause: Clause, ix: SourceIndex, allowed: set[int] | None = None
                 ) -> tuple[str | None, str, Passage | None]:
    """(reason or None, detail, closest passage) for one clause. `allowed`:
    the indices of the only sources to consider (a citation's)."""
    text = CITATION.sub(_blank, clause.text)  # blanked in place: offsets stay the clause's
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
    for q in quantities:
        if q.unit is None and text[q.start:q.end].lower() == "one":
            continue  # "one licence", "from one user to another": an article or a pronoun more than a count
        key = None if q.is_date else value_key(q)
        if any(_supports(sq, q) for p in near if key is None or key in p.values or p.ranged for sq in p.quantities):
            continue
        if key is not None and not any(sq.unit == q.unit for p in near for sq in p.quantities) \
                and _in_same_chunk(q, key, near, ix, allowed):
            continue
        kin = next((p for p in near for sq in p.quantities if _same_kind(q, sq)), None)
        shown = clause.text[q.start:q.end] if q.end <= len(clause.text) else str(q.value)
        if kin is not None:
            return "number_mismatch", f"{shown!r}: the sources give another value", kin
        return "missing_number", f"{shown!r} is in no source", best

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
            return "entity_missing", f"{k!r} is in no source", best
    if best is not None:
        missing = [n for n in names if stem(n) not in best.stems and plain(n) not in _plain_text(best.text)]
        if missing:
            _, other = _names(best.text)
            others = [o for o in other if o[0].isupper() and i_not_in(o, bare)]
            if others:
                return "entity_missing", (f"{missing[0]!r}: the passage that supports the claim names "
                                          f"{others[0]!r}"), best

    # 4. polarity, against the passage that best matches the claim and holds
    # its predicate (the first content word after its first auxiliary).
    # Positive evidence only: the predicate denied on one side and not the
    # other ("is covered" / "is not covered"); a thing the claim speaks of
    # under a phrase negation on one side only ("without an exit fee",
    # "outside the morning peak", "but not in temporary exhibitions"); for a
    # claim without an auxiliary, a clause negation on one side only. The
    # subject is not compared: "No student can take more than six" denies
    # nothing of students that "Students may take at most 6" asserts.
    pred, subject = _predicate(bare)
    # "No student can take more than six" is a bound the number check judges, not a denial.
    bound = _NEGATED_BOUND.search(bare) is not None
    cands = [p for p in sharing if pred in p.stems] if pred is not None else []
    if subject and cands:  # about the same subject: all of it, else some of it, else another passage
        cands = [p for p in cands if subject <= p.stems] or [p for p in cands if subject & p.stems]
    c_clause, c_phrase, c_mixed, c_clause_mixed = polarity(bare)
    extra = FEE if FEE in c_phrase and FEE not in cstems else None  # "free" speaks of a fee (passages.analyse)
    pstems = cstems | {FEE} if extra else cstems
    closest = _most_shared(cands or sharing, overlap, extra, quantities)
    # A contradiction needs every passage as close as the closest to say the
    # opposite: one that agrees is support.
    if closest and not bound and len(pstems & closest[0].stems) >= POLARITY_OVERLAP * len(pstems) \
            and all(_flips(p, pstems, pred, subject, c_clause, c_phrase, c_mixed, c_clause_mixed) for p in closest):
        return "negation", "the closest passage says the opposite", closest[0]

    # 5. content
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
        weak = _COMMON_STEMS | verb_like(bare)
        specific = sorted(missing_terms - weak)
        weighed = (cstems - _COMMON_STEMS) or cstems
        if specific or len(missing_terms & weighed) / len(weighed) > 1 - MIN_COVERAGE:
            what = ", ".join(specific) if specific else ", ".join(sorted(missing_terms))
            return "unsupported", f"no source mentions: {what}", best
    return None, "", best


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
    return claim_q.same(source_q)


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


def _unsupported(c: Clause, reason: str, detail: str, p: Passage | None, ix: SourceIndex) -> Unsupported:
    return Unsupported(c.start, c.end, c.text.strip(), reason, detail,
                       ix.sources[p.source].id if p is not None else None, p.text if p is not None else None)


def _check_claim(claim, ix: SourceIndex, backend: Any) -> Unsupported | None:
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


def _entailed(backend: Any, ix: SourceIndex, best: Passage, hypothesis: str) -> bool:
    src = ix.sources[best.source].text
    premise = src if len(src) <= 2000 else best.text
    return float(backend.entails(premise, QUOTE.sub(r"\1", hypothesis))) >= ENTAILED
