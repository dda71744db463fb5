"""Schemas end to end (docs/schema.md): `check --strict` and the Cedar-style
example set run as the CLI (real subprocesses), and the run-time check of
requests in every stage, through the engine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from guardrails import Engine
from guardrails.diagnostics import RuntimeCode

ROOT = Path(__file__).resolve().parent.parent
CEDAR = ROOT / "examples" / "cedar-style"


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "guardrails.cli", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=300)


def test_the_cedar_style_set_passes_check_strict_and_its_tests_with_full_coverage():
    checked = _cli("check", "--strict", str(CEDAR))
    assert checked.returncode == 0, checked.stderr
    assert "agent-platform 1.0.0" in checked.stdout
    tested = _cli("test", str(CEDAR), "--coverage", "--min-coverage", "100", "--min-branch-coverage", "100")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "16 passed, 0 failed" in tested.stdout
    assert _cli("fmt", "--check", str(CEDAR)).returncode == 0


def test_the_cedar_style_set_is_not_flattened():
    text = (CEDAR / "agent-platform.policy").read_text(encoding="utf-8")
    assert "tools operator = [analyst," in text and "tools analyst = [readonly," in text
    assert "tool.owner == principal.team" in text and text.count(" unless ") >= 2


def test_strict_asks_for_a_schema_for_every_tool_and_value_read(tmp_path):
    (tmp_path / "p.policy").write_text(
        'policy "p" version "1.0.0"\n'
        'tool refund(order_id: string, amount: number)\n'
        'tools money = ["refund", "void_charge"]\n'
        'tool_call {\n'
        '  rule r: allow when tool in money and principal.role == "finance"\n'
        '  rule l: allow when tool == "lookup"\n'
        '}\n', encoding="utf-8")
    plain = _cli("check", str(tmp_path))
    assert plain.returncode == 0, plain.stderr
    strict = _cli("check", "--strict", "--format", "json", str(tmp_path))
    assert strict.returncode == 1
    found = {(d["code"], d["line"], d["col"], d["message"])
             for d in json.loads(strict.stdout)["diagnostics"]}
    assert ("E111", 3, 26, "tool 'void_charge' has no schema") in found
    assert ("E111", 5, 40, "principal has no schema") in found
    assert ("E111", 6, 30, "tool 'lookup' has no schema") in found
    assert len(found) == 3


def test_strict_suggests_a_declared_tool_for_a_misspelt_one(tmp_path):
    (tmp_path / "p.policy").write_text(
        'policy "p" version "1.0.0"\ntool refund(order_id: string)\n'
        'tool_call { rule r: allow when tool == "refnud" }\n', encoding="utf-8")
    strict = _cli("check", "--strict", str(tmp_path))
    assert strict.returncode == 1
    assert "error[E111]: tool 'refnud' has no schema" in strict.stderr
    assert "did you mean 'refund'?" in strict.stderr


SCHEMA = '''policy "s" version "1.0.0"
config { tool_default = "allow" }
tool lookup(order_id: string, fields?: list["status" | "eta"])
principal { id: string, ... }
context { tenant: string, tier?: "free" | "pro" }
metadata { source: "wiki" | "crm", page?: integer }
input { rule free: warn "free tier" when context has tier and context.tier == "free" }
retrieval { rule crm: warn "crm" when metadata.source == "crm" }
tool_result { rule r: warn "seen" when tool == "lookup" }
'''


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_source(SCHEMA, warm_up=False)


def _refusal(d) -> str:
    assert d.denied and d.rule_ids == ["request"], d
    assert d.request_error is not None and d.request_error.code == RuntimeCode.SCHEMA_VIOLATION
    return d.request_error.message


def test_text_stages_check_the_context(engine):
    assert engine.check_input("hi", context={"tenant": "acme", "tier": "free"}).rule_ids == ["free"]
    msg = _refusal(engine.check_input("hi", context={"tier": "free"}))
    assert msg == "context lacks the required field 'tenant'"
    msg = _refusal(engine.check_output("hi", context={"tenant": "acme", "tier": "gold"}))
    assert msg.startswith("context.tier is a string outside its enum")


def test_retrieval_checks_each_chunks_metadata(engine):
    ctx = {"tenant": "acme"}
    ok = engine.check_retrieval([{"text": "a", "metadata": {"source": "crm", "page": 3}}], context=ctx)
    assert not ok.denied and ok.violations[0].rule == "crm"
    msg = _refusal(engine.check_retrieval(
        [{"text": "a", "metadata": {"source": "wiki"}}, {"text": "b", "metadata": {"source": "crm", "page": 2.5}}],
        context=ctx))
    assert msg == "chunks[1].metadata.page is a number; expected integer"


def test_tool_calls_and_results_check_their_arguments(engine):
    p, ctx = {"id": "u1", "team": "x"}, {"tenant": "acme"}
    assert engine.check_tool_call("lookup", {"order_id": "A1", "fields": ["eta"]}, principal=p,
                                  context=ctx).outcome.value == "allow"
    msg = _refusal(engine.check_tool_call("lookup", {"order_id": "A1", "fields": ["eta", "price"]},
                                          principal=p, context=ctx))
    assert msg == "tool 'lookup': args.fields[1] is a string outside its enum; expected one of \"status\" | \"eta\""
    msg = _refusal(engine.check_tool_result("lookup", {"status": "ok"}, args={"order": "A1"}, principal=p,
                                            context=ctx))
    assert msg == "tool 'lookup': args has an unknown argument 'order' (did you mean 'order_id'?)"
    # A tool the schema does not declare is left to tool_default.
    assert engine.check_tool_call("other", {"anything": 1}, principal=p, context=ctx).outcome.value == "allow"


def test_the_refusal_never_carries_the_value(engine):
    secret = "4111 1111 1111 1111"
    d = engine.check_tool_call("lookup", {"order_id": 12, "fields": [secret]}, principal={"id": "u"},
                               context={"tenant": "t"})
    assert _refusal(d) == "tool 'lookup': args.order_id is a number; expected string"
    d = engine.check_tool_call("lookup", {"order_id": "A1", "fields": [secret]}, principal={"id": "u"},
                               context={"tenant": "t"})
    assert secret not in d.model_dump_json() and "1111" not in _refusal(d)


def test_a_policy_without_a_schema_checks_no_request():
    e = Engine.from_source('policy "n" version "1.0.0"\ntool_call { rule a: allow when tool == "t" }\n',
                           warm_up=False)
    assert e.check_tool_call("t", {"x": {"y": [1, None]}}).outcome.value == "allow"
