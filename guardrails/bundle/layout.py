"""What a bundle holds: member names, format, limits and codes, and the helpers every part shares."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from guardrails.diagnostics import CODES, Span

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

# Diagnostic codes of guardrails.bundle: the E8xx rows of the one code table.
BUNDLE_CODES: dict[str, str] = {code: text for code, text in CODES.items() if code.startswith("E8")}


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
