"""Policy tests for sessions: tool_result cases, `expect.labels`, and step
cases (a session's requests in order, on a fixed timeline), validated,
run, covered, and run by `guardrails test` as a subprocess."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from guardrails.testing import BASE_TIME, SEQUENCE, Runner, load_tests, parse_tests

ROOT = Path(__file__).resolve().parent.parent

AGENT = """\
policy "agent" version "1.0.0"
label untrusted "content from the web"
label greeted "the user said hello"
limit refunds = 2 per "1m" by principal.id
terms secret_words = ["hunter2"]
tools outbound = ["send_email"]

input {
  rule hello: label greeted when text contains "hello"
}

tool_result {
  rule web: label untrusted when tool == "web_fetch"
  rule drop: deny "the result says DROP" when text contains "DROP"
  rule hide: redact terms secret_words using mask("*")
}

tool_call {
  rule known: allow when tool in ["web_fetch", "send_email", "refund"]
  rule exfil: deny "mail out after web content" when tool in outbound and labelled(untrusted, within="10m")
  rule quota: deny "refund limit" when tool == "refund" and over(refunds)
}
"""


def guardrails(*args, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "guardrails.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=120, cwd=cwd, stdin=subprocess.DEVNULL)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return proc


@pytest.fixture
def agent_dir(tmp_path: Path) -> Path:
    (tmp_path / "agent.policy").write_text(AGENT)
    return tmp_path


def write_cases(where: Path, cases: str, name: str = "agent.tests.yaml") -> Path:
    path = where / name
    path.write_text("policy: agent\ncases:\n" + textwrap.indent(textwrap.dedent(cases), "  "))
    return path


def run(path: Path, *, coverage: bool = False):
    runner = Runner(coverage=coverage)
    return runner, runner.run_file(path)


# ---- parsing: the timeline, the defaults ----------------------------------------


def test_a_step_case_parses_into_steps_with_their_session_times_and_defaults():
    t = parse_tests(textwrap.dedent("""\
        policy: agent
        cases:
          - name: run
            principal: {id: u1}
            context: {tenant: acme}
            steps:
              - {stage: tool_call, tool: web_fetch, args: {url: "https://x"}, expect: allow}
              - {stage: tool_result, tool: web_fetch, result: {body: "hi"}, expect: allow}
              - {stage: input, text: "hello", after: "30s", expect: allow}
              - {stage: tool_call, tool: send_email, principal: {id: u2}, at: 100, session: other, expect: deny}
              - {stage: tool_call, request: {tool: refund}, after: "2m", expect: allow}
        """), "t.tests.yaml")
    assert t.ok, [d.message for d in t.diagnostics]
    (case,) = t.cases
    assert case.stage == SEQUENCE and case.expect is None and case.request == {}
    steps = case.steps
    assert [s.offset for s in steps] == [0.0, 1.0, 31.0, 100.0, 220.0]
    assert [s.line for s in steps] == [7, 8, 9, 10, 11]
    assert [s.request["at"] for s in steps] == [BASE_TIME + s.offset for s in steps]
    assert [s.request["session"] for s in steps] == ["case: run"] * 3 + ["other", "case: run"]
    # principal: tool steps only, a step's own wins; context: every step; `request:` gets neither
    assert steps[0].request["principal"] == {"id": "u1"} and steps[1].request["principal"] == {"id": "u1"}
    assert "principal" not in steps[2].request and steps[2].request["context"] == {"tenant": "acme"}
    assert steps[3].request["principal"] == {"id": "u2"}
    assert steps[4].request == {"tool": "refund", "session": "case: run", "at": BASE_TIME + 220}
    assert steps[1].request["result"] == {"body": "hi"}
    assert case.requests == tuple((s.stage, s.request) for s in steps)


def test_a_single_case_may_name_a_session_and_a_time():
    t = parse_tests(textwrap.dedent("""\
        policy: agent
        cases:
          - {name: a, stage: input, text: hi, session: s-1, at: 5, expect: allow}
          - {name: b, stage: input, text: hi, expect: allow}
        """), "t.tests.yaml")
    assert t.ok
    a, b = t.cases
    assert a.request == {"text": "hi", "session": "s-1", "at": BASE_TIME + 5}
    assert b.request == {"text": "hi"}  # no session, the engine's clock: as before


def test_tool_result_cases_take_any_json_result_and_expect_result_and_labels():
    t = parse_tests(textwrap.dedent("""\
        policy: agent
        cases:
          - name: a
            stage: tool_result
            tool: web_fetch
            args: {url: "https://x"}
            principal: {id: u1}
            result: [{title: "t", n: 3}, "x", true]
            expect: {outcome: allow, labels: [untrusted], result: [{title: "t", n: 3}, "x", true]}
          - {name: b, stage: tool_result, tool: t, result: "DROP", expect: {outcome: deny, result: null}}
        """), "t.tests.yaml")
    assert t.ok, [d.message for d in t.diagnostics]
    a, b = t.cases
    assert a.request == {"tool": "web_fetch", "args": {"url": "https://x"}, "principal": {"id": "u1"},
                         "result": [{"title": "t", "n": 3}, "x", True]}
    assert a.expect.labels == ("untrusted",) and a.expect.text == [{"title": "t", "n": 3}, "x", True]
    assert b.expect.text is None


def test_the_documented_step_example_parses():
    import guardrails.testing as testing

    doc = testing.__doc__
    start = doc.index("    - name: web content then an outside email is refused")
    block = doc[start:doc.index("\n\n", start)]
    t = parse_tests("policy: agent\ncases:\n" + textwrap.dedent(block).replace("\n", "\n  ").join(["  ", "\n"]),
                    "doc.tests.yaml")
    assert t.ok, [d.message for d in t.diagnostics]
    (case,) = t.cases
    assert [s.offset for s in case.steps] == [0.0, 1.0, 31.0, 700.0]
    assert case.steps[0].request["session"] == "run-1"


# ---- validation: every problem located ------------------------------------------

ERRORS = [
    ("unknown key in a step", "- {stage: input, text: x, sesion: s, expect: allow}", "T101", 1, "sesion",
     "unknown key 'sesion' in a step (steps[0])", "did you mean 'session'?"),
    ("at goes backwards", "- {stage: input, text: x, at: 5, expect: allow}\n"
     "- {stage: input, text: x, at: 4, expect: allow}", "T104", 2, "4",
     "steps[1].at goes backwards: 4s is before the step before it (5s, line 5)", None),
    ("a bad window", '- {stage: input, text: x, after: "3 minutes", expect: allow}', "T104", 1, '"3 minutes"',
     "steps[0].after: '3 minutes' is not a window", "ms, s, m, h or d"),
    ("a window of zero", '- {stage: input, text: x, after: "0s", expect: allow}', "T104", 1, '"0s"',
     "steps[0].after: '0s' is not a window", None),
    ("after as a number", "- {stage: input, text: x, after: 30, expect: allow}", "T103", 1, "30",
     "steps[0].after must be a window such as \"30s\" or \"2m\", not a number", 'write "30s" for 30 seconds'),
    ("at and after", '- {stage: input, text: x, at: 3, after: "1s", expect: allow}', "T104", 1, "after",
     "give steps[0] `at` or `after`, not both", None),
    ("a negative at", "- {stage: input, text: x, at: -1, expect: allow}", "T104", 1, "-1",
     "steps[0].at must be 0 or more seconds since the case started, not -1", None),
    ("a step without a stage", "- {text: x, expect: allow}", "T102", 1, "{text",
     "a step (steps[0]) needs 'stage'", None),
    ("an unknown stage", "- {stage: tool_results, tool: t, expect: allow}", "T104", 1, "tool_results",
     "unknown stage 'tool_results' in steps[0]", "did you mean 'tool_result'?"),
    ("a step without expect", "- {stage: input, text: x}", "T102", 1, "{stage",
     "a step (steps[0]) needs 'expect'", None),
    ("a tool_result step without its result", "- {stage: tool_result, tool: t, expect: allow}", "T102", 1,
     "{stage", "a step (steps[0]) needs 'result'", None),
    ("a null result", "- {stage: tool_result, tool: t, result: null, expect: allow}", "T104", 1, "null",
     "result must be a string or a JSON value, not null", None),
    ("another stage's field", "- {stage: input, text: x, principal: {id: u}, expect: allow}", "T101", 1,
     "principal", "unknown key 'principal' in a step (steps[0])",
     "`principal` belongs to tool_call and tool_result requests, not input"),
    ("a case's key in a step", "- {stage: input, text: x, name: n, expect: allow}", "T101", 1, "name",
     "unknown key 'name' in a step (steps[0])", "`name` belongs to the case, not to one of its steps"),
    ("expect.result outside tool_result", "- {stage: input, text: x, expect: {outcome: allow, result: x}}",
     "T101", 1, "result", "unknown key 'result' in expect", "`expect.result` is for tool_result cases"),
    ("a session too long", f"- {{stage: input, text: x, session: {'s' * 257}, expect: allow}}", "T104", 1,
     "sss", "steps[0].session is 257 characters; a session id has at most 256", None),
]


@pytest.mark.parametrize("what, steps, code, step_line, at, message, hint", ERRORS, ids=[e[0] for e in ERRORS])
def test_step_errors_are_located(what, steps, code, step_line, at, message, hint):
    head = "policy: agent\ncases:\n  - name: run\n    steps:\n"
    text = head + textwrap.indent(steps, "      ") + "\n"
    t = parse_tests(text, "t.tests.yaml")
    assert not t.ok and t.cases == ()
    found = [d for d in t.diagnostics if d.code == code and message in d.message]
    assert found, [f"{d.code} {d.message}" for d in t.diagnostics]
    d = found[0]
    assert d.span.line == 4 + step_line
    line = text.splitlines()[d.span.line - 1]
    assert line[d.span.col - 1:].startswith(at), (line, d.span.col)
    if hint is not None:
        assert hint in (d.hint or ""), d.hint


@pytest.mark.parametrize("case, key, hint", [
    ("{name: a, expect: allow, steps: [{stage: input, text: x, expect: allow}]}", "expect",
     "in a case with `steps`, `expect` goes in each step"),
    ("{name: a, stage: input, steps: [{stage: input, text: x, expect: allow}]}", "stage",
     "in a case with `steps`, `stage` goes in each step"),
    ("{name: a, stage: input, text: x, after: 1s, expect: allow}", "after",
     "`after` belongs to the steps of a case with `steps`"),
])
def test_case_level_keys_that_belong_elsewhere_say_where(case, key, hint):
    t = parse_tests(f"policy: agent\ncases:\n  - {case}\n", "t.tests.yaml")
    (d,) = [d for d in t.diagnostics if d.code == "T101"]
    assert d.message.startswith(f"unknown key {key!r}") and d.hint == hint


def test_an_empty_step_list_is_an_error():
    t = parse_tests("policy: agent\ncases:\n  - {name: a, steps: []}\n", "t.tests.yaml")
    (d,) = t.diagnostics
    assert (d.code, d.message, d.span.line) == ("T104", "case 'a' has no steps", 3)


def test_labels_rules_and_fixtures_of_steps_are_bound_to_each_steps_stage(agent_dir):
    path = write_cases(agent_dir, """\
        - name: run
          steps:
            - {stage: tool_result, tool: web_fetch, result: x, expect: {outcome: allow, labels: [untrustd]}}
            - {stage: tool_call, tool: web_fetch, expect: {outcome: allow, labels: [untrusted]}}
            - {stage: tool_call, tool: web_fetch, expect: {outcome: allow, rules: [web]}}
            - {stage: tool_result, tool: t, result: "a hunter2", with: {terms: {secret_words: [nope]}},
               expect: redact}
        """)
    prepared = Runner().prepare(path)
    got = [(d.code, d.span.line, d.message, d.hint) for d in prepared.errors]
    assert got == [
        ("T202", 5, "no rule of the tool_result stage attaches label 'untrustd'", "did you mean 'untrusted'?"),
        ("T202", 6, "no rule of the tool_call stage attaches label 'untrusted'",
         "'untrusted' is attached by rules of the tool_result stage"),
        ("T202", 7, "agent has no rule 'web' in the tool_call stage", "'web' is a rule of the tool_result stage"),
        ("T104", 8, "'nope' does not occur in the request", None),
    ]
    assert prepared.cases == []


# ---- running -------------------------------------------------------------------------


def test_a_session_runs_on_its_timeline_labels_windows_and_limits(agent_dir):
    path = write_cases(agent_dir, """\
        - name: web content then outside mail is refused, and allowed once the window passed
          principal: {id: u1}
          steps:
            - {stage: tool_call, tool: web_fetch, args: {url: "https://x"}, expect: allow}
            - {stage: tool_result, tool: web_fetch, result: "the page", expect: {outcome: allow, labels: [untrusted]}}
            - {stage: tool_call, tool: send_email, args: {to: "a@ext.com"}, after: "30s",
               expect: {outcome: deny, rules: [exfil], messages: ["mail out after web content"]}}
            - {stage: tool_call, tool: send_email, args: {to: "a@ext.com"}, after: "10m", expect: allow}
        - name: a redacted result keeps its shape, a denied one is dropped
          steps:
            - stage: tool_result
              tool: files
              result: {lines: ["pw is hunter2", 7], ok: true}
              expect: {outcome: redact, rules: [hide], labels: [], result: {lines: ["pw is *******", 7], ok: true}}
            - {stage: tool_result, tool: files, result: ["DROP"], expect: {outcome: deny, rules: [drop], result: null}}
        - name: two refunds a minute, counted by principal across sessions
          principal: {id: u9}
          steps:
            - {stage: tool_call, tool: refund, expect: allow}
            - {stage: tool_call, tool: refund, session: elsewhere, expect: allow}
            - {stage: tool_call, tool: refund, expect: {outcome: deny, rules: [quota]}}
            - {stage: tool_call, tool: refund, principal: {id: u10}, expect: allow}
            - {stage: tool_call, tool: refund, at: 61, expect: allow}
        - name: a label on an input step
          steps:
            - {stage: input, text: "hello there", expect: {outcome: allow, labels: [greeted]}}
        """)
    _, fr = run(path)
    assert not fr.prepared.errors, fr.prepared.render_errors()
    assert [(r.case.name, r.status) for r in fr.results] == [(c.name, "passed") for c in fr.prepared.tests.cases], \
        "\n".join(str(r.mismatches or r.reason) for r in fr.results)


def test_no_case_sees_another_cases_sessions_or_limit_counts(agent_dir):
    # Each case alone passes; run together, they pass only if state is reset between them.
    path = write_cases(agent_dir, """\
        - name: first run reads the web
          session: shared
          steps:
            - {stage: tool_result, tool: web_fetch, result: x, expect: {outcome: allow, labels: [untrusted]}}
        - name: second run in the same session id mails out
          session: shared
          steps:
            - {stage: tool_call, tool: send_email, expect: {outcome: allow, rules: [known]}}
        - name: two refunds
          principal: {id: u1}
          steps:
            - {stage: tool_call, tool: refund, expect: allow}
            - {stage: tool_call, tool: refund, expect: allow}
        - name: a single refund case after them is the principal's first
          stage: tool_call
          tool: refund
          principal: {id: u1}
          at: 2
          expect: allow
        """)
    _, fr = run(path)
    assert [r.status for r in fr.results] == ["passed"] * 4, [r.mismatches for r in fr.results]


def test_a_failing_step_reports_its_index_and_line_and_the_rest_do_not_run(agent_dir):
    path = write_cases(agent_dir, """\
        - name: expects the wrong thing at the third step
          steps:
            - {stage: tool_result, tool: web_fetch, result: x, expect: {outcome: allow, labels: [untrusted]}}
            - {stage: tool_call, tool: web_fetch, expect: allow}
            - {stage: tool_call, tool: send_email, after: "2m", expect: allow}
            - {stage: tool_call, tool: web_fetch, expect: deny}
        """)
    _, fr = run(path)
    (r,) = fr.results
    assert r.status == "failed" and r.step is not None and r.step.index == 2
    assert [(m.field, m.expected, m.actual) for m in r.mismatches] == [("outcome", "allow", "deny")]
    from guardrails.testing import format_failure

    text = format_failure(r)
    lines = text.splitlines()
    assert lines[0] == f"FAILED {path}:3: expects the wrong thing at the third step  [agent 1.0.0, steps]"
    assert lines[1] == f"  steps[2] at {path}:7: tool_call send_email at 121s (1 later step(s) not run)"
    assert "deny     exfil" in text
    js = r.to_json()
    assert js["stage"] == "steps" and js["steps"] == 4
    assert js["step"] == {"index": 2, "line": 7, "stage": "tool_call", "at": 121.0}


def test_mismatches_on_results_and_labels_are_named_so(agent_dir):
    path = write_cases(agent_dir, """\
        - name: wrong result
          stage: tool_result
          tool: files
          result: {a: "hunter2"}
          expect: {outcome: redact, result: {a: "hunter2"}}
        - name: wrong labels
          stage: tool_result
          tool: web_fetch
          result: "x"
          expect: {outcome: allow, labels: []}
        """)
    _, fr = run(path)
    a, b = fr.results
    assert [(m.field, m.expected, m.actual) for m in a.mismatches] == [
        ("result", {"a": "hunter2"}, {"a": "*******"})]
    assert [(m.field, m.expected, m.actual) for m in b.mismatches] == [("labels", [], ["untrusted"])]


def test_an_engine_error_in_a_step_names_the_step(agent_dir):
    path = write_cases(agent_dir, """\
        - name: a malformed session id is an invalid request, not a crash
          steps:
            - {stage: tool_call, tool: web_fetch, expect: allow}
            - {stage: tool_call, request: {tool: web_fetch, session: 42}, expect: {outcome: deny, errors: [invalid-request]}}
        """)
    _, fr = run(path)
    (r,) = fr.results
    assert r.status == "passed", (r.mismatches, r.reason)


def test_a_todo_step_case_is_skipped_and_says_when_it_passes(agent_dir):
    path = write_cases(agent_dir, """\
        - name: known gap
          todo: not yet
          steps:
            - {stage: tool_call, tool: nope, expect: allow}
        - name: fixed gap
          todo: fixed now
          principal: {id: u1}
          steps:
            - {stage: tool_call, tool: refund, expect: allow}
        """)
    _, fr = run(path)
    assert [(r.status, r.reason) for r in fr.results] == [
        ("skipped", "todo: not yet"), ("skipped", "todo: fixed now (it passes now: remove `todo`)")]


def test_coverage_counts_the_rules_and_branches_step_cases_exercise(agent_dir):
    path = write_cases(agent_dir, """\
        - name: web then mail
          steps:
            - {stage: tool_result, tool: web_fetch, result: x, expect: {outcome: allow, labels: [untrusted]}}
            - {stage: tool_call, tool: send_email, expect: deny}
        """)
    runner, fr = run(path, coverage=True)
    assert [r.status for r in fr.results] == ["passed"]
    (pc,) = runner.coverage_report()
    fired = {r.rule for r in pc.rules if r.fired}
    assert fired == {"web", "exfil", "known"}  # from each step's stage; drop, hide, hello, quota never ran
    exfil = next(r for r in pc.rules if r.rule == "exfil")
    seen = {b.source: (b.seen_true, b.seen_false) for b in exfil.branches}
    assert seen['labelled(untrusted, within="10m")'] == (True, False)


# ---- the command ------------------------------------------------------------------


def test_guardrails_test_runs_step_cases_and_reports_the_failing_step(agent_dir):
    good = write_cases(agent_dir, """\
        - name: web then mail
          principal: {id: u1}
          steps:
            - {stage: tool_result, tool: web_fetch, result: x, expect: {outcome: allow, labels: [untrusted]}}
            - {stage: tool_call, tool: send_email, after: "30s", expect: deny}
            - {stage: tool_call, tool: send_email, after: "10m", expect: allow}
        """)
    p = guardrails("test", good, "--coverage")
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.splitlines()[0] == f"{good} (agent 1.0.0): 1 passed, 0 failed"
    assert "rules covered 3/7" in p.stdout
    bad = write_cases(agent_dir, """\
        - name: web then mail, wrongly expected
          steps:
            - {stage: tool_result, tool: web_fetch, result: x, expect: allow}
            - {stage: tool_call, tool: send_email, expect: allow}
        """, name="bad.tests.yaml")
    p = guardrails("test", bad)
    assert p.returncode == 1
    assert f"  steps[1] at {bad}:6: tool_call send_email at 1s\n" in p.stdout
    p = guardrails("test", bad, "--format", "json")
    out = json.loads(p.stdout)
    (case,) = out["cases"]
    assert case["step"] == {"index": 1, "line": 6, "stage": "tool_call", "at": 1.0}
    assert case["mismatches"] == [{"field": "outcome", "expected": "allow", "actual": "deny"}]


def test_a_malformed_step_is_a_located_error_from_the_command(agent_dir):
    path = write_cases(agent_dir, """\
        - name: times go backwards
          steps:
            - {stage: tool_call, tool: refund, at: 10, expect: allow}
            - {stage: tool_call, tool: refund, at: 9, expect: allow}
        """)
    p = guardrails("test", path)
    assert p.returncode == 1
    assert re.search(rf"{re.escape(str(path))}:6:\d+: error\[T104\]: steps\[1\]\.at goes backwards", p.stdout)


def test_the_example_agent_tests_load():
    path = ROOT / "policies" / "agent-assistant.tests.yaml"
    if not path.exists():
        pytest.skip("no agent-assistant tests yet")
    t = load_tests(path)
    assert t.ok, [f"{d.span}: {d.message}" for d in t.diagnostics]
    assert any(c.stage == SEQUENCE for c in t.cases)


def test_a_fixture_in_a_tool_result_step_matches_in_the_results_strings(agent_dir):
    # The fixed finding is placed in the joined strings of the result, as the
    # engine joins them, so the redaction lands in the right string.
    path = write_cases(agent_dir, """\
        - name: a fixed term finding in a JSON result
          steps:
            - stage: tool_result
              tool: files
              result: {a: "nothing", b: ["pw is swordfish"]}
              with: {terms: {secret_words: [swordfish]}}
              expect: {outcome: redact, rules: [hide], result: {a: "nothing", b: ["pw is *********"]}}
        """)
    _, fr = run(path)
    assert [r.status for r in fr.results] == ["passed"], [r.mismatches for r in fr.results]


def test_guardrails_test_help_describes_step_cases():
    out = guardrails("test", "--help").stdout
    assert "steps:" in out and "tool_result" in out and "fresh session state" in out


# ---- property: any step-case text is either runnable or located errors ----------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

STEPS_VALID = textwrap.dedent("""\
    policy: agent
    cases:
      - name: run
        session: s
        principal: {id: u1}
        steps:
          - {stage: tool_call, tool: web_fetch, args: {url: "https://x"}, expect: allow}
          - {stage: tool_result, tool: web_fetch, result: {a: [1, "x"]}, expect: {outcome: allow, labels: [untrusted]}}
          - {stage: tool_call, tool: send_email, after: "30s", expect: {outcome: deny, rules: [exfil]}}
          - {stage: tool_call, tool: refund, at: 100, with: {}, expect: allow}
    """)


@st.composite
def mutated_steps(draw) -> str:
    text = STEPS_VALID
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        piece = draw(st.sampled_from(["", ":", "-", " ", "\n", "[", "{", "}", "'", "1", "x", "at: 5, ", "after: 2m, ",
                                      "at: -1, ", "session: 7, ", "request: {}, ", "result: null, "]))
        text = text[:i] + piece + text[i + draw(st.integers(0, 3)):]
    return text


@pytest.fixture(scope="module")
def agent_engine():
    from guardrails import Engine
    from guardrails.testing import TEST_HASH_SALT

    return Engine.from_source(AGENT, hash_salt=TEST_HASH_SALT)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutated_steps())
def test_any_step_case_text_runs_or_gives_located_errors(agent_engine, text):
    from guardrails.testing import bind

    t = parse_tests(text, "t.tests.yaml")
    for d in t.diagnostics:
        assert d.code.startswith("T") and d.span.line >= 1 and d.span.col >= 1
        d.render(text)
    if t.ok and t.policy == "agent":
        _, bound, _ = bind(t, agent_engine)
        for b in bound:
            agent_engine.reset_state()
            overrides = b.step_overrides or (b.overrides,)
            for (stage, request), fixed in zip(b.case.requests, overrides, strict=True):
                agent_engine.check(stage, request, policy=b.policy, overrides=fixed or None)  # decided, never raised
            if b.case.stage == SEQUENCE:
                offsets = [s.offset for s in b.case.steps]
                assert offsets == sorted(offsets) and offsets[0] >= 0
