"""Import paths that moved in the 0.2 layout keep working.

Each old dotted name is an alias: importing it imports the module at its new
home and returns that very module object, so ``guardrails.client.X is
guardrails.sidecar.client.X``. The docs show the new paths; this table is
the only place the old ones are written. Installed once, by
``guardrails/__init__.py``.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
from types import ModuleType

#: old dotted name -> new dotted name. A package's entry also maps its
#: submodules (``guardrails.server.convert`` -> ``guardrails.sidecar.convert``).
MOVED: dict[str, str] = {
    "guardrails.loader": "guardrails.resolve",
    "guardrails.analysis": "guardrails.logic",
    "guardrails.formatter": "guardrails.unparse",
    "guardrails.fmt": "guardrails.authoring.format",
    "guardrails.graph": "guardrails.authoring.export",
    "guardrails.impact": "guardrails.authoring.impact",
    "guardrails.streaming": "guardrails.guard.stream_guard",
    "guardrails.guard_core": "guardrails.guard.backend",
    "guardrails.guard_steps": "guardrails.guard.steps",
    "guardrails.guard_streams": "guardrails.guard.stream_adapter",
    "guardrails.guard_tools": "guardrails.guard.tool",
    "guardrails.messages": "guardrails.guard.shapes",
    "guardrails.pseudonymize": "guardrails.guard.pseudonymize",
    "guardrails.client": "guardrails.sidecar.client",
    "guardrails.server": "guardrails.sidecar",
    "guardrails.server.sidecar": "guardrails.sidecar.server",
    "guardrails.server.service": "guardrails.sidecar.rpc",
    "guardrails.server.stream": "guardrails.sidecar.rpc_stream",
    "guardrails._proto": "guardrails.sidecar._proto",
    "guardrails.pytest_plugin": "guardrails.testing.pytest_plugin",
    "guardrails.detectors.fastpath": "guardrails.detectors.pii.fastpath",
    "guardrails.detectors.phones": "guardrails.detectors.pii.phones",
    "guardrails.detectors.prefilter": "guardrails.detectors.pii.prefilter",
    "guardrails.detectors._presidio": "guardrails.detectors.pii.presidio",
}


def new_name(old: str) -> str | None:
    """The new dotted name of `old`, or None when `old` did not move."""
    if old in MOVED:
        return MOVED[old]
    head, _, tail = old.rpartition(".")
    while head:
        if head in MOVED:
            return MOVED[head] + old[len(head):]
        head, _, _ = head.rpartition(".")
    return None


# The finder and loader follow the import protocols without subclassing
# importlib.abc, whose import pulls in importlib.resources, tempfile and more:
# this module is installed by every `import guardrails`, the CLI's cold start included.
class _AliasLoader:
    def __init__(self, target: str) -> None:
        self.target = target
        self.module: ModuleType | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        self.module = importlib.import_module(self.target)
        self.real_spec = self.module.__spec__
        return self.module

    def exec_module(self, module: ModuleType) -> None:
        # The import system stamped the alias's spec on the real module;
        # give it back its own, so reloads and pickling see the real name.
        module.__spec__ = self.real_spec


class MovedFinder:
    """Answers only for the names in :data:`MOVED` (and their submodules)."""

    def find_spec(self, fullname, path=None, target=None):  # noqa: ANN001 (the finder protocol)
        target_name = new_name(fullname)
        if target_name is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(target_name))


def install() -> None:
    if not any(isinstance(f, MovedFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, MovedFinder())
