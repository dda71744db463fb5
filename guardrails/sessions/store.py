"""The session store's contract, and :func:`open_store`, which picks one from a URL.

The engine calls a store twice per stateful decision: :meth:`SessionStore.load`
before the rules run, :meth:`SessionStore.commit` after. Both take ``now``,
the request's time in unix seconds, from the engine; stores never read their
own clock for counting, so tests give timestamps instead of sleeping.

**Counting: an exact sliding window log.** Every slot taken is kept with its
time ``t``. At time ``now`` a slot counts while ``now - window < t``
(compared as floats, ``now - window`` computed once), so a slot taken at
``t`` still counts at ``t + window - ε`` and no longer at ``t + window``.
Nothing is approximated: no buckets, no decay. A slot stamped later than
``now`` counts too: concurrent requests carry slightly different times (two
replicas, two threads), and one that commits late with an earlier ``now``
must still see the slots the others took, or together they would pass
``max``. The memory this takes is at most ``max`` times per limit key,
because a slot is only taken while fewer than ``max`` count.

**Commit is all or none.** When every limit in ``takes`` has room
(count < max), one slot is taken in each and ``step`` is appended. When any is
full, no slot is taken in any (a denied request uses no quota), ``denied`` is
appended instead if given, and the keys of the full limits are returned. Each
key counts once per commit, however often it appears in ``takes``.
"""

from __future__ import annotations

import re
from typing import Protocol, runtime_checkable
from collections.abc import Sequence

from guardrails.sessions.memory import MemoryStore
from guardrails.sessions.steps import (DEFAULT_MAX_SESSIONS, DEFAULT_MAX_STEPS, DEFAULT_SESSION_TTL, LimitKey,
                                       Snapshot, Step)

__all__ = ["URL_FORMS", "SessionStore", "open_store"]

#: What open_store accepts, for messages and docs.
URL_FORMS = "'memory' (the default), redis://HOST:PORT/DB, rediss://HOST:PORT/DB or unix:///PATH/TO/redis.sock"


@runtime_checkable
class SessionStore(Protocol):
    """Where sessions and rate-limit counters live. Raises StoreError when it cannot answer."""

    def load(self, session: str | None, limits: Sequence[LimitKey], now: float, *,
             cached: bool = False) -> Snapshot:
        """The session's steps (oldest first; none for session None) and each limit's count at ``now``:
        the slots taken with ``t > now - window``. ``cached=True`` lets a shared store answer
        from what it last read and wrote itself (no round trip); its answer may then miss
        other replicas' writes, which the commit given ``version`` detects."""
        ...

    def commit(self, session: str | None, step: Step | None, takes: Sequence[LimitKey], now: float,
               denied: Step | None = None, *, version: int | None = None) -> tuple[str, ...]:
        """Atomically: if every take's window has room, take one slot in each and append
        ``step``; otherwise take nothing, append ``denied`` when given, and return the keys
        of the full limits. Returns () on success. Session None: no step is appended.
        With ``version`` (a Snapshot's), raise StaleSession and write nothing when the
        session changed since that snapshot."""
        ...

    def close(self) -> None:
        """Let go of connections and memory; the store is not used afterwards."""
        ...


def open_store(url: str | None, *, max_sessions: int = DEFAULT_MAX_SESSIONS,
               session_ttl: float = DEFAULT_SESSION_TTL, max_steps: int = DEFAULT_MAX_STEPS,
               prefix: str = "guardrails:", timeout: float = 0.5) -> SessionStore:
    """The store a ``--state`` URL names.

    ``None`` or ``"memory"``: a :class:`~guardrails.sessions.memory.MemoryStore`.
    ``redis://``, ``rediss://`` or ``unix://``: a
    :class:`~guardrails.sessions.redis_store.RedisStore` (``prefix`` and
    ``timeout`` apply to it; ``max_sessions`` does not, Redis forgets sessions
    by their TTL). Anything else is a ValueError naming the accepted forms.
    Opening connects nowhere: an unreachable Redis shows in the first call.
    """
    if url is None or url.strip() == "memory":
        return MemoryStore(max_sessions=max_sessions, session_ttl=session_ttl, max_steps=max_steps)
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme in ("redis", "rediss", "unix"):
        from guardrails.sessions.redis_store import RedisStore

        return RedisStore(url, session_ttl=session_ttl, max_steps=max_steps, prefix=prefix, timeout=timeout)
    shown = re.sub(r"//[^/@]*@", "//***@", url)  # never echo a password
    raise ValueError(f"session store URL {shown!r} is not one of {URL_FORMS}")
