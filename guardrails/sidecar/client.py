"""A client for the guardrails sidecar with the engine's method names.

    from guardrails.sidecar.client import GuardrailsClient

    client = GuardrailsClient("127.0.0.1:50051")
    d = client.check_input("mail me at jo@example.com", policy="support-bot")
    d.outcome, d.text        # (Outcome.REDACT, 'mail me at <EMAIL_ADDRESS>')

The methods mirror :class:`~guardrails.engine.Engine`: ``check_input``,
``check_output``, ``check_retrieval``, ``check_tool_call``,
``check_tool_result``, ``check`` and their ``acheck_*`` twins, with the
engine's ``session=`` and ``at=`` (docs/sessions.md), all returning the same
:class:`~guardrails.decision.Decision` the engine returns for the request, so
code written against an engine (such as a decorator) can take a client
instead. :class:`AsyncGuardrailsClient` does the same on ``grpc.aio`` for
asyncio applications.

Failures raise subclasses of :class:`SidecarError` (a
:class:`~guardrails.GuardrailsError`, defined in :mod:`.errors`), each with
the status ``code`` and the sidecar's ErrorInfo ``reason`` (and
``retry_after`` where a retry helps):

* :class:`SidecarUnavailableError` (also a ``ConnectionError``): the sidecar
  cannot be reached, is shutting down, or did not answer before the
  timeout. What to do then (fail closed or open) is the caller's choice;
* :class:`PolicyNotFoundError` (also the engine's ``UnknownPolicyError``);
* :class:`InvalidRequestError` (also a ``ValueError``): the request is
  malformed. The in-process engine answers some of these with a ``deny``
  decision carrying the error ``invalid-request`` instead;
* :class:`AuthenticationError`, :class:`OverloadedError` (the concurrency
  or message size limit).

Numbers travel as doubles (``google.protobuf.Struct``): a whole number comes
back as an ``int``, so ``50.0`` in a request's args is returned as ``50``,
and integers beyond 2**53 are refused (send them as strings).
"""

from __future__ import annotations

import asyncio
import inspect
import os
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from google.protobuf.message import DecodeError

from guardrails.sidecar._proto import guardrails_pb2 as pb
from guardrails.decision import Decision
from guardrails.sidecar.convert import ConversionError, decision_from_proto, fill_sources, fill_struct
from guardrails.sidecar.convert import request_from_engine
from guardrails.sidecar.deep import parse_deep
from guardrails.sidecar.listing import PolicyInfo, PolicyListing, PolicySetInfo, ReloadInfo, StateInfo, listing
from guardrails.sidecar.tracing import inject
from guardrails.sidecar.errors import (
    AuthenticationError,
    InvalidRequestError,
    OverloadedError,
    PolicyNotFoundError,
    SidecarError,
    SidecarUnavailableError,
    error_from_rpc,
)

__all__ = [
    "GuardrailsClient", "AsyncGuardrailsClient", "TlsConfig", "SidecarError", "SidecarUnavailableError",
    "PolicyNotFoundError", "InvalidRequestError", "AuthenticationError", "OverloadedError", "PolicyInfo",
    "PolicySetInfo", "ReloadInfo", "StateInfo", "PolicyListing", "GuardedStream",
]

DEFAULT_TIMEOUT = 5.0


def _error(exc: grpc.RpcError, target: str) -> SidecarError:
    return error_from_rpc(exc, target)


def _read_deep(cls: Any):
    """A response deserializer that also reads values nested past protobuf's
    own parser limit (a decision forwards arguments up to 64 levels deep)."""

    def read(raw: bytes) -> Any:
        try:
            return cls.FromString(raw)
        except DecodeError:
            return parse_deep(cls, raw)

    return read


