"""Policy bundles: one verifiable, optionally signed archive per release of a policy set.

A bundle is a gzip-compressed tar archive (``.bundle``, ``.tar.gz`` or
``.tgz``) holding::

    manifest.json                 what the bundle holds (below)
    policies/<path>.policy        policy and module sources, byte for byte
    policies/<path>.tests.yaml    their policy tests
    signature.json                the manifest's checksum, and its signature

Build one with ``guardrails bundle build DIR -o FILE`` (or :func:`build_bundle`)
and load it like a directory: ``Engine.from_path("x.bundle", bundle_key=...)``.

**Deterministic.** Entries are sorted by name; every tar header has mtime 0,
uid/gid 0, no owner names and mode 0644; the gzip header is fixed. The same
sources therefore give the same bytes apart from the manifest's build time,
and give identical bytes when ``SOURCE_DATE_EPOCH`` fixes that too (with the
same zlib; Ed25519 and HMAC signatures are deterministic).

**Manifest** (``format_version`` 1), JSON with sorted keys::

    format          "guardlang-bundle"
    format_version  1
    revision        --revision, or by default the content revision: the first
                    12 hex digits of sha256 over the sorted (path, sha256, size)
                    of the files. Equal sources give equal revisions on every
                    machine; a counter would need state outside the bundle.
    built_at        UTC ISO 8601, e.g. "2026-01-31T12:00:00Z"
    builder         "guardrails <version>"
    signing         null, or {"alg", "key_id"} of the signing key
    policies        [{name, kind, version, file, sha256, digest?}] where digest
                    (policies only) is the one decisions report
    files           [{path, sha256, size}] for every member but the two above

**Integrity chain.** ``signature.json`` covers ``manifest.json``: always its
sha256, and when signed an HMAC-SHA256 or Ed25519 signature over
``SIGNING_CONTEXT + manifest bytes``. The manifest covers every other member by
sha256 and size, and a member it does not list is an error. The manifest also
names the signing algorithm and key id, so the signature covers those too.
Verification fails when a signed bundle is read without a key, and when an
unsigned bundle is read with one (the key says a signature is expected).
Changes to the compressed container are caught too: the gzip header is fixed,
the trailer's CRC covers the archive, padding must be zero, and nothing may
follow the archive.

Keys (``guardrails bundle keygen``): an HMAC secret (armoured base64, or any
file of at least 16 raw bytes) shared by builder and verifier; or an Ed25519
key pair as PEM (PKCS#8 private key, SubjectPublicKeyInfo public key), which
needs the ``cryptography`` package (extra ``guardlang[signing]``). Verifying
takes the public key or the private one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import json
import os
import re
import struct
import tarfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from ..diagnostics import Diagnostic, Diagnostics, GuardrailsError, PolicyError, Span
from ..loader import POLICY_SUFFIX, SourceFile, discover, parse_source, version_key

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
MIN_HMAC_SECRET = 16

# Diagnostic codes of this module (to be merged into diagnostics.CODES).
BUNDLE_CODES: dict[str, str] = {
    "E801": "cannot read bundle archive",
    "E802": "invalid bundle manifest",
    "E803": "bundle file changed",
    "E804": "bundle file missing",
    "E805": "bundle file not in the manifest",
    "E806": "bundle signature does not verify",
    "E807": "policy changed without a version bump",
}

# Written by `_pack` and required by `_gunzip`: no name, no mtime, XFL=2
# (best compression), OS=255 (unknown). A fixed header is what makes every
# byte of the file covered by a check.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_HMAC_ARMOR = ("-----BEGIN GUARDLANG HMAC-SHA256 KEY-----", "-----END GUARDLANG HMAC-SHA256 KEY-----")


class BundleError(PolicyError):
    """A bundle could not be read or did not verify; carries every problem found."""

    def __init__(self, message: str, diagnostics: list[Diagnostic]):
        super().__init__(diagnostics)
        self.args = (message,)


class KeyFileError(GuardrailsError):
    """A key file is missing, unreadable, or not a key this module understands."""


def _span(where: str) -> Span:
    return Span(where, 1, 1, 1, 1, 0, 0)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _policy_text(data: bytes) -> str:
    """Decode like `Path.read_text`: UTF-8 with universal newlines, so a policy
    has the same text, and so the same digest, from a bundle or a directory."""
    return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")


# ---- keys ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BundleKey:
    """A signing or verifying key. Build with :func:`load_key` or :func:`generate_key`."""

    alg: str  # "hmac-sha256" | "ed25519"
    key_id: str  # 16 hex digits, recorded in the manifest
    secret: bytes | None = field(default=None, repr=False)
    private: Any = field(default=None, repr=False)  # Ed25519PrivateKey
    public: Any = field(default=None, repr=False)  # Ed25519PublicKey

    @property
    def can_sign(self) -> bool:
        return self.secret is not None or self.private is not None

    def sign(self, message: bytes) -> bytes:
        if self.secret is not None:
            return hmac.new(self.secret, message, hashlib.sha256).digest()
        if self.private is None:
            raise KeyFileError("an Ed25519 public key cannot sign; use the private key")
        return self.private.sign(message)

    def verify(self, message: bytes, signature: bytes) -> bool:
        if self.secret is not None:
            return hmac.compare_digest(self.sign(message), signature)
        from cryptography.exceptions import InvalidSignature

        try:
            self.public.verify(signature, message)
        except InvalidSignature:
            return False
        return True


def _hmac_key(secret: bytes, where: str) -> BundleKey:
    if len(secret) < MIN_HMAC_SECRET:
        raise KeyFileError(f"{where}: an HMAC secret needs at least {MIN_HMAC_SECRET} bytes, this one has "
                           f"{len(secret)} (guardrails bundle keygen makes 32)")
    key_id = hashlib.sha256(b"guardlang-hmac-key-id\0" + secret).hexdigest()[:16]
    return BundleKey("hmac-sha256", key_id, secret=secret)


def _crypto(where: str):
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise KeyFileError(f"{where}: Ed25519 keys need the 'cryptography' package "
                           "(pip install 'guardlang[signing]')") from None
    return serialization, ed25519


def _ed25519_key(private: Any, public: Any) -> BundleKey:
    serialization, _ = _crypto("ed25519")
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return BundleKey("ed25519", hashlib.sha256(raw).hexdigest()[:16], private=private, public=public)


def parse_key(data: bytes, where: str = "<key>") -> BundleKey:
    """A key from the contents of a key file (see the module docstring)."""
    head = data.lstrip()[:64]
    if head.startswith(_HMAC_ARMOR[0].encode()):
        lines = [ln.strip() for ln in data.decode("ascii", "replace").strip().splitlines()]
        if len(lines) < 3 or lines[-1] != _HMAC_ARMOR[1]:
            raise KeyFileError(f"{where}: truncated HMAC key file (no {_HMAC_ARMOR[1]} line)")
        try:
            secret = base64.b64decode("".join(lines[1:-1]), validate=True)
        except (binascii.Error, ValueError):
            raise KeyFileError(f"{where}: the HMAC key file does not hold valid base64") from None
        return _hmac_key(secret, where)
    if head.startswith(b"-----BEGIN"):
        serialization, ed25519 = _crypto(where)
        try:
            if b"PRIVATE KEY-----" in head:
                key = serialization.load_pem_private_key(data, password=None)
                if isinstance(key, ed25519.Ed25519PrivateKey):
                    return _ed25519_key(key, key.public_key())
            elif b"-----BEGIN PUBLIC KEY-----" in head:
                key = serialization.load_pem_public_key(data)
                if isinstance(key, ed25519.Ed25519PublicKey):
                    return _ed25519_key(None, key)
            else:
                raise ValueError("unsupported PEM block; use PKCS#8 'PRIVATE KEY' or 'PUBLIC KEY'")
        except (ValueError, TypeError) as exc:
            raise KeyFileError(f"{where}: not a usable PEM key: {exc}") from None
        raise KeyFileError(f"{where}: only Ed25519 keys are supported, this is {type(key).__name__}")
    return _hmac_key(data, where)


def load_key(key: "BundleKey | bytes | str | os.PathLike[str]") -> BundleKey:
    """A :class:`BundleKey` from a key object, a key file's contents (bytes), or
    the path of a key file (str or path)."""
    if isinstance(key, BundleKey):
        return key
    if isinstance(key, (bytes, bytearray)):
        return parse_key(bytes(key))
    path = Path(key)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror or exc}") from None
    return parse_key(data, str(path))


def generate_key(alg: str, prefix: str | os.PathLike[str], *, force: bool = False) -> tuple[BundleKey, list[Path]]:
    """Create a key: ``PREFIX.key`` (mode 0600) and, for Ed25519, ``PREFIX.pub``."""
    prefix = str(prefix)
    if alg in ("hmac", "hmac-sha256"):
        secret = os.urandom(32)
        text = f"{_HMAC_ARMOR[0]}\n{base64.b64encode(secret).decode()}\n{_HMAC_ARMOR[1]}\n"
        key, files = _hmac_key(secret, "keygen"), [(Path(prefix + ".key"), text.encode(), 0o600)]
    elif alg == "ed25519":
        serialization, ed25519 = _crypto("keygen")
        private = ed25519.Ed25519PrivateKey.generate()
        key = _ed25519_key(private, private.public_key())
        files = [
            (Path(prefix + ".key"), private.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()), 0o600),
            (Path(prefix + ".pub"), key.public.public_bytes(serialization.Encoding.PEM,
                                                           serialization.PublicFormat.SubjectPublicKeyInfo), 0o644),
        ]
    else:
        raise ValueError(f"unknown key type {alg!r}; use hmac or ed25519")
    if not force:
        for path, _, _ in files:
            if path.exists():
                raise KeyFileError(f"{path} already exists; refusing to overwrite a key (use --force)")
    for path, data, mode in files:
        # Created with its final mode so a secret is never briefly readable.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            os.fchmod(fd, mode)
            os.write(fd, data)
        finally:
            os.close(fd)
    return key, [p for p, _, _ in files]


# ---- the archive ---------------------------------------------------------------


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


# ---- building ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What :func:`build_bundle` did: the manifest written, or the problems found."""

    manifest: dict | None
    diagnostics: list[Diagnostic]
    sources: dict[str, str]  # path -> text, for rendering diagnostics with carets

    @property
    def ok(self) -> bool:
        return self.manifest is not None


