"""The message shapes the decorator understands, read and rebuilt without mutation.

Reading a prompt or an answer gives *slots*: where a text or a tool call
lies (a path of keys and indexes from the root) and what it holds. Rebuilding
copies only the containers along the changed paths and shares everything
else, so the caller's objects are never modified. Dicts, lists, pydantic
models (the ``openai`` and ``anthropic`` SDKs' types), dataclasses and plain
objects are all read by key or attribute alike.

Shapes:

* prompt: a ``str`` argument;
* messages: OpenAI-style (``{"role", "content"}``, content a string or a
  list of parts such as ``{"type": "text", "text": ...}``),
  Anthropic-style (content blocks; ``tool_result`` blocks count as role
  ``"tool"``) and Responses API input items (messages, and ``function_call``
  / ``function_call_output`` items without a role); a plain ``str`` is one
  user message, as the Responses API and LangChain read it;
* tool results in the messages: OpenAI ``role="tool"`` (and legacy
  ``"function"``) messages, Anthropic ``tool_result`` blocks and Responses
  ``function_call_output`` items, each with the tool and arguments of the
  call it answers;
* answers: a ``str``; an OpenAI chat completion (``choices[i].message``
  with ``content`` and ``tool_calls``, or a legacy ``choices[i].text``); a
  single OpenAI-style assistant message; an Anthropic message (``content``
  blocks of ``text`` and ``tool_use``); a Responses API response
  (``output`` items: ``message`` with ``output_text`` parts, ``function_call``).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Path = tuple[Any, ...]

_MISSING = object()


# ---- reading and copying any container -------------------------------------


def get(obj: Any, key: Any, default: Any = None) -> Any:
    """``obj[key]`` for mappings and sequences, ``obj.key`` for objects."""
    if isinstance(key, int):
        try:
            return obj[key]
        except (IndexError, KeyError, TypeError):
            return default
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def replace(obj: Any, key: Any, value: Any) -> Any:
    """A shallow copy of ``obj`` with ``key`` set to ``value``."""
    if isinstance(obj, list):
        new = list(obj)
        new[key] = value
        return new
    if isinstance(obj, tuple):
        return obj[:key] + (value,) + obj[key + 1:]
    if isinstance(obj, dict):
        new = copy.copy(obj)  # keeps a dict subclass
        new[key] = value
        return new
    if isinstance(obj, Mapping):
        new = dict(obj)
        new[key] = value
        return new
    model_copy = getattr(obj, "model_copy", None)
    if callable(model_copy):  # pydantic v2, as the SDKs use
        return model_copy(update={key: value})
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        names = {f.name for f in dataclasses.fields(obj) if f.init}
        if key in names:
            return dataclasses.replace(obj, **{key: value})
    new = copy.copy(obj)
    setattr(new, key, value)
    return new


def set_path(root: Any, path: Path, value: Any) -> Any:
    """A copy of ``root`` with the value at ``path`` replaced."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    return replace(root, head, set_path(get(root, head), rest, value))


def get_path(root: Any, path: Path) -> Any:
    for key in path:
        root = get(root, key)
    return root


def _kind(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (list, tuple))


# ---- slots -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextSlot:
    """A text at ``path``; ``role`` for messages."""

    path: Path
    text: str
    role: str | None = None


@dataclass(frozen=True, slots=True)
class ToolSlot:
    """A tool call the model proposed.

    ``args`` is the parsed argument object, or None when it is not a JSON
    object (``problem`` then says why). ``args_path`` is where the arguments
    live and ``encoded`` whether they are a JSON string there (OpenAI) or an
    object (Anthropic). ``container`` and ``index`` locate the call in its
    list, for removal.
    """

    name: str
    args: dict | None
    id: str | None
    args_path: Path
    encoded: bool
    container: Path
    index: int
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Shape:
    """An answer's texts and tool calls. ``kind``: text | openai | message | anthropic | responses."""

    kind: str
    texts: list[TextSlot]
    tools: list[ToolSlot]


# ---- prompts ---------------------------------------------------------------

TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text"})
#: Responses API input items that carry no role (and no text for the input rules).
ROLELESS_ITEMS = frozenset({"function_call", "function_call_output", "reasoning", "item_reference",
                            "web_search_call", "file_search_call", "computer_call", "computer_call_output",
                            "code_interpreter_call", "image_generation_call", "local_shell_call",
                            "local_shell_call_output", "mcp_call", "mcp_list_tools", "mcp_approval_request",
                            "mcp_approval_response", "custom_tool_call", "custom_tool_call_output"})