class _Stub:
    """The Guardrails methods on a channel (sync or asyncio), their answers
    read with :func:`_read_deep`."""

    def __init__(self, channel: Any):
        path = "/guardrails.v1.Guardrails/"
        for name, request, response in (
                ("CheckInput", pb.CheckInputRequest, pb.Decision),
                ("CheckOutput", pb.CheckOutputRequest, pb.Decision),
                ("CheckRetrieval", pb.CheckRetrievalRequest, pb.Decision),
                ("CheckToolCall", pb.CheckToolCallRequest, pb.Decision),
                ("CheckToolResult", pb.CheckToolResultRequest, pb.Decision),
                ("ListPolicies", pb.ListPoliciesRequest, pb.ListPoliciesResponse)):
            setattr(self, name, channel.unary_unary(path + name, request_serializer=request.SerializeToString,
                                                    response_deserializer=_read_deep(response)))
        self.GuardStream = channel.stream_stream(path + "GuardStream",
                                                 request_serializer=pb.GuardStreamRequest.SerializeToString,
                                                 response_deserializer=_read_deep(pb.GuardStreamResponse))


# ---- connection options --------------------------------------------------------


@dataclass(frozen=True)
class TlsConfig:
    """TLS settings. Paths or PEM bytes. ``root_certificates``: the CA that
    signed the sidecar's certificate (default: the system's); ``cert_chain``
    and ``private_key``: this client's certificate, for mutual TLS;
    ``server_name``: the name to verify when it differs from the target host."""

    root_certificates: str | bytes | None = None
    cert_chain: str | bytes | None = None
    private_key: str | bytes | None = None
    server_name: str | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(_pem(self.root_certificates), _pem(self.private_key),
                                            _pem(self.cert_chain))


