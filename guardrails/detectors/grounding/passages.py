"""A source's sentences analysed once per text, and the index over one
request's sources that the claims are checked against.

A source is split into sentences (passages); each gets its content stems,
quantities (with a figure derived from "reduced by half"), and the stems it
denies (words.polarity). The analysis is cached by the text itself (and
its position among the request's sources), so a chunk checked against many
answers is analysed once. The index over a request's sources is built
lazily: a claim copied from a source needs only the sources' plain text,
and a claim otherwise reads only the passages sharing a word with it.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from functools import lru_cache

from guardrails.detectors.grounding.claims import sentences
from guardrails.detectors.grounding.quantities import (
    CURRENCIES,
    Quantity,
    find_quantities,
)
from guardrails.detectors.grounding.sources import Source
from guardrails.detectors.grounding.words import (
    ANY_NEGATION,
    FEE,
    NEGATION_CS,
    NEGATION_WORDS,
    content_stems,
    plain,
    polarity,
    stems_of,
    word_tokens,
)


def _polarity_field(i: int, doc: str) -> property:
    """Passage's i-th polarity set, worked out when first read."""
    return property(lambda p: (p._polarity or p._read_polarity())[i], doc=doc)


class Passage:
    """One sentence of a source, analysed. Read-only by convention, and
    compared by identity: each is analysed once, a claim's checks key dicts
    by it, and a plain slotted class is built several times faster than a
    frozen dataclass (a 4 KB source has about 80).

    The polarity of a sentence with a negation word is worked out when a
    check first reads it (most such sentences are never compared for
    polarity), unless its stems depend on it: "free", or a fee under a
    negation, adds the fee stem."""

    __slots__ = ("_asserts", "_polarity", "end", "quantities", "ranged", "source", "start", "stems", "text", "values")

    def __init__(self, source: int, start: int, end: int, text: str, stems: frozenset[str],
                 quantities: tuple[Quantity, ...], polarity: tuple[frozenset[str], ...] | None,
                 asserts: frozenset[str], values: frozenset[float], ranged: bool) -> None:
        self.source = source  # index into the sources
        self.start = start
        self.end = end
        self.text = text
        self.stems = stems
        self.quantities = quantities  # offsets into the source
        self._polarity = polarity  # _with_negated(words.polarity(text, asserts)); None: not read yet
        self._asserts = asserts
        self.values = values  # value_key of each quantity that is not a date: a cheap first test
        self.ranged = ranged  # states a range, which a value inside it matches without being in `values`

    def _read_polarity(self) -> tuple[frozenset[str], ...]:
        got = self._polarity = _with_negated(polarity(self.text, self._asserts))
        return got

    clause_negated = _polarity_field(0, "The stems a clause-level negation denies (words.polarity).")
    phrase_negated = _polarity_field(1, 'The stems a phrase-level negation denies ("without an exit fee").')
    mixed = _polarity_field(2, "Denied in one phrase, asserted in another: not compared.")
    clause_mixed = _polarity_field(3, "Of clause_negated, the ones asserted in another clause.")
    negated = _polarity_field(4, "clause_negated and phrase_negated together.")

    def __repr__(self) -> str:
        return f"Passage(source={self.source}, start={self.start}, text={self.text!r})"


def _with_negated(pol: tuple[frozenset[str], ...]) -> tuple[frozenset[str], ...]:
    """words.polarity()'s four sets, and the first two joined (Passage.negated)."""
    clause, phrase = pol[0], pol[1]
    return (*pol, clause | phrase if clause or phrase else clause)


class Chunk:
    """One source text analysed: its passages and the stems they hold."""

    __slots__ = ("passages", "stems")

    def __init__(self, passages: tuple[Passage, ...]) -> None:
        self.passages = passages
        self.stems = frozenset().union(*(p.stems for p in passages))