def message_slots(messages: Any, param: str, roles: frozenset[str] | tuple[str, ...]) -> list[TextSlot]:
    """The texts of the messages whose role is in ``roles``.

    Raises TypeError, naming ``param`` and the offending element, for any
    shape that is not a list of OpenAI- or Anthropic-style messages or
    Responses API input items. A ``str`` is one user message.
    """
    if isinstance(messages, str):
        return [TextSlot((), messages, "user")] if "user" in roles else []
    if not _is_sequence(messages):
        raise TypeError(
            f"argument {param!r} must be a list of messages (dicts or objects with 'role' and "
            f"'content', OpenAI or Anthropic style, or Responses API input items) or a str (one user "
            f"message), not {_kind(messages)}"
        )
    slots: list[TextSlot] = []
    for i, m in enumerate(messages):
        where = f"{param}[{i}]"
        item = get(m, "type", None) if not isinstance(m, (str, bytes)) else None
        if item in ROLELESS_ITEMS and get(m, "role", None) is None:
            if item == "function_call_output":  # a tool's result: read as role "tool"
                _content_slots(get(m, "output"), (i, "output"), f"{where}.output", "tool", roles, slots)
            continue
        if isinstance(item, str) and get(m, "role", None) is None:
            raise TypeError(f"{where} is an input item of type {item!r} that the guard does not read; "
                            "expected a message with 'role' and 'content', or a Responses API item such as "
                            "'function_call_output'")
        if isinstance(m, (str, bytes)) or m is None or get(m, "role", _MISSING) is _MISSING:
            raise TypeError(f"{where} must be a message with 'role' and 'content', not {_kind(m)}")
        role = get(m, "role")
        if not isinstance(role, str):
            raise TypeError(f"{where}.role must be a str, not {_kind(role)}")
        _content_slots(get(m, "content"), (i, "content"), f"{where}.content", role, roles, slots)
    return slots


def _content_slots(content: Any, path: Path, where: str, role: str, roles, out: list[TextSlot]) -> None:
    if content is None:
        return
    if isinstance(content, str):
        if role in roles:
            out.append(TextSlot(path, content, role))
        return
    if not _is_sequence(content):
        raise TypeError(f"{where} must be a str, a list of content parts, or None; not {_kind(content)}")
    for j, part in enumerate(content):
        here = f"{where}[{j}]"
        kind = get(part, "type", None) if not isinstance(part, (str, bytes)) else None
        if not isinstance(kind, str):
            raise TypeError(f"{here} must be a content part with a 'type', such as "
                            f"{{'type': 'text', 'text': ...}}; not {_kind(part)}")
        if kind in TEXT_PART_TYPES:
            text = get(part, "text")
            if not isinstance(text, str):
                raise TypeError(f"{here}.text must be a str, not {_kind(text)}")
            if role in roles:
                out.append(TextSlot((*path, j, "text"), text, role))
        elif kind == "tool_result":
            # Anthropic puts tool results in user turns; they are tool output,
            # so they follow the "tool" role, like OpenAI's role="tool" messages.
            _content_slots(get(part, "content"), (*path, j, "content"), f"{here}.content", "tool", roles, out)
        # Images, audio, files, tool_use blocks: no text for the rules to read.


@dataclass(frozen=True, slots=True)
class ResultSlot:
    """A tool's result in the messages: an OpenAI ``role="tool"`` (or legacy
    ``"function"``) message, or an Anthropic ``tool_result`` block.

    ``tool`` and ``args`` are those of the call it answers, found by its id
    among the assistant turns (``tool`` falls back to the message's ``name``,
    then to ``"unknown"``; ``args`` to None). ``content`` is the path of the
    result's content, ``texts`` its text parts (one for string content).
    """

    tool: str
    args: dict | None
    id: str | None
    content: Path
    texts: tuple[TextSlot, ...]


UNKNOWN_TOOL = "unknown"


def result_slots(messages: Any) -> list[ResultSlot]:
    """The tool results in a list of messages already read by :func:`message_slots`."""
    calls: dict[str, tuple[str, dict | None]] = {}
    out: list[ResultSlot] = []
    for i, m in enumerate(messages if _is_sequence(messages) else ()):
        role = get(m, "role")
        content = get(m, "content")
        proposed = get(m, "tool_calls")
        for call in proposed if _is_sequence(proposed) else ():
            fn = get(call, "function")
            cid = get(call, "id")
            if isinstance(cid, str):
                calls[cid] = (str(get(fn, "name") or ""), parse_tool_args(get(fn, "arguments"))[0])
        item = get(m, "type", None) if role is None else None
        if item == "function_call":  # Responses API: a call in the history
            cid = get(m, "call_id")
            if isinstance(cid, str):
                calls[cid] = (str(get(m, "name") or ""), parse_tool_args(get(m, "arguments"))[0])
            continue
        if item == "function_call_output":
            cid = get(m, "call_id")
            texts = _text_parts(get(m, "output"), (i, "output"))
            if texts:
                name, args = calls.get(cid, ("", None)) if isinstance(cid, str) else ("", None)
                out.append(ResultSlot(name or UNKNOWN_TOOL, args, cid if isinstance(cid, str) else None,
                                      (i, "output"), texts))
            continue
        if role in ("tool", "function"):
            cid = get(m, "tool_call_id")
            texts = _text_parts(content, (i, "content"))
            if texts:
                name, args = calls.get(cid, ("", None)) if isinstance(cid, str) else ("", None)
                out.append(ResultSlot(name or str(get(m, "name") or "") or UNKNOWN_TOOL, args,
                                      cid if isinstance(cid, str) else None, (i, "content"), texts))
            continue
        if not _is_sequence(content):
            continue
        for j, block in enumerate(content):
            kind = get(block, "type", None) if not isinstance(block, (str, bytes)) else None
            if kind == "tool_use" and isinstance(get(block, "id"), str):
                raw = get(block, "input")
                calls[get(block, "id")] = (str(get(block, "name") or ""), parse_tool_args(raw if raw is not None
                                                                                          else {})[0])
            elif kind == "tool_result":
                cid = get(block, "tool_use_id")
                texts = _text_parts(get(block, "content"), (i, "content", j, "content"))
                if texts:
                    name, args = calls.get(cid, ("", None)) if isinstance(cid, str) else ("", None)
                    out.append(ResultSlot(name or UNKNOWN_TOOL, args, cid if isinstance(cid, str) else None,
                                          (i, "content", j, "content"), texts))
    return out


