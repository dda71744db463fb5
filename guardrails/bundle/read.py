"""Reading a bundle: verifying it (archive, seal, signature, manifest, every
member's checksum), and what is read from a verified one: the policy sources
the engine loads, and the versions ``guardrails check --against`` compares.
"""

from __future__ import annotations

import hmac
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from guardrails.bundle.archive import (
    MANIFEST, MAX_ARCHIVE_BYTES, SIGNATURE, SIGNING_CONTEXT, TESTS_SUFFIX, manifest_problem, member_span,
    parse_json, parse_seal, policy_text, sha256_hex, unpack,
)
from guardrails.bundle.keys import BundleKey, KeyFileError, load_key
from guardrails.diagnostics import Diagnostic, Diagnostics, PolicyError
from guardrails.resolve import POLICY_SUFFIX, SourceFile, parse_source

class BundleError(PolicyError):
    """A bundle could not be read or did not verify; carries every problem found."""

    def __init__(self, message: str, diagnostics: list[Diagnostic]):
        super().__init__(diagnostics)
        self.args = (message,)


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


def verify_bytes(data: bytes, where: str, *, key: BundleKey | None = None,
                 require_signature: bool = True) -> Bundle:
    """Verify a bundle's bytes; `where` names it in diagnostics. With
    `require_signature` false, a signed bundle read without a key is not an
    error (for inspecting); its signature is then simply not checked."""
    diags = Diagnostics()
    members = unpack(data, where, diags)
    if members is None:
        return Bundle(where, diags.sorted())
    manifest_bytes = members.pop(MANIFEST, None)
    seal_bytes = members.pop(SIGNATURE, None)
    for name, present in ((MANIFEST, manifest_bytes), (SIGNATURE, seal_bytes)):
        if present is None:
            diags.error("E804", f"{name} is missing: not a guardrails bundle, or a damaged one", member_span(where))
    seal = parse_seal(seal_bytes, where, diags) if seal_bytes is not None else None
    manifest = None
    if manifest_bytes is not None:
        at = member_span(f"{where}!{MANIFEST}")
        if seal is not None and not hmac.compare_digest(seal["manifest_sha256"], sha256_hex(manifest_bytes)):
            diags.error("E806", f"{MANIFEST} was changed: its sha256 does not match {SIGNATURE}", at)
        manifest = parse_json(manifest_bytes, MANIFEST, where, "E802", diags)
        problem = manifest_problem(manifest) if manifest is not None else None
        if problem:
            diags.error("E802", f"{MANIFEST}: {problem}", at)
        if problem or manifest is None:
            manifest = None

    signing, verified = None, False
    if seal is not None and manifest is not None:
        signing = manifest["signing"]
        declared = None if signing is None else (signing["alg"], signing["key_id"])
        sealed = None if seal["alg"] == "none" else (seal["alg"], seal["key_id"])
        at = member_span(f"{where}!{SIGNATURE}")
        if declared != sealed:
            diags.error("E806", f"{SIGNATURE} and {MANIFEST} disagree about the signing key", at)
        elif sealed is None:
            if key is not None:
                diags.error("E806", "the bundle is not signed, but a key was given: refusing an unsigned bundle",
                            member_span(where), hint="sign it: guardrails bundle build DIR -o FILE --key KEYFILE")
        elif key is None:
            if require_signature:
                diags.error("E806", f"the bundle is signed ({sealed[0]}, key id {sealed[1]}) but no key was "
                            "given to verify it", member_span(where), hint="pass --key (bundle_key= in Python)")
        elif key.alg != sealed[0]:
            diags.error("E806", f"the bundle is signed with {sealed[0]}, but the key given is "
                        f"{'an HMAC secret' if key.alg == 'hmac-sha256' else 'an Ed25519 key'}", member_span(where))
        elif key.key_id != sealed[1]:
            diags.error("E806", f"the bundle was signed by key id {sealed[1]}, but the key given has key id "
                        f"{key.key_id}", member_span(where))
        elif not key.verify(SIGNING_CONTEXT + manifest_bytes, bytes.fromhex(seal["signature"])):
            diags.error("E806", "the signature does not verify: the manifest or signature was changed", at)
        else:
            verified = True

    if manifest is not None:
        listed = {f["path"]: f for f in manifest["files"]}
        for path, entry in sorted(listed.items()):
            at = member_span(f"{where}!{path}")
            if path not in members:
                diags.error("E804", "listed in the manifest but missing from the archive", at)
                continue
            digest, size = sha256_hex(members[path]), len(members[path])
            if not hmac.compare_digest(digest, entry["sha256"]) or size != entry["size"]:
                diags.error("E803", f"changed since the build: sha256 {digest[:12]}…, {size} bytes; the "
                            f"manifest says {entry['sha256'][:12]}…, {entry['size']} bytes", at)
        for path in sorted(set(members) - set(listed)):
            diags.error("E805", "not listed in the manifest (added after the build?)", member_span(f"{where}!{path}"))
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
        diags.error("E801", f"cannot read bundle: {getattr(exc, 'strerror', None) or exc}", member_span(where))
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
        diag = Diagnostic("E806", f"cannot use the bundle key: {exc}", member_span(where))
        raise BundleError(f"bundle {where}: cannot use the key: {exc}", [diag]) from None
    if not bundle.ok:
        errors = [d for d in bundle.diagnostics if d.is_error]
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise BundleError(f"bundle {where} does not verify: {errors[0].span.file}: {errors[0].message}{more}",
                          bundle.diagnostics)
    return bundle


# ---- what the engine loads -------------------------------------------------


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
            text = policy_text(data)
        except UnicodeDecodeError as exc:
            diags.error("E701", f"cannot read policy file: not UTF-8 ({exc.reason} at byte {exc.start})",
                        member_span(where))
            continue
        sources.append(parse_source(text, where, diags))
    return sources


# ---- version discipline: changed text needs a new version -----------------


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
            text = policy_text(bundle.files[entry["file"]])
        except UnicodeDecodeError:
            continue
        before[(entry["name"], entry["version"])] = sha256_hex(text.encode("utf-8"))
    out: list[Diagnostic] = []
    for path, text in sorted(sources.items()):
        policy = parse_source(text, path, Diagnostics()).policy
        if policy is None:
            continue
        was = before.get((policy.name, policy.version))
        if was is not None and was != sha256_hex(text.encode("utf-8")):
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
