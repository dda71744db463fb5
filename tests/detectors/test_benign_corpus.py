"""The shipped term lists on the benign corpus: the Scunthorpe problem stays away.

``corpus/benign/terms.txt`` holds texts that brush against the shipped
policies' terms without using them (a term inside a longer word, two real
words that a split or a join would glue into a term, look-alike scripts,
markup, one-letter words). Every ``terms`` list and ``topic`` of
``policies/*.policy`` is matched against it, and at most 1% of the lines may
be flagged.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from guardrails import ast
from guardrails.detectors import TermMatcher
from guardrails.parser import parse

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "corpus" / "benign" / "terms.txt"
MAX_FLAGGED = 0.01


def shipped_term_lists() -> dict[str, list[str]]:
    """``policy/name`` -> the terms of each terms list and topic in policies/*.policy."""
    lists: dict[str, list[str]] = {}
    for path in sorted((ROOT / "policies").glob("*.policy")):
        result = parse(path.read_text(encoding="utf-8"), str(path))
        assert result.policy is not None, f"{path}: does not parse"
        for d in result.policy.definitions:
            if isinstance(d, ast.TermsDef):
                lists[f"{path.stem}/{d.name}"] = [str(t.value) for t in d.terms]
            elif isinstance(d, ast.TopicDef):
                lists[f"{path.stem}/{d.name}"] = [t.text for t in d.terms]
    return lists


def corpus_lines() -> list[str]:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def test_the_corpus_is_large_enough_and_covers_every_shipped_list() -> None:
    lines = corpus_lines()
    assert len(lines) >= 300
    assert len(set(lines)) == len(lines), "duplicate lines in the corpus"
    lists = shipped_term_lists()
    # the lists this corpus was written against; a new shipped list needs lines too
    assert set(lists) >= {"coding-assistant/destructive_commands", "rag-search/internal_markers",
                          "rag-search/hr_confidential", "support-bot/medical", "support-bot/legal"}


def test_shipped_term_lists_flag_at_most_one_percent_of_the_benign_corpus() -> None:
    lines = corpus_lines()
    matchers = {name: TermMatcher(terms) for name, terms in shipped_term_lists().items()}
    flagged = {}
    for line in lines:
        hits = [f"{name}: {line[f.start:f.end]!r}" for name, m in matchers.items() for f in m.find(line)]
        if hits:
            flagged[line] = hits
    rate = len(flagged) / len(lines)
    assert rate <= MAX_FLAGGED, f"{len(flagged)}/{len(lines)} lines flagged ({rate:.1%}): {flagged}"


@pytest.mark.parametrize("line", [
    "The determination of the panel will be published next week.",
    "We pursue every late invoice within thirty days.",
    "Do sage and rosemary grow well together?",
    "The new law suits small firms better than the old one.",
    "The confidentiality clause survives the end of the contract.",
])
def test_classic_near_misses_stay_clean(line: str) -> None:
    for name, terms in shipped_term_lists().items():
        assert TermMatcher(terms).find(line) == [], name