def _pem(value: str | bytes | os.PathLike | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    with open(value, "rb") as f:
        return f.read()


def _channel_args(tls: bool | TlsConfig | None, options: Iterable[tuple[str, Any]] | None):
    opts = list(options or ())
    if isinstance(tls, TlsConfig) and tls.server_name:
        opts.append(("grpc.ssl_target_name_override", tls.server_name))
    creds = None
    if tls is True:
        creds = grpc.ssl_channel_credentials()
    elif isinstance(tls, TlsConfig):
        creds = tls.credentials()
    return creds, opts


# ---- the clients ------------------------------------------------------------------

_METHODS = {"input": "CheckInput", "output": "CheckOutput", "retrieval": "CheckRetrieval",
            "tool_call": "CheckToolCall", "tool_result": "CheckToolResult"}


def _request(stage: str, request: dict, policy: str | None, request_key: str | None, explain: bool) -> Any:
    if stage not in _METHODS:
        raise InvalidRequestError(f"unknown stage {stage!r}; use {', '.join(_METHODS)}")
    try:
        return request_from_engine(stage, request, policy=policy, request_key=request_key, explain=explain)
    except ConversionError as exc:
        raise InvalidRequestError(str(exc)) from None


# Every check takes, besides its request: policy, session, at (the engine's
# session options: the agent run, and the request's time in unix seconds,
# None for now), request_key (the canary bucket), explain and timeout.


class _Base:
    def __init__(self, target: str, *, token: str | None = None, tls: bool | TlsConfig | None = None,
                 timeout: float | None = DEFAULT_TIMEOUT):
        self.target = target
        self.timeout = timeout
        self._metadata = (("authorization", f"Bearer {token}"),) if token else None

    def _timeout(self, timeout: float | None) -> float | None:
        return self.timeout if timeout is None else timeout


class GuardrailsClient(_Base):
    """A blocking client; thread-safe (one HTTP/2 connection, shared).

    * ``target``: ``host:port`` of the sidecar, e.g. ``127.0.0.1:50051``.
    * ``token``: sent as ``authorization: Bearer <token>`` on every call.
    * ``tls``: ``None`` for plaintext (loopback), ``True`` for TLS with the
      system's roots, or a :class:`TlsConfig` (own CA, mutual TLS).
    * ``timeout``: the deadline of each call in seconds (``None``: none).
    """

    def __init__(self, target: str, *, token: str | None = None, tls: bool | TlsConfig | None = None,
                 timeout: float | None = DEFAULT_TIMEOUT, options: Iterable[tuple[str, Any]] | None = None):
        super().__init__(target, token=token, tls=tls, timeout=timeout)
        creds, opts = _channel_args(tls, options)
        self._channel = (grpc.secure_channel(target, creds, options=opts) if creds is not None
                         else grpc.insecure_channel(target, options=opts))
        self._stub = _Stub(self._channel)

    def _call(self, method: str, message: Any, timeout: float | None) -> Any:
        try:
            return getattr(self._stub, method)(message, timeout=self._timeout(timeout), metadata=inject(self._metadata))
        except grpc.RpcError as exc:
            raise _error(exc, self.target) from None

    # -- the engine's methods
    def check(self, stage: str, request: dict, *, policy: str | None = None, request_key: str | None = None,
              explain: bool = False, timeout: float | None = None) -> Decision:
        """Dispatch a JSON-shaped request, like :meth:`Engine.check` (``session``
        and ``at`` travel in ``request``)."""
        msg = _request(stage, request, policy, request_key, explain)
        return decision_from_proto(self._call(_METHODS[stage], msg, timeout))

    def check_input(self, text: str, *, policy: str | None = None, context: dict | None = None,
                    session: str | None = None, at: float | None = None, request_key: str | None = None,
                    explain: bool = False, timeout: float | None = None) -> Decision:
        """Check a prompt before it reaches the model."""
        return self.check("input", {"text": text, "context": context, "session": session, "at": at}, policy=policy,
                          request_key=request_key, explain=explain, timeout=timeout)

    def check_output(self, text: str, *, policy: str | None = None, context: dict | None = None,
                     session: str | None = None, at: float | None = None, request_key: str | None = None,
                     explain: bool = False, timeout: float | None = None,
                     sources: list[dict | str] | None = None) -> Decision:
        """Check a completion before it reaches the user; `sources` are the
        passages it was generated from, for ``grounded()`` (strings or
        ``{"text", "id", "metadata"}``)."""
        return self.check("output", {"text": text, "context": context, "session": session, "at": at,
                                     "sources": sources},
                          policy=policy, request_key=request_key, explain=explain, timeout=timeout)

    def check_retrieval(self, chunks: list[dict | str], *, policy: str | None = None, context: dict | None = None,
                        session: str | None = None, at: float | None = None, request_key: str | None = None,
                        explain: bool = False, timeout: float | None = None) -> Decision:
        """Check retrieved chunks (``{"text", "metadata"}`` or strings)."""
        return self.check("retrieval", {"chunks": chunks, "context": context, "session": session, "at": at},
                          policy=policy, request_key=request_key, explain=explain, timeout=timeout)

    def check_tool_call(self, tool: str, args: dict | None = None, *, principal: dict | None = None,
                        context: dict | None = None, policy: str | None = None, session: str | None = None,
                        at: float | None = None, request_key: str | None = None, explain: bool = False,
                        timeout: float | None = None) -> Decision:
        """Check a tool call an agent wants to make."""
        return self.check("tool_call", {"tool": tool, "args": args, "principal": principal, "context": context,
                                        "session": session, "at": at},
                          policy=policy, request_key=request_key, explain=explain, timeout=timeout)

    def check_tool_result(self, tool: str, result: Any, *, args: dict | None = None, principal: dict | None = None,
                          context: dict | None = None, policy: str | None = None, session: str | None = None,
                          at: float | None = None, request_key: str | None = None, explain: bool = False,
                          timeout: float | None = None) -> Decision:
        """Check what a tool returned (a string or any JSON value) before the
        model sees it; the decision's ``text`` is the result to forward."""
        return self.check("tool_result", {"tool": tool, "result": result, "args": args, "principal": principal,
                                          "context": context, "session": session, "at": at},
                          policy=policy, request_key=request_key, explain=explain, timeout=timeout)

    def list_policies(self, *, timeout: float | None = None) -> PolicyListing:
        """The loaded policies and the state of reloads and of the rollout."""
        return listing(self._call("ListPolicies", pb.ListPoliciesRequest(), timeout))

    def guard_stream(self, chunks: Iterable[str], *, policy: str | None = None, context: dict | None = None,
                     request_key: str | None = None, holdback: int = 0, session: str | None = None,
                     sources: list[dict | str] | None = None, timeout: float | None = None) -> "GuardedStream":
        """Guard a streamed completion: iterate the result for the text that is safe to release;
        ``.decision`` is set once it is exhausted. ``sources``, for ``grounded()``, as in check_output."""
        start = pb.StreamStart(policy=policy or "", request_key=request_key or "", holdback=holdback,
                               session=session or "")
        try:
            if context is not None:
                fill_struct(start.context, context, "context")
            if sources is not None:
                fill_sources(start, sources)
        except ConversionError as exc:
            raise InvalidRequestError(str(exc)) from None
        return GuardedStream(self, start, chunks, timeout)

    def health(self, service: str = "", *, timeout: float | None = None) -> str:
        """The standard health check: ``"SERVING"``, ``"NOT_SERVING"``, ..."""
        stub = health_pb2_grpc.HealthStub(self._channel)
        try:
            resp = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=self._timeout(timeout))
        except grpc.RpcError as exc:
            raise _error(exc, self.target) from None
        return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)

    # -- lifetime
    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "GuardrailsClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _thread_twin(name: str) -> Any:
    """``a<name>``: the blocking ``name`` run in a thread, with its signature
    (so a wrong argument fails in the caller, as on the blocking method)."""
    sig = inspect.signature(getattr(GuardrailsClient, name))

    async def twin(self: GuardrailsClient, *args: Any, **kw: Any) -> Decision:
        sig.bind(self, *args, **kw)
        return await asyncio.to_thread(getattr(self, name), *args, **kw)

    twin.__name__ = twin.__qualname__ = "a" + name
    twin.__signature__ = sig  # type: ignore[attr-defined]
    twin.__doc__ = f"Async :meth:`{name}`: the same arguments; the call runs in a thread."
    return twin


