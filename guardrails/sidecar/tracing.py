"""OpenTelemetry spans for the sidecar's decisions, continuing the caller's trace.

Every unary check the sidecar answers (``CheckInput`` ... ``CheckToolResult``)
is one span, ``guardrails.check <stage>``, of kind SERVER, from the request's
arrival to its answer. Its parent is the caller's span when the request's
gRPC metadata carries W3C trace context (``traceparent``, ``tracestate``), so
a client's trace continues through the sidecar. The attributes are those of
:mod:`guardrails.guard.otel`: ``guardrails.stage``, ``.outcome``,
``.policy.name`` / ``.version`` / ``.digest``, ``.rule_ids``,
``.error_codes``, ``.elapsed_us``, ``.decision_id``, ``.session``,
``.route``; never text, arguments, results or detected values. A refused
request records only its refusal kind (``guardrails.refusal``, such as
``invalid``), never the refusal's message.

A ``GuardStream`` is one span too, ``guardrails.stream output`` (SERVER,
continuing the caller's trace the same way), from the stream's opening to
its last message: the final (or the deciding) decision's attributes, plus
``guardrails.stream.chunks``, the number of chunks received. A stream
refused, cut off at its idle or lifetime limit, or cancelled by its client
ends the span with an error status and its refusal kind (``error.type``
``CancelledError`` for a client that left).

Configured by ``ServerConfig.tracer_provider`` or, without one, by the global
provider once one is set (``opentelemetry-instrument guardrails serve``).
Until then, and without ``opentelemetry-api`` installed, a request opens no
span and reads no metadata: the cost is one check of the provider's type.

For callers, :func:`inject` adds the current span's context to outgoing
metadata and :class:`TraceContextInterceptor` does it for every call of a
``grpc`` channel (``grpc.intercept_channel(channel, TraceContextInterceptor())``).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import Any

import grpc

from guardrails.sidecar._proto import guardrails_pb2 as pb
from guardrails.version import __version__


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


_trace = _optional("opentelemetry.trace")
_propagate = _optional("opentelemetry.propagate")

INSTRUMENTATION = "guardrails.sidecar"
#: The metadata keys of W3C trace context (gRPC metadata keys are lower case).
TRACE_KEYS = ("traceparent", "tracestate")
#: Seconds between looks for a global tracer provider while none is set.
LOOK_EVERY = 1.0


def _enum_names(enum: Any, prefix: str) -> dict[int, str]:
    return {v.number: v.name[len(prefix):].lower() for v in enum.DESCRIPTOR.values}


OUTCOMES = _enum_names(pb.Outcome, "OUTCOME_")


def decision_attributes(stage: str, d: Any) -> dict[str, Any]:
    """A wire decision's span attributes: what was decided and by which rules."""
    out: dict[str, Any] = {
        "guardrails.stage": stage,
        "guardrails.outcome": OUTCOMES.get(d.outcome, "unspecified"),
        "guardrails.policy.name": d.policy.name,
        "guardrails.policy.version": d.policy.version,
        "guardrails.policy.digest": d.policy.digest,
        "guardrails.rule_ids": [v.rule for v in d.violations],
        "guardrails.elapsed_us": d.elapsed_us,
        "guardrails.decision_id": d.decision_id,
    }
    if d.errors:
        out["guardrails.error_codes"] = sorted({e.code for e in d.errors})
    if d.HasField("route"):
        out["guardrails.route"] = d.route
    if d.HasField("session"):
        out["guardrails.session"] = d.session
    return out


STREAM_SPAN = "guardrails.stream output"


