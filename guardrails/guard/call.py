"""The checks around one ``@guard``-ed call, written as steps.

:class:`CallSteps` holds a guarded function's settings and gives the steps
that :mod:`guardrails.guard.decorator` runs around each call (sync or async,
see :mod:`guardrails.guard.steps`): check and redact the prompt, hand a
deny or an escalation to its handler, check and redact the answer, and
review the tool calls the model proposed (also used for streamed ones by
:class:`~guardrails.guard.stream_adapter.StreamAdapter`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from guardrails.decision import Decision, Outcome, PolicyRef, Violation
from guardrails.guard import shapes as M
from guardrails.guard.backend import CONTINUE, Backend, EscalationRequired, PolicyViolation, redaction_spans
from guardrails.guard.inputs import Prompt, Source
from guardrails.guard.pseudonymize import Pseudonymizer
from guardrails.guard.steps import Checks, Invoke, Proceed, Stop

INVALID_ARGUMENTS_RULE = "invalid-arguments"


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call the model proposed, as given to ``on_tool_denied``."""

    name: str
    args: dict | None
    id: str | None


@dataclass(frozen=True, slots=True)
class Options:
    """What ``guard(...)`` was given, checked once when decorating."""

    backend: Backend
    input_arg: str | None
    messages_arg: str | None
    roles: frozenset[str]
    principal: Source
    context: Source
    on_deny: Callable | None
    on_escalate: Callable | None
    on_tool_denied: Callable | None
    tool_calls: str
    pseudonymize: bool
    stream_holdback: int | float | None
    stream_step: int | None
    check_output: bool


class Call:
    """One call's state: its bound arguments, principal, context, placeholders."""

    __slots__ = ("bound", "principal", "context", "pseudo")

    def __init__(self, bound: inspect.BoundArguments, principal: dict | None, context: dict | None,
                 pseudo: Pseudonymizer | None):
        self.bound = bound
        self.principal = principal
        self.context = context
        self.pseudo = pseudo

    def close(self) -> None:
        if self.pseudo is not None:
            self.pseudo.close()


def synthetic_deny(stage: str, rule: str, message: str, policy: str | None) -> Decision:
    """A deny the guard decides itself, before asking the policy (bad arguments)."""
    return Decision(stage=stage, outcome=Outcome.DENY, text=None,
                    policy=PolicyRef(name=policy or "unknown", version="", digest=""),
                    violations=[Violation(rule=rule, effect="deny", message=message)])


