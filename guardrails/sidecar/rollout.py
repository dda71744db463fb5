"""Shadow and canary rollout of a candidate policy set.

* **Shadow** (``--shadow PATH``): every request is answered by the active
  set, then evaluated again under the candidate on a background thread. The
  two decisions are compared (outcome, rules, forwarded text, route, error
  codes); differences are counted in ``guardrails_shadow_differences_total``
  and logged, by field and without content, at most
  :data:`SHADOW_LOG_BURST` lines a minute (:class:`LogBudget`): real
  traffic can differ on every request, and the counter has them all. A
  logged line says how many were left out before it. The caller never
  waits for, or sees, the candidate.
* **Canary** (``--canary PCT --candidate PATH``): a request whose key falls
  in the first PCT percent of the key space is answered by the candidate.
  The key is the request's ``request_key`` (say a user or conversation id,
  so one user sees one version), else a hash of the request itself; the
  same key always gets the same set.

A request pinned to a version (``policy@1.2.0``) is answered by whichever
set has that version, the active one first. The candidate shadows or
answers only requests for policies it has.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from guardrails.decision import Decision
from guardrails.engine import Engine, UnknownPolicyError

log = logging.getLogger("guardrails.sidecar")

SHADOW_QUEUE = 1000
#: Shadow differences logged per minute at most (they are all counted).
SHADOW_LOG_BURST = 10
SHADOW_LOG_WINDOW = 60.0


class LogBudget:
    """At most `burst` log lines per `window` seconds (a token bucket, by
    the monotonic clock); counts the lines it held back."""

    def __init__(self, burst: int = SHADOW_LOG_BURST, window: float = SHADOW_LOG_WINDOW,
                 clock: Callable[[], float] = time.monotonic):
        self.burst, self.rate = burst, burst / window
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()
        self.held_back = 0  # since the last line let through

    def allow(self) -> bool:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        self.held_back += 1
        return False


def bucket(key: bytes) -> float:
    """The key's place in [0, 100): uniform, stable across processes and versions."""
    n = int.from_bytes(hashlib.sha256(key).digest()[:8], "big")
    return n * 100.0 / 2**64


def has_policy(engine: Engine, policy: str | None) -> bool:
    try:
        engine.get_policy(policy)
    except UnknownPolicyError:
        return False
    return True


def differences(active: Decision, shadow: Decision) -> list[str]:
    """The fields in which two decisions on the same request differ."""
    out = []
    if active.outcome != shadow.outcome:
        out.append("outcome")
    if sorted(active.rule_ids) != sorted(shadow.rule_ids):
        out.append("rules")
    if active.text != shadow.text:
        out.append("text")
    if active.route != shadow.route:
        out.append("route")
    if sorted(e.code for e in active.errors) != sorted(e.code for e in shadow.errors):
        out.append("errors")
    return out


@dataclass(frozen=True, slots=True)
class _Job:
    stage: str
    request: dict
    policy: str | None
    active: Decision
    engine: Engine


class ShadowRunner:
    """Evaluates requests under the candidate on one background thread.

    The queue is bounded: under more load than the thread can shadow,
    requests go unshadowed (counted), never slower.
    """

    def __init__(self, metrics: Any = None, *, queue_size: int = SHADOW_QUEUE):
        self.metrics = metrics
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.compared = 0
        self.differed = 0
        self.log_budget = LogBudget()  # used by the shadow thread only
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="guardrails-shadow", daemon=True)
        self._thread.start()

    def submit(self, stage: str, request: dict, policy: str | None, active: Decision, engine: Engine) -> None:
        name = policy.partition("@")[0] if policy else None  # the candidate's own newest version
        if not has_policy(engine, name):
            self._dropped("missing-policy")
            return
        try:
            self._queue.put_nowait(_Job(stage, request, name, active, engine))
        except queue.Full:
            self._dropped("queue-full")

    def join(self) -> None:
        """Wait until every submitted request has been shadowed (tests, shutdown)."""
        self._queue.join()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _dropped(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.shadow_dropped.labels(reason).inc()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                self._shadow(job)
            except Exception:  # noqa: BLE001 - shadowing must never stop
                log.exception("shadow evaluation failed")
            finally:
                self._queue.task_done()

    def _shadow(self, job: _Job) -> None:
        d = job.engine.check(job.stage, job.request, policy=job.policy)
        diff = differences(job.active, d)
        with self._lock:
            self.compared += 1
            self.differed += bool(diff)
        if self.metrics is not None:
            self.metrics.shadow.labels(job.stage).inc()
            for f in diff:
                self.metrics.shadow_diffs.labels(job.stage, f).inc()
        if diff and not self.log_budget.allow():
            if self.metrics is not None:
                self.metrics.shadow_unlogged.inc()
            return
        if diff:
            a, s = job.active, d
            # Outcomes, rule ids and codes only: never the request or the forwarded text.
            details = []
            if "outcome" in diff:
                details.append(f"outcome {a.outcome.value} -> {s.outcome.value}")
            if "rules" in diff:
                details.append(f"rules {sorted(a.rule_ids)} -> {sorted(s.rule_ids)}")
            if "route" in diff:
                details.append(f"route {a.route} -> {s.route}")
            if "errors" in diff:
                details.append(f"errors {sorted(e.code for e in a.errors)} -> {sorted(e.code for e in s.errors)}")
            if "text" in diff:
                details.append("forwarded text differs")
            held, self.log_budget.held_back = self.log_budget.held_back, 0
            log.info("shadow difference: %s %s: %s@%s -> %s@%s: %s (decision %s)%s", job.stage, a.policy.name,
                     a.policy.name, a.policy.version, s.policy.name, s.policy.version, "; ".join(details),
                     a.decision_id, f" [{held} more not logged since the last line]" if held else "")


class Canary:
    """Chooses, per request, whether the candidate answers."""

    def __init__(self, percent: float):
        if not 0 <= percent <= 100:
            raise ValueError("the canary percentage must be between 0 and 100")
        self.percent = percent

    def picks_candidate(self, key: bytes) -> bool:
        return bucket(key) < self.percent
