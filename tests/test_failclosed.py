"""Errors during evaluation fail closed by default, fail open on request,
and are always reported in the decision."""

from __future__ import annotations

import pytest

from guardrails import Engine, Outcome

CATASTROPHIC = 'pattern slow = /(a|aa)+b/\n'
EVIL_TEXT = "a" * 40 + "!"


def _engine(body: str, *, on_error: str | None = None, **options) -> Engine:
    config = f'config {{ on_error = "{on_error}" regex_timeout_ms = 20 }}\n' if on_error else (
        "config { regex_timeout_ms = 20 }\n")
    return Engine.from_source('policy "t" version "1.0.0"\n' + config + body, hash_salt=b"k", **options)


def test_regex_timeout_fails_closed():
    e = _engine(CATASTROPHIC + 'input { rule r: warn "slow" when text matches slow }')
    d = e.check_input(EVIL_TEXT)
    assert d.outcome is Outcome.DENY
    assert [err.code for err in d.errors] == ["regex-timeout"]
    assert d.violations[0].rule == "r" and d.violations[0].error.startswith("regex-timeout")
    assert d.text is None


def test_regex_timeout_fails_open_when_chosen():
    e = _engine(CATASTROPHIC + 'input { rule r: deny "slow" when text matches slow }', on_error="fail_open")
    d = e.check_input(EVIL_TEXT)
    assert d.outcome is Outcome.ALLOW
    assert d.text == EVIL_TEXT
    assert [err.code for err in d.errors] == ["regex-timeout"]


def test_redaction_pattern_timeout_fails_closed():
    e = _engine(CATASTROPHIC + "input { rule r: redact pattern slow }")
    d = e.check_input(EVIL_TEXT)
    assert d.outcome is Outcome.DENY
    assert d.errors and d.errors[0].code == "regex-timeout"


class _BrokenClassifier:
    def score(self, topic: str, text: str) -> float:
        raise RuntimeError("model server down: secret text here")


class _ConfidentClassifier:
    def score(self, topic: str, text: str) -> float:
        return 0.9 if topic == "medical" and "pill" in text else 0.0


TOPIC = 'topic medical { "diagnosis" 1.0 }\noutput { rule m: deny "medical" when topic(medical) >= 0.6 }'


def test_failing_topic_classifier_fails_closed_without_leaking_text():
    e = _engine(TOPIC, topic_classifier=_BrokenClassifier())
    d = e.check_output("hello")
    assert d.outcome is Outcome.DENY
    assert d.errors[0].code == "detector-failed"
    assert "secret text" not in d.model_dump_json()


def test_topic_classifier_plugin_raises_the_score():
    e = _engine(TOPIC, topic_classifier=_ConfidentClassifier())
    assert e.check_output("take one pill a day").outcome is Outcome.DENY
    assert e.check_output("take a walk").outcome is Outcome.ALLOW


@pytest.mark.parametrize("mode,outcome", [("fail_closed", Outcome.DENY), ("fail_open", Outcome.ALLOW)])
def test_bad_argument_types_follow_on_error(mode, outcome):
    e = _engine('config { tool_default = "allow" }\n'
                'tool_call { rule d: deny "big" when tool == "pay" and args.amount > 10 }', on_error=mode)
    d = e.check_tool_call("pay", {"amount": "lots"})
    assert d.outcome is outcome
    assert d.errors[0].code == "type-error"
    assert "amount" in d.errors[0].message


def test_invalid_requests_are_error_decisions():
    e = _engine('tool_call { rule a: allow when tool == "x" }')
    for tool, args in [("", {}), (None, {}), ("x", ["not", "a", "map"]), ("x", {"k": object()}), ("x", {1: "a"})]:
        d = e.check_tool_call(tool, args)
        assert d.outcome is Outcome.DENY
        assert d.errors[0].code == "invalid-request"
    d = e.check_retrieval([{"text": 3}])
    assert d.outcome is Outcome.DENY and d.errors[0].code == "invalid-request"
    d = e.check_retrieval("not a list")
    assert d.outcome is Outcome.DENY and d.errors[0].code == "invalid-request"


def test_oversized_input_is_denied_even_when_failing_open():
    e = _engine('config { max_text_length = 100 }\ninput { }', on_error="fail_open")
    d = e.check_input("x" * 101)
    assert d.outcome is Outcome.DENY and d.errors[0].code == "input-too-large"
    assert e.check_input("x" * 100).outcome is Outcome.ALLOW
