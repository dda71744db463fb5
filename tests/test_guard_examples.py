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
    assert "BLOCKED: support-bot 1.3.0 denied the input: org-baseline/prompt-injection (Prompt injection attempt)" in out
    assert "user sees:      'Sorry, I can only help with orders.'" in out
    assert "BLOCKED: support-bot 1.3.0 denied the output: no-medical (Medical advice is out of scope)" in out
    assert "escalated to human_review: ['Customer mentions legal action']" in out
    assert "model received: 'Please email <EMAIL_ADDRESS_1_" in out
    assert "I will send the confirmation to jo@example.com about *******************." in out


def test_streaming_chat(tmp_path):
    out = run_example("streaming_chat.py", tmp_path)
    assert ("the card ******************* within five days; the receipt is sent to <EMAIL_ADDRESS>. "
            "Anything else?'") in out
    assert "released before the stop: 'Your parcel left our warehouse" in out
    assert "STOPPED: support-bot 1.3.0 denied the stream: no-medical (Medical advice is out of scope)" in out
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
    assert "BLOCKED: support-bot 1.3.0 denied the tool call 'issue_refund': cap (Refunds above 5000 need a ticket)" in out
    assert ">>> issue_refund RAN: 240 for ORD-12345678" in out
    assert "BLOCKED: support-bot 1.3.0 denied the tool call 'lookup_order': default-deny" in out


def test_openai_sdk(tmp_path):
    pytest.importorskip("openai")
    out = run_example("openai_sdk.py", tmp_path)
    assert "model received: \"Hi, I'm <EMAIL_ADDRESS>\"" in out
    assert "user sees (ChatCompletion):" in out and "write to <EMAIL_ADDRESS>." in out
    assert "allowed tool calls: ['lookup_order']" in out
    assert "stopped: ['issue_refund: Refunds above 5000 need a ticket']" in out
    assert "STOPPED: support-bot 1.3.0 denied the stream: no-medical" in out
