"""Guarding a streamed OpenAI Responses API answer, event by event.

A Responses stream (``client.responses.create(..., stream=True)``) sends
typed events: ``response.output_text.delta`` carries new text of one content
part of one output item, ``...done`` events repeat the whole text, and
``response.completed`` carries the whole response. :class:`ResponsesStream`
feeds each text delta to a :class:`~guardrails.guard.stream_guard.StreamGuard`
(one per output item and content part) and puts the released text in its
place; every event that repeats a text (``output_text.done``,
``content_part.done``, ``output_item.done``, ``response.completed``) gets the
released text, so nothing unchecked reaches the caller by the back door.

Function calls are held from ``output_item.added`` to ``output_item.done``,
checked like the calls of a non-streamed answer, then passed on whole (with
redacted arguments where the policy redacts) or dropped; the
``output_index`` of later events is renumbered so the stream stays
consistent with the final response. It is driven by
:class:`~guardrails.guard.stream_adapter.StreamAdapter`, whose ``feed`` and
``call_steps`` it uses, and written as steps like it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from guardrails.guard import answers as A
from guardrails.guard import shapes as M

#: Events that carry a whole response to rewrite.
FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


@dataclass(slots=True)
class _HeldCall:
    """A streamed function call, held until its item is done."""

    added: Any
    deltas: list[str] = field(default_factory=list)
    first_delta: Any = None
    args_done: Any = None


class ResponsesStream:
    """The Responses part of one guarded stream. ``event(e, kind)`` is a
    step generator that returns the events to pass on."""

    def __init__(self, adapter: Any):
        self.a = adapter  # the StreamAdapter: feed(key, text), its CallSteps and Call
        self.released: dict[tuple[int, int], list[str]] = {}
        self.last_delta: dict[tuple[int, int], Any] = {}
        self.held: dict[int, _HeldCall] = {}
        self.removed: list[int] = []  # output indexes of dropped calls
        self.final_args: dict[int, str] = {}  # output index -> the arguments passed on

    # -- helpers
    def _index(self, event: Any) -> Any:
        return M.get(event, "output_index")

    def _renumber(self, event: Any) -> Any:
        oi = self._index(event)
        if isinstance(oi, int) and self.removed:
            shift = sum(1 for r in self.removed if r < oi)
            if shift:
                return M.set_path(event, ("output_index",), oi - shift)
        return event

    def _text(self, key: tuple[int, int]) -> str:
        return "".join(self.released.get(key, ()))

    def _feed(self, key: tuple[int, int], text: str | None):
        """Steps: the released text (str), or the adapter's stop marker."""
        out = yield from self.a.feed(("response", *key), text)
        if isinstance(out, str):
            self.released.setdefault(key, []).append(out)
        return out

    def _finish(self, key: tuple[int, int]):
        """Steps: finish one text, if open; the tail (str) or a stop marker."""
        if ("response", *key) in self.a.guards and ("response", *key) not in self.a.finished:
            return (yield from self._feed(key, None))
        return ""

    def tail_event(self, key: tuple[int, int], tail: str) -> Any:
        base = self.last_delta.get(key)
        if base is None:
            base = {"type": "response.output_text.delta", "item_id": "", "output_index": key[0],
                    "content_index": key[1], "delta": "", "logprobs": [], "sequence_number": 0}
        return self._renumber(M.set_path(base, ("delta",), tail))

    # -- events
    def event(self, event: Any, kind: str):
        oi = self._index(event)
        if kind == "response.output_text.delta":
            key = (oi, M.get(event, "content_index"))
            delta = M.get(event, "delta")
            if not isinstance(delta, str):
                raise TypeError(f"guard: a response.output_text.delta event's delta must be a str, not "
                                f"{type(delta).__name__}")
            self.last_delta[key] = event
            out = yield from self._feed(key, delta)
            if not isinstance(out, str):
                return out.items()
            return [self._renumber(M.set_path(event, ("delta",), out))]
        if kind == "response.output_text.done":
            key = (oi, M.get(event, "content_index"))
            got = yield from self._opened(key, M.get(event, "text"))
            if not isinstance(got, list):
                return got.items()
            return [*got, self._renumber(M.set_path(event, ("text",), self._text(key)))]
        if kind == "response.content_part.done":
            part = M.get(event, "part")
            if M.get(part, "type") not in M.TEXT_PART_TYPES:
                return [self._renumber(event)]
            key = (oi, M.get(event, "content_index"))
            got = yield from self._opened(key, M.get(part, "text"))
            if not isinstance(got, list):
                return got.items()
            return [*got, self._renumber(M.set_path(event, ("part", "text"), self._text(key)))]
        if kind == "response.output_item.added" and M.get(M.get(event, "item"), "type") == "function_call":
            self.held[oi] = _HeldCall(event)
            return []
        if kind == "response.function_call_arguments.delta" and oi in self.held:
            h = self.held[oi]
            h.deltas.append(M.get(event, "delta") or "")
            if h.first_delta is None:
                h.first_delta = event
            return []
        if kind == "response.function_call_arguments.done" and oi in self.held:
            self.held[oi].args_done = event
            return []
        if kind == "response.output_item.done":
            item = M.get(event, "item")
            if M.get(item, "type") == "function_call":
                return (yield from self._call_done(oi, event, item))
            if M.get(item, "type") == "message":
                got = yield from self._message(oi, item, ("item",), event)
                if not isinstance(got, list):
                    return got.items()
                return [*got[:-1], self._renumber(got[-1])]
            return [self._renumber(event)]
        if kind in FINAL_EVENTS:
            return (yield from self._final(event))
        return [self._renumber(event)]

    def _opened(self, key: tuple[int, int], text: Any):
        """Steps: make sure the text at ``key`` went through a guard (the
        whole ``text`` when no delta came for it) and is finished; the
        events to pass on before the one that repeats it, or a stop marker."""
        out: list[Any] = []
        if ("response", *key) not in self.a.guards and isinstance(text, str) and text:
            first = yield from self._feed(key, text)
            if not isinstance(first, str):
                return first
            if first:
                out.append(self.tail_event(key, first))
        tail = yield from self._finish(key)
        if not isinstance(tail, str):
            return tail
        if tail:
            out.append(self.tail_event(key, tail))
        return out

    def _message(self, oi: int, message: Any, at: M.Path, container: Any):
        """Steps: the texts of a message item (at ``at`` in ``container``)
        replaced by what was released; the events before it, and it."""
        out: list[Any] = []
        content = M.get(message, "content")
        for j, part in enumerate(content if isinstance(content, (list, tuple)) else ()):
            if M.get(part, "type") not in M.TEXT_PART_TYPES or not isinstance(M.get(part, "text"), str):
                continue
            got = yield from self._opened((oi, j), M.get(part, "text"))
            if not isinstance(got, list):
                return got
            out.extend(got)
            container = M.set_path(container, (*at, "content", j, "text"), self._text((oi, j)))
        return [*out, container]

    def _call_done(self, oi: int, event: Any, item: Any):
        """Steps: check a completed function call; its events, or none."""
        h = self.held.pop(oi, None) or _HeldCall(None)
        raw = M.get(item, "arguments")
        if not isinstance(raw, str):
            raw = "".join(h.deltas)
        args, problem = M.parse_tool_args(raw)
        slot = M.ToolSlot(str(M.get(item, "name") or ""), args, M.get(item, "call_id"), (), True, (), 0, problem)
        (verdict,) = yield from self.a.call_steps.review_tools([slot], self.a.call)
        if verdict is A.REMOVED:
            self.removed.append(oi)
            return []
        final = raw if verdict is None else json.dumps(verdict, ensure_ascii=False)
        self.final_args[oi] = final
        out = []
        if h.added is not None:
            out.append(self._renumber(M.set_path(h.added, ("item", "arguments"), "")))
        if h.first_delta is not None:
            out.append(self._renumber(M.set_path(h.first_delta, ("delta",), final)))
        if h.args_done is not None:
            out.append(self._renumber(M.set_path(h.args_done, ("arguments",), final)))
        out.append(self._renumber(M.set_path(event, ("item", "arguments"), final)))
        return out

    def _final(self, event: Any):
        """Steps: the whole response, as released: texts, kept calls only."""
        response = M.get(event, "response")
        output = M.get(response, "output")
        if not isinstance(output, (list, tuple)):
            return [event]
        before: list[Any] = []
        kept: list[Any] = []
        for i, item in enumerate(output):
            kind = M.get(item, "type")
            if kind == "message":
                got = yield from self._message(i, item, (), item)
                if not isinstance(got, list):
                    return got.items()
                before.extend(got[:-1])
                kept.append(got[-1])
            elif kind == "function_call":
                if i in self.removed:
                    continue
                if i not in self.final_args:  # a call no item event announced: check it now
                    got = yield from self._call_done(i, {"item": item}, item)
                    if not got:
                        continue
                kept.append(M.set_path(item, ("arguments",), self.final_args[i]))
            else:
                kept.append(item)
        return [*before, M.set_path(event, ("response", "output"), kept)]


__all__ = ["FINAL_EVENTS", "ResponsesStream"]
