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
does not allow; the tool results in the messages go through the tool_result
rules. It works on sync and async functions and on sync and async
generators, and on functions that return a stream (the ``openai`` SDK's
``stream=True``). :func:`guard_tool` checks a tool's arguments before its
body runs. Both accept an :class:`~guardrails.engine.Engine`, the sidecar's
``GuardrailsClient``, or any object with the same method names. Inside
``with session("run-42"):`` (or with ``session=``) every check names the
agent's session, so the policy's session rules see its history.

docs/guard.md has the full guide; the shapes read are listed in
:mod:`guardrails.guard.shapes`, streams are checked by
:class:`~guardrails.guard.stream_guard.StreamGuard`, and placeholders come from
:mod:`guardrails.guard.pseudonymize`.

This module reads ``guard(...)``'s arguments and wraps each kind of function
(sync, async, generator, async generator, returned streams); the checks run
around each call are :class:`~guardrails.guard.call.CallSteps`.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from guardrails.guard import answers as A
from guardrails.guard.backend import CONTINUE, Backend, EscalationRequired, PolicyViolation
from guardrails.guard.call import Call, CallSteps, Options, ToolCall
from guardrails.guard.inputs import Prompt, SessionSource, Source
from guardrails.guard.pseudonymize import Pseudonymizer
from guardrails.guard.retrieved import as_sources, read_chunks
from guardrails.guard.steps import Stop, arun, run
from guardrails.guard.stream_adapter import StreamAdapter

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
CALL_SESSION = "guard_session"
CALL_SOURCES = "guard_sources"
CALL_KWARGS = (CALL_PRINCIPAL, CALL_CONTEXT, CALL_SESSION, CALL_SOURCES)


