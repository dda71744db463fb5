"""What a bundle holds: member names, format, limits and codes, and the helpers every part shares."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..diagnostics import Span

FORMAT = "guardlang-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SIGNATURE = "signature.json"
POLICY_DIR = "policies/"
TESTS_SUFFIX = ".tests.yaml"
SIGNING_CONTEXT = b"guardlang-bundle-signature-v1\n"  # domain separation for signatures
ALGS = ("hmac-sha256", "ed25519")

MAX_ARCHIVE_BYTES = 64 << 20
MAX_UNPACKED_BYTES = 256 << 20
MAX_MEMBERS = 10_000

# Diagnostic codes of guardrails.bundle (to be merged into diagnostics.CODES).
BUNDLE_CODES: dict[str, str] = {
    "E801": "cannot read bundle archive",
    "E802": "invalid bundle manifest",
    "E803": "bundle file changed",
    "E804": "bundle file missing",
    "E805": "bundle file not in the manifest",
    "E806": "bundle signature does not verify",
    "E807": "policy changed without a version bump",
}


def _span(where: str) -> Span:
    return Span(where, 1, 1, 1, 1, 0, 0)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _policy_text(data: bytes) -> str:
    """Decode like `Path.read_text`: UTF-8 with universal newlines, so a policy
    has the same text, and so the same digest, from a bundle or a directory."""
    return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")


def _canonical_json(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode("ascii")
