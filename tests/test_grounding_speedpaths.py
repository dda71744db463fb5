"""The analysis of a source done the short way (issue 19's cost round after
heldout-8), each compared with the long way it replaced: the same answer
for every input. The speed is measured in docs/grounding.md's Cost section.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from guardrails.detectors.grounding.claims import _CANDIDATE_END
from guardrails.detectors.grounding.quantities import (
    _A_SCALE,
    _ALPHA,
    _DIGIT_START,
    _NUMBER_WORDS,
    _NUMERIC_DATE,
    _NUMERIC_DATE_ASCII,
    _QUANTITY_CS,
    QUANTITY,
    _quantity_matches,
    alpha_words,
    word_starts,
)
from guardrails.detectors.grounding.words import WORD, word_tokens
from tests.test_grounding_cost import PIECES

CORPUS = Path(__file__).parent / "grounding"


def corpus_texts() -> list[str]:
    """Every answer and source text of the development splits (a held-out split is never read)."""
    texts = []
    for path in sorted(CORPUS.glob("dev*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        texts += [c["answer"] for c in data["cases"]]
        texts += [s["text"] for group in data["sources"].values() for s in group]
    return texts


# Pieces where a word's edge is hard to read: letters that are no letters
# to str.isalpha (a combining mark, a superscript two), a title-case
# letter, digits of another script, and a word with one closing mark.
EDGES = [*PIECES, "\u0301", "²", "ǅ", "٣4", "a’", "users'", "x)", "x]", "y”", "z.", "é,", "A-", "-a", "a-b", "x2",
         "AES-256", "2nd", "\u2028", "\x1c", "\x85", "'s", "o'clock"]
EDGE_TEXTS = st.lists(st.sampled_from(EDGES), max_size=30).map("".join) | st.text(max_size=60)


def _tokens_long(text: str) -> tuple[list[str], set[str]]:
    toks = WORD.findall(text)
    return toks, set(alpha_words(toks))


@settings(max_examples=600, deadline=None)
@given(EDGE_TEXTS)
def test_word_tokens_is_the_word_regex(text):
    assert word_tokens(text) == _tokens_long(text)
    low = text.lower()
    assert word_tokens(low) == _tokens_long(low)


def test_word_tokens_is_the_word_regex_on_the_corpus():
    for text in corpus_texts():
        low = text.lower()
        assert word_tokens(low) == _tokens_long(low), text


def test_word_tokens_splits_marks_and_figures_as_the_regex_does():
    toks, letters = word_tokens("Refunds (not exchanges.) cost $1,200.50, e.g. AES-256 x2 users’ 3rd")
    assert toks == ["Refunds", "not", "exchanges", "cost", "1,200.50", "e", "g", "AES-256", "x2", "users", "3rd"]
    assert letters == {"Refunds", "not", "exchanges", "cost", "e", "g", "AES", "x", "users", "rd"}
    assert letters == set(re.findall(r"[^\W\d_]+", "Refunds (not exchanges.) cost $1,200.50, e.g. AES-256 x2 users’ 3rd"))


# claims._CANDIDATE_END as it was: an alternation, which re tries at every character.
_CANDIDATE_END_ALTERNATION = re.compile(r"[.!?]+[\"”’')\]]*(?=\s|$)|\n\s*\n?")
END_TEXTS = st.lists(st.sampled_from([*EDGES, ".", "!", "?", "?!", "...", ".\"", ".’)", ".]", "\n", "\n\n", " \n ",
                                      "\r\n", "x"]), max_size=30).map("".join)


@settings(max_examples=600, deadline=None)
@given(END_TEXTS | st.text(max_size=60))
def test_sentence_end_candidates_are_the_alternations(text):
    assert [m.span() for m in _CANDIDATE_END.finditer(text)] == \
        [m.span() for m in _CANDIDATE_END_ALTERNATION.finditer(text)]


def test_sentence_end_candidates_are_the_alternations_on_the_corpus():
    for text in corpus_texts():
        assert [m.span() for m in _CANDIDATE_END.finditer(text)] == \
            [m.span() for m in _CANDIDATE_END_ALTERNATION.finditer(text)], text


def _quantity_matches_long(text: str, number_words: frozenset[str], lowered: bool):
    """quantities._quantity_matches as it was: every digit found by _DIGIT_START
    and the ones inside a word or a figure passed over one by one."""
    quantity = _QUANTITY_CS if lowered else QUANTITY
    words_at = sorted(a for w in number_words for a in word_starts(text, w))
    if number_words & {"a", "hundred", "thousand"}:
        words_at = sorted(words_at + [m.start() for m in _A_SCALE.finditer(text)])
    wi = pos = 0
    while True:
        c = _DIGIT_START.search(text, pos)
        while c is not None and c.start() > 0 and text[c.start()].isdigit() and (
                text[c.start() - 1].isalnum() or text[c.start() - 1] in "_.,"):
            c = _DIGIT_START.search(text, c.start() + 1)
        at = c.start() if c is not None else len(text)
        while wi < len(words_at) and words_at[wi] < pos:
            wi += 1
        if wi < len(words_at) and words_at[wi] < at:
            at, end = words_at[wi], words_at[wi] + 1
        elif c is None:
            return
        else:
            end = c.end()
            if text[at] == "$" and text[max(0, at - 2):at].lower() == "us":
                at -= 2
            elif at >= 4 and text[at - 4:at].lower() in ("chf ", "usd ", "eur ", "gbp ", "jpy "):
                at -= 4
        m = quantity.match(text, at)
        if m is None:
            pos = end
            continue
        yield m
        pos = max(m.end(), end)


FIGURE_PIECES = ["$", "us$", "usd ", "3", "12", "1,200", "3.5", ".", ",", "_", "x", "a", "A", "b2", "-", " ", "%",
                 "k", "m", "days", "thirty", "one", "hundred", "a hundred", "/", "2024", "-03-", "march", "may",
                 "every", "weekly", "noon", "9:30", "pm", "twice", "half of", "é", "٣", "€"]
FIGURE_TEXTS = st.lists(st.sampled_from(FIGURE_PIECES), max_size=25).map("".join)


def _check_figures(text: str) -> None:
    for t, lowered in ((text, False), (text.lower(), True)):
        if lowered and len(t) != len(text):
            continue
        nw = _NUMBER_WORDS & frozenset(_ALPHA.findall(t.lower()))
        fast = [m.span() for m in _quantity_matches(t, nw, lowered, t.islower())]
        assert fast == [m.span() for m in _quantity_matches_long(t, nw, lowered)], t
        assert [m.start() for m in _NUMERIC_DATE_ASCII.finditer(t)] == \
            [m.start() for m in _NUMERIC_DATE.finditer(t)] or not t.isascii(), t
    low = text.lower()
    if low.isascii():  # find_quantities' reading of islower() for a lower-cased ASCII text
        assert bool(frozenset(_ALPHA.findall(low))) == low.islower(), text


@settings(max_examples=600, deadline=None)
@given(FIGURE_TEXTS | EDGE_TEXTS)
def test_figure_candidates_are_the_long_ways(text):
    _check_figures(text)


def test_figure_candidates_are_the_long_ways_on_the_corpus():
    for text in corpus_texts():
        _check_figures(text)


def test_a_digit_inside_a_word_or_figure_starts_no_figure():
    text = "x2 costs $1,200.50 or 3.5 kg, b_7 and 40%"
    assert [m.group() for m in _quantity_matches(text, frozenset(), False)] == ["$1,200.50", "3.5 kg", "40%"]
