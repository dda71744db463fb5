"""Reversible pseudonymisation: placeholders, restoring echoes, and isolation between calls."""

from __future__ import annotations

import asyncio
import copy
import pickle
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardrails import Engine
from guardrails.guard import guard
from guardrails.guard.pseudonymize import Pseudonymizer, merge_spans

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "guard"))
import shapes  # noqa: E402

PSEUDO = Path(__file__).parent / "fixtures" / "guard" / "pseudo.policy"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def engine():
    return Engine.from_path(PSEUDO)


# ---- the mapping -----------------------------------------------------------


def test_same_value_same_placeholder():
    with Pseudonymizer() as p:
        text = "a@b.co, then c@d.co, then a@b.co, call 555 0100"
        spans = [(0, 6, "EMAIL_ADDRESS"), (13, 19, "EMAIL_ADDRESS"), (26, 32, "EMAIL_ADDRESS"), (39, 47, "PHONE_NUMBER")]
        out = p.pseudonymize(text, spans)
        n = p.nonce
        assert out == (f"<EMAIL_ADDRESS_1_{n}>, then <EMAIL_ADDRESS_2_{n}>, then <EMAIL_ADDRESS_1_{n}>, "
                       f"call <PHONE_NUMBER_1_{n}>")
        assert len(p) == 3
        assert p.restore(out) == text


def test_overlapping_spans_are_merged():
    assert merge_spans([(5, 9, "B"), (0, 6, "A"), (9, 12, "C"), (3, 3, "D")]) == [(0, 9, "A"), (9, 12, "C")]
    with Pseudonymizer() as p:
        assert p.pseudonymize("0123456789", [(2, 6, "X"), (4, 8, "Y")]) == f"01<X_1_{p.nonce}>89"


@pytest.mark.parametrize(
    "echo",
    [
        "<EMAIL_ADDRESS_1_{n}>",
        "<email_address_1_{N}>",
        "EMAIL\\_ADDRESS\\_1\\_{n}",
        "< EMAIL ADDRESS 1 {n} >",
        "&lt;EMAIL_ADDRESS_1_{n}&gt;",
        "EMAIL_ADDRESS_1_{n}",
    ],
)
def test_loose_echoes_are_restored(echo):
    with Pseudonymizer() as p:
        p.placeholder("jo@example.com", "EMAIL_ADDRESS")
        text = "Mail " + echo.format(n=p.nonce, N=p.nonce.upper()) + " now."
        assert p.restore(text) == "Mail jo@example.com now."


def test_foreign_or_unknown_placeholders_are_left_alone():
    with Pseudonymizer() as a, Pseudonymizer() as b:
        assert a.nonce != b.nonce
        pa = a.placeholder("a@x.co", "EMAIL_ADDRESS")
        b.placeholder("b@x.co", "EMAIL_ADDRESS")
        unknown = f"<EMAIL_ADDRESS_2_{b.nonce}>"
        assert b.restore(f"{pa} {unknown} <EMAIL_ADDRESS_1>") == f"{pa} {unknown} <EMAIL_ADDRESS_1>"
        # inside a longer word it is not a placeholder
        assert b.restore(f"xEMAIL_ADDRESS_1_{b.nonce}") == f"xEMAIL_ADDRESS_1_{b.nonce}"


def test_plain_placeholders_need_their_brackets():
    with Pseudonymizer(nonce=False) as p:
        assert p.placeholder("a@x.co", "EMAIL_ADDRESS") == "<EMAIL_ADDRESS_1>"
        assert p.restore("<EMAIL_ADDRESS_1> and EMAIL_ADDRESS_1") == "a@x.co and EMAIL_ADDRESS_1"


def test_nonces_are_unique_while_alive_and_freed_on_close():
    live = [Pseudonymizer() for _ in range(300)]
    assert len({p.nonce for p in live}) == 300
    for p in live:
        p.close()
    from guardrails.guard import pseudonymize

    assert not {p.nonce for p in live} & pseudonymize._live


def test_the_mapping_never_leaves_the_object():
    p = Pseudonymizer()
    p.placeholder("secret@example.com", "EMAIL_ADDRESS")
    assert "secret" not in repr(p)
    for attempt in (lambda: pickle.dumps(p), lambda: copy.copy(p), lambda: copy.deepcopy(p)):
        with pytest.raises(TypeError):
            attempt()
    p.close()
    assert p.restore(f"<EMAIL_ADDRESS_1_{p.nonce}>") == f"<EMAIL_ADDRESS_1_{p.nonce}>"
    with pytest.raises(RuntimeError, match="closed"):
        p.placeholder("x", "Y")


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 120), max_size=25), st.sampled_from(["<{e}_1_{n}>", "{e}\\_1\\_{n}", "&lt;{e}_1_{n}&gt;"]))
def test_the_stream_restorer_agrees_with_restore(cuts, form):
    with Pseudonymizer() as p:
        p.placeholder("212-555-0123", "PHONE_NUMBER")
        token = form.format(e="PHONE_NUMBER", n=p.nonce)
        text = f"Call {token} or {token}, not <PHONE_NUMBER_1_zzzz>. Bye {token}"
        cuts = sorted({c for c in cuts if 0 < c < len(text)})
        pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
        r = p.restorer()
        assert "".join(r.feed(x) for x in pieces) + r.finish() == p.restore(text)
        assert p.restore(text).count("212-555-0123") == 3


