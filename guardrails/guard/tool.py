"""``@guard_tool``: a tool's arguments are checked before its body runs, and
what it returns is checked before the caller gets it.

Re-exported by :mod:`guardrails.guard`; see docs/guard.md.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from guardrails.decision import Decision, Outcome
from guardrails.guard import results as R
from guardrails.guard.backend import CONTINUE, Backend, EscalationRequired, PolicyViolation
from guardrails.guard.inputs import SessionSource, Source
from guardrails.guard.once import CHECKED, handed_key, who
from guardrails.guard.steps import Checks, Invoke, Proceed, Stop, arun, run

ARGUMENTS = "tool arguments"
RESULTS = "tool results"


def guard_tool(engine_or_client: Any, policy: str | None = None, *, tool: str | None = None,
               principal: Any = None, context: Any = None, on_deny: Callable | None = None,
               on_escalate: Callable | None = None, exclude: tuple[str, ...] | list[str] = (),
               on_error: str | None = None, session: Any = None,
               check_result: bool = True) -> Callable[[Callable], Callable]:
    """Check a tool's arguments against the tool_call rules before it runs,
    and its return value against the tool_result rules after.

    The call's arguments are bound to the function's parameters (defaults
    included; a leading ``self``/``cls`` and the names in ``exclude`` are
    left out; ``**kwargs`` entries count as arguments) and checked as
    ``args`` of tool ``tool`` (default: the function's name) with
    ``principal`` and ``context`` (dicts, or callables evaluated per call,
    with no argument or with the arguments by name). Arguments must be
    JSON-like; anything else raises ``TypeError`` naming the parameter.

    A denied call never runs: :class:`PolicyViolation` is raised, or
    ``on_deny(decision)``'s return value is returned instead. An escalation
    goes to ``on_escalate(decision)`` (return :data:`CONTINUE` to run the
    tool anyway), else raises :class:`EscalationRequired`. When the policy
    redacts arguments, the function receives the redacted values.

    **The result.** What the tool returns (a ``str`` or a JSON-like value;
    tuples are read as lists) is checked with the same tool, arguments,
    principal and context; the caller gets it redacted in the same shape
    (the very object returned when nothing was redacted). A denied result:
    :class:`PolicyViolation` (or ``on_deny(decision)``'s value); an
    escalated one: ``on_escalate(decision)``'s value, or the result when it
    returns :data:`CONTINUE`, else :class:`EscalationRequired`. The tool has
    run by then: only its result is held back. ``decision.stage`` tells the
    handlers which check it was. A tool returning ``None`` is not checked;
    another type raises ``TypeError``. ``check_result=False`` checks the
    arguments only (needed for a checker without ``check_tool_result``).

    **Sessions.** ``session`` (a session id, or a callable evaluated per
    call) names the session; otherwise the innermost ``with session(...)``
    block's applies. A call that ``@guard`` kept in the same session with
    the same arguments, principal and context is not checked again, and a
    result let through here is not checked again by ``@guard`` when the
    agent hands it back to the model. Works on sync and async functions.
    """
    backend = Backend(engine_or_client, policy, on_error)
    principal_src = Source("principal", principal)
    context_src = Source("context", context)
    session_src = SessionSource(session)
    if tool is not None and (not isinstance(tool, str) or not tool):
        raise TypeError(f"tool must be a non-empty str, not {tool!r}")
    if not isinstance(check_result, bool):
        raise TypeError(f"check_result must be True or False, not {check_result!r}")
    if check_result and not backend.checks_results:
        raise TypeError(f"guard_tool: {type(engine_or_client).__name__} has no check_tool_result, so the tool's "
                        "results cannot be checked; pass check_result=False to check its arguments only")
    excluded = frozenset(exclude)

    def decorate(fn: Callable) -> Callable:
        name = tool or getattr(fn, "__name__", None)
        if not name:
            raise TypeError("guard_tool: pass tool='NAME' for a callable without a __name__")
        sig = inspect.signature(fn)
        params = list(sig.parameters.values())
        skip = set(excluded)
        if params and params[0].name in ("self", "cls"):
            skip.add(params[0].name)
        unknown = excluded - set(sig.parameters)
        if unknown:
            raise TypeError(f"guard_tool: exclude names {sorted(unknown)} that are not parameters of {name}()")
        steps = _ToolSteps(backend, name, sig, frozenset(skip), principal_src, context_src, session_src,
                           on_deny, on_escalate)

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_tool(*args: Any, **kwargs: Any):
                call = steps.begin(args, kwargs)
                pre = await arun(steps.before(call), backend)
                if isinstance(pre, Stop):
                    return pre.value
                value = await fn(*pre.args, **pre.kwargs)
                if not check_result or value is None:
                    return value
                return await arun(steps.after(call, value), backend)

            return async_tool

        @functools.wraps(fn)
        def sync_tool(*args: Any, **kwargs: Any):
            call = steps.begin(args, kwargs)
            pre = run(steps.before(call), backend)
            if isinstance(pre, Stop):
                return pre.value
            value = fn(*pre.args, **pre.kwargs)
            if not check_result or value is None:
                return value
            if inspect.isawaitable(value):
                if hasattr(value, "close"):
                    value.close()
                raise TypeError(f"guard_tool: {name}() returned {type(value).__name__} to a sync call; declare it "
                                "with 'async def' so the guard can await its result")
            return run(steps.after(call, value), backend)

        return sync_tool

    return decorate


class _Call:
    """One tool call: its bound arguments, the ``args`` checked, who, where, which session."""

    __slots__ = ("bound", "args", "passed", "principal", "context", "session", "whom")

    def __init__(self, bound: inspect.BoundArguments, args: dict, passed: dict, principal: dict | None,
                 context: dict | None, session: str | None):
        self.bound = bound
        self.args = args  # with defaults: what the rules read
        self.passed = passed  # as the caller passed them: how @guard saw the call
        self.principal = principal
        self.context = context
        self.session = session
        self.whom = who(principal, context) if session is not None else ""


class _ToolSteps:
    """The checks around every call of one guarded tool, as steps."""

    def __init__(self, backend: Backend, name: str, sig: inspect.Signature, skip: frozenset[str],
                 principal: Source, context: Source, session: SessionSource, on_deny: Callable | None,
                 on_escalate: Callable | None):
        self.backend = backend
        self.name = name
        self.sig = sig
        self.skip = skip
        self.principal = principal
        self.context = context
        self.session = session
        self.on_deny = on_deny
        self.on_escalate = on_escalate

    def _json_args(self, arguments: dict) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for pname, value in arguments.items():
            if pname in self.skip:
                continue
            if self.sig.parameters[pname].kind is inspect.Parameter.VAR_KEYWORD:
                for k, v in value.items():
                    out[k] = R.json_value(v, f"argument {k!r} of {self.name}()", ARGUMENTS)
            else:
                out[pname] = R.json_value(value, f"argument {pname!r} of {self.name}()", ARGUMENTS)
        return out

    def begin(self, args: tuple, kwargs: dict) -> _Call:
        bound = self.sig.bind(*args, **kwargs)
        passed = self._json_args(bound.arguments)
        bound.apply_defaults()
        arguments = bound.arguments
        return _Call(bound, self._json_args(arguments), passed, self.principal.resolve(arguments),
                     self.context.resolve(arguments), self.session.resolve(arguments))

    def _handled(self, d: Decision, subject: str):
        """Steps: a deny or escalation handed to its handler; a Stop, or None to go on."""
        if d.outcome is Outcome.DENY:
            if self.on_deny is None:
                raise PolicyViolation(d, subject)
            return Stop((yield Invoke(self.on_deny, (d,), "on_deny")))
        if d.outcome is Outcome.ESCALATE:
            if self.on_escalate is None:
                raise EscalationRequired(d, subject)
            value = yield Invoke(self.on_escalate, (d,), "on_escalate")
            if value is not CONTINUE:
                return Stop(value)
        return None

    def before(self, call: _Call):
        """Steps: check the arguments; Proceed with the (redacted) ones, or Stop."""
        b = self.backend
        if call.session is not None:
            # @guard kept this very call in this session: it is one event, checked once.
            key = handed_key(b.target, b.policy, call.session, "tool_call", self.name, call.passed, call.whom)
            if CHECKED.take(key) is not None:
                return Proceed(call.bound.args, call.bound.kwargs)
        (d,) = yield Checks([("tool", self.name, call.args, call.principal, call.context, call.session)])
        stop = yield from self._handled(d, f"the tool call {self.name!r}")
        if stop is not None:
            return stop
        forwarded = d.text if isinstance(d.text, dict) else call.args
        if forwarded != call.args:
            bound = call.bound
            for pname in list(bound.arguments):
                if pname in self.skip:
                    continue
                if self.sig.parameters[pname].kind is inspect.Parameter.VAR_KEYWORD:
                    bound.arguments[pname] = {k: forwarded.get(k, v) for k, v in bound.arguments[pname].items()}
                elif pname in forwarded:
                    bound.arguments[pname] = R.restore(bound.arguments[pname], call.args[pname], forwarded[pname])
            call.args = forwarded
        return Proceed(call.bound.args, call.bound.kwargs)

    def after(self, call: _Call, value: Any):
        """Steps: check what the tool returned; return it (redacted) or a handler's value."""
        checked = R.json_value(value, f"the result of {self.name}()", RESULTS)
        (d,) = yield Checks([("result", self.name, checked, call.args, call.principal, call.context,
                              call.session)])
        stop = yield from self._handled(d, f"the result of tool {self.name!r}")
        if stop is not None:
            return stop.value
        forwarded = checked if d.text is None else d.text
        if call.session is not None and not d.errors:
            b = self.backend
            CHECKED.hand_over(handed_key(b.target, b.policy, call.session, "tool_result", self.name,
                                         R.canonical(forwarded), call.whom), d)
        return R.restore(value, checked, forwarded)


__all__ = ["guard_tool"]
