"""The decision log: record contents, masking, the hash chain, crash recovery,
and that logging can never fail or block a decision."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from guardrails import Engine, Outcome
from guardrails.cli import main
from guardrails.decision_log import (
    GENESIS,
    DecisionLog,
    canonical,
    read_log,
    record_hash,
    verify_log,
)
from guardrails.engine import load_sources
from guardrails.resolve import parse_source

KEEP_ALL = '["text", "chunks", "tool", "args", "principal", "context"]'
ENTITIES = "EMAIL_ADDRESS, CREDIT_CARD, US_SSN, PHONE_NUMBER"

# Two policies that keep every request field: one only *detects* PII (so the
# forwarded text still holds it and only the belt-and-braces check stands
# between it and the log), one redacts it.
LEAKY = f"""policy "leaky" version "1.0.0"
config {{ log_keep = {KEEP_ALL} }}
input {{ rule see: warn "pii" when pii({ENTITIES}) }}
output {{ rule see-out: escalate to review when pii({ENTITIES}) }}
retrieval {{ rule see-chunk: warn "pii" when pii({ENTITIES}) }}
tool_call {{
  rule any: allow when tool == "send"
  rule see-args: warn "pii" when pii({ENTITIES})
}}
tool_result {{ rule see-result: warn "pii" when pii({ENTITIES}) }}
"""
REDACTING = f"""policy "redacting" version "1.0.0"
config {{ log_keep = {KEEP_ALL} }}
input {{
  rule contact: redact [EMAIL_ADDRESS, PHONE_NUMBER] using replace("<{{entity}}>")
  rule card: redact [CREDIT_CARD] using mask("*")
  rule ssn: redact [US_SSN] using hash()
}}
output {{ rule all-out: redact [{ENTITIES}] using remove() }}
retrieval {{ rule all-chunks: redact [{ENTITIES}] }}
tool_call {{
  rule any: allow when tool == "send"
  rule args: redact [{ENTITIES}]
}}
tool_result {{ rule result: redact [{ENTITIES}] using replace("<{{entity}}>") }}
"""
# log_keep cannot name the tool_result and session fields in a policy yet
# (guardrails/checker.py's LOG_KEEP_ROOTS): tests that keep them pass a mapping.
KEEP_EVERY = ["text", "chunks", "tool", "args", "result", "principal", "context", "session"]
SHOP = """policy "shop" version "1.0.0"
config { log_keep = ["tool", "args.amount", "principal.role", "text"] }
input {
  rule contact: redact [EMAIL_ADDRESS] using replace("<{entity}>")
  rule rude: deny "no" when text matches /darn/
}
tool_call {
  rule small: allow when tool == "refund" and args.amount <= 100
  rule note: redact [EMAIL_ADDRESS] when tool == "refund"
}
retrieval { rule chunk-mail: redact [EMAIL_ADDRESS] }
"""
PLAIN = """policy "plain" version "2.0.0"
config { log_keep = ["tool", "args.amount"] }
tool_call { rule small: allow when tool == "refund" and args.amount <= 100 }
"""


def _policies(*texts: str):
    from guardrails.diagnostics import Diagnostics

    diags = Diagnostics()
    result = load_sources([parse_source(t, f"<p{i}>", diags) for i, t in enumerate(texts)], diags=diags)
    assert result.ok, result.diagnostics
    return result.policies


_CACHE: dict = {}


def _engine_policies(name: str, *texts: str):
    if name not in _CACHE:
        _CACHE[name] = _policies(*texts)
    return _CACHE[name]


def _records(path) -> list[dict]:
    return [rec for _, rec in read_log(path) if rec.get("type") == "decision"]


class Tee:
    """A sink that remembers every (decision, request) and passes it on."""

    def __init__(self, log: DecisionLog):
        self.log = log
        self.seen: list = []

    def write(self, decision, request) -> None:
        self.seen.append((decision, request))
        self.log.write(decision, request)


# ---- record contents -------------------------------------------------------


@pytest.fixture(scope="module")
def shop_policies():
    return _engine_policies("shop", SHOP)


def test_records_have_every_field(tmp_path, shop_policies):
    path = tmp_path / "d.jsonl"
    with DecisionLog(path, keep=shop_policies) as log:
        e = Engine(shop_policies, hash_salt=b"k", decision_log=log)
        d1 = e.check_input("write to jo@example.com please", context={"user_id": "u-1"})
        d2 = e.check_tool_call("refund", {"amount": 40, "note": "for jo@example.com", "order": "ORD-1"},
                               principal={"role": "agent", "name": "Bob"})
        d3 = e.check_tool_call("refund", {"amount": 400, "note": "jo@example.com"}, principal={"role": "agent"})
    assert log.stats().written == 3 and log.stats().dropped == 0
    header, *_ = [rec for _, rec in read_log(path)]
    assert header["type"] == "header" and header["seq"] == 0 and header["prev"] == GENESIS
    r1, r2, r3 = _records(path)

    for rec, d in ((r1, d1), (r2, d2), (r3, d3)):
        assert set(rec) >= {"type", "seq", "prev", "hash", "decision_id", "timestamp", "stage", "policy",
                            "outcome", "rules", "route", "spans", "errors", "elapsed_us", "keep", "request"}
        assert rec["decision_id"] == d.decision_id
        assert rec["timestamp"].endswith("Z")
        assert rec["policy"] == {"name": "shop", "version": "1.0.0", "digest": d.policy.digest}
        assert rec["outcome"] == d.outcome.value
        assert rec["elapsed_us"] == d.elapsed_us
        assert rec["keep"] == ["tool", "args.amount", "principal.role", "text"]

    # input: "text" keeps the forwarded (redacted) text; context is masked.
    assert r1["stage"] == "input" and r1["rules"] == ["contact"]
    assert r1["spans"] == [{"rule": "contact", "entity": "EMAIL_ADDRESS", "start": 9, "end": 23}]
    assert r1["request"] == {"text": "write to <EMAIL_ADDRESS> please", "context": {"$masked": "map", "len": 1}}
    # tool call: kept args are the forwarded ones; everything else is a marker.
    assert r2["request"] == {
        "tool": "refund",
        "args": {"amount": 40, "note": {"$masked": "string", "len": 18}, "order": {"$masked": "string", "len": 5}},
        "principal": {"role": "agent", "name": {"$masked": "string", "len": 3}},
        "context": None,
    }
    assert r2["spans"] == [{"rule": "note", "entity": "EMAIL_ADDRESS", "start": 4, "end": 18, "field": "args.note"}]
    # a deny forwards nothing: numbers survive, strings were never redacted so stay masked.
    assert r3["outcome"] == "deny" and r3["rules"] == ["default-deny"]
    assert r3["request"]["args"] == {"amount": 400, "note": {"$masked": "string", "len": 14}}
    assert [r["seq"] for r in (r1, r2, r3)] == [1, 2, 3]
    assert verify_log(path).ok


def test_keeping_a_redacted_argument_keeps_its_forwarded_value(tmp_path):
    pol = _policies(SHOP.replace('"args.amount"', '"args.amount", "args.note"'))
    with DecisionLog(tmp_path / "d.jsonl", keep=pol) as log:
        Engine(pol, decision_log=log).check_tool_call("refund", {"amount": 1, "note": "to jo@example.com"})
    (rec,) = _records(tmp_path / "d.jsonl")
    assert rec["request"]["args"]["note"] == "to <EMAIL_ADDRESS>"


def test_denied_text_is_masked_even_when_kept(tmp_path, shop_policies):
    with DecisionLog(tmp_path / "d.jsonl", keep=shop_policies) as log:
        d = Engine(shop_policies, decision_log=log).check_input("darn it, jo@example.com")
    assert d.outcome is Outcome.DENY
    (rec,) = _records(tmp_path / "d.jsonl")
    assert rec["request"]["text"] == {"$masked": "string", "len": 23}
    assert rec["rules"] == ["rude"]


def test_retrieval_keeps_forwarded_chunks_only(tmp_path):
    pol = _policies(SHOP.replace('"text" ]', '"text", "chunks"]').replace('"text"]', '"text", "chunks"]'))
    with DecisionLog(tmp_path / "d.jsonl", keep=pol) as log:
        Engine(pol, decision_log=log).check_retrieval(
            [{"text": "ask jo@example.com", "metadata": {"c": "kb"}}, "plain"], context={"x": 1})
    (rec,) = _records(tmp_path / "d.jsonl")
    assert rec["request"]["chunks"] == [{"text": "ask <EMAIL_ADDRESS>", "metadata": {"c": "kb"}}, "plain"]
    assert rec["chunks"] == ["redact", "allow"]
    assert rec["spans"][0]["field"] == "chunks[0]"


def test_without_keep_everything_is_masked_until_bound(tmp_path, shop_policies):
    path = tmp_path / "d.jsonl"
    log = DecisionLog(path)
    e = Engine(shop_policies, decision_log=log)
    e.check_tool_call("refund", {"amount": 5}, principal={"role": "agent"})
    log.flush()
    log.bind(e)
    e.check_tool_call("refund", {"amount": 5}, principal={"role": "agent"})
    log.close()
    before, after = _records(path)
    assert before["request"]["tool"] == {"$masked": "string", "len": 6}
    assert before["request"]["args"] == {"$masked": "map", "len": 1}
    assert before["keep"] == []
    assert after["request"]["tool"] == "refund" and after["request"]["args"] == {"amount": 5}


def test_keep_as_mapping_or_callable(tmp_path, shop_policies):
    e_args = ("refund", {"amount": 5, "note": "x"})
    for keep in ({"shop": ["args"]}, {"shop@1.0.0": ["args"]}, lambda name, version: ["args"]):
        path = tmp_path / f"{id(keep)}.jsonl"
        with DecisionLog(path, keep=keep) as log:
            Engine(shop_policies, decision_log=log).check_tool_call(*e_args)
        (rec,) = _records(path)
        assert rec["request"]["args"] == {"amount": 5, "note": "x"}
        assert rec["request"]["tool"] == {"$masked": "string", "len": 6}


def test_markers_carry_an_hmac_only_with_a_key(tmp_path, shop_policies, monkeypatch):
    monkeypatch.delenv("GUARDRAILS_LOG_KEY", raising=False)
    with DecisionLog(tmp_path / "a.jsonl", keep=shop_policies) as log:
        Engine(shop_policies, decision_log=log).check_tool_call("refund", {"amount": 1, "order": "ORD-1"})
    (plain,) = _records(tmp_path / "a.jsonl")
    assert "hmac" not in plain["request"]["args"]["order"]
    with DecisionLog(tmp_path / "b.jsonl", keep=shop_policies, hmac_key="k1") as log:
        e = Engine(shop_policies, decision_log=log)
        e.check_tool_call("refund", {"amount": 1, "order": "ORD-1"})
        e.check_tool_call("refund", {"amount": 1, "order": "ORD-1"})
        e.check_tool_call("refund", {"amount": 1, "order": "ORD-2"})
    a, b, c = (r["request"]["args"]["order"]["hmac"] for r in _records(tmp_path / "b.jsonl"))
    assert a == b != c and len(a) == 32
    monkeypatch.setenv("GUARDRAILS_LOG_KEY", "k2")
    with DecisionLog(tmp_path / "c.jsonl", keep=shop_policies) as log:
        Engine(shop_policies, decision_log=log).check_tool_call("refund", {"amount": 1, "order": "ORD-1"})
    (other,) = _records(tmp_path / "c.jsonl")
    assert other["request"]["args"]["order"]["hmac"] != a  # a different key, unlinkable


# ---- no raw detected value ever reaches the log (property) -----------------


def _luhn(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 0:
            n *= 2
            n = n - 9 if n > 9 else n
        total += n
    return digits + str((10 - total % 10) % 10)


emails = st.from_regex(r"[a-z]{2,8}(\.[a-z]{2,6})?@[a-z]{3,10}\.(com|org|net|io)", fullmatch=True)
cards = st.builds(
    lambda body, sep: sep.join(_luhn("4" + body)[i:i + 4] for i in range(0, 16, 4)),
    st.text("0123456789", min_size=14, max_size=14), st.sampled_from(["", " ", "-"]))
ssns = st.builds(
    lambda a, g, s, lead: f"{lead}{a:03d}-{g:02d}-{s:04d}",
    st.integers(1, 665).filter(lambda a: a != 666), st.integers(1, 99), st.integers(1, 9999),
    st.sampled_from(["", "ssn ", "my social security number is "]))
words = st.sampled_from(["hello", "please", "refund", "order", "call", "me", "at", "thanks", "card", "id"])
pieces = st.lists(st.one_of(emails, cards, ssns, words), min_size=1, max_size=8)


@st.composite
def requests(draw):
    stage = draw(st.sampled_from(["input", "output", "retrieval", "tool_call", "tool_result"]))
    text = " ".join(draw(pieces))
    pii = draw(st.one_of(emails, cards, ssns))
    text = f"{text} {pii}"
    if stage in ("input", "output"):
        return stage, {"text": text, "context": {"ref": pii, "n": 3}}
    if stage == "retrieval":
        more = " ".join(draw(pieces))
        return stage, {"chunks": [{"text": text, "metadata": {"owner": pii}}, more], "context": {"who": pii}}
    if stage == "tool_result":
        result = draw(st.sampled_from([
            text, {"body": text, "n": 3}, [text, {"from": pii, "ok": True}], {"rows": [{"x": text}], "who": pii}]))
        return stage, {"tool": "search", "result": result, "args": {"q": pii}, "session": pii,
                       "principal": {"email": pii}}
    return stage, {"tool": "send",
                   "args": {"note": text, "to": pii, "n": draw(st.integers(0, 10**6)),
                            "items": [{"x": " ".join(draw(pieces))}]},
                   "principal": {"email": pii}, "context": {pii: True}}


def _span_values(decision, request) -> set[str]:
    """Independent of the log's own code: read every span's text off the raw request."""
    out = set()
    for v in decision.violations:
        for s in v.spans:
            if s.field is None:
                src = request["text"]
            elif s.field.startswith("chunks["):
                ch = request["chunks"][int(s.field[7:-1])]
                src = ch["text"] if isinstance(ch, dict) else ch
            else:
                node = request
                for part in s.field.replace("[", ".").replace("]", "").split("."):
                    node = node[int(part)] if isinstance(node, list) else node[part]
                src = node
            if src[s.start:s.end].strip():
                out.add(src[s.start:s.end])
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(requests(), min_size=1, max_size=4), st.sampled_from(["leaky", "redacting"]))
def test_no_raw_detected_value_ever_reaches_the_log(reqs, policy):
    pols = _engine_policies("pii", LEAKY, REDACTING)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.jsonl"
        with DecisionLog(path, keep={"leaky": KEEP_EVERY, "redacting": KEEP_EVERY}, hmac_key=b"k") as log:
            tee = Tee(log)
            e = Engine(pols, hash_salt=b"s", decision_log=tee, warm_up=False)
            for stage, req in reqs:
                e.check(stage, req, policy=policy)
        data = path.read_text()
        assert log.stats().written == len(reqs)
        assert verify_log(path).ok
    lines = data.splitlines()[1:]
    assert len(lines) == len(tee.seen)
    found = [_span_values(d, r) for d, r in tee.seen]
    for line, values in zip(lines, found):
        for value in values:
            assert value not in line
            assert json.dumps(value)[1:-1] not in line
    # The whole file holds no value that was detected wherever it occurred. (A
    # value detected in one request may go undetected in another: presidio's
    # scores depend on the surrounding words.)
    for value in set().union(*found):
        if all(value in values or value not in json.dumps(r) for values, (_, r) in zip(found, tee.seen)):
            assert value not in data


def test_the_property_test_sees_detections(tmp_path):
    # Guard against a vacuous property: the leaky policy forwards raw PII, so
    # the log must have scrubbed something.
    pols = _engine_policies("pii", LEAKY, REDACTING)
    with DecisionLog(tmp_path / "d.jsonl", keep=pols) as log:
        e = Engine(pols, decision_log=log, warm_up=False)
        d = e.check_input("mail jo@example.com or card 4111 1111 1111 1111", policy="leaky",
                          context={"also": "jo@example.com", "fine": "ok"})
        e.check_tool_call("send", {"to": "jo@example.com", "n": 1}, principal={"jo@example.com": 1}, policy="leaky")
    assert d.text.startswith("mail jo@example.com")  # forwarded unredacted
    text_rec, tool_rec = _records(tmp_path / "d.jsonl")
    assert text_rec["scrubbed"] is True
    assert text_rec["request"]["text"] == {"$masked": "string", "len": len(d.text)}
    assert text_rec["request"]["context"] == {"also": {"$masked": "string", "len": 14}, "fine": "ok"}
    assert tool_rec["request"]["args"] == {"to": {"$masked": "string", "len": 14}, "n": 1}
    assert tool_rec["request"]["principal"] == {"$masked": "map", "len": 1}  # a key held it
    assert "jo@example.com" not in (tmp_path / "d.jsonl").read_text()


# ---- tool results, sessions and labels -----------------------------------------

AGENT = """policy "agent" version "1.0.0"
label untrusted "content from the web"
tool_result {
  rule web: label untrusted when tool == "web_fetch"
  rule mail: redact [EMAIL_ADDRESS] using replace("<{entity}>")
  rule drop: deny "dropped" when text contains "DROP"
}
tool_call {
  rule any: allow when tool == "send"
  rule after-web: deny "not after the web" when tool == "send" and labelled(untrusted)
}
"""


@pytest.fixture(scope="module")
def agent_policies():
    return _engine_policies("agent", AGENT)


def _log_agent(path, policies, keep, calls, hmac_key=None) -> list[dict]:
    with DecisionLog(path, keep=keep, hmac_key=hmac_key) as log:
        e = Engine(policies, decision_log=log)
        for method, args, kw in calls:
            getattr(e, method)(*args, **kw)
    return _records(path)


def test_a_tool_result_is_content_masked_unless_kept_and_its_labels_are_recorded(tmp_path, agent_policies):
    result = {"items": ["write to jo@example.com", 42], "ok": True}
    (rec,) = _log_agent(tmp_path / "d.jsonl", agent_policies, agent_policies, [
        ("check_tool_result", ("web_fetch", result), {"args": {"url": "https://x"}, "session": "run-1", "at": 100.0})])
    assert rec["stage"] == "tool_result" and rec["outcome"] == "redact"
    assert rec["rules"] == ["mail", "web"] and rec["labels"] == ["untrusted"]
    assert rec["spans"] == [{"rule": "mail", "entity": "EMAIL_ADDRESS", "start": 9, "end": 23,
                             "field": "result.items[0]"}]
    assert rec["request"] == {
        "tool": {"$masked": "string", "len": 9}, "result": {"$masked": "map", "len": 2},
        "args": {"$masked": "map", "len": 1}, "principal": None, "context": None,
        "session": {"$masked": "string", "len": 5},
    }
    assert "jo@example.com" not in (tmp_path / "d.jsonl").read_text()


def test_a_kept_result_is_its_forwarded_form_and_a_denied_one_keeps_no_string(tmp_path, agent_policies):
    keep = {"agent": ["tool", "result", "session"]}
    allowed, as_string, denied, other = _log_agent(tmp_path / "d.jsonl", agent_policies, keep, [
        ("check_tool_result", ("web_fetch", {"items": ["write to jo@example.com", 42], "ok": True}),
         {"session": "run-1"}),
        ("check_tool_result", ("files", "mail jo@example.com"), {"session": "run-1"}),
        ("check_tool_result", ("files", {"note": "DROP jo@example.com", "n": 7}), {"session": "run-1"}),
        ("check_tool_call", ("send", {"to": "x"}), {"session": "run-2"}),
    ])
    assert allowed["request"]["result"] == {"items": ["write to <EMAIL_ADDRESS>", 42], "ok": True}
    assert as_string["request"]["result"] == "mail <EMAIL_ADDRESS>" and "labels" not in as_string
    assert denied["outcome"] == "deny"
    assert denied["request"]["result"] == {"note": {"$masked": "string", "len": 19}, "n": 7}
    assert [r["request"]["session"] for r in (allowed, as_string, denied, other)] == ["run-1"] * 3 + ["run-2"]
    assert "jo@example.com" not in (tmp_path / "d.jsonl").read_text()
    assert verify_log(tmp_path / "d.jsonl").ok


def test_a_masked_session_carries_one_hmac_for_all_its_records(tmp_path, agent_policies, monkeypatch):
    monkeypatch.delenv("GUARDRAILS_LOG_KEY", raising=False)
    calls = [("check_tool_call", ("send", {}), {"session": s}) for s in ("run-1", "run-1", "run-2")]
    calls.append(("check_tool_call", ("send", {}), {}))
    a, b, c, none = _log_agent(tmp_path / "d.jsonl", agent_policies, agent_policies, calls, hmac_key="k1")
    sessions = [r["request"]["session"] for r in (a, b, c)]
    assert sessions[0]["hmac"] == sessions[1]["hmac"] != sessions[2]["hmac"]
    assert "session" not in none["request"]  # a request without a session records none
    from guardrails.decision_log import value_hmac

    assert sessions[0]["hmac"] == value_hmac("run-1", b"k1")
    plain = _log_agent(tmp_path / "e.jsonl", agent_policies, agent_policies, calls[:1])
    assert plain[0]["request"]["session"] == {"$masked": "string", "len": 5}  # no key: no hmac


def test_a_kept_field_holding_a_value_detected_in_the_result_is_scrubbed(tmp_path):
    pols = _engine_policies("pii", LEAKY, REDACTING)
    keep = {"leaky": KEEP_EVERY}
    (rec,) = _log_agent(tmp_path / "d.jsonl", pols, keep, [
        ("check_tool_result", ("search", {"hits": ["mail jo@example.com"], "n": 2}),
         {"policy": "leaky", "session": "jo@example.com", "args": {"q": "jo@example.com"}})])
    assert rec["rules"] == ["see-result"] and rec["scrubbed"] is True
    assert rec["request"]["result"] == {"hits": [{"$masked": "string", "len": 19}], "n": 2}
    assert rec["request"]["session"] == {"$masked": "string", "len": 14}
    assert rec["request"]["args"] == {"q": {"$masked": "string", "len": 14}}
    assert "jo@example.com" not in (tmp_path / "d.jsonl").read_text()


def test_log_show_prints_labels_and_sessions_and_follows_one_session(tmp_path, agent_policies, monkeypatch, capsys):
    monkeypatch.setenv("GUARDRAILS_LOG_KEY", "k1")
    calls = [("check_tool_result", ("web_fetch", "page"), {"session": "run-1"}),
             ("check_tool_call", ("send", {}), {"session": "run-1"}),
             ("check_tool_call", ("send", {}), {"session": "run-2"})]
    _log_agent(tmp_path / "d.jsonl", agent_policies, agent_policies, calls)
    assert main(["log", "show", str(tmp_path / "d.jsonl")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "tool_result  ALLOW" in lines[0] and "labels=untrusted" in lines[0] and "session=#" in lines[0]
    assert "DENY" in lines[1] and "rules=after-web" in lines[1]
    assert main(["log", "show", str(tmp_path / "d.jsonl"), "--session", "run-1", "--format", "json"]) == 0
    shown = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["seq"] for r in shown] == [1, 2]
    monkeypatch.delenv("GUARDRAILS_LOG_KEY")
    assert main(["log", "show", str(tmp_path / "d.jsonl"), "--session", "run-1"]) == 0
    out = capsys.readouterr()
    assert out.out == "" and "set $GUARDRAILS_LOG_KEY to the key the log was written with" in out.err
    kept = tmp_path / "kept.jsonl"
    _log_agent(kept, agent_policies, {"agent": ["session"]}, calls)
    assert main(["log", "show", str(kept), "--session", "run-2"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert "session=run-2" in line


# ---- the hash chain --------------------------------------------------------

_PLAIN_LOG: list[bytes] = []


def _plain_lines(n: int = 8) -> list[bytes]:
    """A valid log of n decision records, built once (as lines with newlines)."""
    if not _PLAIN_LOG:
        pols = _engine_policies("plain", PLAIN)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "d.jsonl"
            with DecisionLog(path, keep=pols) as log:
                e = Engine(pols, decision_log=log)
                for i in range(n):
                    e.check_tool_call("refund", {"amount": i * 30})
            _PLAIN_LOG.extend(path.read_bytes().splitlines(keepends=True))
    return list(_PLAIN_LOG)


def _verify_bytes(data: bytes, **kw):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.jsonl"
        path.write_bytes(data)
        return verify_log(path, **kw)


def test_an_intact_log_verifies():
    lines = _plain_lines()
    result = _verify_bytes(b"".join(lines))
    assert result.ok and result.records == 8 and not result.problems
    assert result.head == json.loads(lines[-1])["hash"]
    for line in lines:
        rec = json.loads(line)
        assert record_hash(rec) == rec["hash"]
        assert canonical(rec) + b"\n" == line  # stored in canonical form


def _edit(line: bytes, key: str, value, rehash: bool) -> bytes:
    rec = json.loads(line)
    rec[key] = value
    if rehash:
        rec["hash"] = record_hash(rec)
    return canonical(rec) + b"\n"


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_any_edit_is_caught_at_its_line(data):
    lines = _plain_lines()
    k = data.draw(st.integers(0, len(lines) - 1))
    rehash = data.draw(st.booleans())
    key = data.draw(st.sampled_from(["outcome", "elapsed_us", "timestamp", "rules", "request"]))
    old = json.loads(lines[k]).get(key)
    value = data.draw(st.sampled_from(["allow", 0, "2020-01-01T00:00:00Z", [], {"x": 1}]))
    assume(value != old)
    lines[k] = _edit(lines[k], key, value, rehash)
    if rehash and k == len(lines) - 1:
        # A forger who rehashes the last record leaves a valid chain: only an
        # anchored head catches it.
        assert _verify_bytes(b"".join(lines)).ok
        result = _verify_bytes(b"".join(lines), expect_head=json.loads(_plain_lines()[-1])["hash"])
        assert not result.ok and result.problems[0].line == k + 1
        return
    result = _verify_bytes(b"".join(lines))
    assert not result.ok
    assert result.problems[0].line == (k + 2 if rehash else k + 1)


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_any_deletion_is_caught(data):
    lines = _plain_lines()
    k = data.draw(st.integers(0, len(lines) - 2))
    count = data.draw(st.integers(1, len(lines) - 1 - k))
    del lines[k:k + count]
    result = _verify_bytes(b"".join(lines))
    assert not result.ok and result.problems[0].line == k + 1
    if k > 0:
        assert "deleted" in result.problems[0].message


def test_deleting_the_tail_needs_the_anchored_head():
    lines = _plain_lines()
    head = json.loads(lines[-1])["hash"]
    assert _verify_bytes(b"".join(lines[:-2])).ok
    result = _verify_bytes(b"".join(lines[:-2]), expect_head=head)
    assert not result.ok and "removed from the end" in result.problems[0].message


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_any_insertion_is_caught(data):
    lines = _plain_lines()
    k = data.draw(st.integers(0, len(lines)))
    kind = data.draw(st.sampled_from(["copy", "forged", "garbage", "blank"]))
    if kind == "copy":
        extra = lines[data.draw(st.integers(0, len(lines) - 1))]
    elif kind == "forged":  # a well-formed record with a correct hash but a made-up prev
        rec = json.loads(lines[min(k, len(lines) - 1)])
        rec.update(outcome="allow", prev=data.draw(st.sampled_from([GENESIS, "ab" * 32])))
        extra = _edit(canonical(rec), "seq", rec["seq"], rehash=True)
    elif kind == "garbage":
        extra = b'{"hello": "world"}\n'
    else:
        extra = b"\n"
    lines.insert(k, extra)
    result = _verify_bytes(b"".join(lines))
    assert not result.ok
    assert result.problems[0].line in (k + 1, k + 2)


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_any_reordering_is_caught(data):
    lines = _plain_lines()
    i = data.draw(st.integers(0, len(lines) - 2))
    j = data.draw(st.integers(i + 1, len(lines) - 1))
    lines[i], lines[j] = lines[j], lines[i]
    result = _verify_bytes(b"".join(lines))
    assert not result.ok and result.problems[0].line == i + 1


def test_a_problem_names_what_broke():
    lines = _plain_lines()
    del lines[3]
    (p,) = _verify_bytes(b"".join(lines)).problems
    assert p.line == 4 and "seq jumps from 2 to 4" in p.message
    lines = _plain_lines()
    lines[2], lines[3] = lines[3], lines[2]
    problems = _verify_bytes(b"".join(lines)).problems
    assert [p.line for p in problems] == [3, 4, 5]
    assert "seq 2 after 3" in problems[1].message
    lines = _plain_lines()
    lines[5] = _edit(lines[5], "outcome", "allow", rehash=False)
    (p,) = _verify_bytes(b"".join(lines)).problems
    assert p.line == 6 and "modified" in p.message


# ---- crash safety ----------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_a_log_cut_anywhere_verifies_up_to_its_last_complete_record(data):
    full = b"".join(_plain_lines())
    cut = data.draw(st.integers(1, len(full)))
    prefix = full[:cut]
    complete = prefix.count(b"\n")
    result = _verify_bytes(prefix)
    if complete == 0:
        assert not result.ok  # not even the header survived
        return
    assert result.ok and result.records == complete - 1
    assert (result.truncated_line is not None) == (not prefix.endswith(b"\n"))
    if result.truncated_line is not None:
        assert result.truncated_line == complete + 1
        assert not _verify_bytes(prefix, strict=True).ok
    # A writer reopening the log cuts the partial tail and continues the chain.
    pols = _engine_policies("plain", PLAIN)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.jsonl"
        path.write_bytes(prefix)
        with DecisionLog(path, keep=pols) as log:
            e = Engine(pols, decision_log=log)
            e.check_tool_call("refund", {"amount": 1})
            e.check_tool_call("refund", {"amount": 2})
        assert log.stats().written == 2 and log.stats().errors == 0
        after = verify_log(path)
        assert after.ok and after.truncated_line is None
        assert after.records == complete - 1 + 2
        assert path.read_bytes().startswith(full[:full.rfind(b"\n", 0, cut) + 1])


def test_a_killed_writer_leaves_a_log_that_resumes(tmp_path):
    # A real process killed with records still queued and a half-written line.
    path = tmp_path / "d.jsonl"
    script = f"""
