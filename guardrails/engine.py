"""The in-process engine: the front door of the library.

    >>> engine = Engine.from_path("policies/")
    >>> d = engine.check_input("mail me at jo@example.com", policy="support-bot")
    >>> d.outcome, d.text
    (<Outcome.REDACT: 'redact'>, 'mail me at <EMAIL_ADDRESS>')

Loading runs the whole pipeline once (parse -> check -> compile); every
``check_*`` call then evaluates the compiled rule graph.  An engine is
immutable after loading and safe to share between threads; each method has
an ``async`` twin (``acheck_input`` ...).
"""

from __future__ import annotations

import asyncio
import os
import threading
import secrets as _secrets
from pathlib import Path
from typing import Any, Iterable

from guardrails.rulegraph import CompiledPolicy
from guardrails.decision import Decision
from guardrails.detectors import DetectorError, PiiConfig, get_pii_detector
from guardrails.diagnostics import Diagnostic, Diagnostics, GuardrailsError, PolicyError
from guardrails.evaluate import Runtime, evaluate_retrieval, evaluate_text, evaluate_tool_call
from guardrails.pipeline import LoadResult, load_sources, resolve_ner_model  # noqa: F401  (LoadResult: documented here)
from guardrails.resolve import parse_source, version_key
from guardrails.sources import load_paths

HASH_SALT_ENV = "GUARDRAILS_HASH_SALT"


class UnknownPolicyError(GuardrailsError, LookupError):
    """The request named a policy (or version) that is not loaded."""