def _canonical_json(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode("ascii")


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


def build_bundle(directory: str | os.PathLike[str], output: str | os.PathLike[str], *,
                 key: "BundleKey | bytes | str | os.PathLike[str] | None" = None, revision: str | None = None,
                 built_at: str | None = None, ner_model: str | None = None) -> BuildResult:
    """Check the policies under `directory` and write them, with their
    ``*.tests.yaml`` files, to the bundle `output`.

    Nothing is written when a policy fails its checks: the result carries
    the diagnostics instead. The checked text is the bundled text: each file
    is read once. Raises :class:`KeyFileError` for an unusable key and
    ``ValueError`` for a bad revision or SOURCE_DATE_EPOCH.
    """
    from .. import __version__
    from ..engine import load_sources

    root = Path(directory)
    if not root.is_dir():
        raise ValueError(f"{root} is not a directory")
    signer = load_key(key) if key is not None else None
    if signer is not None and not signer.can_sign:
        raise KeyFileError("this is an Ed25519 public key; signing needs the private key (PREFIX.key)")
    if revision is not None:
        _check_revision(revision)
    built_at = built_at or build_time()

    diags = Diagnostics()
    members: dict[str, bytes] = {}
    sources: list[SourceFile] = []
    member_of: dict[str, str] = {}
    policy_files = discover([root], diags)
    test_files = sorted(p for p in root.rglob(f"*{TESTS_SUFFIX}") if p.is_file())
    for path in [*policy_files, *test_files]:
        name = POLICY_DIR + path.relative_to(root).as_posix()
        problem = member_name_problem(name)
        if problem:
            diags.error("E701", f"cannot bundle this file: its name {problem}", _span(str(path)))
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            diags.error("E701", f"cannot read file: {exc.strerror or exc}", _span(str(path)))
            continue
        members[name] = data
        if name.endswith(POLICY_SUFFIX):
            try:
                text = _policy_text(data)
            except UnicodeDecodeError as exc:
                diags.error("E701", f"cannot read policy file: not UTF-8 ({exc.reason} at byte {exc.start})",
                            _span(str(path)))
                continue
            member_of[str(path)] = name
            sources.append(parse_source(text, str(path), diags))
    result = load_sources(sources, ner_model=ner_model, diags=diags)
    if not result.ok:
        return BuildResult(None, result.diagnostics, result.sources)

    digests = {(p.name, p.version): p.digest for p in result.policies}
    policies = []
    for s in sources:
        entry = {"name": s.policy.name, "kind": s.policy.kind, "version": s.policy.version,
                 "file": member_of[s.path], "sha256": _sha256(members[member_of[s.path]])}
        if s.policy.kind == "policy":
            entry["digest"] = digests[(s.policy.name, s.policy.version)]
        policies.append(entry)
    policies.sort(key=lambda e: (e["name"], version_key(e["version"])))
    files = [{"path": n, "sha256": _sha256(d), "size": len(d)} for n, d in sorted(members.items())]
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "revision": revision if revision is not None else content_revision(files),
        "built_at": built_at,
        "builder": f"guardrails {__version__}",
        "signing": {"alg": signer.alg, "key_id": signer.key_id} if signer else None,
        "policies": policies,
        "files": files,
    }
    manifest_bytes = _canonical_json(manifest)
    seal: dict[str, str] = {"alg": "none", "manifest_sha256": _sha256(manifest_bytes)}
    if signer is not None:
        seal.update(alg=signer.alg, key_id=signer.key_id,
                    signature=signer.sign(SIGNING_CONTEXT + manifest_bytes).hex())
    members[MANIFEST] = manifest_bytes
    members[SIGNATURE] = _canonical_json(seal)
    _write_atomically(Path(output), _pack(members.items()))
    return BuildResult(manifest, result.diagnostics, result.sources)


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


