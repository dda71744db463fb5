"""`guardrails diff`: impact analysis of a policy change over cases and decision logs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from guardrails import Engine
from guardrails.cli import main
from guardrails.decision_log import DecisionLog
from guardrails.authoring.impact import Case, compare, unmask

ROOT = Path(__file__).parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "impact"

V1 = """policy "shop" version "1.0.0"
config { log_keep = ["text", "tool", "args.amount", "principal.role"] }
pattern order = /ORD-\\d+/
input {
  rule long: warn "long" when length(text) > 30
}
tool_call {
  rule small: allow when tool == "refund" and args.amount <= 100
  rule managers: allow when tool == "refund" and principal.role == "manager"
}
"""
# Raise the refund limit, add a deny and a redaction.
V2 = (V1.replace('"1.0.0"', '"1.1.0"').replace("args.amount <= 100", "args.amount <= 200")
      .replace('input {\n', 'input {\n  rule rude: deny "no" when text matches /darn/\n'
                            '  rule ids: redact pattern order using mask("#")\n'))


def refund(amount, role="agent", **args):
    return {"stage": "tool_call", "request": {"tool": "refund", "args": {"amount": amount, **args},
                                             "principal": {"role": role}}}


def text(t):
    return {"stage": "input", "request": {"text": t}}


CASES = {
    "small refund": (refund(50), ()),
    "mid refund": (refund(150), ("outcome", "rules", "text")),
    "big refund": (refund(250), ()),
    "manager mid refund": (refund(150, "manager"), ("rules",)),
    "hello": (text("hello"), ()),
    "rude": (text("darn it"), ("outcome", "rules", "text")),
    "order id": (text("about ORD-123 please"), ("outcome", "rules", "text")),
    "long": (text("a very long text, more than thirty characters"), ()),
}
COUNTS = {"outcome changed": 3, "rules changed": 4, "text changed": 3, "unchanged": 4, "not replayable": 0}
CHANGED = {label for label, (_, kinds) in CASES.items() if kinds}


@pytest.fixture()
def versions(tmp_path):
    old, new = tmp_path / "old.policy", tmp_path / "new.policy"
    old.write_text(V1)
    new.write_text(V2)
    cases = tmp_path / "cases.jsonl"
    cases.write_text("# refunds and prompts\n" + "\n".join(
        json.dumps({"label": label, **entry}) for label, (entry, _) in CASES.items()) + "\n")
    return old, new, cases


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _listed(out: str) -> list[str]:
    return re.findall(r"^== (.*)$", out, re.M)


def _counts(out: str) -> dict[str, int]:
    rows = re.finditer(r"^   (\w+ changed|unchanged|not replayable)\s+(\d+)$", out, re.M)
    return {m.group(1): int(m.group(2)) for m in rows}


def test_diff_lists_exactly_the_changed_decisions(versions, capsys):
    old, new, cases = versions
    code, out, err = _run(capsys, "diff", old, new, "--cases", cases)
    assert code == 0, err
    assert sorted(_listed(out)) == sorted(CHANGED)
    assert _counts(out) == COUNTS
    assert "8 request(s), 4 changed:" in out
    block = out.split("== mid refund\n")[1].split("\n\n")[0]
    assert "outcome  deny -> allow" in block
    assert "rules    default-deny -> small" in block
    assert 'text     null -> {"amount": 150}' in block
    assert "policy   shop@1.0.0 -> shop@1.1.0" in block
    block = out.split("== manager mid refund\n")[1].split("\n\n")[0]
    assert "rules    managers -> managers, small" in block and "outcome" not in block
    block = out.split("== order id\n")[1].split("\n\n")[0]
    assert "text     'about ORD-123 please' -> 'about ####### please'" in block


def test_fail_on_change_exit_codes(versions, capsys):
    old, new, cases = versions
    assert _run(capsys, "diff", old, new, "--cases", cases, "--fail-on-change")[0] == 1
    code, out, _ = _run(capsys, "diff", old, old, "--cases", cases, "--fail-on-change")
    assert code == 0 and _listed(out) == []
    assert _counts(out)["unchanged"] == len(CASES)


def test_json_format(versions, capsys):
    old, new, cases = versions
    code, out, _ = _run(capsys, "diff", old, new, "--cases", cases, "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert report["counts"] == COUNTS
    assert report["requests"] == len(CASES) and report["changed"] == len(CHANGED)
    by_label = {c["label"]: c for c in report["changes"]}
    assert set(by_label) == CHANGED
    for label, c in by_label.items():
        assert tuple(c["changes"]) == CASES[label][1]
    mid = by_label["mid refund"]
    assert mid["old"] == {"policy": "shop@1.0.0", "outcome": "deny", "rules": ["default-deny"], "text": None}
    assert mid["new"] == {"policy": "shop@1.1.0", "outcome": "allow", "rules": ["small"],
                          "text": {"amount": 150}}
    assert report["old"] == [{"name": "shop", "version": "1.0.0", "digest": report["old"][0]["digest"]}]
    assert report["new"][0]["version"] == "1.1.0"


def test_unreplayable_cases_are_counted_and_named(versions, capsys, tmp_path):
    old, new, cases = versions
    extra = tmp_path / "extra.jsonl"
    extra.write_text(json.dumps({"label": "other policy", "policy": "nope", **text("hi")}) + "\n"
                     + json.dumps({"label": "pinned", "policy": "shop@1.0.0", **refund(150)}) + "\n")
    code, out, _ = _run(capsys, "diff", old, new, "--cases", cases, extra)
    assert code == 0
    counts = _counts(out)
    assert counts["not replayable"] == 1
    assert counts["outcome changed"] == COUNTS["outcome changed"] + 1  # the pin names the policy, not a version
    assert "other policy: OLD: unknown policy 'nope'" in out
    assert "pinned" in _listed(out)


def test_policy_option_defaults_and_filters(versions, capsys, tmp_path):
    old, new, cases = versions
    extra = tmp_path / "extra.jsonl"
    extra.write_text(json.dumps({"label": "other", "policy": "nope", **text("hi")}) + "\n")
    code, out, _ = _run(capsys, "diff", old, new, "--cases", cases, extra, "--policy", "shop")
    assert code == 0
    assert _counts(out) == COUNTS
    assert "(1 request(s) for other policies not evaluated)" in out


def _write_log(path: Path, policy_path: Path, entries) -> None:
    engine_log = DecisionLog(path)
    engine = Engine.from_path(policy_path, decision_log=engine_log)
    engine_log.bind(engine)
    for entry in entries:
        engine.check(entry["stage"], entry["request"])
    engine_log.close()
    assert engine_log.stats().written == len(entries)


def test_log_replay(versions, capsys, tmp_path):
    old, new, _ = versions
    log = tmp_path / "decisions.jsonl"
    entries = [entry for entry, _ in CASES.values()]
    entries.append(refund(150, note="for jo, ORD-9"))  # note is not kept: replayed without it
    entries.append({"stage": "retrieval", "request": {"chunks": ["a chunk"]}})  # chunks not kept
    _write_log(log, old, entries)
    code, out, err = _run(capsys, "diff", old, new, "--log", log, "--fail-on-change")
    assert code == 1, err
    counts = _counts(out)
    assert counts == {**COUNTS, "outcome changed": 4, "rules changed": 5, "text changed": 4, "not replayable": 1}
    assert len(_listed(out)) == len(CHANGED) + 1
    assert "(replayed without the masked fields args.note)" in out
    assert re.search(r"decisions\.jsonl:\d+ retrieval shop@1\.0\.0 \(\w+\): 'chunks' was not kept", out)


def test_log_replay_needs_the_stage_input():
    assert unmask("input", {"text": {"$masked": "string", "len": 3}, "context": None})[2] == \
        "'text' was not kept (add it to the policy's log_keep to replay)"
    assert unmask("tool_call", {"tool": "t", "args": {"a": 1, "b": {"$masked": "string", "len": 1}},
                                "principal": {"$masked": "map", "len": 2}, "context": None}) == (
        {"tool": "t", "args": {"a": 1}, "context": None}, ("args.b", "principal"), None)
    assert unmask("retrieval", {"chunks": [{"text": "a"}, {"text": {"$masked": "string", "len": 2}}]})[2] == \
        "the text of chunks[1] was not kept (dropped chunks are never logged)"
    assert unmask("input", {"$masked": "map", "len": 2})[2] == "the whole request was masked"


def test_compare_is_usable_as_a_library(tmp_path):
    old = Engine.from_source(V1, hash_salt=b"s")
    new = Engine.from_source(V2, hash_salt=b"s")
    seen = []
    cases = [Case(label, e["stage"], None, e["request"]) for label, (e, _) in CASES.items()]
    report = compare(old, new, cases, progress=seen.append)
    assert report.counts() == COUNTS
    assert {r.case.label for r in report.changed} == CHANGED
    assert seen == list(range(1, len(CASES) + 1))


def test_progress_goes_to_stderr(versions, capsys, monkeypatch):
    import guardrails.cli.diff as diff

    clock = iter(range(0, 10_000, 2))
    monkeypatch.setattr(diff.time, "monotonic", lambda: next(clock))
    old, new, cases = versions
    code, out, err = _run(capsys, "diff", old, new, "--cases", cases)
    assert code == 0
    assert "guardrails diff: 1/8 requests evaluated" in err
    assert "requests evaluated" not in out


# ---- usage errors: located, exit 2, never a traceback ----------------------


def test_bad_cases_file_is_located(versions, capsys, tmp_path):
    old, new, _ = versions
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(text("hi")) + "\n{not json\n")
    code, _, err = _run(capsys, "diff", old, new, "--cases", bad)
    assert code == 2 and f"{bad}:2:" in err and "invalid JSON" in err
    bad.write_text(json.dumps({"stage": "sideways", "request": {}}) + "\n")
    code, _, err = _run(capsys, "diff", old, new, "--cases", bad)
    assert code == 2 and f"{bad}:1: each line needs" in err
    code, _, err = _run(capsys, "diff", old, new, "--cases", tmp_path / "missing.jsonl")
    assert code == 2 and "cannot read" in err


def test_bad_policies_exit_1_with_located_errors(versions, capsys, tmp_path):
    old, _, cases = versions
    broken = tmp_path / "broken.policy"
    broken.write_text('policy "shop" version "1.1.0"\ninput { rule r: deny when }\n')
    code, _, err = _run(capsys, "diff", old, broken, "--cases", cases)
    assert code == 1
    assert f"{broken}:2:" in err and "NEW" in err and "error(s) in the policies" in err
    code, _, err = _run(capsys, "diff", tmp_path / "nowhere", old, "--cases", cases)
    assert code == 2 and "OLD" in err and "no such file or directory" in err


def test_bad_log_is_located(versions, capsys, tmp_path):
    old, new, _ = versions
    log = tmp_path / "d.jsonl"
    log.write_text('{"type":"header"}\n[1,2]\n')
    code, _, err = _run(capsys, "diff", old, new, "--log", log)
    assert code == 2 and f"{log}:2: not a JSON record (not a JSON object)" in err
    log.write_text('{"type":"header"}\n')
    code, _, err = _run(capsys, "diff", old, new, "--log", log)
    assert code == 2 and "no decision records" in err


def test_subprocess_usage_and_no_traceback(versions):
    old, new, cases = versions
    run = lambda *a: subprocess.run([sys.executable, "-m", "guardrails.cli", *map(str, a)],  # noqa: E731
                                    capture_output=True, text=True)
    proc = run("diff", old, new)
    assert proc.returncode == 2 and "one of the arguments --cases --log is required" in proc.stderr
    proc = run("diff", old, new, "--cases", cases, "--fail-on-change")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert sorted(_listed(proc.stdout)) == sorted(CHANGED)


def test_policies_with_errors_exit_1_as_eval_does(versions, tmp_path):
    old, _new, cases = versions
    (tmp_path / "bad.policy").write_text('policy "p" version "1.0.0"\ninput { rule a: deny "x" when text = "a" }\n')
    for cmd in (["diff", old, tmp_path, "--cases", cases], ["eval", tmp_path, "--stage", "input"]):
        proc = subprocess.run([sys.executable, "-m", "guardrails.cli", *map(str, cmd)], capture_output=True,
                              text=True, input='{"text": "a"}')
        assert proc.returncode == 1, (cmd, proc.stderr)
        assert "error(s) in the policies" in proc.stderr and "Traceback" not in proc.stderr


# ---- the example policy -----------------------------------------------------


def test_support_bot_refund_limit_change(tmp_path, capsys):
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(ROOT / "policies", old)
    shutil.copytree(ROOT / "policies", new)
    src = (new / "support-bot.policy").read_text()
    assert "args.amount <= 100" in src and 'version "1.4.0"' in src
    (new / "support-bot.policy").write_text(
        src.replace("args.amount <= 100", "args.amount <= 200").replace('version "1.4.0"', 'version "1.5.0"'))
    cases = FIXTURES / "support-bot-refunds.jsonl"
    code, out, err = _run(capsys, "diff", old, new, "--cases", ROOT / "examples" / "requests.jsonl", cases,
                          "--format", "json", "--fail-on-change")
    assert code == 1, err
    report = json.loads(out)
    rows = [json.loads(line) for line in cases.read_text().splitlines() if line.strip() and line[0] != "#"]
    expected = {row["label"]: row["changes"] for row in rows if row.get("changes")}
    assert {c["label"]: c["changes"] for c in report["changes"]} == expected
    assert set(expected) == {"refund of 150 by an agent", "refund of 200 by an agent",
                             "refund of 200 with a contact in the note", "refund of 150 by a manager"}
    by_label = {c["label"]: c for c in report["changes"]}
    for label in ("refund of 150 by an agent", "refund of 200 by an agent"):
        c = by_label[label]
        assert (c["old"]["outcome"], c["old"]["rules"]) == ("deny", ["default-deny"])
        assert (c["new"]["outcome"], c["new"]["rules"]) == ("allow", ["small-refunds"])
    note = by_label["refund of 200 with a contact in the note"]
    assert note["new"]["outcome"] == "redact" and note["new"]["text"]["note"] == "refund for <EMAIL_ADDRESS>"
    manager = by_label["refund of 150 by a manager"]
    assert (manager["old"]["rules"], manager["new"]["rules"]) == (["managers"], ["managers", "small-refunds"])
    examples = [line for line in (ROOT / "examples" / "requests.jsonl").read_text().splitlines()
                if line.strip() and line[0] != "#"]
    total = len(examples) + len(rows)
    assert report["counts"] == {"outcome changed": 3, "rules changed": 4, "text changed": 3,
                                "unchanged": total - 4, "not replayable": 0}


SUPPORT_TESTS = """\
policy: support-bot
version: "1.4.0"   # a pin in a test file is ignored by diff: NEW holds 1.5.0
cases:
  - name: a legal threat escalates
    stage: input
    text: "I will talk to someone about this"
    with: {topic: {legal: 0.9}}
    expect: {outcome: escalate, route: human_review}
  - name: a small refund
    stage: tool_call
    tool: issue_refund
    args: {order_id: ORD-12345678, amount: 50}
    principal: {role: agent}
    expect: allow
  - name: a mid refund
    stage: tool_call
    tool: issue_refund
    args: {order_id: ORD-12345678, amount: 150}
    principal: {role: agent}
    expect: deny
