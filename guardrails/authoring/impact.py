"""Impact analysis: which decisions would a policy change alter?

    >>> old = Engine.from_path("policies/", hash_salt=salt)
    >>> new = Engine.from_path("policies-next/", hash_salt=salt)
    >>> report = compare(old, new, cases_from_batch(read_batch("cases.jsonl")))
    >>> report.counts()
    {'outcome changed': 1, 'rules changed': 2, 'text changed': 0, 'unchanged': 9, 'not replayable': 0}

Each case is evaluated under both policy sets and the two decisions are
compared on three things: the outcome, the rules that fired, and the forwarded
text (or args, or chunks). A case that cannot be evaluated on both sides is
*not replayable* and says why; it is counted, never dropped.

Cases come from JSON-lines request files (the ``guardrails eval --batch``
format), from policy test files (``guardrails diff`` reads them through
:mod:`guardrails.testing` and applies their ``with:`` fixtures on both sides),
or from a decision log (:func:`cases_from_log`). A log holds only what
each policy's ``log_keep`` allowed, so a logged request is replayable only when
the stage's own input survived: ``text`` for input/output, every chunk's text
for retrieval, ``tool`` for tool calls, ``tool`` and ``result`` for tool
results. Other masked values (an argument, a context key, the session) are
left out of the replay and listed on the case as ``missing``: rules that read
them see them absent on both sides. Logged text (and a logged result) is the
*forwarded* form, already redacted by the policy that decided.

Sessions: cases replay in order on one engine per side, so a session's steps
see the steps before them on both sides alike, and a logged request replays
at its record's ``timestamp`` (its ``at``), so windows and limits count as
they did. A policy test file's cases each start on fresh session state, as
``guardrails test`` runs them; a step case replays step by step.

A version pin in a case (``support-bot@1.3.0``) is reduced to the name: the
point is to compare whatever OLD and NEW hold under that name. Both engines
must share one ``hash_salt`` or ``hash()`` redactions differ on every case.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from guardrails.stages import STAGES
from guardrails.decision import Decision

KINDS = ("outcome", "rules", "text")
COUNT_NAMES = ("outcome changed", "rules changed", "text changed", "unchanged", "not replayable")

__all__ = ["Case", "Result", "Side", "ImpactReport", "compare", "cases_from_batch", "cases_from_log", "unmask"]


@dataclass(frozen=True, slots=True)
class Case:
    """One request to replay. ``problem`` set: it cannot be replayed, and why."""

    label: str
    stage: str | None
    policy: str | None
    request: dict | None
    problem: str | None = None
    missing: tuple[str, ...] = ()  # masked fields left out of the replay
    fresh_state: bool = False  # forget every session and limit count on both sides first
    # (compiled policy) -> detector overrides for it, as policy tests' `with:`
    # fixes them; raises ValueError when they do not apply to that policy.
    overrides: Callable[[Any], dict] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Side:
    """What one policy set decided, reduced to what the diff compares."""

    policy: str  # name@version
    outcome: str
    rules: tuple[str, ...]
    text: Any

    @classmethod
    def of(cls, d: Decision) -> "Side":
        rules = sorted(v.rule if v.chunk is None else f"{v.rule}[chunk {v.chunk}]" for v in d.violations)
        return cls(f"{d.policy.name}@{d.policy.version}", d.outcome.value, tuple(rules), d.text)

    def as_dict(self) -> dict:
        return {"policy": self.policy, "outcome": self.outcome, "rules": list(self.rules), "text": self.text}


@dataclass(frozen=True, slots=True)
class Result:
    case: Case
    old: Side | None = None
    new: Side | None = None
    kinds: tuple[str, ...] = ()  # which of KINDS changed
    problem: str | None = None  # not replayable

    @property
    def changed(self) -> bool:
        return bool(self.kinds)

    def as_dict(self) -> dict:
        out: dict[str, Any] = {"label": self.case.label, "stage": self.case.stage, "policy": self.case.policy}
        if self.problem is not None:
            out["problem"] = self.problem
            return out
        out.update(changes=list(self.kinds), old=self.old.as_dict(), new=self.new.as_dict())
        if self.case.missing:
            out["missing"] = list(self.case.missing)
        return out


@dataclass(slots=True)
class ImpactReport:
    results: list[Result] = field(default_factory=list)
    filtered: int = 0  # cases for other policies than the one asked for

    @property
    def changed(self) -> list[Result]:
        return [r for r in self.results if r.changed]

    @property
    def not_replayable(self) -> list[Result]:
        return [r for r in self.results if r.problem is not None]

    def counts(self) -> dict[str, int]:
        c = dict.fromkeys(COUNT_NAMES, 0)
        for r in self.results:
            if r.problem is not None:
                c["not replayable"] += 1
            elif not r.kinds:
                c["unchanged"] += 1
            for k in r.kinds:
                c[f"{k} changed"] += 1
        return c

    def as_dict(self) -> dict:
        return {
            "requests": len(self.results),
            "changed": len(self.changed),
            "counts": self.counts(),
            "filtered": self.filtered,
            "changes": [r.as_dict() for r in self.changed],
            "not_replayable": [r.as_dict() for r in self.not_replayable],
        }


# ---- evaluating ----------------------------------------------------------------


def _evaluate(engine: Any, case: Case, name: str | None, side: str) -> tuple[Decision | None, str | None]:
    from guardrails.engine import UnknownPolicyError

    try:
        options = {}
        if case.overrides is not None:
            options["overrides"] = case.overrides(engine.get_policy(name)) or None
        return engine.check(case.stage, case.request, policy=name, **options), None
    except UnknownPolicyError as exc:
        return None, f"{side}: {exc}"
    except Exception as exc:  # one bad case must not end the run
        return None, f"{side}: cannot evaluate: {type(exc).__name__}: {exc}"


def compare(old: Any, new: Any, cases: Iterable[Case], *, policy: str | None = None,
            progress: Callable[[int], None] | None = None) -> ImpactReport:
    """Evaluate every case under both engines and classify the differences.

    ``policy`` is the default for cases that name none, and a filter: cases
    naming another policy are counted in ``filtered`` and not evaluated.
    ``progress(n)`` is called after each case.
    """
    report = ImpactReport()
    want = policy.partition("@")[0] if policy else None
    for i, case in enumerate(cases, 1):
        name = (case.policy or "").partition("@")[0] or want
        if want is not None and name != want:
            report.filtered += 1
        elif case.problem is not None:
            report.results.append(Result(case, problem=case.problem))
        else:
            if case.fresh_state:
                old.reset_state()
                new.reset_state()
            a, err_a = _evaluate(old, case, name, "OLD")
            b, err_b = _evaluate(new, case, name, "NEW")
            if err_a or err_b:
                report.results.append(Result(case, problem="; ".join(e for e in (err_a, err_b) if e)))
            else:
                sa, sb = Side.of(a), Side.of(b)
                kinds = tuple(k for k in KINDS if getattr(sa, k) != getattr(sb, k))
                report.results.append(Result(case, sa, sb, kinds))
        if progress is not None:
            progress(i)
    return report


# ---- where cases come from -----------------------------------------------------


def cases_from_batch(entries: Iterable[tuple[str, str, str | None, dict]]) -> list[Case]:
    """From ``guardrails.cli.eval.read_batch`` entries: (label, stage, policy, request)."""
    return [Case(label, stage, policy, request) for label, stage, policy, request in entries]


def _is_masked(value: Any) -> bool:
    from guardrails.decision_log import is_masked

    return is_masked(value)


def _strip_masked(value: Any, path: str, missing: list[str]) -> Any:
    """Drop masked values (recording where they were); return the rest."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if _is_masked(v):
                missing.append(f"{path}.{k}")
            else:
                out[k] = _strip_masked(v, f"{path}.{k}", missing)
        return out
    if isinstance(value, list):
        out_list = []
        for i, v in enumerate(value):
            if _is_masked(v):
                missing.append(f"{path}[{i}]")
            else:
                out_list.append(_strip_masked(v, f"{path}[{i}]", missing))
        return out_list
    return value


