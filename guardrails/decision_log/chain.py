"""The log format: one canonical JSON form for writing and hashing, the chain's constants, timestamps."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any, Mapping

GENESIS = "0" * 64
FORMAT = "guardrails-decision-log"
FORMAT_VERSION = 1


def canonical(obj: Any) -> bytes:
    """The one serialisation used for both writing and hashing a record."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 over the canonical JSON of ``record`` without its ``hash``."""
    return hashlib.sha256(canonical({k: v for k, v in record.items() if k != "hash"})).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