"""


def test_policy_test_files_as_cases(tmp_path, capsys):
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(ROOT / "policies", old)
    shutil.copytree(ROOT / "policies", new)
    src = (new / "support-bot.policy").read_text()
    assert "topic(legal) >= 0.7" in src
    (new / "support-bot.policy").write_text(
        src.replace("args.amount <= 100", "args.amount <= 200").replace("topic(legal) >= 0.7", "topic(legal) >= 0.95")
        .replace('version "1.4.0"', 'version "1.5.0"'))
    tests = tmp_path / "support.tests.yaml"
    tests.write_text(SUPPORT_TESTS)
    code, out, err = _run(capsys, "diff", old, new, "--cases", tests, "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    changes = {c["label"]: c for c in report["changes"]}
    # The fixed topic score (0.9) reaches both sides: OLD escalates, NEW (threshold 0.95) does not.
    legal = changes[f"{tests}:4 a legal threat escalates"]
    assert (legal["old"]["outcome"], legal["new"]["outcome"]) == ("escalate", "allow")
    assert set(changes) == {f"{tests}:4 a legal threat escalates", f"{tests}:15 a mid refund"}
    assert report["counts"]["unchanged"] == 1

    bad = tmp_path / "bad.tests.yaml"
    bad.write_text("policy: support-bot\ncases:\n  - name: x\n    stage: sideways\n    expect: allow\n")
    code, _, err = _run(capsys, "diff", old, new, "--cases", bad)
    assert code == 2 and f"{bad}:4:12: error[T104]" in err and "1 error(s) in the test file" in err


# ---- agents: tool results, step cases, sessions replayed from a log -------------

AGENT_OLD = """policy "agent" version "1.0.0"
label untrusted "content from the web"
limit refunds = 1 per "1m" by principal.id
tool_result {
  rule web: label untrusted when tool == "web_fetch"
  rule drop: deny "dropped" when text contains "DROP"
}
tool_call {
  rule known: allow when tool in ["web_fetch", "send_email", "refund"]
  rule exfil: deny "mail after the web" when tool == "send_email" and labelled(untrusted, within="10m")
  rule quota: deny "refund limit" when tool == "refund" and over(refunds)
}
"""
# NEW: the web window shrinks to 1m, a result that says DROP is only
# escalated, and two refunds a minute are allowed.
AGENT_NEW = (AGENT_OLD.replace('"1.0.0"', '"1.1.0"').replace('within="10m"', 'within="1m"')
             .replace('rule drop: deny "dropped"', 'rule drop: escalate to review "dropped"')
             .replace("limit refunds = 1", "limit refunds = 2"))
AGENT_TESTS = """\
policy: agent
cases:
  - name: mail two minutes after the web
    principal: {id: u1}
    steps:
      - {stage: tool_result, tool: web_fetch, result: "a page", expect: {outcome: allow, labels: [untrusted]}}
      - {stage: tool_call, tool: send_email, after: "2m", expect: deny}
      - {stage: tool_call, tool: refund, expect: allow}
  - name: a refund, the principal's first in this case
    principal: {id: u1}
    steps:
      - {stage: tool_call, tool: refund, at: 121, expect: allow}
  - name: a result that says DROP
    stage: tool_result
    tool: files
    result: {rows: ["DROP table"]}
    expect: {outcome: deny, result: null}
  - name: the policy itself has no errors
    source: |
      policy "t" version "1.0.0"
      input { rule a: deny "x" when text contains "x" }
    expect: {errors: []}
