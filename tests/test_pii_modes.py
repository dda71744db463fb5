"""PII beyond the defaults, with a real Presidio analyzer: the optional
recognizers, allow-lists and the strict mode.

`measure()` is also the figure docs/language.md reports ("The strict mode"):
run this file as a script to print it.
"""

from __future__ import annotations

import random
import string

import pytest

from benchmarks.data import _luhn, numbers_text, pii_value, prose
from guardrails import Engine
from guardrails.detectors import PiiConfig, get_pii_detector
from guardrails.detectors.pii import (
    AllowEntry,
    AllowList,
    PiiOptions,
    optional_entities,
)

MIN_SCORE = 0.3
STRICT = PiiOptions("strict")


@pytest.fixture(scope="module")
def detector():
    return get_pii_detector(PiiConfig())


# ---- optional recognizers ------------------------------------------------------

OPTIONAL_TEXTS = [
    "Codice fiscale RSSMRA85T10A562S, partita IVA 07643520567.",
    "NIF 12345678Z y NIE X1234567L; call 212-555-0123.",
    "NINO AB123456C, NHS 943 476 5919, postcode SW1A 1AA.",
    "PAN ABCPD1234E and Aadhaar 2345 6789 0124, mail a@b.example.com",
    "TFN 123 456 782, ABN 51 824 753 556, card 4111 1111 1111 1111",
]


def test_every_optional_entity_is_offered_and_none_is_a_default(detector):
    optional = optional_entities()
    assert {"IT_FISCAL_CODE", "ES_NIF", "UK_NINO", "IN_PAN", "AU_TFN", "DE_TAX_ID"} <= optional
    assert not optional & detector.supported


def test_optional_entities_are_what_one_registry_with_them_all_finds(detector):
    """The detector runs the optional recognizers in an analyzer of their own;
    one Presidio analyzer holding every recognizer finds the same."""
    from presidio_analyzer import AnalyzerEngine

    from guardrails.detectors.pii.presidio import (
        _rescan_rejected,
        build_analyzer,
        optional_recognizers,
    )

    full = build_analyzer("en", None, frozenset())
    for cls in optional_recognizers("en").values():
        full.registry.add_recognizer(cls(supported_language="en"))
    _rescan_rejected(full.registry)
    assert isinstance(full, AnalyzerEngine)
    entities = sorted(optional_entities() | {"PHONE_NUMBER", "EMAIL_ADDRESS", "CREDIT_CARD", "UK_NHS"})
    for text in OPTIONAL_TEXTS:
        want = sorted({(r.start, r.end, r.entity_type, r.score)
                       for r in full.analyze(text=text, language="en", entities=entities, score_threshold=0)})
        got = sorted((f.start, f.end, f.entity, f.score) for f in detector.analyze(text, entities))
        assert got == want, text


def test_a_country_recognizer_validates_its_values(detector):
    good = detector.analyze("NIF 12345678Z", ["ES_NIF"])
    bad = detector.analyze("NIF 12345678A", ["ES_NIF"])  # the wrong check letter
    assert [f.score for f in good] == [1.0]
    assert bad == []


def test_a_policy_naming_a_country_entity_redacts_it():
    engine = Engine.from_source('policy "t" version "1.0.0"\n'
                                "input { rule r: redact [IT_FISCAL_CODE, ES_NIF] }\n")
    d = engine.check_input("CF RSSMRA85T10A562S and NIF 12345678Z.")
    assert d.text == "CF <IT_FISCAL_CODE> and NIF <ES_NIF>."


# ---- allow-lists ---------------------------------------------------------------------

ALLOWING = """policy "t" version "1.0.0"
entities contact = [EMAIL_ADDRESS, URL]
allow contact [domain "acme.com"]
allow EMAIL_ADDRESS ["Ops@Partner.com"]
allow PHONE_NUMBER ["+1 212 555 0100", /^\\(800\\)/]
input {
  rule hide: redact [EMAIL_ADDRESS, URL, PHONE_NUMBER]
  rule any: warn "personal data" when pii(EMAIL_ADDRESS, PHONE_NUMBER)
}
"""


