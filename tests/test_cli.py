"""The `guardrails` command, run as a real subprocess: output, exit codes
(0 ok, 1 policy errors or --fail-on-deny, 2 bad usage) and no tracebacks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from guardrails import Decision

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"


# Two small policies without PII rules: they load without presidio, which
# keeps the many usage and batch runs quick.
TINY = {
    "alpha.policy": """\
policy "alpha" version "1.0.0"
pattern ticket = /T-\\d+/
input {
  rule no-x: deny "xyzzy is banned" when text contains "xyzzy"
  rule hide-ticket: redact pattern ticket using replace("<{entity}>")
}
tool_call {
  rule lookup: allow when tool == "lookup" and args has id
}
""",
    "beta.policy": """\
policy "beta" version "2.0.0"
output {
  rule no-y: deny "plugh is banned" when text contains "plugh"
}
""",
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("tiny")
    for name, text in TINY.items():
        (d / name).write_text(text)
    return d


def run(*args: str, stdin: str | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "guardrails.cli", *map(str, args)],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


# ---- check -------------------------------------------------------------------


def test_check_valid_policies():
    p = run("check", "policies/")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("ok: 4 policies (agent-assistant 1.1.0, coding-assistant 2.1.0, rag-search 1.1.0, support-bot 1.4.0)")
    assert p.stderr == ""


THREE_MISTAKES = """\
policy "cli" version "1.0.0"
entities contact = [EMAIL_ADRESS]
input {
  rule a: deny "x" when text = "a"
  rule m: redact contact
}
output {
  rule b: deny "y" when topic(medicl) > 0.5
}
"""


@pytest.fixture
def broken(tmp_path) -> Path:
    f = tmp_path / "broken.policy"
    f.write_text(THREE_MISTAKES)
    return f


def test_check_reports_every_mistake_with_a_caret(broken):
    p = run("check", broken)
    assert p.returncode == 1
    lines = p.stderr.splitlines()
    head = re.compile(rf"{re.escape(str(broken))}:(\d+):(\d+): error\[(E\d{{3}})\]: ")
    found = [(i, int(m[1]), int(m[2]), m[3]) for i, ln in enumerate(lines) if (m := head.match(ln))]
    assert [f[1:] for f in found] == [(2, 21, "E101"), (4, 30, "E001"), (8, 31, "E102")]
    source = THREE_MISTAKES.splitlines()
    for i, line, col, _code in found:
        # The diagnostic quotes its source line, then puts a caret under the column.
        gutter, quoted = lines[i + 1].split(" | ", 1)
        assert (int(gutter), quoted) == (line, source[line - 1])
        assert lines[i + 2].startswith(" " * (len(gutter) + 3 + col - 1) + "^"), lines[i + 2]
    assert lines[-1] == "3 error(s), 0 warning(s)"
    assert p.stdout == ""


def test_check_json_format(broken):
    p = run("check", "--format", "json", broken)
    assert p.returncode == 1
    report = json.loads(p.stdout)
    assert report["ok"] is False and report["errors"] == 3 and report["policies"] == []
    got = [(d["code"], d["line"], d["col"], d["severity"], d["file"]) for d in report["diagnostics"]]
    assert got == [("E101", 2, 21, "error", str(broken)), ("E001", 4, 30, "error", str(broken)),
                   ("E102", 8, 31, "error", str(broken))]
    assert report["diagnostics"][1]["hint"] == "use '==' to compare"


def test_check_json_format_on_valid_policies():
    report = json.loads(run("check", "--format", "json", "policies/").stdout)
    assert report["ok"] is True and report["errors"] == 0
    assert sorted(p["name"] for p in report["policies"]) == ["agent-assistant", "coding-assistant", "rag-search", "support-bot"]
    assert all(re.fullmatch(r"[0-9a-f]{64}", p["digest"]) for p in report["policies"])


@pytest.mark.parametrize("command", [["check"], ["eval", "--stage", "input", "--text", "hi"], ["graph"]])
def test_a_missing_path_is_a_clear_error(command, tmp_path):
    missing = tmp_path / "nope"
    p = run(*command[:1], missing, *command[1:])
    assert p.returncode == 1
    assert f"{missing}:1:1: error[E701]: no such file or directory: {missing}" in p.stderr


@pytest.mark.parametrize("command", [["eval", "--stage", "input", "--text", "hi"], ["graph"]])
def test_a_directory_of_modules_only_is_a_clear_error(command, tmp_path):
    (tmp_path / "base.policy").write_text((POLICIES / "org-baseline.policy").read_text())
    p = run(*command[:1], tmp_path, *command[1:])
    assert p.returncode in (1, 2)
    assert "polic" in p.stderr


# ---- usage errors --------------------------------------------------------------


@pytest.mark.parametrize(
    "args,message",
    [
        ([], "usage: guardrails"),
        (["check"], "the following arguments are required: PATH"),
        (["eval", "{tiny}", "--text", "hi"], "--stage is required"),
        (["eval", "{tiny}", "--stage", "bogus", "--text", "hi"], "invalid choice: 'bogus'"),
        (["eval", "{tiny}", "--stage", "tool_call", "--policy", "alpha", "--text", "hi"],
         "--text works with --stage input or output"),
        (["eval", "{tiny}", "--stage", "input", "--text", "hi"], "several policies are loaded (alpha, beta)"),
        (["eval", "{tiny}", "--stage", "input", "--policy", "nope", "--text", "hi"], "unknown policy 'nope'"),
        (["eval", "{tiny}", "--stage", "input", "--policy", "alpha@0.0.1", "--text", "hi"],
         "policy 'alpha' has no version 0.0.1; loaded: 1.0.0"),
        (["graph", "{tiny}"], "several policies are loaded"),
        (["graph", "{tiny}", "--policy", "alpha", "--format", "png"], "invalid choice: 'png'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_usage_exits_2(tiny, args, message):
    p = run(*(a.format(tiny=tiny) for a in args))
    assert p.returncode == 2
    assert message in p.stdout + p.stderr


def test_version():
    p = run("--version")
    assert p.returncode == 0
    assert re.fullmatch(r"guardrails \d+\.\d+\.\d+\n", p.stdout)


# ---- eval, one request ---------------------------------------------------------


def test_eval_text_prints_a_human_decision():
    p = run("eval", "policies/", "--stage", "input", "--policy", "support-bot", "--text", "mail jo@example.com")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert re.fullmatch(r"input -> REDACT  \(support-bot 1\.4\.0, [0-9a-f]{12}\)", lines[0])
    assert "  redact   redact-contact (policies/support-bot.policy:27:3)" in lines
    assert "           EMAIL_ADDRESS at 5-19 (score 1.00)" in lines
    assert lines[-1] == "  forward: 'mail <EMAIL_ADDRESS>'"


def test_eval_explain_prints_the_path(tiny):
    p = run("eval", tiny, "--stage", "input", "--policy", "alpha", "--explain", "--text", "xyzzy T-1")
    assert p.returncode == 0  # a deny is not a failure without --fail-on-deny
    assert p.stdout.startswith("input -> DENY  (alpha 1.0.0, ")
    assert re.search(r"^  deny     no-x \(\S+alpha\.policy:\d+:3\): xyzzy is banned$", p.stdout, re.M)
    assert "  path:" in p.stdout
    assert re.search(r"tier 0: no-x\s+fired", p.stdout)
    assert re.search(r"tier 1: hide-ticket\s+skipped", p.stdout)


def test_eval_tool_call_from_stdin_as_json():
    request = {"tool": "issue_refund", "args": {"amount": 20, "note": "from jo@example.com"},
               "principal": {"role": "agent"}}
    p = run("eval", "policies/", "--stage", "tool_call", "--policy", "support-bot", "--format", "json",
            stdin=json.dumps(request))
    assert p.returncode == 0, p.stderr
    d = Decision.model_validate_json(p.stdout)
    assert d.outcome.value == "redact"
    assert d.rule_ids == ["note-pii", "small-refunds"]
    assert d.text == {"amount": 20, "note": "from <EMAIL_ADDRESS>"}
    assert d.policy.name == "support-bot" and d.stage == "tool_call"


def test_eval_retrieval_from_stdin_prints_forwarded_chunks():
    request = {"chunks": [{"text": "Salary bands", "metadata": {"collection": "hr"}},
                          {"text": "VPN guide", "metadata": {"collection": "kb"}}]}
    p = run("eval", "policies/", "--stage", "retrieval", "--policy", "rag-search", stdin=json.dumps(request))
    assert p.returncode == 0
    assert p.stdout.startswith("retrieval -> REDACT")
    assert p.stdout.splitlines()[-1] == '  forward: [{"text": "VPN guide", "metadata": {"collection": "kb"}}]'


@pytest.mark.parametrize(
    "stdin,message",
    [
        ('{"tool": \n "x",}', "<stdin>:2:6: invalid JSON"),
        ('{"tool": "x"', "<stdin>:1:13: invalid JSON"),
        ('["tool", "x"]', "<stdin>: the request must be a JSON object"),
    ],
    ids=["trailing-comma", "unclosed", "not-an-object"],
)
def test_eval_rejects_malformed_stdin(tiny, stdin, message):
    p = run("eval", tiny, "--stage", "tool_call", "--policy", "alpha", stdin=stdin)
    assert p.returncode == 2
    assert message in p.stderr
    assert p.stdout == ""


def test_eval_without_any_request_is_a_usage_error(tiny):
    p = run("eval", tiny, "--stage", "input", "--policy", "alpha")
    assert p.returncode == 2
    assert "guardrails eval: error:" in p.stderr


def test_fail_on_deny(tiny):
    denied = run("eval", tiny, "--stage", "input", "--policy", "alpha", "--text", "xyzzy", "--fail-on-deny")
    assert denied.returncode == 1 and denied.stdout.startswith("input -> DENY")
    allowed = run("eval", tiny, "--stage", "input", "--policy", "alpha", "--text", "see T-42", "--fail-on-deny")
    assert allowed.returncode == 0 and allowed.stdout.startswith("input -> REDACT")
    assert "  forward: 'see <TICKET>'" in allowed.stdout


# ---- eval --batch --------------------------------------------------------------

BATCH = [
    {"label": "ticket", "stage": "input", "policy": "alpha", "request": {"text": "about T-7"}},
    {"stage": "tool_call", "policy": "alpha", "request": {"tool": "lookup", "args": {"id": 3}}},
    {"stage": "output", "request": {"text": "plugh"}},
]


@pytest.fixture
def batch_file(tmp_path) -> Path:
    f = tmp_path / "requests.jsonl"
    lines = ["# a comment", json.dumps(BATCH[0]), "", json.dumps(BATCH[1]), json.dumps(BATCH[2])]
    f.write_text("\n".join(lines) + "\n")
    return f


def test_batch_json_lines(tiny, batch_file):
    p = run("eval", tiny, "--policy", "beta", "--batch", batch_file, "--format", "json")
    assert p.returncode == 0, p.stderr
    decisions = [Decision.model_validate_json(line) for line in p.stdout.splitlines()]
    assert [(d.stage, d.policy.name, d.outcome.value) for d in decisions] == [
        ("input", "alpha", "redact"),
        ("tool_call", "alpha", "allow"),
        ("output", "beta", "deny"),  # --policy is the default for lines without one
    ]
    assert decisions[0].text == "about <TICKET>"
    assert decisions[1].rule_ids == ["lookup"]
    assert decisions[2].rule_ids == ["no-y"]
    # each line leads with its label (the file's, or FILE:LINE STAGE), as the text format does
    assert [json.loads(line)["label"] for line in p.stdout.splitlines()] == [
        "ticket", f"{batch_file}:4 tool_call", f"{batch_file}:5 output"]


def test_batch_text_labels_each_decision(tiny, batch_file):
    p = run("eval", tiny, "--policy", "beta", "--batch", batch_file, "--fail-on-deny")
    assert p.returncode == 1  # the third request is denied
    labels = [ln for ln in p.stdout.splitlines() if ln.startswith("== ")]
    assert labels == ["== ticket", f"== {batch_file}:4 tool_call", f"== {batch_file}:5 output"]


def test_batch_example_file_runs():
    p = run("eval", "policies/", "--batch", "examples/requests.jsonl", "--format", "json")
    assert p.returncode == 0, p.stderr
    outcomes = [json.loads(line)["outcome"] for line in p.stdout.splitlines()]
    assert outcomes == ["redact", "deny", "escalate", "deny", "deny", "allow", "deny", "deny", "deny",
                        "escalate", "redact"]


@pytest.mark.parametrize(
    "content,message",
    [
        ('{"stage": "input", "request": {"text": "a"}}\n{"stage": "input", "request": {"text": "b"},}\n',
         "{path}:2:45: invalid JSON"),
        ('{"stage": "prompt", "request": {"text": "a"}}\n', '{path}:1: each line needs "stage"'),
        ('{"stage": "input", "request": "a"}\n', '{path}:1: each line needs "stage"'),
        ("# only a comment\n\n", "{path}: no requests found"),
    ],
    ids=["invalid-json", "unknown-stage", "request-not-an-object", "empty"],
)
def test_batch_rejects_bad_lines(tiny, tmp_path, content, message):
    f = tmp_path / "bad.jsonl"
    f.write_text(content)
    p = run("eval", tiny, "--policy", "alpha", "--batch", f)
    assert p.returncode == 2
    assert message.format(path=f) in p.stderr


def test_batch_file_missing(tiny, tmp_path):
    p = run("eval", tiny, "--batch", tmp_path / "none.jsonl")
    assert p.returncode == 2
    assert f"cannot read {tmp_path / 'none.jsonl'}: No such file or directory" in p.stderr


def test_eval_refuses_broken_policies(broken):
    p = run("eval", broken, "--stage", "input", "--text", "hi")
    assert p.returncode == 1
    assert "cannot evaluate: 3 error(s) in the policies" in p.stderr
    assert f"{broken}:4:30: error[E001]" in p.stderr


# ---- graph -------------------------------------------------------------------


def test_graph_dot():
    p = run("graph", "policies/", "--policy", "support-bot", "--format", "dot")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith('digraph "support-bot" {\n')
    assert p.stdout.endswith("}\n")
    assert "input_combine [" in p.stdout and "tool_call_index [" in p.stdout


def test_graph_mermaid():
    p = run("graph", "policies/", "--policy", "rag-search", "--format", "mermaid")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("flowchart LR\n")
    assert '  subgraph retrieval["retrieval"]' in p.stdout
    assert "retrieval_rule_restricted_source --> retrieval_combine" in p.stdout


def test_graph_of_broken_policies_exits_1(broken):
    p = run("graph", broken)
    assert p.returncode == 1
    assert "error[E101]" in p.stderr
