"""Policy tests (*.tests.yaml): the schema, fixtures, the `guardrails test`
command run as a subprocess, and the pytest plugin run inside pytest."""

from __future__ import annotations

import json
import shutil
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from guardrails import Engine
from guardrails.detectors import Finding, TopicResult
from guardrails.diagnostics import Diagnostics
from guardrails.testing import (
    TEST_HASH_SALT,
    Runner,
    bind,
    compare,
    format_failure,
    load_tests,
    overrides_for,
    parse_tests,
    policy_coverage,
)

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "policy_tests"
SHOP = (FIXTURES / "shop.policy").read_text()
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$")


def guardrails(*args, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "guardrails.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=120, cwd=cwd, stdin=subprocess.DEVNULL)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return proc


def summary(proc: subprocess.CompletedProcess) -> tuple[int, int, int]:
    last = proc.stdout.rstrip("\n").splitlines()[-1]
    m = SUMMARY.match(last)
    assert m, f"last line is not a summary: {last!r}\n{proc.stdout}"
    return int(m[1]), int(m[2]), int(m[3] or 0)


@pytest.fixture(scope="module")
def shop() -> Engine:
    return Engine.from_source(SHOP, coverage=True, hash_salt=TEST_HASH_SALT)


def parse(text: str):
    return parse_tests(textwrap.dedent(text), "t.tests.yaml")


# ---- the command, end to end -------------------------------------------------


def test_passing_file_exits_0_with_progress_and_summary():
    p = guardrails("test", FIXTURES / "passing.tests.yaml")
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.splitlines()[0] == (
        f"{FIXTURES / 'passing.tests.yaml'} (shop 1.0.0): 8 passed, 0 failed, 1 skipped")
    assert "SKIPPED" in p.stdout and "todo: only staff may look up orders for now" in p.stdout
    assert summary(p) == (8, 0, 1)


def test_failing_case_shows_a_diff_and_exits_1():
    p = guardrails("test", FIXTURES / "failing.tests.yaml")
    assert p.returncode == 1
    assert summary(p) == (1, 1, 0)
    out = p.stdout
    assert "FAILED " in out and "failing.tests.yaml:9: coupons are removed for guests  [shop 1.0.0, output]" in out
    assert '  text:      expected "Use  at checkout"\n' in out
    assert '             got      "Use ###### at checkout"\n' in out
    assert "^ first difference at character 4" in out
    assert "output -> REDACT" in out  # the decision, explained


def test_no_test_files_fails(tmp_path):
    p = guardrails("test", tmp_path)
    assert p.returncode == 1
    assert "no test files found" in p.stderr
    assert summary(p) == (0, 0, 0)


def test_a_file_without_cases_fails():
    p = guardrails("test", FIXTURES / "empty.tests.yaml")
    assert p.returncode == 1
    assert "no test cases found" in p.stderr


def test_k_selecting_nothing_fails_and_k_selects():
    p = guardrails("test", FIXTURES / "passing.tests.yaml", "-k", "no such case")
    assert p.returncode == 1 and "no test cases match -k 'no such case'" in p.stderr
    p = guardrails("test", FIXTURES / "passing.tests.yaml", "-k", "COUPONS")
    assert p.returncode == 0 and summary(p) == (2, 0, 0)


def test_missing_path_is_a_usage_error():
    p = guardrails("test", FIXTURES / "nope")
    assert p.returncode == 2 and "no such file or directory" in p.stderr


def test_malformed_file_is_a_located_failure_and_other_files_still_run():
    p = guardrails("test", FIXTURES / "malformed.tests.yaml", FIXTURES / "passing.tests.yaml")
    assert p.returncode == 1
    assert summary(p) == (8, 1, 1)
    path = FIXTURES / "malformed.tests.yaml"
    out = p.stdout
    assert f"{path}:5:12: error[T104]: unknown stage 'prompt'; use input, output, retrieval, tool_call" in out
    assert f"{path}:14:15: error[T202]: shop has no rule 'rude-word' in the input stage" in out
    assert "= hint: did you mean 'rude-words'?" in out
    assert f"{path}:19:30: error[T101]: unknown key 'colour' in expect" in out
    assert "   5 |     stage: prompt\n                  ^^^^^^\n" in out


def test_policies_that_do_not_load_are_reported_against_the_test_file(tmp_path):
    (tmp_path / "broken.policy").write_text('policy "broken" version "1.0.0"\ninput { rule r: deny when }\n')
    (tmp_path / "broken.tests.yaml").write_text("policy: broken\ncases:\n  - {name: a, stage: input, text: x,"
                                                " expect: allow}\n")
    p = guardrails("test", tmp_path)
    assert p.returncode == 1 and summary(p) == (0, 1, 0)
    assert "broken.tests.yaml:1:9: error[T204]: the policies for this file do not load" in p.stdout
    assert "broken.policy:2:" in p.stdout


def test_coverage_of_the_example_policies_is_complete():
    p = guardrails("test", "policies/", "--coverage", "--min-coverage", "100", "--min-branch-coverage", "100")
    assert p.returncode == 0, p.stdout + p.stderr
    for name in ("coding-assistant 2.1.0", "rag-search 1.1.0", "support-bot 1.4.0"):
        line = next(x for x in p.stdout.splitlines() if x.startswith(f"  {name}: "))
        assert re.match(rf"  {name}: rules covered (\d+)/\1 \(100%\), branches covered (\d+)/\2 \(100%\)", line), line
    passed, failed, skipped = summary(p)
    assert failed == 0 and passed >= 90 and skipped == 0


def test_coverage_lists_what_was_missed_and_min_coverage_fails():
    p = guardrails("test", FIXTURES / "passing.tests.yaml", "--coverage")
    assert p.returncode == 0
    policy = FIXTURES / "shop.policy"
    out = p.stdout
    assert "  shop 1.0.0: rules covered 5/7 (71.4%), branches covered 6/10 (60%)" in out
    assert f"      {policy}:13:3: no-keys [input]\n" in out
    assert f"      {policy}:21:3: archived [retrieval]: `metadata.archived == true` never false\n" in out
    assert f"      {policy}:26:3: orders [tool_call]: `principal.role == \"staff\"` never evaluated\n" in out
    low = guardrails("test", FIXTURES / "passing.tests.yaml", "--min-coverage", "80")
    assert low.returncode == 1
    assert "rule coverage of shop 1.0.0 is 71.4%, below --min-coverage 80%" in low.stderr
    assert summary(low) == (8, 0, 1)  # the summary is still the last line
    ok = guardrails("test", FIXTURES / "passing.tests.yaml", "--min-coverage", "70")
    assert ok.returncode == 0
    branches = guardrails("test", FIXTURES / "passing.tests.yaml", "--min-branch-coverage", "61")
    assert branches.returncode == 1 and "below --min-branch-coverage 61%" in branches.stderr


def test_json_format():
    p = guardrails("test", FIXTURES / "failing.tests.yaml", FIXTURES / "malformed.tests.yaml", "--format", "json",
                   "--coverage")
    assert p.returncode == 1
    data = json.loads(p.stdout)
    assert (data["ok"], data["passed"], data["failed"], data["skipped"]) == (False, 1, 2, 0)
    bad = next(f for f in data["files"] if f["status"] == "error")
    assert {(e["code"], e["line"], e["col"]) for e in bad["errors"]} == {("T104", 5, 12), ("T202", 14, 15),
                                                                          ("T101", 19, 30)}
    failed = next(c for c in data["cases"] if c["status"] == "failed")
    assert failed["name"] == "coupons are removed for guests" and failed["line"] == 9
    assert failed["mismatches"] == [{"field": "text", "expected": "Use  at checkout",
                                     "actual": "Use ###### at checkout"}]
    assert "first difference" in failed["diff"]
    (shop,) = data["coverage"]
    assert shop["policy"] == "shop" and shop["rules"]["total"] == 7
    assert {r["rule"] for r in shop["uncovered_rules"]} >= {"no-keys", "orders", "archived"}


# ---- pytest collects test files ----------------------------------------------


def test_pytest_collects_policy_tests(tmp_path):
    (tmp_path / "shop.policy").write_text(SHOP)
    (tmp_path / "shop.tests.yaml").write_text(textwrap.dedent("""\
        policy: shop
        cases:
          - name: rude words are refused
            stage: input
            text: "you idiot"
            expect: {outcome: deny, rules: [rude-words]}
          - name: a wrong expectation
            stage: output
            text: "Use SAVE10 now"
            expect: {outcome: allow}
          - name: a known gap
            stage: tool_call
            tool: get_order
            principal: {role: customer}
            todo: "customers cannot look up orders yet"
            expect: allow
        """))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rfs", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert re.search(r"\b1 failed, 1 passed, 1 skipped\b", out), out
    assert "shop.tests.yaml::a wrong expectation" in out
    assert "  outcome:   expected allow\n             got      redact" in out
    assert "todo: customers cannot look up orders yet" in out
    assert "Traceback" not in out


def test_pytest_reports_a_malformed_file_as_one_failure(tmp_path):
    (tmp_path / "shop.policy").write_text(SHOP)
    (tmp_path / "bad.tests.yaml").write_text("policy: shop\ncases:\n  - name: x\n    stage: input\n    texts: hi\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 1
    assert re.search(r"\b1 failed\b", proc.stdout), proc.stdout
    assert "bad.tests.yaml:5:5: error[T101]: unknown key 'texts' in case 'x'" in proc.stdout


# ---- schema validation: each error with its code, line and column -------------

# (note, file text, code, line, the text the caret must start at, message)
SCHEMA_ERRORS = [
    ("not a mapping", "- 1\n", "T103", 1, "- 1", "a test file must be a mapping, not a list"),
    ("empty file", "", "T102", 1, "", "empty test file"),
    ("yaml syntax", "policy: [shop\n", "T001", 2, "",
     "invalid YAML: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence at line 1, column 9)"),
    ("no policy", "cases: []\n", "T102", 1, "cases", "a test file needs 'policy'"),
    ("unknown file key", "policy: shop\npolicies: x\ncases: []\n", "T101", 2, "policies",
     "unknown key 'policies' in a test file"),
    ("version is a number", "policy: shop\nversion: 1.0\ncases: []\n", "T103", 2, "1.0",
     "version must be a string, not a number"),
    ("policy with @", "policy: shop@1.0.0\ncases: []\n", "T104", 1, "shop@", "write the policy name alone"),
    ("cases not a list", "policy: shop\ncases: {a: 1}\n", "T103", 2, "{a", "cases must be a list"),
    ("duplicate key", "policy: shop\npolicy: shop\ncases: []\n", "T104", 2, "policy", "duplicate key 'policy'"),
    ("yaml 1.1 boolean key", "policy: shop\ncases:\n  - name: a\n    stage: input\n    text: x\n"
     "    on: 1\n    expect: allow\n", "T103", 6, "on:", "keys must be strings; quote 'on'"),
    ("missing name", "policy: shop\ncases:\n  - stage: input\n    text: x\n    expect: allow\n", "T102", 3,
     "stage", "a case needs 'name'"),
    ("unknown stage", "policy: shop\ncases:\n  - {name: a, stage: inputs, text: x, expect: allow}\n", "T104", 3,
     "inputs", "unknown stage 'inputs'; use input, output, retrieval, tool_call"),
    ("request key of another stage", "policy: shop\ncases:\n  - {name: a, stage: input, text: x, tool: t, "
     "expect: allow}\n", "T101", 3, "tool:", "unknown key 'tool' in case 'a'"),
    ("missing text", "policy: shop\ncases:\n  - {name: a, stage: input, expect: allow}\n", "T102", 3, "{name",
     "case 'a' needs 'text'"),
    ("text is a number", "policy: shop\ncases:\n  - {name: a, stage: output, text: 5, expect: allow}\n", "T103",
     3, "5", "text must be a string (or {repeat, times}), not a number"),
    ("date in context", "policy: shop\ncases:\n  - {name: a, stage: input, text: x, context: {d: 2024-01-01},"
     " expect: allow}\n", "T103", 3, "2024", "context.d is a date, which a JSON request cannot carry"),
    ("unknown outcome", "policy: shop\ncases:\n  - {name: a, stage: input, text: x, expect: block}\n", "T104", 3,
     "block", "unknown outcome 'block'"),
    ("expect key of another stage", "policy: shop\ncases:\n  - {name: a, stage: input, text: x, expect: "
     "{outcome: allow, args: {}}}\n", "T101", 3, "args", "unknown key 'args' in expect"),
    ("rules not a list", "policy: shop\ncases:\n  - {name: a, stage: input, text: x, expect: {outcome: deny, "
     "rules: rude-words}}\n", "T103", 3, "rude-words", "expect.rules must be a list, not a string"),
    ("chunk count", "policy: shop\ncases:\n  - {name: a, stage: retrieval, chunks: [x, y], expect: "
     "{outcome: allow, chunks: [x]}}\n", "T104", 3, "[x]", "expect.chunks has 1 entries; the request has 2 chunks"),
    ("duplicate case", "policy: shop\ncases:\n  - {name: a, stage: input, text: x, expect: allow}\n"
     "  - {name: a, stage: input, text: y, expect: allow}\n", "T104", 4, "{name",
     "duplicate case name 'a' (first at line 3)"),
    ("topic score range", "policy: shop\ncases:\n  - {name: a, stage: input, text: x, with: {topic: "
     "{refund_talk: 2}}, expect: allow}\n", "T104", 3, "2}", "must be between 0 and 1, not 2"),
    ("unknown with key", "policy: shop\ncases:\n  - {name: a, stage: input, text: x, with: {topics: {}}, "
     "expect: allow}\n", "T101", 3, "topics", "unknown key 'topics' in with"),
    ("finding without a place", "policy: shop\ncases:\n  - {name: a, stage: input, text: x, with: {pii: "
     "[{entity: EMAIL_ADDRESS}]}, expect: allow}\n", "T102", 3, "{entity",
     "with.pii[0] needs `match` or `start` and `end`"),
    ("end before start", "policy: shop\ncases:\n  - {name: a, stage: input, text: xyz, with: {pii: "
     "[{entity: EMAIL_ADDRESS, start: 2, end: 1}]}, expect: allow}\n", "T104", 3, "1}",
     "end (1) must be after start (2)"),
    ("unknown secret kind", "policy: shop\ncases:\n  - {name: a, stage: input, text: x, with: {secrets: "
     "[{entity: aws_key, start: 0, end: 1}]}, expect: allow}\n", "T104", 3, "{entity",
     "unknown secret kind 'aws_key'"),
    ("match in retrieval", "policy: shop\ncases:\n  - {name: a, stage: retrieval, chunks: [x], with: {terms: "
     "{rude: [x]}}, expect: allow}\n", "T104", 3, "x]}", "a retrieval fixture applies to every chunk"),
    ("repeat too long", "policy: shop\ncases:\n  - {name: a, stage: input, text: {repeat: xx, times: 6000000},"
     " expect: allow}\n", "T104", 3, "{repeat", "limited to 10,000,000 characters"),
    # inline policies, static cases and raw requests
    ("policy and source", "policy: shop\nsource: x\ncases: []\n", "T104", 2, "source",
     "give `policy` (a loaded policy) or `source`"),
    ("version with source", "source: x\nversion: '1'\ncases: []\n", "T104", 2, "version",
     "`version` pins a loaded policy"),
    ("modules without source", "policy: shop\nmodules: {a: x}\ncases: []\n", "T104", 2, "modules",
     "`modules` in a test file goes with `source`"),
    ("module not a string", "source: x\nmodules: {a: 1}\ncases: []\n", "T103", 2, "1}",
     "module 'a' must be a string"),
    ("request case without a policy", "cases:\n  - {name: a, stage: input, text: x, expect: allow}\n"
     "  - {name: b, source: x, expect: {formatted: x}}\n", "T102", 2, "{name", "case 'a' needs 'source'"),
    ("static case with a request key", "cases:\n  - {name: a, source: x, text: y, expect: {formatted: x}}\n",
     "T101", 2, "text", "unknown key 'text' in case 'a'"),
    ("static expect is an outcome", "cases:\n  - {name: a, source: x, expect: deny}\n", "T103", 2, "deny",
     "the expect of a case without `stage` must be a mapping, not a string"),
    ("static expect is empty", "cases:\n  - {name: a, source: x, expect: {}}\n", "T102", 2, "{}",
     "needs errors, warnings, message or formatted"),
    ("static error not a triple", "cases:\n  - {name: a, source: x, expect: {errors: [E001]}}\n", "T103", 2,
     "E001", "expect.errors[0] must be [CODE, line, col], not a string"),
    ("static error of two items", "cases:\n  - {name: a, source: x, expect: {errors: [[E001, 1]]}}\n", "T103",
     2, "[E001", "not a list of 2 items"),
    ("unknown diagnostic code", "cases:\n  - {name: a, source: x, expect: {errors: [[E999, 1, 1]]}}\n", "T104",
     2, "E999", "unknown diagnostic code 'E999'"),
    ("warning among errors", "cases:\n  - {name: a, source: x, expect: {errors: [[W101, 1, 1]]}}\n", "T104", 2,
     "W101", "W101 is a warning code"),
    ("error among warnings", "cases:\n  - {name: a, source: x, expect: {warnings: [E001]}}\n", "T104", 2,
     "E001", "E001 is an error code"),
    ("line from zero", "cases:\n  - {name: a, source: x, expect: {errors: [[E001, 0, 1]]}}\n", "T104", 2, "0,",
     "the line in expect.errors[0] must be 1 or more"),
    ("formatted on a request case", "policy: shop\ncases:\n  - {name: a, stage: input, text: x, expect: "
     "{outcome: allow, formatted: x}}\n", "T101", 3, "formatted", "unknown key 'formatted' in expect"),
    ("request and its fields", "policy: shop\ncases:\n  - {name: a, stage: input, text: x, request: {text: 1}, "
     "expect: allow}\n", "T104", 3, "request", "give `request` or the request's fields (text), not both"),
]


def _col(text: str, line: int, at: str) -> int:
    lines = text.splitlines()
    return lines[line - 1].index(at) + 1 if line <= len(lines) else 1


@pytest.mark.parametrize("note,text,code,line,at,message", SCHEMA_ERRORS, ids=[e[0] for e in SCHEMA_ERRORS])
def test_schema_errors(note, text, code, line, at, message):
    t = parse_tests(text, "t.tests.yaml")
    assert not t.ok
    rendered = "\n".join(d.render(text) for d in t.diagnostics)
    want = (code, line, _col(text, line, at))
    assert any((d.code, d.span.line, d.span.col) == want and message in d.message for d in t.diagnostics), rendered


def test_a_located_error_renders_with_a_caret():
    text = "policy: shop\ncases:\n  - {name: a, stage: inputs, text: x, expect: allow}\n"
    (d,) = parse_tests(text, "t.tests.yaml").diagnostics
    assert d.render(text).splitlines() == [
        "t.tests.yaml:3:22: error[T104]: unknown stage 'inputs'; use input, output, retrieval, tool_call, tool_result",
        "   3 |   - {name: a, stage: inputs, text: x, expect: allow}",
        "                            ^^^^^^",
        "     = hint: did you mean 'input'?",
    ]


def test_a_valid_file_parses_into_cases():
    t = parse("""\
        policy: shop
        version: "1.0.0"
        cases:
          - name: long
            stage: input
            text: {repeat: "ab", times: 3}
            context: {user: {id: 7}}
            expect: allow
          - name: chunks
            stage: retrieval
            chunks: ["a", {text: "b", metadata: {year: 2020}}]
            expect:
              outcome: redact
              chunks: [null, "b"]
          - name: tool
            stage: tool_call
            tool: get_order
            args: {id: "1"}
            principal: {role: staff}
            expect: {outcome: allow, rules: [orders], args: {id: "1"}, route: null}
        """)
    assert t.ok, t.diagnostics
    long, chunks, tool = t.cases
    assert long.request == {"text": "ababab", "context": {"user": {"id": 7}}}
    assert long.expect.outcome == "allow" and long.expect.rules is None
    assert chunks.request == {"chunks": [{"text": "a"}, {"text": "b", "metadata": {"year": 2020}}]}
    assert [(c.outcome, c.text) for c in chunks.expect.chunks] == [("deny", None), (None, "b")]
    assert tool.request == {"tool": "get_order", "args": {"id": "1"}, "principal": {"role": "staff"}}
    assert tool.expect.text == {"id": "1"} and tool.expect.route is None
    assert (t.policy, t.version, tool.line) == ("shop", "1.0.0", 15)


# ---- binding: names checked against the compiled policy ------------------------

BIND_ERRORS = [
    ("unknown policy", "policy: shpo\ncases: []\n", "T201", 1, "shpo", "unknown policy 'shpo'",
     "did you mean 'shop'?"),
    ("unknown version", "policy: shop\nversion: \"2.0.0\"\ncases: []\n", "T201", 2, '"2.0.0"',
     "policy 'shop' has no version 2.0.0; loaded: 1.0.0", None),
    ("unknown rule", "policy: shop\ncases:\n  - {name: a, stage: input, text: x, expect: {outcome: deny, "
     "rules: [rude-word]}}\n", "T202", 3, "rude-word]", "shop has no rule 'rude-word' in the input stage",
     "did you mean 'rude-words'?"),
    ("imported rule without its module", None, "T202", 3, "prompt-injection",
     "has no rule 'prompt-injection'", "imported rules keep their module's name: 'org-baseline/prompt-injection'"),
    ("rule of another stage", "policy: shop\ncases:\n  - {name: a, stage: input, text: x, expect: {outcome: deny, "
     "rules: [archived]}}\n", "T202", 3, "archived", "shop has no rule 'archived' in the input stage",
     "'archived' is a rule of the retrieval stage"),
    ("unknown route", "policy: shop\ncases:\n  - {name: a, stage: input, text: x, expect: {outcome: escalate, "
     "route: bills}}\n", "T202", 3, "bills", "no rule of the input stage escalates to 'bills'", "routes: billing"),
    ("topic of another stage", "policy: shop\ncases:\n  - {name: a, stage: output, text: x, with: {topic: "
     "{refund_talk: 0.9}}, expect: allow}\n", "T203", 3, "refund_talk",
     "no rule of the output stage uses topic 'refund_talk'", "the output stage uses no topic"),
    ("unknown term list", "policy: shop\ncases:\n  - {name: a, stage: input, text: x, with: {terms: "
     "{rudee: []}}, expect: allow}\n", "T203", 3, "rudee", "no rule of the input stage uses the term list 'rudee'",
     "did you mean 'rude'?"),
    ("pii in a policy without pii", "policy: shop\ncases:\n  - {name: a, stage: input, text: x, with: {pii: []},"
     " expect: allow}\n", "T203", 3, "pii", "no rule of the input stage uses the PII detector", None),
    ("match not in text", "policy: shop\ncases:\n  - {name: a, stage: input, text: hello, with: {terms: "
     "{rude: [bye]}}, expect: allow}\n", "T104", 3, "bye", "'bye' does not occur in the request", None),
    ("offset past the end", "policy: shop\ncases:\n  - {name: a, stage: input, text: hi, with: {secrets: "
     "[{entity: jwt, start: 0, end: 9}]}, expect: allow}\n", "T104", 3, "{entity",
     "end 9 is past the end of the request text (2 characters)", None),
]


@pytest.fixture(scope="module")
def examples() -> Engine:
    return Engine.from_path(POLICIES)


@pytest.mark.parametrize("note,text,code,line,at,message,hint", BIND_ERRORS, ids=[e[0] for e in BIND_ERRORS])
def test_bind_errors(shop, examples, note, text, code, line, at, message, hint):
    engine = shop
    if text is None:  # against the example policies, which import org-baseline
        text = ("policy: support-bot\ncases:\n  - {name: a, stage: input, text: x, expect: {outcome: deny, "
                "rules: [prompt-injection]}}\n")
        engine = examples
    t = parse_tests(text, "t.tests.yaml")
    assert t.ok, t.diagnostics
    _, bound, errors = bind(t, engine)
    rendered = "\n".join(d.render(text) for d in errors)
    want = (code, line, _col(text, line, at))
    match = [d for d in errors if (d.code, d.span.line, d.span.col) == want and message in d.message]
    assert match, rendered
    assert match[0].hint == hint, rendered
    assert not bound


# ---- fixtures (`with:`) become engine overrides --------------------------------


def _case(shop, text: str):
    t = parse(text)
    assert t.ok, t.diagnostics
    (case,) = t.cases
    return case, shop.get_policy("shop").stages[case.stage]


def test_with_translates_to_overrides(shop):
    case, graph = _case(shop, """\
        policy: shop
        cases:
          - name: a
            stage: input
            text: "you are an idiot, refund me"
            with:
              topic: {refund_talk: 0.25}
              terms: {rude: ["idiot", {start: 0, end: 3, score: 0.5}]}
              secrets: []
            expect: allow
        """)
    diags = Diagnostics()
    assert overrides_for(case, graph, diags) == {
        "topic:refund_talk": TopicResult(0.25, ()),
        "terms:rude": [Finding(11, 16, "RUDE", 1.0), Finding(0, 3, "RUDE", 0.5)],
        "secrets": [],
    }
    assert not diags.items


def test_secret_findings_go_to_every_secrets_node_by_kind():
    src = """policy "p" version "1.0.0"
input {
  rule any: deny "any" when secrets()
  rule aws: deny "aws" when secrets(aws_access_key_id)
}"""
    engine = Engine.from_source(src)
    t = parse("""\
        policy: p
        cases:
          - name: a
            stage: input
            text: "token ghp_x and key AKIA"
            with:
              secrets:
                - {entity: github_token, match: "ghp_x"}
                - {entity: AWS_ACCESS_KEY_ID, match: "AKIA", score: 0.9}
            expect: deny
        """)
    (case,) = t.cases
    graph = engine.get_policy("p").stages["input"]
    out = overrides_for(case, graph)
    assert out == {
        "secrets": [Finding(6, 11, "GITHUB_TOKEN", 1.0), Finding(20, 24, "AWS_ACCESS_KEY_ID", 0.9)],
        "secrets:aws_access_key_id": [Finding(20, 24, "AWS_ACCESS_KEY_ID", 0.9)],
    }
    d = engine.check("input", case.request, policy="p", overrides=out)
    assert sorted(d.rule_ids) == ["any", "aws"]


def test_match_offsets_in_tool_calls_follow_the_engine(examples):
    t = parse("""\
        policy: coding-assistant
        cases:
          - name: a
            stage: tool_call
            tool: run_shell
            args: {cmd: "ls", note: {text: "then wipe it"}}
            principal: {role: maintainer}
            context: {sandboxed: true}
            with: {terms: {destructive_commands: ["wipe"]}}
            expect: deny
        """)
    (case,) = t.cases
    graph = examples.get_policy("coding-assistant").stages["tool_call"]
    overrides = overrides_for(case, graph)
    (found,) = overrides["terms:destructive_commands"]
    assert found.end - found.start == 4 and found.entity == "DESTRUCTIVE_COMMANDS"
    d = examples.check("tool_call", case.request, policy="coding-assistant", overrides=overrides)
    assert d.rule_ids == ["shell-destructive"]
    assert d.violations[0].spans[0].model_dump() == {"start": 5, "end": 9, "entity": "DESTRUCTIVE_COMMANDS",
                                                     "score": 1.0, "field": "args.note.text"}


def test_a_fixed_topic_score_decides_at_the_threshold(shop):
    for score, outcome in ((0.6, "escalate"), (0.59, "allow")):
        case, graph = _case(shop, f"""\
            policy: shop
            cases:
              - name: a
                stage: input
                text: "I want a refund"
                with: {{topic: {{refund_talk: {score}}}}}
                expect: {outcome}
            """)
        d = shop.check("input", case.request, policy="shop", overrides=overrides_for(case, graph))
        assert d.outcome.value == outcome and not compare(case, d)


# ---- comparing and reporting ----------------------------------------------------


def test_unexpected_evaluation_errors_fail_the_case(shop):
    case, _ = _case(shop, """\
        policy: shop
        cases:
          - {name: a, stage: tool_call, tool: get_order, expect: deny}
        """)
    d = shop.check("tool_call", case.request, policy="shop")
    (m,) = compare(case, d)
    assert m.field == "errors" and m.expected == [] and "missing-attribute" in m.actual[0]


def test_failure_report_points_at_the_first_difference(shop):
    case, _ = _case(shop, """\
        policy: shop
        cases:
          - name: coupons
            stage: output
            text: "Use SAVE10 now"
            expect: {outcome: allow, rules: [], text: "Use SAVE10 now!"}
        """)
    runner = Runner(roots=[], coverage=False)
    d = shop.check("output", case.request, policy="shop")
    from guardrails.testing import CaseResult

    result = CaseResult("t.tests.yaml", case, "failed", "shop 1.0.0", tuple(compare(case, d)),
                        explanation=d.explain())
    text = format_failure(result)
    assert text.splitlines()[:8] == [
        "FAILED t.tests.yaml:3: coupons  [shop 1.0.0, output]",
        "  outcome:   expected allow",
        "             got      redact",
        "  rules:     expected []",
        "             got      [hide-coupons]",
        "             extra    [hide-coupons]",
        '  text:      expected "Use SAVE10 now!"',
        '             got      "Use ###### now"',
    ]
    assert text.splitlines()[8] == "                           ^ first difference at character 4"
    assert runner.coverage_report() == []


# ---- coverage -------------------------------------------------------------------


def test_tool_tests_fixed_by_the_index_are_not_counted():
    src = """policy "p" version "1.0.0"
tools refunds = ["refund", "void"]
tool_call {
  rule a: allow when tool in refunds and args.amount < 10
  rule b: allow when tool == "x" or tool == "y"
}"""
    engine = Engine.from_source(src, coverage=True)
    cov = policy_coverage(engine.get_policy("p"), set())
    a, b = (r for r in cov.rules if r.stage == "tool_call")
    assert a.always_true == 1 and [br.source for br in a.branches] == ["args.amount < 10",
                                                                       "tool in refunds and args.amount < 10"]
    # `tool == "x"` is false for tool y; `tool == "y"` is reached only for y, and
    # the whole `or` is true for every tool the rule runs for: neither can be false
    assert b.always_true == 2 and [br.source for br in b.branches] == ['tool == "x"']


def test_runner_collects_rule_and_branch_coverage():
    runner = Runner(coverage=True)
    result = runner.run_file(FIXTURES / "passing.tests.yaml")
    assert (result.count("passed"), result.count("failed"), result.count("skipped")) == (8, 0, 1)
    (pc,) = runner.coverage_report()
    assert (pc.rules_covered, len(pc.rules), pc.rule_percent) == (5, 7, 71.4)
    assert {r.rule for r in pc.rules if not r.fired} == {"no-keys", "orders"}
    assert pc.branches_fixed == 2  # `tool in catalog`, `tool == "get_order"`


# ---- properties: any text is either a test file or located errors, never a crash --

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

VALID = (FIXTURES / "passing.tests.yaml").read_text()


@st.composite
def mutated(draw) -> str:
    """The valid fixture with a few characters deleted, replaced or inserted."""
    text = VALID
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        piece = draw(st.sampled_from(["", ":", "-", " ", "\n", "[", "{", "'", "!!int ", "&a ", "*a", "1", "x"]))
        cut = draw(st.integers(0, 3))
        text = text[:i] + piece + text[i + cut:]
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(max_size=200), mutated()))
def test_any_text_parses_or_gives_located_errors(shop, text):
    t = parse_tests(text, "t.tests.yaml")
    for d in t.diagnostics:
        assert d.code.startswith("T") and d.span.line >= 1 and d.span.col >= 1
        d.render(text)
    if t.ok and t.policy == "shop":
        _, bound, errors = bind(t, shop)
        for b in bound:
            shop.check(b.case.stage, b.case.request, policy=b.policy, overrides=b.overrides or None)


