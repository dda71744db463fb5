from __future__ import annotations

import pytest

from guardrails.detectors import Finding, TopicClassifier, TopicResult, TopicScorer


def test_score_sums_distinct_terms_and_caps() -> None:
    scorer = TopicScorer("medical", [("diagnosis", 0.5), ("symptom", 0.25), ("prescription", 0.75)])
    assert scorer.score("nothing here") == TopicResult(0.0, ())
    r = scorer.score("diagnosis, diagnosis and DIAGNOSIS")
    assert r.score == 0.5  # repeats do not add up
    assert len(r.findings) == 3
    assert all(f.entity == "TOPIC:medical" and f.score == 0.5 for f in r.findings)
    assert scorer.score("a symptom and a diagnosis").score == 0.75
    assert scorer.score("symptom diagnosis prescription").score == 1.0


def test_findings_in_original_coordinates() -> None:
    scorer = TopicScorer("t", [("weapon", 1.0)])
    text = "a W\u200bE\u0430PON here"
    r = scorer.score(text)
    assert r.findings == (Finding(2, 9, "TOPIC:t", 1.0),)
    assert text[2:9] == "W\u200bE\u0430PON"


@pytest.mark.parametrize("weight", [0, -0.1, 1.5, float("nan")])
def test_weights_must_be_in_unit_interval(weight: float) -> None:
    with pytest.raises(ValueError):
        TopicScorer("t", [("x", weight)])


def test_empty_name_rejected() -> None:
    with pytest.raises(ValueError):
        TopicScorer("", [("x", 1.0)])


def test_classifier_protocol() -> None:
    class Keyword:
        def score(self, topic: str, text: str) -> float:
            return 1.0 if topic in text else 0.0

    assert isinstance(Keyword(), TopicClassifier)
    assert not isinstance(object(), TopicClassifier)
