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
from guardrails.detectors.grounding.quantities import alpha_words
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
