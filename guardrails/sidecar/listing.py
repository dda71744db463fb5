"""What the sidecar's ``ListPolicies`` says, as the clients return it
(:meth:`~guardrails.sidecar.client.GuardrailsClient.list_policies`)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

from guardrails.sidecar._proto import guardrails_pb2 as pb

__all__ = ["PolicyInfo", "PolicyListing", "PolicySetInfo", "ReloadInfo", "StateInfo", "listing"]


@dataclass(frozen=True)
class PolicyInfo:
    name: str
    version: str
    digest: str
    newest: bool


@dataclass(frozen=True)
class ReloadInfo:
    ok: bool
    attempted_at: _dt.datetime | None
    error: str
    successes: int
    failures: int


@dataclass(frozen=True)
class PolicySetInfo:
    source: str
    generation: int
    loaded_at: _dt.datetime | None
    policies: list[PolicyInfo]
    reload: ReloadInfo


@dataclass(frozen=True)
class StateInfo:
    """The sidecar's session store: ``kind`` ``"memory"`` or ``"redis"``, its
    ``address`` (never a password), and the decisions that failed on it."""

    kind: str
    address: str
    errors: int
    last_error: str
    last_error_at: _dt.datetime | None


@dataclass(frozen=True)
class PolicyListing:
    """What ``ListPolicies`` says: the active set, the candidate (or None),
    the rollout mode (``None``, ``"shadow"`` or ``"canary"``) and the
    session store (None from a sidecar older than sessions)."""

    active: PolicySetInfo
    candidate: PolicySetInfo | None
    rollout: str | None
    canary_percent: float
    state: StateInfo | None = None


def _when(ts: Any) -> _dt.datetime | None:
    if ts.seconds == 0 and ts.nanos == 0:
        return None
    return ts.ToDatetime(tzinfo=_dt.timezone.utc)


def _set_info(m: pb.PolicySetStatus) -> PolicySetInfo:
    r = m.reload
    return PolicySetInfo(m.source, m.generation, _when(m.loaded_at),
                         [PolicyInfo(p.name, p.version, p.digest, p.newest) for p in m.policies],
                         ReloadInfo(r.ok, _when(r.attempted_at), r.error, r.successes, r.failures))


def listing(m: pb.ListPoliciesResponse) -> PolicyListing:
    rollout = {pb.ROLLOUT_MODE_SHADOW: "shadow", pb.ROLLOUT_MODE_CANARY: "canary"}.get(m.rollout)
    st = m.state
    state = StateInfo(st.kind, st.address, st.errors, st.last_error, _when(st.last_error_at)) \
        if m.HasField("state") else None
    return PolicyListing(_set_info(m.active), _set_info(m.candidate) if m.HasField("candidate") else None,
                         rollout, m.canary_percent, state)
