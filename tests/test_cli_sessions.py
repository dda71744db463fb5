"""`guardrails eval` for agents, run as a subprocess: the tool_result stage,
requests that name a session and a time, `--batch` replaying session steps in
order, and `--state` sharing state between runs through a real redis-server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from redis_server import redis_server  # noqa: E402,F401,F811  (a fixture)

ROOT = Path(__file__).resolve().parent.parent

AGENT = """\
policy "agent" version "1.0.0"
label untrusted "content from the web"
limit refunds = 2 per "1m" by principal.id
terms secret_words = ["hunter2"]

tool_result {
  rule web: label untrusted when tool == "web_fetch"
  rule hide: redact terms secret_words using mask("*")
  rule drop: deny "the result says DROP" when text contains "DROP"
}

tool_call {
  rule known: allow when tool in ["web_fetch", "send_email", "refund"]
  rule exfil: deny "mail out after web content" when tool == "send_email" and labelled(untrusted, within="10m")
  rule quota: deny "refund limit" when tool == "refund" and over(refunds)
}
"""


def guardrails(*args, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "GUARDRAILS_HASH_SALT"}
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "guardrails.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, input=stdin, env=full_env,
                          stdin=None if stdin is not None else subprocess.DEVNULL)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return proc


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "agent.policy"
    path.write_text(AGENT)
    return path


def batch(tmp_path: Path, lines: list[dict], name: str = "steps.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def step(stage: str, session: str | None = None, at: float | None = None, **request) -> dict:
    if session is not None:
        request["session"] = session
    if at is not None:
        request["at"] = at
    return {"stage": stage, "request": request}


def test_eval_help_names_the_tool_result_stage_sessions_and_the_state_option():
    out = guardrails("eval", "--help").stdout
    assert "tool_result" in out and '"result"' in out
    assert '"session"' in out and '"at"' in out
    assert "--state URL" in out and "redis://HOST:PORT/DB" in out
    assert "replayed in order" in out


def test_eval_checks_a_tool_result_from_stdin(policy):
    req = {"tool": "web_fetch", "result": {"items": ["the password is hunter2", 3]}, "session": "run-1"}
    p = guardrails("eval", policy, "--stage", "tool_result", stdin=json.dumps(req))
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0].startswith("tool_result -> REDACT  (agent 1.0.0, ")
    assert "  labels:  untrusted\n" in p.stdout
    assert '  forward: {"items": ["the password is *******", 3]}\n' in p.stdout
    p = guardrails("eval", policy, "--stage", "tool_result", "--format", "json",
                   stdin=json.dumps({"tool": "files", "result": "DROP it"}))
    d = json.loads(p.stdout)
    assert (d["stage"], d["outcome"], d.get("text"), d["labels"]) == ("tool_result", "deny", None, [])
    assert d["violations"][0]["rule"] == "drop"


def test_a_request_names_its_session_and_time_and_a_bad_one_is_refused_not_crashed(policy):
    p = guardrails("eval", policy, "--stage", "tool_call", "--format", "json",
                   stdin=json.dumps({"tool": "refund", "principal": {"id": "u1"}, "session": "s-1", "at": 1e9}))
    d = json.loads(p.stdout)
    assert (d["outcome"], d["session"]) == ("allow", "s-1")
    p = guardrails("eval", policy, "--stage", "tool_call", "--format", "json",
                   stdin=json.dumps({"tool": "refund", "principal": {"id": "u1"}, "session": 42}))
    assert p.returncode == 0
    d = json.loads(p.stdout)
    assert d["outcome"] == "deny" and [e["code"] for e in d["errors"]] == ["invalid-request"]


def test_batch_replays_session_steps_in_order(tmp_path, policy):
    steps = batch(tmp_path, [
        step("tool_call", "r1", 1000, tool="web_fetch", args={"url": "https://x"}),
        step("tool_result", "r1", 1001, tool="web_fetch", result="the page"),
        step("tool_call", "r1", 1030, tool="send_email", args={"to": "a@ext.com"}),  # within 10m of the page
        step("tool_call", "r2", 1030, tool="send_email", args={"to": "a@ext.com"}),  # another run
        step("tool_call", "r1", 1700, tool="send_email", args={"to": "a@ext.com"}),  # the window has passed
        step("tool_call", None, 2000, tool="refund", principal={"id": "u1"}),
        step("tool_call", "r3", 2001, tool="refund", principal={"id": "u1"}),
        step("tool_call", "r4", 2002, tool="refund", principal={"id": "u1"}),  # a third refund within 1m
    ])
    p = guardrails("eval", policy, "--batch", steps, "--format", "json")
    assert p.returncode == 0, p.stderr
    decisions = [json.loads(line) for line in p.stdout.splitlines()]
    assert [d["outcome"] for d in decisions] == ["allow", "allow", "deny", "allow", "allow", "allow", "allow",
                                                 "deny"]
    assert decisions[1]["labels"] == ["untrusted"]
    assert [d["violations"][0]["rule"] for d in decisions if d["outcome"] == "deny"] == ["exfil", "quota"]
    assert [d.get("session") for d in decisions] == ["r1", "r1", "r1", "r2", "r1", None, "r3", "r4"]
    text = guardrails("eval", policy, "--batch", steps)
    blocks = text.stdout.split("== ")[1:]
    assert len(blocks) == 8 and blocks[0].startswith(f"{steps}:1 tool_call\n")
    assert "labels:  untrusted" in blocks[1] and "deny     exfil" in blocks[2]
    assert guardrails("eval", policy, "--batch", steps, "--fail-on-deny").returncode == 1


def test_a_bad_state_url_is_bad_usage_and_redis_needs_a_shared_key(policy):
    p = guardrails("eval", policy, "--stage", "tool_call", "--state", "mysql://db/1", stdin='{"tool": "refund"}')
    assert p.returncode == 2
    assert "--state: session store URL 'mysql://db/1' is not one of" in p.stderr
    p = guardrails("eval", policy, "--stage", "tool_call", "--state", "redis://127.0.0.1:1/0",
                   stdin='{"tool": "refund"}')
    assert p.returncode == 1 and "GUARDRAILS_HASH_SALT" in p.stderr


def test_two_runs_share_sessions_and_limits_through_redis(tmp_path, policy, redis_server):
    env = {"GUARDRAILS_HASH_SALT": "shared-secret"}
    state = ("--state", redis_server.url)
    session = f"run-{os.getpid()}-{tmp_path.name}"
    first = batch(tmp_path, [
        step("tool_result", session, None, tool="web_fetch", result="a page"),
        step("tool_call", session, None, tool="refund", principal={"id": session}),
        step("tool_call", session, None, tool="refund", principal={"id": session}),
    ], "first.jsonl")
    p = guardrails("eval", policy, "--batch", first, "--format", "json", *state, env=env)
    assert p.returncode == 0, p.stderr
    assert [json.loads(line)["outcome"] for line in p.stdout.splitlines()] == ["allow", "allow", "allow"]
    # A second process, the same store: the label and the limit count carry over.
    second = batch(tmp_path, [
        step("tool_call", session, None, tool="send_email", args={"to": "a@ext.com"}),
        step("tool_call", "another-run", None, tool="refund", principal={"id": session}),
    ], "second.jsonl")
    p = guardrails("eval", policy, "--batch", second, "--format", "json", *state, env=env)
    decisions = [json.loads(line) for line in p.stdout.splitlines()]
    assert [(d["outcome"], d["violations"][0]["rule"]) for d in decisions] == [("deny", "exfil"), ("deny", "quota")]
    # In memory (the default) a new process starts empty.
    p = guardrails("eval", policy, "--batch", second, "--format", "json")
    assert [json.loads(line)["outcome"] for line in p.stdout.splitlines()] == ["allow", "allow"]


def test_an_unreachable_redis_fails_closed_with_a_clear_error(tmp_path, policy):
    from redis_server import free_port

    steps = batch(tmp_path, [step("tool_call", "r1", None, tool="send_email", args={"to": "x"})])
    p = guardrails("eval", policy, "--batch", steps, "--format", "json",
                   "--state", f"redis://127.0.0.1:{free_port()}/0", env={"GUARDRAILS_HASH_SALT": "k"})
    assert p.returncode == 0, p.stderr
    (d,) = [json.loads(line) for line in p.stdout.splitlines()]
    assert d["outcome"] == "deny" and "state-unavailable" in [e["code"] for e in d["errors"]]


def test_graph_draws_tool_result_and_label_rules(policy):
    for fmt in ("dot", "mermaid"):
        p = guardrails("graph", policy, "--format", fmt)
        assert p.returncode == 0, p.stderr
        assert "tool_result request" in p.stdout and "label" in p.stdout
    dot = guardrails("graph", policy).stdout
    assert 'tool_result_rule_web [label="web\\nlabel' in dot and 'fillcolor="#e0f2f1"' in dot
