"""A Node client (@grpc/grpc-js + @grpc/proto-loader) gets the same decisions
as the in-process engine: the proto works for services in other languages.

Setup, once (the test skips, saying so, without it):  cd tests/node && npm ci
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from guardrails import Engine
from guardrails.decision import Decision
from guardrails.sidecar import ServerConfig, SidecarServer
from guardrails.testing import TEST_HASH_SALT, load_tests

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "tests" / "node"
POLICIES = ROOT / "policies"

NODE = shutil.which("node")
pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed: the Node client check needs Node.js 18+"),
    pytest.mark.skipif(not (NODE_DIR / "node_modules" / "@grpc" / "grpc-js").is_dir(),
                       reason="tests/node/node_modules is missing: run `cd tests/node && npm ci` once"),
]


# The sidecar keeps one in-memory store for the whole run: each step case
# (an agent run) is replayed this much later than the one before, so no window
# or rate-limit count of an earlier case reaches it; in process, the engine
# resets its state before each case instead.
STEP_CASE_SPACING = 30 * 86400.0


def requests() -> list[dict]:
    out = []
    runs = 0
    for f in sorted(POLICIES.glob("*.tests.yaml")):
        t = load_tests(f)
        for case in t.cases:
            if not getattr(case, "steps", None):
                out.append({"label": f"{t.policy}: {case.name}", "stage": case.stage, "policy": t.policy,
                            "request": case.request})
                continue
            runs += 1
            for step in case.steps:
                shifted = dict(step.request)
                if shifted.get("at"):
                    shifted["at"] += runs * STEP_CASE_SPACING
                out.append({"label": f"{t.policy}: {case.name}: steps[{step.index}]", "stage": step.stage,
                            "policy": t.policy, "request": shifted, "local": step.request,
                            "first_step": step.index == 0})
    # text where code points, UTF-16 code units and UTF-8 bytes all differ
    out.append({"label": "unicode", "stage": "input", "policy": "support-bot", "request": {"text": UNICODE}})
    # arguments 64 levels deep, the engine's limit (past protobuf's own parser limit of about 33)
    deep: object = "x"
    for _ in range(63):
        deep = {"a": deep}
    out.append({"label": "deep args", "stage": "tool_call", "policy": "support-bot",
                "request": {"tool": "lookup_order", "args": {"order_id": "ORD-12345678", "extra": deep}}})
    # and what only a sidecar can refuse
    out.append({"label": "unknown policy", "stage": "input", "policy": "nope", "request": {"text": "hi"}})
    out.append({"label": "unknown version", "stage": "input", "policy": "support-bot@9.9.9",
                "request": {"text": "hi"}})
    out.append({"label": "no tool", "stage": "tool_call", "policy": "support-bot", "request": {"tool": ""}})
    return out


UNICODE = "Ünïcödé ✓ 😀 write to émilie@example.fr"
REFUSED = {  # label -> (code, ErrorInfo reason, ErrorInfo metadata)
    "unknown policy": ("NOT_FOUND", "POLICY_NOT_FOUND", {"policy": "nope"}),
    "unknown version": ("NOT_FOUND", "VERSION_NOT_FOUND", {"policy": "support-bot"}),
    "no tool": ("INVALID_ARGUMENT", "INVALID_REQUEST", {"field": "tool"}),
}


def canonical(d: Decision) -> str:
    return json.dumps(d.model_dump(mode="json", exclude={"decision_id", "elapsed_us", "trace"}), sort_keys=True)


def test_node_client_gets_the_engines_decisions():
    reqs = requests()
    engine = Engine.from_path(POLICIES, hash_salt=TEST_HASH_SALT)
    with SidecarServer(ServerConfig(policies=POLICIES, listen="127.0.0.1:0", hash_salt=TEST_HASH_SALT,
                                    watch=False)) as s:
        run = subprocess.run([NODE, str(NODE_DIR / "client.js"), f"127.0.0.1:{s.port}"], input=json.dumps(reqs),
                             capture_output=True, text=True, timeout=120, cwd=NODE_DIR)
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(lines) == len(reqs) + 1
    compared = sliced = 0
    for item, line in zip(reqs, lines):
        assert line["label"] == item["label"]
        if item["label"] in REFUSED:
            err = line["error"]
            assert (err["code"], err["reason"], err["metadata"]) == REFUSED[item["label"]], err
            assert err["retry_after"] is None  # none of these is worth retrying
            continue
        assert "decision" in line, line
        text = item["request"].get("text")
        if isinstance(text, str):  # JavaScript's slice() with the UTF-16 offsets cuts what Python's indices do
            expected = [text[sp.start:sp.end] for v in engine.check(item["stage"], item["request"],
                                                                     policy=item["policy"]).violations
                        for sp in v.spans if sp.field is None]
            assert line["slices"] == expected, item["label"]
            sliced += len(expected)
        from_node = Decision.model_validate({**line["decision"], "elapsed_us": 0})
        if item.get("first_step"):
            engine.reset_state()
        local = engine.check(item["stage"], item.get("local", item["request"]), policy=item["policy"])
        assert canonical(from_node) == canonical(local), item["label"]
        compared += 1
    assert compared >= 90 and sliced >= 5
    unicode = next(line for line in lines if line["label"] == "unicode")
    assert "émilie@example.fr" in unicode["slices"]
    assert sorted(lines[-1]["policies"]) == sorted(f"{p.name}@{p.version}" for p in engine.policies)
