"""The load pipeline: its stages by name and order, what stops it, and where
its names are importable from."""

from __future__ import annotations

import ast as pyast
from pathlib import Path

import pytest

from guardrails import pipeline
from guardrails.diagnostics import Diagnostics
from guardrails.pipeline import PIPELINE, LoadState, PipelineStage, load_sources, run_pipeline
from guardrails.resolve import parse_source

ROOT = Path(__file__).resolve().parent.parent

CLEAN = """policy "t" version "1.0.0"
terms bad = ["darn"]
input { rule a: deny "no" when banned(bad) }
"""
# E102: an unknown name (a check error).
CHECK_ERROR = """policy "t" version "1.0.0"
input { rule a: deny "no" when banned(nope) }
"""
# E501: a condition that can never be true (a logic error).
LOGIC_ERROR = """policy "t" version "1.0.0"
tool_call { rule a: allow when tool == "x" and tool == "y" }
"""
BOTH = """policy "t" version "1.0.0"
input { rule a: deny "no" when banned(nope) }
tool_call { rule b: allow when tool == "x" and tool == "y" }
"""


def _state(*texts: str) -> LoadState:
    diags = Diagnostics()
    sources = [parse_source(t, f"<p{i}>", diags) for i, t in enumerate(texts)]
    return LoadState(sources, diags)


def _recorded(ran: list[str]) -> tuple[PipelineStage, ...]:
    def wrap(stage: PipelineStage):
        def run(state: LoadState) -> None:
            ran.append(stage.name)
            stage.run(state)
        return PipelineStage(stage.name, run, stage.needs_clean)
    return tuple(wrap(s) for s in PIPELINE)


def _codes(diags) -> list[str]:
    return sorted(d.code for d in diags)


def test_the_stages_are_named_in_order():
    assert [s.name for s in PIPELINE] == ["resolve", "check", "logic", "defaults", "compile"]
    assert [s.name for s in PIPELINE if s.needs_clean] == ["defaults", "compile"]


def test_a_clean_load_runs_every_stage_and_compiles():
    ran: list[str] = []
    state = run_pipeline(_state(CLEAN), _recorded(ran))
    assert ran == ["resolve", "check", "logic", "defaults", "compile"]
    assert [p.name for p in state.policies] == ["t"]
    assert state.pii_default == frozenset()  # no bare pii(): the analyzer is not asked


def test_a_check_error_stops_the_pipeline_before_compile():
    ran: list[str] = []
    state = run_pipeline(_state(CHECK_ERROR), _recorded(ran))
    assert ran == ["resolve", "check", "logic"]
    assert state.policies == []
    assert _codes(state.diags.items) == ["E102"]


def test_load_sources_never_compiles_a_policy_with_a_check_error(monkeypatch):
    def compile_unit(*args, **kwargs):
        raise AssertionError("compile ran on a policy that failed its checks")

    monkeypatch.setattr(pipeline, "compile_unit", compile_unit)
    diags = Diagnostics()
    result = load_sources([parse_source(CHECK_ERROR, "<p>", diags)], diags=diags)
    assert not result.ok
    assert result.policies == []
    assert _codes(result.diagnostics) == ["E102"]


def test_logic_diagnostics_are_reported():
    diags = Diagnostics()
    result = load_sources([parse_source(LOGIC_ERROR, "<p>", diags)], diags=diags)
    assert not result.ok and result.policies == []
    (d,) = result.diagnostics
    assert (d.code, d.span.line, d.span.col) == ("E501", 2, 32)


def test_logic_runs_even_when_check_found_errors():
    # One load reports both kinds, as it did when the checker ran the logic checks.
    diags = Diagnostics()
    result = load_sources([parse_source(BOTH, "<p>", diags)], diags=diags)
    assert _codes(result.diagnostics) == ["E102", "E501"]


def test_no_policy_files_is_reported_by_resolve():
    ran: list[str] = []
    state = run_pipeline(_state(), _recorded(ran))
    assert ran == ["resolve", "check", "logic"]
    assert _codes(state.diags.items) == ["E702"]


def test_load_sources_is_importable_from_the_pipeline_and_the_engine():
    from guardrails import engine, sources

    assert engine.load_sources is pipeline.load_sources
    assert engine.LoadResult is pipeline.LoadResult
    assert engine.load_paths is sources.load_paths
    for load in (engine.load_sources, pipeline.load_sources):
        diags = Diagnostics()
        result = load([parse_source(CLEAN, "<p>", diags)], diags=diags)
        assert result.ok and [p.name for p in result.policies] == ["t"]
        assert result.sources == {"<p>": CLEAN}


def test_load_paths_loads_a_directory():
    from guardrails.engine import load_paths

    result = load_paths([ROOT / "policies"])
    assert result.ok
    assert {p.name for p in result.policies} == {"support-bot", "coding-assistant", "rag-search", "agent-assistant"}


# An earlier stage's module never imports a later one's: the driver alone
# runs them in order.
_LATER = {
    "resolve": {"checker", "logic", "compiler", "pipeline"},
    "checker": {"logic", "compiler", "pipeline"},
    "logic": {"compiler", "pipeline"},
    "compiler": {"pipeline"},
}


@pytest.mark.parametrize("module", sorted(_LATER))
def test_no_stage_imports_a_later_one(module):
    tree = pyast.parse((ROOT / "guardrails" / f"{module}.py").read_text(encoding="utf-8"))
    imported = set()
    for node in pyast.walk(tree):
        if isinstance(node, pyast.ImportFrom) and node.module and node.module.startswith("guardrails"):
            imported.add(node.module.removeprefix("guardrails").lstrip("."))
            if node.module == "guardrails":
                imported.update(a.name for a in node.names)
        elif isinstance(node, pyast.Import):
            imported.update(a.name.removeprefix("guardrails.") for a in node.names)
    assert not imported & _LATER[module], f"{module} imports {sorted(imported & _LATER[module])}"