class SourceIndex:
    """Every passage of the request's sources, and what all of them hold.
    Built when first asked for: a claim copied from a source needs only the
    sources' plain text (check.py), and an answer made only of such claims
    never has its sources analysed. The sorted stems too: most claims do
    not need them."""

    __slots__ = ("_chunks", "_ordered", "_passages", "_plain", "_plains", "_stems", "sources")

    def __init__(self, sources: tuple[Source, ...]) -> None:
        self.sources = sources
        self._chunks: tuple[Chunk, ...] | None = None
        self._passages: tuple[Passage, ...] | None = None
        self._stems: frozenset[str] | None = None
        self._plain: str | None = None
        self._plains: tuple[str, ...] | None = None
        self._ordered: tuple[str, ...] | None = None

    @property
    def chunks(self) -> tuple[Chunk, ...]:
        """Each source analysed (analyse(), cached by text and position)."""
        if self._chunks is None:
            self._chunks = tuple(analyse(src.text, i) for i, src in enumerate(self.sources))
        return self._chunks

    @property
    def passages(self) -> tuple[Passage, ...]:
        if self._passages is None:
            self._passages = tuple(p for c in self.chunks for p in c.passages)
        return self._passages

    @property
    def stems(self) -> frozenset[str]:
        if self._stems is None:
            self._stems = frozenset().union(*(c.stems for c in self.chunks))
        return self._stems

    @property
    def plains(self) -> tuple[str, ...]:
        """Each source's text for substring tests (words.plain)."""
        if self._plains is None:
            self._plains = tuple(_plain_source(s.text) for s in self.sources)
        return self._plains

    @property
    def plain(self) -> str:
        """The sources' text for substring tests (words.plain), joined."""
        if self._plain is None:
            self._plain = " ".join(self.plains)
        return self._plain

    @property
    def ordered(self) -> tuple[str, ...]:
        """The stems, sorted: a prefix is found by bisection."""
        if self._ordered is None:
            self._ordered = tuple(sorted(self.stems))
        return self._ordered

    def overlaps(self, stems: set[str] | frozenset[str]) -> dict[Passage, int]:
        """The passages sharing a stem with `stems`, in source order, each
        with how many it shares: a claim reads only those. A disjointness
        test per passage, in C, and the intersection (a new set) only for
        the passages sharing a stem: an inverted index per chunk,
        built for every source, measured no faster in a call (a claim
        copied from a source is not compared at all)."""
        return {p: len(p.stems & stems) for p in self.passages if not p.stems.isdisjoint(stems)}


def value_key(q: Quantity) -> float:
    return round(q.value, 6)


@lru_cache(maxsize=4096)
def analyse(text: str, source: int = 0) -> Chunk:
    """A source's sentences, analysed once per text and position (the cache
    is keyed by the text itself, so an edited chunk is analysed again).
    Quantities are found in one pass over the whole text and handed to their
    sentences (their offsets stay the source's); negation is scoped only in
    the sentences where a negation word occurs."""
    spans = sentences(text)
    low = text.lower()
    if len(low) != len(text):  # lower-casing moved offsets (rare letters): the plain path
        return _analyse_slow(text, source, spans)
    # One split per sentence serves stems, negations and the figures' words.
    toks = []
    letters: set[str] = set()
    for s, e in spans:
        ts, ls = word_tokens(low[s:e])
        toks.append(ts)
        letters |= ls
    quantities = find_quantities(text, frozenset(letters))
    out = []
    qi = 0
    nq = len(quantities)
    # No hyphen or apostrophe anywhere: no sentence needs may_negate's scan.
    joined = "-" in low or "'" in low or "’" in low
    for (s, e), ts in zip(spans, toks):
        qs = []
        while qi < nq and quantities[qi].start < e:
            if quantities[qi].start >= s:
                qs.append(quantities[qi])
            qi += 1
        negated = not NEGATION_WORDS.isdisjoint(ts) or (joined and may_negate(low, s, e, ts))
        if qs or negated:
            out.append(_passage(text[s:e], source, s, e, qs, negated, stems_of(ts)))
        else:  # most sentences: no figure, no negation (_passage's result for them, without its tests)
            out.append(Passage(source, s, e, text[s:e], frozenset(stems_of(ts)), (), _NO_POLARITY, _NOTHING,
                               _NO_VALUES, False))
    return Chunk(tuple(out))


def may_negate(low: str, s: int, e: int, tokens: list[str]) -> bool:
    """Whether a negation word (words.NEGATION_CS) may occur in low[s:e],
    split by words.WORD into `tokens`: the sentence's words as a set, which
    is exact when no hyphen or apostrophe can join a negation to another
    word ("non-", "n't", "no-fee"), and the scan otherwise. A scan of every
    chunk cost more than finding its figures. True where the scan would not
    find one ("_no") only lets polarity() scan the sentence itself, as it
    does: the result is the same."""
    if not NEGATION_WORDS.isdisjoint(tokens):
        return True
    if low.find("-", s, e) < 0 and low.find("'", s, e) < 0 and low.find("’", s, e) < 0:
        return False
    return NEGATION_CS.search(low, s, e) is not None


