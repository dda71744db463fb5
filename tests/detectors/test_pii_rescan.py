"""A candidate that fails its check does not hide an overlapping one.

Presidio's pattern recognizers resume scanning at the end of every
candidate, rejected or not, so a candidate that fails Luhn (or the IBAN
checksum, or the email domain check) used to hide a real value starting
inside it. Both PII paths now scan inside a rejected candidate
(guardrails/detectors/pii/rescan.py); these tests pin the cases found and the
bound on the extra work.
"""

from __future__ import annotations

import pytest
import regex
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    IbanRecognizer,
)

from guardrails import Engine, Outcome
from guardrails.detectors.pii import rescan

# Found by tests/test_properties.py: the SSN's last group and the card's first
# three groups make a Luhn-invalid card candidate that hid the second card.
CARD_AFTER_SSN = "5100 0000 3000 0036 001-01-1001 5100 0000 3000 0036"
CARD = "5100 0000 3000 0036"
# "DE00 1234 GB82 WEST ..." is one IBAN candidate that fails the checksum
# in every form; the valid IBAN starting inside it was never tried.
IBAN_AFTER_BAD = "pay DE00 1234 GB82 WEST 1234 5698 7654 32 today"
IBAN = "GB82 WEST 1234 5698 7654 32"
# "a@b.c" is an email candidate whose domain is not one; "c@example.com" starts inside it.
EMAIL_AFTER_BAD = "write to a@b.c@example.com now"

OPERATORS = {"mask": 'mask("*")', "replace": 'replace("<{entity}>")', "hash": "hash", "remove": "remove"}


def _values(detector, text: str, entity: str, presidio: bool) -> list[str]:
    analyze = detector.analyze_presidio if presidio else detector.analyze
    return [text[f.start:f.end] for f in analyze(text, {entity}) if f.entity == entity]


def test_stock_presidio_misses_them() -> None:
    # The cause, pinned: if Presidio starts finding these itself, the rescan
    # can go.
    assert CreditCardRecognizer().analyze("001-01-1001 5100 0000 3000 0036", ["CREDIT_CARD"]) == []
    assert IbanRecognizer().analyze(IBAN_AFTER_BAD, ["IBAN_CODE"]) == []


@pytest.mark.parametrize("presidio", [False, True], ids=["fast-path", "presidio"])
@pytest.mark.parametrize(("text", "entity", "value"), [
    (CARD_AFTER_SSN, "CREDIT_CARD", CARD),
    ("001-01-1001 5100 0000 3000 0036", "CREDIT_CARD", CARD),
    (IBAN_AFTER_BAD, "IBAN_CODE", IBAN),
    (EMAIL_AFTER_BAD, "EMAIL_ADDRESS", "b.c@example.com"),
])
def test_a_rejected_candidate_hides_nothing(pii_detector, presidio, text, entity, value) -> None:
    assert value in _values(pii_detector, text, entity, presidio)


def test_both_cards_are_found(pii_detector) -> None:
    found = pii_detector.analyze(CARD_AFTER_SSN, {"CREDIT_CARD", "US_SSN"})
    assert [(f.entity, CARD_AFTER_SSN[f.start:f.end]) for f in found] == [
        ("CREDIT_CARD", CARD), ("US_SSN", "001-01-1001"), ("CREDIT_CARD", CARD)]
    assert found == pii_detector.analyze_presidio(CARD_AFTER_SSN, {"CREDIT_CARD", "US_SSN"})


@pytest.fixture(scope="module")
def redactors() -> dict[str, Engine]:
    return {
        name: Engine.from_source(
            'policy "t" version "1.0.0"\n'
            f"input {{ rule r: redact [EMAIL_ADDRESS, CREDIT_CARD, US_SSN, IBAN_CODE] using {op} }}",
            hash_salt=b"rescan",
        )
        for name, op in OPERATORS.items()
    }


@pytest.mark.parametrize("operator", sorted(OPERATORS))
@pytest.mark.parametrize(("text", "values"), [
    (CARD_AFTER_SSN, [CARD, "001-01-1001"]),
    (IBAN_AFTER_BAD, [IBAN, "WEST 1234"]),
    (EMAIL_AFTER_BAD, ["c@example.com"]),
])
def test_redaction_removes_every_value(redactors, operator, text, values) -> None:
    d = redactors[operator].check_input(text)
    assert d.outcome is Outcome.REDACT
    for value in values:
        assert value not in d.text, f"{value!r} survived {operator}: {d.text!r}"


# ---- the bound ------------------------------------------------------------


def test_each_retry_advances_and_stops_at_the_end() -> None:
    rx = regex.compile(r"\d+ \d+")
    text = "1 2 3 4 5"
    seen: list[tuple[int, int]] = []

    def reject(m):
        seen.append(m.span())  # and None: rejected

    # The rejected candidate is "1 2" (0-3): inside it only "2 3" starts.
    assert rescan.inside_rejected(rx, text, 0, 3, reject, None) == []
    assert seen == [(2, 5)]
    seen.clear()
    # A candidate it accepts is kept and the scan resumes at its end.
    assert rescan.inside_rejected(rx, "11 2 3 4", 0, 8, lambda m: seen.append(m.span()) or m.span(), None) == [
        (1, 4), (5, 8)]


def test_checks_inside_one_rejected_candidate_are_capped() -> None:
    rx = regex.compile(r"\w(?:\.\w)*@x")
    text = "a." * 1000 + "a@x"
    calls = []
    assert rescan.inside_rejected(rx, text, 0, len(text), lambda m: calls.append(m) and None, None) == []
    assert len(calls) == rescan.MAX_INSIDE


def test_a_dotted_local_part_is_checked_a_bounded_number_of_times(pii_detector, monkeypatch) -> None:
    email = next(r for r in pii_detector._analyzer.registry.recognizers if "EMAIL_ADDRESS" in r.supported_entities)
    calls: list[str] = []
    real = email.validate_result

    def counting(text: str):
        calls.append(text)
        return real(text)

    monkeypatch.setattr(email, "validate_result", counting)
    text = "a." * 100 + "a@b.zzz"  # one candidate, rejected (no such domain), with 100 starts inside
    for analyze in (pii_detector.analyze, pii_detector.analyze_presidio):
        calls.clear()
        assert analyze(text, {"EMAIL_ADDRESS"}) == []
        assert 0 < len(calls) <= 2 + rescan.MAX_INSIDE


@pytest.mark.parametrize("text", [
    "1-" * 16000,
    "4111 1111 1111 1112 " * 300,  # every candidate fails Luhn
    " ".join(f"{i:04d}" for i in range(2000)),  # digit soup: candidates everywhere
])
def test_adversarial_texts_agree(pii_detector, text) -> None:
    entities = pii_detector.supported
    assert pii_detector.analyze(text, entities) == pii_detector.analyze_presidio(text, entities)
