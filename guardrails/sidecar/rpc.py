"""The unary rpc handlers: the engine behind gRPC.

:class:`GuardrailsService` answers the checks and ``ListPolicies``;
:mod:`.rpc_stream` answers ``GuardStream`` with the same service, and
:mod:`.server` assembles both into the gRPC server. Each check runs the
same :class:`~guardrails.engine.Engine` the library uses, so a request gets
the same decision either way.

Request path, in order (each step can refuse the request; every refusal
is one kind of :data:`~.admission.REFUSALS`, with its status code and
ErrorInfo reason):

1. the bearer token, when configured (:mod:`.auth`; health checks exempt);
2. the size: a request over ``--max-message-bytes`` is refused and counted.
   gRPC itself cuts off one over twice that while it arrives, and answers
   RESOURCE_EXHAUSTED; the handler still counts that refusal (reason
   ``request-too-large``), as it reads the request itself (see
   :meth:`GuardrailsService.unary_handlers`);
3. a concurrency slot (:mod:`.admission`), taken without waiting: when
   all are busy the answer is RESOURCE_EXHAUSTED at once, never a queue;
4. the deadline: a request whose deadline has already passed is not
   evaluated (DEADLINE_EXCEEDED);
5. parsing (INVALID_ARGUMENT, naming the message and the field);
6. choosing the engine snapshot: active, or the canary candidate. The
   request uses that one snapshot to the end (:mod:`.reload`);
7. the decision; an answer over the size limit is refused rather than
   sent, and is then not counted as a decision;
8. its metrics, the decision log (inside the engine) and, in shadow mode,
   a copy of the request for the candidate (:mod:`.rollout`).

A small tool call is decided on the event loop; text checks, tool results
and tool calls that wait on a shared (Redis) session store run on worker
threads (see :meth:`GuardrailsService._rpc`). Messages are parsed by the
handlers rather than by gRPC, so a malformed message gets INVALID_ARGUMENT with a
clear message instead of gRPC's generic error. Nothing logged contains
request content: decisions are logged by id, outcome, rule ids and error
codes.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any, Callable

import grpc

from guardrails.decision import Decision
from guardrails.diagnostics import RuntimeCode
from guardrails.engine import Engine, UnknownPolicyError
from guardrails.sidecar import admission
from guardrails.sidecar._proto import guardrails_pb2 as pb
from guardrails.sidecar.admission import (
    REFUSALS,
    Refuse,
    Slots,
    abort,
    check_deadline,
    check_size,
    log_decision,
    log_internal_error,
    parse,
    serialize,
)
from guardrails.sidecar.config import ServerConfig
from guardrails.sidecar.convert import ConversionError, request_to_engine
from guardrails.sidecar.metrics import Metrics
from guardrails.sidecar.reload import PolicySet, Snapshot
from guardrails.sidecar.rollout import Canary, ShadowRunner, has_policy
from guardrails.sidecar.tracing import RpcTracing
from guardrails.sidecar.wire import decision_bytes, read_tool_call

SERVICE = "guardrails.v1.Guardrails"
# Whether decisions are logged (log_decision logs at DEBUG); asked before the call.
debug_logged = functools.partial(admission.log.isEnabledFor, logging.DEBUG)
# A CheckToolCall message smaller than this is decided on the event loop.
INLINE_TOOL_CALL_BYTES = 16 * 1024


class GuardrailsService:
    """The rpc handlers. Holds no policy state of its own: it reads the
    policy sets' snapshots, one per request."""

    def __init__(self, active: PolicySet, candidate: PolicySet | None, config: ServerConfig, metrics: Metrics,
                 shadow: ShadowRunner | None):
        self.active = active
        self.candidate = candidate
        self.config = config
        self.metrics = metrics
        self.shadow = shadow
        self.canary = Canary(config.canary) if config.canary is not None else None
        # A shared store answers over the network: tool calls that use it leave the event loop.
        self.remote_state = metrics.state.remote
        # Every request holds a slot; text checks run on the slots' threads.
        slots = self.slots = Slots(config.max_concurrency)
        metrics.inflight.set_function(lambda: slots.busy)
        self.tracing = RpcTracing(config.tracer_provider)
        self._routed: dict[str, Any] = {}  # guardrails_rollout_routed_total's children, made on first use

    # -- registration
    def unary_handlers(self) -> dict[str, grpc.RpcMethodHandler]:
        """The unary rpcs by method name (GuardStream is :mod:`.rpc_stream`'s)."""

        def unary(name: str, fn: Callable, **how: Any) -> grpc.RpcMethodHandler:
            # No deserializer: the handler gets the bytes and parses them itself.
            # Registered as taking a stream of requests (the wire is the same
            # for a caller), so the handler runs even when gRPC cut the one
            # message off for being over twice the limit, and counts that.
            counter = self.metrics.rpc(SERVICE, name, "unary")
            return grpc.stream_unary_rpc_method_handler(self._rpc(fn, counter, **how),
                                                        response_serializer=serialize)

        def check(stage: str, cls: Any) -> Callable:
            return self.tracing.wrap(stage, functools.partial(self.check, stage, cls), Later)

        return {
            "CheckInput": unary("CheckInput", check("input", pb.CheckInputRequest)),
            "CheckOutput": unary("CheckOutput", check("output", pb.CheckOutputRequest)),
            "CheckRetrieval": unary("CheckRetrieval", check("retrieval", pb.CheckRetrievalRequest)),
            "CheckToolCall": unary("CheckToolCall", check("tool_call", pb.CheckToolCallRequest),
                                   inline_below=INLINE_TOOL_CALL_BYTES),
            "CheckToolResult": unary("CheckToolResult", check("tool_result", pb.CheckToolResultRequest)),
            "ListPolicies": unary("ListPolicies", self.list_policies, slot=False, inline_below=None),
        }

    def _rpc(self, fn: Callable, counter: Any, *, slot: bool = True, inline_below: int | None = 0) -> Callable:
        """Wrap a handler ``fn(raw, context)``: reading the call's one
        message, size, slot, deadline, where it runs, refusals as status
        codes, the per-rpc counters, and no unexpected exception text (which
        may quote a request) in the answer.

        A unary call with no message is one gRPC cut off while it arrived
        (over twice ``--max-message-bytes``: gRPC has answered
        RESOURCE_EXHAUSTED already) or, from a hand-made client, one that
        sent none. Either is a ``request-too-large`` refusal, counted before
        anything is awaited, since gRPC may end the call at the next await.

        A request smaller than `inline_below` bytes is answered on the event
        loop (a tool call decides in microseconds: handing it to a thread
        would cost more than deciding it); `None` means always inline. Any
        other request runs on the worker threads, so a long text check never
        holds up the loop, health checks included. An inline handler may
        answer :class:`Later` instead: the rest of its work waits on the
        network (a Redis round trip), so it goes to a worker thread too.
        """
        take_slot, release_slot, offload = self.slots.take, self.slots.release, self.slots.offload
        limit = self.config.max_message_bytes
        rejected = self.metrics.rejected

        def to_the_end(raw: bytes, context: grpc.ServicerContext) -> Any:
            out = fn(raw, context)
            return out() if isinstance(out, Later) else out

        async def behaviour(_requests: Any, context: grpc.aio.ServicerContext) -> Any:
            raw = await context.read()
            counter.started()
            if raw is grpc.aio.EOF:
                rejected.labels("request-too-large").inc()
                counter.handled(REFUSALS["request-too-large"].code.name)
                await abort(context, Refuse("request-too-large", f"no request arrived: over twice the sidecar's "
                                            f"--max-message-bytes {limit}, or none was sent", limit=str(limit)))
            try:
                if len(raw) > limit:
                    raise Refuse("request-too-large", f"the request is {len(raw)} bytes, over the sidecar's "
                                 f"--max-message-bytes {limit}", limit=str(limit))
                check_deadline(context)
                if inline_below is None or len(raw) < inline_below:
                    if not slot:
                        out = fn(raw, context)
                    else:
                        take_slot()
                        try:
                            out = fn(raw, context)
                        finally:
                            release_slot()
                        if isinstance(out, Later):
                            out = await offload(out)
                else:
                    out = await offload(to_the_end, raw, context)
            except Refuse as r:
                refusal = r
            except asyncio.CancelledError:  # the caller left (cancelled, or its deadline passed)
                counter.handled("CANCELLED")
                raise
            except Exception as exc:  # noqa: BLE001
                log_internal_error(exc)
                refusal = Refuse("internal", "internal error in the sidecar (see its log)")
            else:
                counter.handled("OK")
                return out
            rejected.labels(refusal.kind).inc()
            counter.handled(refusal.code.name)
            await abort(context, refusal)

        return behaviour

    # -- the pieces every rpc uses
    def choose(self, policy: str | None, key: Callable[[], bytes]) -> tuple[Engine, str, Engine | None]:
        """(the engine that answers, which set it is, the engine that shadows)."""
        active: Snapshot = self.active.snapshot  # type: ignore[assignment]
        cand: Snapshot | None = self.candidate.snapshot if self.candidate is not None else None
        if cand is None:
            return active.engine, "active", None
        if policy and "@" in policy:
            # A pinned version is answered by whichever set has it.
            if not has_policy(active.engine, policy) and has_policy(cand.engine, policy):
                return cand.engine, "candidate", None
            return active.engine, "active", None
        if self.canary is not None:
            if has_policy(cand.engine, policy) and self.canary.picks_candidate(key()):
                return cand.engine, "candidate", None
            return active.engine, "active", None
        return active.engine, "active", cand.engine

    def decide(self, engine: Engine, stage: str, request: dict, policy: str | None, **options: Any) -> Decision:
        try:
            if stage == "tool_call":  # what Engine.check does for it, without the dispatch
                d = engine.check_tool_call(request["tool"], request["args"], principal=request["principal"],
                                           context=request["context"], policy=policy, session=request.get("session"),
                                           at=request.get("at"), **options)
            else:
                d = engine.check(stage, request, policy=policy, **options)
        except UnknownPolicyError as exc:
            raise unknown_policy(engine, policy, exc) from None
        if d.errors:  # (a refused request carries its error)
            invalid = _invalid_request(d)
            if invalid is not None:
                raise Refuse("invalid", invalid, field=_field_named(invalid))
        return d

    # -- the rpcs
    def check(self, stage: str, cls: Any, raw: bytes, context: grpc.ServicerContext) -> "bytes | Later":
        started = time.perf_counter()
        # A tool call in the plain form is read straight from its bytes
        # (wire.read_tool_call); anything else, malformed messages included,
        # is parsed by protobuf and converted.
        read = read_tool_call(raw) if stage == "tool_call" else None
        if read is not None:
            request, policy, explain, request_key, args_bytes = read
            msg = None
        else:
            msg = parse(cls, raw)
            try:
                request, policy = request_to_engine(stage, msg)
            except ConversionError as exc:
                raise Refuse("invalid", f"{cls.DESCRIPTOR.name}: {exc}", field=_field_named(str(exc))) from None
            explain, request_key, args_bytes = msg.explain, msg.request_key, None

        if self.candidate is None:  # one set: it answers (what choose() gives then)
            engine, track, shadow_engine = self.active.snapshot.engine, "active", None  # type: ignore[union-attr]
        else:
            def key() -> bytes:  # the canary's routing key
                if request_key:
                    return request_key.encode()
                whole = msg if msg is not None else parse(cls, raw)
                return (policy or "").encode() + b"\0" + whole.SerializeToString(deterministic=True)

            engine, track, shadow_engine = self.choose(policy, key)
        if self.remote_state and waits_on_store(engine, stage, policy, request):
            return Later(self._finish, stage, explain, request, args_bytes, policy, engine, track, shadow_engine,
                         started)
        return self._finish(stage, explain, request, args_bytes, policy, engine, track, shadow_engine, started)

    def _finish(self, stage: str, explain: bool, request: dict, args_bytes: bytes | None, policy: str | None,
                engine: Engine, track: str, shadow_engine: Engine | None, started: float) -> bytes:
        """The decision, counted and logged, as the serialized answer."""
        d = self.decide(engine, stage, request, policy, explain=explain)
        out = decision_bytes(d, request, args_bytes)
        if len(out) > self.config.max_message_bytes:
            check_size(out, self.config.max_message_bytes)  # before counting: an answer not sent is no decision
        routed = self._routed.get(track)
        if routed is None:
            routed = self._routed[track] = self.metrics.routed.labels(track)
        self.metrics.observe(d, time.perf_counter() - started, routed)
        if shadow_engine is not None and self.shadow is not None:
            self.shadow.submit(stage, request, policy, d, shadow_engine)
        if debug_logged():
            log_decision(d, track)
        return out

    def list_policies(self, raw: bytes, context: grpc.ServicerContext) -> pb.ListPoliciesResponse:
        parse(pb.ListPoliciesRequest, raw)
        resp = pb.ListPoliciesResponse(canary_percent=self.config.canary or 0.0)
        resp.rollout = {"shadow": pb.ROLLOUT_MODE_SHADOW, "canary": pb.ROLLOUT_MODE_CANARY}.get(
            self.config.rollout or "", pb.ROLLOUT_MODE_UNSPECIFIED)
        _fill_status(resp.active, self.active)
        if self.candidate is not None:
            _fill_status(resp.candidate, self.candidate)
        state = self.metrics.state
        resp.state.kind, resp.state.address = state.kind, state.address
        errors, last_error, last_at = state.errors()
        resp.state.errors, resp.state.last_error = errors, last_error
        _timestamp(resp.state.last_error_at, last_at)
        return resp


