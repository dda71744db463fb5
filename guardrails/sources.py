"""Policies from paths: files, directories and bundles, read, parsed and
loaded through :mod:`guardrails.pipeline`.

This sits above both the pipeline and :mod:`guardrails.bundle` (whose
builder runs the pipeline to check what it packs), so the two never import
each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from guardrails.diagnostics import Diagnostics
from guardrails.pipeline import LoadResult, load_sources
from guardrails.resolve import SourceFile, discover, read_sources

BUNDLE_SUFFIXES = (".bundle", ".tar.gz", ".tgz")


def is_bundle(path: str | Path) -> bool:
    """Whether `path` is a bundle file (by its suffix) rather than a policy file or directory."""
    p = Path(path)
    return p.is_file() and p.name.endswith(BUNDLE_SUFFIXES)


def read_paths(paths: Iterable[str | Path], diags: Diagnostics, *,
               bundle_key: bytes | str | None = None) -> list[SourceFile]:
    """Parse the policy files under `paths`: files, directories (recursively) and bundles."""
    sources: list[SourceFile] = []
    plain: list[str | Path] = []
    for path in paths:
        if is_bundle(path):
            # Lazy for import cost only (tarfile, the signing keys): most loads
            # have no bundle. The bundle package never imports this module.
            from guardrails.bundle import read_bundle_sources

            sources.extend(read_bundle_sources(path, key=bundle_key, diags=diags))
        else:
            plain.append(path)
    if plain:
        sources.extend(read_sources(discover(plain, diags), diags))
    return sources


def load_paths(paths: Iterable[str | Path], *, ner_model: str | None = None, coverage: bool = False,
               bundle_key: bytes | str | None = None, strict: bool = False) -> LoadResult:
    """Load policy files, directories, or bundles (see guardrails.bundle)."""
    diags = Diagnostics()
    sources = read_paths(paths, diags, bundle_key=bundle_key)
    return load_sources(sources, ner_model=ner_model, diags=diags, coverage=coverage, strict=strict)


__all__ = ["BUNDLE_SUFFIXES", "is_bundle", "load_paths", "read_paths"]
