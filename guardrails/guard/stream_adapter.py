"""Guarding streamed answers item by item: text chunks, OpenAI chunks, Anthropic events.

:class:`StreamAdapter` reads each item a guarded stream yields, feeds its
text to a :class:`~guardrails.guard.stream_guard.StreamGuard` (one per choice or
content block), and gives back the items to pass on in the same shape with
the released text in place of the model's. Tool calls are held back until
they are complete, checked like non-streamed ones, and then passed on whole
or dropped (Anthropic block indexes are renumbered so the stream stays
consistent). Like :mod:`guardrails.guard.call`, it is written as steps, so sync
and async streams share it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from guardrails.guard import answers as A
from guardrails.guard import shapes as M
from guardrails.guard.backend import CONTINUE, EscalationRequired, PolicyViolation
from guardrails.guard.call import Call, CallSteps
from guardrails.guard.steps import Feed, Invoke
from guardrails.guard.stream_guard import StreamGuard
from guardrails.guard.stream_responses import ResponsesStream

ANTHROPIC_EVENTS = frozenset({
    "message_start", "message_delta", "message_stop", "content_block_start", "content_block_delta",
    "content_block_stop", "ping", "error",
})


@dataclass(slots=True)
class _ToolParts:
    """A streamed tool call being assembled."""

    first: Any  # the first fragment (OpenAI) or the block-start event (Anthropic)
    name: str = ""
    args: list[str] = field(default_factory=list)
    first_delta: Any = None  # Anthropic: the first input_json_delta event


@dataclass(slots=True)
class _Block:
    """An Anthropic content block as it is passed on."""

    kind: str
    out_index: int | None
    guard: StreamGuard | None = None
    last_delta: Any = None
    tool: _ToolParts | None = None


class StreamAdapter:
    """The state of one guarded stream. ``item(x)`` and ``end()`` are steps
    that return the list of items to pass on; ``done`` is set once the
    stream was stopped by the policy and a handler gave the final item."""

    def __init__(self, g: CallSteps, call: Call):
        self.g = g  # the CallSteps: options, backend, name, review_tools
        self.call = call
        self.done = False
        self.count = 0
        self.guards: dict[Any, StreamGuard] = {}
        self.finished: set[Any] = set()
        # OpenAI: tool-call fragments per (choice, index); the last chunk with choices
        self.fragments: dict[int, dict[int, _ToolParts]] = {}
        self.last_chunk: Any = None
        self.removed_choices: set[int] = set()  # choices that lost a tool call
        # Anthropic
        self.blocks: dict[int, _Block] = {}
        self.next_index = 0
        self.tools_kept = 0
        self.tools_removed = 0
        self.responses: ResponsesStream | None = None  # made at the first Responses API event
        # LangChain: the last chunk (a template), tool-call chunks per index
        self.lc_last: Any = None
        self.lc_calls: dict[Any, _ToolParts] = {}

    @property
    def call_steps(self) -> CallSteps:
        return self.g

    def _guard(self, key: Any) -> StreamGuard:
        sg = self.guards.get(key)
        if sg is None:
            o = self.g.o
            sg = self.guards[key] = StreamGuard(self.g.backend, context=self.call.context,
                                                holdback=o.stream_holdback, step=o.stream_step,
                                                restore=self.call.pseudo, session=self.call.session,
                                                sources=self.call.sources)
        return sg

    def feed(self, key: Any, text: str | None):
        """Steps: feed (or finish, text=None) one guard; the released text,
        or a :class:`Stopped` when the policy stopped the stream."""
        try:
            result = yield Feed(self._guard(key), text)
        except PolicyViolation as exc:
            return (yield from self._stopped(exc))
        if text is None:
            self.finished.add(key)
            return result[0]
        return result

    def _stopped(self, exc: PolicyViolation):
        d = exc.decision
        if isinstance(exc, EscalationRequired):
            handler, name = self.g.o.on_escalate, "on_escalate"
        else:
            handler, name = self.g.o.on_deny, "on_deny"
        if handler is None:
            raise exc
        value = yield Invoke(handler, (d,), name)
        self.done = True
        # A stream cannot resume once stopped: CONTINUE just ends it quietly.
        return Stopped(None if value is CONTINUE else value)

    # -- items
    def item(self, item: Any):
        self.count += 1
        if isinstance(item, str):
            out = yield from self.feed(0, item)
            if isinstance(out, Stopped):
                return out.items()
            return [out] if out else []
        if M.get(item, "choices") is not None and isinstance(M.get(item, "choices"), (list, tuple)):
            return (yield from self._openai(item))
        kind = M.get(item, "type")
        if isinstance(kind, str) and kind in ANTHROPIC_EVENTS:
            return (yield from self._anthropic(item, kind))
        if kind == "AIMessageChunk":
            return (yield from self._langchain(item))
        if isinstance(kind, str) and kind.startswith("response."):
            if self.responses is None:
                self.responses = ResponsesStream(self)
            return (yield from self.responses.event(item, kind))
        raise TypeError(
            f"guard: item {self.count} of the stream from {self.g.name}() is {type(item).__name__}; expected "
            "str chunks, OpenAI chat completion chunks, OpenAI Responses API events, Anthropic stream events, "
            "or LangChain AIMessageChunks"
        )

    def end(self):
        """Steps: the stream ended; finish what is still open."""
        out: list[Any] = []
        for key in list(self.guards):
            if key in self.finished:
                continue
            tail = yield from self.feed(key, None)
            if isinstance(tail, Stopped):
                return out + tail.items()
            if not tail:
                continue
            if key == 0 and self.last_chunk is None and not self.blocks:
                out.append(tail)
            elif isinstance(key, tuple) and key[0] == "lc":
                out.append(self._lc_chunk(key[1], tail))
            elif isinstance(key, tuple) and key[0] == "response":
                out.append(self.responses.tail_event(key[1:], tail))
            elif isinstance(key, tuple) and key[0] == "block":
                out.append(self._text_delta(key[1], tail))
            else:
                out.append(self._openai_tail(key, tail))
        if self.lc_calls:
            kept = yield from self._lc_tools()
            if isinstance(kept, Stopped):
                return out + kept.items()
            if kept is not None:
                out.append(kept)
        for choice in list(self.fragments):
            kept = yield from self._openai_tools(choice)
            if isinstance(kept, Stopped):
                return out + kept.items()
            if kept:
                out.append(self._openai_tail(choice, None, kept))
        return out

    # -- OpenAI chunks
    def _openai(self, chunk: Any):
        choices = M.get(chunk, "choices")
        if not choices:
            return [chunk]  # the usage chunk
        self.last_chunk = chunk
        new = chunk
        for pos, choice in enumerate(choices):
            idx = M.get(choice, "index", pos)
            idx = idx if isinstance(idx, int) else pos
            delta = M.get(choice, "delta")
            content = M.get(delta, "content")
            if content is not None and not isinstance(content, str):
                raise TypeError(f"guard: choices[{pos}].delta.content of a streamed chunk must be a str, "
                                f"not {type(content).__name__}")
            released = None
            if content:
                released = yield from self.feed(idx, content)
                if isinstance(released, Stopped):
                    return released.items()
                new = M.set_path(new, ("choices", pos, "delta", "content"), released)
            frags = M.get(delta, "tool_calls")
            if frags:
                parts = self.fragments.setdefault(idx, {})
                for k, frag in enumerate(frags):
                    fi = M.get(frag, "index", k)
                    fn = M.get(frag, "function")
                    entry = parts.get(fi)
                    if entry is None:
                        entry = parts[fi] = _ToolParts(frag)
                    entry.name = entry.name or (M.get(fn, "name") or "")
                    entry.args.append(M.get(fn, "arguments") or "")
                new = M.set_path(new, ("choices", pos, "delta", "tool_calls"), None)
            reason = M.get(choice, "finish_reason")
            if reason:
                if idx in self.guards and idx not in self.finished:
                    tail = yield from self.feed(idx, None)
                    if isinstance(tail, Stopped):
                        return tail.items()
                    if tail:
                        new = M.set_path(new, ("choices", pos, "delta", "content"), (released or "") + tail)
                kept = yield from self._openai_tools(idx)
                if isinstance(kept, Stopped):
                    return kept.items()
                if kept:
                    new = M.set_path(new, ("choices", pos, "delta", "tool_calls"), kept)
                elif reason == "tool_calls" and idx in self.removed_choices:
                    new = M.set_path(new, ("choices", pos, "finish_reason"), "stop")
        return [new]

    def _openai_tools(self, idx: int):
        """Steps: check the complete tool calls of one choice; the fragments to pass on."""
        parts = self.fragments.pop(idx, None)
        if not parts:
            return []
        entries = [parts[k] for k in sorted(parts)]
        slots = []
        for n, e in enumerate(entries):
            raw = "".join(e.args)
            args, problem = M.parse_tool_args(raw)
            slots.append(M.ToolSlot(e.name, args, M.get(e.first, "id"), (), True, (), n, problem))
        verdicts = yield from self.g.review_tools(slots, self.call)
        kept = []
        for e, slot, verdict in zip(entries, slots, verdicts):
            if verdict is A.REMOVED:
                self.removed_choices.add(idx)
                continue
            raw = "".join(e.args) if verdict is None else json.dumps(verdict, ensure_ascii=False)
            frag = M.set_path(e.first, ("function", "arguments"), raw)
            if e.name and M.get(M.get(frag, "function"), "name") != e.name:
                frag = M.set_path(frag, ("function", "name"), e.name)
            kept.append(M.set_path(frag, ("index",), len(kept)))
        return kept

    def _openai_tail(self, idx: Any, tail: str | None, tools: list | None = None) -> Any:
        """A chunk carrying what is left of one choice when the stream ended early."""
        base = self.last_chunk
        choice = M.get(M.get(base, "choices"), 0)
        delta = M.get(choice, "delta")
        delta = M.set_path(delta, ("content",), tail)
        delta = M.set_path(delta, ("tool_calls",), tools or None)
        choice = M.set_path(M.set_path(choice, ("delta",), delta), ("index",), idx)
        choice = M.set_path(choice, ("finish_reason",), None)
        return M.set_path(base, ("choices",), [choice])

    # -- LangChain chunks (llm.stream / llm.astream)
    def _langchain(self, chunk: Any):
        """Steps: one AIMessageChunk; its text released, its tool-call chunks
        held until the last chunk (``chunk_position="last"``) or the end."""
        self.lc_last = chunk
        new = chunk
        content = M.get(chunk, "content")
        if isinstance(content, str) and content:
            released = yield from self.feed(("lc", 0), content)
            if isinstance(released, Stopped):
                return released.items()
            new = M.set_path(new, ("content",), released)
        elif M.is_sequence(content):
            for j, part in enumerate(content):
                text = part if isinstance(part, str) else M.get(part, "text")
                if not isinstance(text, str) or (not isinstance(part, str) and M.get(part, "type") != "text"):
                    continue
                released = yield from self.feed(("lc", M.get(part, "index", 0) if not isinstance(part, str) else 0),
                                                text)
                if isinstance(released, Stopped):
                    return released.items()
                new = M.set_path(new, ("content", j) if isinstance(part, str) else ("content", j, "text"), released)
        frags = M.get(chunk, "tool_call_chunks")
        if frags:
            for k, frag in enumerate(frags):
                fi = M.get(frag, "index", k)
                entry = self.lc_calls.get(fi)
                if entry is None:
                    entry = self.lc_calls[fi] = _ToolParts(frag)
                entry.name = entry.name or (M.get(frag, "name") or "")
                entry.args.append(M.get(frag, "args") or "")
            new = M.replace(M.replace(M.replace(new, "tool_call_chunks", []), "tool_calls", []),
                            "invalid_tool_calls", [])
        if M.get(chunk, "chunk_position") != "last":
            return [new]
        out = [new]
        for key in [k for k in self.guards if isinstance(k, tuple) and k[0] == "lc" and k not in self.finished]:
            tail = yield from self.feed(key, None)
            if isinstance(tail, Stopped):
                return tail.items()
            if tail:
                out.insert(len(out) - 1, self._lc_chunk(key[1], tail, last=False))
        kept = yield from self._lc_tools()
        if isinstance(kept, Stopped):
            return kept.items()
        if kept is not None:
            out.insert(len(out) - 1, M.replace(kept, "chunk_position", None))
        return out

    def _lc_chunk(self, index: Any, text: str, last: bool | None = None) -> Any:
        base = M.replace(M.replace(self.lc_last, "tool_call_chunks", []), "tool_calls", [])
        if last is False:
            base = M.replace(base, "chunk_position", None)
        if M.is_sequence(M.get(self.lc_last, "content")) and M.get(self.lc_last, "content"):
            return M.replace(base, "content", [{"type": "text", "text": text, "index": index}])
        return M.replace(base, "content", text)

    def _lc_tools(self):
        """Steps: check the held LangChain tool calls; a chunk carrying the
        kept ones whole (None when there are none)."""
        entries = [self.lc_calls[k] for k in sorted(self.lc_calls, key=str)]
        self.lc_calls = {}
        slots = []
        for n, e in enumerate(entries):
            args, problem = M.parse_tool_args("".join(e.args))
            slots.append(M.ToolSlot(e.name, args, M.get(e.first, "id"), (), False, (), n, problem))
        verdicts = yield from self.g.review_tools(slots, self.call)
        chunks, calls = [], []
        for slot, verdict in zip(slots, verdicts):
            if verdict is A.REMOVED:
                continue
            final = slot.args if verdict is None else verdict
            chunks.append({"type": "tool_call_chunk", "name": slot.name, "id": slot.id, "index": len(chunks),
                           "args": json.dumps(final, ensure_ascii=False)})
            calls.append({"type": "tool_call", "name": slot.name, "id": slot.id, "args": final})
        if not chunks:
            return None
        base = M.replace(self.lc_last, "content", "" if isinstance(M.get(self.lc_last, "content"), str) else [])
        return M.replace(M.replace(M.replace(base, "tool_call_chunks", chunks), "tool_calls", calls),
                         "invalid_tool_calls", [])

    # -- Anthropic events
    def _anthropic(self, event: Any, kind: str):
        if kind == "content_block_start":
            src = M.get(event, "index")
            block = M.get(event, "content_block")
            btype = M.get(block, "type")
            if btype == "tool_use":
                self.blocks[src] = _Block("tool_use", None, tool=_ToolParts(event, M.get(block, "name") or ""))
                return []
            b = self.blocks[src] = _Block(btype or "", self._take_index())
            out = M.set_path(event, ("index",), b.out_index)
            if btype == "text":
                text = M.get(block, "text") or ""
                released = ""
                if text:
                    released = yield from self.feed(("block", src), text)
                    if isinstance(released, Stopped):
                        return released.items()
                else:
                    self._guard(("block", src))
                out = M.set_path(out, ("content_block", "text"), released)
            return [out]
        if kind == "content_block_delta":
            src = M.get(event, "index")
            b = self.blocks.get(src)
            if b is None:
                raise TypeError(f"guard: a content_block_delta for block {src!r} came before its content_block_start")
            delta = M.get(event, "delta")
            dtype = M.get(delta, "type")
            if b.kind == "tool_use":
                if dtype == "input_json_delta":
                    b.tool.args.append(M.get(delta, "partial_json") or "")
                    if b.tool.first_delta is None:
                        b.tool.first_delta = event
                return []
            out = M.set_path(event, ("index",), b.out_index)
            if dtype == "text_delta":
                b.last_delta = event
                released = yield from self.feed(("block", src), M.get(delta, "text") or "")
                if isinstance(released, Stopped):
                    return released.items()
                out = M.set_path(out, ("delta", "text"), released)
            return [out]
        if kind == "content_block_stop":
            src = M.get(event, "index")
            b = self.blocks.get(src)
            if b is None:
                return [event]
            if b.kind == "tool_use":
                return (yield from self._anthropic_tool(b, event))
            out: list[Any] = []
            key = ("block", src)
            if key in self.guards and key not in self.finished:
                tail = yield from self.feed(key, None)
                if isinstance(tail, Stopped):
                    return tail.items()
                if tail:
                    out.append(self._text_delta(src, tail))
            out.append(M.set_path(event, ("index",), b.out_index))
            return out
        if kind == "message_delta":
            if self.tools_removed and not self.tools_kept and M.get(M.get(event, "delta"), "stop_reason") == "tool_use":
                return [M.set_path(event, ("delta", "stop_reason"), "end_turn")]
            return [event]
        return [event]

    def _take_index(self) -> int:
        n = self.next_index
        self.next_index += 1
        return n

    def _text_delta(self, src: int, text: str) -> Any:
        b = self.blocks[src]
        if b.last_delta is not None:
            return M.set_path(M.set_path(b.last_delta, ("index",), b.out_index), ("delta", "text"), text)
        return {"type": "content_block_delta", "index": b.out_index, "delta": {"type": "text_delta", "text": text}}

    def _anthropic_tool(self, b: _Block, stop: Any):
        t = b.tool
        block = M.get(t.first, "content_block")
        if t.args:
            args, problem = M.parse_tool_args("".join(t.args))
        else:
            args, problem = M.parse_tool_args(M.get(block, "input") or {})
        slot = M.ToolSlot(t.name, args, M.get(block, "id"), (), False, (), 0, problem)
        (verdict,) = yield from self.g.review_tools([slot], self.call)
        if verdict is A.REMOVED:
            self.tools_removed += 1
            return []
        self.tools_kept += 1
        final = args if verdict is None else verdict
        b.out_index = self._take_index()
        out = [M.set_path(t.first, ("index",), b.out_index)]
        if t.first_delta is not None:
            delta = M.set_path(t.first_delta, ("delta", "partial_json"), json.dumps(final, ensure_ascii=False))
            out.append(M.set_path(delta, ("index",), b.out_index))
        else:
            out[0] = M.set_path(out[0], ("content_block", "input"), final)
        out.append(M.set_path(stop, ("index",), b.out_index))
        return out


@dataclass(frozen=True, slots=True)
class Stopped:
    """The stream was stopped; ``value`` is the handler's last item, if any."""

    value: Any

    def items(self) -> list[Any]:
        return [] if self.value is None else [self.value]


__all__ = ["ANTHROPIC_EVENTS", "StreamAdapter", "Stopped"]