def unmask(stage: str, request: Any) -> tuple[dict | None, tuple[str, ...], str | None]:
    """A logged request made replayable: (request, fields left out, problem)."""
    if _is_masked(request):
        return None, (), "the whole request was masked"
    if not isinstance(request, dict):
        return None, (), "the record holds no request"
    required = {"input": ("text",), "output": ("text",), "retrieval": ("chunks",), "tool_call": ("tool",),
                "tool_result": ("tool", "result")}[stage]
    for name in required:
        if request.get(name) is None or _is_masked(request.get(name)):
            why = "; a denied result is never logged" if name == "result" else ""
            return None, (), f"{name!r} was not kept (add it to the policy's log_keep to replay{why})"
    if stage == "retrieval":
        chunks = request["chunks"]
        if not isinstance(chunks, list):
            return None, (), "'chunks' is not a list"
        for i, ch in enumerate(chunks):
            text = ch.get("text") if isinstance(ch, dict) else ch
            if text is None or _is_masked(text) or _is_masked(ch):
                return None, (), f"the text of chunks[{i}] was not kept (dropped chunks are never logged)"
    missing: list[str] = []
    out = {}
    for k, v in request.items():
        if _is_masked(v):
            missing.append(k)
        else:
            out[k] = _strip_masked(v, k, missing)
    return out, tuple(missing), None


def cases_from_log(path: str) -> list[Case]:
    """Every decision record of a log as a case. Raises OSError or LogFormatError."""
    from guardrails.decision_log import read_log

    cases = []
    for n, rec in read_log(path):
        if rec.get("type") != "decision":
            continue
        policy = rec.get("policy") if isinstance(rec.get("policy"), dict) else {}
        name = policy.get("name")
        stage = rec.get("stage")
        label = f"{path}:{n} {stage} {name}@{policy.get('version')} ({rec.get('decision_id', '?')})"
        if stage not in STAGES:
            cases.append(Case(label, None, name, None, problem=f"unknown stage {stage!r}"))
            continue
        request, missing, problem = unmask(stage, rec.get("request"))
        if request is not None and "at" not in request and (at := _epoch(rec.get("timestamp"))) is not None:
            request["at"] = at  # decided then: windows and limits replay as they counted
        cases.append(Case(label, stage, name, request, problem=problem, missing=missing))
    return cases


def _epoch(stamp: Any) -> float | None:
    """A record's ``timestamp`` (``2026-03-01T12:00:00.000001Z``) in unix seconds."""
    from datetime import datetime

    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def show_value(value: Any, limit: int = 200) -> str:
    """A compact rendering for text output: repr for strings, JSON otherwise."""
    text = repr(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."