def test_allowed_values_are_left_alone_and_others_redacted():
    engine = Engine.from_source(ALLOWING)
    text = ("Write support@help.acme.com or ops@partner.com, not jo@shop.com; see "
            "https://www.acme.com/help; call +1-212-555-0100, (800) 555-0199 or 212-555-0199.")
    d = engine.check_input(text)
    assert d.text == ("Write support@help.acme.com or ops@partner.com, not <EMAIL_ADDRESS>; see "
                      "https://www.acme.com/help; call +1-212-555-0100, (800) 555-0199 or <PHONE_NUMBER>.")


def test_a_text_with_only_allowed_values_fires_no_rule():
    engine = Engine.from_source(ALLOWING)
    d = engine.check_input("Mail support@acme.com or call +1 212 555 0100.")
    assert d.outcome.value == "allow" and not d.violations


def test_allow_lists_are_per_policy_even_on_one_engine_cache(tmp_path):
    (tmp_path / "a.policy").write_text(ALLOWING.replace('"t"', '"a"'))
    (tmp_path / "b.policy").write_text('policy "b" version "1.0.0"\ninput { rule hide: redact [EMAIL_ADDRESS] }\n')
    engine = Engine.from_path(tmp_path)
    text = "Mail support@acme.com now."
    assert engine.check_input(text, policy="a").text == text
    assert engine.check_input(text, policy="b").text == "Mail <EMAIL_ADDRESS> now."


def test_allow_list_matching_rules():
    allow = AllowList.build([
        ("EMAIL_ADDRESS", AllowEntry("domain", "acme.com")),
        ("URL", AllowEntry("domain", "acme.com")),
        ("PHONE_NUMBER", AllowEntry("value", "+1 (212) 555-0100")),
        ("US_SSN", AllowEntry("regex", "^078-05-", "")),
    ])
    assert allow.allows("EMAIL_ADDRESS", "a@ACME.com") and allow.allows("EMAIL_ADDRESS", "a@x.acme.com")
    assert not allow.allows("EMAIL_ADDRESS", "a@notacme.com")  # a domain, not a suffix of letters
    assert allow.allows("URL", "https://acme.com:8443/x") and not allow.allows("URL", "https://acme.com.evil.example")
    assert allow.allows("PHONE_NUMBER", "+1.212.555.0100") and not allow.allows("PHONE_NUMBER", "+1 212 555 0101")
    assert allow.allows("US_SSN", "078-05-1120") and not allow.allows("US_SSN", "123-45-6789")
    assert not allow.allows("CREDIT_CARD", "4111 1111 1111 1111")


# ---- the strict mode ------------------------------------------------------------------

def test_strict_finds_2_series_mastercard_and_default_does_not(detector):
    text = "card 2221 0000 0000 0009, 2720-9999-9999-9996 and 2721 0000 0000 0008"
    default = [f for f in detector.analyze(text, ["CREDIT_CARD"]) if f.score >= MIN_SCORE]
    strict = [text[f.start:f.end] for f in detector.analyze(text, ["CREDIT_CARD"], STRICT)]
    assert default == []
    assert strict == ["2221 0000 0000 0009", "2720-9999-9999-9996"]  # 2721 is outside the range


def test_strict_keeps_whole_url_suffixes(detector):
    text = "see https://shop.biz/x, www.acme.museum/y, harbor.bizarre and omar@harbor.biz"
    default = [text[f.start:f.end] for f in detector.analyze(text, ["URL"])]
    strict = [text[f.start:f.end] for f in detector.analyze(text, ["URL"], STRICT)]
    assert "https://shop.bi" in default and "www.acme.mu" in default
    assert strict == ["https://shop.biz/x", "www.acme.museum/y", "harbor.biz"]


def test_strict_drops_phone_findings_on_labelled_numbers_and_dates(detector):
    labelled = ["order #382704", "INV-1999-9869", "ticket 09399", "ref A-06857", "SKU 1640-14", "on 05.06.2014"]
    for t in labelled:
        assert not detector.analyze(t, ["PHONE_NUMBER"], STRICT), t
    real = "call 212-555-0199 about order #382704"
    assert [real[f.start:f.end] for f in detector.analyze(real, ["PHONE_NUMBER"], STRICT)] == ["212-555-0199"]


