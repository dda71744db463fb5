"""The PII fast path's shortcuts give what the path without them gives.

Each shortcut skips work when a cheap test shows the work would find
nothing. These properties run the shortcut and the long way on generated
texts with numbers and compare the results exactly; tests/test_fastpath.py
compares the whole fast path with Presidio.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.data import everyday_number, numbers_text, prose
from guardrails.detectors import PiiConfig, get_pii_detector
from guardrails.detectors.pii import prefilter

# Characters that decide the digit tests: letters (licences, IBANs), "]",
# the date and IP joiners, harmless punctuation, whitespace of every kind.
_NEAR_DIGITS = list("0123456789013 ab1Z]/-.,;:!?()[]{}'\"$%\u20ac\u00a3\t\n\xa0\x1c\u3000") + ["\u0661", "x"]
_short_texts = st.text(st.sampled_from(_NEAR_DIGITS), max_size=60)


def _words_and_numbers() -> st.SearchStrategy[str]:
    word = st.sampled_from(["order", "a", "Book", "x", "card", "(", ")", ".", ",", "-", "'s", "]"])
    number = st.text(st.sampled_from(list("0123456789")), min_size=1, max_size=3)
    sep = st.sampled_from([" ", "", ".", ". ", ", ", "/", "-", "\n", "(", ")", "$", "%"])
    piece = st.tuples(st.one_of(word, number), sep).map("".join)
    return st.lists(piece, max_size=30).map("".join)


_long_word = st.builds(lambda n, d, tail: "a" * n + d + tail, st.integers(0, 30), st.sampled_from(["1", "3", "7", "13"]),
                       st.sampled_from(["", ",", ".", ")", "b" * 25]))


def _all_starts(text: str) -> dict[str, list[int]]:
    runs = prefilter.digit_runs(text)
    return prefilter._digit_starts(text, runs, prefilter.DIGIT_RECOGNIZERS) if runs else {}


@settings(max_examples=1500, deadline=None)
@given(st.one_of(_short_texts, _words_and_numbers(), _long_word,
                 st.tuples(_words_and_numbers(), _long_word).map(" ".join)))
def test_inert_runs_start_no_digit_recognizer(text) -> None:
    runs = prefilter.digit_runs(text)
    if runs and prefilter.inert_runs(text, runs):
        assert not any(_all_starts(text).values())


def _regions_the_long_way(text: str, names: frozenset[str], monkeypatch) -> dict:
    with monkeypatch.context() as m:
        m.setattr(prefilter, "inert_runs", lambda text, runs: False)
        m.setattr(prefilter, "_MAC_DOT_INNER", type("Any", (), {"search": staticmethod(lambda text: True)}))
        return prefilter.recognizer_regions(text, prefilter.digit_runs(text), names)


@pytest.fixture(scope="module")
def names():
    detector = get_pii_detector(PiiConfig())
    return frozenset(prefilter.RECOGNIZER_PATTERNS) & frozenset(
        type(r).__name__ for r in detector._analyzer.registry.recognizers)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(_short_texts, _words_and_numbers(),
                 st.integers(0, 2**32).map(lambda s: numbers_text(random.Random(s), 300)),
                 st.integers(0, 2**32).map(lambda s: prose(random.Random(s), 200)),
                 st.lists(st.integers(0, 2**32).map(lambda s: everyday_number(random.Random(s))), max_size=8).map(
                     " x ".join),
                 st.sampled_from(["0a1b.2c3d.4e5f", "ab.cdef.0123.4567 x", "a.b.c", "fe80::1", "mail me@x.io"])))
def test_recognizer_regions_are_those_of_the_long_way(names, monkeypatch, text) -> None:
    assert prefilter.recognizer_regions(text, prefilter.digit_runs(text), names) == \
        _regions_the_long_way(text, names, monkeypatch)


def test_prose_with_small_numbers_is_inert() -> None:
    for text in ("travel 50 book, today", "Movie has 18 with booking", "(14) items.", "item 7. Next", "20% off"):
        assert prefilter.inert_runs(text, prefilter.digit_runs(text)), text
    for text in ("2024", "a5", "5a", "1/2", "1-2", "1.2", "x]5", "1.2.3.4", "a" * 25 + ",1"):
        assert not prefilter.inert_runs(text, prefilter.digit_runs(text)), text


# ---- phone windows -----------------------------------------------------------------


@pytest.fixture(scope="module")
def fast():
    return get_pii_detector(PiiConfig())._fast


def test_no_region_accepts_fewer_digits_than_the_floor(fast) -> None:
    floor = fast._may_hold.floor
    assert floor >= 4  # the figure the shortcut is worth something at
    import itertools

    for n in range(1, floor):
        for digits in map("".join, itertools.product("0123456789", repeat=n)):
            for _region, min_digits, may_be_valid in fast._phone_regions:
                assert n < min_digits or (may_be_valid is not None and not may_be_valid(digits)), (digits, _region)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.sampled_from(list("0123456789") + ["\u0661", "\uff11"]), min_size=1, max_size=22))
def test_one_run_is_may_hold_of_a_group_of_one_run(fast, run) -> None:
    may_hold = fast._may_hold
    assert may_hold.one_run(run) == may_hold(("", run)) == may_hold(("(", run))


class _LongWay:
    """The group test without its shortcut for groups of one run."""

    def __init__(self, may_hold):
        self.may_hold = may_hold

    def __call__(self, parts):
        return self.may_hold(parts)


_PHONEY = st.sampled_from(["(", "+", "x", "#", " ", "-", ".", ":", "/", ", ", "(0)", "+1 ", "ext ", " in ", "$", "]"])


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.lists(st.tuples(_PHONEY, st.text(st.sampled_from(list("0123456789")), min_size=1, max_size=12)), max_size=8)
    .map(lambda ps: "".join(a + b for a, b in ps)),
    st.integers(0, 2**32).map(lambda s: numbers_text(random.Random(s), 400)),
    st.lists(st.integers(0, 2**32).map(lambda s: everyday_number(random.Random(s))), max_size=8).map(" ".join)))
def test_phone_regions_are_those_of_the_long_way(fast, text) -> None:
    from guardrails.detectors.pii import phone_windows

    runs = prefilter.digit_runs(text)
    assert phone_windows.phone_regions(text, runs, fast._may_hold) == \
        phone_windows.phone_regions(text, runs, _LongWay(fast._may_hold))


# ---- context words -------------------------------------------------------------------

_VALUES = ["078-05-1120", "212-555-0123", "(212) 555-0123", "4111 1111 1111 1111", "10.0.0.1", "2024-03-12",
           "DE89 3704 0044 0532 0130 00", "jane@example.com", "A1234567", "912-70-1234", "12/03/2024"]
_CONTEXT = ["ssn", "social", "phone", "call", "card", "credit", "ip", "date", "birthday", "iban", "bank", "email",
            "license", "the", "a", "is", "and", "order", "update", "policy", "ssn:", "card,", "Phone", "SSN", "x:y",
            "-", "(", "call-me", "telephone", "creditcard"]
_GAPS = [" ", " ", " ", "  ", "\n", "\t", ", ", ": ", " - "]
_context_texts = st.lists(st.tuples(st.sampled_from(_CONTEXT + _VALUES), st.sampled_from(_GAPS)), max_size=24).map(
    lambda parts: "".join(a + b for a, b in parts))


_FILLER = ["order", "customer", "account", "refund", "warehouse", "Order", "the", "x"]
# A context word, then up to eight words, each after one space, then a value:
# the walk's reach is decided word by word.
_reach_texts = st.builds(
    lambda head, ctx, fill, value, tail: head + ctx + "".join(" " + w for w in fill) + " " + value + tail,
    st.sampled_from(["", "a ", "ssn ", "\n", "1 "]), st.sampled_from(["phone", "call", "ssn", "card", "date", "ip"]),
    st.lists(st.sampled_from(_FILLER), min_size=3, max_size=7),
    st.sampled_from(["212-555-0123", "(212) 555-0123", "2024-03-12", "10.0.0.1", "536-22-1234"]),
    st.sampled_from(["", ".", " ok", ":x"]))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(_context_texts, _reach_texts))
def test_loud_findings_score_as_the_tokens_say(monkeypatch, text) -> None:
    from guardrails.detectors.pii.context import ContextBoost

    detector = get_pii_detector(PiiConfig())
    entities = detector.supported
    short = detector.analyze(text, entities)
    with monkeypatch.context() as m:
        m.setattr(ContextBoost, "loud", lambda self, text, start, context: False)
        assert detector.analyze(text, entities) == short


def test_a_value_after_its_context_word_is_loud() -> None:
    boost = get_pii_detector(PiiConfig())._fast.context
    assert boost.loud("my ssn 078-05-1120", 7, ("ssn",))
    assert boost.loud("ssn customer account 078-05-1120", 21, ("ssn",))
    assert not boost.loud("ssn of the customer 078-05-1120", 20, ("ssn",))  # stop words: left to the tokens
    assert not boost.loud("ssn:  078-05-1120", 6, ("ssn",))
    assert not boost.loud("ssn\n078-05-1120", 4, ("ssn",))


@pytest.mark.parametrize("words", range(9))
def test_the_walks_reach_word_by_word(monkeypatch, words) -> None:
    from guardrails.detectors.pii.context import ContextBoost

    detector = get_pii_detector(PiiConfig())
    for ctx in ("phone", "call", "ssn", "date", "ip", "card"):
        for value in ("212-555-0123", "(212) 555-0123", "2024-03-12", "10.0.0.1", "536-22-1234"):
            for filler in ("order", "the"):
                text = " ".join([ctx] + [filler] * words + [value])
                short = detector.analyze(text, detector.supported)
                with monkeypatch.context() as m:
                    m.setattr(ContextBoost, "loud", lambda self, text, start, context: False)
                    assert detector.analyze(text, detector.supported) == short, text


def test_a_loud_value_needs_no_tokens(monkeypatch) -> None:
    detector = get_pii_detector(PiiConfig())
    boost = detector._fast.context
    calls = []
    monkeypatch.setattr(boost, "_boost", lambda *a: calls.append(a))
    found = detector.analyze("my license 541921 here", detector.supported)
    monkeypatch.undo()
    assert calls == []
    assert found == detector.analyze_presidio("my license 541921 here", detector.supported)
    assert [f.score for f in found if f.entity == "US_DRIVER_LICENSE"] == [0.4]  # 0.01 raised by "license"


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["PHONE_NUMBER", "US_SSN", "DATE_TIME"]), st.integers(0, 12), st.integers(0, 5),
                          st.sampled_from([0.0, 0.01, 0.05, 0.4, 0.6, 1.0, 1])), max_size=9))
def test_unique_is_presidios_remove_duplicates(fast, items) -> None:
    """The same results in the same order, by every field a Finding reads
    (of two equal results, 1 and 1.0, Presidio keeps whichever its set
    yields first)."""
    from presidio_analyzer import EntityRecognizer, RecognizerResult

    def results():
        return [RecognizerResult(e, a, a + n, s) for e, a, n, s in items]

    def fields(rs):
        return [(r.entity_type, r.start, r.end, float(r.score)) for r in rs]

    assert fields(fast._unique(results())) == fields(EntityRecognizer.remove_duplicates(results()))


_digit_strings = st.one_of(
    st.text(st.sampled_from(list("0123456789")), min_size=1, max_size=18),
    st.builds(lambda lead, rest: lead + rest, st.sampled_from(["", "0", "00", "011", "1", "44", "49", "33", "55", "91",
                                                               "972", "2", "3", "4", "5", "6", "7", "8", "9"]),
              st.text(st.sampled_from(list("0123456789")), min_size=3, max_size=12)),
    st.integers(0, 2**32).map(lambda s: "".join(ch for ch in everyday_number(random.Random(s)) if ch.isdigit())))


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_digit_strings)
def test_digits_the_quick_test_rejects_every_region_rejects(fast, digits) -> None:
    may_hold = fast._may_hold
    if may_hold.quick_reject(digits):
        assert not may_hold.every_region_asked(digits)


def _quiet_word_by_word(boost, text: str, start: int, context) -> bool:
    """ContextBoost.quiet as it was written before its words were tested at once."""
    from guardrails.detectors.pii.context import QUIET_REACH, QUIET_WORDS

    n = len(text)
    if context is None or start >= n or text[start].isspace():
        return False
    lo, hi = max(0, start - QUIET_REACH), min(n, start + QUIET_REACH)
    left, right = text[lo:start], text[start:hi]
    before = left.rsplit(None, QUIET_WORDS + 1)
    after = right.split(None, QUIET_WORDS + 1)
    own = after.pop(0)
    if left and not left[-1].isspace():
        if len(before) == 1 and lo > 0:
            return False
        own = before.pop() + own
    if right and not right[-1].isspace() and not after and hi < n:
        return False
    if boost._holds(own, context):
        return False
    own_certain = boost._certain(own)
    edge_before = lo == 0 and len(before) <= QUIET_WORDS
    edge_after = hi == n and len(after) <= QUIET_WORDS
    if before and not edge_before:
        before.pop(0)
    if after and not edge_after:
        after.pop()
    for words, want, edge in ((reversed(before), boost.prefix + 1, edge_before), (after, boost.suffix + 1, edge_after)):
        want -= own_certain
        if want <= 0:
            continue
        for w in words:
            if boost._holds(w, context):
                return False
            if boost._certain(w):
                want -= 1
                if want == 0:
                    break
        else:
            if not edge:
                return False
    return True


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(_context_texts, _reach_texts, st.integers(0, 2**32).map(lambda s: numbers_text(random.Random(s), 300))),
       st.data())
def test_quiet_is_the_word_by_word_walk(fast, text, data) -> None:
    if not text:
        return
    start = data.draw(st.integers(0, len(text) - 1))
    for context in (("date", "birthday"), ("ssn",), ("phone", "call"), ("card",), None):
        assert fast.context.quiet(text, start, context) == _quiet_word_by_word(fast.context, text, start, context)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(_context_texts, _short_texts, _words_and_numbers(),
                 st.integers(0, 2**32).map(lambda s: numbers_text(random.Random(s), 200))))
def test_a_recognizers_gate_matches_where_one_of_its_patterns_does(fast, text) -> None:
    assert len(fast._gates) >= 4
    for recs in fast.pattern_recs.values():
        for rec, compiled in recs:
            gate = fast._gates.get(rec.id)
            if gate is not None:
                assert (gate.search(text) is None) == all(rx.search(text) is None for rx in compiled), rec.name


# ---- ASCII twins -------------------------------------------------------------------------

# Plain ASCII near what the recognizers look for: digits, their joiners, letters
# of month names, IBANs and licences, the characters of e-mails, URLs and IPv6.
_ASCII_NEAR = list("0123456789012345 -/.:T+Zz@_%abcdefxJANFEBDECGBDE#()\t\n,;") + ["SEP", "dec", "www.", "http://",
                                                                                     "::", "-0", "/2024", ".co", "http://a.com/x"]
_ascii_texts = st.lists(st.sampled_from(_ASCII_NEAR), max_size=40).map("".join)


def _generated(seed: int) -> str:
    from benchmarks.data import pii_text

    rnd = random.Random(seed)
    return rnd.choice([numbers_text(rnd, 300), pii_text(rnd, 200, 2)])


# Characters where `re` and `regex` may read a pattern differently: \x1c-\x1f
# (whitespace to `re` only), other whitespace, other scripts' digits and letters.
_ODD = ["\x1c", "\x1f", "\x0b", "\x0c", "\xa0", "\u2028", "\u0661", "\uff11", "\u017f", "\u212a", "\u00e9", "\u0130"]
_odd_texts = st.lists(st.sampled_from(_ASCII_NEAR + _ODD), max_size=40).map("".join)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(_ascii_texts, _odd_texts, _words_and_numbers(), st.integers(0, 2**32).map(_generated),
                 st.tuples(_ascii_texts, st.integers(0, 2**32).map(_generated)).map(" ".join)))
def test_ascii_twins_match_where_the_patterns_do(fast, text) -> None:
    """On a window the twins are used for, each twin finds exactly the
    pattern's matches, and the joined twin finds one where some pattern does."""
    from guardrails.detectors.pii.fastpath import _NOT_PLAIN_ASCII

    assert sum(t is not None for t in fast._twins.values()) >= 12
    if _NOT_PLAIN_ASCII.search(text) is not None:
        return
    for recs in fast.pattern_recs.values():
        for rec, compiled in recs:
            twins = fast._twins[rec.id]
            if twins is None:
                continue
            joined, each = twins
            for rx, twin in zip(compiled, each):
                assert [m.span() for m in twin.finditer(text)] == [m.span() for m in rx.finditer(text)], rec.name
            if joined is not None:
                assert (joined.search(text) is None) == all(rx.search(text) is None for rx in compiled), rec.name


