"""Sessions at evaluation time: what a rule sees of its session's past, and
what a decision leaves behind for the next one.

A request may name a session (an agent's run). Before the rules run, one
:class:`History` is opened per decision: the session's stored steps and the
counters of the rate limits the stage's rules ask about, read in one call to
the store. The session builtins (``labelled``, ``calls``, ``occurred_since``,
``repeats``, ``flows_from``, ``over``) answer from it. After the decision,
:meth:`History.commit` writes this request's step (ids, labels, hashes: never
raw text) and takes one slot in each limit a forwarded request used, in one
atomic call; a limit that filled up meanwhile turns the decision into that
limit rule's deny. docs/sessions.md states the semantics.

Nothing here runs for a policy that uses no session builtin and no label
rule: :func:`open_history` returns None and the request is stateless.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any, Callable

from guardrails.diagnostics import RuntimeCode
from guardrails.rulegraph import RuleError
from guardrails.values import is_unicode
from guardrails.sessions import (
    LimitKey,
    Snapshot,
    StaleSession,
    Step,
    StoreError,
    call_fingerprint,
    content_prints,
    flows,
    limit_key,
    session_key,
)

#: Outcomes that let a step happen: the call runs, the text is forwarded.
FORWARDED = frozenset({"allow", "redact"})

MAX_SESSION_ID = 256


@dataclass(frozen=True, slots=True)
class LimitSpec:
    """A ``limit`` declaration as compiled for one stage."""

    name: str
    max: int
    window: float
    keys: tuple[Callable[[Any], Any], ...]  # closures over the Ctx: the `by` values
    rule: str  # the qid of the first rule (by id) of the stage that asks over(name)
    effect: str  # that rule's effect: what a limit found full at commit becomes
    tools: frozenset[str] | None = None  # tool_call: the only tools whose rules ask (None: any)


@dataclass(frozen=True, slots=True)
class StateNeeds:
    """What a stage's rules ask of the session store (compiled once)."""

    history: bool = False  # some rule reads the session's past
    limits: tuple[LimitSpec, ...] = ()
    labels: bool = False  # some rule attaches labels
    history_tools: frozenset[str] | None = None  # tool_call: the tools whose rules read it (None: any)

    def reads_history(self, tool: str | None) -> bool:
        if not self.history:
            return False
        return tool is None or self.history_tools is None or tool in self.history_tools

    @property
    def any(self) -> bool:
        return self.history or bool(self.limits) or self.labels


NO_NEEDS = StateNeeds()


def check_session_id(session: Any, at: Any = None) -> str | None:
    """Why `session` (or the request time `at`) is not usable, or None."""
    if at is not None and (isinstance(at, bool) or not isinstance(at, (int, float)) or not math.isfinite(at)
                           or at < 0):
        return "at must be the request's time in unix seconds (a non-negative number)"
    if session is None:
        return None
    if not isinstance(session, str) or not session.strip():
        return "session must be a non-empty string"
    if not is_unicode(session):
        return "session holds a lone surrogate: it is not valid Unicode"
    if len(session) > MAX_SESSION_ID:
        return f"session ids are at most {MAX_SESSION_ID} characters, not {len(session)}"
    return None