# ---- through the decorator -------------------------------------------------


def test_round_trip_through_the_decorator(engine):
    seen = []

    @guard(engine, input_arg="prompt", pseudonymize=True)
    def model(prompt):
        seen.append(prompt)
        token = re.search(r"<EMAIL_ADDRESS_1_\w+>", prompt).group(0)
        return f"I will write to {token}; your card {re.search(r'<CREDIT_CARD_1_[a-z0-9]+>', prompt).group(0)}."

    out = model("I'm jo@example.com, card 4111 1111 1111 1111")
    assert "jo@example.com" not in seen[0] and "4111" not in seen[0]
    # Restored, then the output rules ran: the card is masked, the e-mail allowed.
    assert out == "I will write to jo@example.com; your card *******************."


def test_tool_arguments_are_restored(engine):
    @guard(engine, input_arg="prompt", pseudonymize=True)
    def model(prompt):
        token = re.search(r"<EMAIL_ADDRESS_1_\w+>", prompt).group(0)
        return shapes.make_output("anthropic_object", "Sending.", [("send_email", {"to": token, "cc": [token]})])

    _, calls = shapes.collect(model("mail jo@example.com"))
    assert calls == [("send_email", {"to": "jo@example.com", "cc": ["jo@example.com"]})]


def test_restored_values_still_pass_the_output_rules():
    e = Engine.from_path(ROOT / "policies")

    @guard(e, policy="support-bot", input_arg="prompt", pseudonymize=True)
    def model(prompt):
        return "Noted " + re.search(r"<EMAIL_ADDRESS_1_\w+>", prompt).group(0)

    assert model("I'm jo@example.com") == "Noted <EMAIL_ADDRESS>"  # support-bot redacts contact in answers


# ---- isolation between concurrent calls ------------------------------------

emails = st.lists(st.from_regex(r"[a-z]{3,8}@[a-z]{3,8}\.(com|org|net)", fullmatch=True),
                  min_size=2, max_size=6, unique=True)


class LeakyModel:
    """A model that repeats every placeholder it has ever seen, from any call
    (think of a shared response cache), so isolation is really tested."""

    def __init__(self, parties: int):
        self.seen: list[str] = []
        self.lock = threading.Lock()
        self.barrier = threading.Barrier(parties, timeout=10)

    def remember(self, prompt: str) -> str:
        mine = re.findall(r"<EMAIL_ADDRESS_\d+_[a-z0-9]+>", prompt)
        with self.lock:
            self.seen.extend(mine)
        return mine[0]

    def answer(self, mine: str) -> str:
        with self.lock:
            others = [t for t in self.seen if t != mine]
        return f"Yours: {mine}. Also seen: {' '.join(others)}."


def assert_isolated(results: dict[str, str], addresses: list[str]) -> None:
    for address, answer in results.items():
        assert answer.startswith(f"Yours: {address}.")
        for other in addresses:
            if other != address:
                assert other not in answer


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(emails)
def test_placeholders_never_cross_between_threads(engine, addresses):
    model = LeakyModel(len(addresses))

    @guard(engine, input_arg="prompt", pseudonymize=True)
    def chat(prompt):
        mine = model.remember(prompt)
        model.barrier.wait()  # every call is in flight at once
        return model.answer(mine)

    with ThreadPoolExecutor(len(addresses)) as pool:
        answers = list(pool.map(lambda a: chat(f"I am {a}"), addresses))
    assert_isolated(dict(zip(addresses, answers)), addresses)
    assert len(model.seen) == len(addresses)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(emails)
def test_placeholders_never_cross_between_tasks(engine, addresses):
    model = LeakyModel(1)

    @guard(engine, input_arg="prompt", pseudonymize=True)
    async def chat(prompt):
        mine = model.remember(prompt)
        while len(model.seen) < len(addresses):  # wait until every task holds its placeholder
            await asyncio.sleep(0)
        return model.answer(mine)

    @guard(engine, input_arg="prompt", pseudonymize=True)
    async def stream(prompt):
        mine = model.remember(prompt)
        while len(model.seen) < 2 * len(addresses):
            await asyncio.sleep(0)
        answer = model.answer(mine)
        for i in range(0, len(answer), 3):
            await asyncio.sleep(0)
            yield answer[i:i + 3]

    async def streamed(prompt):
        return "".join([piece async for piece in stream(prompt)])

    async def main():
        whole = asyncio.gather(*(chat(f"I am {a}") for a in addresses))
        parts = asyncio.gather(*(streamed(f"I am {a}") for a in addresses))
        return await whole, await parts

    whole, parts = asyncio.run(main())
    assert_isolated(dict(zip(addresses, whole)), addresses)
    assert_isolated(dict(zip(addresses, parts)), addresses)
