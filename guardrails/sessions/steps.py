"""What a session store holds: steps, limit keys, snapshots, and its one error.

A :class:`Step` is one event of an agent session as the store keeps it: ids,
labels and hashes, never raw text. Tool arguments become a call fingerprint,
content becomes keyed content prints (:mod:`guardrails.sessions.fingerprint`),
and the session and limit keys are digests the engine computed. So whatever a
store holds, or a Redis dump shows, no prompt, tool output or PII is in it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from collections.abc import Mapping, Sequence

from guardrails.diagnostics import GuardrailsError
from guardrails.stages import STAGES

__all__ = [
    "DEFAULT_MAX_SESSIONS",
    "DEFAULT_MAX_STEPS",
    "DEFAULT_SESSION_TTL",
    "STEP_VERSION",
    "LimitKey",
    "Snapshot",
    "Step",
    "StoreError",
    "distinct",
]

#: The version written into every stored step; :meth:`Step.from_json` reads only this one.
STEP_VERSION = 1

#: The stores' bounds unless told otherwise (``open_store``'s keywords).
DEFAULT_MAX_SESSIONS = 10_000  # sessions a MemoryStore keeps (least recently used evicted)
DEFAULT_SESSION_TTL = 3600.0  # seconds after its last step that a session is forgotten
DEFAULT_MAX_STEPS = 256  # steps kept per session (oldest dropped)


class StaleSession(Exception):
    """A commit given the version it read found the session changed since
    (another replica wrote a step): nothing was written. Load it again
    (``cached=False``), decide again, and commit with the new version."""


class StoreError(GuardrailsError):
    """A session store could not answer: unreachable, timed out, or held bad data.

    The message names the store (``redis at host:port/db``, never the URL's
    password) and the reason, so a fail-closed decision can carry it as is.
    """


@dataclass(frozen=True, slots=True)
class Step:
    """One event of a session, as stored: ids, labels, hashes; never raw text.

    ``prints`` are kept only when ``labels`` is non-empty: an unlabelled step is
    no data-flow source, so its prints would be stored for nothing. They are
    dropped at construction, so a step equals its own JSON round trip.
    """

    at: float  # unix seconds: the request's time, given by the engine
    stage: str  # one of guardrails.stages.STAGES
    tool: str | None  # the tool's name (tool_call, tool_result), else None
    outcome: str  # the decision's outcome value: "allow", "deny", "redact", ...
    labels: frozenset[str] = frozenset()
    call: str | None = None  # call fingerprint (tool_call only): loop detection
    prints: frozenset[int] = frozenset()  # content prints (labelled steps only): data flow

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"Step: unknown stage {self.stage!r}; expected one of {', '.join(STAGES)}")
        if self.prints and not self.labels:
            object.__setattr__(self, "prints", frozenset())

    def to_json(self) -> str:
        """Compact, versioned JSON (``"v": 1``); labels and prints sorted, so equal steps
        serialise equally."""
        out: dict = {"v": STEP_VERSION, "at": self.at, "s": self.stage, "o": self.outcome}
        if self.tool is not None:
            out["t"] = self.tool
        if self.labels:
            out["l"] = sorted(self.labels)
        if self.call is not None:
            out["c"] = self.call
        if self.prints:
            out["p"] = sorted(self.prints)
        return json.dumps(out, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Step:
        """Read :meth:`to_json`'s output; ValueError saying what is wrong otherwise."""
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as e:
            raise ValueError(f"a stored step is not JSON ({e})") from None
        if not isinstance(data, dict):
            raise ValueError("a stored step is not a JSON object")
        if data.get("v") != STEP_VERSION:
            raise ValueError(f"a stored step has version {data.get('v')!r}; this build reads {STEP_VERSION}")
        at, stage, outcome = data.get("at"), data.get("s"), data.get("o")
        tool, call = data.get("t"), data.get("c")
        labels, prints = data.get("l", []), data.get("p", [])
        if isinstance(at, bool) or not isinstance(at, (int, float)):
            raise ValueError(f"a stored step's time is {at!r}, not a number")
        if not isinstance(stage, str) or not isinstance(outcome, str):
            raise ValueError("a stored step lacks its stage or outcome")
        if not (tool is None or isinstance(tool, str)) or not (call is None or isinstance(call, str)):
            raise ValueError("a stored step's tool or call is not a string")
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise ValueError("a stored step's labels are not a list of strings")
        if not isinstance(prints, list) or not all(isinstance(x, int) and not isinstance(x, bool)
                                                   for x in prints):
            raise ValueError("a stored step's prints are not a list of integers")
        return cls(float(at), stage, tool, outcome, frozenset(labels), call, frozenset(prints))

    def denied(self) -> Step:
        """This step with outcome ``"deny"``: what a commit stores when a limit is full."""
        return Step(self.at, self.stage, self.tool, "deny", self.labels, self.call, self.prints)


@dataclass(frozen=True, slots=True)
class LimitKey:
    """One rate limit's counter for one request: at most ``max`` slots per ``window`` seconds.

    ``key`` is already pseudonymous (see :func:`guardrails.sessions.limit_key`):
    it names the limit and the principal or tenant only through a digest.
    """

    key: str
    max: int
    window: float  # seconds

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("LimitKey: the key is empty")
        if isinstance(self.max, bool) or not isinstance(self.max, int) or self.max < 0:
            raise ValueError(f"LimitKey {self.key!r}: max must be an integer >= 0, not {self.max!r}")
        if not self.window > 0:
            raise ValueError(f"LimitKey {self.key!r}: the window must be > 0 seconds, not {self.window!r}")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What one :meth:`SessionStore.load` returns."""

    steps: tuple[Step, ...]  # the session's steps, oldest first (at most max_steps)
    counts: Mapping[str, int]  # LimitKey.key -> slots taken after now - window
    # The session's version as read (a shared store counts the steps ever
    # appended); hand it back to commit() to write only if nobody wrote since.
    # None: the store does not need it (in memory, one process).
    version: int | None = None


def distinct(limits: Sequence[LimitKey]) -> tuple[LimitKey, ...]:
    """The limits with each key once (the first wins): a request takes one slot per key,
    however many rules asked about it."""
    if len(limits) < 2:
        return tuple(limits)
    seen: dict[str, LimitKey] = {}
    for lk in limits:
        seen.setdefault(lk.key, lk)
    return tuple(seen.values())