def _analyse_slow(text: str, source: int, spans) -> Chunk:
    """analyse() for a text whose lower-casing changes its length."""
    quantities = find_quantities(text)
    negations = [m.start() for m in ANY_NEGATION.finditer(text)]
    out = []
    for s, e in spans:
        qs = [q for q in quantities if s <= q.start < e]
        negated = any(s <= n < e for n in negations)
        out.append(_passage(text[s:e], source, s, e, qs, negated, content_stems(text[s:e])))
    return Chunk(tuple(out))


def _passage(sent: str, source: int, s: int, e: int, qs: list[Quantity], negated: bool, stems: list[str]
             ) -> Passage:
    """One sentence's Passage: `negated` when a negation word may occur in it."""
    priced = ranged = False
    if qs:
        low = sent.lower()  # "half" or "doubl" in it first: _HALF's scan of every figure's sentence cost more
        if ("half" in low or "doubl" in low) and _HALF.search(sent):
            qs += _derived(qs, sent)
        for q in qs:  # one pass: a price, a range
            if q.unit in _PRICE_UNITS:
                priced = True
            if q.within is not None:
                ranged = True
        qs = tuple(qs)
    else:
        qs = ()
    asserts = _PRICED if priced else _NOTHING
    if not negated:
        pol = _NO_POLARITY
    elif priced or not (FEE in stems or "free" in sent.lower()):
        # The fee stem cannot come from polarity (a price gives it anyway, or
        # neither "free" nor a word for a fee is there): read when first asked.
        pol = None
    else:
        pol = _with_negated(polarity(sent, asserts))
    if priced or (pol is not None and (FEE in pol[1] or FEE in pol[2])):
        stems = [*stems, FEE]  # a price, or "free": what the sentence says of a fee
    return Passage(source, s, e, sent, frozenset(stems), qs, pol, asserts, _values(qs), ranged)


_NOTHING: frozenset[str] = frozenset()
_NO_POLARITY = (_NOTHING,) * 5
_PRICE_UNITS = CURRENCIES | {"cent"}
_PRICED = frozenset([FEE])
_HALF = re.compile(r"\b(?:half|halved|double|doubled)\b", re.IGNORECASE)


def _derived(qs: list[Quantity], sentence: str) -> list[Quantity]:
    """A figure a sentence derives from one it gives: "a penalty of £70,
    reduced by half" gives £35 too; "doubled" twice the figure."""
    words = {w.lower() for w in _HALF.findall(sentence)}
    factors = ([0.5] if words & {"half", "halved"} else []) + ([2.0] if words & {"double", "doubled"} else [])
    return [q._replace(value=q.value * f) for q in qs if q.unit is not None and not q.is_date for f in factors]


_plain_source = lru_cache(maxsize=4096)(plain)


def _values(qs: tuple[Quantity, ...]) -> frozenset[float]:
    """The value keys of a passage's quantities, and the hours of its times
    of day ("6 am" holds 6 for "opens at 6")."""
    if not qs:
        return _NO_VALUES  # most sentences: nothing to build
    out = set()
    for q in qs:
        unit = q.unit
        if unit == "clock":
            out.update(float(h) for r in q.value if r % 60 == 0 for h in (r // 60, (r // 60) % 12 or 12))
        elif unit != "date":
            out.add(round(q.value, 6))  # value_key
            if q.written is not None:
                out.add(q.written)
    return frozenset(out)


_NO_VALUES: frozenset[float] = frozenset()


def build_index(sources: tuple[Source, ...]) -> SourceIndex:
    """The index over `sources`; each is analysed when a claim first needs it."""
    return SourceIndex(sources)


#: The shortest stem a longer word may be matched by as its prefix.
PREFIX = 5


def by_prefix(word: str, stems: frozenset[str], ordered: tuple[str, ...]) -> bool:
    """Whether the sources hold a word that `word` begins ("refundable" and
    "refund") or that begins with `word` ("photo" and "photography",
    "overpay" and "overpayments"): one family of words, which the light
    stemmer does not join."""
    if len(word) >= PREFIX:
        i = bisect_left(ordered, word)
        if i < len(ordered) and ordered[i].startswith(word):
            return True
    return any(word[:n] in stems for n in range(PREFIX, len(word)))
