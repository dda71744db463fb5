"""The bundle on disk: what a bundle file is, byte for byte.

Member names and limits; the canonical JSON of ``manifest.json`` and
``signature.json`` and the checksums they record; the manifest's and the
seal's required shape; and the deterministic ``.tar.gz`` that holds the
members, read back with every byte checked. Building (:mod:`.build`) writes
this format and reading (:mod:`.read`) checks it; neither defines any of it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import struct
import tarfile
import zlib
from datetime import datetime, timezone
from typing import Any, Iterable

from guardrails.diagnostics import CODES, Diagnostics, Span

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


def member_span(where: str) -> Span:
    """Where a diagnostic about a bundle, or one of its members (``x.bundle!policies/a.policy``), points."""
    return Span(where, 1, 1, 1, 1, 0, 0)


def sha256_hex(data: bytes) -> str:
    """The lowercase hex SHA-256 the manifest and seal record."""
    return hashlib.sha256(data).hexdigest()


def policy_text(data: bytes) -> str:
    """Decode like `Path.read_text`: UTF-8 with universal newlines, so a policy
    has the same text, and so the same digest, from a bundle or a directory."""
    return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")


def canonical_json(obj: Any) -> bytes:
    """The exact bytes of ``manifest.json`` and ``signature.json``: sorted keys, 2-space indent, ASCII."""
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode("ascii")


# ---- the archive ----------------------------------------------------------


# Written by `pack` and required by `_gunzip`: no name, no mtime, XFL=2
# (best compression), OS=255 (unknown). A fixed header is what makes every
# byte of the file covered by a check.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"


def member_name_problem(name: str) -> str | None:
    """Why `name` may not be a bundle member, or None when it may."""
    if name in (MANIFEST, SIGNATURE):
        return None
    if not name.startswith(POLICY_DIR):
        return f"must be {MANIFEST}, {SIGNATURE} or under {POLICY_DIR}"
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts) or "\\" in name:
        return "must be a plain relative path (no '.', '..', '\\' or empty segments)"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "must not contain control characters"
    return None


def pack(members: Iterable[tuple[str, bytes]]) -> bytes:
    """A deterministic .tar.gz of the members, sorted by name."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(members, key=lambda m: m[0]):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    z = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS, zlib.DEF_MEM_LEVEL, 0)
    body = z.compress(raw) + z.flush()
    return _GZIP_HEADER + body + struct.pack("<II", zlib.crc32(raw), len(raw) & 0xFFFFFFFF)


def _gunzip(data: bytes, where: str, diags: Diagnostics) -> bytes | None:
    def bad(message: str) -> None:
        diags.error("E801", message, member_span(where), hint="rebuild the bundle with `guardrails bundle build`")

    if len(data) < len(_GZIP_HEADER) + 8:
        return bad(f"truncated archive: only {len(data)} bytes")
    if data[:2] != _GZIP_HEADER[:2]:
        return bad("not a gzip file (a bundle is a .tar.gz archive)")
    if data[:10] != _GZIP_HEADER:
        return bad("unexpected gzip header: the file was changed or repacked by another tool")
    z = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        raw = z.decompress(data[10:], MAX_UNPACKED_BYTES + 1)
    except zlib.error as exc:
        return bad(f"corrupt archive: the compressed data is damaged ({exc})")
    if len(raw) > MAX_UNPACKED_BYTES:
        return bad(f"archive unpacks to more than {MAX_UNPACKED_BYTES >> 20} MiB")
    if not z.eof:
        return bad("truncated archive: the compressed data ends early")
    trailer = z.unused_data
    if len(trailer) < 8:
        return bad("truncated archive: the gzip trailer is incomplete")
    if len(trailer) > 8:
        return bad(f"{len(trailer) - 8} unexpected byte(s) after the end of the archive")
    crc, size = struct.unpack("<II", trailer)
    if crc != zlib.crc32(raw) or size != len(raw) & 0xFFFFFFFF:
        return bad("corrupt archive: the gzip checksum does not match the content")
    if not _padding_is_zero(data[10:-8], raw):
        return bad("corrupt archive: the compressed data has non-zero padding bits")
    return raw


