"""StreamGuard: holdback, split values, mid-stream stops, restoring, cost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardrails import Engine
from guardrails.decision import Outcome
from guardrails.guard.backend import EscalationRequired, PolicyViolation
from guardrails.guard.pseudonymize import Pseudonymizer
from guardrails.guard.stream_guard import (
    DEFAULT_HOLDBACK,
    StreamGuard,
    _replacements,
    aguard_text_stream,
    guard_text_stream,
)

POLICY = Path(__file__).parent / "fixtures" / "guard" / "stream.policy"


@pytest.fixture(scope="module")
def engine():
    return Engine.from_path(POLICY)


def split(text: str, cuts: list[int]) -> list[str]:
    cuts = sorted({c for c in cuts if 0 < c < len(text)})
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:])]


def run(engine, chunks, **kw) -> str:
    sg = StreamGuard(engine, policy="stream-test", **kw)
    return "".join(guard_text_stream(chunks, sg))


ANSWER = (
    "Thanks for waiting. I wrote to jo.smith@example.com about ticket TCK-123456, "
    "and the refund goes to card 4111 1111 1111 1111 within five days. "
) * 3 + "Is there anything else I can help with today? " * 4


class Counting:
    """An engine stand-in that counts the characters its output rules see."""

    def __init__(self, engine):
        self.engine = engine
        self.calls = 0
        self.chars = 0

    def check_input(self, *a, **k):
        return self.engine.check_input(*a, **k)

    def check_tool_call(self, *a, **k):
        return self.engine.check_tool_call(*a, **k)

    def check_output(self, text, **k):
        self.calls += 1
        self.chars += len(text)
        return self.engine.check_output(text, **k)


# ---- what is released ------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 64, 100, 1000])
def test_stream_releases_exactly_the_redacted_answer(engine, size):
    chunks = [ANSWER[i:i + size] for i in range(0, len(ANSWER), size)]
    expected = engine.check_output(ANSWER, policy="stream-test").text
    assert run(engine, chunks) == expected
    assert "jo.smith@example.com" not in run(engine, chunks)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, len(ANSWER)), max_size=40))
def test_any_chunking_gives_the_same_redacted_text(engine, cuts):
    out = run(engine, split(ANSWER, cuts))
    assert out == engine.check_output(ANSWER, policy="stream-test").text
    for secret in ("jo.smith@example.com", "4111 1111 1111 1111", "TCK-123456"):
        assert secret not in out


def test_nothing_is_released_before_the_holdback_is_seen(engine):
    sg = StreamGuard(engine, policy="stream-test")
    released = ""
    fed = ""
    for ch in ANSWER:
        fed += ch
        released += sg.feed(ch)
        # Everything released was checked with at least `holdback` characters after it.
        assert sg.released <= len(fed) - DEFAULT_HOLDBACK or sg.released == 0
    tail, decision = sg.finish()
    assert decision.outcome is Outcome.REDACT
    assert released + tail == decision.text


def test_infinite_holdback_releases_only_at_the_end(engine):
    sg = StreamGuard(engine, policy="stream-test", holdback=float("inf"))
    assert all(sg.feed(ANSWER[i:i + 10]) == "" for i in range(0, len(ANSWER), 10))
    tail, d = sg.finish()
    assert tail == d.text


# ---- stopping --------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 4, 7, 30])
def test_a_banned_phrase_split_across_chunks_stops_the_stream(engine, size):
    text = "All good so far. " * 8 + "Now launch the missiles now please. " + "More text. " * 20
    chunks = [text[i:i + size] for i in range(0, len(text), size)]
    sg = StreamGuard(engine, policy="stream-test")
    released = ""
    with pytest.raises(PolicyViolation) as info:
        for c in chunks:
            released += sg.feed(c)
        sg.finish()
    assert "no-forbidden (Forbidden phrase)" in str(info.value)
    assert info.value.decision.outcome is Outcome.DENY
    assert "launch" not in released
    assert sg.stopped is info.value.decision
    with pytest.raises(RuntimeError, match="stopped by the policy"):
        sg.feed("more")


def test_a_topic_spread_over_the_stream_is_caught_by_a_full_check(engine):
    text = "The hurricane season starts soon. " + "Filler words here. " * 60 + "A tornado too. " + "x " * 1500
    sg = StreamGuard(engine, policy="stream-test")
    with pytest.raises(PolicyViolation, match="no-weather"):
        for i in range(0, len(text), 5):
            sg.feed(text[i:i + 5])
        sg.finish()
    # Stopped by a checkpoint, well before the end of the stream.
    assert sg.text_length < len(text)


def test_escalation_stops_the_stream(engine):
    sg = StreamGuard(engine, policy="stream-test")
    with pytest.raises(EscalationRequired, match="escalated the stream to human_review: review"):
        list(guard_text_stream(["a" * 10, "ESCALATE", "-ME", " and more" * 30], sg))


def test_feed_rejects_non_strings(engine):
    sg = StreamGuard(engine, policy="stream-test")
    with pytest.raises(TypeError, match="chunk must be a str, not bytes"):
        sg.feed(b"bytes")


@pytest.mark.parametrize("bad", [{"holdback": -1}, {"holdback": "64"}, {"step": 0}, {"step": 1.5}])
def test_bad_settings(engine, bad):
    with pytest.raises(ValueError):
        StreamGuard(engine, policy="stream-test", **bad)


def test_finish_twice_is_an_error(engine):
    sg = StreamGuard(engine, policy="stream-test")
    sg.feed("hello")
    assert sg.finish()[0] == "hello"
    with pytest.raises(RuntimeError, match="finished"):
        sg.finish()


# ---- failures of the checker -----------------------------------------------


class Broken:
    def __init__(self, on_error):
        self.on_error = on_error

    def check_input(self, *a, **k):
        raise ConnectionError("sidecar unreachable")

    check_output = check_tool_call = check_input

    def get_policy(self, name):
        class P:
            class settings:
                on_error = self.on_error

        return P


def test_a_failing_checker_fails_closed_and_says_so():
    sg = StreamGuard(Broken("fail_closed"), policy="p")
    with pytest.raises(PolicyViolation, match="fails closed") as info:
        list(guard_text_stream(["x" * 200], sg))
    assert "sidecar unreachable" in str(info.value)


def test_a_failing_checker_fails_open_when_the_policy_says_so(caplog):
    sg = StreamGuard(Broken("fail_open"), policy="p")
    assert "".join(guard_text_stream(["x" * 200, "y"], sg)) == "x" * 200 + "y"
    assert sg.decision.errors[0].code == "guard-unavailable"
    assert "fails open" in caplog.text


# ---- restoring placeholders ------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 200), max_size=30))
def test_placeholders_split_across_chunks_are_restored(engine, cuts):
    with Pseudonymizer() as p:
        prompt = p.pseudonymize("I am Jo, 555 0100", [(5, 7, "PERSON"), (9, 17, "PHONE_NUMBER")])
        name, phone = prompt.split()[2].rstrip(","), prompt.split()[3]
        answer = f"Hello {name}! We will call {phone} tomorrow, {name.lower()}. " + "Bye. " * 20
        sg = StreamGuard(engine, policy="stream-test", restore=p)
        out = "".join(guard_text_stream(split(answer, cuts), sg))
        assert out == "Hello Jo! We will call 555 0100 tomorrow, Jo. " + "Bye. " * 20


def test_restored_values_still_meet_the_output_rules(engine):
    with Pseudonymizer() as p:
        ph = p.placeholder("jo@example.com", "EMAIL_ADDRESS")
        sg = StreamGuard(engine, policy="stream-test", restore=p)
        out = "".join(guard_text_stream([f"Mail {ph[:5]}", ph[5:], " soon." + " ok" * 30], sg))
        assert "jo@example.com" not in out and "<EMAIL_ADDRESS> soon." in out


# ---- async -----------------------------------------------------------------


def test_async_stream(engine):
    async def tokens():
        for i in range(0, len(ANSWER), 6):
            yield ANSWER[i:i + 6]
            await asyncio.sleep(0)

    async def main():
        sg = StreamGuard(engine, policy="stream-test")
        return "".join([piece async for piece in aguard_text_stream(tokens(), sg)])

    assert asyncio.run(main()) == engine.check_output(ANSWER, policy="stream-test").text


# ---- cost ------------------------------------------------------------------


def test_each_character_is_checked_a_bounded_number_of_times(engine):
    counting = Counting(engine)
    text = "a clean and harmless sentence. " * 400  # 12,400 characters
    sg = StreamGuard(counting, policy="stream-test")
    for i in range(0, len(text), 4):
        sg.feed(text[i:i + 4])
    sg.finish()
    # Windows: about 3 characters checked per character; checkpoints and the
    # final check add at most about 3 more. Quadratic would be ~800 times.
    assert counting.chars < 8 * len(text)
    assert counting.calls < len(text) / DEFAULT_HOLDBACK + 10


# ---- splitting a redacted text into its replacements -----------------------


@pytest.mark.parametrize(
    ("original", "redacted", "groups", "want"),
    [
        ("a XX b YY c", "a <E> b <F> c", [(2, 4, "E"), (7, 9, "F")], ["<E>", "<F>"]),
        ("XX b", " b", [(0, 2, "E")], [""]),
        ("a XX b", "a *** b", [(2, 4, "E")], ["***"]),
        # The gap "*" also occurs in the replacements: more than one split fits.
        ("a XX*YY c", "a ***** c", [(2, 4, "E"), (5, 7, "F")], None),
        ("a XX c", "something else", [(2, 4, "E")], None),
    ],
)
def test_replacements(original, redacted, groups, want):
    assert _replacements(original, redacted, groups) == want
