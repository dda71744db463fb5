"""The archive: a deterministic .tar.gz written, and read back with every byte checked."""

from __future__ import annotations

import io
import struct
import tarfile
import zlib
from typing import Iterable

from guardrails.diagnostics import Diagnostics
from guardrails.bundle.layout import MANIFEST, MAX_MEMBERS, MAX_UNPACKED_BYTES, POLICY_DIR, SIGNATURE, _span

# Written by `_pack` and required by `_gunzip`: no name, no mtime, XFL=2
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


def _pack(members: Iterable[tuple[str, bytes]]) -> bytes:
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
        diags.error("E801", message, _span(where), hint="rebuild the bundle with `guardrails bundle build`")

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
    writes them. The decoder ignores them, so they are the one place where a
    changed byte would otherwise leave the content, and the CRC, unchanged. A
    set bit is padding when clearing it decodes to the same archive."""
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


def _unpack(data: bytes, where: str, diags: Diagnostics) -> dict[str, bytes] | None:
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
                    diags.error("E801", f"more than {MAX_MEMBERS} members", _span(where))
                    return None
                if not info.isreg():
                    diags.error("E805", f"member {name!r} is not a regular file", _span(f"{where}!{name}"))
                    continue
                problem = member_name_problem(name)
                if problem:
                    diags.error("E805", f"member name {name!r} {problem}", _span(where))
                    continue
                if name in members:
                    diags.error("E805", "member appears twice in the archive", _span(f"{where}!{name}"))
                    continue
                f = tar.extractfile(info)
                content = f.read() if f is not None else b""
                if len(content) != info.size:
                    diags.error("E801", "truncated member", _span(f"{where}!{name}"))
                    return None
                members[name] = content
            end = tar.offset
    except (tarfile.TarError, EOFError, OSError, ValueError, UnicodeError) as exc:
        diags.error("E801", f"not a readable tar archive: {exc}", _span(where))
        return None
    if any(raw[end:]):
        # tarfile stops quietly at a damaged header after the first one.
        diags.error("E801", f"unreadable data at offset {end} of the tar archive (a damaged member header?)",
                    _span(where))
        return None
    return members
