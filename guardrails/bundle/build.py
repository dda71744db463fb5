"""Building a bundle: check the policies, write the manifest, seal and sign it, pack the archive."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from guardrails.bundle.archive import (
    FORMAT, FORMAT_VERSION, MANIFEST, POLICY_DIR, SIGNATURE, SIGNING_CONTEXT, TESTS_SUFFIX, build_time,
    canonical_json, check_revision, content_revision, member_name_problem, member_span, pack, policy_text,
    sha256_hex,
)
from guardrails.bundle.keys import BundleKey, KeyFileError, load_key
from guardrails.diagnostics import Diagnostic, Diagnostics
from guardrails.pipeline import load_sources
from guardrails.resolve import POLICY_SUFFIX, SourceFile, discover, parse_source, version_key
from guardrails.version import __version__


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What :func:`build_bundle` did: the manifest written, or the problems found."""

    manifest: dict | None
    diagnostics: list[Diagnostic]
    sources: dict[str, str]  # path -> text, for rendering diagnostics with carets

    @property
    def ok(self) -> bool:
        return self.manifest is not None


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
    root = Path(directory)
    if not root.is_dir():
        raise ValueError(f"{root} is not a directory")
    signer = load_key(key) if key is not None else None
    if signer is not None and not signer.can_sign:
        raise KeyFileError("this is an Ed25519 public key; signing needs the private key (PREFIX.key)")
    if revision is not None:
        check_revision(revision)
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
            diags.error("E701", f"cannot bundle this file: its name {problem}", member_span(str(path)))
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            diags.error("E701", f"cannot read file: {exc.strerror or exc}", member_span(str(path)))
            continue
        members[name] = data
        if name.endswith(POLICY_SUFFIX):
            try:
                text = policy_text(data)
            except UnicodeDecodeError as exc:
                diags.error("E701", f"cannot read policy file: not UTF-8 ({exc.reason} at byte {exc.start})",
                            member_span(str(path)))
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
                 "file": member_of[s.path], "sha256": sha256_hex(members[member_of[s.path]])}
        if s.policy.kind == "policy":
            entry["digest"] = digests[(s.policy.name, s.policy.version)]
        policies.append(entry)
    policies.sort(key=lambda e: (e["name"], version_key(e["version"])))
    files = [{"path": n, "sha256": sha256_hex(d), "size": len(d)} for n, d in sorted(members.items())]
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
    manifest_bytes = canonical_json(manifest)
    seal: dict[str, str] = {"alg": "none", "manifest_sha256": sha256_hex(manifest_bytes)}
    if signer is not None:
        seal.update(alg=signer.alg, key_id=signer.key_id,
                    signature=signer.sign(SIGNING_CONTEXT + manifest_bytes).hex())
    members[MANIFEST] = manifest_bytes
    members[SIGNATURE] = canonical_json(seal)
    _write_atomically(Path(output), pack(members.items()))
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
