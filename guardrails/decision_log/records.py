"""Building a decision record: the request masked except where ``log_keep`` and the decision allow."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any, Iterable, Mapping

from guardrails.decision_log.chain import canonical, timestamp
from guardrails.decision_log.keep import element_tree, keep_tree
from guardrails.values import MAX_DEPTH, MAX_INT, kind_of, string_leaves

MASK_KEY = "$masked"


def is_masked(value: Any) -> bool:
    return isinstance(value, dict) and MASK_KEY in value


_HIDDEN = object()  # stands for a value the log may not show even where its path is kept


def value_hmac(value: Any, key: bytes) -> str:
    """The ``hmac`` a masked marker of ``value`` carries under ``key``: equal
    values give equal markers, so whoever holds the key can find a value's
    records (``guardrails log show --session``) and nobody else can."""
    try:
        data = json.dumps(value, sort_keys=True, default=repr, ensure_ascii=False).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError):
        try:
            data = repr(value).encode("utf-8", "surrogatepass")
        except ValueError:  # an int Python will not print in decimal (over 4,300 digits)
            data = _hex_ints(value).encode("utf-8", "surrogatepass")
    return hmac.new(key, b"guardrails-log\x00" + data, hashlib.sha256).hexdigest()[:32]


def _hex_ints(value: Any) -> str:
    """repr() with every int in hex, which has no digit limit."""
    if isinstance(value, int) and not isinstance(value, bool):
        return hex(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_hex_ints(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_hex_ints(v) for v in value) + "]"
    return repr(value)


def _mask(value: Any, key: bytes | None) -> dict:
    marker: dict[str, Any] = {MASK_KEY: kind_of(value)}
    if isinstance(value, (str, list, tuple, dict)):
        marker["len"] = len(value)
    if key is not None:
        marker["hmac"] = value_hmac(value, key)
    return marker


def _hide_strings(value: Any) -> Any:
    if isinstance(value, str):
        return _HIDDEN
    if isinstance(value, dict):
        return {k: _hide_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_hide_strings(v) for v in value]
    return value


def _view(stage: str, request: Mapping[str, Any], decision: Any) -> dict:
    """The request as the log may show it: forwarded values wherever the engine redacts."""
    view = dict(request)
    if stage in ("input", "output"):
        view["text"] = decision.text if isinstance(decision.text, str) else _HIDDEN
    elif stage == "retrieval":
        chunks = request.get("chunks")
        forwarded = {c.index: c.text for c in decision.chunks or ()}
        if isinstance(chunks, list):
            out = []
            for i, ch in enumerate(chunks):
                text = forwarded.get(i)
                shown = text if isinstance(text, str) else _HIDDEN
                if isinstance(ch, dict):
                    out.append({**ch, "text": shown})
                else:
                    out.append(shown)
            view["chunks"] = out
        else:
            view["chunks"] = _HIDDEN
    elif stage == "tool_call":
        # Forwarded args are the redacted copy; on a deny nothing was redacted,
        # so only the non-string values (which no detector reads) may show.
        view["args"] = decision.text if isinstance(decision.text, dict) else _hide_strings(request.get("args"))
    elif stage == "tool_result":
        # The result is content, like args: its forwarded (redacted) form, and
        # on a deny (nothing forwarded) no string of it.
        result = request.get("result")
        view["result"] = _hide_strings(result) if decision.text is None else decision.text
    return view


def _leaf(value: Any, key: bytes | None) -> Any:
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        # One the engine refused (values.MAX_INT) would not serialise at all.
        return value if -MAX_INT < value < MAX_INT else _mask(value, key)
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else _mask(value, key)
    return _mask(value, key)  # not JSON: never stringified into the log


def _project(raw: Any, view: Any, tree: Any, key: bytes | None) -> Any:
    if raw is None:
        return None  # absence reveals nothing and keeps the request replayable
    if view is _HIDDEN or not tree:
        return _mask(raw, key)
    if isinstance(raw, dict) and isinstance(view, dict):
        return {
            str(k): _project(v, view.get(k, _HIDDEN), True if tree is True else tree.get(k), key)
            for k, v in raw.items()
        }
    if isinstance(raw, (list, tuple)) and isinstance(view, (list, tuple)) and len(raw) == len(view):
        return [
            _project(r, v, True if tree is True else element_tree(tree, i), key)
            for i, (r, v) in enumerate(zip(raw, view))
        ]
    if tree is True:
        return _leaf(view, key)
    return _mask(raw, key)  # the policy keeps a field inside a value that has none


_CHUNK_FIELD = re.compile(r"chunks\[(\d+)\]\Z")


def _detected_values(decision: Any, request: Mapping[str, Any]) -> set[str] | None:
    """The original text of every span, from the raw request; None if a span cannot be placed."""
    values: set[str] = set()
    strings: dict[str, dict[str, str]] = {}  # "args" / "result": each string leaf by its path
    for v in decision.violations:
        for s in v.spans:
            source: Any = None
            root = s.field.partition(".")[0].partition("[")[0] if s.field is not None else None
            if s.field is None:
                source = request.get("text")
            elif (m := _CHUNK_FIELD.match(s.field)) is not None:
                chunks = request.get("chunks")
                i = int(m.group(1))
                if isinstance(chunks, list) and i < len(chunks):
                    ch = chunks[i]
                    source = ch.get("text") if isinstance(ch, dict) else ch
            elif root in ("args", "result"):
                if root not in strings:
                    leaves: list = []
                    string_leaves(request.get(root), root, leaves, [])
                    strings[root] = {path: text for path, _, text in leaves}
                source = strings[root].get(s.field)
            if not isinstance(source, str):
                return None
            value = source[s.start:s.end]
            if value.strip():
                values.add(value)
    return values


def _contains(serialized: str, values: Iterable[str]) -> bool:
    for v in values:
        if v in serialized or json.dumps(v, ensure_ascii=True)[1:-1] in serialized:
            return True
    return False


def _scrub_leaves(value: Any, values: set[str], key: bytes | None) -> Any:
    """Mask every kept string (or object whose keys) holding a detected value."""
    if isinstance(value, str):
        return _mask(value, key) if any(v in value for v in values) else value
    if isinstance(value, dict):
        if is_masked(value):
            return value
        if any(v in k for k in value for v in values):
            return _mask(value, key)
        return {k: _scrub_leaves(v, values, key) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_leaves(v, values, key) for v in value]
    return value


def _mask_request(raw: dict, decision: Any, keep: tuple[str, ...], key: bytes | None,
                  values: set[str] | None) -> tuple[Any, bool]:
    """The request as the log stores it, and whether the belt-and-braces check fired."""
    view, tree = _view(decision.stage, raw, decision), keep_tree(keep)
    # The top level is the engine's own shape (text, args, ...): always shown.
    masked = {str(k): _project(v, view.get(k, _HIDDEN), tree.get(k), key) for k, v in raw.items()}
    if values is None:  # a span we cannot place: we cannot prove the kept fields clean
        return _mask(raw, key), True
    if not values:
        return masked, False
    cleaned = _scrub_leaves(masked, values, key)
    if _contains(canonical(cleaned).decode("ascii"), values):
        return _mask(raw, key), True
    return cleaned, cleaned != masked


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and maps nest in `value` more than `limit` levels, found
    without recursion."""
    stack = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict):
            children = v.values()
        elif isinstance(v, (list, tuple)):
            children = v
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list, tuple)))
    return False


