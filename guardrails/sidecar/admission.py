"""What every rpc does with a request before and after the engine decides.

Shared by the unary checks (:mod:`.rpc`) and GuardStream (:mod:`.rpc_stream`):

- :class:`Refuse`: answer with a gRPC status instead of a decision;
- :class:`Slots`: the concurrency slots, taken without waiting (when all are
  busy the answer is RESOURCE_EXHAUSTED at once, never a queue), and the
  worker threads text checks run on, one per slot;
- :func:`check_deadline` and :func:`parse`: a request whose deadline has
  passed is not evaluated; a message that does not parse is INVALID_ARGUMENT;
- :func:`log_decision` and :func:`log_internal_error`: what is logged about
  a request, never its content.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import traceback
from concurrent import futures
from typing import Any, Callable

import grpc
from google.protobuf.message import DecodeError

from guardrails.decision import Decision

log = logging.getLogger("guardrails.sidecar")


class Refuse(Exception):
    """Answer the RPC with this status instead of a decision; `reason` labels
    the rejected-requests metric."""

    def __init__(self, code: grpc.StatusCode, message: str, reason: str):
        super().__init__(message)
        self.code, self.message, self.reason = code, message, reason


class Slots:
    """At most `limit` requests at a time, and a thread pool of that size."""

    def __init__(self, limit: int):
        self.limit = limit
        self.busy = 0  # slots taken; read by the inflight gauge at scrape time
        self._lock = threading.Lock()
        # One thread per slot, so a slot never waits for a thread.
        self.pool = futures.ThreadPoolExecutor(max_workers=limit, thread_name_prefix="guardrails-rpc")

    def take(self) -> None:
        """A concurrency slot, taken without waiting, or RESOURCE_EXHAUSTED."""
        with self._lock:
            if self.busy < self.limit:
                self.busy += 1
                return
        raise Refuse(grpc.StatusCode.RESOURCE_EXHAUSTED,
                     f"the sidecar is serving its limit of {self.limit} concurrent "
                     "requests; retry with backoff", "concurrency")

    def release(self) -> None:
        with self._lock:
            self.busy -= 1

    async def offload(self, fn: Callable, *args: Any) -> Any:
        """Run `fn(*args)` on a worker thread, holding a slot until it has
        finished, even when the caller stops waiting for it."""
        self.take()
        try:
            job = self.pool.submit(fn, *args)
        except BaseException:
            self.release()
            raise
        # Called once, whether the job ran or was cancelled before it started.
        job.add_done_callback(lambda _job: self.release())
        return await asyncio.wrap_future(job)


def serialize(message: Any) -> bytes:
    return message.SerializeToString()


def parse(cls: Any, raw: bytes) -> Any:
    """`raw` as a `cls` message; gRPC hands the handlers bytes, so a malformed
    message gets INVALID_ARGUMENT naming it instead of gRPC's generic error."""
    try:
        return cls.FromString(raw)
    except DecodeError:
        raise Refuse(grpc.StatusCode.INVALID_ARGUMENT,
                     f"malformed {cls.DESCRIPTOR.full_name}: the bytes do not parse as that message "
                     "(or a string field is not valid UTF-8)", "invalid") from None
    except RecursionError:
        raise Refuse(grpc.StatusCode.INVALID_ARGUMENT,
                     f"malformed {cls.DESCRIPTOR.full_name}: nested too deeply", "invalid") from None


def check_deadline(context: grpc.ServicerContext) -> None:
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        raise Refuse(grpc.StatusCode.DEADLINE_EXCEEDED, "the deadline passed before evaluation started",
                     "deadline")


def log_decision(d: Decision, track: str) -> None:
    if log.isEnabledFor(logging.DEBUG):
        p = d.policy
        log.debug("decision %s %s %s@%s [%s] -> %s rules=%s errors=%s %dus", d.decision_id, d.stage, p.name,
                  p.version, track, d.outcome.value, ",".join(d.rule_ids) or "-",
                  ",".join(e.code for e in d.errors) or "-", d.elapsed_us)


def log_internal_error(exc: BaseException) -> None:
    # The type and the frames, not the message: a message may quote the request.
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("internal error (%s) while serving a request:\n%s", type(exc).__name__, frames)


__all__ = ["Refuse", "Slots", "check_deadline", "log_decision", "log_internal_error", "parse", "serialize"]