class RpcTracing:
    """Wraps the check handlers so each answer is a span (see the module)."""

    def __init__(self, tracer_provider: Any = None):
        self._tracer = None
        self._next_look = 0.0
        if tracer_provider is not None:
            if _trace is None:
                raise TypeError("tracer_provider needs opentelemetry-api (pip install 'guardlang[otel]')")
            self._tracer = _trace.get_tracer(INSTRUMENTATION, __version__, tracer_provider=tracer_provider)

    def tracer(self) -> Any:
        """The tracer, or None while no tracer provider is configured."""
        if self._tracer is None and _trace is not None:
            # Asking the API for the global provider reads the environment
            # (about 1 us); a provider set later is noticed within a second.
            now = time.monotonic()
            if now < self._next_look:
                return None
            self._next_look = now + LOOK_EVERY
            if not isinstance(_trace.get_tracer_provider(), _trace.ProxyTracerProvider):
                self._tracer = _trace.get_tracer(INSTRUMENTATION, __version__)
        return self._tracer

    def wrap(self, stage: str, handler: Callable, later: type) -> Callable:
        """``handler(raw, context)`` with a span around it. ``later`` is the
        class of a deferred answer (:class:`~guardrails.sidecar.rpc.Later`):
        the span then ends when that finishes, on its worker thread."""

        def traced(raw: bytes, context: Any) -> Any:
            tracer = self.tracer()
            if tracer is None:
                return handler(raw, context)
            span = tracer.start_span(f"guardrails.check {stage}", context=_incoming(context),
                                     kind=_trace.SpanKind.SERVER, start_time=time.time_ns(),
                                     record_exception=False, set_status_on_exception=False)
            try:
                out = handler(raw, context)
            except BaseException as exc:
                _ended(span, stage, None, exc)
                raise
            if isinstance(out, later):
                return later(_finishing, span, stage, out)
            _ended(span, stage, out, None)
            return out

        return traced

    def stream(self, context: Any) -> Any:
        """The span of one GuardStream (None while no tracer is configured);
        :func:`stream_ended` ends it."""
        tracer = self.tracer()
        if tracer is None:
            return None
        return tracer.start_span(STREAM_SPAN, context=_incoming(context), kind=_trace.SpanKind.SERVER,
                                 start_time=time.time_ns(), record_exception=False, set_status_on_exception=False)


def stream_ended(span: Any, decision: Any, failure: BaseException | None, chunks: int) -> None:
    """End a GuardStream's span: with its last decision (a ``pb.Decision``),
    or with the refusal or exception that ended the stream."""
    if span is None:
        return
    if span.is_recording():
        span.set_attribute("guardrails.stream.chunks", chunks)
    if decision is None and failure is None:
        span.set_attribute("guardrails.stage", "output")
        span.end()
        return
    _ended(span, "output", decision if failure is None else None, failure)


def _finishing(span: Any, stage: str, rest: Callable) -> Any:
    try:
        out = rest()
    except BaseException as exc:
        _ended(span, stage, None, exc)
        raise
    _ended(span, stage, out, None)
    return out


def _ended(span: Any, stage: str, out: Any, exc: BaseException | None) -> None:
    if span.is_recording():
        if exc is None:
            if type(out) is bytes:  # the answer already serialized (sidecar/wire.py)
                out = pb.Decision.FromString(out)
            span.set_attributes(decision_attributes(stage, out))
        else:
            span.set_attribute("guardrails.stage", stage)
            # The kind of refusal or the exception's type: a message may quote the request.
            kind = getattr(exc, "kind", None)
            if isinstance(kind, str):
                span.set_attribute("guardrails.refusal", kind)
            span.set_attribute("error.type", type(exc).__qualname__)
            span.set_status(_trace.Status(_trace.StatusCode.ERROR, kind or type(exc).__qualname__))
    span.end()


def _incoming(context: Any) -> Any:
    """The caller's trace context from the request's metadata (None: a new trace)."""
    carrier = {}
    for item in context.invocation_metadata() or ():
        key, value = item
        if key in TRACE_KEYS and isinstance(value, str):
            carrier[key] = value
    if not carrier or _propagate is None:
        return None
    return _propagate.extract(carrier)


def inject(metadata: Any = None) -> tuple:
    """``metadata`` (pairs) plus the current span's W3C trace context, if any."""
    pairs = tuple(metadata or ())
    if _propagate is None:
        return pairs
    carrier: dict[str, str] = {}
    _propagate.inject(carrier)
    return pairs + tuple((k, v) for k, v in carrier.items() if k in TRACE_KEYS)


class TraceContextInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """A client interceptor sending the current trace context with every call."""

    def _with_trace(self, details: Any) -> Any:
        return _CallDetails(details.method, details.timeout, inject(details.metadata), details.credentials,
                            getattr(details, "wait_for_ready", None), getattr(details, "compression", None))

    def intercept_unary_unary(self, continuation, client_call_details, request):
        return continuation(self._with_trace(client_call_details), request)

    def intercept_unary_stream(self, continuation, client_call_details, request):
        return continuation(self._with_trace(client_call_details), request)

class _CallDetails(grpc.ClientCallDetails):
    def __init__(self, method, timeout, metadata, credentials, wait_for_ready, compression):
        self.method, self.timeout, self.metadata = method, timeout, metadata
        self.credentials, self.wait_for_ready, self.compression = credentials, wait_for_ready, compression



__all__ = ["INSTRUMENTATION", "OUTCOMES", "STREAM_SPAN", "RpcTracing", "TraceContextInterceptor", "decision_attributes",
           "inject", "stream_ended"]
