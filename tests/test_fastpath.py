"""The PII fast path never changes a finding.

Property tests compare `PiiDetector.analyze` (prefilter windows, Presidio's
recognizers on the windows, context words from local tokens) with
`analyze_presidio` (one AnalyzerEngine call on the whole text) on generated
texts that mix words, punctuation, digits, odd whitespace and real PII
values. The engine-level test compares whole decisions.
"""

from __future__ import annotations

import random
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.data import everyday_number, numbers_text
from guardrails import Engine
from guardrails.detectors import PiiConfig, get_pii_detector
from guardrails.detectors.pii import phone_validity, phone_windows, phones, prefilter


@pytest.fixture(scope="module")
def detector():
    d = get_pii_detector(PiiConfig())
    assert d.fast_entities == d.supported, "the fast path should cover every pattern entity"
    return d


# ---- generated values ---------------------------------------------------------


def _luhn_complete(prefix: str, length: int, rnd: random.Random) -> str:
    digits = prefix + "".join(rnd.choice(string.digits) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return digits + str((10 - total % 10) % 10)


def _pii(rnd: random.Random) -> str:
    d = lambda n: "".join(rnd.choice(string.digits) for _ in range(n))  # noqa: E731
    kind = rnd.randrange(24)
    if kind == 0:
        return f"{rnd.choice(['jane', 'j.doe', 'x_y+z'])}@{rnd.choice(['example.com', 'mail.co.uk', 'a-b.io'])}"
    if kind == 1:
        return rnd.choice(["{}-{}-{}", "({}) {}-{}", "+1 {} {} {}", "{}.{}.{}"]).format(d(3), d(3), d(4))
    if kind == 2:
        cc = _luhn_complete(rnd.choice(["4", "51", "37", "6011"]), 16, rnd)
        sep = rnd.choice(["", " ", "-"])
        return sep.join(cc[i:i + 4] for i in range(0, 16, 4))
    if kind == 3:
        return rnd.choice(["{}-{}-{}", "{} {} {}", "{}{}{}"]).format(d(3), d(2), d(4))
    if kind == 4:
        return ".".join(str(rnd.randrange(256)) for _ in range(4))
    if kind == 5:
        return rnd.choice(["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "FR14 2004 1010 0505 0001 3M02 606"])
    if kind == 6:
        return rnd.choice(["https://example.com/a?b=1", "www.test.org", "'site.net'", "http://x.io"])
    if kind == 7:
        return rnd.choice(["2024-01-{:02d}", "{:02d}/03/1999", "12.{:02d}.2020", "5-JAN-2021", "MAR-{:02d}"]).format(
            rnd.randrange(1, 29))
    if kind == 8:
        return rnd.choice(["123e4567-e89b-12d3-a456-426614174000", "aa:bb:cc:dd:ee:ff", "0a1b.2c3d.4e5f", "fe80::1",
                           "::1", "2001:db8:85a3:0:0:8a2e:370:7334", "::ffff:10.0.0.1"])
    if kind == 9:
        return rnd.choice(["1BoatSLRHtKNngkdXEeobR76b53LETtpyT", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"])
    if kind == 10:
        return rnd.choice(["A1234567", "AB1234563", "X12345678", "D1234", "12ABC12345", "912-70-1234", "9127 01234"])
    if kind == 11:
        return d(rnd.choice([1, 2, 4, 6, 8, 9, 10, 12, 16, 17]))
    if kind == 12:
        return rnd.choice(["the:x", "note:", "a:b:c", "be:the", "x:.", "http://a:b@c.com", "10:30", ":00"])
    if kind == 13:
        return f"{d(3)}-{d(3)}-{d(4)} ext {d(3)}"
    if kind == 14:
        return rnd.choice(["\uff11\uff12\uff13\uff14\uff15\uff16\uff17", "\u0663\u0664\u0665\u0666\u0667\u0668\u0669",
                           "\u212a\u017f.\u212a\u017f", "ex.\u017fh"])
    if kind == 15:
        return rnd.choice(["+44 20 7946 0958", "+49 30 123456", "030 1234567", "+972-3-1234567", "(0)20 7946 0958"])
    if kind in (16, 17):
        return everyday_number(rnd)  # years, prices, dates, times, order numbers
    return rnd.choice(_WORDS)


_WORDS = ("the order was shipped to our warehouse and a customer asked about refund for item "
          "phone number call card credit visa ssn social security email iban bank ip address "
          "date birthday passport license driver medical wallet btc uuid mac url link is be "
          "x ext int anexo at on in of to a update policy public cannot").split()
_SEPS = [" ", " ", " ", "  ", "\n", "\t", "\xa0", "\x1c", ": ", ", ", ". ", " (", ") ", "-", "/", ".", "", ";", "\u3000"]

fragments = st.lists(st.tuples(st.integers(0, 2**32), st.sampled_from(_SEPS)), min_size=0, max_size=40)


def _assemble(parts: list[tuple[int, str]]) -> str:
    out = []
    for seed, sep in parts:
        out.append(_pii(random.Random(seed)))
        out.append(sep)
    return "".join(out)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fragments)
def test_fast_path_finds_what_presidio_finds(detector, parts) -> None:
    text = _assemble(parts)
    entities = detector.supported
    assert detector.analyze(text, entities) == detector.analyze_presidio(text, entities)


_ALPHABET = st.sampled_from(list("abcdefxXK .,:;-+()@/#\n\t0123456789") + ["\xa0", "\u212a", "\u017f", "\uff10", "\u0663"])


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(_ALPHABET, max_size=120))
def test_fast_path_on_character_soup(detector, text) -> None:
    entities = detector.supported
    assert detector.analyze(text, entities) == detector.analyze_presidio(text, entities)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fragments, st.sampled_from(sorted(get_pii_detector(PiiConfig()).supported)))
def test_fast_path_with_one_entity(detector, parts, entity) -> None:
    text = _assemble(parts)
    assert detector.analyze(text, {entity}) == detector.analyze_presidio(text, {entity})


_CARD_SEP = st.sampled_from(["", " ", "-"])


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.text("0123456789", min_size=1, max_size=6), st.sampled_from([" ", "-"])), max_size=6),
       st.integers(0, 2**32), _CARD_SEP, st.sampled_from(["", " ", ".", "\n", " is mine"]))