class History:
    """One decision's view of its session (``Ctx.state``)."""

    __slots__ = ("store", "session", "now", "steps", "counts", "limit_keys", "key_errors", "takes",
                 "error", "secret", "_prints", "content", "call", "version", "read_session", "optimistic")

    def __init__(self, store: Any, session: str | None, now: float, secret: bytes):
        self.store = store
        self.session = session  # the store's key, None when the request named no session
        self.now = now
        self.secret = secret
        self.steps: tuple[Step, ...] = ()
        self.counts: dict[str, int] = {}
        self.limit_keys: dict[str, LimitKey] = {}  # limit name -> its key for this request
        self.key_errors: dict[str, RuleError] = {}
        self.takes: dict[str, LimitKey] = {}  # limits asked and not full: taken if forwarded
        self.error: str | None = None  # the store could not be read
        self._prints: frozenset[int] | None = None
        self.content: Callable[[], str] = lambda: ""  # this request's text, for flows_from
        self.call: str | None = None  # this tool call's fingerprint
        self.version: int | None = None  # the session's version as read (a shared store)
        self.read_session: str | None = None  # the session key read (None: no rule reads history)
        self.optimistic = False  # read from the store's cache: the commit checks the version

    def load(self, cached: bool) -> None:
        """Read the session and the limits (from the store's cache when `cached`)."""
        self.takes = {}
        self.optimistic = cached
        try:
            snap: Snapshot = self.store.load(self.read_session, list(self.limit_keys.values()), self.now,
                                             cached=cached)
        except StoreError as exc:
            self.error = str(exc)
            return
        self.steps = snap.steps
        self.counts = dict(snap.counts)
        self.version = snap.version

    # -- what rules ask
    def _past(self, what: str) -> tuple[Step, ...]:
        if self.error is not None:
            raise RuleError(RuntimeCode.STATE_UNAVAILABLE, self.error)
        if self.session is None:
            raise RuleError(RuntimeCode.NO_SESSION, f"{what} reads the session's history, and the request "
                            "named no session (pass session=...)")
        return self.steps

    def _since(self, within: float | None) -> float:
        return -1.0 if within is None else self.now - within

    def labelled(self, label: str, within: float | None) -> bool:
        start = self._since(within)
        return any(label in s.labels and s.at > start for s in self._past("labelled()"))

    def calls(self, tool: str | None, within: float | None) -> int:
        start = self._since(within)
        return sum(1 for s in self._past("calls()") if s.stage == "tool_call" and s.outcome in FORWARDED
                   and s.at > start and (tool is None or s.tool == tool))

    def occurred_since(self, what: str, is_label: bool, tool: str) -> bool:
        steps = self._past("occurred_since()")
        begin = 0
        for i in range(len(steps) - 1, -1, -1):
            s = steps[i]
            if s.stage == "tool_call" and s.tool == tool and s.outcome in FORWARDED:
                begin = i + 1
                break
        for s in steps[begin:]:
            if (what in s.labels) if is_label else (s.tool == what and s.outcome != "deny"):
                return True
        return False

    def repeats(self) -> int:
        steps = self._past("repeats()")
        if self.call is None:
            return 0
        n = 0
        for s in reversed(steps):
            if s.stage != "tool_call":
                continue
            if s.call != self.call:
                break
            n += 1
        return n

    def flows_from(self, label: str) -> bool:
        sources = [s.prints for s in self._past("flows_from()") if label in s.labels and s.prints]
        if not sources:
            return False
        mine = self.prints()
        return bool(mine) and any(flows(mine, src) for src in sources)

    def over(self, name: str) -> bool:
        if name in self.key_errors:
            raise self.key_errors[name]
        if self.error is not None:
            raise RuleError(RuntimeCode.STATE_UNAVAILABLE, self.error)
        key = self.limit_keys[name]
        if self.counts.get(key.key, 0) >= key.max:
            return True
        self.takes[name] = key
        return False

    def prints(self) -> frozenset[int]:
        if self._prints is None:
            self._prints = content_prints(self.content(), self.secret)
        return self._prints

    # -- after the decision
    def commit(self, stage: str, tool: str | None, outcome: str, labels: frozenset[str],
               records: bool) -> tuple[tuple[str, ...], str | None] | None:
        """Write this step and take the slots; returns (the names of limits
        found full, the store's error or None), or None when the session
        changed since it was read from the store's cache: then nothing was
        written, the session has been read again, and the caller decides again."""
        if self.error is not None:
            return (), self.error
        takes = list(self.takes.values()) if outcome in FORWARDED else []
        step = None
        if self.session is not None and records:
            if outcome == "deny":
                labels = frozenset()  # a step the policy stopped never reached the model: it taints nothing
            step = Step(at=self.now, stage=stage, tool=tool, outcome=outcome, labels=labels,
                        call=self.call if stage == "tool_call" else None,
                        prints=self.prints() if labels else frozenset())
        if step is None and not takes:
            return (), None
        denied = replace(step, outcome="deny", labels=frozenset(), prints=frozenset()) if step and takes else None
        version = self.version if self.optimistic and step is not None else None
        try:
            full = self.store.commit(self.session if step else None, step, takes, self.now, denied, version=version)
        except StaleSession:
            self.load(cached=False)
            return None
        except StoreError as exc:
            return (), str(exc)
        by_key = {k.key: name for name, k in self.takes.items()}
        return tuple(sorted(by_key[k] for k in full if k in by_key)), None


def open_history(store: Any, secret: bytes, policy: str, needs: StateNeeds, records: bool,
                 session: str | None, at: float | None, ctx: Any, content: Callable[[], str],
                 call: tuple[str, dict] | None = None, optimistic: bool = False) -> History | None:
    """The decision's History, read from the store in one call; None when the
    request needs no state (the stateless fast path). `content` gives the
    request's text (for flows_from and a labelled step's prints), `call` a
    tool call's name and args (for repeats). A tool call reads only what the
    rules indexed under its tool ask: the session's steps when one of them
    reads history, the limits they ask about. `optimistic`: a shared store
    may answer from its cache, and the commit then checks that nobody wrote
    the session since (the caller must be able to decide again)."""
    tool = call[0] if call is not None else None
    reads = needs.reads_history(tool)
    limits = [lim for lim in needs.limits if tool is None or lim.tools is None or tool in lim.tools]
    if not reads and not limits and not (session is not None and records):
        return None
    now = time.time() if at is None else float(at)
    skey = session_key(policy, session, secret) if session is not None and records else None
    h = History(store, skey, now, secret)
    h.content = content
    if call is not None and skey is not None:
        h.call = call_fingerprint(call[0], call[1], secret)
    for limit in limits:
        try:
            values = [k(ctx) for k in limit.keys]
        except RuleError as exc:
            h.key_errors[limit.name] = RuleError(exc.code, f"limit {limit.name}: {exc.message}")
            continue
        h.limit_keys[limit.name] = LimitKey(limit_key(policy, limit.name, values, secret), limit.max, limit.window)
    h.read_session = skey if reads else None
    if h.read_session is None and not h.limit_keys:
        return h  # nothing to read: the commit writes the step (and errors are reported on use)
    h.load(cached=optimistic)
    return h


__all__ = ["FORWARDED", "History", "LimitSpec", "NO_NEEDS", "StateNeeds", "check_session_id", "open_history"]
