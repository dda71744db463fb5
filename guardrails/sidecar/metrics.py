"""Prometheus metrics for the sidecar (``--metrics 127.0.0.1:9464``).

Each server has its own registry, so several servers in one process (tests)
do not collide. Request metrics are updated as requests finish; the state of
the policy sets (versions loaded, generation, reload counts) is read when
the endpoint is scraped, so it can never drift from what is served.

The metrics every request updates (decisions, their latency, rule hits,
evaluation errors, routing, and the rpcs started and handled) are
:class:`Tallied`: plain numbers under one lock, which the registry reads at
scrape time, exposed exactly as prometheus_client's own counters and
histograms would be. prometheus_client's children take a lock and several
Python calls per update, about a tenth of the sidecar's own work per
request. The rarer metrics (refusals, shadow runs) are prometheus_client's.

Labels never carry request content: stage, outcome, policy name and
version, rule id, error code. Every rpc is counted as it starts and ends,
by service, method, type and status code, under the names go-grpc-prometheus
made common (``grpc_server_started_total``, ``grpc_server_handled_total``);
a method the sidecar does not serve is counted as ``unknown``, so a caller
cannot grow the label set. :class:`StoreStatus` follows the session
store: decisions that failed on it, and the last reason (which names the
store's address, never its password), for the metrics and ``ListPolicies``.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from typing import Any, Iterable

import prometheus_client.metrics
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

from guardrails.decision import Decision
from guardrails.diagnostics import RuntimeCode

# Tool calls decide in tens of microseconds; PII text checks in milliseconds.
LATENCY_BUCKETS = (0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                   0.1, 0.25, 0.5, 1.0, 2.5)


class StoreStatus:
    """The sidecar's session store, and the decisions that failed on it."""

    def __init__(self, store: Any = None):
        kind = type(store).__name__
        self.kind = {"NoneType": "memory", "MemoryStore": "memory", "RedisStore": "redis"}.get(kind, kind)
        # RedisStore.where is "redis at HOST:PORT/DB": built without the password.
        self.address = getattr(store, "where", None) or self.kind
        self.remote = self.kind != "memory"
        self.store = store
        self._lock = threading.Lock()
        self._errors = 0
        self._last_error = ""
        self._last_at: float | None = None

    def failed(self, message: str) -> None:
        with self._lock:
            self._errors += 1
            self._last_error, self._last_at = message, time.time()

    def errors(self) -> tuple[int, str, float | None]:
        """(decisions that failed on the store, the last reason, when)."""
        with self._lock:
            return self._errors, self._last_error, self._last_at


