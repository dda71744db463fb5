"""What every rpc does with a request before and after the engine decides.

Shared by the unary checks (:mod:`.rpc`), GuardStream (:mod:`.rpc_stream`)
and the health and reflection services (:mod:`.health`):

- :data:`REFUSALS`: every way the sidecar refuses a call, each with one
  status code, one ``google.rpc.ErrorInfo`` reason, and a ``RetryInfo``
  delay where retrying helps. :class:`Refuse` names one of them, and
  :func:`abort` ends the call with it;
- :class:`Slots`: the concurrency slots, taken without waiting (when all are
  busy the answer is RESOURCE_EXHAUSTED at once, never a queue), and the
  worker threads text checks run on, one per slot;
- :func:`check_deadline`, :func:`parse` and :func:`check_size`: a request
  whose deadline has passed is not evaluated; a message that does not parse
  is INVALID_ARGUMENT; an answer over the size limit is refused, not sent;
- :func:`limited`: a client stream's messages, each awaited at most an idle
  timeout, the whole stream at most a lifetime; :func:`drain`: what a
  refused stream's client still sends, read before the refusal;
- :func:`log_decision` and :func:`log_internal_error`: what is logged about
  a request, never its content.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import traceback
from concurrent import futures
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, NoReturn

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2

from guardrails.decision import Decision
from guardrails.sidecar.deep import TooDeep, TooManyFields, parse_deep

log = logging.getLogger("guardrails.sidecar")

#: ErrorInfo.domain of every refusal.
ERROR_DOMAIN = "guardrails.v1"


@dataclass(frozen=True, slots=True)
class Refusal:
    """One way of refusing a call: the status, the ErrorInfo reason, and how
    long to wait before retrying (None: retrying the same call will not help)."""

    code: grpc.StatusCode
    reason: str
    retry_after: float | None
    when: str


#: Every refusal, by the label of ``guardrails_rpcs_rejected_total{reason}``.
#: docs/sidecar.md's status table is this registry; a test keeps them equal.
REFUSALS: dict[str, Refusal] = {
    "malformed": Refusal(grpc.StatusCode.INVALID_ARGUMENT, "MALFORMED_MESSAGE", None,
                         "the bytes do not parse as the request message, or a string is not UTF-8"),
    "invalid": Refusal(grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST", None,
                       "a field is wrong: `tool` empty, a value nested deeper than 64 levels, a bad `session` "
                       "or `at` (ErrorInfo `field` names it)"),
    "policy-required": Refusal(grpc.StatusCode.INVALID_ARGUMENT, "POLICY_REQUIRED", None,
                               "no policy named while several are loaded"),
    "stream-protocol": Refusal(grpc.StatusCode.INVALID_ARGUMENT, "STREAM_PROTOCOL", None,
                               "a GuardStream does not begin with one `start`, then `chunk`s"),
    "policy-not-found": Refusal(grpc.StatusCode.NOT_FOUND, "POLICY_NOT_FOUND", None,
                                "no loaded policy has that name"),
    "version-not-found": Refusal(grpc.StatusCode.NOT_FOUND, "VERSION_NOT_FOUND", None,
                                 "the policy is loaded, but not the pinned version"),
    "concurrency": Refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, "CONCURRENCY_LIMIT", 0.05,
                           "every `--max-concurrency` slot is busy (answered at once, never queued)"),
    "request-too-large": Refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, "REQUEST_TOO_LARGE", None,
                                 "the request is over `--max-message-bytes`"),
    "response-too-large": Refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, "RESPONSE_TOO_LARGE", None,
                                  "the answer would be over `--max-message-bytes` (not sent, not counted "
                                  "as a decision)"),
    "health-budget": Refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, "HEALTH_BUDGET", 1.0,
                             "the health and reflection budget (`--health-budget`) is in use"),
    "watch-limit": Refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, "WATCH_LIMIT", 5.0,
                           "too many health `Watch` streams without a valid token are open"),
    "unauthenticated": Refusal(grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED", None,
                               "the bearer token is missing or wrong (unknown methods too)"),
    "deadline": Refusal(grpc.StatusCode.DEADLINE_EXCEEDED, "DEADLINE_PASSED", None,
                        "the deadline passed before evaluation started"),
    "stream-idle": Refusal(grpc.StatusCode.DEADLINE_EXCEEDED, "STREAM_IDLE_TIMEOUT", None,
                           "a stream sent nothing for `--stream-idle-timeout` seconds"),
    "stream-lifetime": Refusal(grpc.StatusCode.DEADLINE_EXCEEDED, "STREAM_MAX_LIFETIME", None,
                               "a stream (GuardStream, Watch, reflection) reached `--stream-max-lifetime`"),
    "unimplemented": Refusal(grpc.StatusCode.UNIMPLEMENTED, "UNKNOWN_METHOD", None,
                             "no such method (asked with a valid token, or none is configured)"),
    "internal": Refusal(grpc.StatusCode.INTERNAL, "INTERNAL", None,
                        "a bug in the sidecar; its log has the exception's type and frames"),
}


class Refuse(Exception):
    """Answer the call with the refusal `kind` (a key of :data:`REFUSALS`)
    instead of a decision; `metadata` goes into the ErrorInfo."""

    def __init__(self, kind: str, message: str, **metadata: str):
        super().__init__(message)
        self.kind, self.message, self.metadata = kind, message, metadata
        self.refusal = REFUSALS[kind]

    @property
    def code(self) -> grpc.StatusCode:
        return self.refusal.code


def status_details(r: Refuse) -> bytes:
    """The ``grpc-status-details-bin`` trailer: a google.rpc.Status carrying
    ErrorInfo, and RetryInfo when a retry helps."""
    info = error_details_pb2.ErrorInfo(reason=r.refusal.reason, domain=ERROR_DOMAIN,
                                     metadata={k: v for k, v in r.metadata.items() if v})
    details = [info]
    if r.refusal.retry_after is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(r.refusal.retry_after * 1e9))
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
    packed = []
    for d in details:
        a = any_pb2.Any()
        a.Pack(d)
        packed.append(a)
    return status_pb2.Status(code=r.code.value[0], message=r.message, details=packed).SerializeToString()


async def abort(context: grpc.aio.ServicerContext, r: Refuse) -> NoReturn:
    """End the call with the refusal `r`. When the caller has already gone
    (its deadline passed, or it cancelled), there is no one to tell: the
    call ends as cancelled, quietly, where gRPC would log the failed send
    as an ERROR with a traceback."""
    try:
        await context.abort(r.code, r.message, trailing_metadata=(("grpc-status-details-bin", status_details(r)),))
    except grpc.aio.InternalError:  # ExecuteBatchError: the status could not be sent
        raise asyncio.CancelledError from None
    raise AssertionError("unreachable: abort raises")  # pragma: no cover


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
        raise Refuse("concurrency", f"the sidecar is serving its limit of {self.limit} concurrent "
                     "requests; retry with backoff", limit=str(self.limit))

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
    """A response's bytes; an answer already serialized (:mod:`.wire`) passes as is."""
    return message if type(message) is bytes else message.SerializeToString()


