"""The JSON Schema of *.tests.yaml (guardrails/testing/tests.schema.json) for editors:
generated from the loader's own key tables, and every real test file validates."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from guardrails.testing import json_schema
from guardrails.testing.schema import CODES

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted([*ROOT.glob("policies/*.tests.yaml"), *ROOT.glob("tests/cases/*.tests.yaml")])


def test_the_shipped_schema_is_the_generated_one():
    assert json_schema.SCHEMA_PATH.read_text() == json_schema.render(), (
        "regenerate: python -m guardrails.testing.json_schema > guardrails/testing/tests.schema.json")
    jsonschema.Draft202012Validator.check_schema(json_schema.json_schema())


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_test_file_in_the_project_validates(path):
    jsonschema.validate(yaml.safe_load(path.read_text()), json_schema.json_schema())


@pytest.mark.parametrize("mistake", [
    {"cases": [{"name": "x", "stage": "input", "txt": "typo"}]},
    {"cases": [{"name": "x", "stage": "inptu", "text": "hi"}]},
    {"cases": [{"name": "x", "stage": "input", "text": "hi", "expect": "permit"}]},
    {"cases": [{"name": "x", "steps": [{"stage": "tool_call", "tool": "t", "after": "5 minutes"}]}]},
    {"policy": "p", "case": []},
])
def test_mistakes_the_loader_refuses_are_refused_by_the_schema_too(mistake):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(mistake, json_schema.json_schema())


def test_every_test_file_code_is_documented():
    text = (ROOT / "docs" / "lifecycle.md").read_text()
    assert not [c for c in CODES if f"| `{c}` |" not in text]
