"""ASGI middleware: guard an OpenAI-shaped chat endpoint of a Starlette or FastAPI app.

::

    app = FastAPI()                       # serves POST /v1/chat/completions
    app.add_middleware(GuardrailsMiddleware, engine=engine, policy="support-bot")

A ``POST`` to one of ``paths`` (default ``/v1/chat/completions``) whose JSON
body has ``messages`` goes through :func:`~guardrails.guard.guard`: the
messages are checked and redacted before the app sees them (the app
receives the body with the redacted messages), and the app's answer (a chat
completion, or with ``"stream": true`` its server-sent chunks) is checked
and redacted before the client gets it, with the denied tool calls
removed. A deny is answered ``400`` with an OpenAI-style error body naming
the rules (``{"error": {"type": "policy_violation", "code": "denied",
"message": ..., "rules": [...]}}``; ``escalated`` for an escalation); in a
stream, an error event ends it. Other requests, and answers that are not
``200`` JSON or event streams, pass through untouched.

``principal``, ``context`` and ``session`` are ``guard(...)``'s; a callable
is given the call's arguments by name: ``{"messages", "body", "scope"}``
(``scope`` is the ASGI scope: headers, path, the app's state). Needs no
web framework of its own: only the ASGI interface.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from guardrails.guard.backend import EscalationRequired, PolicyViolation
from guardrails.guard.decorator import guard

Receive = Callable[[], Any]
Send = Callable[[dict], Any]


class _PassThrough(Exception):
    """The app's answer is not one the guard reads (an error, another type): send it as it is."""

    def __init__(self, start: dict, body: bytes):
        self.start = start
        self.body = body


def _json_response(status: int, payload: dict) -> tuple[dict, bytes]:
    body = json.dumps(payload, ensure_ascii=False).encode()
    return ({"type": "http.response.start", "status": status,
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]},
            body)


def violation_body(exc: PolicyViolation) -> dict:
    """The OpenAI-style error a client gets for a deny or an escalation."""
    d = exc.decision
    return {"error": {"type": "policy_violation",
                      "code": "escalated" if isinstance(exc, EscalationRequired) else "denied",
                      "message": str(exc), "rules": d.rule_ids, "decision_id": d.decision_id}}


class GuardrailsMiddleware:
    """Pure ASGI middleware guarding an OpenAI-shaped chat endpoint (see the module)."""

    def __init__(self, app: Any, engine: Any, policy: str | None = None, *,
                 paths: tuple[str, ...] | list[str] = ("/v1/chat/completions",), **options: Any):
        if isinstance(paths, str) or not all(isinstance(p, str) for p in paths):
            raise TypeError(f"paths must be a collection of URL paths, not {paths!r}")
        for reserved in ("input_arg", "messages_arg"):
            if reserved in options:
                raise TypeError(f"GuardrailsMiddleware: {reserved}= is set by the middleware (the body's messages)")
        self.app = app
        self.paths = frozenset(paths)
        self._guarded = guard(engine, policy, messages_arg="messages", **options)(self._forward)

    async def __call__(self, scope: dict, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or scope.get("method") != "POST" or scope.get("path") not in self.paths:
            await self.app(scope, receive, send)
            return
        raw = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict) or "messages" not in body:
            await self._replay(scope, raw, send)  # not a chat request: the app answers it
            return
        try:
            result = await self._guarded(body["messages"], body, scope)
        except _PassThrough as p:
            await send(p.start)
            await send({"type": "http.response.body", "body": p.body})
            return
        except PolicyViolation as exc:
            start, out = _json_response(400, violation_body(exc))
            await send(start)
            await send({"type": "http.response.body", "body": out})
            return
        except TypeError as exc:  # a body the guard cannot read: refused, never forwarded unchecked
            start, out = _json_response(400, {"error": {"type": "invalid_request_error", "message": str(exc)}})
            await send(start)
            await send({"type": "http.response.body", "body": out})
            return
        if isinstance(result, dict):
            start, out = _json_response(200, result)
            await send(start)
            await send({"type": "http.response.body", "body": out})
            return
        await self._stream(result, send)

    async def _replay(self, scope: dict, raw: bytes, send: Send) -> None:
        sent = False

        async def receive() -> dict:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}

        await self.app(scope, receive, send)

    async def _forward(self, messages: Any, body: dict, scope: dict) -> Any:
        """The guarded call: the app, given the redacted messages; its answer as JSON or as a chunk stream."""
        raw = json.dumps({**body, "messages": messages}, ensure_ascii=False).encode()
        queue: asyncio.Queue = asyncio.Queue()

        async def send(message: dict) -> None:
            await queue.put(message)

        async def run() -> None:
            try:
                await self._replay({**scope, "headers": _with_length(scope.get("headers", []), len(raw))}, raw, send)
            finally:
                await queue.put(None)

        task = asyncio.ensure_future(run())
        start = await queue.get()
        if start is None:
            await task  # the app failed before answering: its exception
            raise RuntimeError("the app ended without answering")
        headers = {k.lower(): v for k, v in start.get("headers", [])}
        kind = headers.get(b"content-type", b"").split(b";")[0].strip()
        if start.get("status") == 200 and kind == b"text/event-stream":
            return _events(queue, task)
        chunks = []
        while (message := await queue.get()) is not None:
            chunks.append(message.get("body", b""))
        await task
        data = b"".join(chunks)
        if start.get("status") != 200 or kind != b"application/json":
            raise _PassThrough(start, data)
        return json.loads(data)

    async def _stream(self, items: AsyncIterator[Any], send: Send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
        try:
            async for item in items:
                await send({"type": "http.response.body", "more_body": True,
                            "body": b"data: " + json.dumps(item, ensure_ascii=False).encode() + b"\n\n"})
        except PolicyViolation as exc:
            await send({"type": "http.response.body", "more_body": True,
                        "body": b"data: " + json.dumps(violation_body(exc)).encode() + b"\n\n"})
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})


def _with_length(headers: list, length: int) -> list:
    kept = [(k, v) for k, v in headers if k.lower() != b"content-length"]
    return [*kept, (b"content-length", str(length).encode())]


async def _events(queue: asyncio.Queue, task: asyncio.Future) -> AsyncIterator[dict]:
    """The JSON ``data:`` events of an event stream, until ``[DONE]`` or its end."""
    buffer = b""
    try:
        while (message := await queue.get()) is not None:
            buffer += message.get("body", b"")
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                data = b"\n".join(line[5:].strip() for line in event.split(b"\n") if line.startswith(b"data:"))
                if not data:
                    continue
                if data == b"[DONE]":
                    return
                yield json.loads(data)
    finally:
        if not task.done():
            task.cancel()


__all__ = ["GuardrailsMiddleware", "violation_body"]
