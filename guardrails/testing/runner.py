"""Finding test files and running their cases against the policies they name or carry inline."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from guardrails.diagnostics import Diagnostic, Diagnostics, GuardrailsError, PolicyError, Span
from guardrails.testing.binding import Bound, bind, bind_case
from guardrails.testing.coverage import PolicyCoverage, policy_coverage
from guardrails.testing.model import SEQUENCE, STATIC, Case, Inline, PolicyTests
from guardrails.testing.results import CaseResult, compare, compare_static
from guardrails.testing.schema import load_tests

TEST_SUFFIX = ".tests.yaml"
TEST_HASH_SALT = b"guardrails-test"


def find_test_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[Path], list[str]]:
    """Split command-line paths into test files, extra policy roots (given
    directories and ``.policy`` files) and paths that do not exist."""
    tests: list[Path] = []
    roots: list[Path] = []
    missing: list[str] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            roots.append(p)
            # Hidden directories (.git, .venv) are not searched.
            tests.extend(sorted(q for q in p.rglob(f"*{TEST_SUFFIX}") if q.is_file()
                                and not any(part.startswith(".") for part in q.relative_to(p).parts[:-1])))
        elif p.is_file() and p.suffix == ".policy":
            roots.append(p)
        elif p.is_file():
            tests.append(p)
        else:
            missing.append(str(raw))
    seen: set[Path] = set()
    unique = [t for t in tests if not (t.resolve() in seen or seen.add(t.resolve()))]
    return unique, roots, missing


@dataclass(slots=True)
class Prepared:
    """A test file parsed and bound, with everything needed to run it."""

    tests: PolicyTests
    cases: list[Bound]
    errors: list[Diagnostic]
    sources: dict[str, str]
    engine: Any = None
    policy: Any = None

    @property
    def label(self) -> str:
        if self.policy is not None:
            return f"{self.policy.name} {self.policy.version}"
        return self.tests.policy or ("inline policies" if self.tests.inline is None else "inline policy")

    def render_errors(self) -> str:
        from guardrails.diagnostics import render_all

        return render_all(self.errors, self.sources)


@dataclass(slots=True)
class FileResult:
    prepared: Prepared
    results: list[CaseResult] = field(default_factory=list)

    @property
    def path(self) -> str:
        return self.prepared.tests.path

    @property
    def error(self) -> bool:
        return bool(self.prepared.errors)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)


def load_backends(injection_model: str | None, grounding_model: str | None) -> tuple[Any, Any]:
    """The opt-in backends named ``module:factory`` for ``injection()`` and for
    ``grounded()`` (None where not named), each imported and started once, to
    be shared by every engine a run builds. A spec that cannot be loaded raises
    GuardrailsError saying which (``guardrails test`` and the pytest plugin
    report it as bad usage)."""
    from guardrails.detectors.base import DetectorError

    injection = grounding = None
    try:
        if injection_model is not None:
            from guardrails.detectors.injection.backends import load_backend

            injection = load_backend(injection_model)
    except DetectorError as exc:
        raise GuardrailsError(f"cannot use the injection model: {exc}") from None
    try:
        if grounding_model is not None:
            from guardrails.detectors.grounding.backends import load_grounding_backend

            grounding = load_grounding_backend(grounding_model).backend  # the engine guards it
    except DetectorError as exc:
        raise GuardrailsError(f"cannot use the grounding model: {exc}") from None
    return injection, grounding


class Runner:
    """Loads the policies for test files (once per set of directories) and
    runs their cases. ``coverage=True`` builds instrumented rule graphs and
    records which rules and branches the cases exercised."""

    def __init__(self, *, roots: Iterable[str | Path] = (), coverage: bool = False, ner_model: str | None = None,
                 injection_model: Any = None, grounding_model: Any = None):
        self.roots = [Path(r) for r in roots]
        self.coverage = coverage
        self.ner_model = ner_model
        # Opt-in backends (objects or ``module:factory``), given to every engine the
        # runner builds: an object is shared, so a model loads once per run.
        self.backends = {"injection_model": injection_model, "grounding_model": grounding_model}
        self._engines: dict[tuple[str, ...], Any] = {}
        self._inline: dict[Inline, Any] = {}  # inline policies: no coverage, not in the report
        self.hits: dict[tuple[str, str], set[tuple]] = {}
        self.tested: set[tuple[str, str]] = set()

    def engine_for(self, test_path: str | Path, policy: str | None = None) -> Any:
        """The engine for a test file: the policy it names (`policy`) and the
        modules that policy imports, found under its directory and the
        runner's roots. Other policy files there are not loaded, so a stray
        file elsewhere cannot break the run; when no file declares the name,
        everything is loaded and the binding reports the unknown policy.
        Raises PolicyError or GuardrailsError."""
        roots = [Path(test_path).parent, *self.roots]
        key = (tuple(sorted({str(r.resolve()) for r in roots})), policy)
        if key not in self._engines:
            try:
                self._engines[key] = self._load(roots, policy)
            except GuardrailsError as exc:
                self._engines[key] = exc
        got = self._engines[key]
        if isinstance(got, Exception):
            raise got
        return got

    def _load(self, roots: list[Path], policy: str | None) -> Any:
        from guardrails.engine import Engine
        from guardrails.pipeline import load_sources, resolve_ner_model
        from guardrails.sources import read_paths

        diags = Diagnostics()
        sources = read_paths(roots, diags)
        chosen = _named_closure(sources, policy) if policy else []
        if not chosen:
            return Engine.from_path(roots, coverage=self.coverage, ner_model=self.ner_model,
                                    hash_salt=TEST_HASH_SALT, **self.backends)
        files = {s.path for s in chosen}
        kept = Diagnostics()
        kept.extend(d for d in diags.items if d.span.file in files)
        ner_model = resolve_ner_model(self.ner_model)
        result = load_sources(chosen, ner_model=ner_model, diags=kept, coverage=self.coverage)
        if not result.ok:
            raise PolicyError(result.diagnostics, result.sources)
        return Engine(result.policies, ner_model=ner_model, hash_salt=TEST_HASH_SALT,
                      warnings=[d for d in result.diagnostics if not d.is_error], **self.backends)

    def engines(self) -> list[Any]:
        return [e for e in self._engines.values() if not isinstance(e, Exception)]

    def inline_engine(self, inline: Inline) -> Any:
        """The engine of a policy written in a test file. Raises PolicyError."""
        from guardrails.engine import Engine

        if inline not in self._inline:
            try:
                self._inline[inline] = Engine.from_source(inline.source, modules=dict(inline.modules),
                                                          ner_model=self.ner_model, hash_salt=TEST_HASH_SALT,
                                                          **self.backends)
            except GuardrailsError as exc:
                self._inline[inline] = exc
        got = self._inline[inline]
        if isinstance(got, Exception):
            raise got
        return got

    def _bind_inline(self, tests: PolicyTests, sources: dict[str, str]) -> tuple[list[Bound], list[Diagnostic]]:
        """Bind the cases that carry their own policy (or use the file's `source`)."""
        diags = Diagnostics()
        bound: list[Bound] = []
        failed: set[Inline] = set()
        for case in tests.cases:
            if case.inline is None:
                continue
            if case.stage == STATIC:
                bound.append(Bound(case, "", {}))
                continue
            try:
                engine = self.inline_engine(case.inline)
            except GuardrailsError as exc:
                if case.inline not in failed:  # once per source, not once per case
                    failed.add(case.inline)
                    errs = [d for d in getattr(exc, "diagnostics", ()) if d.is_error]
                    sources.update(getattr(exc, "sources", {}))
                    diags.error("T204", f"the inline policy does not load ({len(errs)} error(s))"
                                if errs else f"the inline policy does not load: {exc}", case.inline.span)
                    diags.items.extend(errs)
                continue
            policy = engine.get_policy()
            b = bind_case(case, policy, diags, case.inline.span, engine)
            if b is not None:
                bound.append(b)
        return bound, diags.items

    def prepare(self, path: str | Path) -> Prepared:
        tests = load_tests(path)
        sources = {tests.path: tests.text}
        errors = [d for d in tests.diagnostics if d.is_error]
        inline_bound, inline_errors = self._bind_inline(tests, sources)
        errors += inline_errors
        if tests.policy is None:
            file_policy = None
            if tests.inline is not None and tests.inline in self._inline:
                got = self._inline[tests.inline]
                file_policy = None if isinstance(got, Exception) else got.get_policy()
            return Prepared(tests, [] if errors else inline_bound, sorted(errors, key=Diagnostic.sort_key),
                            sources, None, file_policy)
        # Bind even when some cases are malformed, so one run shows every error.
        try:
            engine = self.engine_for(path, tests.policy)
        except PolicyError as exc:
            errs = [d for d in exc.diagnostics if d.is_error]
            sources.update(exc.sources)
            head = Diagnostic("T204", f"the policies for this file do not load ({len(errs)} error(s))",
                              tests.policy_span or Span(tests.path, 1, 1, 1, 2, 0, 1))
            return Prepared(tests, [], [*errors, head, *errs], sources)
        except GuardrailsError as exc:
            head = Diagnostic("T204", f"the policies for this file do not load: {exc}",
                              tests.policy_span or Span(tests.path, 1, 1, 1, 2, 0, 1))
            return Prepared(tests, [], [*errors, head], sources)
        policy, bound, errs = bind(tests, engine)
        errors = sorted([*errors, *errs], key=Diagnostic.sort_key)
        bound = sorted([*bound, *inline_bound], key=lambda b: b.case.line)
        return Prepared(tests, [] if errors else bound, errors, sources, engine, policy)

    def run_case(self, prepared: Prepared, bound: Bound) -> CaseResult:
        case = bound.case
        label = prepared.label
        if case.stage == STATIC:
            return self._run_static(prepared, case, label)
        inline = bound.engine is not None
        if inline:
            label = bound.policy.replace("@", " ")
        engine = bound.engine or prepared.engine
        cov: set | None = set() if self.coverage and not inline else None
        hits: list[tuple] = []
        if case.stage == SEQUENCE:
            requests = [(s, s.stage, s.request, o) for s, o in zip(case.steps, bound.step_overrides)]
        else:
            requests = [(None, case.stage, case.request, bound.overrides)]
        failed: tuple[Any, Any, tuple] | None = None
        step = None
        try:
            engine.reset_state()  # no case sees another's sessions or limit counts
            for step, stage, request, overrides in requests:
                d = engine.check(stage, request, policy=bound.policy, overrides=overrides or None, coverage=cov)
                if cov is not None:
                    hits.extend((stage, *hit) for hit in cov)
                    cov.clear()
                mismatches = tuple(compare(step or case, d))
                if mismatches:
                    failed = (step, d, mismatches)
                    break  # later steps would run on a history the case did not expect
        except Exception as exc:  # report, never crash the run: the other cases still count
            at = f" at steps[{step.index}]" if step is not None else ""
            return CaseResult(prepared.tests.path, case, "failed", label, step=step,
                              reason=f"the engine raised {type(exc).__name__}{at}: {exc}")
        if case.todo is not None:
            note = "" if failed else " (it passes now: remove `todo`)"
            return CaseResult(prepared.tests.path, case, "skipped", label, reason=f"todo: {case.todo}{note}")
        if cov is not None:
            key = (prepared.policy.name, prepared.policy.version)
            self.hits.setdefault(key, set()).update(hits)
            self.tested.add(key)
        if failed is not None:
            step, d, mismatches = failed
            explanation = d.explain() + (f"\n  labels   {', '.join(d.labels)}" if d.labels else "")
            return CaseResult(prepared.tests.path, case, "failed", label, mismatches, explanation=explanation,
                              step=step)
        return CaseResult(prepared.tests.path, case, "passed", label)

    def _run_static(self, prepared: Prepared, case: Case, label: str) -> CaseResult:
        try:
            mismatches, rendered = compare_static(case)
        except Exception as exc:  # the formatter's own FormatError too: a bug to report, not a crash
            return CaseResult(prepared.tests.path, case, "failed", label,
                              reason=f"checking the policy raised {type(exc).__name__}: {exc}")
        if case.todo is not None:
            note = "" if mismatches else " (it passes now: remove `todo`)"
            return CaseResult(prepared.tests.path, case, "skipped", label, reason=f"todo: {case.todo}{note}")
        if mismatches:
            return CaseResult(prepared.tests.path, case, "failed", label, tuple(mismatches), explanation=rendered)
        return CaseResult(prepared.tests.path, case, "passed", label)

    def run_file(self, path: str | Path, select: str | None = None) -> FileResult:
        prepared = self.prepare(path)
        out = FileResult(prepared)
        for bound in prepared.cases:
            if select is None or select.lower() in bound.case.name.lower():
                out.results.append(self.run_case(prepared, bound))
        return out

    def coverage_report(self) -> list[PolicyCoverage]:
        """Every tested policy version, and the newest version of every loaded
        policy (untested ones report 0%)."""
        seen: dict[tuple[str, str], Any] = {}
        for engine in self.engines():
            for p in engine.policies:
                if (p.name, p.version) in self.tested or engine.get_policy(p.name) is p:
                    seen.setdefault((p.name, p.version), p)
        return [policy_coverage(p, self.hits.get(k, set())) for k, p in sorted(seen.items())]


def _named_closure(sources: list[Any], name: str) -> list[Any]:
    """The source files declaring policy `name` and, transitively, the modules they import."""
    by_name: dict[str, list[Any]] = {}
    for s in sources:
        if s.policy is not None:
            by_name.setdefault(s.policy.name, []).append(s)
    chosen: list[Any] = []
    todo = [name]
    seen: set[str] = set()
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        for s in by_name.get(n, []):
            chosen.append(s)
            todo.extend(i.name for i in s.policy.imports)
    return chosen
