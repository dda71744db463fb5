"""The OpenAI Agents SDK: the engine in the SDK's own guardrail hooks.

Needs ``openai-agents``. One :class:`AgentGuardrails` gives the four hooks
the SDK runs, each backed by a stage of the policy::

    rails = AgentGuardrails(engine, policy="support-bot")
    agent = rails.protect(Agent(name="support", tools=[lookup_order, issue_refund]))
    result = await Runner.run(agent, "Where is ORD-12345678?", run_config=rails.run_config())

* **Input** (``input_guardrail``, an ``InputGuardrail`` that runs before the
  agent starts, not beside it): each user message of the run's input through
  the input rules. A message the rules deny or escalate trips the wire
  (``InputGuardrailTripwireTriggered``; its ``output_info`` is the
  :class:`~guardrails.decision.Decision`). The SDK's input hooks cannot change
  the input, so redaction happens in the model input filter of
  :meth:`AgentGuardrails.run_config`, which redacts the user messages of every
  model call; until ``run_config()`` has been asked for, a redact outcome
  trips the input hook too (fail closed).
* **Output** (``output_guardrail``): the agent's final output (text, or its
  JSON for a structured output) through the output rules. Anything but allow
  trips the wire: the SDK cannot change a final output, and the decision in
  ``output_info`` carries the redacted text to show instead.
* **Tool calls** (``tool_input_guardrail``, on each function tool): the call
  through the tool_call rules before the tool runs. A call not let through
  does not run; the model reads ``[tool call 'NAME' denied by policy: RULE]``
  (or the run stops with ``ToolInputGuardrailTripwireTriggered`` when
  ``raise_on_deny=True``). The SDK cannot change a call's arguments, so a call
  the rules would redact does not run either.
* **Tool results** (``tool_output_guardrail``): what the tool returned
  through the tool_result rules. A redacted result is what the model reads;
  one not let through is replaced by ``[tool result withheld by policy: RULE]``.

:meth:`AgentGuardrails.protect` returns a copy of an agent with all four
hooks added (to its own hooks and to each of its function tools).
``principal``, ``context`` and ``session`` are values, or callables given
``{"agent", "context", "tool", "args"}`` (``context`` is the run's own
context object; ``tool`` and ``args`` only for the tool hooks).
"""

from __future__ import annotations

import dataclasses
import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from agents import (
    Agent,
    FunctionTool,
    GuardrailFunctionOutput,
    InputGuardrail,
    OutputGuardrail,
    RunConfig,
    ToolGuardrailFunctionOutput,
    ToolInputGuardrail,
    ToolOutputGuardrail,
)
from agents.run_config import CallModelData, ModelInputData

from guardrails.decision import Decision, Outcome
from guardrails.guard import results as R
from guardrails.guard import shapes as M
from guardrails.guard.backend import CONTINUE, PolicyViolation
from guardrails.guard.call import ToolCall
from guardrails.guard.hooks import ToolHooks

#: Redacted user texts the input hook decided, reused by the model input
#: filter so a message is checked once however many model calls repeat it.
MEMO_SIZE = 256


