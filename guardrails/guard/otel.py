"""OpenTelemetry spans and metrics for every decision, opt-in.

::

    from guardrails.guard.otel import traced

    engine = traced(Engine.from_path("policies/"))      # the same methods, each check a span

    @guard(engine, policy="support-bot")                 # the decorator's checks are spans too
    def chat(messages): ...

:func:`traced` wraps an :class:`~guardrails.engine.Engine`, a sidecar client
or any object with the engine's method names. Each check (``check_input`` ...
``check_tool_result``, ``check``, and the ``acheck_*`` twins the target has)
opens one span, ``guardrails.check <stage>``, a child of the span current
where it is called (an LLM call's, a web request's). Its attributes say what
was decided, never about what: ``guardrails.stage``, ``guardrails.outcome``,
``guardrails.policy.name`` / ``.version`` / ``.digest``,
``guardrails.rule_ids``, ``guardrails.error_codes``, ``guardrails.elapsed_us``
(the engine's own figure), ``guardrails.session`` and, for the tool stages,
``guardrails.tool``. No text, argument, result or detected value is ever put
on a span. A check that raises records the exception type only (its message
may quote the request) and sets the span's status to error.

Metrics: an OpenTelemetry counter ``guardrails.decisions`` (stage, outcome,
policy) and histogram ``guardrails.decision.duration`` (seconds, by stage);
and, with ``metrics=``, the sidecar's Prometheus metrics
(:class:`guardrails.sidecar.metrics.Metrics`: ``guardrails_decisions_total``,
``guardrails_decision_latency_seconds`` ...) in that object's registry, or
in an application's own ``CollectorRegistry`` given as ``metrics=``.

The ``opentelemetry-api`` package is optional (``pip install
'guardlang[otel]'``): without it the wrapper still counts Prometheus metrics
and opens no spans. With the API but no tracer provider configured (none
given, no global one set), no span is opened at all, and with no meter
provider no OpenTelemetry instrument is called (the API's no-op instruments
cost a third of a 15 us tool decision). While nothing is configured (no
provider, no ``metrics=``) the wrapper's check methods are the target's own
bound methods, so a check costs what it costs unwrapped. A global provider
set later is looked for once a second (:data:`LOOK_EVERY`) by one daemon
thread shared by every idle wrapper (asking the API reads the environment,
so not per check); when it finds one it puts the tracing methods in place,
and spans and metrics start within that second. The attributes are only
built for a span that records.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry

from guardrails.decision import Decision
from guardrails.sidecar.metrics import Metrics
from guardrails.version import __version__


def _optional(module: str) -> Any:
    # The API is an optional extra: loaded when installed, None otherwise.
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


_trace = _optional("opentelemetry.trace")
_metrics = _optional("opentelemetry.metrics")

INSTRUMENTATION = "guardrails"
#: The engine's check methods and the stage each decides.
METHODS = {"check_input": "input", "check_output": "output", "check_retrieval": "retrieval",
           "check_tool_call": "tool_call", "check_tool_result": "tool_result"}
TOOL_STAGES = frozenset({"tool_call", "tool_result"})
#: Seconds between looks for a global tracer or meter provider while none is set.
LOOK_EVERY = 1.0


def _unset_meter_provider() -> Any:
    # The API's stand-in until a global meter provider is set; it has no public
    # name, so a version without it counts every provider as a real one.
    internal = _optional("opentelemetry.metrics._internal")
    return getattr(internal, "_ProxyMeterProvider", None) if internal is not None else None


_PROXY_METER_PROVIDER_TYPE = _unset_meter_provider() if _metrics is not None else None


def available() -> bool:
    """Whether ``opentelemetry-api`` is installed (spans can be emitted)."""
    return _trace is not None


def attributes(decision: Decision) -> dict[str, Any]:
    """A decision's span attributes: what was decided and by which rules;
    never the text, arguments or values the decision is about."""
    p = decision.policy
    out = {
        "guardrails.outcome": decision.outcome.value,
        "guardrails.policy.name": p.name,
        "guardrails.policy.version": p.version,
        "guardrails.policy.digest": p.digest,
        "guardrails.rule_ids": [v.rule for v in decision.violations],
        "guardrails.elapsed_us": decision.elapsed_us,
        "guardrails.decision_id": decision.decision_id,
    }
    if decision.errors:
        out["guardrails.error_codes"] = sorted({str(e.code) for e in decision.errors})
    if decision.route:
        out["guardrails.route"] = decision.route
    return out


def _about(args: tuple, kwargs: dict) -> dict:
    """The session and tool of a check method's call (the tool is its first argument)."""
    return {"session": kwargs.get("session"), "tool": args[0] if args else kwargs.get("tool")}


