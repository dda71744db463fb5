"""Policy-as-code guardrails for LLM applications.

The top level is the language pipeline: :mod:`~guardrails.parser` (source ->
AST), then :mod:`~guardrails.pipeline`, which runs the load stages in order
as one list (:mod:`~guardrails.resolve`, :mod:`~guardrails.checker`,
:mod:`~guardrails.logic`, :mod:`~guardrails.compiler`), and
:mod:`~guardrails.evaluate` (rule graph + request -> :class:`Decision`). The
front doors are :class:`Engine` (in-process), :mod:`guardrails.guard` (the
decorator), :mod:`guardrails.sidecar` (the gRPC server and client) and the
``guardrails`` CLI. docs/architecture.md draws the whole tree.

The names below load on first use (PEP 562), so importing a submodule, or
starting the CLI, does not import the engine and everything under it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from guardrails.version import __version__

from guardrails import _moved  # noqa: E402

_moved.install()

if TYPE_CHECKING:
    from guardrails.decision import Decision, Outcome, Violation
    from guardrails.diagnostics import Diagnostic, GuardrailsError, PolicyError
    from guardrails.engine import Engine, UnknownPolicyError

#: Each exported name -> the module that defines it.
_EXPORTS = {
    "Decision": "guardrails.decision",
    "Outcome": "guardrails.decision",
    "Violation": "guardrails.decision",
    "Diagnostic": "guardrails.diagnostics",
    "GuardrailsError": "guardrails.diagnostics",
    "PolicyError": "guardrails.diagnostics",
    "Engine": "guardrails.engine",
    "UnknownPolicyError": "guardrails.engine",
}

__all__ = [
    "Decision",
    "Diagnostic",
    "Engine",
    "GuardrailsError",
    "Outcome",
    "PolicyError",
    "UnknownPolicyError",
    "Violation",
    "__version__",
]


def __getattr__(name: str):
    """An exported name, imported on first use; or a submodule not imported
    yet (``import guardrails; guardrails.engine``), as when this package
    imported the engine eagerly."""
    import importlib

    target = _EXPORTS.get(name)
    if target is not None:
        value = getattr(importlib.import_module(target), name)
        globals()[name] = value
        return value
    if not name.startswith("__"):
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
