"""The load pipeline: parsed policy sources in, compiled rule graphs out.

The pipeline is written once, as the ordered list :data:`PIPELINE` (in the
manner of OPA's compiler). :func:`load_sources` runs it; no stage calls
another. Each stage reads and writes fields of one :class:`LoadState`:

==========  ==========================================  ===========================================
stage       reads                                       writes
==========  ==========================================  ===========================================
resolve     sources                                     units, sources (identical duplicates dropped);
                                                        E1xx import and definition errors, E70x
check       sources, units, ner_model                   names, entity types, regexes, types, stage
                                                        rules, settings (:mod:`guardrails.checker`)
logic       units                                       never-true conditions (E501), rules a deny
                                                        shadows (E502), weakened settings (W102)
                                                        (:mod:`guardrails.logic`)
defaults    units, ner_model                            pii_default: the entities of a bare ``pii()``
compile     units, pii_default, coverage                policies (:mod:`guardrails.compiler`)
==========  ==========================================  ===========================================

Every stage reports problems into the one :class:`Diagnostics` bag, so a
load collects every error rather than stopping at the first. The stages
marked ``needs_clean`` (``defaults``, ``compile``) run only when no error has
been reported: nothing is compiled from a policy that failed its checks.

Parsing comes before the pipeline (:func:`guardrails.resolve.parse_source`),
so a caller can parse text from anywhere (files, bundles, strings); reading
files, directories and bundles is :func:`guardrails.sources.load_paths`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

from guardrails import ast
from guardrails.checker import CheckConfig, check_sources
from guardrails.compiler import compile_unit
from guardrails.detectors import NER_ENTITIES, PiiConfig, supported_entities
from guardrails.diagnostics import Diagnostic, Diagnostics, Span
from guardrails.logic import check_unit_logic
from guardrails.parser import paused_gc
from guardrails.resolve import SourceFile, Unit, build_units
from guardrails.rulegraph import CompiledPolicy

NER_MODEL_ENV = "GUARDRAILS_NER_MODEL"


@dataclass(frozen=True, slots=True)
class LoadResult:
    """Everything the pipeline produced for a set of policy sources."""

    policies: list[CompiledPolicy]
    diagnostics: list[Diagnostic]
    sources: dict[str, str]

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


@dataclass(slots=True)
class LoadState:
    """What the stages share: each reads some fields and fills others."""

    sources: list[SourceFile]
    diags: Diagnostics
    ner_model: str | None = None
    coverage: bool = False
    strict: bool = False  # `check --strict`: schemas required (E111)
    units: list[Unit] = field(default_factory=list)
    pii_default: frozenset[str] = frozenset()
    policies: list[CompiledPolicy] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PipelineStage:
    """One named step of the load pipeline."""

    name: str
    run: Callable[[LoadState], None]
    needs_clean: bool = False  # skipped once any earlier stage reported an error


def resolve_stage(state: LoadState) -> None:
    """Resolve imports into units (a policy and the modules it imports)."""
    if not state.sources and not state.diags.has_errors:
        state.diags.error("E702", "no policy files found", Span("<input>", 1, 1, 1, 1, 0, 0),
                          hint="policy files end in .policy")
    # Identical duplicates (an old bundle and a new directory sharing a module)
    # are dropped here, so later stages check them once and report them once.
    state.units, state.sources = build_units(state.sources, state.diags)


def check_stage(state: LoadState) -> None:
    """Static checks, each file once in its own scope."""
    check_sources(state.sources, state.units, CheckConfig(ner_model=state.ner_model, strict=state.strict), state.diags)


def logic_stage(state: LoadState) -> None:
    """Logical checks over each unit's conditions and settings.

    Runs even when `check` found errors, so one load reports both kinds; its
    reasoning only uses conditions' shapes and the unit's scope (which
    `resolve` built), never a checked type.
    """
    for unit in state.units:
        check_unit_logic(unit, state.diags)


def defaults_stage(state: LoadState) -> None:
    """The entity types a bare ``pii()`` stands for.

    Asking the analyzer what it supports can cost an entity registry, so this
    runs only when some unit uses a bare ``pii()``, and only on clean units.
    """
    # `pii(` must appear in some source's text for a unit to call it: most
    # policies are settled without walking every condition.
    if any("pii" in s.text for s in state.sources) and any(_uses_bare_pii(u) for u in state.units):
        state.pii_default = _default_pii(PiiConfig(ner_model=state.ner_model))


def compile_stage(state: LoadState) -> None:
    """Compile each unit into its rule graph."""
    state.policies = [compile_unit(u, state.pii_default, coverage=state.coverage) for u in state.units]


#: The pipeline, in order. `check` and `logic` both run whatever the errors
#: before them, so one load reports every problem; `defaults` and `compile`
#: need a clean load: the compiler assumes checked input (known names,
#: valid regexes, well-typed conditions) and would fail on anything else.
PIPELINE: tuple[PipelineStage, ...] = (
    PipelineStage("resolve", resolve_stage),
    PipelineStage("check", check_stage),  # needs the units' scopes from resolve
    PipelineStage("logic", logic_stage),
    PipelineStage("defaults", defaults_stage, needs_clean=True),
    PipelineStage("compile", compile_stage, needs_clean=True),  # needs pii_default
)


def run_pipeline(state: LoadState, stages: tuple[PipelineStage, ...] = PIPELINE) -> LoadState:
    """Run `stages` in order over `state`, stopping before the first stage
    that needs a clean load once an error has been reported."""
    for stage in stages:
        if stage.needs_clean and state.diags.has_errors:
            break
        stage.run(state)
    return state


def resolve_ner_model(ner_model: str | None) -> str | None:
    """The NER model in force: the argument, else $GUARDRAILS_NER_MODEL, else none."""
    return ner_model if ner_model is not None else (os.environ.get(NER_MODEL_ENV) or None)


def load_sources(sources: list[SourceFile], *, ner_model: str | None = None,
                 diags: Diagnostics | None = None, coverage: bool = False, strict: bool = False) -> LoadResult:
    """Check and compile parsed sources. Never raises for bad policies.
    `strict` asks for a schema for every tool named and value read (E111)."""
    diags = diags or Diagnostics()
    text_by_path = {s.path: s.text for s in sources}
    with paused_gc():
        state = run_pipeline(LoadState(sources, diags, resolve_ner_model(ner_model), coverage, strict))
    return LoadResult(state.policies, diags.sorted(), text_by_path)


def _default_pii(config: PiiConfig) -> frozenset[str]:
    """Entities for a bare `pii()`: everything the analyzer has, minus NER
    entities when no model is configured."""
    known = supported_entities(config)
    return known if config.ner_model else known - NER_ENTITIES


def _uses_bare_pii(unit: Unit) -> bool:
    """Whether a unit calls `pii()` with no entity names anywhere."""
    for r in unit.rules:
        if r.rule.condition is None:
            continue
        for e in ast.walk(r.rule.condition):
            if isinstance(e, ast.Call) and e.func == "pii" and not e.args:
                return True
    return False


__all__ = [
    "LoadResult", "LoadState", "NER_MODEL_ENV", "PIPELINE", "PipelineStage", "load_sources",
    "resolve_ner_model", "run_pipeline",
]