class Later(functools.partial):
    """The rest of a check, to run on a worker thread: it waits on a shared
    session store, and a round trip (or a time-out while Redis is away) must
    not hold up the event loop."""


def waits_on_store(engine: Engine, stage: str, policy: str | None, request: dict) -> bool:
    """Whether deciding `request` may touch the session store: the stage's
    rules read or write state, or the request names a session. (A slight
    over-estimate is harmless: the request only runs on a thread.)"""
    try:
        graph = engine.get_policy(policy).stages.get(stage)
    except UnknownPolicyError:
        return False  # refused by decide(), at once
    needs = getattr(graph, "needs", None)
    return needs is not None and (needs.any or request.get("session") is not None)


def unknown_policy(engine: Engine, policy: str | None, exc: Exception) -> Refuse:
    """The refusal for a policy the engine does not have: none named while
    several are loaded, no such name, or no such version of a loaded one."""
    if policy is None:
        return Refuse("policy-required", f"policy: {exc}", field="policy")
    name, at, _version = policy.partition("@")
    if at and has_policy(engine, name):
        return Refuse("version-not-found", str(exc), policy=name)
    return Refuse("policy-not-found", str(exc), policy=name)


def _field_named(message: str) -> str:
    """The request field a refusal's message starts with ("args must be...",
    "chunks[2].metadata: ..."), for ErrorInfo's `field`."""
    head = message.split(" ", 1)[0].rstrip(":,")
    return head if head and all(c.isalnum() or c in "_.[]" for c in head) else ""


def _invalid_request(d: Decision) -> str | None:
    """The engine answers a malformed request with a deny carrying the error
    `invalid-request`; over gRPC that is INVALID_ARGUMENT."""
    err = d.request_error
    return err.message if err is not None and err.code == RuntimeCode.INVALID_REQUEST else None


def _timestamp(ts: Any, seconds: float | None) -> None:
    if seconds is not None:
        ts.FromNanoseconds(int(seconds * 1e9))


def _fill_status(out: pb.PolicySetStatus, ps: PolicySet) -> None:
    snap, status = ps.snapshot, ps.status
    out.source = str(ps.path)
    if snap is not None:
        out.generation = snap.generation
        _timestamp(out.loaded_at, snap.loaded_at)
        engine = snap.engine
        for p in sorted(engine.policies, key=lambda p: (p.name, p.version)):
            out.policies.add(name=p.name, version=p.version, digest=p.digest,
                             newest=engine.get_policy(p.name) is p)
    out.reload.ok = status.ok
    _timestamp(out.reload.attempted_at, status.attempted_at)
    out.reload.error = status.error
    out.reload.successes = status.successes
    out.reload.failures = status.failures