import os
from guardrails.engine import Engine
from guardrails.decision_log import DecisionLog
log = DecisionLog({str(path)!r})
e = Engine.from_source({PLAIN!r}, decision_log=log)
log.bind(e)
for i in range(50):
    e.check_tool_call("refund", {{"amount": i}})
log.flush()
with open({str(path)!r}, "ab") as f:
    f.write(b'{{"decision_id":"half')
os._exit(9)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    result = verify_log(path)
    assert result.ok and result.records == 50 and result.truncated_line == 52
    pols = _engine_policies("plain", PLAIN)
    with DecisionLog(path, keep=pols) as log:
        Engine(pols, decision_log=log).check_tool_call("refund", {"amount": 1})
    result = verify_log(path)
    assert result.ok and result.records == 51 and result.truncated_line is None
    assert [r["seq"] for r in _records(path)] == list(range(1, 52))


def test_a_log_whose_last_line_is_not_a_record_is_not_continued(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"".join(_plain_lines()) + b"not json\n")
    pols = _engine_policies("plain", PLAIN)
    with DecisionLog(path, keep=pols) as log:
        d = Engine(pols, decision_log=log).check_tool_call("refund", {"amount": 1})
    assert d.outcome is Outcome.ALLOW
    s = log.stats()
    assert s.written == 0 and s.dropped == 1 and "cannot continue the chain" in s.last_error