def test_the_twins_differ_on_characters_the_plain_test_excludes(fast) -> None:
    """Why the twins are kept to plain ASCII: `re` reads \\s (in the URL
    patterns) otherwise than `regex` does."""
    import re

    import regex

    from guardrails.detectors.pii.fastpath import _NOT_PLAIN_ASCII

    assert re.search(r"a\sb", "a\x1cb") is not None and regex.search(r"a\sb", "a\x1cb") is None
    rec, compiled = fast.pattern_recs["URL"][0]
    text = "see http://a.com/x\x1c"
    assert [m.span() for m in fast._twins[rec.id][1][0].finditer(text)] != [m.span() for m in compiled[0].finditer(text)]
    assert _NOT_PLAIN_ASCII.search(text) is not None


def test_a_window_with_other_characters_has_no_twins(fast) -> None:
    from guardrails.detectors.pii.fastpath import _NOT_PLAIN_ASCII

    # re's \s takes \x1c-\x1f, regex's does not; non-ASCII digits and letters differ too.
    for text in ("12\x1c03", "\u0661\u0662/03/2024", "caf\u00e9 2024-01-01", "a\x0b1"):
        assert _NOT_PLAIN_ASCII.search(text) is not None
    assert _NOT_PLAIN_ASCII.search("call 212-555-0123\n\tssn 078-05-1120") is None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(_ascii_texts, st.integers(0, 2**32).map(_generated)))