# ---- verifying -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bundle:
    """A bundle as read and verified. `ok` says whether it may be used."""

    path: str
    diagnostics: list[Diagnostic]
    manifest: dict | None = None
    files: dict[str, bytes] = field(default_factory=dict)  # member -> bytes (all but manifest/signature)
    signing: dict | None = None  # {"alg", "key_id"} when signed
    signature_verified: bool = False

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    @property
    def revision(self) -> str | None:
        return self.manifest.get("revision") if self.manifest else None

    def policy_files(self) -> dict[str, bytes]:
        return {n: d for n, d in self.files.items() if n.endswith(POLICY_SUFFIX)}

    def test_files(self) -> dict[str, bytes]:
        return {n: d for n, d in self.files.items() if n.endswith(TESTS_SUFFIX)}


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


def verify_bytes(data: bytes, where: str, *, key: BundleKey | None = None,
                 require_signature: bool = True) -> Bundle:
    """Verify a bundle's bytes; `where` names it in diagnostics. With
    `require_signature` false, a signed bundle read without a key is not an
    error (for inspecting); its signature is then simply not checked."""
    diags = Diagnostics()
    members = _unpack(data, where, diags)
    if members is None:
        return Bundle(where, diags.sorted())
    manifest_bytes = members.pop(MANIFEST, None)
    seal_bytes = members.pop(SIGNATURE, None)
    for name, present in ((MANIFEST, manifest_bytes), (SIGNATURE, seal_bytes)):
        if present is None:
            diags.error("E804", f"{name} is missing: not a guardrails bundle, or a damaged one", _span(where))
    seal = _parse_seal(seal_bytes, where, diags) if seal_bytes is not None else None
    manifest = None
    if manifest_bytes is not None:
        at = _span(f"{where}!{MANIFEST}")
        if seal is not None and not hmac.compare_digest(seal["manifest_sha256"], _sha256(manifest_bytes)):
            diags.error("E806", f"{MANIFEST} was changed: its sha256 does not match {SIGNATURE}", at)
        manifest = _parse_json(manifest_bytes, MANIFEST, where, "E802", diags)
        problem = _manifest_problem(manifest) if manifest is not None else None
        if problem:
            diags.error("E802", f"{MANIFEST}: {problem}", at)
        if problem or manifest is None:
            manifest = None

    signing, verified = None, False
    if seal is not None and manifest is not None:
        signing = manifest["signing"]
        declared = None if signing is None else (signing["alg"], signing["key_id"])
        sealed = None if seal["alg"] == "none" else (seal["alg"], seal["key_id"])
        at = _span(f"{where}!{SIGNATURE}")
        if declared != sealed:
            diags.error("E806", f"{SIGNATURE} and {MANIFEST} disagree about the signing key", at)
        elif sealed is None:
            if key is not None:
                diags.error("E806", "the bundle is not signed, but a key was given: refusing an unsigned bundle",
                            _span(where), hint="sign it: guardrails bundle build DIR -o FILE --key KEYFILE")
        elif key is None:
            if require_signature:
                diags.error("E806", f"the bundle is signed ({sealed[0]}, key id {sealed[1]}) but no key was "
                            "given to verify it", _span(where), hint="pass --key (bundle_key= in Python)")
        elif key.alg != sealed[0]:
            diags.error("E806", f"the bundle is signed with {sealed[0]}, but the key given is "
                        f"{'an HMAC secret' if key.alg == 'hmac-sha256' else 'an Ed25519 key'}", _span(where))
        elif key.key_id != sealed[1]:
            diags.error("E806", f"the bundle was signed by key id {sealed[1]}, but the key given has key id "
                        f"{key.key_id}", _span(where))
        elif not key.verify(SIGNING_CONTEXT + manifest_bytes, bytes.fromhex(seal["signature"])):
            diags.error("E806", "the signature does not verify: the manifest or signature was changed", at)
        else:
            verified = True

    if manifest is not None:
        listed = {f["path"]: f for f in manifest["files"]}
        for path, entry in sorted(listed.items()):
            at = _span(f"{where}!{path}")
            if path not in members:
                diags.error("E804", "listed in the manifest but missing from the archive", at)
                continue
            digest, size = _sha256(members[path]), len(members[path])
            if not hmac.compare_digest(digest, entry["sha256"]) or size != entry["size"]:
                diags.error("E803", f"changed since the build: sha256 {digest[:12]}…, {size} bytes; the "
                            f"manifest says {entry['sha256'][:12]}…, {entry['size']} bytes", at)
        for path in sorted(set(members) - set(listed)):
            diags.error("E805", "not listed in the manifest (added after the build?)", _span(f"{where}!{path}"))
    return Bundle(where, diags.sorted(), manifest, members, signing, verified)


