"""One check per event and session, however many guards see the event.

With a session, every check leaves a step in the session's history (labels,
fingerprints, limit slots), so checking one event twice changes what later
rules see: a tool call checked by ``@guard`` when the model proposes it and
again by ``@guard_tool`` when it runs would count twice for ``repeats()``
and take two slots of a limit; a tool result the history re-sends on every
turn would be labelled again and again, so ``labelled(x, within=...)``
would never age. :class:`Checked` remembers what was decided, for the
guard to reuse instead of asking again:

* **recall**: a text or result ``@guard`` already checked at the same place
  of the messages (a re-sent history) gets the same decision again;
* **hand over**: an event one decorator let through is taken, once, by the
  other: a tool call ``@guard`` kept, by the ``@guard_tool`` it runs
  through; a result ``@guard_tool`` returned, by ``@guard`` when the agent
  passes it back to the model.

Keys hold the checker and policy, the session, and digests of everything
the rules read (tool, arguments or result, principal, context), so only an
identical request in the same session is answered from memory; a miss just
checks again. A hand-over waits at most :data:`HAND_OVER_TTL` seconds (the
tool runs right after the model proposed it; a late one is checked afresh,
against the history as it is by then). Without a session nothing is
remembered: stateless checks are repeatable. The memory is bounded (least
recently used out).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from typing import Any

from guardrails.decision import Decision

MAX_ENTRIES = 4096
HAND_OVER_TTL = 300.0


def digest(value: Any) -> str:
    """A short stable digest of a JSON-like value (keys sorted)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


class Checked:
    """Decisions already made, by key; thread-safe and bounded."""

    def __init__(self, max_entries: int = MAX_ENTRIES, ttl: float = HAND_OVER_TTL):
        self.max_entries = max_entries
        self.ttl = ttl
        self._seen: OrderedDict[tuple, Any] = OrderedDict()
        self._handed: OrderedDict[tuple, list[tuple[float, Decision]]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, key: tuple, decision: Any) -> None:
        """Keep what was decided for ``key`` (a decision, or a decision and
        what the guard did with it)."""
        with self._lock:
            self._seen[key] = decision
            self._seen.move_to_end(key)
            while len(self._seen) > self.max_entries:
                self._seen.popitem(last=False)

    def recall(self, key: tuple) -> Any:
        with self._lock:
            d = self._seen.get(key)
            if d is not None:
                self._seen.move_to_end(key)
            return d

    def hand_over(self, key: tuple, decision: Decision) -> None:
        """Leave a decision for one later :meth:`take` of the same key."""
        with self._lock:
            self._handed.setdefault(key, []).append((time.monotonic() + self.ttl, decision))
            self._handed.move_to_end(key)
            while len(self._handed) > self.max_entries:
                self._handed.popitem(last=False)

    def take(self, key: tuple) -> Decision | None:
        with self._lock:
            waiting = self._handed.get(key)
            if not waiting:
                return None
            now = time.monotonic()
            while waiting and waiting[0][0] < now:
                waiting.pop(0)
            d = waiting.pop(0)[1] if waiting else None
            if not waiting:
                del self._handed[key]
            return d


#: The process's memory, shared by every @guard and @guard_tool.
CHECKED = Checked()


def scope(target: Any, policy: str | None, session: str) -> tuple:
    """The part of every key that names the checker, the policy and the session."""
    return (id(target), policy, session)


def who(principal: Any, context: Any) -> str:
    """The digest of a request's principal and context, computed once per call."""
    return digest([principal, context])


def handed_key(target: Any, policy: str | None, session: str, stage: str, tool: str, value: Any,
               whom: str) -> tuple:
    """The key under which an event one decorator let through waits for the
    other: a ``tool_call`` with its arguments, a ``tool_result`` with its
    value; ``whom`` is :func:`who` of the request."""
    return (*scope(target, policy, session), "handed", stage, tool, digest(value), whom)


__all__ = ["CHECKED", "HAND_OVER_TTL", "MAX_ENTRIES", "Checked", "digest", "handed_key", "scope", "who"]
