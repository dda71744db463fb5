"""The in-process engine: the front door of the library.

    >>> engine = Engine.from_path("policies/")
    >>> d = engine.check_input("mail me at jo@example.com", policy="support-bot")
    >>> d.outcome, d.text
    (<Outcome.REDACT: 'redact'>, 'mail me at <EMAIL_ADDRESS>')

Loading runs the whole pipeline once (parse, then :data:`guardrails.pipeline.PIPELINE`:
resolve -> check -> logic -> defaults -> compile); every
``check_*`` call then evaluates the compiled rule graph.  An engine is
immutable after loading and safe to share between threads; each method has
an ``async`` twin (``acheck_input`` ...).
"""

from __future__ import annotations

import functools
import inspect
import os
import threading
import time
import secrets as _secrets
from pathlib import Path
from typing import Any, Iterable, Mapping

from guardrails.rulegraph import CompiledPolicy
from guardrails.compiler import with_injection_backend
from guardrails.decision import Decision, DecisionSink
from guardrails.detectors import DetectorError, PiiConfig, TopicClassifier, get_pii_detector
from guardrails.diagnostics import Diagnostic, Diagnostics, GuardrailsError, PolicyError, RuntimeCode
from guardrails.evaluate import Coverage, Runtime, error_decision, evaluate_retrieval, evaluate_text
from guardrails.detectors.grounding.backends import load_grounding_backend
from guardrails.detectors.grounding.sources import REQUEST_SOURCES, SessionSources, read_sources
from guardrails.evaluate_tools import evaluate_tool_call, evaluate_tool_result, tool_call_fast_path
from guardrails.pipeline import LoadResult, load_sources, resolve_ner_model  # noqa: F401  (LoadResult: documented here)
from guardrails.resolve import parse_source, version_key
from guardrails.sessions import MemoryStore, StoreError, open_store
from guardrails.sources import load_paths

HASH_SALT_ENV = "GUARDRAILS_HASH_SALT"


def _injection_detector(model: Any) -> tuple[Any, str]:
    """An InjectionDetector over a backend object or a ``module:factory`` spec,
    and the label the policy digest names it by. Imported here: ``import
    guardrails`` loads nothing of ``injection``."""
    from guardrails.detectors.injection import InjectionDetector
    from guardrails.detectors.injection.backends import backend_label, load_backend

    try:
        detector = InjectionDetector(load_backend(model) if isinstance(model, str) else model)
        return detector, backend_label(detector.model)
    except DetectorError as exc:
        raise GuardrailsError(f"cannot use the injection model: {exc}") from None


def _open_state(state: Any, *, salt_given: bool) -> Any:
    """The session store an engine keeps state in (see ``Engine(state=...)``)."""
    if state is not None and not isinstance(state, str):
        return state  # a store object
    try:
        store = open_store(state)
    except (ValueError, StoreError) as exc:
        raise GuardrailsError(f"cannot use the state store: {exc}") from None
    if not isinstance(store, MemoryStore) and not salt_given:
        store.close()
        raise GuardrailsError(
            f"a shared state store needs a shared key: set {HASH_SALT_ENV} (or hash_salt=...) to the same "
            "secret on every replica; session keys and fingerprints are keyed with it")
    return store


def _async_twin(name: str, stage: str | None) -> Any:
    """``a<name>``: the check `name` awaited, with the same signature."""
    sync = getattr(Engine, name)
    sig = inspect.signature(sync)

    async def twin(self: "Engine", *args: Any, **kw: Any) -> Decision:
        bound = sig.bind(self, *args, **kw)  # a wrong call fails here, as it would on the sync method
        a = bound.arguments
        request = a.get("request") if isinstance(a.get("request"), dict) else {}
        session = a.get("session", request.get("session"))
        call = functools.partial(getattr(self, name), *args, **kw)
        return await self._maybe_thread(stage or a.get("stage"), a.get("policy"), session, call)

    twin.__name__ = twin.__qualname__ = "a" + name
    twin.__signature__ = sig  # type: ignore[attr-defined]
    twin.__doc__ = f"Async :meth:`{name}`: the same arguments."
    return twin


class UnknownPolicyError(GuardrailsError, LookupError):
    """The request named a policy (or version) that is not loaded."""


