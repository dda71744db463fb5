"""LangChain and LangGraph: a guarded runnable for chains, a hook for tool nodes.

Needs ``langchain-core`` (``pip install 'guardlang[langchain]'``); LangGraph
is only needed by the graphs that use :class:`ToolGuard`.

* ``@guard`` itself reads LangChain messages (``HumanMessage``,
  ``AIMessage``, ``ToolMessage`` ...), returns an ``AIMessage`` redacted and
  with its denied tool calls removed, and guards ``llm.stream`` /
  ``llm.astream`` chunks (:mod:`guardrails.guard.shapes`,
  :mod:`guardrails.guard.answers`, :mod:`guardrails.guard.stream_adapter`);
  this module does not need to be imported for that.
* :class:`GuardrailsRunnable` wraps a chat model (or any runnable that takes
  messages) so that ``invoke``, ``ainvoke``, ``stream``, ``astream`` and
  ``batch`` go through ``@guard``; it composes with ``|`` like any runnable::

      chain = prompt | GuardrailsRunnable(llm, engine, policy="support-bot") | parser

* :class:`ToolGuard` is LangGraph's ``ToolNode`` hook: every tool call is
  checked by the tool_call rules before the tool runs (a denied one does not
  run; the model reads a notice in its ``ToolMessage``), and every result by
  the tool_result rules before it enters the graph's state::

      guard = ToolGuard(engine, policy="agent-assistant")
      tools = ToolNode(tools, wrap_tool_call=guard.wrap_tool_call, awrap_tool_call=guard.awrap_tool_call)

With a session (``with guardrails.guard.session(...)``, or ``session=``),
a tool call the guarded model already let through is not checked again by
the hook, and a result the hook let through is not checked again when the
model reads it back: each event is one step of the session.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from langchain_core.messages import BaseMessage, ToolMessage
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable, RunnableConfig

from guardrails.decision import Decision, Outcome
from guardrails.guard import results as R
from guardrails.guard import shapes as M
from guardrails.guard.backend import CONTINUE
from guardrails.guard.decorator import ToolCall, guard
from guardrails.guard.hooks import ToolHooks
from guardrails.guard.once import CHECKED, handed_key, who
from guardrails.guard.steps import Checks, Invoke, arun, run


def _messages(value: Any, where: str) -> Any:
    """A runnable's input as messages: a prompt value's messages, a str, a
    list of messages; anything else is named."""
    if isinstance(value, PromptValue):
        return value.to_messages()
    if isinstance(value, (str, list, tuple)):
        return value
    if isinstance(value, BaseMessage):
        return [value]
    raise TypeError(f"{where}: the input must be a prompt value, a str or a list of messages, "
                    f"not {type(value).__name__}")


class GuardrailsRunnable(Runnable[Any, Any]):
    """A runnable whose every call goes through :func:`~guardrails.guard.guard`.

    ``bound`` is the chat model (or any runnable taking messages). The other
    arguments are ``guard(...)``'s (``policy``, ``principal``, ``context``,
    ``session``, ``on_deny``, ``on_tool_denied``, ``tool_calls`` ...). The
    input (a prompt value, a str or a list of messages) is checked and
    redacted before ``bound`` sees it; its answer (an ``AIMessage``, a str,
    or a stream of ``AIMessageChunk``) is checked and redacted before the
    chain goes on, with the denied tool calls removed. A deny raises
    :class:`~guardrails.guard.PolicyViolation`, as ``@guard`` does.
    """

    def __init__(self, bound: Runnable, engine_or_client: Any, policy: str | None = None, **options: Any):
        if not isinstance(bound, Runnable):
            raise TypeError(f"GuardrailsRunnable wraps a LangChain runnable, not {type(bound).__name__}")
        for reserved in ("input_arg", "messages_arg"):
            if reserved in options:
                raise TypeError(f"GuardrailsRunnable: {reserved}= is set by the runnable (the input is the prompt)")
        self.bound = bound
        self.name = f"Guarded{bound.get_name()}"
        wrap = guard(engine_or_client, policy, messages_arg="messages", **options)

        @wrap
        def invoke(messages: Any, config: RunnableConfig | None, kwargs: dict) -> Any:
            return bound.invoke(messages, config, **kwargs)

        @wrap
        async def ainvoke(messages: Any, config: RunnableConfig | None, kwargs: dict) -> Any:
            return await bound.ainvoke(messages, config, **kwargs)

        @wrap
        def stream(messages: Any, config: RunnableConfig | None, kwargs: dict) -> Iterator[Any]:
            yield from bound.stream(messages, config, **kwargs)

        @wrap
        async def astream(messages: Any, config: RunnableConfig | None, kwargs: dict) -> AsyncIterator[Any]:
            async for chunk in bound.astream(messages, config, **kwargs):
                yield chunk

        self._invoke, self._ainvoke, self._stream, self._astream = invoke, ainvoke, stream, astream

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._invoke(_messages(input, self.name), config, kwargs)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self._ainvoke(_messages(input, self.name), config, kwargs)

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        yield from self._stream(_messages(input, self.name), config, kwargs)

    async def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[Any]:
        async for chunk in self._astream(_messages(input, self.name), config, kwargs):
            yield chunk


class ToolGuard(ToolHooks):
    """LangGraph's ``ToolNode`` hook (``wrap_tool_call`` / ``awrap_tool_call``).

    Before a tool runs, its call is checked by the tool_call rules with
    ``principal``, ``context`` and ``session`` (dicts or ids, or callables
    evaluated per call, given ``{"tool", "args", "state"}`` when they take
    one argument). A call that is not let through (denied; escalated and
    ``on_escalate`` did not return ``CONTINUE``) does not run: the model
    gets a ``ToolMessage`` with ``status="error"`` saying which rules
    stopped it, and ``on_tool_denied(ToolCall, decision)`` is told.
    Redacted arguments replace the model's. The tool's ``ToolMessage`` is
    then checked by the tool_result rules (``check_results=False`` turns
    that off): redacted in place, or replaced by a notice when not let
    through. A ``Command`` a tool returns is passed on unchecked.
    """

    def __init__(self, engine_or_client: Any, policy: str | None = None, *, principal: Any = None,
                 context: Any = None, session: Any = None, on_escalate: Callable | None = None,
                 on_tool_denied: Callable | None = None, on_error: str | None = None, check_results: bool = True):
        super().__init__("ToolGuard", engine_or_client, policy, principal=principal, context=context,
                           session=session, on_escalate=on_escalate, on_tool_denied=on_tool_denied,
                           on_error=on_error, check_results=check_results)

    def wrap_tool_call(self, request: Any, execute: Callable) -> Any:
        return run(self._steps(request, execute), self.backend)

    async def awrap_tool_call(self, request: Any, execute: Callable) -> Any:
        return await arun(self._steps(request, execute), self.backend)

    def _let_through(self, d: Decision, call: ToolCall):
        keep = d.outcome in (Outcome.ALLOW, Outcome.REDACT)
        if d.outcome is Outcome.ESCALATE and self.on_escalate is not None:
            keep = (yield Invoke(self.on_escalate, (d,), "on_escalate")) is CONTINUE
        if not keep and self.on_tool_denied is not None:
            yield Invoke(self.on_tool_denied, (call, d), "on_tool_denied")
        return keep

    def _steps(self, request: Any, execute: Callable):
        tc = request.tool_call
        name, cid = str(tc.get("name") or ""), tc.get("id")
        args, problem = M.parse_tool_args(tc.get("args"))
        if problem is not None:
            return ToolMessage(content=f"[tool call refused: {problem}]", tool_call_id=cid, name=name, status="error")
        arguments = {"tool": name, "args": args, "state": getattr(request, "state", None)}
        principal, context = self.principal.resolve(arguments), self.context.resolve(arguments)
        session = self.session.resolve(arguments)
        b = self.backend
        whom = who(principal, context) if session is not None else ""
        handed = None
        if session is not None:  # the guarded model kept this very call: one event, checked once
            handed = CHECKED.take(handed_key(b.target, b.policy, session, "tool_call", name, args, whom))
        if handed is None:
            (d,) = yield Checks([("tool", name, args, principal, context, session)])
            keep = yield from self._let_through(d, ToolCall(name, args, cid))
            if not keep:
                return ToolMessage(content=R.refused_notice(d, f"tool call {name!r}"), tool_call_id=cid, name=name,
                                   status="error")
            if isinstance(d.text, dict) and d.text != args:
                args = d.text
                request = request.override(tool_call={**tc, "args": args})
        result = yield Invoke(execute, (request,), "execute")
        if inspect.isawaitable(result):  # a sync hook given an async tool: refuse rather than skip
            raise TypeError(f"ToolGuard: tool {name!r} gave an awaitable to the sync hook; use awrap_tool_call")
        if not self.check_results or not isinstance(result, ToolMessage):
            return result
        slots = M.result_slots([result])
        if not slots:
            return result
        slot = slots[0]
        value = R.content_value(slot)
        (d,) = yield Checks([("result", name, value, args, principal, context, session)])
        keep = yield from self._let_through(d, ToolCall(name, args, cid))
        if not keep:
            return M.set_path(M.set_path(result, ("content",), R.withheld_notice(d)), ("status",), "error")
        forwarded = value if d.text is None else d.text
        if forwarded != value:
            result = M.apply_texts([result], R.rewritten(slot, value, forwarded))[0]
        if session is not None and not d.errors:  # the model reads it back: not a second step
            CHECKED.hand_over(handed_key(b.target, b.policy, session, "tool_result", name, forwarded, whom), d)
        return result


__all__ = ["GuardrailsRunnable", "ToolGuard"]