def verify_bundle(path: str | os.PathLike[str], *, key: "BundleKey | bytes | str | os.PathLike[str] | None" = None,
                  require_signature: bool = True) -> Bundle:
    """Read and verify a bundle file. Never raises for a bad bundle: look at
    ``.ok`` and ``.diagnostics``. Raises :class:`KeyFileError` for a bad key."""
    where = str(path)
    bundle_key = load_key(key) if key is not None else None
    try:
        size = os.stat(path).st_size
        if size > MAX_ARCHIVE_BYTES:
            raise OSError(f"larger than {MAX_ARCHIVE_BYTES >> 20} MiB")
        data = Path(path).read_bytes()
    except OSError as exc:
        diags = Diagnostics()
        diags.error("E801", f"cannot read bundle: {getattr(exc, 'strerror', None) or exc}", _span(where))
        return Bundle(where, diags.sorted())
    return verify_bytes(data, where, key=bundle_key, require_signature=require_signature)


def read_bundle(path: str | os.PathLike[str], *,
                key: "BundleKey | bytes | str | os.PathLike[str] | None" = None) -> Bundle:
    """A verified bundle, or :class:`BundleError` listing every problem.

    `key` is a key file's path (str or path), its contents (bytes), or a
    :class:`BundleKey`. A signed bundle needs its key; an unsigned bundle is
    refused when a key is given.
    """
    where = str(path)
    try:
        bundle = verify_bundle(path, key=key)
    except KeyFileError as exc:
        diag = Diagnostic("E806", f"cannot use the bundle key: {exc}", _span(where))
        raise BundleError(f"bundle {where}: cannot use the key: {exc}", [diag]) from None
    if not bundle.ok:
        errors = [d for d in bundle.diagnostics if d.is_error]
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise BundleError(f"bundle {where} does not verify: {errors[0].span.file}: {errors[0].message}{more}",
                          bundle.diagnostics)
    return bundle


