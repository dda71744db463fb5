"""Tool results as the guard sees them: values a tool returned, and results
in the messages an agent sends back to its model.

The tool_result stage takes a string or a JSON value and gives back the
forwarded value in the same shape. These helpers turn what Python code holds
into that (:func:`json_value`: tuples become lists, anything else that is not
JSON-like is refused naming where it is), put a redacted value back into the
caller's shapes (:func:`restore`), and read a result message's content
(:func:`content_value`: JSON text is parsed, so ``result.status`` means the
same whether a tool's dict arrives directly or as ``json.dumps`` of it) and
write the forwarded value back as text, JSON again where it was JSON
(:func:`rewritten`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from guardrails.decision import Decision, Outcome
from guardrails.guard.shapes import Path, ResultSlot

JSON_HINT = "(str, int, float, bool, None, lists, dicts with string keys)"


def json_value(value: Any, where: str, need: str) -> Any:
    """``value`` as JSON (tuples become lists), or a TypeError naming
    ``where``; ``need`` says what must be JSON-like (for the message)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [json_value(v, f"{where}[{i}]", need) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where} has a key of type {type(k).__name__}; {need} need string keys")
            out[k] = json_value(v, f"{where}[{k!r}]", need)
        return out
    raise TypeError(f"{where} has type {type(value).__name__}; {need} must be JSON-like {JSON_HINT}")


def restore(original: Any, checked: Any, forwarded: Any) -> Any:
    """``forwarded`` in the caller's container types: the parts the policy
    left as they were (``forwarded == checked``) are the caller's own objects
    again, a tuple stays a tuple."""
    if forwarded == checked:
        return original
    if isinstance(original, tuple) and isinstance(forwarded, list) and len(forwarded) == len(original):
        return tuple(restore(o, c, f) for o, c, f in zip(original, checked, forwarded))
    if isinstance(original, list) and isinstance(forwarded, list) and len(forwarded) == len(original):
        return [restore(o, c, f) for o, c, f in zip(original, checked, forwarded)]
    if isinstance(original, Mapping) and isinstance(forwarded, dict) and isinstance(checked, dict):
        return {k: restore(original[k], checked[k], v) if k in original and k in checked else v
                for k, v in forwarded.items()}
    return forwarded


def parsed(text: str) -> Any:
    """A result text as the rules should read it: a JSON object, array or
    string parsed, anything else the string itself (the same object). Bare
    JSON numbers stay text: every string of a result is scanned, and digits
    read as a number would not be."""
    head = text.lstrip()[:1]
    if head in ("{", "[", '"'):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def canonical(value: Any) -> Any:
    """A returned result as it will look once an agent serialises it into a
    message and :func:`content_value` reads it back."""
    return parsed(value) if isinstance(value, str) else value


def content_value(slot: ResultSlot) -> Any:
    """The value to check for a result in the messages: its one text, or the
    list of its text parts, each :func:`parsed`."""
    values = [parsed(t.text) for t in slot.texts]
    return values[0] if len(values) == 1 else values


def rewritten(slot: ResultSlot, checked: Any, forwarded: Any) -> dict[Path, str]:
    """The texts of ``slot`` to replace so it holds ``forwarded``: the parts
    that changed, a string as it is, a JSON value re-encoded."""
    if len(slot.texts) == 1:
        checked, forwarded = [checked], [forwarded]
    if not isinstance(forwarded, list) or len(forwarded) != len(slot.texts):
        raise TypeError(f"the checker returned a result of another shape for the result of {slot.tool!r}")
    out: dict[Path, str] = {}
    for text, before, after in zip(slot.texts, checked, forwarded):
        if after == before:
            continue
        was_json = parsed(text.text) is not text.text
        if not was_json and not isinstance(after, str):
            raise TypeError(f"the checker returned a result of another shape for the result of {slot.tool!r}")
        out[text.path] = json.dumps(after, ensure_ascii=False) if was_json else after
    return out


def withheld_notice(d: Decision) -> str:
    """What a model reads in place of a result the policy did not let through."""
    deciding = [v.rule for v in d.violations if v.effect == d.outcome.value] or [v.rule for v in d.violations]
    what = "escalated for review" if d.outcome is Outcome.ESCALATE else "withheld by policy"
    return f"[tool result {what}: {', '.join(deciding) or d.outcome.value}]"


def refused_notice(d: Decision, what: str) -> str:
    """What a model reads in place of a tool call's result when the call was
    not let through and so never ran (``what``: "tool call 'NAME'")."""
    deciding = [v.rule for v in d.violations if v.effect == d.outcome.value] or d.rule_ids
    verb = "escalated for review" if d.outcome is Outcome.ESCALATE else "denied by policy"
    return f"[{what} {verb}: {', '.join(deciding) or d.outcome.value}]"


__all__ = ["canonical", "content_value", "json_value", "parsed", "refused_notice", "restore", "rewritten",
           "withheld_notice"]
