"""The gRPC sidecar: ``guardrails serve``.

One module per job: :mod:`.sidecar` (the server), :mod:`.service` (the
rpcs), :mod:`.reload` (policy sets and hot reload), :mod:`.rollout` (shadow
and canary), :mod:`.stream` (GuardStream), :mod:`.auth` (TLS and the bearer
token), :mod:`.metrics` (Prometheus) and :mod:`.convert` (messages <->
engine values, shared with :mod:`guardrails.sidecar.client`). The API is
``proto/guardrails/v1/guardrails.proto``; see docs/sidecar.md.

Importing this package is cheap; the server's modules load on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ServerConfig", "SidecarServer"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from guardrails.sidecar import server

        return getattr(server, name)
    raise AttributeError(name)
