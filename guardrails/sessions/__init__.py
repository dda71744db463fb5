"""Session state for agent sessions: what the engine remembers between decisions.

- :mod:`~guardrails.sessions.steps`: :class:`Step`, :class:`LimitKey`,
  :class:`Snapshot`, :class:`StoreError`: what is stored (ids, labels,
  hashes; never raw text) and the one error.
- :mod:`~guardrails.sessions.fingerprint`: the keyed call and content prints,
  and the data-flow rule :func:`flows`.
- :mod:`~guardrails.sessions.store`: the :class:`SessionStore` Protocol and
  :func:`open_store`, which picks the backend from a URL.
- :mod:`~guardrails.sessions.memory`: :class:`MemoryStore`, the default.
- :mod:`~guardrails.sessions.redis_store`: :class:`RedisStore`, shared by many
  replicas (imports the ``redis`` package only when one is opened).
"""

from __future__ import annotations

from guardrails.sessions.fingerprint import call_fingerprint, content_prints, flows, limit_key, session_key
from guardrails.sessions.memory import MemoryStore
from guardrails.sessions.steps import LimitKey, Snapshot, StaleSession, Step, StoreError
from guardrails.sessions.store import SessionStore, open_store

__all__ = ["LimitKey", "MemoryStore", "SessionStore", "Snapshot", "StaleSession", "Step", "StoreError", "call_fingerprint",
           "content_prints", "flows", "limit_key", "open_store", "session_key"]
