"""Each example in examples/ runs on its own (no network, no key) and shows
what it promises: blocks, redactions, restorations and stopped tool calls."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_example(name: str, tmp_path) -> str:
    # From another directory, to show the example finds its policies itself.
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / name)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_support_bot(tmp_path):
    out = run_example("support_bot.py", tmp_path)
    assert "model received: 'My email is <EMAIL_ADDRESS> and my card ******************* was charged twice'" in out
    assert "jo@example.com and my card" not in out.split("1. Redaction")[1].split("caller's message")[0]
    assert "BLOCKED: support-bot 1.4.0 denied the input: org-baseline/prompt-injection (Prompt injection attempt)" in out
    assert "user sees:      'Sorry, I can only help with orders.'" in out
    assert "BLOCKED: support-bot 1.4.0 denied the output: no-medical (Medical advice is out of scope)" in out
    assert "escalated to human_review: ['Customer mentions legal action']" in out
    assert "model received: 'Please email <EMAIL_ADDRESS_1_" in out
    assert "I will send the confirmation to jo@example.com about *******************." in out


def test_streaming_chat(tmp_path):
    out = run_example("streaming_chat.py", tmp_path)
    assert ("the card ******************* within five days; the receipt is sent to <EMAIL_ADDRESS>. "
            "Anything else?'") in out
    assert "released before the stop: 'Your parcel left our warehouse" in out
    assert "STOPPED: support-bot 1.4.0 denied the stream: no-medical (Medical advice is out of scope)" in out
    assert "| [The rest of this answer was withheld.]'" in out
    assert "model received: 'Please call me back on <PHONE_NUMBER_1_" in out
    assert "we will call you at 212-555-0123 tomorrow" not in out  # released in pieces, joined with |
    assert "they will try 212-555-0123 again" in out
    assert "final decision: redact by ['org-baseline/redact-financial-out', 'redact-contact-out']" in out


def test_agent_tools(tmp_path):
    out = run_example("agent_tools.py", tmp_path)
    assert "STOPPED tool call issue_refund (amount 240): default-deny" in out
    assert ">>> issue_refund RAN: 40 for ORD-12345678, note='Goodwill, mail <EMAIL_ADDRESS>'" in out
    assert ">>> issue_refund RAN: 9000" not in out
    assert "BLOCKED: support-bot 1.4.0 denied the tool call 'issue_refund': cap (Refunds above 5000 need a ticket)" in out
    assert ">>> issue_refund RAN: 240 for ORD-12345678" in out
    assert "BLOCKED: support-bot 1.4.0 denied the tool call 'lookup_order': default-deny" in out


def test_openai_sdk(tmp_path):
    pytest.importorskip("openai")
    out = run_example("openai_sdk.py", tmp_path)
    assert "model received: \"Hi, I'm <EMAIL_ADDRESS>\"" in out
    assert "user sees (ChatCompletion):" in out and "write to <EMAIL_ADDRESS>." in out
    assert "allowed tool calls: ['lookup_order']" in out
    assert "stopped: ['issue_refund: Refunds above 5000 need a ticket']" in out
    assert "STOPPED: support-bot 1.4.0 denied the stream: no-medical" in out


def test_agent_session(tmp_path):
    out = run_example("agent_session.py", tmp_path)
    runs = {n: part for n, part in enumerate(out.split("\n\n"), 1)}
    trifecta, web, private, gate, refunds, loop, outside = (runs[n] for n in range(1, 8))
    assert ("DENIED   post_message: lethal-trifecta (This run read private data and outside content: nothing may "
            "leave it)") in trifecta
    assert trifecta.split("twin")[1].count("allowed  post_message(") == 1  # two of the three parts pass
    assert ("WITHHELD the result of web_fetch: org-baseline/injected-tool-result (A tool result carries an "
            "injection)") in web
    assert ("DENIED   send_email: exfiltration-after-untrusted (After outside content, mail goes to "
            "company addresses)") in web
    assert "allowed  send_email(to='team@example.com'" in web
    assert "DENIED   http_post: private-content-out (Private content may not leave the company)" in private
    assert "allowed  http_post(url='https://status.example.net/api', body='Deploy of build 4411" in private
    gate_lines = [line.split(":")[0].split("(")[0].strip() for line in gate.splitlines()[1:]]
    assert gate_lines == ["DENIED   delete_repo", "allowed  human_approval", "allowed  delete_repo",
                          "DENIED   delete_repo"]
    assert "approval-gate (Deleting a repository needs a person's approval first)" in gate
    assert refunds.count("DENIED   refund: refund-limit (At most 20 refunds a minute per person)") == 2
    assert "refunds that ran: 20 of 22" in refunds
    assert loop.count("allowed  web_search(query='market news')") == 5
    assert loop.count("DENIED   web_search: runaway-loop (The same call was made five times in a row)") == 2
    assert "DENIED   send_email, called directly:" in outside and "no-session" in outside
