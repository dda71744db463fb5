"""The engine's PII redaction is Presidio's, on the benchmark's own texts.

The benchmark (benchmarks/sections/pii.py) times this engine against
Presidio's AnalyzerEngine + AnonymizerEngine on three classes of text: clean
prose, prose with everyday numbers, prose with PII. The speed-up is worth
something only if the answers are the same, so this test runs both on texts
from the same generators (benchmarks/data.py) and checks:

- the spans (start, end, entity, score) are Presidio's analyzer's, on every
  text;
- the redacted text is what presidio-anonymizer writes for the engine's
  merged spans (the engine writes it directly, without the anonymizer);
- the redacted text is the benchmark peer's own on every text whose
  findings do not overlap. Where they overlap, the engine's merge (the
  union, labelled with the highest score; detectors/redact.py) and the
  anonymizer's conflict resolution (the containing span wins) may differ
  by design: the benchmark counts those texts (about 4% of them).

It also checks the direct rewrite against the anonymizer on generated spans
with every operator.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.data import numbers_text, pii_text, prose
from guardrails import Engine
from guardrails.detectors import (
    NER_ENTITIES,
    PiiConfig,
    Redaction,
    apply_redactions,
    get_pii_detector,
    merge_redactions,
)

MIN_SCORE = 0.3  # the policy language's default for `redact <entities>`
KEY = b"k" * 32


def _policy(entities: list[str]) -> str:
    return f"""
policy "identity" version "1.0.0"
entities everything = [{", ".join(entities)}]
input {{
  rule redact-pii: redact everything using replace("<{{entity}}>")
}}
"""


@pytest.fixture(scope="module")
def sides():
    from presidio_anonymizer import AnonymizerEngine
    from presidio_anonymizer.entities import OperatorConfig

    from guardrails.detectors.pii.presidio import build_analyzer

    entities = sorted(get_pii_detector(PiiConfig()).supported)
    engine = Engine.from_source(_policy(entities), cache_size=1)
    analyzer = build_analyzer("en", None, NER_ENTITIES)  # as the benchmark's peer is built
    anonymizer = AnonymizerEngine()

    def presidio(text: str):
        results = analyzer.analyze(text=text, language="en", entities=entities, score_threshold=MIN_SCORE)
        return results, anonymizer.anonymize(text=text, analyzer_results=results,
                                             operators={"DEFAULT": OperatorConfig("replace")}).text

    return engine, presidio


def _reference(text: str, merged: list[Redaction]) -> str:
    """presidio-anonymizer over disjoint spans, one synthetic type each (the
    way the engine called it before it wrote spans itself)."""
    from presidio_anonymizer import AnonymizerEngine
    from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

    results, operators = [], {}
    for i, r in enumerate(merged):
        name = f"GL_REDACTION_{i}"  # the names the engine gives them (a "" template shows it)
        results.append(RecognizerResult(name, r.start, r.end, r.score))
        params = dict(r.params)
        if r.operator == "replace":
            operators[name] = OperatorConfig("replace", {
                "new_value": params.get("template", "<{entity}>").format(entity=r.entity)})
        elif r.operator == "mask":
            operators[name] = OperatorConfig("mask", {"masking_char": params.get("char", "*"),
                                                      "chars_to_mask": r.end - r.start, "from_end": False})
        elif r.operator == "remove":
            operators[name] = OperatorConfig("redact", {})
        else:
            def digest(value: str, entity: str = r.entity) -> str:
                h = hmac.new(KEY, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:16]
                return f"<{entity}:{h}>"

            operators[name] = OperatorConfig("custom", {"lambda": digest})
    return AnonymizerEngine().anonymize(text=text, analyzer_results=results, operators=operators,
                                        merge_entities_with_spaces=False).text


def _overlapping(results) -> bool:
    spans = sorted((r.start, r.end) for r in results)
    return any(b > c for (_, b), (c, _) in itertools.pairwise(spans))


CORPORA = {
    "clean": lambda rnd, size: prose(rnd, size),
    "numbers": lambda rnd, size: numbers_text(rnd, size),
    "PII": lambda rnd, size: pii_text(rnd, size, {100: 1, 1_000: 3, 10_000: 10}[size]),
}
COUNTS = {100: 60, 1_000: 20, 10_000: 3}


@pytest.mark.parametrize("label", sorted(CORPORA))
@pytest.mark.parametrize("size", sorted(COUNTS))
def test_spans_and_redacted_text_are_presidios_on_the_benchmark_corpora(sides, label, size) -> None:
    engine, presidio = sides
    rnd = random.Random(f"{label}-{size}")
    strict = 0
    texts = [CORPORA[label](rnd, size) for _ in range(COUNTS[size])]
    for text in texts:
        decision = engine.check_input(text)
        results, theirs = presidio(text)
        ours = sorted((s.start, s.end, s.entity, s.score) for v in decision.violations for s in v.spans)
        assert ours == sorted((r.start, r.end, r.entity_type, round(r.score, 4)) for r in results), text
        merged = merge_redactions(Redaction(s.start, s.end, s.entity, s.score, "replace", (("template", "<{entity}>"),))
                                  for v in decision.violations for s in v.spans)
        assert decision.text == _reference(text, merged), text
        if not _overlapping(results):
            assert decision.text == theirs, text
            strict += 1
    # Long texts nearly always hold two overlapping findings somewhere (an
    # email whose domain is also a URL, a date inside a phone-shaped run).
    assert strict > 0 or size == 10_000


# ---- the direct rewrite --------------------------------------------------------

_TEMPLATES = ["<{entity}>", "", "[x]", "{{{entity}}}", "{{ }}", "\u00e9"]
_MASKS = ["*", "#", "\u2588", "x"]


@st.composite
def _redactions(draw):
    text = draw(st.text(st.sampled_from(list("ab c.\n") + ["\u00e9", "\U0001f600", "\u0663"]), max_size=40))
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=8)))
    spans = []
    for a, b in zip(cuts[::2], cuts[1::2]):
        operator = draw(st.sampled_from(["replace", "mask", "remove", "hash"]))
        params: tuple = ()
        if operator == "replace":
            params = (("template", draw(st.sampled_from(_TEMPLATES))),)
        elif operator == "mask":
            params = (("char", draw(st.sampled_from(_MASKS))),)
        entity = draw(st.sampled_from(["EMAIL_ADDRESS", "PHONE_NUMBER", "X"]))
        spans.append(Redaction(a, b, entity, draw(st.sampled_from([0.3, 0.85, 1.0])), operator, params))
    return text, spans


@settings(max_examples=300, deadline=None)
@given(_redactions())
def test_the_direct_rewrite_is_what_the_anonymizer_writes(case) -> None:
    # Sorted, disjoint spans (touching, empty, at either end), every operator,
    # templates that render to "" (where the anonymizer writes its own label).
    text, spans = case
    assert apply_redactions(text, spans, hash_key=KEY) == _reference(text, spans)
