"""What a guarded call gives the guard besides its answer: the prompt, the
principal, the context and the session.

:class:`Source` is a principal or context as given to ``@guard`` or
``@guard_tool``: a dict, None, or a callable evaluated on every call.
:class:`SessionSource` is the session: the decorator's ``session=`` (a
string, or a callable evaluated on every call), else the one named by the
innermost ``with session("run-42"):`` block around the call.
:class:`Prompt` is where a ``@guard``-ed function's prompt is (the parameter
named by ``input_arg`` or ``messages_arg``), read from and written back to
one call's bound arguments. Both refuse a wrong shape with a ``TypeError``
naming it: the guard is never skipped silently.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from guardrails.guard import shapes as M
from guardrails.history import check_session_id

# The session of the guarded calls made in this context. A ContextVar, not a
# thread-local, so it follows the code across ``await`` and into the tasks it
# starts, and concurrent agent runs on one event loop each keep their own.
_SESSION: ContextVar[str | None] = ContextVar("guardrails_guard_session", default=None)


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


class Source:
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


def _valid_session(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{where} must be a session id (str), not {type(value).__name__}")
    problem = check_session_id(value)
    if problem:
        raise ValueError(f"{where}: {problem}")
    return value


@contextmanager
def session(session_id: str | None) -> Iterator[str | None]:
    """Name the session of every guarded call made inside the block.

    ::

        with guardrails.guard.session("run-42"):
            run_agent(task)          # each @guard / @guard_tool check passes session="run-42"

    The session is held in a context variable, so it follows the code across
    ``await`` and into the asyncio tasks started inside the block, and
    concurrent runs (threads, tasks) each see their own. Blocks nest (the
    innermost wins); ``session(None)`` turns the session off inside a block.
    A decorator's own ``session=`` takes precedence over the block.
    """
    if session_id is not None:
        _valid_session(session_id, "session(...)")
    token = _SESSION.set(session_id)
    try:
        yield session_id
    finally:
        _SESSION.reset(token)


def current_session() -> str | None:
    """The session named by the innermost ``with session(...)`` block, or None."""
    return _SESSION.get()


class SessionSource:
    """The session of a guarded call: ``session=`` as given to the decorator
    (None, a str, or a callable evaluated per call with no argument or with
    the call's arguments by name), falling back to :func:`current_session`."""

    __slots__ = ("value", "with_args")

    def __init__(self, value: Any):
        if value is not None and not callable(value):
            _valid_session(value, "session=")
        self.value = value
        self.with_args = callable(value) and _accepts_one_arg(value)

    def resolve(self, arguments: Mapping[str, Any], override: Any = None) -> str | None:
        value = override if override is not None else self.value
        if callable(value):
            value = value(dict(arguments)) if (override is None and self.with_args) else value()
        if value is None:
            return _SESSION.get()
        return _valid_session(value, "session")


class Prompt:
    """The parameter of a guarded function that holds its prompt: a ``str``
    (``input_arg``) or a list of chat messages (``messages_arg``), of which
    the turns whose role is in ``roles`` are checked."""

    __slots__ = ("fn_name", "sig", "varkw", "param", "is_messages", "roles", "named")

    def __init__(self, fn_name: str, sig: inspect.Signature, varkw: str | None, param: str,
                 is_messages: bool, roles: frozenset[str]):
        self.fn_name = fn_name
        self.sig = sig
        self.varkw = varkw
        self.param = param
        self.is_messages = is_messages
        self.roles = roles
        # In the signature by name, or only reachable through ``**kwargs``; decided once.
        params = sig.parameters
        self.named = param in params and params[param].kind is not inspect.Parameter.VAR_KEYWORD

    @classmethod
    def locate(cls, fn_name: str, sig: inspect.Signature, varkw: str | None, input_arg: str | None,
               messages_arg: str | None, roles: frozenset[str]) -> Prompt | None:
        """The prompt's parameter (``input_arg`` first), None when neither is
        given, or a TypeError when the function has no such parameter."""
        if input_arg is not None:
            param, is_messages = input_arg, False
        elif messages_arg is not None:
            param, is_messages = messages_arg, True
        else:
            return None
        if param not in sig.parameters and varkw is None:
            which = "input_arg" if input_arg is not None else "messages_arg"
            raise TypeError(
                f"guard: {fn_name}() has no parameter {param!r} ({which}); name the prompt with "
                "input_arg='...' or the messages with messages_arg='...', or pass input_arg=None, "
                "messages_arg=None to check only the answer"
            )
        return cls(fn_name, sig, varkw, param, is_messages, roles)

    def read(self, bound: inspect.BoundArguments) -> tuple[Any, list[M.TextSlot]]:
        """The prompt's value in one call, and the texts in it to check."""
        name = self.param
        args = bound.arguments
        if self.named:
            value = args.get(name, self.sig.parameters[name].default)
            if value is inspect.Parameter.empty:
                raise TypeError(f"guard: {self.fn_name}() was called without {name!r}, which the guard checks")
        else:
            extra = args.get(self.varkw, {})
            if name not in extra:
                raise TypeError(f"guard: {self.fn_name}() was called without {name!r}, which the guard checks")
            value = extra[name]
        if self.is_messages:
            return value, M.message_slots(value, name, self.roles)
        if not isinstance(value, str):
            hint = (f"; for a list of messages use messages_arg={name!r}" if isinstance(value, (list, tuple)) else "")
            raise TypeError(f"argument {name!r} of {self.fn_name}() must be a str (the prompt), "
                            f"not {type(value).__name__}{hint}")
        return value, [M.TextSlot((), value)]

    def write(self, bound: inspect.BoundArguments, value: Any) -> None:
        """Put the (redacted) prompt back into one call's arguments."""
        name = self.param
        args = bound.arguments
        if self.named:
            args[name] = value
        else:
            extra = dict(args.get(self.varkw, {}))
            extra[name] = value
            args[self.varkw] = extra


__all__ = ["Prompt", "SessionSource", "Source", "current_session", "session"]
