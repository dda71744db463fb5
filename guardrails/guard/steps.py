"""One guard logic for sync and async code: steps that yield requests.

The decorator's work (check the prompt, call handlers, check the answer,
feed a stream) is written once, as generators that *yield* what they need
done and receive the result. Two small drivers serve those requests, one
with the backend's sync methods and one awaiting its async twins, so sync
and async functions follow the same code path. An exception raised while
serving a request is thrown back into the generator at the ``yield``.
The steps before a call end in :class:`Proceed` (call the function with
these arguments) or :class:`Stop` (a handler's answer ends the call).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from guardrails.guard.backend import Backend


@dataclass(frozen=True, slots=True)
class Checks:
    """Run checks (concurrently when async); the result is a list of decisions.

    Each item is ``("input", text, context, session)``, ``("output", text,
    context, session, sources)``, ``("retrieval", chunks, context, session)``,
    ``("tool", name, args, principal, context, session)`` or ``("result",
    tool, result, args, principal, context, session)``.
    """

    items: list[tuple]


@dataclass(frozen=True, slots=True)
class Invoke:
    """Call a user handler; the result is its return value (awaited if async)."""

    fn: Any
    args: tuple
    name: str = "handler"


@dataclass(frozen=True, slots=True)
class Feed:
    """Feed a StreamGuard (``text=None``: finish it); the result is its return value."""

    sg: Any
    text: str | None


@dataclass(frozen=True, slots=True)
class Proceed:
    """How the steps before a call end when it may go on: call the function
    with these (possibly redacted) arguments."""

    args: tuple
    kwargs: dict


@dataclass(frozen=True, slots=True)
class Stop:
    """How steps end when the call ends here with ``value`` (a handler's answer)."""

    value: Any


Steps = Generator[Any, Any, Any]


#: A step's kind -> the backend method that checks it (its coroutine form is
#: the same name with an "a" in front: ``input`` and ``ainput``).
_METHODS = {"input": "input", "output": "output", "retrieval": "retrieval", "result": "result", "tool": "tool"}


def _sync_check(backend: Backend, item: tuple):
    return getattr(backend, _METHODS.get(item[0], "tool"))(*item[1:])


def _async_check(backend: Backend, item: tuple):
    return getattr(backend, "a" + _METHODS.get(item[0], "tool"))(*item[1:])


def run(steps: Steps, backend: Backend) -> Any:
    """Drive ``steps`` with sync calls; return what the generator returns."""
    send: Any = None
    error: BaseException | None = None
    while True:
        try:
            request = steps.throw(error) if error is not None else steps.send(send)
        except StopIteration as stop:
            return stop.value
        send, error = None, None
        try:
            if isinstance(request, Checks):
                send = [_sync_check(backend, item) for item in request.items]
            elif isinstance(request, Feed):
                send = request.sg.feed(request.text) if request.text is not None else request.sg.finish()
            elif isinstance(request, Invoke):
                send = request.fn(*request.args)
                if inspect.isawaitable(send):
                    if hasattr(send, "close"):
                        send.close()
                    raise TypeError(f"{request.name} returned an awaitable, but the guarded function is "
                                    "synchronous; use a plain function as the handler")
            else:  # pragma: no cover - a programming error in the steps
                raise AssertionError(f"unknown request {request!r}")
        except Exception as exc:
            error = exc


async def arun(steps: Steps, backend: Backend) -> Any:
    """Drive ``steps``, awaiting the backend's async methods and async handlers."""
    send: Any = None
    error: BaseException | None = None
    while True:
        try:
            request = steps.throw(error) if error is not None else steps.send(send)
        except StopIteration as stop:
            return stop.value
        send, error = None, None
        try:
            if isinstance(request, Checks):
                items = request.items
                if len(items) == 1:
                    send = [await _async_check(backend, items[0])]
                else:
                    send = list(await asyncio.gather(*(_async_check(backend, i) for i in items)))
            elif isinstance(request, Feed):
                send = await (request.sg.afeed(request.text) if request.text is not None else request.sg.afinish())
            elif isinstance(request, Invoke):
                send = request.fn(*request.args)
                if inspect.isawaitable(send):
                    send = await send
            else:  # pragma: no cover
                raise AssertionError(f"unknown request {request!r}")
        except Exception as exc:
            error = exc


__all__ = ["Checks", "Feed", "Invoke", "Proceed", "Stop", "arun", "run"]
