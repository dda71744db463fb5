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
  user message, as the Responses API and LangChain read it; LangChain
  messages (``HumanMessage``, ``AIMessage``, ``ToolMessage`` ...: the role
  is read from ``type``, and content lists may hold plain strings);
* tool results in the messages: OpenAI ``role="tool"`` (and legacy
  ``"function"``) messages, Anthropic ``tool_result`` blocks and Responses
  ``function_call_output`` items, each with the tool and arguments of the
  call it answers;
* tool calls' arguments: a JSON object, or its JSON text.

What a guarded function returns is read by :mod:`guardrails.guard.answers`.
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


def is_sequence(value: Any) -> bool:
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


#: LangChain message types (``BaseMessage.type``) and the role each stands for.
LANGCHAIN_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "function",
                   "developer": "developer", "HumanMessageChunk": "user", "AIMessageChunk": "assistant",
                   "SystemMessageChunk": "system", "ToolMessageChunk": "tool", "FunctionMessageChunk": "function"}


def role_of(message: Any) -> Any:
    """A message's role: its ``role``, or the role a LangChain message's
    ``type`` stands for (``"human"`` is ``"user"``); ``_MISSING`` when it
    has neither."""
    if isinstance(message, (str, bytes)) or message is None:
        return _MISSING
    role = get(message, "role", _MISSING)
    if role is _MISSING and not isinstance(message, Mapping):
        kind = get(message, "type", None)
        if kind in ("chat", "ChatMessageChunk"):
            return get(message, "role", _MISSING)
        role = LANGCHAIN_ROLES.get(kind, _MISSING) if isinstance(kind, str) else _MISSING
    return role


def is_langchain(message: Any) -> bool:
    return not isinstance(message, Mapping) and get(message, "role", None) is None and (
        isinstance(get(message, "type", None), str) and get(message, "type") in LANGCHAIN_ROLES)


def message_slots(messages: Any, param: str, roles: frozenset[str] | tuple[str, ...]) -> list[TextSlot]:
    """The texts of the messages whose role is in ``roles``.

    Raises TypeError, naming ``param`` and the offending element, for any
    shape that is not a list of OpenAI- or Anthropic-style messages or
    Responses API input items. A ``str`` is one user message.
    """
    if isinstance(messages, str):
        return [TextSlot((), messages, "user")] if "user" in roles else []
    if not is_sequence(messages):
        raise TypeError(
            f"argument {param!r} must be a list of messages (dicts or objects with 'role' and "
            f"'content', OpenAI or Anthropic style, or Responses API input items) or a str (one user "
            f"message), not {_kind(messages)}"
        )
    slots: list[TextSlot] = []
    for i, m in enumerate(messages):
        where = f"{param}[{i}]"
        role = role_of(m)
        item = get(m, "type", None) if not isinstance(m, (str, bytes)) else None
        if item in ROLELESS_ITEMS and role is _MISSING:
            if item == "function_call_output":  # a tool's result: read as role "tool"
                _content_slots(get(m, "output"), (i, "output"), f"{where}.output", "tool", roles, slots)
            continue
        if isinstance(item, str) and role is _MISSING:
            raise TypeError(f"{where} is an input item of type {item!r} that the guard does not read; "
                            "expected a message with 'role' and 'content', or a Responses API item such as "
                            "'function_call_output'")
        if role is _MISSING:
            raise TypeError(f"{where} must be a message with 'role' and 'content', not {_kind(m)}")
        if not isinstance(role, str):
            raise TypeError(f"{where}.role must be a str, not {_kind(role)}")
        _content_slots(get(m, "content"), (i, "content"), f"{where}.content", role, roles, slots, is_langchain(m))
    return slots


def _content_slots(content: Any, path: Path, where: str, role: str, roles, out: list[TextSlot],
                   bare_strings: bool = False) -> None:
    if content is None:
        return
    if isinstance(content, str):
        if role in roles:
            out.append(TextSlot(path, content, role))
        return
    if not is_sequence(content):
        raise TypeError(f"{where} must be a str, a list of content parts, or None; not {_kind(content)}")
    for j, part in enumerate(content):
        here = f"{where}[{j}]"
        if bare_strings and isinstance(part, str):  # LangChain content lists may hold plain strings
            if role in roles:
                out.append(TextSlot((*path, j), part, role))
            continue
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
    for i, m in enumerate(messages if is_sequence(messages) else ()):
        role = role_of(m)
        role = None if role is _MISSING else role
        content = get(m, "content")
        proposed = get(m, "tool_calls")
        for call in proposed if is_sequence(proposed) else ():
            fn = get(call, "function")
            cid = get(call, "id")
            if isinstance(cid, str):
                if fn is None:  # LangChain: {"name", "args", "id"}
                    calls[cid] = (str(get(call, "name") or ""), parse_tool_args(get(call, "args"))[0])
                else:
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
        if not is_sequence(content):
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
    if not is_sequence(content):
        return ()
    return tuple(TextSlot((*path, k), part, "tool") if isinstance(part, str)
                 else TextSlot((*path, k, "text"), get(part, "text"), "tool") for k, part in enumerate(content)
                 if isinstance(part, str) or (get(part, "type", None) in TEXT_PART_TYPES
                                              and isinstance(get(part, "text"), str)))


def apply_texts(root: Any, updates: dict[Path, str], base: Path = ()) -> Any:
    """``root`` with the texts at the given paths (relative to ``base``) replaced."""
    for path, text in updates.items():
        root = set_path(root, path[len(base):], text)
    return root


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


__all__ = [
    "LANGCHAIN_ROLES",
    "ROLELESS_ITEMS",
    "ResultSlot",
    "Shape",
    "TEXT_PART_TYPES",
    "TextSlot",
    "ToolSlot",
    "apply_texts",
    "get",
    "get_path",
    "is_langchain",
    "is_sequence",
    "message_slots",
    "parse_tool_args",
    "replace",
    "result_slots",
    "role_of",
    "set_path",
]