def test_a_valid_card_after_digit_groups_is_found(detector, groups, seed, sep, after) -> None:
    # Digit groups before a card make card candidates that start in them and
    # run into the card; one that fails Luhn must not hide the card (see
    # guardrails/detectors/pii/rescan.py). One that passes Luhn is a finding
    # itself and may cover the card's start: Presidio's scan resumes after it.
    rnd = random.Random(seed)
    card = _luhn_complete(rnd.choice(["4", "51", "37", "6011"]), 16, rnd)
    value = sep.join(card[i:i + 4] for i in range(0, 16, 4))
    prefix = "".join(g + s for g, s in groups)
    text = prefix + value + after
    found = detector.analyze(text, {"CREDIT_CARD"})
    assert found == detector.analyze_presidio(text, {"CREDIT_CARD"})
    start, end = len(prefix), len(prefix) + len(value)
    spans = [(f.start, f.end) for f in found]
    assert (start, end) in spans or any(a < start < b for a, b in spans), (text, spans)


_PHONE_SEP = st.sampled_from(["", " ", "-", ".", " - ", "/", "(", ")", ") ", "\u00a0", "\u2013", " ext ", " x", "#", ","])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["", "+", "00", "0", "1", "44", "49", "33", "972", "91", "55", "011"]),
                          st.lists(st.tuples(st.text("0123456789", min_size=1, max_size=5), _PHONE_SEP),
                                   min_size=1, max_size=5)),
                min_size=1, max_size=3))