def _padding_is_zero(body: bytes, expected: bytes) -> bool:
    """Whether the unused bits after deflate's final block are zero, as zlib
    writes them. The decoder ignores them, so a changed bit there would leave
    the content, and the CRC, unchanged. A set bit is padding when clearing it
    decodes to the same archive. (Deflate has other redundant encodings, such
    as a match copied from a different run of the same bytes: a change there
    also decodes to the same content, which is all the digests and the
    signature protect.)"""
    last = body[-1]
    for bit in range(8):
        if not last & (1 << bit):
            continue
        z = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            out = z.decompress(body[:-1] + bytes([last ^ (1 << bit)]), len(expected) + 1)
        except zlib.error:
            continue
        if z.eof and not z.unused_data and out == expected:
            return False
    return True


def unpack(data: bytes, where: str, diags: Diagnostics) -> dict[str, bytes] | None:
    """The members of a bundle archive, or None when it cannot be read at all."""
    raw = _gunzip(data, where, diags)
    if raw is None:
        return None
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            for info in tar:
                name = info.name
                if len(members) >= MAX_MEMBERS:
                    diags.error("E801", f"more than {MAX_MEMBERS} members", member_span(where))
                    return None
                if not info.isreg():
                    diags.error("E805", f"member {name!r} is not a regular file", member_span(f"{where}!{name}"))
                    continue
                problem = member_name_problem(name)
                if problem:
                    diags.error("E805", f"member name {name!r} {problem}", member_span(where))
                    continue
                if name in members:
                    diags.error("E805", "member appears twice in the archive", member_span(f"{where}!{name}"))
                    continue
                f = tar.extractfile(info)
                content = f.read() if f is not None else b""
                if len(content) != info.size:
                    diags.error("E801", "truncated member", member_span(f"{where}!{name}"))
                    return None
                members[name] = content
            end = tar.offset
    except (tarfile.TarError, EOFError, OSError, ValueError, UnicodeError) as exc:
        diags.error("E801", f"not a readable tar archive: {exc}", member_span(where))
        return None
    if any(raw[end:]):
        # tarfile stops quietly at a damaged header after the first one.
        diags.error("E801", f"unreadable data at offset {end} of the tar archive (a damaged member header?)",
                    member_span(where))
        return None
    return members


# ---- the manifest and its seal (signature.json) ---------------------------


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


def check_revision(revision: str) -> None:
    """Raise ``ValueError`` unless `revision` may name a build."""
    if not (0 < len(revision) <= 128) or not revision.isprintable() or revision != revision.strip():
        raise ValueError("a revision is 1 to 128 printable characters without surrounding spaces")


def parse_json(data: bytes, member: str, where: str, code: str, diags: Diagnostics) -> Any:
    """The JSON value of a member, or None after reporting why it has none (`code`)."""
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        diags.error(code, "not valid UTF-8", member_span(f"{where}!{member}"))
    except json.JSONDecodeError as exc:
        diags.error(code, f"invalid JSON: {exc.msg}", Span(f"{where}!{member}", exc.lineno, exc.colno,
                                                           exc.lineno, exc.colno + 1, exc.pos, exc.pos + 1))
    return None


def parse_seal(data: bytes, where: str, diags: Diagnostics) -> dict | None:
    """signature.json, held to its exact canonical bytes: it is the one member
    no checksum covers, so no byte of it may be free to change."""
    at = member_span(f"{where}!{SIGNATURE}")
    seal = parse_json(data, SIGNATURE, where, "E806", diags)
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
    elif canonical_json(seal) != data:
        problem = "is not in canonical form (was it edited?)"
    if problem:
        diags.error("E806", f"{SIGNATURE} {problem}", at)
        return None
    return seal


def manifest_problem(m: Any) -> str | None:
    """What is wrong with the shape of a parsed manifest, or None."""
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
