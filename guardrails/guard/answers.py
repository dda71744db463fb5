"""Answers as the guard reads them: the texts and tool calls of what a
guarded function returned, and the answer rebuilt with redacted texts,
redacted arguments and the denied tool calls removed.

Shapes (dicts, SDK objects and dataclasses alike, read with
:func:`~guardrails.guard.shapes.get`):

* a ``str``;
* an OpenAI chat completion (``choices[i].message`` with ``content`` and
  ``tool_calls``, or a legacy ``choices[i].text``), or a single
  OpenAI-style assistant message;
* an Anthropic message (``content`` blocks of ``text`` and ``tool_use``);
* an OpenAI Responses API response (``output`` items: ``message`` with
  ``output_text`` parts, ``function_call``);
* a LangChain ``AIMessage`` (``content`` a string or a list of parts,
  ``tool_calls`` as ``{"name", "args", "id"}``; the OpenAI copy some
  integrations keep in ``additional_kwargs["tool_calls"]`` follows).

Rebuilding copies only what changed (:func:`~guardrails.guard.shapes.set_path`),
so the caller's objects are never modified.
"""

from __future__ import annotations

import json
from typing import Any

from guardrails.guard.shapes import (
    TEXT_PART_TYPES,
    Path,
    Shape,
    TextSlot,
    ToolSlot,
    apply_texts,
    get,
    get_path,
    is_sequence,
    parse_tool_args,
    set_path,
)

_MISSING = object()


def read_output(result: Any) -> Shape | None:
    """The texts and tool calls of an answer, or None for an unknown shape."""
    if isinstance(result, str):
        return Shape("text", [TextSlot((), result)], [])
    if result is None or isinstance(result, (bytes, int, float, bool)):
        return None
    choices = get(result, "choices", _MISSING)
    if choices is not _MISSING and is_sequence(choices):
        texts: list[TextSlot] = []
        tools: list[ToolSlot] = []
        for i, choice in enumerate(choices):
            message = get(choice, "message")
            if message is None:
                text = get(choice, "text")
                if isinstance(text, str):  # a legacy completion
                    texts.append(TextSlot(("choices", i, "text"), text))
                continue
            _openai_message(message, ("choices", i, "message"), texts, tools)
        return Shape("openai", texts, tools)
    if get(result, "type", None) in ("ai", "AIMessageChunk") and get(result, "content", _MISSING) is not _MISSING:
        return _langchain(result)
    output = get(result, "output", _MISSING)
    if is_sequence(output) and (get(result, "object") == "response" or (
            output and all(isinstance(get(i, "type", None), str) for i in output))):
        return _responses(output)
    content = get(result, "content", _MISSING)
    anthropic_like = get(result, "type") == "message" or (
        get(result, "role") == "assistant" and get(result, "tool_calls") is None)
    if is_sequence(content) and anthropic_like:
        if all(isinstance(get(b, "type", None), str) for b in content) and not _looks_openai_parts(content):
            return _anthropic(content)
    role = get(result, "role", _MISSING)
    if role is not _MISSING and (content is not _MISSING or get(result, "tool_calls") is not None):
        texts, tools = [], []
        _openai_message(result, (), texts, tools)
        return Shape("message", texts, tools)
    return None


def _looks_openai_parts(content: Any) -> bool:
    return any(get(b, "type") in ("image_url", "input_audio", "refusal") for b in content)


def _openai_message(message: Any, path: Path, texts: list[TextSlot], tools: list[ToolSlot]) -> None:
    content = get(message, "content")
    if isinstance(content, str):
        texts.append(TextSlot((*path, "content"), content))
    elif is_sequence(content):
        for j, part in enumerate(content):
            if get(part, "type") in TEXT_PART_TYPES and isinstance(get(part, "text"), str):
                texts.append(TextSlot((*path, "content", j, "text"), get(part, "text")))
    calls = get(message, "tool_calls")
    if is_sequence(calls):
        for j, call in enumerate(calls):
            fn = get(call, "function")
            raw = get(fn, "arguments")
            args, problem = parse_tool_args(raw)
            tools.append(ToolSlot(str(get(fn, "name") or ""), args, get(call, "id"),
                                  (*path, "tool_calls", j, "function", "arguments"), True,
                                  (*path, "tool_calls"), j, problem))
    fc = get(message, "function_call")
    if fc is not None:  # the legacy single function call
        args, problem = parse_tool_args(get(fc, "arguments"))
        tools.append(ToolSlot(str(get(fc, "name") or ""), args, None, (*path, "function_call", "arguments"),
                              True, (*path, "function_call"), -1, problem))


def _anthropic(content: Any) -> Shape:
    texts: list[TextSlot] = []
    tools: list[ToolSlot] = []
    for j, block in enumerate(content):
        kind = get(block, "type")
        if kind == "text" and isinstance(get(block, "text"), str):
            texts.append(TextSlot(("content", j, "text"), get(block, "text")))
        elif kind == "tool_use":
            raw = get(block, "input")
            args, problem = parse_tool_args(raw if raw is not None else {})
            tools.append(ToolSlot(str(get(block, "name") or ""), args, get(block, "id"),
                                  ("content", j, "input"), False, ("content",), j, problem))
    return Shape("anthropic", texts, tools)


