"""A PII pattern that runs past its time limit fails the check closed.

Presidio logs a pattern's timeout and carries on without its findings, which
would judge the text as holding none of that entity. Here the limit is made
tiny (the same limit, set lower, not a fake scanner) so that real scans run
past it: on the fast path, in Presidio's own loop (an optional recognizer),
and under ``fail_open``.
"""

from __future__ import annotations

import logging

import pytest
from presidio_analyzer import pattern_recognizer

from guardrails import Engine, Outcome
from guardrails.detectors.pii import PiiConfig, get_pii_detector

# Text that holds SSN-shaped and card-shaped windows, so the pattern loops run.
TEXT = " ".join(f"ref 123-45-{6000 + i} and 4111 1111 1111 {1000 + i}" for i in range(300))


def policy(entities: str, on_error: str = "fail_closed") -> Engine:
    return Engine.from_source(f'''policy "p" version "1.0.0"
config {{ on_error = "{on_error}" }}
input {{
  rule r: redact [{entities}] using replace("<{{entity}}>")
}}
''')


@pytest.fixture
def tiny_fast_limit(monkeypatch):
    fast = get_pii_detector(PiiConfig())._fast
    assert fast is not None, "the fast path is on by default"
    monkeypatch.setattr(fast, "_regex_timeout", 1e-9)


@pytest.fixture
def tiny_presidio_limit(monkeypatch):
    monkeypatch.setattr(pattern_recognizer, "REGEX_TIMEOUT_SECONDS", 1e-9)


def test_a_timeout_on_the_fast_path_denies_with_the_error(tiny_fast_limit):
    d = policy("US_SSN, CREDIT_CARD").check_input(TEXT)
    assert d.outcome is Outcome.DENY
    assert [(e.rule, e.code) for e in d.errors] == [("r", "regex-timeout")]
    assert "ran past its time limit" in d.errors[0].message
    assert "123-45" not in d.errors[0].message and d.text != TEXT  # nothing of the text leaks or passes


def test_without_the_tiny_limit_the_same_check_redacts():
    d = policy("US_SSN, CREDIT_CARD").check_input(TEXT)
    assert d.outcome is Outcome.REDACT and not d.errors


def test_fail_open_skips_the_rule_and_keeps_the_error(tiny_fast_limit):
    d = policy("US_SSN, CREDIT_CARD", on_error="fail_open").check_input(TEXT)
    assert d.outcome is Outcome.ALLOW
    assert [e.code for e in d.errors] == ["regex-timeout"]


def test_a_timeout_inside_presidios_own_loop_is_not_swallowed(tiny_presidio_limit, caplog):
    """An optional recognizer runs through Presidio's analyzer, whose loop
    logs the timeout and goes on; the check reads that record and fails."""
    text = " ".join(f"PAN ABCDE{1000 + i}F" for i in range(400))
    with caplog.at_level(logging.WARNING, logger="presidio-analyzer"):
        d = policy("IN_PAN").check_input(text)
    assert d.outcome is Outcome.DENY
    assert [(e.rule, e.code) for e in d.errors] == [("r", "regex-timeout")]
    # Reported once, as the decision's error: not also as a warning with a traceback.
    assert not [r for r in caplog.records if "timed out" in r.getMessage()]


def test_presidios_warning_outside_a_check_is_left_alone(tiny_presidio_limit, caplog):
    from presidio_analyzer import Pattern, PatternRecognizer

    get_pii_detector(PiiConfig())  # the recorder is installed with the first detector
    rec = PatternRecognizer(supported_entity="X", patterns=[Pattern("x", r"\d+", 0.5)])
    with caplog.at_level(logging.WARNING, logger="presidio-analyzer"):
        assert rec.analyze("1 " * 5000, ["X"]) == []
    assert [r for r in caplog.records if "timed out" in r.getMessage()]