def test_the_fast_path_with_twins_finds_what_it_finds_without(fast, monkeypatch, text) -> None:
    entities = sorted(fast.covered)

    def found() -> list:
        return sorted((r.start, r.end, r.entity_type, r.score) for r in fast.analyze(text, entities))

    with_twins = found()
    with monkeypatch.context() as m:
        m.setattr(fast, "_twins", {})
        assert found() == with_twins


_DOMAIN_CHARS = st.sampled_from(list("comukedusaxinetrg-1'/") + ["\u212a", "\u017f", "K", "O"])


@pytest.fixture(scope="module")
def domains():
    import re

    from presidio_analyzer.predefined_recognizers import UrlRecognizer

    rec = UrlRecognizer()
    regex_text = rec.patterns[1].regex
    return re.findall(r"\(\?:([a-z0-9-]+)\)", regex_text[regex_text.index("[.](?:(?:com)"):]), rec.global_regex_flags


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(_DOMAIN_CHARS, min_size=1, max_size=10), st.sampled_from(["", "'", "(?:/x)?'", "x"]))
def test_the_factored_domain_list_tries_domains_in_presidios_order(domains, text, tail) -> None:
    # The URL scan's patterns carry the domain list factored by first
    # characters; followed by something that must match (a closing quote),
    # the engine backtracks through the domains in order, so the same
    # domain wins only if the order of trying is the same.
    import regex

    from guardrails.detectors.pii.urls import _factored

    names, flags = domains
    flat = regex.compile("(?:" + "|".join(f"(?:{n})" for n in names) + ")" + tail, flags)
    factored = regex.compile(_factored(names) + tail, flags)
    for pos in range(len(text)):
        a, b = flat.match(text, pos), factored.match(text, pos)
        assert (a and a.span()) == (b and b.span())


def test_factoring_keeps_the_order_around_a_name_that_ends_early() -> None:
    import regex

    from guardrails.detectors.pii.urls import _factored

    for names in (["com", "co", "c", "cat"], ["co", "com"], ["c", "co", "ca"], ["ab", "a", "abc"]):
        flat = regex.compile("(?:" + "|".join(names) + ")")
        factored = regex.compile(_factored(names))
        for text in ("com", "co", "cat", "ca", "c", "abc", "ab", "a", "x"):
            assert (flat.match(text) and flat.match(text).span()) == (factored.match(text) and factored.match(text).span())