class Metrics:
    """The decision metrics, in their own registry or in ``registry`` (an
    application's, such as ``prometheus_client.REGISTRY``: one Metrics per
    registry, since the names can be registered once)."""

    def __init__(self, state: StoreStatus | None = None, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        lock = self._counting = threading.Lock()  # every Tallied family's numbers
        self.latency = Tallied(
            "guardrails_decision_latency_seconds",
            "Time to answer a check, from the request's arrival to its decision, by stage.",
            ["stage"], lock, r, buckets=LATENCY_BUCKETS)
        self.streams = Tallied(
            "guardrails_stream_duration_seconds", "GuardStream calls, from start to the final decision, by outcome.",
            ["outcome"], lock, r, buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300))
        self.decisions = Tallied(
            "guardrails_decisions", "Decisions returned, by stage, outcome and deciding policy.",
            ["stage", "outcome", "policy", "version"], lock, r)
        self.rule_hits = Tallied(
            "guardrails_rule_hits", "Rules in returned decisions, by policy, rule and effect.",
            ["policy", "rule", "effect"], lock, r)
        self.eval_errors = Tallied(
            "guardrails_evaluation_errors", "Evaluation errors inside returned decisions, by code.",
            ["policy", "code"], lock, r)
        self.rejected = Counter(
            "guardrails_rpcs_rejected", "Requests refused before a decision, by reason.",
            ["reason"], registry=r)
        self.inflight = Gauge("guardrails_inflight_requests", "Checks and streams being served now.", registry=r)
        self.shadow = Counter(
            "guardrails_shadow_evaluations", "Requests also evaluated by the shadow candidate, by stage.",
            ["stage"], registry=r)
        self.shadow_diffs = Counter(
            "guardrails_shadow_differences",
            "Shadow decisions that differ from the active one, by stage and differing field.",
            ["stage", "field"], registry=r)
        self.shadow_dropped = Counter(
            "guardrails_shadow_dropped", "Shadow evaluations skipped (queue full or candidate lacks the policy).",
            ["reason"], registry=r)
        self.routed = Tallied(
            "guardrails_rollout_routed", "Requests answered by each set (active or candidate).", ["set"], lock, r)
        self.state_errors = Counter(
            "guardrails_state_store_errors",
            "Decisions that could not read or write the session store (error state-unavailable).",
            registry=r)
        self.rpcs_started = Tallied(
            "grpc_server_started", "RPCs started on the server, by service, method and type.",
            ["grpc_service", "grpc_method", "grpc_type"], lock, r)
        self.rpcs_handled = Tallied(
            "grpc_server_handled", "RPCs completed on the server, by service, method, type and status code.",
            ["grpc_service", "grpc_method", "grpc_type", "grpc_code"], lock, r)
        self.shadow_unlogged = Counter(
            "guardrails_shadow_differences_unlogged",
            "Shadow differences counted but not logged (the log is rate-limited).", registry=r)
        self.health_in_use = Gauge("guardrails_health_budget_in_use",
                                   "Health and reflection calls being served now (Watch streams included).",
                                   registry=r)
        self.state = state or StoreStatus()
        self.decision_log: Any = None  # read at scrape time
        self._sets: list[Any] = []
        self._lock = threading.Lock()
        self._children: dict[tuple, Any] = {}
        # A decision's children by (the policy reference's id, stage, outcome)
        # and a rule hit's by (the reference's id, rule, effect); each entry
        # keeps its reference, so an id is never read for another one.
        self._decided: dict[tuple, tuple] = {}
        self._hits: dict[tuple, tuple] = {}
        r.register(_PolicySetCollector(self))

    def watch(self, policy_sets: Iterable[Any]) -> None:
        with self._lock:
            self._sets = list(policy_sets)

    def child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, memoised: the per-request path skips
        prometheus_client's lock and label validation."""
        key = (id(metric), labels)
        c = self._children.get(key)
        if c is None:
            c = self._children.setdefault(key, metric.labels(*labels))
        return c

    def rpc(self, service: str, method: str, kind: str) -> "RpcCounter":
        """The started/handled counters of one method (`kind`: unary, server_stream, bidi_stream...)."""
        return RpcCounter(self, service, method, kind)

    def observe(self, decision: Decision, seconds: float | None, routed: Child | None = None) -> None:
        """Count a returned decision; `seconds` is its latency (None for a
        stream's); `routed`: the set that answered it (a child of
        :attr:`routed`), counted with it."""
        p, stage = decision.policy, decision.stage
        key = (id(p), stage, decision.outcome)
        decided = self._decided.get(key)
        if decided is None or decided[0] is not p:
            decided = (p, self.latency.labels(stage).cells,
                       self.decisions.labels(stage, decision.outcome.value, p.name, p.version).cells)
            _bounded_put(self._decided, key, decided)
        hits = []
        for v in decision.violations:
            key = (id(p), v.rule, v.effect)
            hit = self._hits.get(key)
            if hit is None or hit[0] is not p:
                hit = (p, self.rule_hits.labels(p.name, v.rule, v.effect).cells)
                _bounded_put(self._hits, key, hit)
            hits.append(hit[1])
        for e in decision.errors:
            hits.append(self.eval_errors.labels(p.name, e.code).cells)
        with self._counting:
            if seconds is not None:
                latency = decided[1]
                latency[bisect_left(LATENCY_BUCKETS, seconds)] += 1
                latency[-1] += seconds
            decided[2][0] += 1
            for cells in hits:
                cells[0] += 1
            if routed is not None:
                routed.cells[0] += 1
        if decision.errors:
            failed = next((e for e in decision.errors if e.code == RuntimeCode.STATE_UNAVAILABLE), None)
            if failed is not None:  # once per decision, however many rules read the store
                self.state_errors.inc()
                self.state.failed(failed.message)