class AgentGuardrails(ToolHooks):
    """The engine as the Agents SDK's input, output and tool guardrails (see the module)."""

    def __init__(self, engine_or_client: Any, policy: str | None = None, *, principal: Any = None,
                 context: Any = None, session: Any = None, on_escalate: Callable | None = None,
                 on_tool_denied: Callable | None = None, raise_on_deny: bool = False,
                 on_error: str | None = None, check_results: bool = True):
        super().__init__("AgentGuardrails", engine_or_client, policy, principal=principal,
                           context=context, session=session, on_escalate=on_escalate,
                           on_tool_denied=on_tool_denied, on_error=on_error, check_results=check_results)
        self.raise_on_deny = raise_on_deny
        self.filtering = False  # set by run_config(): redaction of the input is the filter's job
        self._memo: OrderedDict[str, Decision] = OrderedDict()
        self.input_guardrail = InputGuardrail(self._input, name="guardrails input", run_in_parallel=False)
        self.output_guardrail = OutputGuardrail(self._output, name="guardrails output")
        self.tool_input_guardrail = ToolInputGuardrail(self._tool_call, name="guardrails tool_call")
        self.tool_output_guardrail = ToolOutputGuardrail(self._tool_result, name="guardrails tool_result")

    # -- wiring
    def protect(self, agent: Agent) -> Agent:
        """A copy of ``agent`` with the input and output hooks, and the tool
        hooks on each of its function tools (other tools have no hooks in the SDK)."""
        if not isinstance(agent, Agent):
            raise TypeError(f"protect() takes an agents.Agent, not {type(agent).__name__}")
        return agent.clone(input_guardrails=[*agent.input_guardrails, self.input_guardrail],
                           output_guardrails=[*agent.output_guardrails, self.output_guardrail],
                           tools=[self.protect_tool(t) if isinstance(t, FunctionTool) else t for t in agent.tools])

    def protect_tool(self, tool: FunctionTool) -> FunctionTool:
        """A copy of a function tool with the tool_call hook (and the tool_result hook)."""
        if not isinstance(tool, FunctionTool):
            raise TypeError(f"protect_tool() takes an agents.FunctionTool, not {type(tool).__name__}")
        outputs = [self.tool_output_guardrail] if self.check_results else []
        return dataclasses.replace(tool, tool_input_guardrails=[*(tool.tool_input_guardrails or []),
                                                                 self.tool_input_guardrail],
                                   tool_output_guardrails=[*(tool.tool_output_guardrails or []), *outputs])

    def run_config(self, **options: Any) -> RunConfig:
        """A ``RunConfig`` (with ``options``) whose model input filter redacts
        the user messages of every model call; from now on the input hook
        leaves redaction to it and trips only on deny and escalate."""
        if "call_model_input_filter" in options:
            raise TypeError("run_config(): the guard sets call_model_input_filter itself")
        self.filtering = True
        return RunConfig(call_model_input_filter=self.filter_model_input, **options)

    # -- what a hook is told
    def _about(self, agent: Any, run_context: Any, tool: str | None = None, args: dict | None = None) -> tuple:
        about = {"agent": agent, "context": getattr(run_context, "context", run_context), "tool": tool, "args": args}
        return self.principal.resolve(about), self.context.resolve(about), self.session.resolve(about)

    async def _let_through(self, d: Decision) -> bool:
        if d.outcome is Outcome.ESCALATE and self.on_escalate is not None:
            value = self.on_escalate(d)
            return (await value if hasattr(value, "__await__") else value) is CONTINUE
        return d.outcome in (Outcome.ALLOW, Outcome.REDACT)

    def _remember(self, text: str, d: Decision) -> None:
        self._memo[text] = d
        while len(self._memo) > MEMO_SIZE:
            self._memo.popitem(last=False)

    # -- the hooks
    async def _input(self, run_context: Any, agent: Any, items: Any) -> GuardrailFunctionOutput:
        _, context, session = self._about(agent, run_context)
        decided: Decision | None = None
        for slot in M.message_slots(items, "input", ("user",)):
            d = await self.backend.ainput(slot.text, context, session)
            if not await self._let_through(d) or (d.outcome is Outcome.REDACT and not self.filtering):
                return GuardrailFunctionOutput(output_info=d, tripwire_triggered=True)
            self._remember(slot.text, d)
            decided = decided or d
        return GuardrailFunctionOutput(output_info=decided, tripwire_triggered=False)

    async def filter_model_input(self, data: CallModelData) -> ModelInputData:
        """``call_model_input_filter``: the user messages of a model call, redacted."""
        items = data.model_data.input
        _, context, session = self._about(data.agent, data.context)
        updates = {}
        for slot in M.message_slots(items, "input", ("user",)):
            d = self._memo.get(slot.text)
            if d is None:  # a message the input hook did not see (a later turn's)
                d = await self.backend.ainput(slot.text, context, session)
                if not await self._let_through(d):
                    raise PolicyViolation(d, "a user message of the model's input")
                self._remember(slot.text, d)
            if isinstance(d.text, str) and d.text != slot.text:
                updates[slot.path] = d.text
        if not updates:
            return data.model_data
        return ModelInputData(input=M.apply_texts(items, updates), instructions=data.model_data.instructions)

    async def _output(self, run_context: Any, agent: Any, output: Any) -> GuardrailFunctionOutput:
        _, context, session = self._about(agent, run_context)
        d = await self.backend.aoutput(_output_text(output), context, session)
        return GuardrailFunctionOutput(output_info=d, tripwire_triggered=d.outcome is not Outcome.ALLOW)

    async def _tool_call(self, data: Any) -> ToolGuardrailFunctionOutput:
        name = data.context.tool_name
        args, problem = M.parse_tool_args(data.context.tool_arguments)
        if args is None:
            return ToolGuardrailFunctionOutput.reject_content(f"[tool call {name!r} refused: {problem}]")
        principal, context, session = self._about(data.agent, data.context, name, args)
        d = await self.backend.atool(name, args, principal, context, session)
        # A redaction cannot be applied here (the SDK runs the call with the
        # model's arguments), so only an unchanged call runs.
        if await self._let_through(d) and not (isinstance(d.text, dict) and d.text != args):
            return ToolGuardrailFunctionOutput.allow(output_info=d)
        return await self._refuse(d, ToolCall(name, args, data.context.tool_call_id),
                                  R.refused_notice(d, f"tool call {name!r}"))

    async def _tool_result(self, data: Any) -> ToolGuardrailFunctionOutput:
        name = data.context.tool_name
        args, _ = M.parse_tool_args(data.context.tool_arguments)
        value = _result_value(data.output, name)
        principal, context, session = self._about(data.agent, data.context, name, args)
        d = await self.backend.aresult(name, value, args, principal, context, session)
        call = ToolCall(name, args or {}, data.context.tool_call_id)
        if not await self._let_through(d):
            return await self._refuse(d, call, R.withheld_notice(d))
        if d.text is None or d.text == value:
            return ToolGuardrailFunctionOutput.allow(output_info=d)
        # The SDK's way to hand the model something else than the tool's own value.
        text = d.text if isinstance(d.text, str) else json.dumps(d.text, ensure_ascii=False)
        return ToolGuardrailFunctionOutput.reject_content(text, output_info=d)

    async def _refuse(self, d: Decision, call: ToolCall, notice: str) -> ToolGuardrailFunctionOutput:
        if self.raise_on_deny:
            return ToolGuardrailFunctionOutput.raise_exception(output_info=d)
        if self.on_tool_denied is not None:
            value = self.on_tool_denied(call, d)
            if hasattr(value, "__await__"):
                await value
        return ToolGuardrailFunctionOutput.reject_content(notice, output_info=d)


def _output_text(output: Any) -> str:
    """A final output as the output rules read it: text, or a structured output's JSON."""
    if isinstance(output, str):
        return output
    dump = getattr(output, "model_dump_json", None)
    if callable(dump):
        return dump()
    return json.dumps(R.json_value(output, "the agent's final output", "final outputs"), ensure_ascii=False)


def _result_value(output: Any, tool: str) -> Any:
    """A tool's return value as the tool_result rules read it (JSON text parsed)."""
    if isinstance(output, str):
        return R.parsed(output)
    dump = getattr(output, "model_dump", None)
    if callable(dump):
        output = dump(mode="json")
    return R.json_value(output, f"the result of tool {tool!r}", "tool results")


__all__ = ["AgentGuardrails"]