def test_phone_matcher_skips_only_invalid_numbers(detector, numbers) -> None:
    # Digit groups shaped like phone numbers of many regions (with and
    # without country codes, national prefixes, separators and extensions):
    # the phone matcher that skips hopeless candidates finds what Presidio's
    # PhoneRecognizer finds.
    text = " and ".join(lead + "".join(d + sep for d, sep in groups) for lead, groups in numbers)
    fast = detector._fast
    ours = sorted((r.start, r.end, r.score) for r in fast._phones(text))
    theirs = sorted((r.start, r.end, r.score) for r in fast.phone.analyze(text, ["PHONE_NUMBER"]))
    assert ours == theirs


_NUMBER_SEP = st.sampled_from(["", " ", "/", ".", "-", ":", ",", "(", ")", " - ", "\u2013", ". ", ": ", "/ ", " #",
                               "\uff0d", "\u2012", "  ", "\xa0", "[", "]", "~", "x", " ext ", "+"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["", "(", "[", "( ", "in ", "x", "+", "#", "\uff08", "(/", "+1 ", "+49 "]),
                          st.lists(st.tuples(st.text("0123456789", min_size=1, max_size=7), _NUMBER_SEP),
                                   min_size=1, max_size=6)),
                min_size=1, max_size=4),
       st.sampled_from([" and ", " in ", ": ", "; ", " 1:", " a ", "\n", "ab"]))
def test_digit_groups_the_prefilter_drops_hold_no_phone_number(detector, numbers, joint) -> None:
    # Dates, times, prices and numbers written every way, with leads and
    # gaps that start, end or split a candidate: whatever group of digit runs
    # the prefilter drops unparsed, Presidio finds no phone number in.
    text = joint.join(lead + "".join(d + sep for d, sep in groups) for lead, groups in numbers)
    assert detector.analyze(text, {"PHONE_NUMBER"}) == detector.analyze_presidio(text, {"PHONE_NUMBER"})


def test_a_window_never_starts_inside_a_dropped_run(detector) -> None:
    # "116400" is dropped (no region accepts it); the next group's window
    # must not start inside it, or the matcher would read "16400".
    for text in ("116400  in (0000", "021000\u20130", "1164005 and (030) 1234567"):
        assert detector.analyze(text, {"PHONE_NUMBER"}) == detector.analyze_presidio(text, {"PHONE_NUMBER"}), text


def test_phone_numbers_of_every_default_region(detector) -> None:
    import phonenumbers

    fast = detector._fast
    for region in fast.phone.supported_regions:
        for kind in phonenumbers.PhoneNumberType.values():
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            for fmt in (phonenumbers.PhoneNumberFormat.NATIONAL, phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                        phonenumbers.PhoneNumberFormat.E164):
                written = phonenumbers.format_number(example, fmt)
                # Also without the national prefix ("30 123456" for Germany's
                # "030 123456"), which the matcher rejects where the prefix
                # is required, and next to a number of another region.
                bare = written.lstrip("0") if fmt == phonenumbers.PhoneNumberFormat.NATIONAL else written
                nsn = phonenumbers.national_significant_number(example)
                for text in (written, written.lstrip("+"), f"call {written} now", bare, f"call {bare} now", nsn,
                             f"{written} or +1 212 555 0123 or {bare}"):
                    ours = sorted((r.start, r.end) for r in fast._phones(text))
                    theirs = sorted((r.start, r.end) for r in fast.phone.analyze(text, ["PHONE_NUMBER"]))
                    assert ours == theirs, (region, text)


def test_context_far_from_the_match(detector) -> None:
    # Stop words and punctuation are skipped when Presidio looks for context
    # words, so a context word can sit far before the match; a window must
    # widen until the walk ends inside it.
    filler = " ".join(["the", ",", "a", "of", "."] * 60)
    for text in (f"phone {filler} 212-555-0123", f"card {filler} 4111 1111 1111 1111 and more words here"):
        ents = detector.supported
        assert detector.analyze(text, ents) == detector.analyze_presidio(text, ents)
        assert any(f.score > 0.4 for f in detector.analyze(text, ents))


