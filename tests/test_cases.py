"""Tests as data: every case file, run by one parametrised test through the
guardrails.testing runner (the one `guardrails test` uses).

The case files are tests/cases/*.tests.yaml (the language's semantics, its
static errors, the formatter's golden output; each case carries its own
policy) and policies/*.tests.yaml (the example policies). Both are in the
user-facing format that guardrails/testing/__init__.py documents. The pytest
plugin does not collect them as well: tests/cases/conftest.py ignores them,
and policies/ is not among the test paths.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from guardrails.testing import Runner, format_failure, load_tests

ROOT = Path(__file__).resolve().parent.parent
CASE_FILES = [*sorted((ROOT / "tests" / "cases").glob("*.tests.yaml")), *sorted((ROOT / "policies").glob("*.tests.yaml"))]


def _params() -> list:
    out = []
    for path in CASE_FILES:
        tests = load_tests(path)  # parsing only: engines load when a case runs
        rel = path.relative_to(ROOT).as_posix()
        if not tests.ok or not tests.cases:
            out.append(pytest.param(path, None, id=f"{rel}::<test file>"))
        out.extend(pytest.param(path, c.name, id=f"{rel}::{c.name}") for c in tests.cases)
    return out


@pytest.fixture(scope="module")
def runner() -> Runner:
    return Runner()


_PREPARED: dict = {}


def _prepared(runner: Runner, path: Path):
    if path not in _PREPARED:
        _PREPARED[path] = runner.prepare(path)
    return _PREPARED[path]


@pytest.mark.parametrize("path, name", _params())
def test_case(runner, path, name):
    prepared = _prepared(runner, path)
    if prepared.errors:
        pytest.fail(prepared.render_errors(), pytrace=False)
    assert prepared.cases, f"{path}: no cases"
    if name is None:
        return
    (bound,) = [b for b in prepared.cases if b.case.name == name]
    result = runner.run_case(prepared, bound)
    if result.status == "skipped":
        pytest.skip(result.reason)
    if result.status == "failed":
        pytest.fail(format_failure(result), pytrace=False)


def test_every_case_file_is_run():
    names = {p.name for p in CASE_FILES}
    assert {"semantics.tests.yaml", "errors.tests.yaml", "format.tests.yaml"} <= names
    assert {"support-bot.tests.yaml", "coding-assistant.tests.yaml", "rag-search.tests.yaml"} <= names
