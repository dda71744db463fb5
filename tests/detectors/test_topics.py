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


def test_out_of_range_weights_are_clamped() -> None:
    # the checker warns about these (W301) but still compiles the policy
    scorer = TopicScorer("t", [("big", 3.0), ("zero", 0), ("neg", -0.5), ("inf", float("inf"))])
    r = scorer.score("big zero neg")
    assert r.score == 1.0
    assert [(f.score, f.entity) for f in r.findings] == [(1.0, "TOPIC:t")]
    assert scorer.score("zero neg") == TopicResult(0.0, ())
    assert scorer.score("inf").score == 1.0


@pytest.mark.parametrize("weight", [float("nan"), "0.5", None, True])
def test_non_numeric_weights_rejected(weight: object) -> None:
    with pytest.raises(ValueError):
        TopicScorer("t", [("x", weight)])  # type: ignore[list-item]


def test_empty_name_rejected() -> None:
    with pytest.raises(ValueError):
        TopicScorer("", [("x", 1.0)])


def test_classifier_protocol() -> None:
    class Keyword:
        def score(self, topic: str, text: str) -> float:
            return 1.0 if topic in text else 0.0

    assert isinstance(Keyword(), TopicClassifier)
    assert not isinstance(object(), TopicClassifier)
