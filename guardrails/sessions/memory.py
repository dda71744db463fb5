"""MemoryStore: the default session store, in this process, bounded, thread-safe.

For one process (the library, one sidecar). Several replicas that must share
sessions and limits use :class:`~guardrails.sessions.redis_store.RedisStore`.

Bounds (defaults in :mod:`guardrails.sessions.steps`):

- at most ``max_sessions`` sessions (10,000); loading or writing a session
  makes it the most recently used, and the least recently used one goes first;
- a session is forgotten ``session_ttl`` seconds (3,600) after its last step,
  measured on the ``now`` the engine passes, not on this machine's clock;
- at most ``max_steps`` steps per session (256), the oldest dropped;
- a limit's log keeps only slots that can still count, so its length stays at
  most its ``max``; a log with no live slot is dropped.

Counting is the exact sliding window log of :mod:`guardrails.sessions.store`:
a slot taken at ``t`` counts at ``now`` while ``now - window < t``.

One lock guards everything; what runs under it is dictionary work and, at
most, one tuple copy of a session's steps. Loading hands out the session's
immutable step tuple, so no copy is made on the read path.
"""

from __future__ import annotations

import threading
from bisect import bisect_right, insort
from collections import OrderedDict
from collections.abc import Sequence

from guardrails.sessions.steps import (DEFAULT_MAX_SESSIONS, DEFAULT_MAX_STEPS, DEFAULT_SESSION_TTL, LimitKey,
                                       Snapshot, Step, distinct)

__all__ = ["MemoryStore"]


class _Session:
    __slots__ = ("last", "steps")

    def __init__(self) -> None:
        self.steps: tuple[Step, ...] = ()
        self.last = 0.0  # `now` of the last step written


class _Log:
    """One limit's taken slots, sorted by time."""

    __slots__ = ("times", "window")

    def __init__(self, window: float) -> None:
        self.times: list[float] = []
        self.window = window

    def count(self, now: float, window: float) -> int:
        return len(self.times) - bisect_right(self.times, now - window)


class MemoryStore:
    """The in-process :class:`~guardrails.sessions.store.SessionStore` (see the module docstring)."""

    def __init__(self, *, max_sessions: int = DEFAULT_MAX_SESSIONS, session_ttl: float = DEFAULT_SESSION_TTL,
                 max_steps: int = DEFAULT_MAX_STEPS) -> None:
        if max_sessions < 1 or max_steps < 1 or not session_ttl > 0:
            raise ValueError(f"MemoryStore: max_sessions ({max_sessions}) and max_steps ({max_steps}) must be "
                             f">= 1 and session_ttl ({session_ttl}) > 0")
        self.max_sessions = max_sessions
        self.session_ttl = float(session_ttl)
        self.max_steps = max_steps
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, _Session] = OrderedDict()  # least recently used first
        self._logs: OrderedDict[str, _Log] = OrderedDict()  # least recently taken first

    def __repr__(self) -> str:
        return (f"MemoryStore(sessions={len(self._sessions)}, limits={len(self._logs)}, "
                f"max_sessions={self.max_sessions}, session_ttl={self.session_ttl}, max_steps={self.max_steps})")

    def load(self, session: str | None, limits: Sequence[LimitKey], now: float, *,
             cached: bool = False) -> Snapshot:
        # One process, one lock: every read is current, so `cached` changes nothing
        # and snapshots carry no version.
        limits = distinct(limits)
        counts: dict[str, int] = {}
        steps: tuple[Step, ...] = ()
        with self._lock:
            if session is not None:
                s = self._sessions.get(session)
                if s is not None:
                    if now - s.last >= self.session_ttl:
                        del self._sessions[session]
                    else:
                        steps = s.steps
                        self._sessions.move_to_end(session)
            for lk in limits:
                log = self._logs.get(lk.key)
                counts[lk.key] = 0 if log is None else log.count(now, lk.window)
        return Snapshot(steps, counts)

    def commit(self, session: str | None, step: Step | None, takes: Sequence[LimitKey], now: float,
               denied: Step | None = None, *, version: int | None = None) -> tuple[str, ...]:
        takes = distinct(takes)
        with self._lock:
            full = tuple(lk.key for lk in takes if self._count(lk, now) >= lk.max)
            if full:
                record = denied
            else:
                record = step
                for lk in takes:
                    self._take(lk, now)
            if session is not None and record is not None:
                self._append(session, record, now)
            self._sweep(now)
        return full

    def close(self) -> None:
        with self._lock:
            self._sessions.clear()
            self._logs.clear()

    # -- under the lock
    def _count(self, lk: LimitKey, now: float) -> int:
        log = self._logs.get(lk.key)
        return 0 if log is None else log.count(now, lk.window)

    def _take(self, lk: LimitKey, now: float) -> None:
        log = self._logs.get(lk.key)
        if log is None:
            log = self._logs[lk.key] = _Log(lk.window)
        else:
            self._logs.move_to_end(lk.key)
            log.window = lk.window
            dead = bisect_right(log.times, now - lk.window)
            if dead:
                del log.times[:dead]
        insort(log.times, now)

    def _append(self, session: str, step: Step, now: float) -> None:
        s = self._sessions.get(session)
        if s is None or now - s.last >= self.session_ttl:
            s = self._sessions[session] = _Session()
        steps = s.steps + (step,)
        s.steps = steps[-self.max_steps:] if len(steps) > self.max_steps else steps
        s.last = now
        self._sessions.move_to_end(session)
        if len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)

    def _sweep(self, now: float) -> None:
        """Drop expired sessions and dead logs from the old end; stops at the first live one,
        so the cost is paid once per dropped item."""
        sessions, logs = self._sessions, self._logs
        while sessions:
            key, s = next(iter(sessions.items()))
            if now - s.last < self.session_ttl:
                break
            del sessions[key]
        while logs:
            key, log = next(iter(logs.items()))
            if log.times and log.times[-1] > now - log.window:
                break
            del logs[key]