def _text_parts(content: Any, path: Path) -> tuple[TextSlot, ...]:
    if isinstance(content, str):
        return (TextSlot(path, content, "tool"),)
    if not _is_sequence(content):
        return ()
    return tuple(TextSlot((*path, k, "text"), get(part, "text"), "tool") for k, part in enumerate(content)
                 if get(part, "type", None) in TEXT_PART_TYPES and isinstance(get(part, "text"), str))


def apply_texts(root: Any, updates: dict[Path, str], base: Path = ()) -> Any:
    """``root`` with the texts at the given paths (relative to ``base``) replaced."""
    for path, text in updates.items():
        root = set_path(root, path[len(base):], text)
    return root


# ---- answers ---------------------------------------------------------------


def read_output(result: Any) -> Shape | None:
    """The texts and tool calls of an answer, or None for an unknown shape."""
    if isinstance(result, str):
        return Shape("text", [TextSlot((), result)], [])
    if result is None or isinstance(result, (bytes, int, float, bool)):
        return None
    choices = get(result, "choices", _MISSING)
    if choices is not _MISSING and _is_sequence(choices):
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
    output = get(result, "output", _MISSING)
    if _is_sequence(output) and (get(result, "object") == "response" or (
            output and all(isinstance(get(i, "type", None), str) for i in output))):
        return _responses(output)
    content = get(result, "content", _MISSING)
    anthropic_like = get(result, "type") == "message" or (
        get(result, "role") == "assistant" and get(result, "tool_calls") is None)
    if _is_sequence(content) and anthropic_like:
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
    elif _is_sequence(content):
        for j, part in enumerate(content):
            if get(part, "type") in TEXT_PART_TYPES and isinstance(get(part, "text"), str):
                texts.append(TextSlot((*path, "content", j, "text"), get(part, "text")))
    calls = get(message, "tool_calls")
    if _is_sequence(calls):
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


def parse_tool_args(raw: Any) -> tuple[dict | None, str | None]:
    """A tool call's arguments as a dict (from a dict or a JSON object
    string), or None and the reason they cannot be read."""
    if isinstance(raw, Mapping):
        return dict(raw), None
    if raw is None or raw == "":
        return {}, None
    if not isinstance(raw, str):
        return None, f"arguments must be a JSON object, not {_kind(raw)}"
    try:
        value = json.loads(raw)
    except ValueError as exc:
        return None, f"arguments are not valid JSON ({exc.msg} at position {exc.pos})"
    if not isinstance(value, dict):
        return None, f"arguments must be a JSON object, not a JSON {type(value).__name__}"
    return value, None


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
            for j, part in enumerate(content if _is_sequence(content) else ()):
                if get(part, "type") in TEXT_PART_TYPES and isinstance(get(part, "text"), str):
                    texts.append(TextSlot(("output", i, "content", j, "text"), get(part, "text")))
        elif kind == "function_call":
            args, problem = parse_tool_args(get(item, "arguments"))
            tools.append(ToolSlot(str(get(item, "name") or ""), args, get(item, "call_id"),
                                  ("output", i, "arguments"), True, ("output",), i, problem))
    return Shape("responses", texts, tools)


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
    for container, indexes in removed.items():
        if -1 in indexes:  # the legacy function_call
            out = set_path(out, container, None)
            out = _fix_reason(out, shape, container[:-1], "function_call")
            continue
        current = get_path(out, container)
        kept = [item for j, item in enumerate(current) if j not in indexes]
        if shape.kind == "responses":  # output items: a removed call is simply gone
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


__all__ = [
    "REMOVED",
    "ResultSlot",
    "Shape",
    "TextSlot",
    "ToolSlot",
    "apply_texts",
    "get",
    "get_path",
    "message_slots",
    "parse_tool_args",
    "read_output",
    "rebuild_output",
    "replace",
    "result_slots",
    "set_path",
]
