"""Guarding LLM calls and tools with one decorator line.

::

    from guardrails import Engine
    from guardrails.guard import guard, guard_tool, PolicyViolation

    engine = Engine.from_path("policies/")

    @guard(engine, policy="support-bot")
    def chat(messages):
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    @guard_tool(engine, policy="support-bot", tool="issue_refund",
                principal=lambda: {"role": current_user().role})
    def issue_refund(order_id: str, amount: float, note: str = ""):
        ...

:func:`guard` checks and redacts the prompt, calls the function, checks and
redacts the answer, and removes (or raises on) the tool calls the policy
does not allow. It works on sync and async functions and on sync and async
generators, and on functions that return a stream (the ``openai`` SDK's
``stream=True``). :func:`guard_tool` checks a tool's arguments before its
body runs. Both accept an :class:`~guardrails.engine.Engine`, the sidecar's
``GuardrailsClient``, or any object with the same method names.

docs/guard.md has the full guide; the shapes read are listed in
:mod:`guardrails.guard.shapes`, streams are checked by
:class:`~guardrails.guard.stream_guard.StreamGuard`, and placeholders come from
:mod:`guardrails.guard.pseudonymize`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from guardrails.guard import shapes as M
from guardrails.decision import Decision, Outcome, PolicyRef, Violation
from guardrails.guard.backend import (
    CONTINUE,
    Checker,
    EscalationRequired,
    PolicyViolation,
    redaction_spans,
)
from guardrails.guard.steps import Checks, Invoke, arun, run
from guardrails.guard.pseudonymize import Pseudonymizer

__all__ = [
    "CONTINUE",
    "EscalationRequired",
    "PolicyViolation",
    "ToolCall",
    "guard",
]

TOOL_CALL_MODES = ("remove", "raise")
#: Keyword arguments a guarded function's caller may pass to set the
#: principal and context of that one call; the guard consumes them.
CALL_PRINCIPAL = "guard_principal"
CALL_CONTEXT = "guard_context"
INVALID_ARGUMENTS_RULE = "invalid-arguments"


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call the model proposed, as given to ``on_tool_denied``."""

    name: str
    args: dict | None
    id: str | None


@dataclass(frozen=True, slots=True)
class _Stop:
    """The call ends here with ``value`` (a handler's answer)."""

    value: Any


class _Call:
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


# ---- shared helpers --------------------------------------------------------


def _accepts_one_arg(fn: Callable) -> bool:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    try:
        sig.bind(object())
        return True
    except TypeError:
        return False


class _Source:
    """A principal or context: a dict, None, or a callable evaluated per call.

    A callable may take no argument, or one: the call's arguments by name.
    """

    __slots__ = ("what", "value", "with_args")

    def __init__(self, what: str, value: Any):
        if value is not None and not isinstance(value, Mapping) and not callable(value):
            raise TypeError(f"{what} must be a dict, a callable returning one, or None; not {type(value).__name__}")
        self.what = what
        self.value = value
        self.with_args = callable(value) and not isinstance(value, Mapping) and _accepts_one_arg(value)

    def resolve(self, arguments: Mapping[str, Any], override: Any = None) -> dict | None:
        value = override if override is not None else self.value
        if callable(value) and not isinstance(value, Mapping):
            value = value(dict(arguments)) if (override is None and self.with_args) else value()
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise TypeError(f"{self.what} must be a dict (or a callable returning one), not {type(value).__name__}")
        return dict(value)


def _synthetic_deny(stage: str, rule: str, message: str, policy: str | None) -> Decision:
    """A deny the guard decides itself, before asking the policy (bad arguments)."""
    return Decision(stage=stage, outcome=Outcome.DENY, text=None,
                    policy=PolicyRef(name=policy or "unknown", version="", digest=""),
                    violations=[Violation(rule=rule, effect="deny", message=message)])


