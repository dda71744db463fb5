"""The grounding check's fast paths (issue 19's cost goal), each compared
with the long way it replaces: the same answer for every input.

The speed itself is measured by the benchmark (benchmarks/sections/
grounding.py) and docs/grounding.md's Cost section, not here.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from guardrails.detectors.grounding.claims import (
    _ABBREVIATION,
    _CANDIDATE_END,
    _CLOCK_ABBREVIATION,
    _GOES_ON,
    CITATION,
    QUOTE,
    extract_claims,
    sentences,
    without_citations,
)
from guardrails.detectors.grounding.passages import analyse, may_negate
from guardrails.detectors.grounding.quantities import _EVERY, every_before
from guardrails.detectors.grounding.words import (
    NEGATION_CS,
    WORD,
    clause_words,
    content_stems,
    plain,
    plain_by_regex,
    polarity,
)

CORPUS = Path(__file__).parent / "grounding"

# Pieces that meet the fast paths' edges: dots between digits and not,
# hyphens and apostrophes joining negations to words, curly quotes, currency
# signs, letters whose lower case is longer, punctuation the table does not
# map, and spaces of every kind.
PIECES = ["no", "not", "non-", "n't", "n’t", "don't", "can’t", "free", "-free", "without", "no-fee", "_no",
          "3no", "x-no", "NOT", "Non-refundable", "3.5", "1,200.00", "e.g.", "approx.", "5.", ".5", "..", "$",
          "€", "£", "%", "'", "’", "‘", "“", "”", "«", "»", "—", "–", "…", "•", "†", "©", "\u00a0", "\u2009",
          "\t", "\n", " ", "  ", ",", ";", ":", "!", "?", "(", ")", "[", "]", "-", "_", "İ", "ß", "é", "٣",
          "half", "doubled", "fee", "is", "covered", "refund", "Plan", "30", "days"]
TEXTS = st.lists(st.sampled_from(PIECES), max_size=30).map("".join) | st.text(max_size=60)


def _corpus_texts() -> list[str]:
    texts = []
    for path in sorted(CORPUS.glob("dev*.yaml")):  # a held-out split is never read
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        texts += [c["answer"] for c in data["cases"]]
        texts += [s["text"] for group in data["sources"].values() for s in group]
    return texts


def _clause_words_long(text: str, low: str) -> tuple[list[str], list[bool]]:
    """clause_words() the long way: a match object per word, as polarity()
    read them before."""
    src = low if len(low) == len(text) else text
    ws, breaks, last = [], [], 0
    for m in WORD.finditer(src):
        gap = src[last:m.start()]
        breaks.append(gap != " " and any(ch in ",;:.!?()" for ch in gap))
        ws.append(m.group().lower().replace("’", "'"))
        last = m.end()
    return ws, breaks


def test_plain_is_the_regex_on_the_corpus():
    for text in _corpus_texts():
        assert plain(text) == plain_by_regex(text), text
        for s, e in sentences(text):
            assert plain(text[s:e]) == plain_by_regex(text[s:e]), text[s:e]


@settings(max_examples=400, deadline=None)
@given(TEXTS)
def test_plain_is_the_regex(text):
    assert plain(text) == plain_by_regex(text)


def test_plain_keeps_a_dot_only_between_digits():
    assert plain("Costs $1,200.50 (approx.), e.g. 3.5 kg… or “5.”") == " costs $1 200.50 approx e g 3.5 kg or 5 "


@settings(max_examples=400, deadline=None)
@given(TEXTS)
def test_clause_words_is_a_match_per_word(text):
    assert clause_words(text, text.lower()) == _clause_words_long(text, text.lower())


def _negation_flags_long(text: str) -> list[bool]:
    """analyse()'s negation test the long way: one scan of the chunk, each
    sentence flagged where a match starts inside it."""
    low = text.lower()
    starts = [m.start() for m in NEGATION_CS.finditer(low)]
    return [any(s <= n < e for n in starts) for s, e in sentences(text)]


def _check_may_negate(text: str) -> None:
    low = text.lower()
    if len(low) != len(text):
        return  # analyse() takes its plain path there
    for (s, e), long in zip(sentences(text), _negation_flags_long(text)):
        fast = may_negate(low, s, e, WORD.findall(low, s, e))
        if long:
            assert fast, text[s:e]  # never misses a negation the scan finds
        elif fast:  # a sentence flagged that the scan does not: polarity finds nothing there either
            assert polarity(text[s:e]) == (frozenset(),) * 4, text[s:e]


def test_may_negate_finds_what_the_scan_finds_on_the_corpus():
    for text in _corpus_texts():
        _check_may_negate(text)


@settings(max_examples=400, deadline=None)
@given(TEXTS)
def test_may_negate_finds_what_the_scan_finds(text):
    _check_may_negate(text)


def test_may_negate_reads_joined_negations():
    for sentence in ("It is non-refundable.", "You can't pay.", "You can’t pay.", "A no-fee account.",
                     "It is not covered.", "Travel free."):
        low = sentence.lower()
        assert may_negate(low, 0, len(low), WORD.findall(low)), sentence
    low = "refunds are paid within 5 days."
    assert not may_negate(low, 0, len(low), WORD.findall(low))


def test_a_sources_passages_are_the_same_read_whole_or_alone():
    """analyse() on a text gives each sentence the polarity that sentence
    has alone (the negation test is only a filter)."""
    for text in _corpus_texts():
        for p in analyse(text, 0).passages:
            priced = any(q.unit in {"USD", "EUR", "GBP", "CHF", "JPY", "cent"} for q in p.quantities)
            clause, phrase, mixed, clause_mixed = polarity(p.text, frozenset(["fee"]) if priced else frozenset())
            assert (p.clause_negated, p.phrase_negated, p.mixed, p.clause_mixed) == (clause, phrase, mixed,
                                                                                     clause_mixed), p.text
            assert p.negated == clause | phrase
            # the fee stem as the eager analysis gave it: a price, or a fee under a phrase negation ("free")
            fee = priced or "fee" in phrase or "fee" in mixed
            assert ("fee" in p.stems) == (fee or "fee" in content_stems(p.text)), p.text


def test_polarity_read_late_is_the_polarity():
    """A passage's polarity, worked out when first read, is the sentence's;
    "free" is in its stems at once."""
    chunk = analyse("Dental care is not covered. Parking is free. There is no exit fee. Rooms cost $90.", 0)
    covered, parking, exit_fee, rooms = chunk.passages
    assert covered._polarity is None  # not worked out until read
    assert "cover" in covered.clause_negated and covered._polarity is not None
    assert "fee" in parking.stems and "fee" in parking.phrase_negated
    assert "fee" in exit_fee.stems and "fee" in exit_fee.negated
    assert "fee" in rooms.stems and not rooms.negated


# Round 2: "every" read backwards, the abbreviation tests skipped by the
# character before a sentence end.
EVERY_PIECES = ["every", "Every", "EVERY", "everyone", "xevery", "_every", "3every", " ", "  ", "\n", "\t",
                "\u00a0", "\u2009", "6", "six", "months", "days", "a", "é", "-", "."]


def _every_long(text: str, at: int) -> bool:
    return _EVERY.search(text, 0, at) is not None


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(EVERY_PIECES), max_size=12).map("".join) | st.text(max_size=30))
def test_every_before_is_the_search(text):
    for at in range(len(text) + 1):
        assert every_before(text, at) == _every_long(text, at), (text, at)


def test_every_before_reads_every_with_space_only():
    assert every_before("billed every  6 months", 14)
    assert not every_before("billed everyone 6 months", 16)
    assert not every_before("billed every6 months", 12)


def _sentence_ends_long(text: str) -> list[tuple[int, int]]:
    """claims.sentences() with both abbreviation regexes tried at every end."""
    out, start = [], 0
    for m in _CANDIDATE_END.finditer(text):
        s = m.start()
        if text[s] != "\n" and _ABBREVIATION.search(text, max(0, s - 6), s) is not None:
            continue
        if text[s] == "." and _CLOCK_ABBREVIATION.search(text, max(0, s - 4), s) is not None \
                and _GOES_ON.match(text, m.end()) is not None:
            continue
        out.append((start, m.end()))
        start = m.end()
    out.append((start, len(text)))
    trimmed = []
    for s, e in out:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s < e:
            trimmed.append((s, e))
    return trimmed


END_PIECES = ["e.g", "i.e", "vs", "Mr", "Dr", "Ms", "No", "A", "Z", "a.m", "P.M", "pm", "x", ".", "!", "?", ")",
              "”", " ", "\n", "\n\n", "10", "to", "be", "é", "."]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(END_PIECES), max_size=25).map("".join) | st.text(max_size=60))
def test_sentences_skip_no_abbreviation(text):
    assert sentences(text) == _sentence_ends_long(text)


def test_sentences_skip_no_abbreviation_on_the_corpus():
    for text in _corpus_texts():
        assert sentences(text) == _sentence_ends_long(text)


# A text without "[" holds no citation, one without a double quote no quote:
# both regexes are skipped there.
CITE_PIECES = ["[", "]", "[1]", "[2, 3]", "[doc-3]", "[source 2]", "(", ")", "x", "Optional", "items", "\"",
               "“", "”", "quoted text", " ", "30 days", ".", "é"]
CITE_TEXTS = st.lists(st.sampled_from(CITE_PIECES), max_size=20).map("".join) | st.text(max_size=60)


@settings(max_examples=400, deadline=None)
@given(CITE_TEXTS)
def test_without_citations_is_the_substitution(text):
    assert without_citations(text) == CITATION.sub(" ", text)
    assert without_citations(text, "") == CITATION.sub("", text)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters='["“'), max_size=80))
def test_no_citation_or_quote_without_its_character(text):
    assert CITATION.search(text) is None
    assert QUOTE.search(text) is None


def test_claims_citations_and_quotes_on_the_corpus():
    for text in _corpus_texts():
        for claim in extract_claims(text):
            assert claim.citations == tuple(m.group(1) for m in CITATION.finditer(claim.text))
            assert claim.quotes == tuple(m.group(1) for m in QUOTE.finditer(claim.text))


# Round 3: the cold start. The grounding checks are imported when a policy
# first uses them, not with guardrails.functions or the package.

ROOT = Path(__file__).resolve().parent.parent


def test_the_builtins_reasons_are_the_detectors():
    from guardrails.detectors.grounding.check import REASONS
    from guardrails.functions_grounding import REASONS as WRITTEN

    assert WRITTEN == REASONS


def test_importing_guardrails_imports_no_grounding_check():
    import subprocess
    import sys

    code = ("import sys, guardrails, guardrails.cli, guardrails.functions, guardrails.engine; "
            "print(sorted(m for m in sys.modules if m.startswith('guardrails.detectors.grounding.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    # the request's sources and the backend loader only: what the engine reads at start
    assert out.stdout.strip() == "['guardrails.detectors.grounding.backends', 'guardrails.detectors.grounding.sources']"


def test_a_policy_using_grounded_imports_the_check_and_decides():
    import subprocess
    import sys

    code = ("import sys\n"
            "from guardrails import Engine\n"
            "from guardrails.detectors import grounding\n"
            "assert 'guardrails.detectors.grounding.check' not in sys.modules\n"
            "e = Engine.from_source('policy \"p\" version \"1.0.0\"\\noutput { rule r: deny \"x\" when not grounded() }\\n')\n"
            "assert 'guardrails.detectors.grounding.check' in sys.modules\n"
            "d = e.check_output('The refund window is 90 days.', sources=['Refunds within 30 days.'])\n"
            "print(d.outcome.value, grounding.REASONS is sys.modules['guardrails.detectors.grounding.check'].REASONS)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["deny", "True"]


def test_the_package_names_every_export_and_no_other():
    from guardrails.detectors import grounding

    for name in grounding.__all__:
        assert getattr(grounding, name) is not None, name
    try:
        grounding.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("an unknown name was found")


# Round 3: how often without a figure ("every year", "collected weekly") is
# found by trying BARE_FREQUENCY only where its first word occurs.
FREQUENCY_PIECES = ["every", "once", "daily", "nightly", "weekly", "monthly", "yearly", "annually", "xevery",
                    "onces", "day", "days", "week", "month", "year", "night", "a", "an", "per", "each", "on",
                    "for", "Every", "WEEKLY", "paid", "x", " ", "  ", "\n", ".", ",", ")", "-", "_", "é", "3"]


def _check_bare_frequencies(text: str) -> None:
    from guardrails.detectors.grounding.quantities import BARE_FREQUENCY, BARE_FREQUENCY_CS, bare_frequencies

    long = (BARE_FREQUENCY_CS if text.islower() else BARE_FREQUENCY).finditer(text)
    assert [m.span() + m.groups() for m in bare_frequencies(text)] == [m.span() + m.groups() for m in long], text


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(FREQUENCY_PIECES), max_size=20).map(" ".join)
       | st.lists(st.sampled_from(FREQUENCY_PIECES), max_size=20).map("".join) | st.text(max_size=40))
def test_bare_frequencies_are_the_regex(text):
    _check_bare_frequencies(text)
    _check_bare_frequencies(text.lower())


def test_bare_frequencies_are_the_regex_on_the_corpus():
    for text in _corpus_texts():
        _check_bare_frequencies(text)
        _check_bare_frequencies(text.lower())


def test_overlaps_are_the_intersections_on_the_corpus():
    """SourceIndex.overlaps() (a disjointness test first) gives the passages
    sharing a stem, in order, with the count: the intersection of each."""
    from guardrails.detectors.grounding.passages import build_index
    from guardrails.detectors.grounding.sources import Source

    texts = _corpus_texts()
    ix = build_index(tuple(Source(str(i), t) for i, t in enumerate(texts[:200])))
    for text in texts[:300]:
        stems = set(content_stems(text))
        long = {p: n for p in ix.passages if (n := len(p.stems & stems))}
        fast = ix.overlaps(stems)
        assert list(fast.items()) == list(long.items()), text
    assert ix.overlaps(set()) == {}
