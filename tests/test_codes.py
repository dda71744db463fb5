"""Every diagnostic code is exercised, or reserved with a reason.

The codes come from their tables (guardrails.diagnostics.CODES for policies,
guardrails.testing.CODES for test files). A code is exercised when a static
case in a case file expects it (`expect.errors` / `expect.warnings`), or
when a test names it (an assertion on a rendered `error[CODE]`, a table row).
"""

from __future__ import annotations

import re
from pathlib import Path

from guardrails.diagnostics import CODES
from guardrails.testing import CODES as TEST_FILE_CODES
from guardrails.testing import STATIC, load_tests

ROOT = Path(__file__).resolve().parent.parent
CASE_FILES = [*(ROOT / "tests" / "cases").glob("*.tests.yaml"), *(ROOT / "policies").glob("*.tests.yaml")]

RESERVED = {
    "W202": "no check emits it yet: redundant comparisons are not detected",
    "W302": "the grammar rejects an empty list (E001) before the checker sees one; the check guards ASTs "
            "built in code",
    "E802": "a malformed bundle manifest: guardrails.bundle.read raises it; tests/test_bundle.py checks the "
            "bundle refusals by their messages",
    "E806": "a bundle signature that does not verify: tests/test_bundle.py checks it by its message "
            "('the signature does not verify')",
}


def _in_cases() -> set[str]:
    out: set[str] = set()
    for path in CASE_FILES:
        for case in load_tests(path).cases:
            if case.stage == STATIC:
                out |= {code for code, _, _ in case.expect.errors or ()} | set(case.expect.warnings)
    return out


def _in_tests() -> set[str]:
    me = Path(__file__).resolve()
    return {code for p in (ROOT / "tests").glob("test_*.py") if p.resolve() != me
            for code in re.findall(r"\b[ETW]\d{3}\b", p.read_text(encoding="utf-8"))}


def test_every_code_is_exercised_or_reserved():
    exercised = _in_cases() | _in_tests()
    missing = sorted((set(CODES) | set(TEST_FILE_CODES)) - exercised - set(RESERVED))
    assert missing == [], f"codes no case or test exercises (add a case, or reserve them with a reason): {missing}"


def test_reserved_codes_are_real_and_not_exercised():
    exercised = _in_cases() | _in_tests()
    assert set(RESERVED) <= set(CODES) | set(TEST_FILE_CODES)
    assert sorted(set(RESERVED) & exercised) == [], "an exercised code is no longer reserved: drop it from RESERVED"


#: Checker codes a case file cannot ask for, each with where it is exercised instead.
FLAG_ONLY = {
    "E111": "only `check --strict` reports it; tests/test_schema.py runs the CLI with the flag",
}


def test_the_language_codes_are_exercised_by_case_files():
    # The parser and checker codes (syntax, names, rules, types, regex, logic, detectors) are data,
    # not Python: every one of them has a static case.
    language = {c for c in CODES if c[1] in "0123456"} - set(RESERVED) - set(FLAG_ONLY)
    assert sorted(language - _in_cases()) == []