# ---- logging never fails or blocks a decision ------------------------------


@pytest.mark.parametrize("where", ["missing-dir", "under-a-file"])
def test_an_unwritable_log_never_fails_a_decision(tmp_path, where):
    (tmp_path / "file").write_text("x")
    path = tmp_path / ("nope/d.jsonl" if where == "missing-dir" else "file/d.jsonl")
    pols = _engine_policies("plain", PLAIN)
    log = DecisionLog(path, keep=pols)
    e = Engine(pols, decision_log=log)
    decisions = [e.check_tool_call("refund", {"amount": a}) for a in (1, 500, 2)]
    log.close()
    assert [d.outcome for d in decisions] == [Outcome.ALLOW, Outcome.DENY, Outcome.ALLOW]
    s = log.stats()
    assert s.written == 0 and s.dropped == 3 and s.errors >= 1
    assert str(path) in s.last_error
    assert e.log_failures == 0  # the log absorbed it; the engine never saw an exception
    assert not path.exists()


def test_a_full_queue_drops_and_counts(tmp_path):
    pols = _engine_policies("plain", PLAIN)
    log = DecisionLog(tmp_path / "d.jsonl", keep=pols, queue_size=1)
    entered, release = threading.Event(), threading.Event()
    real_append = log._append

    def slow_append(batch):
        entered.set()
        release.wait(10)
        real_append(batch)

    log._append = slow_append  # the writer thread looks it up per batch
    e = Engine(pols, decision_log=log)
    e.check_tool_call("refund", {"amount": 1})
    assert entered.wait(10)  # the writer holds record 1
    for a in range(2, 7):  # record 2 waits in the queue; 3..6 find it full
        assert e.check_tool_call("refund", {"amount": a}).outcome is Outcome.ALLOW
    assert log.stats().dropped == 4
    release.set()
    log.close()
    s = log.stats()
    assert (s.written, s.dropped, s.errors, s.pending) == (2, 4, 0, 0)
    assert verify_log(tmp_path / "d.jsonl").records == 2


