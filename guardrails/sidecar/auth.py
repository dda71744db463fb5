"""Transport security (TLS, mutual TLS) and the optional bearer token.

The token is read from a file (``--token-file``), so it can come from a
mounted secret and be rotated: the file is re-read when it changes. Every
RPC except the standard health checks must carry ``authorization: Bearer
<token>`` in its metadata; anything else gets UNAUTHENTICATED. The scheme
is case-insensitive (RFC 7235: ``bearer``, ``BEARER``), the token is not.
Comparison is constant-time, and the token is never logged.

A call without the token gets UNAUTHENTICATED whatever method it names, so
the method names cannot be probed without it: UNIMPLEMENTED comes only
after authentication.
"""

from __future__ import annotations

import hmac
import logging
import os
from pathlib import Path

import grpc

from guardrails.diagnostics import GuardrailsError
from guardrails.sidecar.admission import Refuse, abort

log = logging.getLogger("guardrails.sidecar")

HEALTH_PREFIX = "/grpc.health.v1.Health/"


def _read(path: str | os.PathLike, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise GuardrailsError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None


def server_credentials(cert: str, key: str, client_ca: str | None = None) -> grpc.ServerCredentials:
    """TLS with this certificate chain and key; with `client_ca`, clients
    must present a certificate signed by it (mutual TLS)."""
    pair = (_read(key, "TLS key"), _read(cert, "TLS certificate"))
    ca = _read(client_ca, "client CA bundle") if client_ca else None
    return grpc.ssl_server_credentials([pair], root_certificates=ca, require_client_auth=ca is not None)


def read_token(path: str | os.PathLike) -> str:
    token = _read(path, "token file").decode("utf-8", "replace").strip()
    if not token:
        raise GuardrailsError(f"the token file {path} is empty")
    if any(c.isspace() for c in token):
        raise GuardrailsError(f"the token in {path} contains whitespace; use one line without spaces")
    return token


class TokenAuth(grpc.aio.ServerInterceptor):
    """Requires the bearer token on every RPC but health checks.

    `label(method)` gives the (service, method, type) a refusal is counted
    under; the server passes one that says ``unknown`` for methods it does
    not serve, so callers cannot add labels."""

    def __init__(self, path: str | os.PathLike, metrics=None, label=None):
        self.path = Path(path)
        self.metrics = metrics
        self.label = label
        self._stamp = self._stat()
        self._expected = read_token(self.path).encode()

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def poll(self) -> None:
        """Re-read the token file if it changed (called by the watcher)."""
        stamp = self._stat()
        if stamp == self._stamp or stamp is None:
            return
        try:
            token = read_token(self.path)
        except GuardrailsError as exc:
            log.error("token file changed but cannot be used; keeping the previous token: %s", exc)
        else:
            self._expected = token.encode()
            log.info("token file %s changed: new token in use", self.path)
        self._stamp = stamp

    def allows(self, metadata) -> bool:
        for key, value in metadata or ():
            if key == "authorization":
                given = value.encode() if isinstance(value, str) else value
                scheme, _, token = given.partition(b" ")
                ok = hmac.compare_digest(token.lstrip(b" "), self._expected)
                return ok and scheme.lower() == b"bearer"
        return False

    async def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        if method.startswith(HEALTH_PREFIX) or self.allows(handler_call_details.invocation_metadata):
            return await continuation(handler_call_details)
        handler = await continuation(handler_call_details)
        if self.metrics is not None:
            self.metrics.rejected.labels("unauthenticated").inc()
            if self.label is not None:
                counter = self.metrics.rpc(*self.label(method))
                counter.started()
                counter.handled("UNAUTHENTICATED")
        return _refusal(handler)


async def _deny(_request, context) -> None:
    await abort(context, Refuse("unauthenticated", "missing or wrong bearer token (send metadata "
                                "'authorization: Bearer <token>')"))


def _refusal(handler: grpc.RpcMethodHandler | None) -> grpc.RpcMethodHandler:
    """A handler of the same shape that answers UNAUTHENTICATED at once
    (stream-to-stream when there is no handler: every call fits it)."""
    if handler is None or (handler.request_streaming and handler.response_streaming):
        return grpc.stream_stream_rpc_method_handler(_deny)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(_deny)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(_deny)
    return grpc.unary_unary_rpc_method_handler(_deny)