def _is_stream(value: Any) -> bool:
    """Whether a returned value is a stream of items to guard one by one.

    Iterable is not enough: pydantic models (every SDK's response objects,
    LangChain's messages) iterate over their fields, and dataclasses may
    too. Those are answers, read by :func:`~guardrails.guard.shapes.read_output`,
    which names the shapes it knows when it knows none."""
    if isinstance(value, (str, bytes, bytearray, Mapping, list, tuple)) or value is None:
        return False
    if callable(getattr(value, "model_dump", None)) or dataclasses.is_dataclass(value):
        return False
    return hasattr(value, "__next__") or (hasattr(value, "__iter__") and A.read_output(value) is None)


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
          on_error: str | None = None, session: Any = None,
          tool_results: bool = True, sources_arg: str | None = None,
          check_retrieval: bool = True) -> Callable[[Callable], Callable]:
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

    **Tool results.** The tool results in the messages (OpenAI
    ``role="tool"`` messages, Anthropic ``tool_result`` blocks) go through
    the tool_result rules, with the tool name and arguments of the call they
    answer (found in the history), ``principal`` and ``context``. JSON text
    is read as JSON. A redacted result replaces the text in the copy the
    function receives; a result not let through (denied; escalated and
    ``on_escalate`` did not return :data:`CONTINUE`) is replaced by a short
    notice naming the rules, and ``on_tool_denied(ToolCall, decision)`` is
    told, or :class:`PolicyViolation` is raised with ``tool_calls="raise"``.
    ``tool_results=False`` turns this off. A checker without
    ``check_tool_result`` checks them with the input rules instead.

    **Sessions.** ``session`` is a session id, or a callable evaluated on
    every call (no argument, or the call's arguments by name); when it is
    None (or returns None) the session of the innermost ``with
    session(...)`` block applies. Every check passes it. With a session, a
    text or result the messages re-send is not checked again (its decision
    is reused), and a tool call kept here is not checked again by the
    ``@guard_tool`` it runs through: each event is one step of the session.

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

    **Grounding.** The output rules' ``grounded()`` and its relatives check
    the answer against its sources (docs/grounding.md). ``sources_arg``
    names the parameter holding the retrieved chunks (strings, or dicts with
    ``text`` and optionally ``id`` and ``metadata``): they are first checked
    with the retrieval rules (``check_retrieval=False`` skips that), the
    function receives the kept ones (redacted; denied or escalated chunks
    dropped), and the answer is checked against what it received. A caller
    can instead pass ``guard_sources=[...]`` for one call. With neither, an
    answer inside a session is checked against the chunks that session's
    retrieval checks forwarded (an engine in process, or the sidecar).

    **Deny and escalate.** A deny raises :class:`PolicyViolation` (carrying
    the decision; its message names the rules), or calls ``on_deny(decision)``
    whose return value becomes the result (in a stream: the last item, when
    not None). An escalation calls ``on_escalate(decision)``: its return value
    becomes the result, or the call goes on as allowed if it returns
    :data:`CONTINUE`; without a handler it raises :class:`EscalationRequired`.
    Handlers may be async for async functions.

    **Principal and context** are dicts, or callables evaluated on every call
    (with no argument, or with the call's arguments by name). A caller can
    also pass ``guard_principal=`` / ``guard_context=`` / ``guard_session=`` /
    ``guard_sources=`` to the guarded function for one call; the guard
    consumes them.

    **When the guard cannot run** (the backend raises: the sidecar is down),
    the policy's ``on_error`` decides: fail closed (deny, saying so) or fail
    open (pass unchecked, logging a warning). ``on_error=`` overrides it;
    objects whose policy cannot be read fail closed.
    """
    backend = Backend(engine_or_client, policy, on_error)
    if tool_calls not in TOOL_CALL_MODES:
        raise ValueError(f"tool_calls must be 'remove' or 'raise', not {tool_calls!r}")
    if isinstance(roles, str) or not all(isinstance(r, str) for r in roles):
        raise TypeError(f"roles must be a collection of role names such as ('user',), not {roles!r}")
    for name, handler in (("on_deny", on_deny), ("on_escalate", on_escalate), ("on_tool_denied", on_tool_denied)):
        if handler is not None and not callable(handler):
            raise TypeError(f"{name} must be callable, not {type(handler).__name__}")
    if pseudonymize and not check_output:
        raise ValueError("pseudonymize=True needs check_output=True: restored values must pass the output rules")
    if not isinstance(tool_results, bool):
        raise TypeError(f"tool_results must be True or False, not {tool_results!r}")
    if sources_arg is not None and not isinstance(sources_arg, str):
        raise TypeError(f"sources_arg must be a parameter name (str), not {type(sources_arg).__name__}")
    if sources_arg is not None and check_retrieval and not callable(getattr(engine_or_client, "check_retrieval",
                                                                               None)):
        raise TypeError(f"guard(sources_arg=...): {type(engine_or_client).__name__} has no check_retrieval to check "
                        "the retrieved chunks with; pass check_retrieval=False to use them unchecked")
    checked_roles = frozenset(roles)
    if tool_results and not backend.checks_results:
        # A checker without the tool_result stage: the input rules read them.
        checked_roles |= {"tool"}
    options = Options(backend, input_arg, messages_arg, checked_roles, Source("principal", principal),
                      Source("context", context), on_deny, on_escalate, on_tool_denied, tool_calls,
                      bool(pseudonymize), stream_holdback, stream_step, check_output, SessionSource(session),
                      tool_results and backend.checks_results, sources_arg, bool(check_retrieval))

    def decorate(fn: Callable) -> Callable:
        return _Guard(fn, options).wrapper()

    return decorate


class _Guard:
    """One guarded function: how it is called, and the steps around it."""

    def __init__(self, fn: Callable, o: Options):
        if not callable(fn):
            raise TypeError(f"guard(...) decorates a function, not {type(fn).__name__}")
        self.fn = fn
        self.o = o
        self.backend = o.backend
        self.name = getattr(fn, "__qualname__", None) or repr(fn)
        self.sig = inspect.signature(fn)
        params = self.sig.parameters
        varkw = next((p.name for p in params.values() if p.kind is p.VAR_KEYWORD), None)
        self.takes_call_kwargs = {n for n in CALL_KWARGS if n in params}
        prompt = Prompt.locate(self.name, self.sig, varkw, o.input_arg, o.messages_arg, o.roles)
        if o.sources_arg is not None and o.sources_arg not in params and varkw is None:
            raise TypeError(f"guard: {self.name}() has no parameter {o.sources_arg!r} (sources_arg) holding the "
                            "retrieved chunks")
        self.steps = CallSteps(o, self.name, prompt)

    # -- wrapping, per kind of function
    def wrapper(self) -> Callable:
        fn = self.fn
        before, after = self.steps.before, self.steps.after
        if inspect.isasyncgenfunction(fn):
            @functools.wraps(fn)
            async def agen_wrapper(*args: Any, **kwargs: Any):
                call = self._begin(args, kwargs)
                try:
                    pre = await arun(before(call), self.backend)
                    if isinstance(pre, Stop):
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
                    pre = run(before(call), self.backend)
                    if isinstance(pre, Stop):
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
                    pre = await arun(before(call), self.backend)
                    if isinstance(pre, Stop):
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
                    return await arun(after(result, call), self.backend)
                finally:
                    if not handed_off:
                        call.close()

            return async_wrapper

        @functools.wraps(fn)
        def sync_wrapper(*args: Any, **kwargs: Any):
            call = self._begin(args, kwargs)
            handed_off = False
            try:
                pre = run(before(call), self.backend)
                if isinstance(pre, Stop):
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
                return run(after(result, call), self.backend)
            finally:
                if not handed_off:
                    call.close()

        return sync_wrapper

    # -- one call
    def _begin(self, args: tuple, kwargs: dict) -> Call:
        overrides = {}
        for key in CALL_KWARGS:
            if key in kwargs and key not in self.takes_call_kwargs:
                kwargs = dict(kwargs)
                overrides[key] = kwargs.pop(key)
        bound = self.sig.bind(*args, **kwargs)
        arguments = bound.arguments
        principal = self.o.principal.resolve(arguments, overrides.get(CALL_PRINCIPAL))
        context = self.o.context.resolve(arguments, overrides.get(CALL_CONTEXT))
        session = self.o.session.resolve(arguments, overrides.get(CALL_SESSION))
        pseudo = Pseudonymizer() if self.o.pseudonymize else None
        sources = overrides.get(CALL_SOURCES)
        if sources is not None:
            sources = as_sources(read_chunks(sources, CALL_SOURCES))
        return Call(bound, principal, context, pseudo, session, sources)

    # -- streams
    def _iter(self, source: Any, call: Call):
        adapter = StreamAdapter(self.steps, call)
        try:
            for item in source:
                yield from run(adapter.item(item), self.backend)
                if adapter.done:
                    return
            yield from run(adapter.end(), self.backend)
        finally:
            _close(source)
            call.close()

    async def _aiter(self, source: Any, call: Call):
        adapter = StreamAdapter(self.steps, call)
        try:
            if not hasattr(source, "__aiter__"):
                raise TypeError(f"guard: {self.name}() gave {type(source).__name__}, which is not an async stream")
            async for item in source:
                for out in await arun(adapter.item(item), self.backend):
                    yield out
                if adapter.done:
                    return
            for out in await arun(adapter.end(), self.backend):
                yield out
        finally:
            await _aclose(source)
            call.close()