#: Entries of Metrics' per-decision caches at most (they start afresh past this).
MAX_CACHED = 4096


def _bounded_put(cache: dict, key: Any, value: Any) -> None:
    if len(cache) >= MAX_CACHED:
        cache.clear()
    cache[key] = value


class Child:
    """One labelled series of a :class:`Tallied` family: a counter's value
    (``cells[0]``), or a histogram's count per bucket (``+Inf`` last) and
    then its sum. Changed only under the family's lock."""

    __slots__ = ("_bounds", "_lock", "cells", "created")

    def __init__(self, lock: threading.Lock, bounds: tuple[float, ...] | None):
        self._lock, self._bounds = lock, bounds
        self.cells: list[float] = [0] if bounds is None else [0] * (len(bounds) + 2)
        self.created = time.time()

    def inc(self, amount: float = 1) -> None:
        if amount < 0:
            raise ValueError("counters can only be incremented by non-negative amounts")
        with self._lock:
            self.cells[0] += amount

    def observe(self, amount: float) -> None:
        cells = self.cells
        with self._lock:
            cells[bisect_left(self._bounds, amount)] += 1  # type: ignore[arg-type]
            cells[-1] += amount


class Tallied:
    """A counter (or, given `buckets`, a histogram) family counted in plain
    numbers and collected by `registry` at scrape time, with the samples
    prometheus_client's own Counter or Histogram of that name would give
    (``_total``; ``_bucket``, ``_count``, ``_sum``; ``_created`` unless
    prometheus_client's created series are switched off)."""

    def __init__(self, name: str, documentation: str, labelnames: list[str], lock: threading.Lock,
                 registry: CollectorRegistry, buckets: tuple[float, ...] | None = None):
        self.name, self.documentation, self.labelnames = name, documentation, tuple(labelnames)
        self.buckets = None if buckets is None else tuple(float(b) for b in buckets)
        self._lock = lock
        self._children: dict[tuple[str, ...], Child] = {}
        registry.register(self)

    def labels(self, *values: Any) -> Child:
        child = self._children.get(values)
        return child if child is not None else self._add(values)

    def _add(self, values: tuple) -> Child:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name}: {len(self.labelnames)} label values needed, {len(values)} given")
        labels = tuple(str(v) for v in values)  # as prometheus_client names a series
        with self._lock:
            child = self._children.get(labels)
            if child is None:
                child = self._children[labels] = Child(self._lock, self.buckets)
            self._children[values] = child  # (also under the values as given, when they are not strings)
        return child

    def _family(self) -> Metric:
        if self.buckets is None:
            return CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        return HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def describe(self) -> list[Metric]:
        return [self._family()]

    def collect(self) -> list[Metric]:
        family = self._family()
        with self._lock:
            # By label values: an entry may also sit under the values as first given (not yet strings).
            series = {labels: (child.created, list(child.cells)) for labels, child in self._children.items()
                      if all(type(v) is str for v in labels)}
        created = getattr(prometheus_client.metrics, "_use_created", True)  # disable_created_metrics()
        name = self.name
        for values, (at, cells) in series.items():
            labels = dict(zip(self.labelnames, values))
            if self.buckets is None:
                family.add_sample(name + "_total", labels, float(cells[0]))
            else:
                count = 0.0
                for bound, n in zip((*self.buckets, float("inf")), cells):
                    count += n
                    family.add_sample(name + "_bucket", {**labels, "le": floatToGoString(bound)}, count)
                family.add_sample(name + "_count", labels, count)
                family.add_sample(name + "_sum", labels, float(cells[-1]))
            if created:
                family.add_sample(name + "_created", labels, at)
        return [family]