# ---- inline policies and static cases ------------------------------------------


@pytest.mark.parametrize("text, hint", [
    ("cases:\n  - {name: a, source: x, text: y, expect: {formatted: x}}\n", "give `stage` to run a request"),
    ("cases:\n  - {name: a, source: x, expect: {formated: x}}\n", "did you mean 'formatted'?"),
    ("cases:\n  - {name: a, source: x, expect: {errors: [[E0O1, 1, 1]]}}\n", "did you mean 'E001'?"),
    ("cases:\n  - {name: a, source: x, expect: {errors: [[W101, 1, 1]]}}\n", "list warnings in expect.warnings"),
    ("cases:\n  - {name: a, source: x, expect: {errors: [[E001, 1, 0]]}}\n", "lines and columns count from 1"),
    ("policy: shop\ncases:\n  - {name: a, stage: input, text: x, expect: {outcome: allow, warnings: []}}\n",
     "is for cases without a stage"),
    ("cases: []\n", "or `source`, a policy written in the file"),
])
def test_errors_for_the_new_keys_carry_hints(text, hint):
    t = parse_tests(text, "t.tests.yaml")
    assert any(d.hint and hint in d.hint for d in t.diagnostics), [d.render(text) for d in t.diagnostics]


def test_an_unreadable_test_file_is_T002(tmp_path):
    (d,) = load_tests(tmp_path / "missing.tests.yaml").diagnostics
    assert d.code == "T002" and "cannot read test file" in d.message