# The async twins of the blocking client, like the engine's.
for _name in ("check", "check_input", "check_output", "check_retrieval", "check_tool_call", "check_tool_result"):
    setattr(GuardrailsClient, "a" + _name, _thread_twin(_name))


class GuardedStream:
    """The safe text of a guarded completion, chunk by chunk; then ``decision``."""

    def __init__(self, client: GuardrailsClient, start: pb.StreamStart, chunks: Iterable[str],
                 timeout: float | None):
        self._client = client
        self._start = start
        self._chunks = chunks
        self._timeout = timeout
        self._source_error: Exception | None = None
        self.decision: Decision | None = None

    def _requests(self) -> Iterator[pb.GuardStreamRequest]:
        # gRPC reads this on its own thread and turns an exception into a
        # cancelled call: keep the exception to raise it in the caller.
        yield pb.GuardStreamRequest(start=self._start)
        try:
            for chunk in self._chunks:
                if not isinstance(chunk, str):
                    raise InvalidRequestError(f"stream chunks must be strings, not {type(chunk).__name__}")
                yield pb.GuardStreamRequest(chunk=chunk)
        except Exception as exc:
            self._source_error = exc
            raise

    def __iter__(self) -> Iterator[str]:
        c = self._client
        try:
            for resp in c._stub.GuardStream(self._requests(), timeout=c._timeout(self._timeout),
                                            metadata=inject(c._metadata)):
                if resp.WhichOneof("kind") == "chunk":
                    yield resp.chunk
                elif resp.WhichOneof("kind") == "decision":
                    self.decision = decision_from_proto(resp.decision)
        except grpc.RpcError as exc:
            if self._source_error is not None:
                raise self._source_error from None
            raise _error(exc, c.target) from None

    def text(self) -> str:
        """Consume the stream; the whole released text."""
        return "".join(self)


