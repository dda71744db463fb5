"""Transport security (TLS, mutual TLS) and the optional bearer token.

The token is read from a file (``--token-file``), so it can come from a
mounted secret and be rotated: the file is re-read when it changes. Every
RPC except the standard health checks must carry ``authorization: Bearer
<token>`` in its metadata; anything else gets UNAUTHENTICATED. Comparison
is constant-time, and the token is never logged.
"""

from __future__ import annotations

import hmac
import logging
import os
from pathlib import Path

import grpc

from guardrails.diagnostics import GuardrailsError

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
    """Requires the bearer token on every RPC but health checks."""

    def __init__(self, path: str | os.PathLike, metrics=None):
        self.path = Path(path)
        self.metrics = metrics
        self._stamp = self._stat()
        self._expected = f"Bearer {read_token(self.path)}".encode()

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
            self._expected = f"Bearer {token}".encode()
            log.info("token file %s changed: new token in use", self.path)
        self._stamp = stamp

    def allows(self, metadata) -> bool:
        for key, value in metadata or ():
            if key == "authorization":
                given = value.encode() if isinstance(value, str) else value
                return hmac.compare_digest(given, self._expected)
        return False

    async def intercept_service(self, continuation, handler_call_details):
        if handler_call_details.method.startswith(HEALTH_PREFIX):
            return await continuation(handler_call_details)
        if self.allows(handler_call_details.invocation_metadata):
            return await continuation(handler_call_details)
        handler = await continuation(handler_call_details)
        if handler is None:
            return None  # UNIMPLEMENTED, as without a token
        if self.metrics is not None:
            self.metrics.rejected.labels("unauthenticated").inc()
        return _refusal(handler)


def _refusal(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """A handler of the same shape that answers UNAUTHENTICATED at once."""

    async def deny(_request, context):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                            "missing or wrong bearer token (send metadata 'authorization: Bearer <token>')")

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(deny)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(deny)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(deny)
    return grpc.unary_unary_rpc_method_handler(deny)