def _json_like(value: Any, where: str) -> Any:
    """``value`` as JSON-like data (tuples become lists), or a TypeError naming ``where``."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_like(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where} has a key of type {type(k).__name__}; tool arguments need string keys")
            out[k] = _json_like(v, f"{where}[{k!r}]")
        return out
    raise TypeError(f"{where} has type {type(value).__name__}; tool arguments must be JSON-like "
                    "(str, int, float, bool, None, lists, dicts with string keys)")


def _is_stream(value: Any) -> bool:
    if isinstance(value, (str, bytes, bytearray, Mapping, list, tuple)) or value is None:
        return False
    return hasattr(value, "__next__") or (hasattr(value, "__iter__") and M.read_output(value) is None)


def _is_async_stream(value: Any) -> bool:
    return hasattr(value, "__anext__") or hasattr(value, "__aiter__")


def _close(source: Any) -> None:
    close = getattr(source, "close", None)
    if callable(close):
        try:
            close()
        except Exception:  # closing is best effort; the result is already decided
            pass


async def _aclose(source: Any) -> None:
    close = getattr(source, "aclose", None) or getattr(source, "close", None)
    if callable(close):
        try:
            result = close()
            if inspect.isawaitable(result):
                await result
        except Exception:
            pass


# ---- the decorator ---------------------------------------------------------


def guard(engine_or_client: Any, policy: str | None = None, *, input_arg: str | None = None,
          messages_arg: str | None = "messages", roles: tuple[str, ...] | list[str] | frozenset[str] = ("user",),
          principal: Any = None, context: Any = None, on_deny: Callable | None = None,
          on_escalate: Callable | None = None, on_tool_denied: Callable | None = None,
          tool_calls: str = "remove", pseudonymize: bool = False, stream_holdback: int | float | None = None,
          stream_step: int | None = None, check_output: bool = True,
          on_error: str | None = None) -> Callable[[Callable], Callable]:
    """Guard calls to an LLM: prompt in, answer and tool calls out.

    **Where the prompt is.** ``input_arg="prompt"`` names a ``str``
    parameter; otherwise the ``messages_arg`` parameter (default
    ``"messages"``) holds OpenAI- or Anthropic-style messages, of which the
    turns whose role is in ``roles`` (default: the user's) are checked, each
    on its own. Anthropic ``tool_result`` blocks count as role ``"tool"``.
    Pass ``input_arg=None, messages_arg=None`` to check the answer only. A
    function without the named parameter is refused when decorated, and an
    argument of the wrong shape raises ``TypeError`` naming it: the guard is
    never skipped silently.

    **What is done with it.** The input rules run on each checked text; the
    function receives copies with the redacted texts (the caller's objects
    are not modified). With ``pseudonymize=True`` the redacted spans are
    replaced by placeholders such as ``<EMAIL_ADDRESS_1_k3f9>`` instead, and
    the real values are put back in the answer before the output rules run
    (see :mod:`guardrails.guard.pseudonymize`).

    **The answer.** A ``str``, an OpenAI chat completion (dict or SDK
    object), an OpenAI-style assistant message, or an Anthropic message (dict
    or SDK object); or a stream of ``str`` chunks, OpenAI chunks or Anthropic
    events, from a generator or a returned iterator. Its texts go through the
    output rules; the caller gets a redacted copy. Each proposed tool call is
    checked by the tool_call rules with ``principal`` and ``context``; a call
    that is not allowed is removed (``tool_calls="remove"``, reported to
    ``on_tool_denied(ToolCall, decision)`` if given) or raises
    :class:`PolicyViolation` (``tool_calls="raise"``). Redacted arguments
    replace the model's. Streams are checked incrementally with a holdback of
    ``stream_holdback`` characters (see
    :class:`~guardrails.guard.stream_guard.StreamGuard`); tool calls in a stream are
    held until complete, then checked.

    **Deny and escalate.** A deny raises :class:`PolicyViolation` (carrying
    the decision; its message names the rules), or calls ``on_deny(decision)``
    whose return value becomes the result (in a stream: the last item, when
    not None). An escalation calls ``on_escalate(decision)``: its return value
    becomes the result, or the call goes on as allowed if it returns
    :data:`CONTINUE`; without a handler it raises :class:`EscalationRequired`.
    Handlers may be async for async functions.

    **Principal and context** are dicts, or callables evaluated on every call
    (with no argument, or with the call's arguments by name). A caller can
    also pass ``guard_principal=`` / ``guard_context=`` to the guarded
    function for one call; the guard consumes them.

    **When the guard cannot run** (the checker raises: the sidecar is down),
    the policy's ``on_error`` decides: fail closed (deny, saying so) or fail
    open (pass unchecked, logging a warning). ``on_error=`` overrides it;
    objects whose policy cannot be read fail closed.
    """
    checker = Checker(engine_or_client, policy, on_error)
    if tool_calls not in TOOL_CALL_MODES:
        raise ValueError(f"tool_calls must be 'remove' or 'raise', not {tool_calls!r}")
    if isinstance(roles, str) or not all(isinstance(r, str) for r in roles):
        raise TypeError(f"roles must be a collection of role names such as ('user',), not {roles!r}")
    for name, handler in (("on_deny", on_deny), ("on_escalate", on_escalate), ("on_tool_denied", on_tool_denied)):
        if handler is not None and not callable(handler):
            raise TypeError(f"{name} must be callable, not {type(handler).__name__}")
    if pseudonymize and not check_output:
        raise ValueError("pseudonymize=True needs check_output=True: restored values must pass the output rules")
    options = _Options(checker, input_arg, messages_arg, frozenset(roles), _Source("principal", principal),
                       _Source("context", context), on_deny, on_escalate, on_tool_denied, tool_calls,
                       bool(pseudonymize), stream_holdback, stream_step, check_output)

    def decorate(fn: Callable) -> Callable:
        return _Guard(fn, options).wrapper()

    return decorate


@dataclass(frozen=True, slots=True)
class _Options:
    checker: Checker
    input_arg: str | None
    messages_arg: str | None
    roles: frozenset[str]
    principal: _Source
    context: _Source
    on_deny: Callable | None
    on_escalate: Callable | None
    on_tool_denied: Callable | None
    tool_calls: str
    pseudonymize: bool
    stream_holdback: int | float | None
    stream_step: int | None
    check_output: bool


class _Guard:
    """One guarded function: where its prompt is, and the steps around it."""

    def __init__(self, fn: Callable, o: _Options):
        if not callable(fn):
            raise TypeError(f"guard(...) decorates a function, not {type(fn).__name__}")
        self.fn = fn
        self.o = o
        self.checker = o.checker
        self.name = getattr(fn, "__qualname__", None) or repr(fn)
        self.sig = inspect.signature(fn)
        params = self.sig.parameters
        self.varkw = next((p.name for p in params.values() if p.kind is p.VAR_KEYWORD), None)
        self.takes_call_kwargs = {n for n in (CALL_PRINCIPAL, CALL_CONTEXT) if n in params}
        self.param: str | None = None
        self.is_messages = False
        if o.input_arg is not None:
            self.param = o.input_arg
        elif o.messages_arg is not None:
            self.param, self.is_messages = o.messages_arg, True
        if self.param is not None and self.param not in params and self.varkw is None:
            which = "input_arg" if o.input_arg is not None else "messages_arg"
            raise TypeError(
                f"guard: {self.name}() has no parameter {self.param!r} ({which}); name the prompt with "
                "input_arg='...' or the messages with messages_arg='...', or pass input_arg=None, "
                "messages_arg=None to check only the answer"
            )

    # -- wrapping, per kind of function
    def wrapper(self) -> Callable:
        fn = self.fn
        if inspect.isasyncgenfunction(fn):
            @functools.wraps(fn)
            async def agen_wrapper(*args: Any, **kwargs: Any):
                call = self._begin(args, kwargs)
                try:
                    pre = await arun(self._before(call), self.checker)
                    if isinstance(pre, _Stop):
                        if pre.value is not None:
                            yield pre.value
                        return
                    async for item in self._aiter(fn(*pre.args, **pre.kwargs), call):
                        yield item
                finally:
                    call.close()

            return agen_wrapper
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def gen_wrapper(*args: Any, **kwargs: Any):
                call = self._begin(args, kwargs)
                try:
                    pre = run(self._before(call), self.checker)
                    if isinstance(pre, _Stop):
                        if pre.value is not None:
                            yield pre.value
                        return
                    yield from self._iter(fn(*pre.args, **pre.kwargs), call)
                finally:
                    call.close()

            return gen_wrapper
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any):
                call = self._begin(args, kwargs)
                handed_off = False
                try:
                    pre = await arun(self._before(call), self.checker)
                    if isinstance(pre, _Stop):
                        return pre.value
                    result = await fn(*pre.args, **pre.kwargs)
                    if not self.o.check_output:
                        return result
                    if _is_async_stream(result):
                        handed_off = True  # the stream's own wrapper closes the call
                        return self._aiter(result, call)
                    if _is_stream(result):
                        handed_off = True
                        return self._iter(result, call)
                    return await arun(self._after(result, call), self.checker)
                finally:
                    if not handed_off:
                        call.close()

            return async_wrapper

        @functools.wraps(fn)
        def sync_wrapper(*args: Any, **kwargs: Any):
            call = self._begin(args, kwargs)
            handed_off = False
            try:
                pre = run(self._before(call), self.checker)
                if isinstance(pre, _Stop):
                    return pre.value
                result = fn(*pre.args, **pre.kwargs)
                if not self.o.check_output:
                    return result
                if _is_stream(result):
                    handed_off = True
                    return self._iter(result, call)
                if inspect.isawaitable(result) or _is_async_stream(result):
                    if hasattr(result, "close"):
                        _close(result)
                    raise TypeError(f"guard: {self.name}() returned {type(result).__name__} to a sync call; "
                                    "declare the function with 'async def' so the guard can await it")
                return run(self._after(result, call), self.checker)
            finally:
                if not handed_off:
                    call.close()

        return sync_wrapper

    # -- one call
    def _begin(self, args: tuple, kwargs: dict) -> _Call:
        overrides = {}
        for key in (CALL_PRINCIPAL, CALL_CONTEXT):
            if key in kwargs and key not in self.takes_call_kwargs:
                kwargs = dict(kwargs)
                overrides[key] = kwargs.pop(key)
        bound = self.sig.bind(*args, **kwargs)
        arguments = bound.arguments
        principal = self.o.principal.resolve(arguments, overrides.get(CALL_PRINCIPAL))
        context = self.o.context.resolve(arguments, overrides.get(CALL_CONTEXT))
        pseudo = Pseudonymizer() if self.o.pseudonymize else None
        return _Call(bound, principal, context, pseudo)

    def _read_input(self, call: _Call) -> tuple[Any, list[M.TextSlot]]:
        name = self.param
        args = call.bound.arguments
        if name in self.sig.parameters and self.sig.parameters[name].kind is not inspect.Parameter.VAR_KEYWORD:
            value = args.get(name, self.sig.parameters[name].default)
            if value is inspect.Parameter.empty:
                raise TypeError(f"guard: {self.name}() was called without {name!r}, which the guard checks")
        else:
            extra = args.get(self.varkw, {})
            if name not in extra:
                raise TypeError(f"guard: {self.name}() was called without {name!r}, which the guard checks")
            value = extra[name]
        if self.is_messages:
            return value, M.message_slots(value, name, self.o.roles)
        if not isinstance(value, str):
            hint = (f"; for a list of messages use messages_arg={name!r}" if isinstance(value, (list, tuple)) else "")
            raise TypeError(f"argument {name!r} of {self.name}() must be a str (the prompt), "
                            f"not {type(value).__name__}{hint}")
        return value, [M.TextSlot((), value)]

    def _write_input(self, call: _Call, value: Any) -> None:
        name = self.param
        args = call.bound.arguments
        if name in self.sig.parameters and self.sig.parameters[name].kind is not inspect.Parameter.VAR_KEYWORD:
            args[name] = value
        else:
            extra = dict(args.get(self.varkw, {}))
            extra[name] = value
            args[self.varkw] = extra

    def _before(self, call: _Call):
        """Steps: check the prompt; return the call's arguments or a _Stop."""
        if self.param is not None:
            value, slots = self._read_input(call)
            if slots:
                decisions = yield Checks([("input", s.text, call.context) for s in slots])
                stop = yield from self._verdict(decisions, "input")
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
                    self._write_input(call, M.apply_texts(value, updates))
        return _Args(call.bound.args, call.bound.kwargs)

    def _verdict(self, decisions: list[Decision], stage: str, subject: str | None = None):
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
        return _Stop((yield Invoke(self.o.on_deny, (d,), "on_deny")))

    def escalated(self, d: Decision, subject: str | None = None):
        if self.o.on_escalate is None:
            raise EscalationRequired(d, subject)
        value = yield Invoke(self.o.on_escalate, (d,), "on_escalate")
        return None if value is CONTINUE else _Stop(value)

    def _after(self, result: Any, call: _Call):
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
            stop = yield from self._verdict(decisions, "output")
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

    def review_tools(self, slots: list[M.ToolSlot], call: _Call):
        """Steps: check proposed tool calls; per call, None (keep as is), new
        arguments, or messages.REMOVED."""
        p = call.pseudo
        args = [p.restore_value(s.args) if (p is not None and s.args is not None) else s.args for s in slots]
        pending = [(i, s) for i, s in enumerate(slots) if s.problem is None]
        decisions: list[Decision | None] = [None] * len(slots)
        for i, s in enumerate(slots):
            if s.problem is not None:
                decisions[i] = _synthetic_deny("tool_call", INVALID_ARGUMENTS_RULE,
                                               f"tool {s.name!r}: {s.problem}", self.checker.policy)
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

    # -- streams
    def _iter(self, source: Any, call: _Call):
        from guardrails.guard.stream_adapter import StreamAdapter

        adapter = StreamAdapter(self, call)
        try:
            for item in source:
                yield from run(adapter.item(item), self.checker)
                if adapter.done:
                    return
            yield from run(adapter.end(), self.checker)
        finally:
            _close(source)
            call.close()

    async def _aiter(self, source: Any, call: _Call):
        from guardrails.guard.stream_adapter import StreamAdapter

        adapter = StreamAdapter(self, call)
        try:
            if not hasattr(source, "__aiter__"):
                raise TypeError(f"guard: {self.name}() gave {type(source).__name__}, which is not an async stream")
            async for item in source:
                for out in await arun(adapter.item(item), self.checker):
                    yield out
                if adapter.done:
                    return
            for out in await arun(adapter.end(), self.checker):
                yield out
        finally:
            await _aclose(source)
            call.close()


@dataclass(frozen=True, slots=True)
class _Args:
    args: tuple
    kwargs: dict