def test_strict_finds_cards_with_dots_and_emails_spaced_around_the_at(detector):
    text = "card 4946.3960.2402.4623, version 1.2.3.4, 4946.3960.2402.4624 and tomasz @ example.net or me @ home.invalidtld"
    strict = [(text[f.start:f.end], f.entity) for f in detector.analyze(text, ["CREDIT_CARD", "EMAIL_ADDRESS"], STRICT)]
    default = [f for f in detector.analyze(text, ["CREDIT_CARD", "EMAIL_ADDRESS"]) if f.score >= MIN_SCORE]
    assert strict == [("4946.3960.2402.4623", "CREDIT_CARD"), ("tomasz @ example.net", "EMAIL_ADDRESS")]
    assert default == []  # the second card fails the Luhn check; the last suffix is unknown


def test_strict_mode_from_the_policy_setting():
    engine = Engine.from_source('policy "t" version "1.0.0"\nconfig { pii_mode = "strict" }\n'
                                "input { rule r: redact [CREDIT_CARD, PHONE_NUMBER] }\n")
    d = engine.check_input("card 2221 0000 0000 0009, order #3827041, call 212-555-0199")
    assert d.text == "card <CREDIT_CARD>, order #3827041, call <PHONE_NUMBER>"


# ---- measured: the default mode, the strict mode and Presidio ------------------------

KINDS = ("email", "phone", "card", "ssn", "iban", "ip", "url", "card2", "url_tld")
ENTITY = {"email": "EMAIL_ADDRESS", "phone": "PHONE_NUMBER", "card": "CREDIT_CARD", "card2": "CREDIT_CARD",
          "ssn": "US_SSN", "iban": "IBAN_CODE", "ip": "IP_ADDRESS", "url": "URL", "url_tld": "URL"}
ENTITIES = sorted(set(ENTITY.values()))


def _value(rnd: random.Random, kind: str) -> str:
    if kind == "card2":
        cc = _luhn(str(rnd.randint(2221, 2720)), 16, rnd)
        return rnd.choice([" ", "-", ""]).join(cc[i:i + 4] for i in range(0, 16, 4))
    if kind == "url_tld":
        host = "".join(rnd.choice(string.ascii_lowercase) for _ in range(6))
        return f"https://{host}.{rnd.choice(['biz', 'museum', 'travel', 'info', 'coop', 'jobs'])}/{rnd.randint(1, 999)}"
    return pii_value(rnd, kind)


def measure(n: int = 300, seed: int = 14) -> dict:
    """Recall per mode (a value counts as found when a finding of its entity,
    scored at least 0.3, covers exactly it) and the false-positive rate (the
    share of texts with everyday numbers and no PII that get any finding)."""
    detector = get_pii_detector(PiiConfig())
    rnd = random.Random(seed)
    found = {"presidio": 0, "default": 0, "strict": 0}
    by_kind: dict[str, dict[str, int]] = {k: dict.fromkeys(found, 0) for k in KINDS}
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        value = _value(rnd, kind)
        left = prose(rnd, 60)
        text = f"{left} {value} {prose(rnd, 40)}"
        start = len(left) + 1
        want = (start, start + len(value), ENTITY[kind])
        runs = {"presidio": detector.analyze_presidio(text, ENTITIES), "default": detector.analyze(text, ENTITIES),
                "strict": detector.analyze(text, ENTITIES, STRICT)}
        for mode, findings in runs.items():
            if any((f.start, f.end, f.entity) == want and f.score >= MIN_SCORE for f in findings):
                found[mode] += 1
                by_kind[kind][mode] += 1
    flagged = dict.fromkeys(found, 0)
    for _ in range(n):
        text = numbers_text(rnd, 400)
        runs = {"presidio": detector.analyze_presidio(text, ENTITIES), "default": detector.analyze(text, ENTITIES),
                "strict": detector.analyze(text, ENTITIES, STRICT)}
        for mode, findings in runs.items():
            flagged[mode] += any(f.score >= MIN_SCORE for f in findings)
    return {"n": n, "recall": {m: found[m] / n for m in found}, "fp_rate": {m: flagged[m] / n for m in flagged},
            "by_kind": by_kind}


def test_strict_beats_default_on_the_corpus_and_default_is_presidio():
    m = measure(n=90)
    assert m["recall"]["default"] == m["recall"]["presidio"]
    assert m["fp_rate"]["default"] == m["fp_rate"]["presidio"]
    assert m["recall"]["strict"] > m["recall"]["default"]
    assert m["fp_rate"]["strict"] < m["fp_rate"]["default"]
    assert m["by_kind"]["card2"]["strict"] == 10 and m["by_kind"]["card2"]["default"] == 0


if __name__ == "__main__":
    import json

    print(json.dumps(measure(), indent=2))
