"""Version discipline (`guardrails check --against OLD_BUNDLE`): changed text needs a new version."""

from __future__ import annotations

import os
import re

from guardrails.diagnostics import Diagnostic, Diagnostics
from guardrails.resolve import parse_source
from guardrails.bundle.keys import BundleKey
from guardrails.bundle.layout import _policy_text, _sha256
from guardrails.bundle.verify import read_bundle


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
