"""MCP: tool calls to a Model Context Protocol server, checked on the client side.

Needs the ``mcp`` SDK. :class:`GuardedClient` wraps an MCP client (``mcp.Client``
or a ``ClientSession``: anything with ``async call_tool(name, arguments)``)
so that every tool call goes through the policy before it reaches the
server, and every result before the agent reads it::

    async with Client(server) as client:
        tools = GuardedClient(client, engine, policy="agent-assistant")
        result = await tools.call_tool("web_fetch", {"url": url})

* **The call**: the tool_call rules, with ``principal``, ``context`` and
  ``session``. A call not let through (denied; escalated, and
  ``on_escalate`` did not return ``CONTINUE``) is never sent: the agent gets
  a ``CallToolResult`` with ``is_error=True`` whose text says which rules
  stopped it, or :class:`~guardrails.guard.PolicyViolation` is raised with
  ``raise_on_deny=True``. Redacted arguments are sent in place of the
  agent's.
* **The result**: its text content blocks (JSON text read as JSON) and its
  ``structured_content`` go through the tool_result rules, with the tool's
  name and arguments: redacted in place, or replaced by a notice (an error
  result) when not let through. Images and other blocks pass unread.

Everything else (``list_tools``, ``read_resource`` ...) is the wrapped
client's. ``principal``, ``context`` and ``session`` are values, or
callables given ``{"tool", "args"}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from mcp.types import CallToolResult, TextContent

from guardrails.decision import Decision, Outcome
from guardrails.guard import results as R
from guardrails.guard import shapes as M
from guardrails.guard.backend import (
    CONTINUE,
    EscalationRequired,
    PolicyViolation,
)
from guardrails.guard.call import ToolCall
from guardrails.guard.hooks import ToolHooks


def _refused(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


class GuardedClient(ToolHooks):
    """An MCP client whose ``call_tool`` is checked (see the module)."""

    def __init__(self, client: Any, engine_or_client: Any, policy: str | None = None, *, principal: Any = None,
                 context: Any = None, session: Any = None, on_escalate: Callable | None = None,
                 on_tool_denied: Callable | None = None, raise_on_deny: bool = False, on_error: str | None = None,
                 check_results: bool = True):
        if not callable(getattr(client, "call_tool", None)):
            raise TypeError(f"GuardedClient wraps an MCP client with call_tool(), not {type(client).__name__}")
        self.client = client
        super().__init__("GuardedClient", engine_or_client, policy, principal=principal, context=context,
                           session=session, on_escalate=on_escalate, on_tool_denied=on_tool_denied,
                           on_error=on_error, check_results=check_results)
        self.raise_on_deny = raise_on_deny

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    async def _let_through(self, d: Decision, call: ToolCall, subject: str) -> bool:
        keep = d.outcome in (Outcome.ALLOW, Outcome.REDACT)
        if d.outcome is Outcome.ESCALATE and self.on_escalate is not None:
            value = self.on_escalate(d)
            keep = (await value if hasattr(value, "__await__") else value) is CONTINUE
        if keep:
            return True
        if self.raise_on_deny:
            raise (EscalationRequired if d.outcome is Outcome.ESCALATE else PolicyViolation)(d, subject)
        if self.on_tool_denied is not None:
            value = self.on_tool_denied(call, d)
            if hasattr(value, "__await__"):
                await value
        return False

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None, *rest: Any, **kwargs: Any) -> Any:
        """The server's ``call_tool``, checked before and after."""
        args = R.json_value(dict(arguments or {}), f"the arguments of MCP tool {name!r}", "tool arguments")
        about = {"tool": name, "args": args}
        principal, context = self.principal.resolve(about), self.context.resolve(about)
        session = self.session.resolve(about)
        d = await self.backend.atool(name, args, principal, context, session)
        if not await self._let_through(d, ToolCall(name, args, None), f"the tool call {name!r}"):
            return _refused(R.refused_notice(d, f"tool call {name!r}"))
        if isinstance(d.text, dict):
            args = d.text
        result = await self.client.call_tool(name, args, *rest, **kwargs)
        if not self.check_results or M.get(result, "content") is None:
            return result
        return await self._checked_result(name, args, result, principal, context, session)

    async def _checked_result(self, name: str, args: dict, result: Any, principal: Any, context: Any,
                              session: str | None) -> Any:
        blocks = list(M.get(result, "content") or [])
        texts = [(i, b.text) for i, b in enumerate(blocks) if M.get(b, "type") == "text" and isinstance(b.text, str)]
        structured = M.get(result, "structured_content")
        values = [R.parsed(t) for _, t in texts]
        value: Any = values[0] if len(values) == 1 else values
        if structured is not None:
            value = {"content": values, "structured_content": R.json_value(structured, "structured_content",
                                                                           "results")}
        if not texts and structured is None:
            return result
        d = await self.backend.aresult(name, value, args, principal, context, session)
        if not await self._let_through(d, ToolCall(name, args, None), f"the result of tool {name!r}"):
            return _refused(R.withheld_notice(d))
        forwarded = value if d.text is None else d.text
        if forwarded == value:
            return result
        if structured is not None:
            new_values, new_structured = forwarded["content"], forwarded["structured_content"]
            result = M.replace(result, "structured_content", new_structured)
        else:
            new_values = [forwarded] if len(values) == 1 else forwarded
        for (i, text), before, after in zip(texts, values, new_values):
            if after != before:
                new = json.dumps(after, ensure_ascii=False) if R.parsed(text) is not text else after
                blocks[i] = M.replace(blocks[i], "text", new)
        return M.replace(result, "content", blocks)


__all__ = ["GuardedClient"]
