"""Health and reflection, on a small budget of their own, and the answer to
a method the sidecar does not serve.

gRPC's own cap on concurrent rpcs counts every call alike, so long-lived
health ``Watch`` streams (which need no token) could once fill it and lock
out every check and health ``Check`` itself. The sidecar no longer sets that
cap. Checks are bounded by the concurrency slots (:mod:`.admission`);
health and reflection calls by :class:`HealthBudget`:

- at most ``--health-budget`` health and reflection calls at once;
- streams (``Watch``, reflection) take at most all but
  :data:`CHECK_RESERVE` of it, so a ``Check`` (a liveness probe) always
  finds room;
- ``Watch`` streams without a valid token take at most half of it;
- every stream ends at ``--stream-max-lifetime``, and a reflection stream
  that sends nothing for ``--stream-idle-timeout`` ends too.

Refusals are RESOURCE_EXHAUSTED with the reason HEALTH_BUDGET or
WATCH_LIMIT (and a RetryInfo). Reflection is served as both
``grpc.reflection.v1`` and ``grpc.reflection.v1alpha``: the two protocols
are the same messages under two package names, so one servicer answers
both, and the v1 descriptors are derived from the v1alpha ones at start.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_health.v1 import health, health_pb2
from grpc_reflection.v1alpha import reflection, reflection_pb2

from guardrails.sidecar.admission import Refuse, abort, drain, limited, parse, serialize
from guardrails.sidecar.config import CHECK_RESERVE, ServerConfig

HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
REFLECTION_V1ALPHA = reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"].full_name
REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"


class HealthBudget:
    """Health and reflection calls in progress. Used on the event loop only."""

    def __init__(self, limit: int):
        self.limit = limit
        self.stream_limit = max(1, limit - CHECK_RESERVE)
        self.watch_limit = max(1, limit // 2)  # Watch streams without a valid token
        self.busy = self.streams = self.anonymous_watches = 0

    def take(self, *, stream: bool = False, anonymous_watch: bool = False) -> None:
        if self.busy >= self.limit or (stream and self.streams >= self.stream_limit):
            raise Refuse("health-budget", f"the sidecar is serving its health and reflection budget of {self.limit} "
                         "calls; retry shortly", limit=str(self.limit))
        if anonymous_watch and self.anonymous_watches >= self.watch_limit:
            raise Refuse("watch-limit", f"{self.watch_limit} health Watch streams without a valid token are open "
                         "already; use Check, or send the token", limit=str(self.watch_limit))
        self.busy += 1
        self.streams += stream
        self.anonymous_watches += anonymous_watch

    def release(self, *, stream: bool = False, anonymous_watch: bool = False) -> None:
        self.busy -= 1
        self.streams -= stream
        self.anonymous_watches -= anonymous_watch


def _code(context: Any) -> str:
    code = context.code()
    return code.name if code is not None else "UNKNOWN"


class HealthAndReflection:
    """The generic handlers for health, reflection (v1 and v1alpha) and
    unknown methods, sharing one :class:`HealthBudget`."""

    def __init__(self, config: ServerConfig, metrics: Any, auth: Any, service_names: tuple[str, ...]):
        self.config = config
        self.metrics = metrics
        self.auth = auth
        self.budget = HealthBudget(config.health_budget)
        metrics.health_in_use.set_function(lambda: self.budget.busy)
        self.servicer = health.aio.HealthServicer()
        _register_reflection_v1()
        self.names = (*service_names, HEALTH_SERVICE, REFLECTION_V1ALPHA, REFLECTION_V1)
        self.reflection = reflection.aio.ReflectionServicer(self.names)

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        """Health, both reflections, then the catch-all for unknown methods (last)."""
        m = self.metrics
        health_methods = {
            "Check": grpc.unary_unary_rpc_method_handler(self._check(m.rpc(HEALTH_SERVICE, "Check", "unary")),
                                                         response_serializer=serialize),
            "Watch": grpc.unary_stream_rpc_method_handler(
                self._watch(m.rpc(HEALTH_SERVICE, "Watch", "server_stream")), response_serializer=serialize),
        }
        out = [grpc.method_handlers_generic_handler(HEALTH_SERVICE, health_methods)]
        for name in (REFLECTION_V1ALPHA, REFLECTION_V1):
            info = grpc.stream_stream_rpc_method_handler(
                self._reflect(m.rpc(name, "ServerReflectionInfo", "bidi_stream")),
                request_deserializer=reflection_pb2.ServerReflectionRequest.FromString, response_serializer=serialize)
            out.append(grpc.method_handlers_generic_handler(name, {"ServerReflectionInfo": info}))
        out.append(UnknownMethods(m))
        return out

    async def set_serving(self, names: tuple[str, ...]) -> None:
        for name in names:
            await self.servicer.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def shutting_down(self) -> None:
        await self.servicer.enter_graceful_shutdown()  # NOT_SERVING from now on

    def _check(self, counter: Any):
        budget, servicer = self.budget, self.servicer

        async def check(raw: bytes, context: grpc.aio.ServicerContext):
            counter.started()
            try:
                budget.take()
            except Refuse as r:
                counter.handled(r.code.name)
                self.metrics.rejected.labels(r.kind).inc()
                await abort(context, r)
            try:
                out = await servicer.Check(parse(health_pb2.HealthCheckRequest, raw), context)
            except Refuse as r:
                counter.handled(r.code.name)
                self.metrics.rejected.labels(r.kind).inc()
                await abort(context, r)
            except BaseException:
                counter.handled(_code(context))  # NOT_FOUND for an unknown service
                raise
            finally:
                budget.release()
            counter.handled("OK")
            return out

        return check

    def _watch(self, counter: Any):
        budget, servicer, lifetime = self.budget, self.servicer, self.config.stream_max_lifetime

        async def watch(raw: bytes, context: grpc.aio.ServicerContext):
            counter.started()
            anonymous = self.auth is None or not self.auth.allows(context.invocation_metadata())
            refusal = None
            try:
                budget.take(stream=True, anonymous_watch=anonymous)
            except Refuse as r:
                refusal = r
            else:
                try:
                    request = parse(health_pb2.HealthCheckRequest, raw)
                    async with asyncio.timeout(lifetime):
                        await servicer.Watch(request, context)
                except TimeoutError:
                    refusal = Refuse("stream-lifetime", "the Watch stream reached the sidecar's "
                                     "--stream-max-lifetime; open a new one")
                except Refuse as r:
                    refusal = r
                except asyncio.CancelledError:
                    counter.handled("CANCELLED")
                    raise
                except BaseException:
                    counter.handled(_code(context))
                    raise
                finally:
                    budget.release(stream=True, anonymous_watch=anonymous)
            if refusal is None:  # pragma: no cover - Watch only ends by an error
                counter.handled("OK")
                return
            counter.handled(refusal.code.name)
            self.metrics.rejected.labels(refusal.kind).inc()
            await abort(context, refusal)

        return watch

    def _reflect(self, counter: Any):
        budget, cfg = self.budget, self.config

        async def reflect(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext):
            counter.started()
            refusal = None
            try:
                budget.take(stream=True)
            except Refuse as r:
                refusal = r
                await drain(requests)
            else:
                ends_at = time.monotonic() + cfg.stream_max_lifetime
                try:
                    async for out in self.reflection.ServerReflectionInfo(
                            limited(requests, cfg.stream_idle_timeout, ends_at), context):
                        yield out
                except Refuse as r:
                    refusal = r
                except asyncio.CancelledError:
                    counter.handled("CANCELLED")
                    raise
                finally:
                    budget.release(stream=True)
            if refusal is None:
                counter.handled("OK")
                return
            counter.handled(refusal.code.name)
            self.metrics.rejected.labels(refusal.kind).inc()
            await abort(context, refusal)

        return reflect


class UnknownMethods(grpc.GenericRpcHandler):
    """Answers every method no other handler serves: UNIMPLEMENTED, counted
    as method ``unknown``. Registered last. (Without it gRPC answers such a
    call itself, and logs a traceback when the caller has already gone.)"""

    def __init__(self, metrics: Any):
        self.metrics = metrics
        self.counter = metrics.rpc("unknown", "unknown", "unknown")

    def service(self, handler_call_details: Any) -> grpc.RpcMethodHandler:
        return grpc.stream_stream_rpc_method_handler(self._refuse)

    async def _refuse(self, _requests: Any, context: grpc.aio.ServicerContext) -> None:
        self.counter.started()
        self.counter.handled("UNIMPLEMENTED")
        self.metrics.rejected.labels("unimplemented").inc()
        await abort(context, Refuse("unimplemented", "the sidecar does not serve this method"))


def _register_reflection_v1() -> None:
    """Add grpc/reflection/v1/reflection.proto to the default pool, built
    from the v1alpha file with the package renamed (the messages and the
    service are otherwise the same), so reflection can describe itself."""
    pool = descriptor_pool.Default()
    name = "grpc/reflection/v1/reflection.proto"
    try:
        pool.FindFileByName(name)
        return
    except KeyError:
        pass
    fdp = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(fdp)
    old, new = f".{fdp.package}.", ".grpc.reflection.v1."
    fdp.name, fdp.package = name, "grpc.reflection.v1"
    fdp.options.Clear()
    for message in fdp.message_type:
        for field in message.field:
            if field.type_name.startswith(old):
                field.type_name = new + field.type_name[len(old):]
    for service in fdp.service:
        for method in service.method:
            method.input_type = new + method.input_type[len(old):]
            method.output_type = new + method.output_type[len(old):]
    pool.AddSerializedFile(fdp.SerializeToString())


__all__ = [
    "HEALTH_SERVICE",
    "REFLECTION_V1",
    "REFLECTION_V1ALPHA",
    "HealthAndReflection",
    "HealthBudget",
    "UnknownMethods",
]
