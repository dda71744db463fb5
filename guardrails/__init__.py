"""Policy-as-code guardrails for LLM applications.

The top level is the language pipeline: :mod:`~guardrails.parser` (source ->
AST), then :mod:`~guardrails.pipeline`, which runs the load stages in order
as one list (:mod:`~guardrails.resolve`, :mod:`~guardrails.checker`,
:mod:`~guardrails.logic`, :mod:`~guardrails.compiler`), and
:mod:`~guardrails.evaluate` (rule graph + request -> :class:`Decision`). The
front doors are :class:`Engine` (in-process), :mod:`guardrails.guard` (the
decorator), :mod:`guardrails.sidecar` (the gRPC server and client) and the
``guardrails`` CLI. docs/architecture.md draws the whole tree.
"""

from __future__ import annotations

from guardrails.version import __version__

from guardrails import _moved  # noqa: E402

_moved.install()

from guardrails.decision import Decision, Outcome, Violation  # noqa: E402
from guardrails.diagnostics import Diagnostic, GuardrailsError, PolicyError  # noqa: E402
from guardrails.engine import Engine, UnknownPolicyError  # noqa: E402

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