class Traced:
    """An engine or client whose checks are traced and counted.

    It has the wrapped object's check methods (and only those it has, so
    ``@guard`` sees the same capabilities); any other attribute
    (``get_policy``, ``policies`` ...) is the wrapped object's. ``wrapped``
    is the object itself.
    """

    def __init__(self, target: Any, *, tracer_provider: Any = None, meter_provider: Any = None,
                 metrics: Metrics | CollectorRegistry | None = None):
        if isinstance(target, Traced):
            raise TypeError("traced(): this object is traced already")
        if not any(callable(getattr(target, m, None)) for m in METHODS):
            raise TypeError(f"traced() wraps an Engine, a GuardrailsClient or an object with their check methods; "
                            f"{type(target).__name__} has none")
        if isinstance(metrics, CollectorRegistry):  # an application's registry: the metrics join it
            metrics = Metrics(registry=metrics)
        if metrics is not None and not isinstance(metrics, Metrics):
            raise TypeError(f"metrics must be a guardrails.sidecar.metrics.Metrics or a prometheus_client "
                            f"CollectorRegistry, not {type(metrics).__name__}")
        self.wrapped = target
        self.prometheus = metrics
        # Without a provider given, spans wait for a global one: until one is
        # set, a check opens no span at all (the API's no-op span costs ~5 us).
        self._tracer = _trace.get_tracer(INSTRUMENTATION, __version__, tracer_provider=tracer_provider) \
            if _trace is not None and tracer_provider is not None else None
        self._count = self._duration = None
        # Whether the instruments reach a real meter provider: one given, or a
        # global one found by _look(). Until then they are not called at all.
        self._metering = meter_provider is not None
        self._next_look = 0.0
        if _metrics is not None:
            meter = _metrics.get_meter(INSTRUMENTATION, __version__, meter_provider=meter_provider)
            self._count = meter.create_counter("guardrails.decisions", unit="{decision}",
                                               description="Decisions, by stage, outcome and policy.")
            self._duration = meter.create_histogram("guardrails.decision.duration", unit="s",
                                                    description="Time to decide a check, by stage.")
        # The check methods twice: the target's own (while idle) and the tracing ones.
        self._own: dict[str, Callable] = {}
        self._tracing: dict[str, Callable] = {}
        for method, stage in METHODS.items():
            fn = getattr(target, method, None)
            if callable(fn):
                self._own[method], self._tracing[method] = fn, self._sync(stage, fn)
            twin = getattr(target, "a" + method, None)
            if callable(twin):
                self._own["a" + method], self._tracing["a" + method] = twin, self._async(stage, twin)
        if callable(getattr(target, "check", None)):
            check = target.check
            self._own["check"] = check
            self._tracing["check"] = lambda stage, request, **kw: self._observe(
                stage, check, (stage, request), kw, request if isinstance(request, dict) else {})
        self._next_look = time.monotonic() + LOOK_EVERY
        self._look()
        self._tracing_in_place = not self._idle()
        if self._tracing_in_place:
            self.__dict__.update(self._tracing)
        else:
            self.__dict__.update(self._own)  # a check is the target's own call: nothing to record yet
            _LOOKER.watch(self)

    def __getattr__(self, name: str) -> Any:
        # Only reached for what __init__ did not set: the wrapped object's own.
        if name.startswith("check") or name.startswith("acheck"):
            raise AttributeError(f"{type(self.wrapped).__name__} has no {name}")
        return getattr(self.wrapped, name)

    def __repr__(self) -> str:
        return f"traced({self.wrapped!r})"

    # -- one check
    def _tracer_now(self) -> Any:
        """The tracer, or None while no tracer provider is configured."""
        if self._tracer is None or not self._metering:
            now = time.monotonic()
            if now >= self._next_look:
                self._next_look = now + LOOK_EVERY
                self._look()
        return self._tracer

    def _look(self) -> None:
        """Notice global providers set since the last look (the API allows one of each, set once)."""
        if self._tracer is None and _trace is not None and not isinstance(_trace.get_tracer_provider(),
                                                                           _trace.ProxyTracerProvider):
            self._tracer = _trace.get_tracer(INSTRUMENTATION, __version__)
        if not self._metering and self._count is not None:
            unset = _PROXY_METER_PROVIDER_TYPE
            self._metering = unset is None or not isinstance(_metrics.get_meter_provider(), unset)

    def _idle(self) -> bool:
        """Nothing to record: no tracer, no meter provider, no Prometheus metrics."""
        return self.prometheus is None and self._tracer is None and not self._metering

    def look_again(self) -> bool:
        """While idle: look for global providers now, and put the tracing
        methods in place if one was set. True once it traces (the looker
        thread's step; also for a test that cannot wait a second)."""
        if not self._tracing_in_place:
            self._look()
            if self._idle():
                return False
            self.__dict__.update(self._tracing)
            self._tracing_in_place = True
        return True

    def _sync(self, stage: str, fn: Callable) -> Callable:
        def check(*args: Any, **kwargs: Any) -> Decision:
            return self._observe(stage, fn, args, kwargs, _about(args, kwargs))

        return check

    def _async(self, stage: str, fn: Callable) -> Callable:
        async def acheck(*args: Any, **kwargs: Any) -> Decision:
            started = time.perf_counter()
            tracer = self._tracer_now()
            if tracer is None:
                d = await fn(*args, **kwargs)
                self._record(stage, d, started)
                return d
            with tracer.start_as_current_span(f"guardrails.check {stage}", record_exception=False,
                                                    set_status_on_exception=False) as span:
                recording = span.is_recording()
                if recording:
                    self._opening(span, stage, _about(args, kwargs))
                try:
                    d = await fn(*args, **kwargs)
                except BaseException as exc:
                    self._failed(span, exc)
                    raise
                if recording:
                    span.set_attributes(attributes(d))
            self._record(stage, d, started)
            return d

        return acheck

    def _observe(self, stage: str, fn: Callable, args: tuple, kwargs: dict, about: dict) -> Decision:
        started = time.perf_counter()
        tracer = self._tracer_now()
        if tracer is None:
            d = fn(*args, **kwargs)
            self._record(stage, d, started)
            return d
        with tracer.start_as_current_span(f"guardrails.check {stage}", record_exception=False,
                                                set_status_on_exception=False) as span:
            if span.is_recording():
                self._opening(span, stage, about)
                try:
                    d = fn(*args, **kwargs)
                except BaseException as exc:
                    self._failed(span, exc)
                    raise
                span.set_attributes(attributes(d))
            else:
                d = fn(*args, **kwargs)
        self._record(stage, d, started)
        return d

    @staticmethod
    def _opening(span: Any, stage: str, about: dict) -> None:
        span.set_attribute("guardrails.stage", stage)
        session = about.get("session")
        if isinstance(session, str):
            span.set_attribute("guardrails.session", session)
        tool = about.get("tool")
        if stage in TOOL_STAGES and isinstance(tool, str):
            span.set_attribute("guardrails.tool", tool)

    @staticmethod
    def _failed(span: Any, exc: BaseException) -> None:
        # The type only: an exception's message may quote the request.
        span.set_attribute("error.type", type(exc).__qualname__)
        span.set_status(_trace.Status(_trace.StatusCode.ERROR, type(exc).__qualname__))

    def _record(self, stage: str, d: Decision, started: float) -> None:
        seconds = time.perf_counter() - started
        if self._metering and self._count is not None:
            self._count.add(1, {"guardrails.stage": stage, "guardrails.outcome": d.outcome.value,
                                "guardrails.policy.name": d.policy.name})
            self._duration.record(seconds, {"guardrails.stage": stage})
        if self.prometheus is not None:
            self.prometheus.observe(d, seconds)


