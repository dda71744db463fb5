"""The manifest and its seal (signature.json): revision, build time, and the shape a reader requires."""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import datetime, timezone
from typing import Any

from guardrails.diagnostics import Diagnostics, Span
from guardrails.bundle.archive import member_name_problem
from guardrails.bundle.layout import ALGS, FORMAT, FORMAT_VERSION, MANIFEST, SIGNATURE, _canonical_json, _span

_HEX64 = re.compile(r"[0-9a-f]{64}")
_KEY_ID = re.compile(r"[0-9a-f]{16}")


def content_revision(files: list[dict]) -> str:
    """The default revision: 12 hex digits of sha256 over the files' (path, sha256, size)."""
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f["path"]):
        h.update(f"{f['path']}\0{f['sha256']}\0{f['size']}\n".encode())
    return h.hexdigest()[:12]


def build_time(env: dict[str, str] | None = None) -> str:
    """Now, or SOURCE_DATE_EPOCH when set (reproducible builds), as UTC ISO 8601."""
    epoch = (os.environ if env is None else env).get("SOURCE_DATE_EPOCH")
    if epoch:
        if not epoch.isdigit():
            raise ValueError(f"SOURCE_DATE_EPOCH must be whole seconds since 1970, not {epoch!r}")
        when = datetime.fromtimestamp(int(epoch), timezone.utc)
    else:
        when = datetime.now(timezone.utc)
    return when.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_revision(revision: str) -> None:
    if not (0 < len(revision) <= 128) or not revision.isprintable() or revision != revision.strip():
        raise ValueError("a revision is 1 to 128 printable characters without surrounding spaces")


def _parse_json(data: bytes, member: str, where: str, code: str, diags: Diagnostics) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        diags.error(code, "not valid UTF-8", _span(f"{where}!{member}"))
    except json.JSONDecodeError as exc:
        diags.error(code, f"invalid JSON: {exc.msg}", Span(f"{where}!{member}", exc.lineno, exc.colno,
                                                           exc.lineno, exc.colno + 1, exc.pos, exc.pos + 1))
    return None


def _parse_seal(data: bytes, where: str, diags: Diagnostics) -> dict | None:
    """signature.json, held to its exact canonical bytes: it is the one member
    no checksum covers, so no byte of it may be free to change."""
    at = _span(f"{where}!{SIGNATURE}")
    seal = _parse_json(data, SIGNATURE, where, "E806", diags)
    if seal is None:
        return None
    fields = {"alg", "manifest_sha256"} | ({"key_id", "signature"} if isinstance(seal, dict)
                                            and seal.get("alg") != "none" else set())
    problem = None
    if not isinstance(seal, dict) or set(seal) != fields or not all(isinstance(v, str) for v in seal.values()):
        problem = f"must be an object with exactly {', '.join(sorted(fields))} (strings)"
    elif seal["alg"] not in ("none", *ALGS):
        problem = f"unknown algorithm {seal['alg']!r}; this guardrails knows none, {', '.join(ALGS)}"
    elif not _HEX64.fullmatch(seal["manifest_sha256"]):
        problem = "manifest_sha256 must be 64 lowercase hex digits"
    elif seal["alg"] != "none" and not _KEY_ID.fullmatch(seal["key_id"]):
        problem = "key_id must be 16 lowercase hex digits"
    elif seal["alg"] != "none" and not re.fullmatch(r"(?:[0-9a-f]{2})+", seal["signature"]):
        problem = "signature must be lowercase hex"
    elif _canonical_json(seal) != data:
        problem = "is not in canonical form (was it edited?)"
    if problem:
        diags.error("E806", f"{SIGNATURE} {problem}", at)
        return None
    return seal


def _manifest_problem(m: Any) -> str | None:
    if not isinstance(m, dict):
        return "must be a JSON object"
    if m.get("format") != FORMAT:
        return f"format must be {FORMAT!r}"
    v = m.get("format_version")
    if not isinstance(v, int) or isinstance(v, bool):
        return "format_version must be an integer"
    if v > FORMAT_VERSION:
        return f"format version {v} is newer than this guardrails reads ({FORMAT_VERSION}); upgrade guardrails"
    if v != FORMAT_VERSION:
        return f"unsupported format version {v}"
    for name in ("revision", "built_at", "builder"):
        if not isinstance(m.get(name), str):
            return f"{name} must be a string"
    s = m.get("signing", "missing")
    if s is not None and not (isinstance(s, dict) and set(s) == {"alg", "key_id"}
                              and s["alg"] in ALGS and isinstance(s["key_id"], str)
                              and _KEY_ID.fullmatch(s["key_id"])):
        return "signing must be null or {alg, key_id}"
    files = m.get("files")
    if not isinstance(files, list) or not all(
        isinstance(f, dict) and isinstance(f.get("path"), str) and isinstance(f.get("sha256"), str)
        and isinstance(f.get("size"), int) and not isinstance(f.get("size"), bool) for f in files
    ):
        return "files must be a list of {path, sha256, size}"
    if not all(_HEX64.fullmatch(f["sha256"]) and f["size"] >= 0 for f in files):
        return "each file needs a sha256 of 64 lowercase hex digits and a size >= 0"
    paths = [f["path"] for f in files]
    if len(set(paths)) != len(paths):
        return "files lists a path twice"
    for p in paths:
        if p in (MANIFEST, SIGNATURE) or member_name_problem(p):
            return f"files lists an invalid path {p!r}"
    policies = m.get("policies")
    if not isinstance(policies, list) or not all(
        isinstance(p, dict) and all(isinstance(p.get(k), str) for k in ("name", "kind", "version", "file"))
        for p in policies
    ):
        return "policies must be a list of {name, kind, version, file, ...}"
    for p in policies:
        if p["file"] not in paths:
            return f"policy {p['name']!r} names a file the manifest does not list: {p['file']!r}"
    return None