def test_writes_after_close_are_dropped_not_raised(tmp_path):
    pols = _engine_policies("plain", PLAIN)
    log = DecisionLog(tmp_path / "d.jsonl", keep=pols)
    log.close()
    log.close()  # idempotent
    Engine(pols, decision_log=log).check_tool_call("refund", {"amount": 1})
    assert log.stats().dropped == 1


def test_a_failing_sink_is_counted_by_the_engine():
    class Broken:
        def write(self, decision, request):
            raise OSError("disk on fire")

    pols = _engine_policies("plain", PLAIN)
    e = Engine(pols, decision_log=Broken())
    assert e.check_tool_call("refund", {"amount": 1}).outcome is Outcome.ALLOW
    assert e.log_failures == 1


def test_concurrent_writers_keep_one_chain(tmp_path):
    pols = _engine_policies("plain", PLAIN)
    path = tmp_path / "d.jsonl"
    with DecisionLog(path, keep=pols) as log:
        e = Engine(pols, decision_log=log)

        def work(n):
            for i in range(50):
                e.check_tool_call("refund", {"amount": n * 100 + i})

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert log.stats().written == 400
    result = verify_log(path)
    assert result.ok and result.records == 400
    assert sorted(r["request"]["args"]["amount"] for r in _records(path)) == sorted(
        n * 100 + i for n in range(8) for i in range(50))