INLINE = """\
source: |
  policy "inline" version "2.0.0"
  input { rule no-x: deny "x" when text contains "x" }
cases:
  - name: a request against the file's inline policy
    stage: input
    text: "x marks the spot"
    expect: {outcome: deny, rules: [no-x]}
  - name: a raw request the fields cannot express
    stage: input
    request: {text: 42}
    expect: {outcome: deny, rules: [request], errors: [invalid-request]}
  - name: its static check, with a wrong column
    expect: {errors: [], warnings: [W201]}
  - name: its layout
    expect:
      formatted: |
        policy "inline" version "2.0.0"

        input {
          rule no-x: deny "x" when text contains "y"
        }
"""


def test_inline_policies_run_through_the_runner(tmp_path):
    path = tmp_path / "inline.tests.yaml"
    path.write_text(INLINE, encoding="utf-8")
    fr = Runner().run_file(path)
    assert not fr.error, fr.prepared.render_errors()
    assert fr.prepared.label == "inline 2.0.0"
    status = {r.case.name: r for r in fr.results}
    assert [r.status for r in fr.results] == ["passed", "passed", "failed", "failed"]
    assert status["its static check, with a wrong column"].mismatches[0].field == "warnings"
    report = format_failure(status["its layout"])
    assert "[inline 2.0.0, static]" in report and "formatted: (- expected, + got)" in report
    assert '-  rule no-x: deny "x" when text contains "y"' in report
    assert '+  rule no-x: deny "x" when text contains "x"' in report