class Engine:
    """Evaluates requests against compiled policies. Build with `from_path`.

    Every check takes the same keyword-only *evaluation options*, all off by
    default; the ``acheck_*`` twins take them too:

    ``explain`` (bool)
        Fill :attr:`Decision.trace` with each rule's visit: its tier, whether
        it fired, failed or was skipped, and the value its condition took.
        ``Decision.explain()`` prints it.
    ``exhaustive`` (bool)
        Evaluate every rule even once a deny is certain. By default rules in
        costlier tiers are skipped then (they cannot change the outcome), so
        an exhaustive decision may list more violations, never another outcome.
    ``overrides`` (mapping of detector node id to result)
        Fix detector results instead of running the detectors, as a policy
        test's ``with:`` does. Ids: ``"pii"``, ``"secrets"``,
        ``"topic:NAME"``, ``"terms:NAME"``, ``"pattern:NAME"``; values are
        what that detector returns (findings, a ``TopicResult`` ...).
    ``coverage`` (set)
        Add ``(rule id, branch index, value)`` to this set for every boolean
        node evaluated (index -1: the rule as a whole). Branches are recorded
        only by a coverage build (``from_path(..., coverage=True)``).

    An unknown keyword is a ``TypeError``, as for any Python function.
    """

    def __init__(self, policies: list[CompiledPolicy], *, ner_model: str | None = None,
                 hash_salt: bytes | str | None = None, topic_classifier: TopicClassifier | None = None,
                 cache_size: int = 4096, warnings: list[Diagnostic] | None = None,
                 warm_up: bool = True, decision_log: DecisionSink | None = None,
                 injection_model: Any = None, state: Any = None, grounding_model: Any = None) -> None:
        """Serve already compiled policies. Most callers want :meth:`from_path`
        or :meth:`from_source`, which compile them and pass ``ner_model`` and
        ``warnings`` on; the other parameters they forward here.

        :param policies: the compiled policies to serve
            (``load_paths(...).policies``), at least one. Several versions of
            one name may be loaded: ``policy="name"`` picks the newest,
            ``policy="name@1.2.0"`` that version.
        :param ner_model: the spaCy model Presidio uses for its NER entities
            (``PERSON``, ``LOCATION`` ...), e.g. ``"en_core_web_lg"``; it must
            be installed, nothing is downloaded. Default ``None``: pattern
            recognizers only. Use the model the policies were checked against
            (the checker rejects NER entities without one). Unlike
            ``from_path``, this does not read ``$GUARDRAILS_NER_MODEL``.
        :param hash_salt: the key of the ``hash`` redaction operator (bytes,
            or str encoded as UTF-8). Default: ``$GUARDRAILS_HASH_SALT``, else
            32 random bytes drawn now, so hashes then match only within this
            engine. Set it when hashed values must be correlated across
            processes or restarts, and keep it secret.
        :param topic_classifier: a semantic classifier that can raise a
            topic's score (see :class:`~guardrails.detectors.TopicClassifier`):
            a topic then scores ``max(terms, classifier)``. Default ``None``:
            the weighted term lists alone. A classifier that raises makes the
            rule fail (``detector-failed``), fail closed or open as the policy says.
        :param cache_size: how many PII analyzer results the engine keeps
            (least recently used first out), keyed by a hash of the text, never
            the text. Default 4096; at least 1. Raise it when the same texts
            recur (retries, a shared system prompt).
        :param warnings: the loader's non-error diagnostics, kept as
            :attr:`warnings` for the caller to show; ``from_path`` passes them.
        :param warm_up: build the PII analyzer now when any policy needs it
            (default ``True``), so the first request does not pay for it and a
            missing NER model fails here rather than on a request. ``False``
            suits a tool that builds an engine it may never run.
        :param decision_log: where to write every decision (see
            :class:`~guardrails.decision.DecisionSink`), usually a
            :class:`guardrails.decision_log.DecisionLog`. Default ``None``: no
            log, and the tool-call path builds no request dict for one. A
            failing log never fails a decision; it counts in
            :attr:`log_failures`.
        :param injection_model: an opt-in model for ``injection()`` in place of
            the shipped one: an object with ``score(text) -> float`` and
            ``digest`` (see :class:`~guardrails.detectors.injection.backends.InjectionBackend`),
            or a ``"module:factory"`` string naming a function that returns
            one (imported and called now). The heuristic signals still run.
            The digest of every policy that uses ``injection()`` then also
            names the backend's digest. A backend that raises or scores
            outside [0, 1] fails the rule (``detector-failed``). Default
            ``None``: the shipped offline model.
        :param state: where session state lives, for policies that use
            sessions, labels or limits (docs/sessions.md): ``None`` or
            ``"memory"`` (the default: in this process, bounded, thread-safe),
            ``"redis://HOST:PORT/DB"`` (shared by every engine and sidecar
            that points there), or a store object
            (:class:`~guardrails.sessions.SessionStore`). Redis needs a
            ``hash_salt`` (or ``$GUARDRAILS_HASH_SALT``) shared by the
            replicas: session keys and fingerprints are keyed with it.
        :param grounding_model: an opt-in NLI model for ``grounded()`` and its
            relatives: an object with ``entails(premise, hypothesis) -> float``
            and ``digest`` (see
            :class:`~guardrails.detectors.grounding.backends.GroundingBackend`),
            or a ``"module:factory"`` string naming a function that returns
            one. It is asked only about claims the deterministic checks find
            no shared words for. Default ``None``: offline and model-free.
        :raises GuardrailsError: no policies, the PII analyzer cannot start,
            the injection model cannot be loaded, or the state store is
            misconfigured.
        """
        if not policies:
            raise GuardrailsError("an engine needs at least one policy")
        injection = None
        if injection_model is not None:
            injection, label = _injection_detector(injection_model)
            policies = [with_injection_backend(p, label) for p in policies]
        self._by_name: dict[str, dict[str, CompiledPolicy]] = {}
        for p in policies:
            self._by_name.setdefault(p.name, {})[p.version] = p
        self._newest = {
            name: versions[max(versions, key=version_key)] for name, versions in self._by_name.items()
        }
        salt = hash_salt if hash_salt is not None else os.environ.get(HASH_SALT_ENV)
        salt_given = salt is not None
        if salt is None:
            # Without a configured salt, hashes are stable only within this
            # engine: safer than a guessable default (documented).
            salt = _secrets.token_bytes(32)
        stateful = any(p.records or any(g.needs is not None and g.needs.any for g in p.stages.values())
                       for p in policies)
        store = _open_state(state, salt_given=salt_given) if stateful or state is not None else None
        self._remote_state = store is not None and not isinstance(store, MemoryStore)
        self._runtime = Runtime(
            PiiConfig(ner_model=ner_model),
            salt.encode() if isinstance(salt, str) else salt,
            topic_classifier,
            cache_size,
            injection,
            store,
        )
        try:  # a bad grounding_model fails the load, not a request
            self._runtime.grounding = None if grounding_model is None else load_grounding_backend(grounding_model)
        except DetectorError as exc:
            raise GuardrailsError(str(exc)) from None
        self._session_sources = SessionSources()  # each session's retrieved chunks (in process only)
        self.warnings = list(warnings or [])
        self._decision_log = decision_log
        self._fast_tool_call = tool_call_fast_path(self._newest, self._runtime) if decision_log is None else None
        self._log_lock = threading.Lock()
        self.log_failures = 0
        if warm_up and any(g.needs_pii for p in policies for g in p.stages.values()):
            # Build presidio now, so the first request does not pay for it and
            # a missing NER model fails the load rather than a request.
            try:
                get_pii_detector(self._runtime.pii_config)
            except DetectorError as exc:
                raise GuardrailsError(f"cannot start the PII detector: {exc}") from None

    # -- construction
    @classmethod
    def from_path(cls, path: str | Path | Iterable[str | Path], *, ner_model: str | None = None,
                  coverage: bool = False, bundle_key: bytes | str | None = None,
                  hash_salt: bytes | str | None = None, topic_classifier: TopicClassifier | None = None,
                  cache_size: int = 4096, warm_up: bool = True,
                  decision_log: DecisionSink | None = None, injection_model: Any = None,
                  state: Any = None, grounding_model: Any = None) -> "Engine":
        """Load a policy file, every ``*.policy`` under a directory, or a bundle.

        ``path`` may also be a list of those. ``ner_model`` defaults to
        ``$GUARDRAILS_NER_MODEL``; ``coverage=True`` compiles instrumented
        graphs for branch coverage (policy tests); ``bundle_key`` verifies a
        signed bundle. The other parameters are :meth:`__init__`'s.

        Raises :class:`PolicyError` carrying every diagnostic when any policy
        fails its checks (``err.render()`` prints them with carets), and
        :class:`GuardrailsError` for a bundle that does not verify.
        """
        ner_model = resolve_ner_model(ner_model)
        paths = [path] if isinstance(path, (str, Path)) else list(path)
        result = load_paths(paths, ner_model=ner_model, coverage=coverage, bundle_key=bundle_key)
        if not result.ok:
            raise PolicyError(result.diagnostics, result.sources)
        if not result.policies:
            shown = ", ".join(str(p) for p in paths)
            raise GuardrailsError(f"no policy to evaluate in {shown}: only modules were found "
                                  "(a module is imported by policies, not evaluated on its own)")
        return cls(result.policies, ner_model=ner_model, warnings=[d for d in result.diagnostics if not d.is_error],
                   hash_salt=hash_salt, topic_classifier=topic_classifier, cache_size=cache_size,
                   warm_up=warm_up, decision_log=decision_log, injection_model=injection_model, state=state,
                   grounding_model=grounding_model)

    @classmethod
    def from_source(cls, text: str, *, modules: dict[str, str] | None = None, ner_model: str | None = None,
                    coverage: bool = False, hash_salt: bytes | str | None = None,
                    topic_classifier: TopicClassifier | None = None, cache_size: int = 4096,
                    warm_up: bool = True, decision_log: DecisionSink | None = None,
                    injection_model: Any = None, state: Any = None, grounding_model: Any = None) -> "Engine":
        """Compile policy source text (plus named module sources) directly.

        ``modules`` maps an import name to its source. The other parameters
        are :meth:`from_path`'s; errors are a :class:`PolicyError` too.
        """
        ner_model = resolve_ner_model(ner_model)
        diags = Diagnostics()
        sources = [parse_source(text, "<policy>", diags)]
        for name, src in (modules or {}).items():
            sources.append(parse_source(src, f"<{name}>", diags))
        result = load_sources(sources, ner_model=ner_model, diags=diags, coverage=coverage)
        if not result.ok:
            raise PolicyError(result.diagnostics, result.sources)
        return cls(result.policies, ner_model=ner_model, warnings=[d for d in result.diagnostics if not d.is_error],
                   hash_salt=hash_salt, topic_classifier=topic_classifier, cache_size=cache_size,
                   warm_up=warm_up, decision_log=decision_log, injection_model=injection_model, state=state,
                   grounding_model=grounding_model)

    # -- lookup
    @property
    def policies(self) -> list[CompiledPolicy]:
        return [p for versions in self._by_name.values() for p in versions.values()]

    def policy_names(self) -> list[str]:
        return sorted(self._by_name)

    def get_policy(self, policy: str | None = None) -> CompiledPolicy:
        """`name`, `name@version`, or None when exactly one policy is loaded."""
        if policy is not None and not isinstance(policy, str):
            raise UnknownPolicyError(f"policy must be a name such as 'support-bot' or 'support-bot@1.3.0', "
                                     f"not {type(policy).__name__} {policy!r}")
        if policy is None:
            if len(self._newest) == 1:
                return next(iter(self._newest.values()))
            raise UnknownPolicyError(
                f"several policies are loaded ({', '.join(self.policy_names())}); name one "
                "(policy=NAME, or --policy NAME on the command line)"
            )
        name, _, version = policy.partition("@")
        if name not in self._by_name:
            raise UnknownPolicyError(f"unknown policy {name!r}; loaded: {', '.join(self.policy_names())}")
        if not version:
            return self._newest[name]
        try:
            return self._by_name[name][version]
        except KeyError:
            have = ", ".join(sorted(self._by_name[name], key=version_key))
            raise UnknownPolicyError(f"policy {name!r} has no version {version}; loaded: {have}") from None

    # -- checks
    # Each takes `policy` (`name`, `name@version`, or None when one policy is loaded; an unknown
    # one raises UnknownPolicyError), the evaluation options of the class docstring, and the session options:
    #   session: the agent run this request belongs to (any non-empty string up to 256
    #     characters); the session builtins read its earlier steps, and the request leaves a
    #     step (docs/sessions.md).
    #   at: the request's time in unix seconds (default: now), which windows and limits count by (tests replay)
    # A malformed request is not an exception: it is denied, with Decision.request_error saying why.

    def check_input(self, text: str, *, policy: str | None = None, context: dict | None = None,
                    session: str | None = None, at: float | None = None, explain: bool = False,
                    exhaustive: bool = False, overrides: Mapping[str, Any] | None = None,
                    coverage: Coverage | None = None) -> Decision:
        """Check a prompt before it reaches the model.

        ``context`` is a JSON object the policy reads as ``context.*``. The
        decision's ``text`` is the prompt to forward (redacted when the
        outcome is ``redact``), None when denied.
        """
        d = evaluate_text(self.get_policy(policy), "input", text, context, self._runtime, explain=explain,
                          exhaustive=exhaustive, overrides=overrides, coverage=coverage, session=session, at=at)
        return self._emit(d, {"text": text, "context": context}, session)

    def check_output(self, text: str, *, policy: str | None = None, context: dict | None = None,
                     sources: list | None = None, session: str | None = None, at: float | None = None,
                     explain: bool = False, exhaustive: bool = False, overrides: Mapping[str, Any] | None = None,
                     coverage: Coverage | None = None) -> Decision:
        """Check a completion before it reaches the user (as :meth:`check_input`).

        ``sources``: the chunks the answer rests on, for ``grounded()``
        (docs/grounding.md): strings or ``{"text", "id", "metadata"}``; ``id``
        defaults to the position from 1 (a citation ``[2]``). Without them, a
        ``session``'s output is checked against the chunks its retrieval
        checks on this engine forwarded.
        """
        p = self.get_policy(policy)
        found, bad = read_sources(sources)
        if found is None and isinstance(session, str):
            found = self._session_sources.recall(session)
        token = REQUEST_SOURCES.set(found)
        try:
            d = error_decision(p, "output", RuntimeCode.INVALID_REQUEST, bad, time.perf_counter()) if bad else \
                evaluate_text(p, "output", text, context, self._runtime, explain=explain, exhaustive=exhaustive,
                              overrides=overrides, coverage=coverage, session=session, at=at)
        finally:
            REQUEST_SOURCES.reset(token)
        return self._emit(d, {"text": text, "context": context}, session)

    def check_retrieval(self, chunks: list[dict | str], *, policy: str | None = None,
                        context: dict | None = None, session: str | None = None, at: float | None = None,
                        explain: bool = False, exhaustive: bool = False,
                        overrides: Mapping[str, Any] | None = None, coverage: Coverage | None = None) -> Decision:
        """Check retrieved chunks (``{"text", "metadata"}``, or a bare string)
        before they enter a prompt.

        Each chunk is judged on its own and denied chunks are dropped:
        ``Decision.chunks`` holds each one's outcome, ``text`` the chunks to
        forward.
        """
        p = self.get_policy(policy)
        d = evaluate_retrieval(p, chunks, context, self._runtime, explain=explain,
                               exhaustive=exhaustive, overrides=overrides, coverage=coverage, session=session, at=at)
        output = p.stages.get("output")
        if isinstance(session, str) and d.text and output is not None and "grounding" in output.detectors:
            self._session_sources.remember(session, d.text)  # what the answer may rest on
        return self._emit(d, {"chunks": chunks, "context": context}, session)

    def check_tool_call(self, tool: str, args: dict | None = None, *, principal: dict | None = None,
                        context: dict | None = None, policy: str | None = None, session: str | None = None,
                        at: float | None = None, explain: bool = False, exhaustive: bool = False,
                        overrides: Mapping[str, Any] | None = None, coverage: Coverage | None = None) -> Decision:
        """Check a tool call an agent wants to make.

        ``args`` are the call's arguments and ``principal`` who asks (both
        JSON objects). Tool calls are denied unless a rule allows them; the
        decision's ``text`` is the (possibly redacted) args to call with.
        """
        if (fast := self._fast_tool_call) is not None and session is at is overrides is coverage is None \
                and (policy is None or policy == fast.policy_name) and not explain \
                and (d := fast(tool, args, principal, context)) is not None:
            return d  # the common call, decided in one function (evaluate_tools.tool_call_fast_path)
        d = evaluate_tool_call(self.get_policy(policy), tool, args, principal, context, self._runtime,
                               explain=explain, exhaustive=exhaustive, overrides=overrides, coverage=coverage,
                               session=session, at=at)
        return d if self._decision_log is None else self._emit(  # (a request dict only for the log)
            d, {"tool": tool, "args": args, "principal": principal, "context": context}, session)

    def check_tool_result(self, tool: str, result: Any, *, args: dict | None = None,
                          principal: dict | None = None, context: dict | None = None, policy: str | None = None,
                          session: str | None = None, at: float | None = None, explain: bool = False,
                          exhaustive: bool = False, overrides: Mapping[str, Any] | None = None,
                          coverage: Coverage | None = None) -> Decision:
        """Check what a tool returned before the model sees it.

        ``result`` is the tool's output: a string, or a JSON value whose
        strings are all scanned; ``args`` the call's arguments. Results are
        allowed unless a rule says otherwise; the decision's ``text`` is the
        (possibly redacted) result, same shape, None when denied (drop it).
        """
        d = evaluate_tool_result(self.get_policy(policy), tool, result, args, principal, context, self._runtime,
                                 explain=explain, exhaustive=exhaustive, overrides=overrides, coverage=coverage,
                                 session=session, at=at)
        return self._emit(d, {"tool": tool, "result": result, "args": args, "principal": principal, "context": context},
                          session)

    def check(self, stage: str, request: dict, *, policy: str | None = None, explain: bool = False,
              exhaustive: bool = False, overrides: Mapping[str, Any] | None = None,
              coverage: Coverage | None = None) -> Decision:
        """Dispatch a JSON-shaped request (as the CLI and the sidecar receive it).

        ``stage`` is ``input``, ``output``, ``retrieval``, ``tool_call`` or
        ``tool_result``; ``request`` holds that check's arguments by name
        (``text``, ``chunks``, ``tool``, ``args``, ``result``, ``principal``,
        ``context``, ``sources``, ``session``, ``at``).
        """
        if not isinstance(request, dict):
            raise TypeError("request must be a dict")
        opts = dict(policy=policy, explain=explain, exhaustive=exhaustive, overrides=overrides, coverage=coverage,
                    session=request.get("session"), at=request.get("at"))
        if stage == "input":
            return self.check_input(request.get("text"), context=request.get("context"), **opts)
        if stage == "output":
            return self.check_output(request.get("text"), context=request.get("context"), sources=request.get("sources"), **opts)
        if stage == "retrieval":
            return self.check_retrieval(request.get("chunks"), context=request.get("context"), **opts)
        if stage == "tool_call":
            return self.check_tool_call(request.get("tool"), request.get("args"), principal=request.get("principal"),
                                        context=request.get("context"), **opts)
        if stage == "tool_result":
            return self.check_tool_result(request.get("tool"), request.get("result"), args=request.get("args"),
                                          principal=request.get("principal"), context=request.get("context"), **opts)
        raise ValueError(f"unknown stage {stage!r}; use input, output, retrieval, tool_call or tool_result")

    # -- the decision log: written after the decision, never able to fail it
    def _emit(self, decision: Decision, request: dict, session: str | None = None) -> Decision:
        sink = self._decision_log
        if sink is not None:
            if session is not None:
                request["session"] = session
            try:
                sink.write(decision, request)
            except Exception:  # a log failure must never fail or block a decision
                with self._log_lock:
                    self.log_failures += 1
        return decision

    # -- the async twins (made at the end of the module) run here
    async def _maybe_thread(self, stage: str, policy: str | None, session: Any, call: Any) -> Decision:
        graph = self.get_policy(policy).stages.get(stage)
        if graph is not None and (graph.needs_pii or (self._remote_state and (
                session is not None or (graph.needs is not None and graph.needs.any)))):
            import asyncio  # here, not at the top: a cold start (the CLI) never needs it
            return await asyncio.to_thread(call)
        return call()

    # -- session state
    @property
    def state(self) -> Any:
        """The session store (``None`` when no loaded policy keeps state)."""
        return self._runtime.store

    def reset_state(self) -> None:
        """Forget every session and limit count: what a policy-test runner
        does between cases. Only for the in-memory store; a shared store is
        never wiped from here."""
        store = self._runtime.store
        self._session_sources.forget()
        if store is None:
            return
        if not isinstance(store, MemoryStore):
            raise GuardrailsError(f"reset_state() clears the in-memory store only, not {store!r}")
        self._runtime.store = MemoryStore()

    def close(self) -> None:
        """Release the state store's connections (a Redis store); the engine
        still evaluates stateless requests afterwards."""
        if self._runtime.store is not None:
            self._runtime.store.close()

    def cache_stats(self) -> dict:
        return self._runtime.cache.stats()


# The async twins, generated from the sync checks so their signatures cannot
# drift: PII work (and a remote state store's round trip) runs in a thread so
# the event loop stays free; everything else runs inline (microseconds).
for _name, _stage in (("check_input", "input"), ("check_output", "output"), ("check_retrieval", "retrieval"),
                      ("check_tool_call", "tool_call"), ("check_tool_result", "tool_result"), ("check", None)):
    setattr(Engine, "a" + _name, _async_twin(_name, _stage))