class _Looker:
    """One daemon thread that looks for global providers every
    :data:`LOOK_EVERY` seconds on behalf of every idle wrapper (held weakly),
    and ends when none is left."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: weakref.WeakSet[Traced] = weakref.WeakSet()
        self._thread: threading.Thread | None = None
        if hasattr(os, "register_at_fork"):  # a forked child has no thread: start its own
            os.register_at_fork(after_in_child=self._forked)

    def watch(self, t: Traced) -> None:
        if _trace is None and _metrics is None:
            return  # without the API no provider can be set
        with self._lock:
            self._idle.add(t)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="guardrails-otel-look", daemon=True)
                self._thread.start()

    def look(self) -> None:
        """One look for every idle wrapper (the thread's step)."""
        with self._lock:
            waiting = list(self._idle)
        for t in waiting:
            if t.look_again():
                with self._lock:
                    self._idle.discard(t)

    def _run(self) -> None:
        while True:
            time.sleep(LOOK_EVERY)
            self.look()
            with self._lock:
                if not self._idle:
                    self._thread = None
                    return

    def _forked(self) -> None:
        self._lock, self._thread = threading.Lock(), None
        waiting = list(self._idle)
        self._idle = weakref.WeakSet()
        for t in waiting:
            self.watch(t)


_LOOKER = _Looker()


def traced(engine_or_client: Any, *, tracer_provider: Any = None, meter_provider: Any = None,
           metrics: Metrics | CollectorRegistry | None = None) -> Traced:
    """``engine_or_client`` with every check traced and counted (see the module).

    ``tracer_provider`` / ``meter_provider``: OpenTelemetry providers to use
    instead of the global ones. ``metrics``: a
    :class:`~guardrails.sidecar.metrics.Metrics` to count decisions in
    (scrape its ``registry``), or a ``prometheus_client.CollectorRegistry``
    to add those metrics to (an application's, already scraped). Pass the result wherever the engine went:
    ``@guard``, ``@guard_tool``, ``StreamGuard``, the integrations.
    """
    return Traced(engine_or_client, tracer_provider=tracer_provider, meter_provider=meter_provider,
                  metrics=metrics)


__all__ = ["INSTRUMENTATION", "LOOK_EVERY", "METHODS", "Traced", "attributes", "available", "traced"]