class AsyncGuardrailsClient(_Base):
    """The asyncio client (``grpc.aio``); create it inside the running loop.

    ``check_*`` are coroutines here; ``acheck_*`` are the same coroutines
    under the engine's async names.
    """

    def __init__(self, target: str, *, token: str | None = None, tls: bool | TlsConfig | None = None,
                 timeout: float | None = DEFAULT_TIMEOUT, options: Iterable[tuple[str, Any]] | None = None):
        super().__init__(target, token=token, tls=tls, timeout=timeout)
        creds, opts = _channel_args(tls, options)
        self._channel = (grpc.aio.secure_channel(target, creds, options=opts) if creds is not None
                         else grpc.aio.insecure_channel(target, options=opts))
        self._stub = _Stub(self._channel)

    async def _call(self, method: str, message: Any, timeout: float | None) -> Any:
        try:
            return await getattr(self._stub, method)(message, timeout=self._timeout(timeout),
                                                     metadata=inject(self._metadata))
        except grpc.RpcError as exc:
            raise _error(exc, self.target) from None

    async def check(self, stage: str, request: dict, *, policy: str | None = None, request_key: str | None = None,
                    explain: bool = False, timeout: float | None = None) -> Decision:
        msg = _request(stage, request, policy, request_key, explain)
        return decision_from_proto(await self._call(_METHODS[stage], msg, timeout))

    async def check_input(self, text: str, *, policy: str | None = None, context: dict | None = None,
                          session: str | None = None, at: float | None = None, request_key: str | None = None,
                          explain: bool = False, timeout: float | None = None) -> Decision:
        return await self.check("input", {"text": text, "context": context, "session": session, "at": at},
                                policy=policy, request_key=request_key, explain=explain, timeout=timeout)

    async def check_output(self, text: str, *, policy: str | None = None, context: dict | None = None,
                           session: str | None = None, at: float | None = None, request_key: str | None = None,
                           explain: bool = False, timeout: float | None = None,
                           sources: list[dict | str] | None = None) -> Decision:
        return await self.check("output", {"text": text, "context": context, "session": session, "at": at,
                                           "sources": sources},
                                policy=policy, request_key=request_key, explain=explain, timeout=timeout)

    async def check_retrieval(self, chunks: list[dict | str], *, policy: str | None = None,
                              context: dict | None = None, session: str | None = None, at: float | None = None,
                              request_key: str | None = None, explain: bool = False,
                              timeout: float | None = None) -> Decision:
        return await self.check("retrieval", {"chunks": chunks, "context": context, "session": session, "at": at},
                                policy=policy, request_key=request_key, explain=explain, timeout=timeout)

    async def check_tool_call(self, tool: str, args: dict | None = None, *, principal: dict | None = None,
                              context: dict | None = None, policy: str | None = None, session: str | None = None,
                              at: float | None = None, request_key: str | None = None, explain: bool = False,
                              timeout: float | None = None) -> Decision:
        return await self.check("tool_call", {"tool": tool, "args": args, "principal": principal,
                                              "context": context, "session": session, "at": at},
                                policy=policy, request_key=request_key, explain=explain, timeout=timeout)

    async def check_tool_result(self, tool: str, result: Any, *, args: dict | None = None,
                                principal: dict | None = None, context: dict | None = None,
                                policy: str | None = None, session: str | None = None, at: float | None = None,
                                request_key: str | None = None, explain: bool = False,
                                timeout: float | None = None) -> Decision:
        return await self.check("tool_result", {"tool": tool, "result": result, "args": args,
                                                "principal": principal, "context": context, "session": session,
                                                "at": at},
                                policy=policy, request_key=request_key, explain=explain, timeout=timeout)

    async def list_policies(self, *, timeout: float | None = None) -> PolicyListing:
        return listing(await self._call("ListPolicies", pb.ListPoliciesRequest(), timeout))

    acheck = check
    acheck_input = check_input
    acheck_output = check_output
    acheck_retrieval = check_retrieval
    acheck_tool_call = check_tool_call
    acheck_tool_result = check_tool_result

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> "AsyncGuardrailsClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
