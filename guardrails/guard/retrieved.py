"""The retrieved chunks a ``@guard``-ed call is given: read from its
argument, checked with the retrieval rules, written back as the function's
own shapes, and passed on as the sources its answer is checked against.

A chunk is a string, or a dict with a string ``text`` (and optionally
``id`` and ``metadata``; other keys are kept as they are). The retrieval
check keeps a chunk that is allowed or redacted (with the redacted text) and
drops one that is denied or escalated: a chunk cannot wait for a review
while the call goes on. The answer's sources are the kept chunks; a chunk's
id is its ``id`` key, else its metadata's ``id``, else its position among
the kept chunks counted from 1, which is what the function sees and so what
a citation such as ``[2]`` in its answer names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardrails.decision import Decision, Outcome

_KEPT = (Outcome.ALLOW, Outcome.REDACT)


def read_chunks(value: Any, where: str) -> list[str | dict]:
    """The chunks of an argument, or ``TypeError`` naming what is wrong."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple)):
        raise TypeError(f"guard: {where} must be a list of retrieved chunks (strings or dicts with 'text'), "
                        f"not {type(value).__name__}")
    for i, ch in enumerate(value):
        if isinstance(ch, str):
            continue
        if not isinstance(ch, Mapping) or not isinstance(ch.get("text"), str):
            raise TypeError(f"guard: {where}[{i}] must be a string or a dict with a string 'text', "
                            f"not {type(ch).__name__}")
        meta = ch.get("metadata")
        if meta is not None and not isinstance(meta, Mapping):
            raise TypeError(f"guard: {where}[{i}]['metadata'] must be a dict, not {type(meta).__name__}")
    return list(value)


def retrieval_request(chunks: list[str | dict]) -> list[dict]:
    """What the retrieval stage reads: ``{"text", "metadata"}`` per chunk."""
    out = []
    for ch in chunks:
        if isinstance(ch, str):
            out.append({"text": ch, "metadata": {}})
        else:
            meta = dict(ch.get("metadata") or {})
            if "id" in ch and "id" not in meta:
                meta["id"] = ch["id"]
            out.append({"text": ch["text"], "metadata": meta})
    return out


def kept_chunks(chunks: list[str | dict], d: Decision) -> list[str | dict]:
    """The chunks the retrieval decision lets through, in their own shapes,
    with redacted texts. A decision without per-chunk results (a failed
    check that fails open) keeps them all; one that fails closed keeps none."""
    if d.chunks is None:
        return list(chunks) if d.outcome in _KEPT else []
    out: list[str | dict] = []
    for c in d.chunks:
        if c.outcome not in _KEPT or c.text is None or not 0 <= c.index < len(chunks):
            continue
        ch = chunks[c.index]
        out.append(c.text if isinstance(ch, str) else {**ch, "text": c.text})
    return out


def as_sources(chunks: list[str | dict]) -> list[dict]:
    """The answer's sources (module docstring: the ids)."""
    out = []
    for i, ch in enumerate(chunks):
        if isinstance(ch, str):
            out.append({"id": str(i + 1), "text": ch})
            continue
        meta = dict(ch.get("metadata") or {})
        sid = ch.get("id", meta.get("id"))
        if isinstance(sid, bool) or not isinstance(sid, (str, int)) or not str(sid).strip():
            sid = i + 1
        out.append({"id": str(sid), "text": ch["text"], "metadata": meta})
    return out


__all__ = ["as_sources", "kept_chunks", "read_chunks", "retrieval_request"]
