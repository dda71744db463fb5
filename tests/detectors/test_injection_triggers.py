"""The fast paths of injection(): each one is checked against the slow way it replaces.

The trigger gate, the first-literal prefilter, the gated searches, the carriers'
word tests and the model's block sums are shortcuts that must never change a
result. Each test runs the shortcut and its reference on the whole corpus (and
on generated text) and asks for the same answer.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guardrails.detectors.injection import carriers, model, phrases, signals, triggers
from guardrails.detectors.injection.triggers import (
    Gate,
    first_literals,
    occurrences,
    text_words,
)
from guardrails.detectors.normalize import normalize

ROOT = Path(__file__).resolve().parents[2]


def _corpus() -> list[str]:
    texts = []
    for name in ("train.jsonl", "heldout.jsonl"):
        with (ROOT / "corpus" / "injection" / name).open(encoding="utf-8") as f:
            texts += [json.loads(line)["text"] for line in f if line.strip()]
    return texts


CORPUS = _corpus()
# Long texts too: the corpus glued together, so the windows, the blocks and the
# long-text paths of the carriers are exercised.
LONG = ["\n\n".join(CORPUS[i : i + 40]) for i in range(0, len(CORPUS), 400)]
FOLDED = [normalize(t).text for t in CORPUS[::3] + LONG]

_PIECES = st.sampled_from(
    ["ignore ", "all ", "previous ", "instructions", " you are now ", "dan", "system", ": ", "\n", "<|im_start|>",
     "reveal ", "your ", "prompt", "verbatim", "word for word", "a partir de ahora eres ", "qu'est-ce", "quest-ce ",
     "attackers ", "e.g. ", "such as ", "\"", "'", " + ", "concatenate ", "base64 ", "vtaber ", "QUJD" * 5,
     "忽略", "指令", "ü", "\u200b", "x", " ", ".", "-", "_", "summarise ", "note to the ai: ", "send ", "chat history ",
     "exactly ", "in full", "wortlaut ", "tal cual ", "逐字", "show me ", "tell ", "traduis ", "what ", "显示", "red-team ",
     "well-known ", "prompt-injection ", "inputs like ", "classifier ", "攻击"]
)
TEXTS = st.lists(_PIECES, max_size=40).map("".join) | st.text(max_size=120)


# --- the gate -----------------------------------------------------------------------------

GATES = {
    "phrases": (signals._GATE, signals._ALL_KEYS),
    "discussion": (signals._DISCUSSION_GATE, phrases.DISCUSSION_KEYS),
    "verbatim": (signals._VERBATIM_GATE, phrases.VERBATIM_KEYS),
    "show": (signals._SHOW_GATE, phrases.SHOW_KEYS),
}


def _occurring(t: str, keys: tuple[str, ...]) -> set[str]:
    return {k for k in keys if next(occurrences(t, k), None) is not None}


@pytest.mark.parametrize("name", GATES)
def test_the_gate_reports_every_key_that_occurs(name: str) -> None:
    gate, keys = GATES[name]
    for t in FOLDED:
        assert _occurring(t, keys) <= gate.present(t, text_words(t)), t[:80]


@settings(derandomize=True, deadline=None, max_examples=300)
@given(TEXTS)
def test_the_gate_reports_every_key_that_occurs_in_any_text(text: str) -> None:
    t = normalize(text).text
    for gate, keys in GATES.values():
        assert _occurring(t, keys) <= gate.present(t, text_words(t))


@pytest.mark.parametrize(
    ("pattern", "gate"),
    [("DISCUSSION", "discussion"), ("VERBATIM", "verbatim"), ("SHOW", "show")],
)
def test_a_search_the_gate_rules_out_finds_nothing(pattern: str, gate: str) -> None:
    rx = getattr(phrases, pattern)
    for t in FOLDED:
        if rx.search(t):
            assert GATES[gate][0].present(t, text_words(t)), (pattern, rx.search(t).group())


@settings(derandomize=True, deadline=None, max_examples=300)
@given(TEXTS)
def test_a_search_the_gate_rules_out_finds_nothing_in_any_text(text: str) -> None:
    t = normalize(text).text
    for pattern, gate in (("DISCUSSION", "discussion"), ("VERBATIM", "verbatim"), ("SHOW", "show")):
        if getattr(phrases, pattern).search(t):
            assert GATES[gate][0].present(t, text_words(t)), pattern


def test_the_gate_remembers_words_without_changing_its_answer() -> None:
    gate = Gate(("ignor", "you are", "sys", "<|"))
    text = "please ignore it, you are fine: <|x|> systems"
    first = gate.present(text)
    assert first == {"ignor", "you are", "sys", "<|"}
    assert gate.present(text) == first  # from memory now
    assert gate.present("ignorance is bliss; signore") == {"ignor"}
    assert gate.present("plain words only") == frozenset()


# --- first literals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"\b(?:ab|cd)e", {"abe", "cde"}),
        (r"\bx(?:y)?z", {"xyz", "xz"}),
        (r"[ab]c{0,2}d", {"ac", "ad", "bc", "bd"}),
        (r"(?<!\w)no (?:rules|limits)", {"no "}),
        (r"\b(?:long|lo)", {"lon", "lo"}),
        (r"(?:a|b)*c", {"a", "b", "c"}),
    ],
)
def test_first_literals_are_what_a_match_can_start_with(pattern: str, expected: set[str]) -> None:
    prefilter = first_literals(re.compile(pattern))
    assert prefilter is not None
    assert {p for _, group in prefilter.by_length for p in group} == expected


@pytest.mark.parametrize("pattern", [r"a|", r".bc", r"\w+x", r"(?i)abc", r"[^a]bc", r"(?:a|\w)*c"])
def test_a_start_that_cannot_be_bounded_is_not_prefiltered(pattern: str) -> None:
    assert first_literals(re.compile(pattern)) is None


def test_word_starts_are_zero_width_so_no_start_hides_inside_another() -> None:
    prefilter = first_literals(re.compile(r"\b(?:a p|par)t"))
    assert [m.start() for m in prefilter.word_starts.finditer("a part")] == [0, 2]


PATTERNS = {name: value for name, value in vars(phrases).items() if isinstance(value, re.Pattern)}


def _plain_starts(prefilter: triggers.Prefilter, boundary: bool, wordy_only: bool) -> re.Pattern[str]:
    """The reference for the trie: one alternative per prefix, longest first."""
    every = {p for _, group in prefilter.by_length for p in group}
    chosen = sorted((p for p in every if not wordy_only or re.match(r"\w", p)), key=lambda p: (-len(p), p))
    return re.compile((r"\b" if boundary else "") + "(?=" + "|".join(map(re.escape, chosen)) + ")")


@pytest.mark.parametrize("name", sorted(n for n, pattern in PATTERNS.items() if first_literals(pattern)))
def test_the_trie_finds_the_starts_a_plain_alternation_finds(name: str) -> None:
    prefilter = first_literals(PATTERNS[name])
    word_ref = _plain_starts(prefilter, True, True)
    led = prefilter.starts.pattern.startswith(r"\b")
    every_ref = _plain_starts(prefilter, led, False)
    for t in FOLDED[::4]:
        if prefilter.word_starts is not None:
            assert [m.start() for m in prefilter.word_starts.finditer(t)] == [m.start() for m in word_ref.finditer(t)]
        assert [m.start() for m in prefilter.starts.finditer(t)] == [m.start() for m in every_ref.finditer(t)]


@pytest.mark.parametrize(
    ("pattern", "word_led", "indexed"),
    [
        (r"\b(?:ab|cd)", True, False),
        (r"\bab|\bcd", True, False),
        (r"(?:\bab|cd)", False, False),
        (r"\bab|中文", False, False),
        (r"(?<!\w)ab", False, False),
        (r"abc|abd", False, True),
        (r"[ab]c", False, True),
        (r"(?:x|y)z\b", False, True),
    ],
)
def test_word_led_and_indexed_read_how_a_pattern_opens(pattern: str, word_led: bool, indexed: bool) -> None:
    prefilter = first_literals(re.compile(pattern))
    assert prefilter is not None
    assert prefilter.starts.pattern.startswith(r"\b") is word_led
    assert prefilter.indexed is indexed


def _windows_of(t: str) -> list[tuple[int, int]]:
    n = len(t)
    return [(0, n), (0, min(n, 40))] + [(a, a + w) for w in (30, 160, 600) for a in range(0, n, max(1, n // 7))]


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_a_prefiltered_search_finds_what_the_search_finds(name: str) -> None:
    pattern = PATTERNS[name]
    for t in FOLDED[::5]:
        for lo, hi in _windows_of(t):
            fast, slow = triggers.search(pattern, t, lo, hi), pattern.search(t, lo, hi)
            assert (fast and fast.span()) == (slow and slow.span()), (name, lo, hi)
            found = [m.span() for m in triggers._window_matches(pattern, t, lo, hi)]
            assert found == [m.span() for m in pattern.finditer(t, lo, hi)], (name, lo, hi)


@settings(derandomize=True, deadline=None, max_examples=200)
@given(TEXTS, st.integers(0, 60), st.integers(0, 200))
def test_a_prefiltered_search_finds_what_the_search_finds_in_any_text(text: str, lo: int, width: int) -> None:
    t = normalize(text).text
    for pattern in PATTERNS.values():
        fast, slow = triggers.search(pattern, t, lo, lo + width), pattern.search(t, lo, lo + width)
        assert (fast and fast.span()) == (slow and slow.span())
        found = [m.span() for m in triggers._window_matches(pattern, t, lo, lo + width)]
        assert found == [m.span() for m in pattern.finditer(t, lo, lo + width)]


def test_occurrences_are_the_same_from_the_cache() -> None:
    t = "ignore the rules; ignore them all. re-ignore " * 50
    first = list(occurrences(t, "ignor"))
    assert first == list(occurrences(t, "ignor"))
    assert first == [(m.start(), m.start() + 5) for m in re.finditer(r"\bignor", t)]
    other = t.replace("ignore the", "heed the")  # another text of the same length: not confused
    assert list(occurrences(other, "ignor")) == [(m.start(), m.start() + 5) for m in re.finditer(r"\bignor", other)]


def _phrase_hits_unfiltered(monkeypatch: pytest.MonkeyPatch, texts: list[str]) -> list:
    monkeypatch.setattr(triggers, "first_literals", lambda pattern, k=3: None)
    return [signals.phrase_hits(t) for t in texts]


def test_the_prefilter_skips_no_match_on_the_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = CORPUS[::2] + LONG
    fast = [signals.phrase_hits(t) for t in texts]
    assert fast == _phrase_hits_unfiltered(monkeypatch, texts)


@settings(derandomize=True, deadline=None, max_examples=200)
@given(st.lists(TEXTS, min_size=1, max_size=5))
def test_the_prefilter_skips_no_match_on_any_text(texts: list[str]) -> None:
    fast = [signals.phrase_hits(t) for t in texts]
    with pytest.MonkeyPatch.context() as mp:
        assert fast == _phrase_hits_unfiltered(mp, texts)


# --- the carriers' word tests -------------------------------------------------------------------


def _carriers(text: str, with_words: bool) -> list:
    words = text_words(normalize(text).text) if with_words else None
    return carriers.scan_carriers(text, [], signals.phrase_hits, words)


def test_the_carriers_read_the_same_with_the_words() -> None:
    for text in CORPUS[::2] + LONG:
        assert _carriers(text, True) == _carriers(text, False)


@settings(derandomize=True, deadline=None, max_examples=200)
@given(TEXTS.map(lambda s: (s + " filler text " * 200)[: 3000 + len(s)]))
def test_the_carriers_read_the_same_with_the_words_on_long_text(text: str) -> None:
    assert _carriers(text, True) == _carriers(text, False)


_LETTER_PIECES = st.sampled_from(
    ["vtaber", "sbetrg", "ehyrf", "hex", "HEX", "Hex", "decode", "DECODE", "ecipher", "join", "together", "une",
     "h3x", "0x", "\\x41", "4142434445464748", " and then follow", " + ", "\"a\" ", "'b' ", "ÉCOD", "K",
     "\u212a", "\u0130", "1", "7", "@", "-", "_", " ", "\n", ".", "x", "e", "c"]
)


@settings(derandomize=True, deadline=None, max_examples=300)
@given(TEXTS | st.lists(_LETTER_PIECES, max_size=30).map("".join))
def test_the_carriers_read_the_same_with_the_words_on_short_text(text: str) -> None:
    assert _carriers(text, True) == _carriers(text, False)


@settings(derandomize=True, deadline=None, max_examples=300)
@given(st.lists(_LETTER_PIECES, max_size=30).map("".join))
def test_a_word_gate_misses_no_letters_of_an_ascii_text(text: str) -> None:
    words = text_words(normalize(text).text).words if text.isascii() else None
    lower = text.lower().encode()
    for gate in (carriers._ROT13_WORDS, carriers._DECODE_LETTERS, carriers._HEX_LETTERS, carriers._JOIN_LETTERS):
        for _ in range(2):  # the second time from what the gate remembers
            assert gate.may_hold(words) or not any(k in lower for k in gate.literals)


_KEY_TUPLES = [v for v in vars(phrases).values() if isinstance(v, tuple) and v and all(isinstance(k, str) for k in v)]


@settings(derandomize=True, deadline=None, max_examples=300)
@given(st.sampled_from(_KEY_TUPLES + [("a", "b", "a", "c"), ("x",)]), st.data())
def test_the_keys_present_are_the_keys_the_gate_holds_in_order(keys: tuple[str, ...], data: st.DataObject) -> None:
    held = data.draw(st.lists(st.sampled_from(keys), max_size=len(keys)))
    g = frozenset(held + data.draw(st.lists(st.sampled_from(["zz", "ignore", "sys"]), max_size=2)))
    for probe in (keys, tuple(keys)[:]):  # the same tuple twice: the second time from its stored order
        assert triggers.keys_present(probe, g) == [k for k in keys if k in g]


# --- the model's block sums -----------------------------------------------------------------------


def _reference_z(folded: str, weights: np.ndarray) -> float:
    parts = model.feature_parts(folded)
    return float(model.window_scores(parts, weights, len(folded) + 2).max())


def test_block_sums_equal_the_training_windows_on_the_corpus() -> None:
    m = model.load_model()
    for folded in FOLDED:
        if len(folded) + 2 > model.WINDOW:
            assert model.window_max(folded, m.table) == pytest.approx(_reference_z(folded, m.weights), abs=1e-12)


@settings(derandomize=True, deadline=None, max_examples=150)
@given(
    st.text(alphabet=st.sampled_from(list("ab cd. ,") + ["中", "ü", "é", "1"]), min_size=model.WINDOW - 2, max_size=700)
)
def test_block_sums_equal_the_training_windows_at_every_length(text: str) -> None:
    m = model.load_model()
    folded = normalize(text).text
    if len(folded) + 2 > model.WINDOW:
        assert model.window_max(folded, m.table) == pytest.approx(_reference_z(folded, m.weights), abs=1e-12)


def test_block_sums_equal_the_training_windows_past_the_kept_tables() -> None:
    # A text longer than the long path's kept power tables gets tables made for it.
    m = model.load_model()
    rnd = random.Random(5)
    words = ["ignore", "the", "previous", "instructions", "invoice", "中文", "état", "42", "system", "prompt"]
    for size in (model._TABLE_CAP - 40, model._TABLE_CAP + 40, model._TABLE_CAP + 3 * model.STRIDE + 7):
        text = " ".join(rnd.choice(words) for _ in range(size // 4))[:size]
        folded = normalize(text).text
        assert len(folded) + 2 > model.WINDOW
        assert model.window_max(folded, m.table) == pytest.approx(_reference_z(folded, m.weights), abs=1e-12)
    assert model._LONG_TABLES[1].shape[1] == model._TABLE_CAP  # the kept tables did not grow
