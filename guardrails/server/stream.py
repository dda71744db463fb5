"""GuardStream: a streamed completion in, safe chunks out, then the decision.

The rpc is a thin shell over :class:`guardrails.streaming.StreamGuard`, the
same incremental checker the decorator uses in process, so a stream through
the sidecar releases exactly what it would release in process:

1. the first message must be ``start`` (policy, context, request key,
   holdback); the engine snapshot is chosen then and kept for the whole
   stream, as for any other request;
2. each ``chunk`` goes to ``StreamGuard.feed``; whatever it releases is
   sent back at once (often nothing: text is held back until enough of what
   follows has been checked with it);
3. when the client half-closes, ``finish`` checks the whole text once more;
   the rest of the text is sent, then the decision;
4. a deny (or an escalation) stops the stream: nothing more is released, and
   the last message is the deciding decision. The status is OK: the policy
   answered, the rpc did not fail.

A stream holds one concurrency slot from start to end.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Iterator

import grpc

from .._proto import guardrails_pb2 as pb
from ..engine import UnknownPolicyError
from ..guard_core import PolicyViolation
from ..streaming import StreamGuard
from .convert import ConversionError, decision_to_proto, from_struct

if TYPE_CHECKING:
    from .service import GuardrailsService

HOLD_EVERYTHING = -1  # StreamStart.holdback: release nothing before the final check


def guard_stream_handler(service: "GuardrailsService"):
    from .service import _Refuse, check_deadline, log_decision, log_internal_error, parse

    def open_stream(first: bytes) -> tuple[StreamGuard, str]:
        msg = parse(pb.GuardStreamRequest, first)
        if msg.WhichOneof("kind") != "start":
            raise _Refuse(grpc.StatusCode.INVALID_ARGUMENT,
                          "GuardStream: the first message must be `start` (policy, context, holdback)", "invalid")
        start = msg.start
        if start.holdback < HOLD_EVERYTHING:
            raise _Refuse(grpc.StatusCode.INVALID_ARGUMENT,
                          f"GuardStream: holdback must be >= -1, not {start.holdback}", "invalid")
        holdback: float | None = {0: None, HOLD_EVERYTHING: float("inf")}.get(start.holdback, start.holdback)
        policy = start.policy or None
        context = from_struct(start.context) if start.HasField("context") else None
        key = start.request_key.encode() if start.request_key else first
        engine, track, _shadow = service.choose(policy, lambda: key)  # streams are not shadowed
        try:
            return StreamGuard(engine, policy=policy, context=context, holdback=holdback), track
        except UnknownPolicyError as exc:
            if policy is None:
                raise _Refuse(grpc.StatusCode.INVALID_ARGUMENT, f"policy: {exc}", "invalid") from None
            raise _Refuse(grpc.StatusCode.NOT_FOUND, str(exc), "not-found") from None
        except (ConversionError, TypeError, ValueError) as exc:
            raise _Refuse(grpc.StatusCode.INVALID_ARGUMENT, f"GuardStream: {exc}", "invalid") from None

    def chunks(sg: StreamGuard, requests: Iterator[bytes], context) -> Iterator[pb.GuardStreamResponse]:
        for raw in requests:
            check_deadline(context)
            msg = parse(pb.GuardStreamRequest, raw)
            if msg.WhichOneof("kind") != "chunk":
                raise _Refuse(grpc.StatusCode.INVALID_ARGUMENT,
                              "GuardStream: after `start`, send only `chunk` messages", "invalid")
            safe = sg.feed(msg.chunk)
            if safe:
                yield pb.GuardStreamResponse(chunk=safe)
        rest, decision = sg.finish()
        if rest:
            yield pb.GuardStreamResponse(chunk=rest)
        yield pb.GuardStreamResponse(decision=decision_to_proto(decision))

    def behaviour(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[Any]:
        started = time.perf_counter()
        try:
            with service.slot():
                check_deadline(context)
                first = next(requests, None)
                if first is None:
                    raise _Refuse(grpc.StatusCode.INVALID_ARGUMENT,
                                  "GuardStream: the stream ended before its `start` message", "invalid")
                sg, track = open_stream(first)
                try:
                    yield from chunks(sg, requests, context)
                    decision = sg.decision
                except PolicyViolation as stop:  # deny or escalate: the stream ends here
                    decision = stop.decision
                    yield pb.GuardStreamResponse(decision=decision_to_proto(decision))
                if decision is not None:
                    service.metrics.observe(decision, None)
                    service.metrics.streams.labels(decision.outcome.value).observe(time.perf_counter() - started)
                    service.metrics.routed.labels(track).inc()
                    log_decision(decision, track)
        except _Refuse as r:
            service.metrics.rejected.labels(r.reason).inc()
            context.abort(r.code, r.message)
        except Exception as exc:  # noqa: BLE001
            log_internal_error(exc)
            context.abort(grpc.StatusCode.INTERNAL, "internal error in the sidecar (see its log)")

    return behaviour