_CONTEXT_WORDS = st.sampled_from(["the", "a", "is", "of", ",", ".", "(", "update", "date", "dated", "birthday",
                                   "license", "policy", "public", "report", "meeting", "order", "x", "the:date",
                                   "cannot", "U.S.", "e.g.", "12/03/2024", "2024-03-12", "541921", "Date:", "-",
                                   "w" * 30, "supercalifragilistic"])
_CONTEXT_SEPS = st.sampled_from([" ", " ", " ", "  ", "\n", "\t", "\xa0", ", ", "\u3000"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(_CONTEXT_WORDS, _CONTEXT_SEPS), max_size=120))
def test_context_words_near_and_far_score_as_presidio(detector, parts) -> None:
    # Dates and short ids among stop words, punctuation, odd spaces and
    # context words ("update" holds "date", "policy" holds "lic") at every
    # distance, past the quiet test's reach too: the scores are Presidio's,
    # whether a finding was found quiet or tokenized.
    text = "".join(w + s for w, s in parts)
    entities = {"DATE_TIME", "US_DRIVER_LICENSE"}
    assert detector.analyze(text, entities) == detector.analyze_presidio(text, entities)


def test_colon_tokens_anywhere_change_keywords(detector) -> None:
    # "the:x" makes every "the" a keyword for Presidio, even far away.
    text = "ssn the 078-05-1120 " + "word " * 300 + "the:ssn"
    assert detector.analyze(text, detector.supported) == detector.analyze_presidio(text, detector.supported)


def test_long_texts(detector) -> None:
    rnd = random.Random(7)
    for size in (2_000, 20_000):
        words = []
        while sum(len(w) + 1 for w in words) < size:
            words.append(_pii(rnd) if rnd.random() < 0.05 else rnd.choice(_WORDS))
        text = " ".join(words)
        assert detector.analyze(text, detector.supported) == detector.analyze_presidio(text, detector.supported)


EVERYDAY = ["in 2014", "since 1999", "(2021)", "$49.99", "\u20ac120", "\u00a31,299.00", "1,299.00 USD", "$2500",
            "12/03/2024", "03/12/24", "2024-03-12", "3 March 2024", "March 5", "12.03.2024", "10:30", "9:15 am",
            "order #541921", "ref A-12345", "ticket 12345", "SKU 4410-22", "12 items", "45%", "12/03/2024 10:30",
            "2024-03-12 10:30", "page 12 of 40", "$1,234,567.89", "in 2011 in 2017", "12 May 2023 at 9:30"]


@pytest.mark.parametrize("number", EVERYDAY)
def test_everyday_numbers_reach_neither_the_phone_matcher_nor_the_tokenizer(detector, monkeypatch, number) -> None:
    # Years, prices, dates, times and short ids that no region's phone
    # matcher could accept are dropped before any matcher runs, and a date
    # with no context word near it is scored without tokens.
    fast = detector._fast
    calls = []
    monkeypatch.setattr(fast, "_phones", lambda text: calls.append(("phones", text)) or [])
    monkeypatch.setattr(fast.context, "_boost", lambda *a: calls.append(("tokens", a)))
    text = f"Please send the report about the {number} before the meeting with our customer."
    found = detector.analyze(text, detector.supported)
    monkeypatch.undo()
    assert found == detector.analyze_presidio(text, detector.supported)
    assert calls == []


def test_a_phone_number_or_a_context_word_still_reaches_them(detector, monkeypatch) -> None:
    fast = detector._fast
    calls = []
    phones_, boost = fast._phones, fast.context._boost
    monkeypatch.setattr(fast, "_phones", lambda text: calls.append("phones") or phones_(text))
    monkeypatch.setattr(fast.context, "_boost", lambda *a: calls.append("tokens") or boost(*a))
    for text in ("call 212-555-0123 today", "the date is 12/03/2024", "an update on 12/03/2024",
                 "license of 541921 here", "our policy: 541921"):  # (right after it, no tokens: test_pii_shortcuts)
        calls.clear()
        assert detector.analyze(text, detector.supported) == detector.analyze_presidio(text, detector.supported)
        assert calls, text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2**32), st.sampled_from([100, 1_000]))