def test_an_inline_policy_that_does_not_load_is_one_located_error(tmp_path):
    path = tmp_path / "broken.tests.yaml"
    path.write_text('source: |\n  policy "b" version "1.0.0"\n  input { rule a: deny "x" when x = 1 }\ncases:\n'
                    "  - {name: a, stage: input, text: x, expect: allow}\n"
                    "  - {name: b, stage: input, text: y, expect: allow}\n", encoding="utf-8")
    prepared = Runner().prepare(path)
    codes = [(d.code, d.span.file, d.span.line) for d in prepared.errors]
    assert codes == [("T204", str(path), 1), ("E001", "<policy>", 2)], prepared.render_errors()
    assert not prepared.cases
    p = guardrails("test", path)
    assert p.returncode == 1 and "the inline policy does not load (1 error(s))" in p.stdout


def test_a_test_file_loads_only_the_policy_it_names_and_its_imports(tmp_path):
    """Issue 17 §8: a stray broken policy beside the tested one no longer breaks the run."""
    for name in ("support-bot.policy", "support-bot.tests.yaml", "org-baseline.policy"):
        shutil.copy(ROOT / "policies" / name, tmp_path)
    (tmp_path / "stray.policy").write_text('policy "stray" version "1.0.0"\ninput { rule a: deny "x" when text = "a" }\n')
    ok = guardrails("test", tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert summary(ok)[1] == 0 and "stray" not in ok.stdout + ok.stderr
    # an error in the tested policy's own import is still reported, located
    (tmp_path / "org-baseline.policy").write_text(
        (ROOT / "policies" / "org-baseline.policy").read_text().replace("when secrets()", "when secrets() =", 1))
    bad = guardrails("test", tmp_path)
    assert bad.returncode == 1 and "org-baseline.policy:" in bad.stdout + bad.stderr
