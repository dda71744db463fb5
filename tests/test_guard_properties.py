"""Properties of @guard over generated prompts, answers and chunkings."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardrails import Engine
from guardrails.guard import guard

ROOT = Path(__file__).resolve().parent.parent
PSEUDO = Path(__file__).parent / "fixtures" / "guard" / "pseudo.policy"

WORDS = ["order", "parcel", "thanks", "please", "the", "blue", "box", "arrived", "late", "today", "and", "my"]
email = st.from_regex(r"[a-z]{2,8}(\.[a-z]{2,5})?@[a-z]{3,9}\.(com|org|net|io)", fullmatch=True)
words = st.lists(st.sampled_from(WORDS), min_size=0, max_size=12).map(" ".join)


@st.composite
def texts_with_emails(draw):
    """A text with 1-4 e-mail addresses among plain words, and the addresses."""
    found = draw(st.lists(email, min_size=1, max_size=4, unique=True))
    parts = [draw(words)]
    for address in found:
        parts += [address, draw(words)]
    return " ".join(p for p in parts if p), found


@pytest.fixture(scope="module")
def support():
    return Engine.from_path(ROOT / "policies")


@pytest.fixture(scope="module")
def lenient():
    return Engine.from_path(PSEUDO)


def chunked(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


common = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@common
@given(texts_with_emails(), texts_with_emails(), st.booleans(), st.integers(1, 40))
def test_no_detected_pii_reaches_the_model_or_the_caller(support, prompt, answer, pseudo, size):
    """support-bot redacts contact details both ways: neither the model nor
    the caller ever sees one, whole or streamed, pseudonymised or not."""
    prompt_text, prompt_values = prompt
    answer_text, answer_values = answer
    seen: list[str] = []

    def model(prompt):
        seen.append(prompt)
        return f"{prompt} / {answer_text}"  # echoes the prompt, adds its own addresses

    whole = guard(support, policy="support-bot", input_arg="prompt", pseudonymize=pseudo)(model)

    def streaming(prompt):
        yield from chunked(model(prompt), size)

    streamed = guard(support, policy="support-bot", input_arg="prompt", pseudonymize=pseudo)(streaming)
    results = [whole(prompt_text), "".join(streamed(prompt_text))]
    for value in prompt_values + answer_values:
        for text in seen + results:
            assert value not in text


@common
@given(texts_with_emails(), st.integers(1, 40))
def test_allowed_values_come_back_restored(lenient, prompt, size):
    """pseudo-test redacts contact details in prompts only: the model never
    sees them, and the caller gets them back, whole or streamed."""
    text, values = prompt
    seen: list[str] = []

    def model(prompt):
        seen.append(prompt)
        return f"You said: {prompt}"

    async def streaming(prompt):
        for piece in chunked(model(prompt), size):
            await asyncio.sleep(0)
            yield piece

    async def drain(gen):
        return "".join([piece async for piece in gen])

    whole = guard(lenient, input_arg="prompt", pseudonymize=True)(model)(text)
    streamed = asyncio.run(drain(guard(lenient, input_arg="prompt", pseudonymize=True)(streaming)(text)))
    for value in values:
        assert all(value not in s for s in seen)
    assert whole == streamed == f"You said: {text}"


@common
@given(st.text(min_size=0, max_size=200))
def test_any_text_is_guarded_or_refused_with_the_librarys_errors(support, text):
    """Whatever the prompt, the guard returns an answer or raises PolicyViolation."""
    from guardrails.guard import PolicyViolation

    fn = guard(support, policy="support-bot", input_arg="prompt", pseudonymize=True)(lambda prompt: prompt)
    try:
        out = fn(text)
    except PolicyViolation:
        return
    assert isinstance(out, str)