def parse(cls: Any, raw: bytes) -> Any:
    """`raw` as a `cls` message; gRPC hands the handlers bytes, so a malformed
    message gets INVALID_ARGUMENT naming it instead of gRPC's generic error.

    protobuf's own parser stops at 100 message levels, about 33 levels of a
    JSON value in a Struct; such a message is read again by :mod:`.deep`,
    so values nest as deeply on the wire as in process (64 levels)."""
    try:
        return cls.FromString(raw)
    except DecodeError:
        pass
    try:
        return parse_deep(cls, raw)
    except TooDeep as exc:
        raise Refuse("invalid", f"{cls.DESCRIPTOR.name}: {exc}", field=exc.field) from None
    except TooManyFields as exc:
        raise Refuse("malformed", f"{cls.DESCRIPTOR.name}: {exc}") from None
    except (DecodeError, ValueError, RecursionError):
        raise Refuse("malformed", f"malformed {cls.DESCRIPTOR.full_name}: the bytes do not parse as that "
                     "message (or a string field is not valid UTF-8)") from None


def check_size(message: Any, limit: int) -> None:
    """Refuse an answer gRPC would refuse to send (RESOURCE_EXHAUSTED either
    way; this one is counted, and the decision is not counted as delivered)."""
    size = len(message) if type(message) is bytes else message.ByteSize()
    if size > limit:
        raise Refuse("response-too-large", f"the answer is {size} bytes, over the sidecar's --max-message-bytes "
                     f"{limit}; ask for less (explain off, fewer chunks) or raise the limit", limit=str(limit))


def check_deadline(context: grpc.ServicerContext) -> None:
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        raise Refuse("deadline", "the deadline passed before evaluation started")


async def limited(messages: AsyncIterator[Any], idle: float, ends_at: float) -> AsyncIterator[Any]:
    """`messages`, refusing the stream when the next one takes longer than
    `idle` seconds (stream-idle), or at `ends_at` (time.monotonic(); stream-lifetime)."""
    it = aiter(messages)
    while True:
        left = ends_at - time.monotonic()
        if left <= 0:
            raise Refuse("stream-lifetime", "the stream reached the sidecar's --stream-max-lifetime; "
                         "open a new one")
        wait = min(idle, left)
        try:
            async with asyncio.timeout(wait):
                item = await anext(it)
        except StopAsyncIteration:
            return
        except TimeoutError:
            if wait < idle:
                raise Refuse("stream-lifetime", "the stream reached the sidecar's --stream-max-lifetime; "
                             "open a new one") from None
            raise Refuse("stream-idle", f"the stream sent nothing for {idle:g} s (the sidecar's "
                         "--stream-idle-timeout)") from None
        yield item


#: A stream refused before it is read is first read to its end, for at most
#: this long (and this many messages), so the client sees the refusal.
DRAIN_SECONDS = 5.0
DRAIN_MESSAGES = 64


async def drain(messages: AsyncIterator[Any]) -> None:
    """Read and drop what a refused stream's client is still sending.

    Ending a call while the client still writes to it races in some gRPC
    clients (Python's asyncio client reports INTERNAL instead of the status
    the server sent); a well-behaved client half-closes within the bound."""
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            n = 0
            async for _ in messages:
                n += 1
                if n >= DRAIN_MESSAGES:
                    return
    except (TimeoutError, grpc.RpcError, asyncio.InvalidStateError):
        return


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


__all__ = ["DRAIN_MESSAGES", "DRAIN_SECONDS", "ERROR_DOMAIN", "REFUSALS", "Refusal", "Refuse", "Slots", "abort",
           "check_deadline", "check_size", "drain", "limited", "log_decision", "log_internal_error", "parse", "serialize", "status_details"]
