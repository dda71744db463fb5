"""``@guard_tool``: a tool's arguments are checked before its body runs.

Re-exported by :mod:`guardrails.guard`; see docs/guard.md.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from guardrails.decision import Outcome
from guardrails.guard.backend import CONTINUE, Backend, EscalationRequired, PolicyViolation
from guardrails.guard.inputs import Source
from guardrails.guard.steps import Checks, Invoke, Proceed, Stop, arun, run


def guard_tool(engine_or_client: Any, policy: str | None = None, *, tool: str | None = None,
               principal: Any = None, context: Any = None, on_deny: Callable | None = None,
               on_escalate: Callable | None = None, exclude: tuple[str, ...] | list[str] = (),
               on_error: str | None = None) -> Callable[[Callable], Callable]:
    """Check a tool's arguments against the tool_call rules before it runs.

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
    redacts arguments, the function receives the redacted values. Works on
    sync and async functions.
    """
    backend = Backend(engine_or_client, policy, on_error)
    principal_src = Source("principal", principal)
    context_src = Source("context", context)
    if tool is not None and (not isinstance(tool, str) or not tool):
        raise TypeError(f"tool must be a non-empty str, not {tool!r}")
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

        def steps(args: tuple, kwargs: dict):
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            call_args: dict[str, Any] = {}
            for pname, value in bound.arguments.items():
                if pname in skip:
                    continue
                kind = sig.parameters[pname].kind
                if kind is inspect.Parameter.VAR_KEYWORD:
                    for k, v in value.items():
                        call_args[k] = _as_json_argument(v, f"argument {k!r} of {name}()")
                else:
                    call_args[pname] = _as_json_argument(value, f"argument {pname!r} of {name}()")
            arguments = bound.arguments
            who = principal_src.resolve(arguments)
            ctx = context_src.resolve(arguments)
            (d,) = yield Checks([("tool", name, call_args, who, ctx)])
            subject = f"the tool call {name!r}"
            if d.outcome is Outcome.DENY:
                if on_deny is None:
                    raise PolicyViolation(d, subject)
                return Stop((yield Invoke(on_deny, (d,), "on_deny")))
            if d.outcome is Outcome.ESCALATE:
                if on_escalate is None:
                    raise EscalationRequired(d, subject)
                value = yield Invoke(on_escalate, (d,), "on_escalate")
                if value is not CONTINUE:
                    return Stop(value)
            forwarded = d.text if isinstance(d.text, dict) else call_args
            if forwarded != call_args:
                for pname in list(bound.arguments):
                    kind = sig.parameters[pname].kind
                    if pname in skip:
                        continue
                    if kind is inspect.Parameter.VAR_KEYWORD:
                        bound.arguments[pname] = {k: forwarded.get(k, v) for k, v in bound.arguments[pname].items()}
                    elif pname in forwarded:
                        bound.arguments[pname] = _restore_shape(bound.arguments[pname], forwarded[pname])
            return Proceed(bound.args, bound.kwargs)

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_tool(*args: Any, **kwargs: Any):
                pre = await arun(steps(args, kwargs), backend)
                if isinstance(pre, Stop):
                    return pre.value
                return await fn(*pre.args, **pre.kwargs)

            return async_tool

        @functools.wraps(fn)
        def sync_tool(*args: Any, **kwargs: Any):
            pre = run(steps(args, kwargs), backend)
            if isinstance(pre, Stop):
                return pre.value
            return fn(*pre.args, **pre.kwargs)

        return sync_tool

    return decorate


def _as_json_argument(value: Any, where: str) -> Any:
    """``value`` as a JSON tool argument (tuples become lists), or a TypeError naming ``where``."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_as_json_argument(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where} has a key of type {type(k).__name__}; tool arguments need string keys")
            out[k] = _as_json_argument(v, f"{where}[{k!r}]")
        return out
    raise TypeError(f"{where} has type {type(value).__name__}; tool arguments must be JSON-like "
                    "(str, int, float, bool, None, lists, dicts with string keys)")


def _restore_shape(original: Any, redacted: Any) -> Any:
    """Redacted JSON back in the caller's container types (a tuple stays a tuple)."""
    if isinstance(original, tuple) and isinstance(redacted, list):
        return tuple(_restore_shape(o, r) for o, r in zip(original, redacted))
    return redacted
