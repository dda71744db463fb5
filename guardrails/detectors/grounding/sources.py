"""The sources an answer is checked against: what a request may carry, read
into :class:`Source` values, and a session's retrieved chunks kept for the
output check that follows them.

A request's ``sources`` is a list whose items are a string (the text) or an
object ``{"text", "id", "metadata"}``; ``id`` defaults to the item's
position, counted from 1, which is what a citation ``[2]`` names. The
retrieval stage's chunks (``{"text", "metadata"}``) are accepted as they
are, so the chunks a retrieval check forwarded can be passed on unchanged.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from guardrails.values import MAX_CHUNKS, MAX_DEPTH, is_json_like


@dataclass(frozen=True, slots=True)
class Source:
    """One passage an answer may rest on."""

    id: str
    text: str
    metadata: dict = field(default_factory=dict, compare=False, hash=False)

    def to_json(self) -> dict:
        return {"id": self.id, "text": self.text, "metadata": self.metadata}


#: The sources of the output request being decided, set by the engine around
#: one evaluation (a context variable: each thread and each asyncio task sees
#: its own), read by the grounding builtins. None: the request carries none.
REQUEST_SOURCES: ContextVar[tuple[Source, ...] | None] = ContextVar("guardrails_request_sources", default=None)


def read_sources(value: Any, where: str = "sources") -> tuple[tuple[Source, ...] | None, str | None]:
    """``(sources, None)``, or ``(None, why)`` when `value` is malformed.
    None stays None: the request carries no sources."""
    if value is None:
        return None, None
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        return None, f"{where} must be a list of chunks (strings or {{text, id, metadata}} objects)"
    if len(value) > MAX_CHUNKS:
        return None, f"{len(value)} sources is more than the {MAX_CHUNKS} one request may carry"
    out: list[Source] = []
    seen: set[str] = set()
    for i, item in enumerate(value):
        if isinstance(item, Source):
            src = item
        elif isinstance(item, str):
            src = Source(str(i + 1), item)
        elif isinstance(item, dict):
            text = item.get("text")
            if not isinstance(text, str):
                return None, f"{where}[{i}] needs a string 'text'"
            sid = item.get("id", i + 1)
            if isinstance(sid, bool) or not isinstance(sid, (str, int)) or not str(sid).strip():
                return None, f"{where}[{i}].id must be a non-empty string or a whole number"
            meta = item.get("metadata") or {}
            if not (isinstance(meta, dict) and is_json_like(meta)):
                return None, (f"{where}[{i}].metadata must be a JSON object (string keys, JSON values, "
                              f"at most {MAX_DEPTH} levels deep)")
            src = Source(str(sid).strip(), text, meta)
        else:
            return None, f"{where}[{i}] is a {type(item).__name__}; a source is a string or an object with 'text'"
        if src.id in seen:
            return None, f"{where}[{i}] repeats the id {src.id!r}: a citation must name one source"
        seen.add(src.id)
        out.append(src)
    return tuple(out), None


class SessionSources:
    """The chunks each session's retrieval checks forwarded, newest last, for
    an output check of the same session that carries no sources of its own.

    In this process only, and bounded: at most `max_sessions` sessions (the
    least recently used go first) of at most `max_chunks` chunks each. The
    text stays in memory and is never written to the session store, which
    holds no raw text (docs/sessions.md); replicas behind a load balancer do
    not share it, so a sidecar client should pass ``sources`` itself.
    """

    def __init__(self, max_sessions: int = 1024, max_chunks: int = 64) -> None:
        self.max_sessions = max_sessions
        self.max_chunks = max_chunks
        self._by_session: OrderedDict[str, tuple[Source, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, session: str, chunks: list[dict]) -> None:
        with self._lock:
            kept = list(self._by_session.pop(session, ()))
            n = len(kept)
            for ch in chunks:
                n += 1
                meta = ch.get("metadata") or {}
                sid = meta.get("id") if isinstance(meta.get("id"), (str, int)) else n
                kept.append(Source(str(sid), ch["text"], meta))
            self._by_session[session] = _unique(kept[-self.max_chunks:])
            while len(self._by_session) > self.max_sessions:
                self._by_session.popitem(last=False)

    def recall(self, session: str) -> tuple[Source, ...] | None:
        with self._lock:
            got = self._by_session.get(session)
            if got is not None:
                self._by_session.move_to_end(session)
            return got

    def forget(self) -> None:
        with self._lock:
            self._by_session.clear()


def _unique(sources: list[Source]) -> tuple[Source, ...]:
    """Later chunks with an id already kept get a suffix, so ids stay unique."""
    seen: set[str] = set()
    out = []
    for s in sources:
        sid, k = s.id, 1
        while sid in seen:
            k += 1
            sid = f"{s.id}#{k}"
        seen.add(sid)
        out.append(s if sid == s.id else Source(sid, s.text, s.metadata))
    return tuple(out)
