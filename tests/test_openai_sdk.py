"""The decorator with the real openai SDK, against the local stub server of
examples/openai_sdk.py (127.0.0.1, a random port; no network, no key)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

openai = pytest.importorskip("openai")

from example_modules import load_example  # noqa: E402
from guardrails import Engine  # noqa: E402
from guardrails.guard import PolicyViolation, guard  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


example = load_example("openai_sdk.py")


@pytest.fixture(scope="module")
def stub():
    server, base_url = example.start_stub()
    yield server, base_url
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def engine():
    return Engine.from_path(ROOT / "policies")


@pytest.fixture()
def app(stub, engine):
    server, base_url = stub
    chat, achat, stopped = example.build(base_url, engine)
    return server, chat, achat, stopped


def test_completion_objects(app):
    server, chat, _, _ = app
    messages = [{"role": "user", "content": "Hi, I'm jo@example.com"}]
    reply = chat(messages)
    assert isinstance(reply, openai.types.chat.ChatCompletion)
    assert server.requests[-1]["messages"] == [{"role": "user", "content": "Hi, I'm <EMAIL_ADDRESS>"}]
    content = reply.choices[0].message.content
    assert "help@shop.example.com" not in content and content.endswith("write to <EMAIL_ADDRESS>.")
    assert messages[0]["content"] == "Hi, I'm jo@example.com"


def test_streamed_chunks(app):
    _, chat, _, _ = app
    chunks = list(chat([{"role": "user", "content": "Hi, I'm jo@example.com"}], stream=True))
    assert all(isinstance(c, openai.types.chat.ChatCompletionChunk) for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "help@shop.example.com" not in text and text.endswith("write to <EMAIL_ADDRESS>.")
    assert chunks[-1].choices[0].finish_reason == "stop"


@pytest.mark.parametrize("stream", [False, True])
def test_tool_calls_from_the_sdk(app, stream):
    _, chat, _, stopped = app
    reply = chat([{"role": "user", "content": "Refund my order please"}], stream=stream)
    if stream:
        calls = {}
        for c in reply:
            for frag in c.choices[0].delta.tool_calls or [] if c.choices else []:
                entry = calls.setdefault(frag.index, ["", ""])
                entry[0] += frag.function.name or ""
                entry[1] += frag.function.arguments or ""
        names = [(n, json.loads(a)) for _, (n, a) in sorted(calls.items())]
    else:
        names = [(c.function.name, json.loads(c.function.arguments)) for c in reply.choices[0].message.tool_calls]
    assert names == [("lookup_order", {"order_id": "ORD-12345678"})]
    assert stopped == ["issue_refund: Refunds above 5000 need a ticket"]


def test_async_client_stream_stopped_by_the_output_rules(app):
    _, _, achat, _ = app

    async def run():
        got = []
        with pytest.raises(PolicyViolation, match="no-medical"):
            async for c in await achat([{"role": "user", "content": "Any medicine tips?"}], stream=True):
                got.append(c.choices[0].delta.content or "" if c.choices else "")
        return "".join(got)

    assert "dosage" not in asyncio.run(run())


def test_async_client_completion(app):
    server, _, achat, _ = app
    reply = asyncio.run(achat([{"role": "user", "content": "mail me: jo@example.com"}]))
    assert isinstance(reply, openai.types.chat.ChatCompletion)
    assert "<EMAIL_ADDRESS>" in server.requests[-1]["messages"][0]["content"]


def test_pseudonymised_through_the_sdk(stub):
    server, base_url = stub
    engine = Engine.from_source('policy "p" version "1.0.0"\ninput { rule r: redact [EMAIL_ADDRESS] }\n')
    client = openai.OpenAI(base_url=base_url, api_key="x", max_retries=0)

    @guard(engine, pseudonymize=True)
    def chat(messages, stream=False):
        return client.chat.completions.create(model="m", messages=messages, stream=stream)

    reply = chat([{"role": "user", "content": "I'm jo@example.com"}])
    sent = server.requests[-1]["messages"][0]["content"]
    assert "jo@example.com" not in sent and "<EMAIL_ADDRESS_1_" in sent
    assert "I see jo@example.com;" in reply.choices[0].message.content
    streamed = "".join(c.choices[0].delta.content or "" for c in chat([{"role": "user", "content": "I'm jo@example.com"}],
                                                                     stream=True) if c.choices)
    assert "I see jo@example.com;" in streamed
