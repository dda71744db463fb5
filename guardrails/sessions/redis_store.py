"""RedisStore: sessions and limits in one Redis, shared by every replica.

Keys (``prefix`` defaults to ``guardrails:``; every name after it is a digest
the engine computed, never an id or a value):

- ``{prefix}s:{session}``: a list of :meth:`Step.to_json` texts, oldest first,
  trimmed to ``max_steps`` and expiring ``session_ttl`` after its last write;
- ``{prefix}l:{key}``: a sorted set, one member per slot taken, scored by the
  ``now`` it was taken at; it expires one window after its last take.

**One round trip per call, one per decision once warm.** :meth:`RedisStore.load`
is one pipeline (``LRANGE`` and ``GET`` of the session's version, and per
limit its slots, or only their count for limits of more than
:data:`CACHED_SLOTS`). :meth:`RedisStore.commit` is one Lua script, run by
``EVALSHA``, so checking every limit, taking all or none and appending the
step happen atomically on the server, whatever the number of replicas. After
a Redis restart the script cache is empty; the first commit then gets
``NOSCRIPT`` and sends the script once with ``EVAL`` (a second round trip,
counted). ``round_trips`` counts every request sent.

The store remembers what it last read and wrote (bounded: ``cache_entries``
sessions and limit keys, least recently used first out). ``load(...,
cached=True)`` answers from that memory with no round trip when it holds the
session and every limit asked; the engine then commits with the session's
``version`` (a counter of steps ever appended, kept beside the list). If
another replica appended a step since, the script writes nothing and the
store raises :class:`StaleSession`; the engine reads again and decides
again. Cached limit counts can only be low (they miss other replicas'
slots), never high, and the script's own check of every take keeps limits
exact: a request that found room in the cache but not on the server is
turned into its rule's deny. So a replica that keeps serving the same
sessions and principals makes one round trip per decision.

**Failures.** Connect and read time-outs default to 0.5 s. Every Redis error
becomes :class:`StoreError` naming ``redis at host:port/db`` and the reason.
The client never retries by itself (a retried commit could take a slot
twice); the next call reconnects, so a store outlives a Redis restart. A
commit that timed out may still run on the server afterwards: its decision
fails closed, and the slot it took stays taken (over-counting, never under).

Each stored step text is parsed once and kept (up to
:data:`PARSED_CACHE_BYTES` of text), since a session's steps come back on
every load: 256 steps load in about 0.5 ms instead of 4 ms.

Times are scores written from ``now`` as Python's shortest exact ``repr``, so
the server compares the same floats the engine computed. Session and limit
expiry (``PEXPIRE``) run on the server's clock: they only free memory, and
the counting itself never depends on them. Redis Cluster is not supported
(one script touches keys of several slots).
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_right, insort
from collections import OrderedDict
import os
import threading
from typing import Any
from collections.abc import Sequence

from guardrails.sessions.steps import DEFAULT_MAX_STEPS, DEFAULT_SESSION_TTL, LimitKey, Snapshot, StaleSession, Step, \
    StoreError, distinct

__all__ = ["COMMIT_SCRIPT", "RedisStore"]

# KEYS: [session list, session version] if ARGV[7] == '1', then one sorted set per limit.
# ARGV: now, member, step, denied, max_steps, session ttl (ms), has session,
#       the version the caller read ('' for none), then per limit: max, now - window, window (ms).
# Returns {status, version, full...}: status 0 = written, 1 = some limits full
# (`denied` written, nothing taken; their 0-based positions follow), 2 = the
# session's version is not the one read (nothing written).
COMMIT_SCRIPT = """
local has = ARGV[7] == '1'
local first = has and 3 or 1
if has and ARGV[8] ~= '' then
  local v = tonumber(redis.call('GET', KEYS[2]) or '0')
  if v ~= tonumber(ARGV[8]) then
    return {2, v}
  end
