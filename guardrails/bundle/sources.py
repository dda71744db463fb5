"""Reading a verified bundle's policy sources for the engine."""

from __future__ import annotations

import os

from guardrails.diagnostics import Diagnostics
from guardrails.resolve import SourceFile, parse_source
from guardrails.bundle.keys import BundleKey
from guardrails.bundle.layout import _policy_text, _span
from guardrails.bundle.verify import read_bundle


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
