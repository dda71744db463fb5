"""The client's exceptions, and what a gRPC status becomes.

Every refusal from the sidecar carries a ``google.rpc.Status`` in the
``grpc-status-details-bin`` trailer: an ``ErrorInfo`` whose ``reason`` says
which refusal it is (``CONCURRENCY_LIMIT``, ``POLICY_NOT_FOUND``,
``VERSION_NOT_FOUND``, ...; docs/sidecar.md lists them all), and a
``RetryInfo`` when retrying helps. :func:`error_from_rpc` reads them into
:attr:`SidecarError.reason`, :attr:`SidecarError.metadata` and
:attr:`SidecarError.retry_after`, so a caller can tell a missing policy from
a missing version, and an overload worth retrying from an answer too large
to send. A status without details (from an older sidecar, or from gRPC
itself) leaves them empty.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2

from guardrails.diagnostics import GuardrailsError
from guardrails.engine import UnknownPolicyError

DETAILS_KEY = "grpc-status-details-bin"


class SidecarError(GuardrailsError):
    """The sidecar did not return a decision. ``code`` is the gRPC status;
    ``reason`` the ErrorInfo reason ("" when the status carried none),
    ``metadata`` its details (``field``, ``policy``, ``limit``) and
    ``retry_after`` the seconds RetryInfo asks to wait (None: retrying the
    same call will not help)."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None, *, reason: str = "",
                 metadata: dict[str, str] | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.metadata = dict(metadata or {})
        self.retry_after = retry_after


class SidecarUnavailableError(SidecarError, ConnectionError):
    """Cannot reach the sidecar, it is shutting down, or the deadline passed."""


class PolicyNotFoundError(SidecarError, UnknownPolicyError):
    """The request named a policy (or version) the sidecar has not loaded;
    ``reason`` is ``POLICY_NOT_FOUND`` or ``VERSION_NOT_FOUND``."""


class InvalidRequestError(SidecarError, ValueError):
    """The request is malformed (the client refused it, or the sidecar did)."""


class AuthenticationError(SidecarError, PermissionError):
    """Missing or wrong bearer token."""


class OverloadedError(SidecarError):
    """RESOURCE_EXHAUSTED: the concurrency limit (``reason``
    ``CONCURRENCY_LIMIT``, worth retrying after ``retry_after``), the
    health budget, or a message over the size limit (not worth retrying)."""


ERRORS = {
    grpc.StatusCode.UNAVAILABLE: SidecarUnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: SidecarUnavailableError,
    grpc.StatusCode.CANCELLED: SidecarUnavailableError,
    grpc.StatusCode.NOT_FOUND: PolicyNotFoundError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequestError,
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationError,
    grpc.StatusCode.PERMISSION_DENIED: AuthenticationError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: OverloadedError,
}


def status_details(trailers: Any) -> tuple[str, dict[str, str], float | None]:
    """(ErrorInfo reason, its metadata, RetryInfo seconds) from trailing metadata."""
    raw = next((v for k, v in trailers or () if k == DETAILS_KEY), None)
    if not isinstance(raw, bytes):
        return "", {}, None
    try:
        status = status_pb2.Status.FromString(raw)
    except DecodeError:
        return "", {}, None
    reason, metadata, retry = "", {}, None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, metadata = info.reason, dict(info.metadata)
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            delay = error_details_pb2.RetryInfo()
            detail.Unpack(delay)
            retry = delay.retry_delay.ToNanoseconds() / 1e9
    return reason, metadata, retry


def error_from_rpc(exc: grpc.RpcError, target: str) -> SidecarError:
    code = exc.code() if hasattr(exc, "code") else None
    details = (exc.details() if hasattr(exc, "details") else None) or str(code)
    trailers = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
    reason, metadata, retry = status_details(trailers)
    cls = ERRORS.get(code, SidecarError)
    if cls is SidecarUnavailableError:
        details = f"guardrails sidecar at {target}: {code.name.lower()}: {details}"
    return cls(details, code, reason=reason, metadata=metadata, retry_after=retry)


__all__ = [
    "ERRORS",
    "AuthenticationError",
    "InvalidRequestError",
    "OverloadedError",
    "PolicyNotFoundError",
    "SidecarError",
    "SidecarUnavailableError",
    "error_from_rpc",
    "status_details",
]
