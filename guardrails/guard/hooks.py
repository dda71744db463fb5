"""What every integration that guards an agent's tools holds.

LangChain's ``ToolGuard``, the MCP ``GuardedClient`` and the Agents SDK's
``AgentGuardrails`` each check tool calls (and, unless told not to, their
results) for a principal, a context and a session, and tell the caller of
an escalation or a denied call. :class:`ToolHooks` holds that, checked once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from guardrails.guard.backend import Backend
from guardrails.guard.inputs import SessionSource, Source


class ToolHooks:
    """The settings of a tool-guarding integration; `who` names it in errors."""

    def __init__(self, who: str, engine_or_client: Any, policy: str | None, *, principal: Any, context: Any,
                 session: Any, on_escalate: Callable | None, on_tool_denied: Callable | None,
                 on_error: str | None, check_results: bool):
        self.backend = Backend(engine_or_client, policy, on_error)
        self.principal = Source("principal", principal)
        self.context = Source("context", context)
        self.session = SessionSource(session)
        for name, handler in (("on_escalate", on_escalate), ("on_tool_denied", on_tool_denied)):
            if handler is not None and not callable(handler):
                raise TypeError(f"{who}: {name} must be callable, not {type(handler).__name__}")
        self.on_escalate = on_escalate
        self.on_tool_denied = on_tool_denied
        if check_results and not self.backend.checks_results:
            raise TypeError(f"{who}: {type(engine_or_client).__name__} has no check_tool_result; pass "
                            "check_results=False to check the calls only")
        self.check_results = check_results


__all__ = ["ToolHooks"]
