"""The OpenAI Responses API (``client.responses.create``), guarded, against a local stub.

Run it: ``python examples/openai_responses.py`` (needs ``pip install openai``;
no network, no keys). A stub server on 127.0.0.1 (standard library
``http.server``, a random port) answers ``POST /v1/responses`` whole or as
server-sent events, like a tiny scripted model. The guarded functions call it
through the official SDK, so the guard sees the SDK's own objects
(``Response``, and the typed stream events).

What it shows: the input (a string or a list of input items) redacted before
the model sees it; a tool's result in the input (``function_call_output``)
checked by the tool_result rules; the answer's texts redacted, whole and
streamed; the refund the policy caps removed from the answer's function
calls; a stream stopped by the output rules.

tests/test_integrations_responses.py starts the same stub and runs the same calls.
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


def _texts(content) -> str:
    if isinstance(content, str):
        return content
    return " ".join(p.get("text", "") for p in content or [] if isinstance(p, dict))


def scripted_reply(items) -> tuple[str | None, list[tuple[str, dict]]]:
    """What the stub model answers: text and function calls, from the input."""
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    results = [i for i in items if i.get("type") == "function_call_output"]
    if results:
        return f"The tool said: {_texts(results[-1].get('output'))}", []
    last = next((i for i in reversed(items) if i.get("role") == "user"), {"content": ""})
    content = _texts(last.get("content"))
    if "refund" in content.lower():
        return None, [("lookup_order", {"order_id": "ORD-12345678"}),
                      ("issue_refund", {"order_id": "ORD-12345678", "amount": 9000})]
    if "medicine" in content.lower():
        return ("Your order is on its way. About that cough: the usual dosage is two tablets a day, "
                "no prescription needed."), []
    seen = re.findall(r"<[A-Z_]+>", content)
    return (f"You wrote {content!r}. I see {', '.join(seen) or 'nothing hidden'}; "
            "for anything else write to help@shop.example.com."), []


def response(body: dict, text: str | None, calls: list, *, done: bool = True) -> dict:
    output = []
    if text is not None:
        output.append({"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                       "content": [{"type": "output_text", "text": text, "annotations": []}]})
    for i, (name, args) in enumerate(calls):
        output.append({"type": "function_call", "id": f"fc_{i}", "call_id": f"call_{i}", "name": name,
                       "arguments": json.dumps(args), "status": "completed"})
    return {"id": "resp_stub", "object": "response", "created_at": time.time(), "model": body.get("model", "m"),
            "status": "completed" if done else "in_progress", "output": output if done else [],
            "parallel_tool_calls": True, "tool_choice": "auto", "tools": []}


def events(body: dict, text: str | None, calls: list):
    """The server-sent events of one streamed answer, in the API's order."""
    seq = iter(range(10_000))

    def ev(kind: str, **fields) -> dict:
        return {"type": kind, "sequence_number": next(seq), **fields}

    yield ev("response.created", response=response(body, text, calls, done=False))
    index = 0
    if text is not None:
        item = {"type": "message", "id": "msg_1", "role": "assistant", "status": "in_progress", "content": []}
        yield ev("response.output_item.added", output_index=0, item=item)
        yield ev("response.content_part.added", output_index=0, item_id="msg_1", content_index=0,
                 part={"type": "output_text", "text": "", "annotations": []})
        for i in range(0, len(text), 4):
            yield ev("response.output_text.delta", output_index=0, item_id="msg_1", content_index=0,
                     delta=text[i:i + 4], logprobs=[])
        yield ev("response.output_text.done", output_index=0, item_id="msg_1", content_index=0, text=text,
                 logprobs=[])
        part = {"type": "output_text", "text": text, "annotations": []}
        yield ev("response.content_part.done", output_index=0, item_id="msg_1", content_index=0, part=part)
        yield ev("response.output_item.done", output_index=0,
                 item={**item, "status": "completed", "content": [part]})
        index = 1
    for i, (name, args) in enumerate(calls):
        raw = json.dumps(args)
        item = {"type": "function_call", "id": f"fc_{i}", "call_id": f"call_{i}", "name": name, "arguments": "",
                "status": "in_progress"}
        yield ev("response.output_item.added", output_index=index, item=item)
        for j in range(0, len(raw), 8):
            yield ev("response.function_call_arguments.delta", output_index=index, item_id=f"fc_{i}",
                     delta=raw[j:j + 8])
        yield ev("response.function_call_arguments.done", output_index=index, item_id=f"fc_{i}", arguments=raw)
        yield ev("response.output_item.done", output_index=index,
                 item={**item, "arguments": raw, "status": "completed"})
        index += 1
    yield ev("response.completed", response=response(body, text, calls))


