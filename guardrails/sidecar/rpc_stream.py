"""GuardStream: a streamed completion in, safe chunks out, then the decision.

The rpc is a thin shell over :class:`guardrails.guard.stream_guard.StreamGuard`, the
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

A stream holds one concurrency slot from start to end. The checks run on
the worker threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Callable

import grpc

from guardrails.engine import UnknownPolicyError
from guardrails.guard.backend import PolicyViolation
from guardrails.guard.stream_guard import StreamGuard
from guardrails.sidecar._proto import guardrails_pb2 as pb
from guardrails.sidecar.admission import Refuse, check_deadline, log_decision, log_internal_error, parse
from guardrails.sidecar.convert import ConversionError, decision_to_proto, from_struct
from guardrails.sidecar.rpc import GuardrailsService

HOLD_EVERYTHING = -1  # StreamStart.holdback: release nothing before the final check


def guard_stream_handler(service: GuardrailsService):
    """The GuardStream behaviour, answering with `service`'s policy sets,
    slots and metrics."""
    slots = service.slots

    def open_stream(first: bytes) -> tuple[StreamGuard, str]:
        msg = parse(pb.GuardStreamRequest, first)
        if msg.WhichOneof("kind") != "start":
            raise Refuse(grpc.StatusCode.INVALID_ARGUMENT,
                          "GuardStream: the first message must be `start` (policy, context, holdback)", "invalid")
        start = msg.start
        if start.holdback < HOLD_EVERYTHING:
            raise Refuse(grpc.StatusCode.INVALID_ARGUMENT,
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
                raise Refuse(grpc.StatusCode.INVALID_ARGUMENT, f"policy: {exc}", "invalid") from None
            raise Refuse(grpc.StatusCode.NOT_FOUND, str(exc), "not-found") from None
        except (ConversionError, TypeError, ValueError) as exc:
            raise Refuse(grpc.StatusCode.INVALID_ARGUMENT, f"GuardStream: {exc}", "invalid") from None

    class _Worker:
        """Runs one stream's checks on the worker threads, one at a time,
        and gives the stream's slot back once the last of them is done (a
        cancelled stream's check still runs to its end)."""

        def __init__(self) -> None:
            self.last: Any = None

        async def __call__(self, fn: Callable, *args: Any) -> Any:
            self.last = slots.pool.submit(fn, *args)
            return await asyncio.wrap_future(self.last)

        def release_slot(self) -> None:
            if self.last is not None and not self.last.done():
                self.last.add_done_callback(lambda _job: slots.release())
            else:
                slots.release()

    async def chunks(sg: StreamGuard, requests: AsyncIterator[bytes], context,
                     on_worker: _Worker) -> AsyncIterator[Any]:
        async for raw in requests:
            check_deadline(context)
            msg = parse(pb.GuardStreamRequest, raw)
            if msg.WhichOneof("kind") != "chunk":
                raise Refuse(grpc.StatusCode.INVALID_ARGUMENT,
                              "GuardStream: after `start`, send only `chunk` messages", "invalid")
            safe = await on_worker(sg.feed, msg.chunk)
            if safe:
                yield pb.GuardStreamResponse(chunk=safe)
        rest, decision = await on_worker(sg.finish)
        if rest:
            yield pb.GuardStreamResponse(chunk=rest)
        yield pb.GuardStreamResponse(decision=decision_to_proto(decision))

    async def behaviour(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        started = time.perf_counter()
        refusal: Refuse | None = None
        try:
            check_deadline(context)
            slots.take()
        except Refuse as r:
            refusal = r
        else:
            on_worker = _Worker()
            try:
                first = await anext(aiter(requests), None)
                if first is None:
                    raise Refuse(grpc.StatusCode.INVALID_ARGUMENT,
                                  "GuardStream: the stream ended before its `start` message", "invalid")
                sg, track = await on_worker(open_stream, first)
                try:
                    async for out in chunks(sg, requests, context, on_worker):
                        yield out
                    decision = sg.decision
                except PolicyViolation as stop:  # deny or escalate: the stream ends here
                    decision = stop.decision
                    yield pb.GuardStreamResponse(decision=decision_to_proto(decision))
                if decision is not None:
                    service.metrics.observe(decision, None)
                    service.metrics.streams.labels(decision.outcome.value).observe(time.perf_counter() - started)
                    service.metrics.routed.labels(track).inc()
                    log_decision(decision, track)
            except Refuse as r:
                refusal = r
            except Exception as exc:  # noqa: BLE001
                log_internal_error(exc)
                refusal = Refuse(grpc.StatusCode.INTERNAL, "internal error in the sidecar (see its log)", "")
            finally:
                on_worker.release_slot()
        if refusal is not None:
            if refusal.reason:
                service.metrics.rejected.labels(refusal.reason).inc()
            await context.abort(refusal.code, refusal.message)

    return behaviour


__all__ = ["HOLD_EVERYTHING", "guard_stream_handler"]
