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

A stream holds one concurrency slot from start to end, so it may not hold
it forever: a client that sends nothing for ``--stream-idle-timeout``
seconds, or a stream older than ``--stream-max-lifetime``, is ended with
DEADLINE_EXCEEDED (STREAM_IDLE_TIMEOUT, STREAM_MAX_LIFETIME) and the slot
comes back. The checks run on the worker threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Callable

import grpc

from guardrails.detectors.grounding.sources import read_sources
from guardrails.engine import UnknownPolicyError
from guardrails.guard.backend import PolicyViolation
from guardrails.guard.stream_guard import StreamGuard
from guardrails.sidecar._proto import guardrails_pb2 as pb
from guardrails.sidecar.admission import (
    Refuse,
    abort,
    check_deadline,
    check_size,
    drain,
    limited,
    log_decision,
    log_internal_error,
    parse,
)
from guardrails.sidecar.convert import ConversionError, decision_to_proto, from_struct, sources_to_engine
from guardrails.sidecar.rpc import SERVICE, GuardrailsService, unknown_policy
from guardrails.sidecar.tracing import stream_ended

HOLD_EVERYTHING = -1  # StreamStart.holdback: release nothing before the final check


class _Ends:
    """How one stream ended, for its span: the text received, the last
    decision sent, or the refusal it was answered with."""

    __slots__ = ("decision", "refusal", "seen")

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.decision: Any = None
        self.refusal: Refuse | None = None


def guard_stream_handler(service: GuardrailsService):
    """The GuardStream behaviour, answering with `service`'s policy sets,
    slots and metrics."""
    slots = service.slots
    config = service.config
    counter = service.metrics.rpc(SERVICE, "GuardStream", "bidi_stream")

    def open_stream(first: bytes) -> tuple[StreamGuard, str]:
        msg = parse(pb.GuardStreamRequest, first)
        if msg.WhichOneof("kind") != "start":
            raise Refuse("stream-protocol", "GuardStream: the first message must be `start` (policy, context, "
                         "holdback)")
        start = msg.start
        if start.holdback < HOLD_EVERYTHING:
            raise Refuse("invalid", f"GuardStream: holdback must be >= -1, not {start.holdback}", field="holdback")
        holdback: float | None = {0: None, HOLD_EVERYTHING: float("inf")}.get(start.holdback, start.holdback)
        policy = start.policy or None
        context = from_struct(start.context) if start.HasField("context") else None
        sources = None
        if start.sources:
            sources, bad = read_sources(sources_to_engine(start.sources))
            if bad:
                raise Refuse("invalid", f"GuardStream: {bad}", field="sources")
        key = start.request_key.encode() if start.request_key else first
        engine, track, _shadow = service.choose(policy, lambda: key)  # streams are not shadowed
        try:
            return StreamGuard(engine, policy=policy, context=context, holdback=holdback,
                               session=start.session or None, sources=sources), track
        except UnknownPolicyError as exc:
            raise unknown_policy(engine, policy, exc) from None
        except (ConversionError, TypeError, ValueError) as exc:
            raise Refuse("invalid", f"GuardStream: {exc}") from None

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

    def answer(message: Any) -> Any:
        check_size(message, config.max_message_bytes)
        return message

    async def chunks(sg: StreamGuard, requests: AsyncIterator[bytes], context, on_worker: _Worker,
                     seen: list[str]) -> AsyncIterator[Any]:
        async for raw in requests:
            check_deadline(context)
            msg = parse(pb.GuardStreamRequest, raw)
            if msg.WhichOneof("kind") != "chunk":
                raise Refuse("stream-protocol", "GuardStream: after `start`, send only `chunk` messages")
            seen.append(msg.chunk)
            safe = await on_worker(sg.feed, msg.chunk)
            if safe:
                yield answer(pb.GuardStreamResponse(chunk=safe))
        rest, decision = await on_worker(sg.finish)
        if rest:
            yield answer(pb.GuardStreamResponse(chunk=rest))
        # The final decision's spans count from the start of the whole text.
        yield answer(pb.GuardStreamResponse(decision=decision_to_proto(decision, {"text": "".join(seen)})))

    async def behaviour(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        span = service.tracing.stream(context)  # None without a tracer
        ends = _Ends()
        failure: BaseException | None = None
        try:
            async for out in served(requests, context, ends):
                yield out
        except BaseException as exc:  # a refusal, or a client that left
            failure = ends.refusal or exc
            raise
        finally:
            stream_ended(span, ends.decision, failure or ends.refusal, len(ends.seen))

    async def served(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext,
                     ends: _Ends) -> AsyncIterator[Any]:
        counter.started()
        started = time.perf_counter()
        refusal: Refuse | None = None
        try:
            check_deadline(context)
            slots.take()
        except Refuse as r:
            refusal = r
            await drain(requests)
        else:
            on_worker = _Worker()
            messages = limited(requests, config.stream_idle_timeout, time.monotonic() + config.stream_max_lifetime)
            try:
                first = await anext(messages, None)
                if first is None:
                    raise Refuse("stream-protocol", "GuardStream: the stream ended before its `start` message")
                sg, track = await on_worker(open_stream, first)
                try:
                    async for out in chunks(sg, messages, context, on_worker, ends.seen):
                        if out.WhichOneof("kind") == "decision":
                            ends.decision = out.decision
                        yield out
                    decision = sg.decision
                except PolicyViolation as stop:  # deny or escalate: the stream ends here
                    decision = stop.decision
                    ends.decision = decision_to_proto(decision)
                    yield answer(pb.GuardStreamResponse(decision=ends.decision))
                if decision is not None:
                    service.metrics.observe(decision, None)
                    service.metrics.streams.labels(decision.outcome.value).observe(time.perf_counter() - started)
                    service.metrics.routed.labels(track).inc()
                    log_decision(decision, track)
            except Refuse as r:
                refusal = r
            except asyncio.CancelledError:
                counter.handled("CANCELLED")
                raise
            except Exception as exc:  # noqa: BLE001
                log_internal_error(exc)
                refusal = Refuse("internal", "internal error in the sidecar (see its log)")
            finally:
                on_worker.release_slot()
        if refusal is None:
            counter.handled("OK")
            return
        service.metrics.rejected.labels(refusal.kind).inc()
        counter.handled(refusal.code.name)
        ends.refusal = refusal  # the span records the refusal's kind, not the abort's exception
        await abort(context, refusal)

    return behaviour


__all__ = ["HOLD_EVERYTHING", "guard_stream_handler"]
