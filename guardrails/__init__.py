"""Policy-as-code guardrails for LLM applications.

The pipeline, one module per stage: :mod:`~guardrails.parser` (source ->
AST), :mod:`~guardrails.checker` and :mod:`~guardrails.logic` (static
checks), :mod:`~guardrails.compiler` (AST -> rule graph),
:mod:`~guardrails.evaluate` (graph + request -> :class:`Decision`).
:mod:`~guardrails.pipeline` runs the load stages, in order, as one list. The
front doors are :class:`Engine` (in-process) and the ``guardrails`` CLI.
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