def read_bundle_sources(path: str | os.PathLike[str], *,
                        key: "BundleKey | bytes | str | os.PathLike[str] | None" = None,
                        diags: Diagnostics | None = None) -> list[SourceFile]:
    """Verify a bundle, then parse its policy files (what ``load_paths`` calls).

    Each source is named ``BUNDLE!policies/x.policy`` so diagnostics point
    into the bundle. Raises :class:`BundleError` when the bundle does not
    verify; parse problems go to `diags` like those of any other file.
    """
    diags = diags if diags is not None else Diagnostics()
    bundle = read_bundle(path, key=key)
    sources = []
    for name, data in sorted(bundle.policy_files().items()):
        where = f"{bundle.path}!{name}"
        try:
            text = _policy_text(data)
        except UnicodeDecodeError as exc:
            diags.error("E701", f"cannot read policy file: not UTF-8 ({exc.reason} at byte {exc.start})",
                        _span(where))
            continue
        sources.append(parse_source(text, where, diags))
    return sources


# ---- version discipline: `guardrails check --against OLD_BUNDLE` -------------------


def _next_patch(version: str) -> str | None:
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", version)
    return f"{m[1]}.{m[2]}.{int(m[3]) + 1}" if m else None


def check_against(sources: dict[str, str], old: str | os.PathLike[str], *,
                  key: "BundleKey | bytes | str | os.PathLike[str] | None" = None) -> list[Diagnostic]:
    """Errors for every policy or module in `sources` (path -> text) whose
    version is also in the bundle `old` with different source text.

    A policy's own source is compared (newline-normalised), not its imports:
    a changed module must bump its own version, not every policy importing
    it. Raises :class:`BundleError` when `old` does not verify.
    """
    bundle = read_bundle(old, key=key)
    before: dict[tuple[str, str], str] = {}
    for entry in bundle.manifest["policies"]:
        try:
            text = _policy_text(bundle.files[entry["file"]])
        except UnicodeDecodeError:
            continue
        before[(entry["name"], entry["version"])] = _sha256(text.encode("utf-8"))
    out: list[Diagnostic] = []
    for path, text in sorted(sources.items()):
        policy = parse_source(text, path, Diagnostics()).policy
        if policy is None:
            continue
        was = before.get((policy.name, policy.version))
        if was is not None and was != _sha256(text.encode("utf-8")):
            bump = _next_patch(policy.version)
            out.append(Diagnostic(
                "E807",
                f"{policy.kind} {policy.name!r} changed since {bundle.path} (revision {bundle.revision}) "
                f"but its version is still {policy.version}",
                policy.version_span,
                hint=f"bump the version{f' (to {bump} or later)' if bump else ''}: decisions name the policy "
                     "by name@version",
            ))
    return out