def _responses(output: Any) -> Shape:
    texts: list[TextSlot] = []
    tools: list[ToolSlot] = []
    for i, item in enumerate(output):
        kind = get(item, "type")
        if kind == "message":
            content = get(item, "content")
            for j, part in enumerate(content if is_sequence(content) else ()):
                if get(part, "type") in TEXT_PART_TYPES and isinstance(get(part, "text"), str):
                    texts.append(TextSlot(("output", i, "content", j, "text"), get(part, "text")))
        elif kind == "function_call":
            args, problem = parse_tool_args(get(item, "arguments"))
            tools.append(ToolSlot(str(get(item, "name") or ""), args, get(item, "call_id"),
                                  ("output", i, "arguments"), True, ("output",), i, problem))
    return Shape("responses", texts, tools)


def _langchain(message: Any) -> Shape:
    texts: list[TextSlot] = []
    tools: list[ToolSlot] = []
    content = get(message, "content")
    if isinstance(content, str):
        texts.append(TextSlot(("content",), content))
    for j, part in enumerate(content if is_sequence(content) else ()):
        if isinstance(part, str):
            texts.append(TextSlot(("content", j), part))
        elif get(part, "type") in TEXT_PART_TYPES and isinstance(get(part, "text"), str):
            texts.append(TextSlot(("content", j, "text"), get(part, "text")))
    calls = get(message, "tool_calls")
    for j, call in enumerate(calls if is_sequence(calls) else ()):
        args, problem = parse_tool_args(get(call, "args"))
        tools.append(ToolSlot(str(get(call, "name") or ""), args, get(call, "id"), ("tool_calls", j, "args"), False,
                              ("tool_calls",), j, problem))
    return Shape("langchain", texts, tools)


def _langchain_extras(out: Any, shape: Shape, tool_args: dict) -> Any:
    """The OpenAI copy of the tool calls some LangChain integrations keep in
    ``additional_kwargs["tool_calls"]``, made to agree with ``tool_calls``."""
    extra = get(out, "additional_kwargs")
    copies = get(extra, "tool_calls") if isinstance(extra, dict) else None
    if not is_sequence(copies):
        return out
    verdicts = {slot.id: tool_args.get((slot.container, slot.index)) for slot in shape.tools if slot.id}
    kept = []
    for call in copies:
        verdict = verdicts.get(get(call, "id"))
        if verdict is REMOVED:
            continue
        if verdict is not None:
            call = set_path(call, ("function", "arguments"), json.dumps(verdict, ensure_ascii=False))
        kept.append(call)
    return set_path(out, ("additional_kwargs", "tool_calls"), kept)


REMOVED = object()


def rebuild_output(result: Any, shape: Shape, texts: dict[Path, str],
                   tool_args: dict[tuple[Path, int], dict | object]) -> Any:
    """``result`` with new texts, new tool arguments, and denied tool calls removed.

    ``tool_args`` maps a tool slot's ``(container, index)`` to its new
    argument object, or to :data:`REMOVED`. When every call of a message is
    removed, its ``finish_reason``/``stop_reason`` no longer claims tool use.
    """
    if shape.kind == "text":
        return texts.get((), result)
    out = apply_texts(result, texts)
    removed: dict[Path, set[int]] = {}
    for slot in shape.tools:
        new = tool_args.get((slot.container, slot.index))
        if new is None:
            continue
        if new is REMOVED:
            removed.setdefault(slot.container, set()).add(slot.index)
        else:
            value = json.dumps(new, ensure_ascii=False) if slot.encoded else new
            out = set_path(out, slot.args_path, value)
    if shape.kind == "langchain" and tool_args:
        out = _langchain_extras(out, shape, tool_args)
    for container, indexes in removed.items():
        if -1 in indexes:  # the legacy function_call
            out = set_path(out, container, None)
            out = _fix_reason(out, shape, container[:-1], "function_call")
            continue
        current = get_path(out, container)
        kept = [item for j, item in enumerate(current) if j not in indexes]
        if shape.kind in ("responses", "langchain"):  # a removed call is simply gone
            out = set_path(out, container, kept)
        elif shape.kind == "anthropic":
            out = set_path(out, container, kept)
            if not any(get(b, "type") == "tool_use" for b in kept) and get(out, "stop_reason") == "tool_use":
                out = set_path(out, ("stop_reason",), "end_turn")
        else:
            out = set_path(out, container, kept or None)
            if not kept:
                out = _fix_reason(out, shape, container[:-1], "tool_calls")
    return out


def _fix_reason(out: Any, shape: Shape, message_path: Path, reason: str) -> Any:
    if shape.kind == "openai" and len(message_path) >= 2:
        choice = message_path[:-1]
        if get(get_path(out, choice), "finish_reason") == reason:
            out = set_path(out, (*choice, "finish_reason"), "stop")
    return out


__all__ = ["REMOVED", "read_output", "rebuild_output"]