class CallSteps:
    """The steps around every call of one guarded function."""

    def __init__(self, o: Options, name: str, prompt: Prompt | None):
        self.o = o
        self.backend = o.backend
        self.name = name  # the function's name, for error messages
        self.prompt = prompt

    def before(self, call: Call):
        """Steps: check the prompt; return the call's arguments (Proceed) or a Stop."""
        prompt = self.prompt
        if prompt is not None:
            value, slots = prompt.read(call.bound)
            if slots:
                decisions = yield Checks([("input", s.text, call.context) for s in slots])
                stop = yield from self.verdict(decisions, "input")
                if stop is not None:
                    return stop
                updates: dict = {}
                for slot, d in zip(slots, decisions):
                    if call.pseudo is not None:
                        spans = redaction_spans(d)
                        new = call.pseudo.pseudonymize(slot.text, spans) if spans else slot.text
                    else:
                        new = d.text if isinstance(d.text, str) else slot.text
                    if new != slot.text:
                        updates[slot.path] = new
                if updates:
                    prompt.write(call.bound, M.apply_texts(value, updates))
        return Proceed(call.bound.args, call.bound.kwargs)

    def verdict(self, decisions: list[Decision], stage: str, subject: str | None = None):
        """Steps: the first deny, else the first escalation, handled; None to go on."""
        for d in decisions:
            if d.outcome is Outcome.DENY:
                return (yield from self.denied(d, subject))
        for d in decisions:
            if d.outcome is Outcome.ESCALATE:
                return (yield from self.escalated(d, subject))
        return None

    def denied(self, d: Decision, subject: str | None = None):
        if self.o.on_deny is None:
            raise PolicyViolation(d, subject)
        return Stop((yield Invoke(self.o.on_deny, (d,), "on_deny")))

    def escalated(self, d: Decision, subject: str | None = None):
        if self.o.on_escalate is None:
            raise EscalationRequired(d, subject)
        value = yield Invoke(self.o.on_escalate, (d,), "on_escalate")
        return None if value is CONTINUE else Stop(value)

    def after(self, result: Any, call: Call):
        """Steps: check the answer; return the (copied, redacted) answer."""
        shape = M.read_output(result)
        if shape is None:
            raise TypeError(
                f"guard: {self.name}() returned {type(result).__name__}; expected a str, an OpenAI-style chat "
                "completion or message, an Anthropic-style message, or a stream of those "
                "(check_output=False guards the prompt only)"
            )
        p = call.pseudo
        texts = [p.restore(s.text) if p is not None else s.text for s in shape.texts]
        new_texts: dict = {}
        if texts:
            decisions = yield Checks([("output", t, call.context) for t in texts])
            stop = yield from self.verdict(decisions, "output")
            if stop is not None:
                return stop.value
            for slot, text, d in zip(shape.texts, texts, decisions):
                out = d.text if isinstance(d.text, str) else text
                if out != slot.text:
                    new_texts[slot.path] = out
        tool_args = {}
        if shape.tools:
            verdicts = yield from self.review_tools(shape.tools, call)
            for slot, verdict in zip(shape.tools, verdicts):
                if verdict is not None:
                    tool_args[(slot.container, slot.index)] = verdict
        return M.rebuild_output(result, shape, new_texts, tool_args)

    def review_tools(self, slots: list[M.ToolSlot], call: Call):
        """Steps: check proposed tool calls; per call, None (keep as is), new
        arguments, or shapes.REMOVED."""
        p = call.pseudo
        args = [p.restore_value(s.args) if (p is not None and s.args is not None) else s.args for s in slots]
        pending = [(i, s) for i, s in enumerate(slots) if s.problem is None]
        decisions: list[Decision | None] = [None] * len(slots)
        for i, s in enumerate(slots):
            if s.problem is not None:
                decisions[i] = synthetic_deny("tool_call", INVALID_ARGUMENTS_RULE,
                                              f"tool {s.name!r}: {s.problem}", self.backend.policy)
        if pending:
            got = yield Checks([("tool", s.name, args[i], call.principal, call.context) for i, s in pending])
            for (i, _), d in zip(pending, got):
                decisions[i] = d
        verdicts: list[Any] = []
        for slot, a, d in zip(slots, args, decisions):
            subject = f"the tool call {slot.name!r}"
            keep = d.outcome in (Outcome.ALLOW, Outcome.REDACT)
            if d.outcome is Outcome.ESCALATE:
                if self.o.on_escalate is not None:
                    keep = (yield Invoke(self.o.on_escalate, (d,), "on_escalate")) is CONTINUE
                elif self.o.tool_calls == "raise":
                    raise EscalationRequired(d, subject)
            if keep:
                forwarded = d.text if isinstance(d.text, dict) else a
                verdicts.append(forwarded if forwarded != slot.args else None)
                continue
            if self.o.tool_calls == "raise" and d.outcome is Outcome.DENY:
                raise PolicyViolation(d, subject)
            if self.o.on_tool_denied is not None:
                yield Invoke(self.o.on_tool_denied, (ToolCall(slot.name, a, slot.id), d), "on_tool_denied")
            verdicts.append(M.REMOVED)
        return verdicts


__all__ = ["Call", "CallSteps", "INVALID_ARGUMENTS_RULE", "Options", "ToolCall", "synthetic_deny"]
