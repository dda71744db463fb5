"""What the guard front doors share: the backend that checks (an engine or a sidecar client) and the errors.

:class:`Backend` wraps an :class:`~guardrails.engine.Engine`, a sidecar client,
or anything else with the engine's method names (``check_input``,
``check_output``, ``check_tool_call``, optionally ``check_tool_result``, and
optionally their ``acheck_*`` twins). Every check passes ``session=`` when the
call has one (a target whose method takes no ``session`` is refused then, never
skipped). It is where a backend that *fails* (raises instead of returning a
decision: the sidecar is unreachable, say) is turned into a decision, following
the policy's ``on_error`` choice:

* ``fail_closed`` (the default, and the only choice when it cannot be read)
  gives a ``deny`` decision from the synthetic rule ``guard-unavailable``,
  whose message says the policy fails closed;
* ``fail_open`` gives an ``allow`` decision that forwards the text unchanged
  and records the failure in ``Decision.errors``; a warning is logged.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any

from guardrails.decision import Decision, EvalError, Outcome, PolicyRef, Violation
from guardrails.diagnostics import GuardrailsError
from guardrails.engine import Engine, UnknownPolicyError

log = logging.getLogger("guardrails.guard")

UNAVAILABLE_RULE = "guard-unavailable"
ON_ERROR_CHOICES = ("fail_closed", "fail_open")


class _Continue:
    __slots__ = ()

    def __repr__(self) -> str:
        return "guardrails.CONTINUE"


#: Returned by an ``on_escalate`` handler to let the escalated request go on
#: as if it had been allowed (its redactions still apply).
CONTINUE = _Continue()


class PolicyViolation(GuardrailsError):
    """A policy denied a prompt, an answer, a stream or a tool call.

    ``decision`` is the :class:`~guardrails.decision.Decision` that did it;
    the message names the deciding rules and their messages, for example
    ``support-bot 1.3.0 denied the output: no-medical (Medical advice is out
    of scope)``. ``subject`` says what was checked when the stage alone does
    not (``"tool call 'issue_refund'"``).
    """

    def __init__(self, decision: Decision, subject: str | None = None):
        self.decision = decision
        self.subject = subject
        super().__init__(describe(decision, subject))


class EscalationRequired(PolicyViolation):
    """A policy escalated and no ``on_escalate`` handler took it over.

    An escalation hands the request to a route (``decision.route``), such as
    human review; going on without one would ignore the policy, so it stops
    the call like a deny does.
    """


_SUBJECTS = {"tool_call": "the tool call", "tool_result": "the tool result"}


def describe(decision: Decision, subject: str | None = None) -> str:
    """One line naming what a policy decided and which rules decided it."""
    outcome = decision.outcome
    verb = {Outcome.DENY: "denied", Outcome.ESCALATE: "escalated"}.get(outcome, outcome.value)
    what = subject or _SUBJECTS.get(decision.stage, f"the {decision.stage}")
    head = f"{_policy_label(decision.policy)} {verb} {what}"
    if outcome is Outcome.ESCALATE and decision.route:
        head += f" to {decision.route}"
    deciding = [v for v in decision.violations if v.effect == outcome.value] or list(decision.violations)
    parts = []
    for v in deciding:
        part = v.rule
        if v.message:
            part += f" ({v.message})"
        parts.append(part)
    return head + (": " + "; ".join(parts) if parts else "")


def _policy_label(ref: PolicyRef) -> str:
    return f"{ref.name} {ref.version}".strip() if ref.version else ref.name


class Backend:
    """Calls an engine or client and turns its failures into decisions.

    ``on_error`` overrides the policy's choice; otherwise it is read from
    ``target.get_policy(policy).settings.on_error`` when the target has that
    method, and is ``fail_closed`` when it cannot be read.
    """

    __slots__ = ("target", "policy", "_on_error", "_has_async", "checks_results", "_takes_session")

    def __init__(self, target: Any, policy: str | None = None, on_error: str | None = None):
        missing = [m for m in ("check_input", "check_output", "check_tool_call")
                   if not callable(getattr(target, m, None))]
        if missing:
            raise TypeError(
                "engine_or_client must be a guardrails Engine, a GuardrailsClient, or another object "
                f"with check_input, check_output and check_tool_call methods; {type(target).__name__} "
                f"has no {', '.join(missing)}"
            )
        if on_error is not None and on_error not in ON_ERROR_CHOICES:
            raise ValueError(f"on_error must be 'fail_closed' or 'fail_open', not {on_error!r}")
        if policy is not None and not isinstance(policy, str):
            raise TypeError(f"policy must be a policy name (str), not {type(policy).__name__}")
        self.target = target
        self.policy = policy
        self._on_error = on_error
        self._has_async = all(callable(getattr(target, m, None))
                              for m in ("acheck_input", "acheck_output", "acheck_tool_call"))
        #: Whether the target has the tool_result stage (``check_tool_result``).
        self.checks_results = callable(getattr(target, "check_tool_result", None))
        self._takes_session: dict[str, bool] = {}
        if isinstance(target, Engine) or isinstance(getattr(target, "wrapped", None), Engine):  # traced(engine)
            # An in-process engine answers at once: a misspelt policy name
            # fails where the guard is declared, not on the first request.
            self._on_error = on_error or target.get_policy(policy).settings.on_error

    @classmethod
    def of(cls, target: Any, policy: str | None = None, on_error: str | None = None) -> "Backend":
        if isinstance(target, Backend):
            return target
        return cls(target, policy, on_error)

    @property
    def policy_label(self) -> str:
        return self.policy or "the policy"

    def on_error(self) -> str:
        """The error policy in force; looked up lazily, once it is needed."""
        if self._on_error is None:
            mode = "fail_closed"
            getter = getattr(self.target, "get_policy", None)
            if callable(getter):
                try:
                    mode = getter(self.policy).settings.on_error
                except Exception:  # the target is failing: stay closed
                    return "fail_closed"
                if mode not in ON_ERROR_CHOICES:
                    mode = "fail_closed"
            self._on_error = mode
        return self._on_error

    def _session_kw(self, method: str, session: str | None) -> dict:
        """``{"session": session}``, or ``{}`` without one. A target whose
        method cannot take a session is a configuration mistake: the check
        would silently lose the session's history, so it raises instead."""
        if session is None:
            return {}
        takes = self._takes_session.get(method)
        if takes is None:
            takes = self._takes_session[method] = _accepts_keyword(getattr(self.target, method), "session")
        if not takes:
            raise TypeError(f"guard: {type(self.target).__name__}.{method}() takes no session=, and this call has "
                            f"session {session!r}; use an engine or client that supports sessions, or call "
                            "without one")
        return {"session": session}

    def _sources_kw(self, session: str | None, sources: list | None) -> dict:
        """``check_output``'s session and ``sources`` (the passages the answer
        rests on, for ``grounded()``); a target whose ``check_output`` takes no
        sources would check the answer against nothing, so that raises."""
        kw = self._session_kw("check_output", session)
        if sources is None:
            return kw
        takes = self._takes_session.get("check_output:sources")
        if takes is None:
            takes = self._takes_session["check_output:sources"] = _accepts_keyword(self.target.check_output,
                                                                                   "sources")
        if not takes:
            raise TypeError(f"guard: {type(self.target).__name__}.check_output() takes no sources=, and this call "
                            "has sources to check the answer against; use an Engine or a GuardrailsClient")
        return {**kw, "sources": sources}

    # -- sync
    def input(self, text: str, context: dict | None, session: str | None = None) -> Decision:
        kw = self._session_kw("check_input", session)
        try:
            return self.target.check_input(text, policy=self.policy, context=context, **kw)
        except Exception as exc:
            return self._failed("input", exc, text)

    def output(self, text: str, context: dict | None, session: str | None = None,
               sources: list | None = None) -> Decision:
        kw = self._sources_kw(session, sources)
        try:
            return self.target.check_output(text, policy=self.policy, context=context, **kw)
        except Exception as exc:
            return self._failed("output", exc, text)

    def retrieval(self, chunks: list[dict], context: dict | None, session: str | None = None) -> Decision:
        """The retrieval check (only for targets with ``check_retrieval``)."""
        kw = self._session_kw("check_retrieval", session)
        try:
            return self.target.check_retrieval(chunks, policy=self.policy, context=context, **kw)
        except Exception as exc:
            return self._failed("retrieval", exc, chunks)

    def tool(self, tool: str, args: dict, principal: dict | None, context: dict | None,
             session: str | None = None) -> Decision:
        kw = self._session_kw("check_tool_call", session)
        try:
            return self.target.check_tool_call(tool, args, principal=principal, context=context,
                                               policy=self.policy, **kw)
        except Exception as exc:
            return self._failed("tool_call", exc, args)

    def result(self, tool: str, result: Any, args: dict | None, principal: dict | None, context: dict | None,
               session: str | None = None) -> Decision:
        """The tool_result check (only for targets with ``check_tool_result``)."""
        kw = self._session_kw("check_tool_result", session)
        try:
            return self.target.check_tool_result(tool, result, args=args, principal=principal, context=context,
                                                 policy=self.policy, **kw)
        except Exception as exc:
            return self._failed("tool_result", exc, result)

    # -- async: the target's twins when it has them, else its sync methods in a thread
    async def ainput(self, text: str, context: dict | None, session: str | None = None) -> Decision:
        kw = self._session_kw("check_input", session)
        try:
            if self._has_async:
                return await self.target.acheck_input(text, policy=self.policy, context=context, **kw)
            return await asyncio.to_thread(self.target.check_input, text, policy=self.policy, context=context, **kw)
        except Exception as exc:
            return self._failed("input", exc, text)

    async def aoutput(self, text: str, context: dict | None, session: str | None = None,
                      sources: list | None = None) -> Decision:
        kw = self._sources_kw(session, sources)
        try:
            if self._has_async:
                return await self.target.acheck_output(text, policy=self.policy, context=context, **kw)
            return await asyncio.to_thread(self.target.check_output, text, policy=self.policy, context=context,
                                           **kw)
        except Exception as exc:
            return self._failed("output", exc, text)

    async def aretrieval(self, chunks: list[dict], context: dict | None, session: str | None = None) -> Decision:
        kw = {"policy": self.policy, "context": context, **self._session_kw("check_retrieval", session)}
        try:
            twin = getattr(self.target, "acheck_retrieval", None)
            if callable(twin):
                return await twin(chunks, **kw)
            return await asyncio.to_thread(self.target.check_retrieval, chunks, **kw)
        except Exception as exc:
            return self._failed("retrieval", exc, chunks)

    async def atool(self, tool: str, args: dict, principal: dict | None, context: dict | None,
                    session: str | None = None) -> Decision:
        kw = {"principal": principal, "context": context, "policy": self.policy,
              **self._session_kw("check_tool_call", session)}
        try:
            if self._has_async:
                return await self.target.acheck_tool_call(tool, args, **kw)
            return await asyncio.to_thread(self.target.check_tool_call, tool, args, **kw)
        except Exception as exc:
            return self._failed("tool_call", exc, args)

    async def aresult(self, tool: str, result: Any, args: dict | None, principal: dict | None,
                      context: dict | None, session: str | None = None) -> Decision:
        kw = {"args": args, "principal": principal, "context": context, "policy": self.policy,
              **self._session_kw("check_tool_result", session)}
        try:
            twin = getattr(self.target, "acheck_tool_result", None)
            if callable(twin):
                return await twin(tool, result, **kw)
            return await asyncio.to_thread(self.target.check_tool_result, tool, result, **kw)
        except Exception as exc:
            return self._failed("tool_result", exc, result)

    def _failed(self, stage: str, exc: Exception, forwarded: Any) -> Decision:
        if isinstance(exc, UnknownPolicyError):
            raise exc  # a configuration mistake, not an outage: never fail open on it
        if isinstance(exc, TypeError) and "unexpected keyword argument 'session'" in str(exc):
            # A client that takes **kwargs but not a session: as in _session_kw.
            raise TypeError(f"guard: {type(self.target).__name__} cannot check with a session ({exc})") from None
        mode = self.on_error()
        cause = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        ref = PolicyRef(name=self.policy or "unknown", version="", digest="")
        error = EvalError(rule=None, code=UNAVAILABLE_RULE, message=cause)
        if mode == "fail_open":
            log.warning("guardrails: the %s check could not run (%s); %s fails open, so it passes unchecked",
                        stage, cause, self.policy_label)
            return Decision(stage=stage, outcome=Outcome.ALLOW, text=forwarded, policy=ref, errors=[error])
        log.error("guardrails: the %s check could not run (%s); %s fails closed, so it is denied",
                  stage, cause, self.policy_label)
        violation = Violation(rule=UNAVAILABLE_RULE, effect="deny", error=cause,
                              message=f"the guard could not run ({cause}); the policy fails closed")
        return Decision(stage=stage, outcome=Outcome.DENY, text=None, policy=ref, violations=[violation],
                        errors=[error])


def _accepts_keyword(fn: Any, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return True  # cannot tell (a C callable): let the call say
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def redaction_spans(decision: Decision) -> list[tuple[int, int, str]]:
    """``(start, end, entity)`` of every span a redact rule rewrote, in the
    checked text's coordinates, sorted; warnings and escalations only point
    at text and are left out."""
    spans = [(s.start, s.end, s.entity) for v in decision.violations if v.effect == "redact"
             for s in v.spans if s.field is None and s.end > s.start]
    spans.sort()
    return spans


__all__ = [
    "CONTINUE",
    "Backend",
    "EscalationRequired",
    "PolicyViolation",
    "UNAVAILABLE_RULE",
    "describe",
    "redaction_spans",
]
