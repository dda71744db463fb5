"""The gRPC sidecar: ``guardrails serve``, and the client that calls it.

One module per job:

- :mod:`.server` - :class:`SidecarServer`: the gRPC server, health,
  reflection, TLS, metrics and hot reload; it assembles the rpcs;
- :mod:`.config` - :class:`ServerConfig` and the listen addresses;
- :mod:`.rpc` - the unary rpcs (the checks, ``ListPolicies``);
- :mod:`.rpc_stream` - ``GuardStream``;
- :mod:`.admission` - what every rpc shares: the refusals (each one status
  code and ErrorInfo reason), concurrency slots, deadlines, parsing, stream
  time limits, logging without content;
- :mod:`.health` - health and reflection (v1 and v1alpha) on a budget of
  their own, and the answer to unknown methods;
- :mod:`.deep` - reading values nested past protobuf's parser limit;
- :mod:`.reload` - policy sets and hot reload;
- :mod:`.rollout` - shadow and canary;
- :mod:`.auth` - TLS and the bearer token;
- :mod:`.metrics` - Prometheus;
- :mod:`.probe` - the health probe command;
- :mod:`.convert` - messages <-> engine values, shared with the client;
- :mod:`.client` - :class:`GuardrailsClient` and ``AsyncGuardrailsClient``;
- :mod:`.errors` - the client's exceptions, with the refusal's reason.

The API is ``proto/guardrails/v1/guardrails.proto``; see docs/sidecar.md.

Importing this package is cheap; the server's and the client's modules load
on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> the module that defines it, imported on first use.
_HOMES = {
    "ServerConfig": "guardrails.sidecar.config",
    "SidecarServer": "guardrails.sidecar.server",
    "GuardrailsClient": "guardrails.sidecar.client",
}

__all__ = ["GuardrailsClient", "ServerConfig", "SidecarServer"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(name)
    return getattr(importlib.import_module(home), name)
