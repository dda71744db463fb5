"""A policy directory as the editor sees it: disk files under unsaved buffers.

A document's diagnostics must be the ones ``guardrails check DIR`` prints for
it, where DIR is the document's directory: imports resolve by a policy's
declared name among the files loaded together, so the document is loaded
with every ``*.policy`` file around it. An open buffer replaces its file on
disk (the editor's text wins, saved or not), and a buffer with no file yet
joins the load. The load is the engine's own: :func:`~guardrails.resolve.parse_source`
for each text and :func:`~guardrails.pipeline.load_sources` for the set.

For hover, completion and definitions, every file, module or policy, is
also resolved as a unit of its own (:func:`~guardrails.resolve.build_units`
makes units of policies only), so a module's names resolve the way its
importers' do.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from guardrails.diagnostics import Diagnostic, Diagnostics, Span
from guardrails.pipeline import LoadResult, load_sources
from guardrails.resolve import (
    POLICY_SUFFIX,
    Defined,
    SourceFile,
    Unit,
    build_units,
    discover,
    parse_source,
)

#: The most files one load reads from disk. A document opened in a large
#: directory that is not a policy directory (a home directory, say) is then
#: loaded with its own directory's files only, not the whole tree.
MAX_FILES = 400


def norm(path: str | Path) -> str:
    """One spelling per file, so a buffer and its disk file meet."""
    return os.path.normcase(os.path.abspath(str(path)))


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One load of a directory: the parsed sources, the pipeline's result,
    and each file resolved as a unit of its own."""

    root: str | None
    sources: dict[str, SourceFile]  # by norm(path)
    result: LoadResult
    units: dict[str, Unit] = field(default_factory=dict)  # by norm(path), modules included
    ner_model: str | None = None

    def source(self, path: str) -> SourceFile | None:
        return self.sources.get(norm(path))

    def diagnostics(self, path: str) -> list[Diagnostic]:
        """What ``guardrails check`` reports in this file, in its order."""
        key = norm(path)
        return [d for d in self.result.diagnostics if norm(d.span.file) == key]

    def scope(self, path: str) -> dict[str, Defined]:
        """The definitions visible in a file: its own and its imports'."""
        unit = self.units.get(norm(path))
        return unit.scope if unit is not None else {}

    def parsed_files(self) -> list[SourceFile]:
        """Every file with a syntax tree: a file that no longer parses at all
        counts with the tree of its last load that did."""
        out = []
        for key, f in self.sources.items():
            if f.policy is None and key in self.units:
                f = self.units[key].source
            if f.policy is not None:
                out.append(f)
        return out

    def unit(self, path: str) -> Unit | None:
        return self.units.get(norm(path))

    def imported(self, path: str, name: str) -> SourceFile | None:
        """The module that ``import "name"`` in this file resolves to."""
        unit = self.units.get(norm(path))
        if unit is None:
            return None
        return next((m for m in unit.modules if m.policy is not None and m.policy.name == name), None)


def disk_files(root: str) -> list[Path]:
    """The policy files ``guardrails check ROOT`` would read (recursively),
    or only those directly in ROOT when there are more than MAX_FILES."""
    found = discover([root], Diagnostics())
    if len(found) > MAX_FILES:
        found = sorted(p for p in Path(root).glob(f"*{POLICY_SUFFIX}") if p.is_file())[:MAX_FILES]
    return found


def load(root: str | None, buffers: dict[str, str], *, ner_model: str | None = None,
         previous: Snapshot | None = None) -> Snapshot:
    """Load the policy files under `root` with `buffers` (path -> text) over them.

    `root` None loads the buffers alone (documents with no file on disk).
    A file that no longer parses at all (a stage block still open while it
    is typed) keeps its scope from `previous`, so completion and hover go on
    working mid-edit. Never raises for a bad policy: its problems are
    diagnostics.
    """
    diags = Diagnostics()
    texts: dict[str, tuple[str, str]] = {}  # norm path -> (path as reported, text)
    open_files = {norm(b) for b in buffers}
    if root is not None:
        for p in disk_files(root):
            key = norm(p)
            if key in open_files:
                continue
            try:
                texts[key] = (str(p), p.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as exc:
                # The message `check` gives for a file it cannot read.
                diags.error("E701", f"cannot read policy file: {exc}", Span(str(p), 1, 1, 1, 1, 0, 0))
    for path, text in buffers.items():
        texts[norm(path)] = (path, text)
    # discover() sorts its files; keep that order so diagnostics sort the same way.
    parsed = {key: parse_source(text, shown, diags) for key, (shown, text) in sorted(texts.items())}
    result = load_sources(list(parsed.values()), ner_model=ner_model, diags=diags)
    units = _every_file_a_unit(list(parsed.values()))
    if previous is not None:
        for key, f in parsed.items():
            if f.policy is None and key not in units and key in previous.units:
                units[key] = previous.units[key]
    return Snapshot(root, parsed, result, units, ner_model)


def _every_file_a_unit(sources: list[SourceFile]) -> dict[str, Unit]:
    """Each file resolved as if it were a policy, so modules have scopes too."""
    as_policies = [
        dataclasses.replace(f, policy=dataclasses.replace(f.policy, kind="policy")) if f.policy is not None else f
        for f in sources
    ]
    back = {id(copy): orig for copy, orig in zip(as_policies, sources)}
    units, _ = build_units(as_policies, Diagnostics())
    out: dict[str, Unit] = {}
    for u in units:
        orig = back.get(id(u.source), u.source)
        modules = [back.get(id(m), m) for m in u.modules]
        out[norm(orig.path)] = Unit(orig, modules, u.scope, u.rules)
    return out


__all__ = ["MAX_FILES", "Snapshot", "disk_files", "load", "norm"]