class RpcCounter:
    """``grpc_server_started_total`` and ``grpc_server_handled_total`` for one method."""

    __slots__ = ("_handled", "_labels", "_metrics", "_started")

    def __init__(self, metrics: Metrics, service: str, method: str, kind: str):
        self._metrics = metrics
        self._labels = (service, method, kind)
        self._started = metrics.rpcs_started.labels(*self._labels)
        self._handled: dict[str, Child] = {}  # by status code name (a few)

    def started(self) -> None:
        self._started.inc()

    def handled(self, code: str) -> None:
        """`code`: the status code's name, such as ``OK`` or ``RESOURCE_EXHAUSTED``."""
        child = self._handled.get(code)
        if child is None:
            child = self._handled[code] = self._metrics.child(self._metrics.rpcs_handled, *self._labels, code)
        child.inc()


class _PolicySetCollector:
    """Scrape-time view of the policy sets."""

    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def describe(self):
        return []  # values are only known at scrape time

    def collect(self):
        with self.metrics._lock:
            sets = list(self.metrics._sets)
        loaded = InfoMetricFamily("guardrails_policy", "Policy versions in service, by set.",
                                  labels=["set", "name", "version", "digest"])
        generation = GaugeMetricFamily("guardrails_policy_generation",
                                       "Policy set generation in service (1 = first load).", labels=["set"])
        loaded_at = GaugeMetricFamily("guardrails_policy_loaded_timestamp_seconds",
                                      "When the set in service was loaded.", labels=["set"])
        ok = GaugeMetricFamily("guardrails_reload_ok", "1 when the last reload attempt succeeded, else 0.",
                               labels=["set"])
        reloads = CounterMetricFamily("guardrails_reloads", "Reload attempts, by set and result.",
                                      labels=["set", "result"])
        for ps in sets:
            snap, status = ps.snapshot, ps.status
            if snap is not None:
                for p in snap.engine.policies:
                    loaded.add_metric([ps.name, p.name, p.version, p.digest], {})
                generation.add_metric([ps.name], snap.generation)
                loaded_at.add_metric([ps.name], snap.loaded_at)
            ok.add_metric([ps.name], 1 if status.ok else 0)
            # The first load counts as a success; failures only happen on reloads.
            reloads.add_metric([ps.name, "success"], status.successes)
            reloads.add_metric([ps.name, "failure"], status.failures)
        yield from (loaded, generation, loaded_at, ok, reloads)
        state = self.metrics.state
        info = InfoMetricFamily("guardrails_state_store", "Where session state is kept.",
                                labels=["kind", "address"])
        info.add_metric([state.kind, state.address], {})
        yield info
        trips = getattr(state.store, "round_trips", None)
        if trips is not None:
            yield CounterMetricFamily("guardrails_state_store_round_trips",
                                      "Requests sent to the session store (Redis).", value=trips)
        dlog = self.metrics.decision_log
        if dlog is not None:
            stats = dlog.stats()
            written = CounterMetricFamily("guardrails_decision_log_records", "Decision records by result.",
                                          labels=["result"])
            written.add_metric(["written"], stats.written)
            written.add_metric(["dropped"], stats.dropped)
            yield written
            # A full disk or an unwritable file: decisions are still answered, and these say what was lost.
            yield CounterMetricFamily("guardrails_decision_log_errors",
                                      "Failures to open or write the decision log (each may drop records).",
                                      value=stats.errors)
            yield GaugeMetricFamily("guardrails_decision_log_pending", "Decision records queued, not yet written.",
                                    value=stats.pending)
