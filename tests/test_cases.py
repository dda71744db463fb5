"""The language as data: tests/cases/*.yaml, run by two parametrised tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from guardrails import Engine, PolicyError
from guardrails.diagnostics import Diagnostics
from guardrails.engine import load_sources
from guardrails.resolve import parse_source

CASES = Path(__file__).parent / "cases"


def _load(name: str) -> list[dict]:
    return yaml.safe_load((CASES / name).read_text(encoding="utf-8"))


def _source(case: dict) -> str:
    src = case["policy"]
    if not src.lstrip().startswith(("policy", "module")):
        src = 'policy "t" version "1.0.0"\n' + src
    return src


SEMANTICS = _load("semantics.yaml")
ERRORS = _load("errors.yaml")


@pytest.mark.parametrize("case", SEMANTICS, ids=[c["note"] for c in SEMANTICS])
def test_semantics(case):
    engine = Engine.from_source(_source(case), modules=case.get("modules"), hash_salt=b"test")
    d = engine.check(case["stage"], case["request"], policy=None if not case.get("modules") else "team"
                     if "team" in engine.policy_names() else None)
    want = case["want"]
    assert d.outcome.value == want["outcome"], d.explain()
    if "rules" in want:
        assert sorted(d.rule_ids) == sorted(want["rules"]), d.explain()
    if "text" in want:
        assert d.text == want["text"], d.explain()
    if "messages" in want:
        assert d.messages() == want["messages"]
    if "route" in want:
        assert d.route == want["route"]
    if "errors" in want:
        assert sorted(e.code for e in d.errors) == sorted(want["errors"]), d.explain()
    else:
        assert not d.errors, d.explain()


def _diagnostics(case: dict):
    diags = Diagnostics()
    sources = [parse_source(case["policy"], "t.policy", diags)]
    for name, src in (case.get("modules") or {}).items():
        sources.append(parse_source(src, f"{name}.policy", diags))
    return load_sources(sources, diags=diags)


@pytest.mark.parametrize("case", ERRORS, ids=[c["note"] for c in ERRORS])
def test_static_errors(case):
    result = _diagnostics(case)
    errors = sorted([d.code, d.span.line, d.span.col] for d in result.diagnostics if d.is_error)
    rendered = "\n".join(d.render(case["policy"]) for d in result.diagnostics)
    assert errors == sorted(case["errors"]), rendered
    for code in case.get("warnings", []):
        assert code in {d.code for d in result.diagnostics if not d.is_error}, rendered
    if "message" in case:
        assert case["message"] in rendered, rendered
    if case["errors"]:
        with pytest.raises(PolicyError):
            Engine.from_source(case["policy"], modules=case.get("modules"))
