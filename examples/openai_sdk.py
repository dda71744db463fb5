"""The real ``openai`` client, guarded, against a local OpenAI-compatible stub.

Run it: ``python examples/openai_sdk.py`` (needs ``pip install openai``; no
network, no keys). A stub server built on the standard library's
``http.server`` listens on 127.0.0.1 on a random port and answers
``POST /v1/chat/completions``, whole or streamed as server-sent events,
like a tiny scripted model. The guarded functions call it through the
official SDK, so the guard sees the SDK's own pydantic objects
(``ChatCompletion``, ``Stream[ChatCompletionChunk]``).

tests/test_openai_sdk.py starts the same stub and runs the same calls.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from guardrails import Engine
from guardrails.guard import PolicyViolation, guard

POLICIES = Path(__file__).resolve().parent.parent / "policies"


# ---- the stub model server -------------------------------------------------


def scripted_reply(messages: list[dict]) -> tuple[str | None, list[tuple[str, dict]]]:
    """What the stub model answers: text and tool calls, from the last user turn."""
    last = next((m for m in reversed(messages) if m.get("role") == "user"), {"content": ""})
    content = last.get("content") or ""
    if isinstance(content, list):
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    if "refund" in content.lower():
        return None, [("lookup_order", {"order_id": "ORD-12345678"}),
                      ("issue_refund", {"order_id": "ORD-12345678", "amount": 9000})]
    if "medicine" in content.lower():
        return ("Your order is on its way. About that cough: the usual dosage is two tablets a day, "
                "no prescription needed."), []
    seen = re.findall(r"<[A-Z_]+(?:_\d+_[a-z0-9]+)?>", content)
    return (f"You wrote {content!r}. I see {', '.join(seen) or 'nothing hidden'}; "
            "for anything else write to help@shop.example.com."), []


class StubHandler(BaseHTTPRequestHandler):
    """``POST /v1/chat/completions``, answering like a scripted model."""

    requests: list[dict]  # set per server: what the model received

    def log_message(self, *args) -> None:  # keep the example's output clean
        pass

    def do_POST(self) -> None:
        if self.path.rstrip("/") != "/v1/chat/completions":
            self.send_error(404)
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        self.server.requests.append(body)
        text, tools = scripted_reply(body.get("messages") or [])
        if body.get("stream"):
            self._stream(body, text, tools)
        else:
            self._json(completion(body, text, tools))

    def _json(self, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, body: dict, text: str | None, tools: list) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        for chunk in chunks(body, text, tools):
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


def completion(body: dict, text: str | None, tools: list) -> dict:
    return {
        "id": "chatcmpl-stub", "object": "chat.completion", "created": int(time.time()),
        "model": body.get("model", "stub"),
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text, "tool_calls": [
                {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
                for i, (n, a) in enumerate(tools)] or None},
            "finish_reason": "tool_calls" if tools else "stop",
        }],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def chunks(body: dict, text: str | None, tools: list):
    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": body.get("model", "stub"),
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    yield chunk({"role": "assistant", "content": ""})
    for i in range(0, len(text or ""), 4):
        yield chunk({"content": text[i:i + 4]})
    for i, (name, args) in enumerate(tools):
        raw = json.dumps(args)
        yield chunk({"tool_calls": [{"index": i, "id": f"call_{i}", "type": "function",
                                     "function": {"name": name, "arguments": ""}}]})
        for j in range(0, len(raw), 8):
            yield chunk({"tool_calls": [{"index": i, "function": {"arguments": raw[j:j + 8]}}]})
    yield chunk({}, "tool_calls" if tools else "stop")


def start_stub() -> tuple[ThreadingHTTPServer, str]:
    """Start the stub on 127.0.0.1, a random free port; returns (server, base_url)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubHandler)
    server.daemon_threads = True
    server.requests = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


# ---- the guarded application -----------------------------------------------


def build(base_url: str, engine: Engine):
    """The guarded chat functions of an application, using the real SDK."""
    from openai import AsyncOpenAI, OpenAI

    client = OpenAI(base_url=base_url, api_key="not-needed", max_retries=0)
    aclient = AsyncOpenAI(base_url=base_url, api_key="not-needed", max_retries=0)
    stopped: list[str] = []

    def on_tool_denied(call, decision) -> None:
        stopped.append(f"{call.name}: {'; '.join(decision.messages())}")

    common = {"policy": "support-bot", "context": {"user_id": "cust-42"}, "on_tool_denied": on_tool_denied}

    @guard(engine, **common)
    def chat(messages, stream=False):
        return client.chat.completions.create(model="stub-model", messages=messages, stream=stream)

    @guard(engine, **common)
    async def achat(messages, stream=False):
        return await aclient.chat.completions.create(model="stub-model", messages=messages, stream=stream)

    return chat, achat, stopped


def main() -> None:
    import asyncio

    server, base_url = start_stub()
    engine = Engine.from_path(POLICIES)
    chat, achat, stopped = build(base_url, engine)
    try:
        print(f"stub model listening on {base_url}")
        print("\n1. A completion through the SDK: the prompt and the answer are redacted")
        reply = chat([{"role": "user", "content": "Hi, I'm jo@example.com"}])
        print(f"  model received: {server.requests[-1]['messages'][0]['content']!r}")
        print(f"  user sees ({type(reply).__name__}): {reply.choices[0].message.content!r}")

        print("\n2. Streaming through the SDK (stream=True)")
        pieces = [c.choices[0].delta.content or "" for c in chat([{"role": "user", "content": "Hi, I'm jo@example.com"}],
                                                                 stream=True) if c.choices]
        print(f"  {len(pieces)} chunks; text: {''.join(pieces)!r}")

        print("\n3. Tool calls from the SDK: the 9000 refund is stopped")
        reply = chat([{"role": "user", "content": "Refund my order please"}])
        print(f"  allowed tool calls: {[c.function.name for c in reply.choices[0].message.tool_calls]}")
        print(f"  stopped: {stopped}")

        print("\n4. The async client, streaming, stopped by the output rules")

        async def medicine():
            got = []
            try:
                async for c in await achat([{"role": "user", "content": "Any medicine tips?"}], stream=True):
                    got.append(c.choices[0].delta.content or "" if c.choices else "")
            except PolicyViolation as exc:
                print(f"  released: {''.join(got)!r}")
                print(f"  STOPPED: {exc}")

        asyncio.run(medicine())
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