class StubHandler(BaseHTTPRequestHandler):
    """``POST /v1/responses``, answering like a scripted model."""

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        if self.path.rstrip("/") != "/v1/responses":
            self.send_error(404)
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        self.server.requests.append(body)
        text, calls = scripted_reply(body.get("input") or [])
        if not body.get("stream"):
            data = json.dumps(response(body, text, calls)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for e in events(body, text, calls):
            self.wfile.write(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode())
            self.wfile.flush()
        self.close_connection = True


def start_stub() -> tuple[ThreadingHTTPServer, str]:
    """Start the stub on 127.0.0.1, a random free port; returns (server, base_url)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubHandler)
    server.daemon_threads = True
    server.requests = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


# ---- the guarded application -----------------------------------------------


def build(base_url: str, engine: Engine):
    """The guarded Responses calls of an application, using the real SDK."""
    from openai import AsyncOpenAI, OpenAI

    client = OpenAI(base_url=base_url, api_key="not-needed", max_retries=0)
    aclient = AsyncOpenAI(base_url=base_url, api_key="not-needed", max_retries=0)
    stopped: list[str] = []

    def on_tool_denied(call, decision) -> None:
        stopped.append(f"{call.name}: {'; '.join(decision.messages())}")

    # The prompt is the `input` parameter: a string, or a list of input items.
    common = {"policy": "support-bot", "messages_arg": "input", "context": {"user_id": "cust-42"},
              "on_tool_denied": on_tool_denied}

    @guard(engine, **common)
    def respond(input, stream=False):
        return client.responses.create(model="stub-model", input=input, stream=stream)

    @guard(engine, **common)
    async def arespond(input, stream=False):
        return await aclient.responses.create(model="stub-model", input=input, stream=stream)

    return respond, arespond, stopped


def main() -> None:
    import asyncio

    server, base_url = start_stub()
    engine = Engine.from_path(POLICIES)
    respond, arespond, stopped = build(base_url, engine)
    try:
        print(f"stub model listening on {base_url}")
        print("\n1. A string input: redacted before the model, and the answer too")
        reply = respond("Hi, I'm jo@example.com")
        print(f"  model received: {server.requests[-1]['input']!r}")
        print(f"  user sees ({type(reply).__name__}): {reply.output_text!r}")

        print("\n2. Streamed: the text deltas, and every event that repeats the text")
        text = "".join(e.delta for e in respond("Hi, I'm jo@example.com", stream=True)
                       if e.type == "response.output_text.delta")
        print(f"  deltas: {text!r}")

        print("\n3. Function calls: the 9000 refund is removed from the answer")
        reply = respond([{"role": "user", "content": "Refund my order please"}])
        print(f"  function calls kept: {[i.name for i in reply.output if i.type == 'function_call']}")
        print(f"  stopped: {stopped}")

        print("\n4. A tool's result in the input goes through the tool_result rules")
        history = [{"role": "user", "content": "Where is my order?"},
                   {"type": "function_call", "call_id": "call_1", "name": "lookup_order",
                    "arguments": '{"order_id": "ORD-12345678"}'},
                   {"type": "function_call_output", "call_id": "call_1",
                    "output": '{"status": "shipped", "note": "customer SSN 536-22-8472"}'}]
        respond(history)
        print(f"  model received: {server.requests[-1]['input'][2]['output']!r}")

        print("\n5. The async client, streaming, stopped by the output rules")

        async def medicine():
            got = []
            try:
                async for e in await arespond("Any medicine tips?", stream=True):
                    if e.type == "response.output_text.delta":
                        got.append(e.delta)
            except PolicyViolation as exc:
                print(f"  released: {''.join(got)!r}")
                print(f"  STOPPED: {exc}")

        asyncio.run(medicine())
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