def test_fast_path_on_the_benchmarks_everyday_numbers(detector, seed, size) -> None:
    text = numbers_text(random.Random(seed), size)
    assert detector.analyze(text, detector.supported) == detector.analyze_presidio(text, detector.supported)


def test_phone_extension_labels_match_as_phonenumbers_folds_case(detector) -> None:
    # phonenumbers reads its labels ignoring case, where "\u0131" (dotless i)
    # and "\u0130" are an "i" and "\u017f" (long s) an "s": "\u0131nt 45" is an
    # extension, and " in " between two numbers is not.
    for text in ("call 212 555 0123 \u0131nt 45 now", "call 212 555 0123 \u0130NT 45 now",
                 "call 212 555 0123 exten\u017fi\u00f3n 45 now", "call 212 555 0123 in 45 now",
                 "call 030 1234567 in 2011 in 2017"):
        assert detector.analyze(text, {"PHONE_NUMBER"}) == detector.analyze_presidio(text, {"PHONE_NUMBER"}), text
    assert phone_windows.phone_regions("in 2011 in 2017", prefilter.digit_runs("in 2011 in 2017"),
                                   detector._fast._may_hold) == []


def test_clean_text_never_reaches_presidio(detector, monkeypatch) -> None:
    calls = []
    for rec in detector._analyzer.registry.recognizers:
        monkeypatch.setattr(rec, "analyze", lambda *a, **k: calls.append(1) or [])
    assert detector.analyze("Please summarise this paragraph about the weather.", detector.supported) == []
    assert calls == []


# ---- the engine: whole decisions -----------------------------------------------

POLICY = """
policy "fast" version "1.0.0"
entities contact = [EMAIL_ADDRESS, PHONE_NUMBER, URL]
entities money = [CREDIT_CARD, IBAN_CODE, US_BANK_NUMBER]
input {
  rule redact-contact: redact contact using replace("<{entity}>")
  rule mask-money: redact money using mask("*")
  rule no-ssn: deny "no SSNs" when pii(US_SSN)
  rule weak: warn "maybe" when pii(DATE_TIME, IP_ADDRESS, min_score=0)
}
"""


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fragments)
def test_decisions_are_identical(detector, parts) -> None:
    text = _assemble(parts)
    fast = Engine.from_source(POLICY, cache_size=1).check_input(text)
    slow_engine = Engine.from_source(POLICY, cache_size=1)
    saved = detector._fast
    detector._fast = None
    try:
        slow = slow_engine.check_input(text)
    finally:
        detector._fast = saved
    keep = {"decision_id", "elapsed_us"}
    assert fast.model_dump(exclude=keep) == slow.model_dump(exclude=keep)


# ---- the prefilter's geometry and bounds -----------------------------------------


@given(st.text(st.sampled_from(list("ab1 \n\t\xa0\x1c")), max_size=40), st.data())
def test_word_boundaries(text, data) -> None:
    if not text:
        return
    pos = data.draw(st.integers(0, len(text) - 1))
    a, b = prefilter.word_start(text, pos), prefilter.word_end(text, pos)
    assert a <= pos <= b
    assert a == 0 or (text[a - 1] in prefilter.ASCII_WS and not text[a].isspace())
    assert b == len(text) or (text[b] in prefilter.ASCII_WS and not text[b - 1].isspace())


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 10)), max_size=10))
def test_compact_maps_back(raw) -> None:
    text = "".join(chr(97 + i % 26) for i in range(80))
    regions = prefilter.merge((a, a + n) for a, n in raw)
    c = prefilter.compact(text, regions)
    for (a, b), start in zip(regions, c.starts):
        assert c.text[start:start + b - a] == text[a:b]
        if b > a:
            assert c.to_original(start, start + b - a) == (a, b)


