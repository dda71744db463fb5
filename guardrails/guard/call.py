"""The checks around one ``@guard``-ed call, written as steps.

:class:`CallSteps` holds a guarded function's settings and gives the steps
that :mod:`guardrails.guard.decorator` runs around each call (sync or async,
see :mod:`guardrails.guard.steps`): check the tool results in the messages,
check and redact the prompt, hand a deny or an escalation to its handler,
check and redact the answer, and review the tool calls the model proposed
(also used for streamed ones by
:class:`~guardrails.guard.stream_adapter.StreamAdapter`). With a session,
what was already decided is reused (:mod:`guardrails.guard.once`), so each
event leaves one step in the session's history.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from guardrails.decision import Decision, Outcome, PolicyRef, Violation
from guardrails.guard import results as R
from guardrails.guard import answers as A
from guardrails.guard import retrieved as RT
from guardrails.guard import shapes as M
from guardrails.guard.backend import CONTINUE, Backend, EscalationRequired, PolicyViolation, redaction_spans
from guardrails.guard.inputs import Prompt, SessionSource, Source
from guardrails.guard.once import CHECKED, digest, handed_key, scope, who
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
    session: SessionSource
    tool_results: bool  # check tool-role messages with the tool_result stage
    sources_arg: str | None = None  # the parameter holding the retrieved chunks
    check_retrieval: bool = True  # check those chunks with the retrieval rules first


class Call:
    """One call's state: its bound arguments, principal, context, session,
    placeholders, and the sources its answer is checked against (None: the
    engine's own, a session's retrieved chunks)."""

    __slots__ = ("bound", "principal", "context", "pseudo", "session", "sources")

    def __init__(self, bound: inspect.BoundArguments, principal: dict | None, context: dict | None,
                 pseudo: Pseudonymizer | None, session: str | None = None, sources: list | None = None):
        self.bound = bound
        self.principal = principal
        self.context = context
        self.pseudo = pseudo
        self.session = session
        self.sources = sources

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
        """Steps: check the tool results and the prompt; return the call's
        arguments (Proceed) or a Stop."""
        if self.o.sources_arg is not None:
            yield from self.retrieved(call)
        prompt = self.prompt
        if prompt is not None:
            value, slots = prompt.read(call.bound)
            updates: dict = {}
            if self.o.tool_results and prompt.is_messages:
                results = M.result_slots(value)
                if results:
                    updates, cut = yield from self.review_results(results, call)
                    slots = [M.TextSlot(s.path, updates.get(s.path, s.text), s.role) for s in slots
                             if not any(s.path[:len(c)] == c for c in cut)]
            if slots:
                decisions = yield from self.checked(
                    [("input", s.path, s.text, call.context) for s in slots], call)
                stop = yield from self.verdict(decisions, "input")
                if stop is not None:
                    return stop
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

    def retrieved(self, call: Call):
        """Steps: check the chunks in the ``sources_arg`` argument with the
        retrieval rules, give the function the kept ones, and keep them as the
        answer's sources (:mod:`.retrieved`). A per-call ``guard_sources``
        stays the answer's sources."""
        name = self.o.sources_arg
        value = call.bound.arguments.get(name)
        if value is None:
            return
        chunks = RT.read_chunks(value, f"{self.name}({name}=...)")
        if self.o.check_retrieval and callable(getattr(self.backend.target, "check_retrieval", None)):
            (d,) = yield Checks([("retrieval", RT.retrieval_request(chunks), call.context, call.session)])
            kept = RT.kept_chunks(chunks, d)
            if len(kept) != len(chunks) or kept != chunks:
                call.bound.arguments[name] = type(value)(kept) if isinstance(value, tuple) else kept
            chunks = kept
        if call.sources is None:
            call.sources = RT.as_sources(chunks)

    def checked(self, items: list[tuple], call: Call):
        """Steps: decisions for ``(stage, place, text, context)`` items, each
        checked once per session (a re-sent history reuses the decision)."""
        keys: list[tuple | None] = [None] * len(items)
        decisions: list[Decision | None] = [None] * len(items)
        if call.session is not None:
            where = scope(self.backend.target, self.backend.policy, call.session)
            for i, (stage, place, text, context) in enumerate(items):
                keys[i] = (*where, "seen", stage, place, digest(text), digest(context))
                decisions[i] = CHECKED.recall(keys[i])
        todo = [i for i, d in enumerate(decisions) if d is None]
        if todo:
            got = yield Checks([(items[i][0], items[i][2], items[i][3], call.session) for i in todo])
            for i, d in zip(todo, got):
                decisions[i] = d
                if keys[i] is not None and not d.errors:
                    CHECKED.remember(keys[i], d)
        return decisions

    def review_results(self, slots: list[M.ResultSlot], call: Call):
        """Steps: check tool results in the messages with the tool_result stage.

        Returns the texts to replace (redacted results, and the notice put in
        place of each result not let through) and the content paths cut.
        A result is let through like a proposed tool call: allowed or
        redacted; escalated and ``on_escalate`` returned CONTINUE. Otherwise
        it raises (``tool_calls="raise"``) or is withheld, and
        ``on_tool_denied`` is told.
        """
        values = [R.content_value(s) for s in slots]
        keys: list[tuple | None] = [None] * len(slots)
        known: list[tuple | None] = [None] * len(slots)  # (decision, kept) already settled
        fresh: list[Decision | None] = [None] * len(slots)
        if call.session is not None:
            where = scope(self.backend.target, self.backend.policy, call.session)
            whom = who(call.principal, call.context)
            for i, (s, v) in enumerate(zip(slots, values)):
                keys[i] = (*where, "seen", "tool_result", s.id or s.content, s.tool, digest(v), whom)
                known[i] = CHECKED.recall(keys[i])
                if known[i] is None:
                    handed = CHECKED.take(handed_key(self.backend.target, self.backend.policy, call.session,
                                                     "tool_result", s.tool, v, whom))
                    if handed is not None:  # @guard_tool checked it when the tool returned it
                        known[i] = (handed, True)
                        CHECKED.remember(keys[i], known[i])
        todo = [i for i, k in enumerate(known) if k is None]
        if todo:
            got = yield Checks([("result", slots[i].tool, values[i], slots[i].args, call.principal, call.context,
                                 call.session) for i in todo])
            for i, d in zip(todo, got):
                fresh[i] = d
        updates: dict = {}
        cut: list = []
        for i, (slot, value) in enumerate(zip(slots, values)):
            if known[i] is not None:
                d, keep = known[i]
                if keep and d.outcome is not Outcome.ESCALATE and d.text is not None and d.text != value:
                    updates.update(R.rewritten(slot, value, d.text))
                elif not keep:
                    if self.o.tool_calls == "raise":
                        raise (EscalationRequired if d.outcome is Outcome.ESCALATE else PolicyViolation)(
                            d, f"the result of tool {slot.tool!r}")
                    updates[slot.content] = R.withheld_notice(d)
                    cut.append(slot.content)
                continue
            d = fresh[i]
            keep = yield from self.let_through(d, f"the result of tool {slot.tool!r}",
                                               ToolCall(slot.tool, slot.args, slot.id))
            if keys[i] is not None and not d.errors:
                CHECKED.remember(keys[i], (d, keep))
            if keep:
                if d.text is not None and d.text != value:
                    updates.update(R.rewritten(slot, value, d.text))
            else:
                updates[slot.content] = R.withheld_notice(d)
                cut.append(slot.content)
        return updates, cut

    def let_through(self, d: Decision, subject: str, call: ToolCall):
        """Steps: whether a tool call or result goes on, after the handlers;
        raises in ``tool_calls="raise"`` mode instead of dropping it."""
        keep = d.outcome in (Outcome.ALLOW, Outcome.REDACT)
        if d.outcome is Outcome.ESCALATE:
            if self.o.on_escalate is not None:
                keep = (yield Invoke(self.o.on_escalate, (d,), "on_escalate")) is CONTINUE
            elif self.o.tool_calls == "raise":
                raise EscalationRequired(d, subject)
        if keep:
            return True
        if self.o.tool_calls == "raise" and d.outcome is Outcome.DENY:
            raise PolicyViolation(d, subject)
        if self.o.on_tool_denied is not None:
            yield Invoke(self.o.on_tool_denied, (call, d), "on_tool_denied")
        return False

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
        shape = A.read_output(result)
        if shape is None:
            raise TypeError(
                f"guard: {self.name}() returned {type(result).__name__}; expected a str, an OpenAI-style chat "
                "completion or message, an OpenAI Responses API response, an Anthropic-style message, "
                "or a stream of those "
                "(check_output=False guards the prompt only)"
            )
        p = call.pseudo
        texts = [p.restore(s.text) if p is not None else s.text for s in shape.texts]
        new_texts: dict = {}
        if texts:
            decisions = yield Checks([("output", t, call.context, call.session, call.sources) for t in texts])
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
        return A.rebuild_output(result, shape, new_texts, tool_args)

    def review_tools(self, slots: list[M.ToolSlot], call: Call):
        """Steps: check proposed tool calls; per call, None (keep as is), new
        arguments, or shapes.REMOVED. With a session, each kept call is handed
        over to the ``@guard_tool`` it will run through (:mod:`.once`)."""
        p = call.pseudo
        args = [p.restore_value(s.args) if (p is not None and s.args is not None) else s.args for s in slots]
        pending = [(i, s) for i, s in enumerate(slots) if s.problem is None]
        decisions: list[Decision | None] = [None] * len(slots)
        for i, s in enumerate(slots):
            if s.problem is not None:
                decisions[i] = synthetic_deny("tool_call", INVALID_ARGUMENTS_RULE,
                                              f"tool {s.name!r}: {s.problem}", self.backend.policy)
        if pending:
            got = yield Checks([("tool", s.name, args[i], call.principal, call.context, call.session)
                                for i, s in pending])
            for (i, _), d in zip(pending, got):
                decisions[i] = d
        verdicts: list[Any] = []
        for slot, a, d in zip(slots, args, decisions):
            keep = yield from self.let_through(d, f"the tool call {slot.name!r}", ToolCall(slot.name, a, slot.id))
            if not keep:
                verdicts.append(A.REMOVED)
                continue
            forwarded = d.text if isinstance(d.text, dict) else a
            if call.session is not None and not d.errors:
                CHECKED.hand_over(handed_key(self.backend.target, self.backend.policy, call.session, "tool_call",
                                             slot.name, forwarded, who(call.principal, call.context)), d)
            verdicts.append(forwarded if forwarded != slot.args else None)
        return verdicts


__all__ = ["Call", "CallSteps", "INVALID_ARGUMENTS_RULE", "Options", "ToolCall", "synthetic_deny"]