end
local n = #KEYS - first + 1
local full = {}
for i = 0, n - 1 do
  local key, a = KEYS[first + i], 9 + 3 * i
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[a + 1])
  if redis.call('ZCARD', key) >= tonumber(ARGV[a]) then
    full[#full + 1] = i
  end
end
local record = ARGV[3]
if #full > 0 then
  record = ARGV[4]
else
  for i = 0, n - 1 do
    local key, a = KEYS[first + i], 9 + 3 * i
    redis.call('ZADD', key, ARGV[1], ARGV[2])
    redis.call('PEXPIRE', key, ARGV[a + 2])
  end
end
local v = 0
if has then
  if record ~= '' then
    redis.call('RPUSH', KEYS[1], record)
    redis.call('LTRIM', KEYS[1], -tonumber(ARGV[5]), -1)
    redis.call('PEXPIRE', KEYS[1], ARGV[6])
    v = redis.call('INCR', KEYS[2])
    redis.call('PEXPIRE', KEYS[2], ARGV[6])
  else
    v = tonumber(redis.call('GET', KEYS[2]) or '0')
  end
end
local out = {(#full > 0) and 1 or 0, v}
for _, i in ipairs(full) do
  out[#out + 1] = i
end
return out
"""
_SHA = hashlib.sha1(COMMIT_SCRIPT.encode()).hexdigest()

#: Limits of at most this many slots are read slot by slot, so that
#: load(cached=True) can count them; bigger ones are only counted.
CACHED_SLOTS = 1024

#: Stored step texts whose parsed Step is kept, in bytes of text (oldest dropped first).
PARSED_CACHE_BYTES = 8 << 20


def _ms(seconds: float) -> str:
    return str(max(1, math.ceil(seconds * 1000)))


class RedisStore:
    """The shared :class:`~guardrails.sessions.store.SessionStore` (see the module docstring)."""

    def __init__(self, url: str, *, session_ttl: float = DEFAULT_SESSION_TTL, max_steps: int = DEFAULT_MAX_STEPS,
                 prefix: str = "guardrails:", timeout: float = 0.5, connect_timeout: float | None = None,
                 cache_entries: int = 10_000) -> None:
        import redis  # only here: `import guardrails` must not need the package
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        if max_steps < 1 or not session_ttl > 0 or not timeout > 0:
            raise ValueError(f"RedisStore: max_steps ({max_steps}) must be >= 1, session_ttl ({session_ttl}) "
                             f"and timeout ({timeout}) > 0")
        self.session_ttl = float(session_ttl)
        self.max_steps = max_steps
        self.prefix = prefix
        self.timeout = timeout
        self._errors = redis.RedisError
        self._timeout_error = redis.TimeoutError
        self._noscript = redis.exceptions.NoScriptError
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=connect_timeout or timeout,
            retry=Retry(NoBackoff(), 0), retry_on_timeout=False, health_check_interval=0)
        kw = self._client.connection_pool.connection_kwargs
        self._password = kw.get("password")
        place = f"unix:{kw['path']}" if kw.get("path") else f"{kw.get('host', 'localhost')}:{kw.get('port', 6379)}"
        self.where = f"redis at {place}/{kw.get('db', 0)}"
        self._ttl_ms = _ms(self.session_ttl)
        self._trips_lock = threading.Lock()
        self.round_trips = 0
        # What this store last read or wrote, for load(cached=True): session
        # -> (version, steps), limit key -> its slot times, sorted.
        self.cache_entries = cache_entries
        self._cache_lock = threading.Lock()
        self._sessions: OrderedDict[str, tuple[int | None, tuple[Step, ...]]] = OrderedDict()
        self._slots: OrderedDict[str, list[float]] = OrderedDict()
        self.cache_hits = 0
        self._parsed: dict[bytes, Step] = {}  # stored text -> Step, oldest first
        self._parsed_bytes = 0
        self._parsed_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RedisStore({self.where}, prefix={self.prefix!r}, round_trips={self.round_trips})"

    def load(self, session: str | None, limits: Sequence[LimitKey], now: float, *,
             cached: bool = False) -> Snapshot:
        limits = distinct(limits)
        if session is None and not limits:
            return Snapshot((), {})
        if cached:
            snap = self._cached(session, limits, now)
            if snap is not None:
                return snap
        pipe = self._client.pipeline(transaction=False)
        if session is not None:
            pipe.lrange(self.prefix + "s:" + session, 0, -1)
            pipe.get(self.prefix + "v:" + session)
        for lk in limits:
            key, since = self.prefix + "l:" + lk.key, "(" + repr(now - lk.window)
            if lk.max <= CACHED_SLOTS:
                pipe.zrangebyscore(key, since, "+inf", withscores=True)
            else:
                pipe.zcount(key, since, "+inf")
        replies = self._call(pipe.execute)
        version = None
        steps: tuple[Step, ...] = ()
        if session is not None:
            try:
                steps = self._steps(replies[0])
                version = int(replies[1] or 0)
            except ValueError as e:
                raise StoreError(f"{self.where}: session {session[:12]}...: {e}") from None
        counts: dict[str, int] = {}
        slots: dict[str, list[float]] = {}
        for lk, reply in zip(limits, replies[len(replies) - len(limits):]):
            if isinstance(reply, list):
                slots[lk.key] = sorted(float(score) for _member, score in reply)
                counts[lk.key] = len(reply)
            else:
                counts[lk.key] = int(reply)
        with self._cache_lock:
            if session is not None:
                self._remember(self._sessions, session, (version, steps))
            for key, times in slots.items():
                self._remember(self._slots, key, times)
        return Snapshot(steps, counts, version)

    def commit(self, session: str | None, step: Step | None, takes: Sequence[LimitKey], now: float,
               denied: Step | None = None, *, version: int | None = None) -> tuple[str, ...]:
        takes = distinct(takes)
        if (session is None or (step is None and denied is None)) and not takes:
            return ()
        keys = [self.prefix + "s:" + session, self.prefix + "v:" + session] if session is not None else []
        keys += [self.prefix + "l:" + lk.key for lk in takes]
        args: list[Any] = [repr(float(now)), os.urandom(12).hex(), step.to_json() if step else "",
                           denied.to_json() if denied else "", self.max_steps, self._ttl_ms,
                           "1" if session is not None else "0", "" if version is None else str(version)]
        for lk in takes:
            args += [lk.max, repr(now - lk.window), _ms(lk.window)]
        try:
            reply = self._call(self._client.evalsha, _SHA, len(keys), *keys, *args)
        except _NoScript:
            reply = self._call(self._client.eval, COMMIT_SCRIPT, len(keys), *keys, *args)
        status, new_version, full = int(reply[0]), int(reply[1]), [takes[int(i)] for i in reply[2:]]
        with self._cache_lock:
            if status == 2:
                self._sessions.pop(session, None)
                raise StaleSession(f"session changed since version {version} (now {new_version})")
            record = denied if full else step
            if session is not None and record is not None:
                seen = self._sessions.pop(session, None)
                if seen is not None and version is not None and seen[0] == version == new_version - 1:
                    self._remember(self._sessions, session, (new_version, (*seen[1], record)[-self.max_steps:]))
            for lk in takes:
                times = self._slots.pop(lk.key, None)
                if times is not None and not full:
                    insort(times, float(now))
                    self._remember(self._slots, lk.key, times[bisect_right(times, now - lk.window):])
        return tuple(lk.key for lk in full)

    def _cached(self, session: str | None, limits: tuple[LimitKey, ...], now: float) -> Snapshot | None:
        """The snapshot from what this store last read and wrote, if it holds all of it."""
        with self._cache_lock:
            seen = self._sessions.get(session) if session is not None else (None, ())
            if seen is None or any(lk.key not in self._slots for lk in limits):
                return None
            counts = {lk.key: len(self._slots[lk.key]) - bisect_right(self._slots[lk.key], now - lk.window)
                      for lk in limits}
            self.cache_hits += 1
            return Snapshot(seen[1], counts, seen[0])

    def _remember(self, table: OrderedDict, key: str, value: Any) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > self.cache_entries:
            table.popitem(last=False)

    def close(self) -> None:
        try:
            self._client.close()
        except self._errors:
            pass

    def _steps(self, raw: list[bytes]) -> tuple[Step, ...]:
        """Parse stored steps, each text once: a session's steps come back on every load."""
        parsed = self._parsed
        out = []
        for r in raw:
            step = parsed.get(r)
            if step is None:
                step = Step.from_json(r)
                with self._parsed_lock:
                    parsed[r] = step
                    self._parsed_bytes += len(r)
                    while self._parsed_bytes > PARSED_CACHE_BYTES:
                        self._parsed_bytes -= len(old := next(iter(parsed)))
                        del parsed[old]
            out.append(step)
        return tuple(out)

    def _call(self, fn, *args):
        """One request to Redis; every Redis error becomes StoreError (NOSCRIPT excepted)."""
        with self._trips_lock:
            self.round_trips += 1
        try:
            return fn(*args)
        except self._noscript:
            raise _NoScript() from None
        except self._timeout_error:
            raise StoreError(f"{self.where}: no answer within {self.timeout} s") from None
        except self._errors as e:
            raise StoreError(f"{self.where}: {self._reason(e)}") from None

    def _reason(self, e: Exception) -> str:
        text = str(e) or type(e).__name__
        if self._password:
            text = text.replace(str(self._password), "***")
        kind = type(e).__name__
        return f"unreachable ({text})" if kind == "ConnectionError" else f"{kind}: {text}"


class _NoScript(Exception):
    """The server has not seen the commit script (it restarted or was flushed)."""
