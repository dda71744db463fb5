"""Signing keys: HMAC-SHA256 secrets and Ed25519 key pairs; parsing, loading, generating, signing."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guardrails.diagnostics import GuardrailsError

MIN_HMAC_SECRET = 16
_HMAC_ARMOR = ("-----BEGIN GUARDLANG HMAC-SHA256 KEY-----", "-----END GUARDLANG HMAC-SHA256 KEY-----")


class KeyFileError(GuardrailsError):
    """A key file is missing, unreadable, or not a key this module understands."""


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
    """A key from the contents of a key file (see :mod:`guardrails.bundle`)."""
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