def build_record(decision: Any, request: Mapping[str, Any], keep: Iterable[str] = (),
                 key: bytes | None = None) -> dict:
    """A decision record without its chain fields (``seq``, ``prev``, ``hash``)."""
    keep = tuple(keep)
    raw = dict(request) if isinstance(request, Mapping) else {}
    # A field nested deeper than a request may be (the engine refused it) is
    # logged as its kind only: walking it would exhaust the stack, and the
    # attempt must still be on record.
    too_deep = {k: v for k, v in raw.items() if _deeper_than(v, MAX_DEPTH + 1)}
    for k in too_deep:
        raw[k] = None
    values = _detected_values(decision, raw)
    req, scrubbed = _mask_request(raw, decision, keep, key, values)
    for k, v in too_deep.items():
        req[k] = {MASK_KEY: kind_of(v), "len": len(v), "deeper_than": MAX_DEPTH}
    spans = []
    for v in decision.violations:
        for s in v.spans:
            span = {"rule": v.rule, "entity": s.entity, "start": s.start, "end": s.end}
            if s.field is not None:
                span["field"] = s.field
            spans.append(span)
    if values and _contains(canonical(spans).decode("ascii"), values):
        # An argument *name* held a detected value; keep the offsets, drop the names.
        spans = [{k: v for k, v in s.items() if k != "field"} for s in spans]
        scrubbed = True
    rules: list[str] = []
    for v in decision.violations:
        if v.rule not in rules:
            rules.append(v.rule)
    record: dict[str, Any] = {
        "type": "decision",
        "decision_id": decision.decision_id,
        "timestamp": timestamp(),
        "stage": decision.stage,
        "policy": {"name": decision.policy.name, "version": decision.policy.version,
                   "digest": decision.policy.digest},
        "outcome": decision.outcome.value,
        "rules": rules,
        "route": decision.route,
        "spans": spans,
        "errors": [{"rule": e.rule, "code": e.code} for e in decision.errors],
        "elapsed_us": decision.elapsed_us,
        "keep": list(keep),
        "request": req,
    }
    if decision.chunks is not None:
        record["chunks"] = [c.outcome.value for c in decision.chunks]
    labels = getattr(decision, "labels", None)
    if labels:  # label names are the policy's vocabulary, not request content
        record["labels"] = list(labels)
    if scrubbed:
        record["scrubbed"] = True
    return record