"""


@pytest.fixture()
def agent_versions(tmp_path):
    old, new = tmp_path / "old" / "agent.policy", tmp_path / "new" / "agent.policy"
    for path, text in ((old, AGENT_OLD), (new, AGENT_NEW)):
        path.parent.mkdir()
        path.write_text(text)
    return old, new


def test_step_cases_and_tool_results_of_a_test_file_are_replayed_step_by_step(agent_versions, tmp_path, capsys):
    old, new = agent_versions
    tests = tmp_path / "agent.tests.yaml"
    tests.write_text(AGENT_TESTS)
    code, out, err = _run(capsys, "diff", old, new, "--cases", tests, "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["requests"] == 5  # three steps, a step, a single case; the static case is no request
    changes = {c["label"]: (c["old"]["outcome"], c["new"]["outcome"]) for c in report["changes"]}
    # The second refund case starts on fresh state: were the first case's refund still counted, OLD
    # (one a minute) would deny it and NEW (two) allow it.
    assert changes == {
        f"{tests}:7 mail two minutes after the web steps[1]": ("deny", "allow"),  # out of NEW's 1m window
        f"{tests}:13 a result that says DROP": ("deny", "escalate"),
    }
    # (the DROP rule keeps its id, so only the outcome and the forwarded result change there)
    assert report["counts"] == {"outcome changed": 2, "rules changed": 1, "text changed": 2, "unchanged": 3,
                                "not replayable": 0}


def test_a_logged_tool_result_replays_when_kept_and_its_session_at_its_time(agent_versions, tmp_path):
    from guardrails.authoring.impact import cases_from_log

    old, new = agent_versions
    log = tmp_path / "d.jsonl"
    import time

    before = time.time()
    with DecisionLog(log, keep={"agent": ["tool", "result", "args", "principal", "session"]}) as sink:
        engine = Engine.from_path(old, decision_log=sink)
        engine.check_tool_result("web_fetch", {"body": "a page"}, session="run-1")
        engine.check_tool_call("send_email", {"to": "x"}, session="run-1")
        engine.check_tool_result("files", "keep it", session="run-1")
        engine.check_tool_result("files", "DROP it", session="run-1")  # denied: nothing forwarded, nothing kept
    after = time.time()
    cases = cases_from_log(str(log))
    replayable, dropped = cases[:3], cases[3]
    assert [c.request["session"] for c in replayable] == ["run-1"] * 3
    assert all(before <= c.request["at"] <= after for c in replayable)
    assert replayable[0].request["result"] == {"body": "a page"} and replayable[2].request["result"] == "keep it"
    assert dropped.problem == ("'result' was not kept (add it to the policy's log_keep to replay; "
                               "a denied result is never logged)")
    report = compare(Engine.from_path(old), Engine.from_path(new), cases)
    # Replayed in order on each side, at the logged times: the send follows the page on both.
    assert [(r.old.outcome, r.new.outcome) for r in report.results[:3]] == [
        ("allow", "allow"), ("deny", "deny"), ("allow", "allow")]
    assert report.results[3].problem == dropped.problem


def test_unmask_needs_a_tool_results_tool_and_result():
    assert unmask("tool_result", {"tool": "t", "result": {"$masked": "map", "len": 1}})[2] == \
        "'result' was not kept (add it to the policy's log_keep to replay; a denied result is never logged)"
    assert unmask("tool_result", {"tool": "t", "result": {"a": 1, "b": {"$masked": "string", "len": 2}},
                                  "session": {"$masked": "string", "len": 5}}) == (
        {"tool": "t", "result": {"a": 1}}, ("result.b", "session"), None)