def test_one_writer_per_file(tmp_path):
    pols = _engine_policies("plain", PLAIN)
    path = tmp_path / "d.jsonl"
    with DecisionLog(path, keep=pols) as first:
        Engine(pols, decision_log=first).check_tool_call("refund", {"amount": 1})
        first.flush()
        with DecisionLog(path, keep=pols) as second:
            Engine(pols, decision_log=second).check_tool_call("refund", {"amount": 2})
        assert second.stats().dropped == 1 and "another writer" in second.stats().last_error
        Engine(pols, decision_log=first).check_tool_call("refund", {"amount": 3})
    assert verify_log(path).records == 2


# ---- the CLI ---------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "guardrails.cli", *args], capture_output=True, text=True)


def test_log_verify_subprocess(tmp_path):
    path = tmp_path / "d.jsonl"
    lines = _plain_lines()
    path.write_bytes(b"".join(lines))
    ok = _cli("log", "verify", str(path))
    assert ok.returncode == 0, ok.stderr
    assert "ok: 8 record(s) verified" in ok.stdout

    tampered = list(lines)
    tampered[4] = _edit(tampered[4], "outcome", "escalate", rehash=False)
    path.write_bytes(b"".join(tampered))
    bad = _cli("log", "verify", str(path))
    assert bad.returncode == 1
    assert f"{path}:5: error: record was modified" in bad.stderr

    path.write_bytes(b"".join(lines) + b'{"decision_id":"ha')
    trunc = _cli("log", "verify", str(path))
    assert trunc.returncode == 0 and f"{path}:10: warning: truncated record" in trunc.stderr
    assert _cli("log", "verify", "--strict", str(path)).returncode == 1

    missing = _cli("log", "verify", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr and "Traceback" not in missing.stderr


def test_log_verify_json_and_head(tmp_path, capsys):
    path = tmp_path / "d.jsonl"
    lines = _plain_lines()
    path.write_bytes(b"".join(lines[:-1]))
    head = json.loads(lines[-1])["hash"]
    assert main(["log", "verify", str(path), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and out["records"] == 7 and out["problems"] == []
    assert main(["log", "verify", str(path), "--head", head]) == 1
    assert "removed from the end" in capsys.readouterr().err


def test_log_show(tmp_path, capsys):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"".join(_plain_lines()))
    assert main(["log", "show", str(path), "--last", "2", "--format", "json"]) == 0
    shown = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["seq"] for r in shown] == [7, 8]
    assert main(["log", "show", str(path)]) == 0
    text = capsys.readouterr().out.splitlines()
    assert len(text) == 8
    assert "tool_call" in text[0] and "ALLOW" in text[0] and "plain@2.0.0" in text[0] and "rules=small" in text[0]
    assert "DENY" in text[-1] and "rules=default-deny" in text[-1]
    path.write_bytes(b"not json\n")
    assert main(["log", "show", str(path)]) == 2
    assert "not a JSON record" in capsys.readouterr().err
    assert main(["log"]) == 2


def test_eval_log_writes_records(tmp_path):
    policy = tmp_path / "shop.policy"
    policy.write_text(SHOP)
    batch = tmp_path / "b.jsonl"
    batch.write_text("\n".join(json.dumps(x) for x in [
        {"stage": "input", "request": {"text": "mail jo@example.com"}},
        {"stage": "tool_call", "request": {"tool": "refund", "args": {"amount": 5, "note": "hi"}}},
    ]) + "\n")
    log = tmp_path / "d.jsonl"
    proc = _cli("eval", str(policy), "--batch", str(batch), "--log", str(log))
    assert proc.returncode == 0, proc.stderr
    r1, r2 = _records(log)
    assert r1["request"]["text"] == "mail <EMAIL_ADDRESS>"  # log_keep from the policy, via bind
    assert r2["request"]["args"] == {"amount": 5, "note": {"$masked": "string", "len": 2}}
    assert "jo@example.com" not in log.read_text()
    assert _cli("log", "verify", str(log)).returncode == 0
    # A second run continues the same chain.
    assert _cli("eval", str(policy), "--stage", "input", "--text", "hi", "--log", str(log)).returncode == 0
    assert verify_log(log).records == 3


def test_eval_log_to_an_unwritable_place_still_decides(tmp_path):
    policy = tmp_path / "shop.policy"
    policy.write_text(SHOP)
    proc = _cli("eval", str(policy), "--stage", "input", "--text", "hi", "--log", str(tmp_path / "no/d.jsonl"))
    assert proc.returncode == 0
    assert "ALLOW" in proc.stdout
    assert "1 decision record(s) not logged" in proc.stderr