def test_phone_digit_bound_matches_metadata() -> None:
    from phonenumbers import PhoneMetadata
    from phonenumbers.phonenumberutil import SUPPORTED_REGIONS

    from guardrails.detectors.pii.phone_validity import MIN_INTERNATIONAL_DIGITS

    shortest = min(min(PhoneMetadata.metadata_for_region(r).general_desc.possible_length) for r in SUPPORTED_REGIONS)
    assert phone_windows.MIN_PHONE_DIGITS <= shortest
    with_code = min(
        len(str(md.country_code)) + min(md.general_desc.possible_length) - (2 if md.national_prefix_transform_rule else 0)
        for md in (PhoneMetadata.metadata_for_region(r) for r in SUPPORTED_REGIONS)
    )
    assert MIN_INTERNATIONAL_DIGITS <= with_code


def test_keyword_memo_is_bounded(detector) -> None:
    boost = detector._fast.context
    for i in range(100_050):
        boost.keyword_pieces(f"w{i}")
    assert len(boost.pieces) <= 100_000
    for i in range(100_050):
        boost.quiet(f"w{i} 2024-01-01", len(f"w{i} "), ("date",))
    assert 0 < len(boost.certain) <= 100_000


def test_phone_fast_path_needs_the_phonenumbers_functions_it_mirrors(monkeypatch) -> None:
    from guardrails.detectors.pii import fastpath

    assert fastpath._phone_mirrors_unchanged()
    monkeypatch.setitem(fastpath._MIRRORED_PHONE, "phonenumberutil.parse", "0000000000000000")
    assert not fastpath._phone_mirrors_unchanged()


def test_international_numbers_are_parsed_once_for_every_region() -> None:
    # A plus and a known country code: parse() ignores the default region.
    assert phones._region_free("+1 212 555 0123")
    assert phones._region_free("+49 30 123456 ext 12")
    # Without a plus, or with an unknown country code, the region matters
    # (parse() retries with the region's own rules), so nothing is shared.
    assert not phones._region_free("212 555 0123")
    assert not phones._region_free("+999 1234 5678")
    assert not phones._region_free("+1")


def test_a_prefix_less_national_number_is_skipped_only_where_the_prefix_is_required() -> None:
    import phonenumbers

    de = phone_validity.phone_validity_check("DE")
    us = phone_validity.phone_validity_check("US")
    # "30 1234567" is Berlin's number without its "0": phonenumbers parses it
    # for DE and then rejects it, so the check may skip it ...
    assert not de("301234567")
    assert not phonenumbers.PhoneNumberMatcher("call 30 1234567 now", "DE").has_next()
    # ... while with the prefix it is a candidate, as a US number is in the US.
    assert de("0301234567") and us("2125550123")


_TOKEN_SAMPLES = [
    "don't U.S. e.g. ssn:078-05-1120 (555) 123-4567 :) <3 $5.00 10km 'quoted' \u201csmart\u201d",
    "mail jane.doe+x@example.co.uk or https://example.com/a?b=1#c, ok?",
    "tabs\tand\nnewlines  double  spaces \u00a0nbsp \u2013 dash \u2014 em",
    "C++ -- ... !!! ??? #tag @user 3:30pm 12/31/2024 1,000.50",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fragments)
def test_window_tokenizer_splits_as_the_pipeline(detector, parts) -> None:
    # The context walk tokenizes with the pipeline's rules over a private
    # vocabulary: the tokens and their lower-case forms must be the pipeline's.
    fast = detector._fast
    for text in [_assemble(parts), *_TOKEN_SAMPLES]:
        ours = [(t.idx, t.text, t.lower_) for t in fast.tokenizer(text)]
        theirs = [(t.idx, t.text, t.lower_) for t in fast.tokenizer.source(text)]
        assert ours == theirs


def test_window_tokenizer_vocabulary_is_bounded(detector) -> None:
    fast = detector._fast
    small = type(fast.tokenizer)(fast.tokenizer.source, limit=50)
    first = small._tokenizer
    small(" ".join(f"word{i}" for i in range(100)))
    assert small.learned >= 100
    small("again")  # past the limit: a fresh vocabulary
    assert small._tokenizer is not first and small.learned <= 1
    assert [t.text for t in small("the same split")] == ["the", "same", "split"]