class Engine:
    """Evaluates requests against compiled policies. Build with `from_path`."""

    def __init__(self, policies: list[CompiledPolicy], *, ner_model: str | None = None,
                 hash_salt: bytes | str | None = None, topic_classifier: Any = None,
                 cache_size: int = 4096, warnings: list[Diagnostic] | None = None,
                 warm_up: bool = True, decision_log: Any = None):
        if not policies:
            raise GuardrailsError("an engine needs at least one policy")
        self._by_name: dict[str, dict[str, CompiledPolicy]] = {}
        for p in policies:
            self._by_name.setdefault(p.name, {})[p.version] = p
        self._newest = {
            name: versions[max(versions, key=version_key)] for name, versions in self._by_name.items()
        }
        salt = hash_salt if hash_salt is not None else os.environ.get(HASH_SALT_ENV)
        if salt is None:
            # Without a configured salt, hashes are stable only within this
            # engine: safer than a guessable default (documented).
            salt = _secrets.token_bytes(32)
        self._runtime = Runtime(
            PiiConfig(ner_model=ner_model),
            salt.encode() if isinstance(salt, str) else salt,
            topic_classifier,
            cache_size,
        )
        self.warnings = list(warnings or [])
        # Any object with `write(decision, request)`; see guardrails.decision_log.
        self._decision_log = decision_log
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
                  coverage: bool = False, bundle_key: bytes | str | None = None, **options: Any) -> "Engine":
        """Load a policy file, every ``*.policy`` under a directory, or a bundle.

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
        return cls(result.policies, ner_model=ner_model,
                   warnings=[d for d in result.diagnostics if not d.is_error], **options)

    @classmethod
    def from_source(cls, text: str, *, modules: dict[str, str] | None = None, ner_model: str | None = None,
                    coverage: bool = False, **options: Any) -> "Engine":
        """Compile policy source text (plus named module sources) directly."""
        ner_model = resolve_ner_model(ner_model)
        diags = Diagnostics()
        sources = [parse_source(text, "<policy>", diags)]
        for name, src in (modules or {}).items():
            sources.append(parse_source(src, f"<{name}>", diags))
        result = load_sources(sources, ner_model=ner_model, diags=diags, coverage=coverage)
        if not result.ok:
            raise PolicyError(result.diagnostics, result.sources)
        return cls(result.policies, ner_model=ner_model,
                   warnings=[d for d in result.diagnostics if not d.is_error], **options)

    # -- lookup
    @property
    def policies(self) -> list[CompiledPolicy]:
        return [p for versions in self._by_name.values() for p in versions.values()]

    def policy_names(self) -> list[str]:
        return sorted(self._by_name)

    def get_policy(self, policy: str | None = None) -> CompiledPolicy:
        """`name`, `name@version`, or None when exactly one policy is loaded."""
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
    # Every check takes the same evaluation options:
    #   explain=True     fill Decision.trace with the path through the graph;
    #   exhaustive=True  evaluate every rule even once a deny is certain;
    #   overrides={...}  fix detector results by node id ("pii", "topic:NAME",
    #                    "secrets", "terms:NAME", "pattern:NAME"), as policy tests do;
    #   coverage=set()   collect branch coverage (needs a coverage build).

    def check_input(self, text: str, *, policy: str | None = None, context: dict | None = None,
                    **options: Any) -> Decision:
        """Check a prompt before it reaches the model."""
        d = evaluate_text(self.get_policy(policy), "input", text, context, self._runtime, **options)
        return self._emit(d, {"text": text, "context": context})

    def check_output(self, text: str, *, policy: str | None = None, context: dict | None = None,
                     **options: Any) -> Decision:
        """Check a completion before it reaches the user."""
        d = evaluate_text(self.get_policy(policy), "output", text, context, self._runtime, **options)
        return self._emit(d, {"text": text, "context": context})

    def check_retrieval(self, chunks: list[dict | str], *, policy: str | None = None,
                        context: dict | None = None, **options: Any) -> Decision:
        """Check retrieved chunks (``{"text", "metadata"}``) before they enter a prompt."""
        d = evaluate_retrieval(self.get_policy(policy), chunks, context, self._runtime, **options)
        return self._emit(d, {"chunks": chunks, "context": context})

    def check_tool_call(self, tool: str, args: dict | None = None, *, principal: dict | None = None,
                        context: dict | None = None, policy: str | None = None, **options: Any) -> Decision:
        """Check a tool call an agent wants to make."""
        d = evaluate_tool_call(self.get_policy(policy), tool, args, principal, context, self._runtime, **options)
        if self._decision_log is None:  # the hot path: no request dict to build
            return d
        return self._emit(d, {"tool": tool, "args": args, "principal": principal, "context": context})

    def check(self, stage: str, request: dict, *, policy: str | None = None, **options: Any) -> Decision:
        """Dispatch a JSON-shaped request (as the CLI and the sidecar receive it)."""
        if not isinstance(request, dict):
            raise TypeError("request must be a dict")
        if stage in ("input", "output"):
            method = self.check_input if stage == "input" else self.check_output
            return method(request.get("text"), policy=policy, context=request.get("context"), **options)
        if stage == "retrieval":
            return self.check_retrieval(request.get("chunks"), policy=policy, context=request.get("context"),
                                        **options)
        if stage == "tool_call":
            return self.check_tool_call(request.get("tool"), request.get("args"),
                                        principal=request.get("principal"), context=request.get("context"),
                                        policy=policy, **options)
        raise ValueError(f"unknown stage {stage!r}; use input, output, retrieval or tool_call")

    # -- the decision log: written after the decision, never able to fail it
    def _emit(self, decision: Decision, request: dict) -> Decision:
        sink = self._decision_log
        if sink is not None:
            try:
                sink.write(decision, request)
            except Exception:  # a log failure must never fail or block a decision
                with self._log_lock:
                    self.log_failures += 1
        return decision

    # -- async twins: presidio work runs in a thread so the event loop stays free
    async def _maybe_thread(self, stage: str, policy: str | None, fn, *args, **kwargs) -> Decision:
        p = self.get_policy(policy)
        if p.stages[stage].needs_pii:
            return await asyncio.to_thread(fn, *args, policy=policy, **kwargs)
        return fn(*args, policy=policy, **kwargs)

    async def acheck_input(self, text: str, *, policy: str | None = None, **kw: Any) -> Decision:
        return await self._maybe_thread("input", policy, self.check_input, text, **kw)

    async def acheck_output(self, text: str, *, policy: str | None = None, **kw: Any) -> Decision:
        return await self._maybe_thread("output", policy, self.check_output, text, **kw)

    async def acheck_retrieval(self, chunks: list, *, policy: str | None = None, **kw: Any) -> Decision:
        return await self._maybe_thread("retrieval", policy, self.check_retrieval, chunks, **kw)

    async def acheck_tool_call(self, tool: str, args: dict | None = None, *, policy: str | None = None,
                               **kw: Any) -> Decision:
        return await self._maybe_thread("tool_call", policy, self.check_tool_call, tool, args, **kw)

    def cache_stats(self) -> dict:
        return self._runtime.cache.stats()
