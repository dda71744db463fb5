"""MCP through the guard: a real mcp Client connected in-process to a real
MCPServer (examples/mcp_tools.py), every call and result checked."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

pytest.importorskip("mcp")

from mcp import Client  # noqa: E402

from example_modules import load_example  # noqa: E402
from guardrails import Engine  # noqa: E402
from guardrails.guard import PolicyViolation  # noqa: E402
from guardrails.guard.mcp import GuardedClient  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


example = load_example("mcp_tools.py")


@pytest.fixture(scope="module")
def engine():
    return Engine.from_path(ROOT / "policies")


@pytest.fixture(autouse=True)
def _fresh():
    example.RAN.clear()


def test_calls_and_results_through_a_real_client_and_server(engine):
    out = asyncio.run(example.demo(engine))
    assert out[0][1] is False and json.loads(out[0][2]) == {"status": "shipped", "note": "customer SSN <US_SSN>"}
    assert out[1][1:] == (True, "[tool call 'issue_refund' denied by policy: cap]")
    assert out[3][1:] == (True, "[tool result withheld by policy: org-baseline/injected-tool-result]")
    # The denied refund never reached the server; the allowed one went with its note redacted.
    assert example.RAN == ["lookup_order ORD-12345678", "issue_refund ORD-12345678 20.0 'mail <EMAIL_ADDRESS>'",
                           "lookup_order ORD-87654321"]


def test_structured_content_is_redacted_too(engine):
    async def go():
        async with Client(example.build_server()) as client:
            return await GuardedClient(client, engine, policy="support-bot").call_tool(
                "lookup_order", {"order_id": "ORD-12345678"})

    result = asyncio.run(go())
    assert result.structured_content is not None
    assert "536-22-8472" not in json.dumps(result.structured_content) and "<US_SSN>" in json.dumps(
        result.structured_content)


def test_raise_on_deny_and_handlers(engine):
    told = []

    async def go():
        async with Client(example.build_server()) as client:
            strict = GuardedClient(client, engine, policy="support-bot", raise_on_deny=True)
            with pytest.raises(PolicyViolation, match="denied the tool call 'issue_refund': cap"):
                await strict.call_tool("issue_refund", {"order_id": "ORD-12345678", "amount": 9000})
            quiet = GuardedClient(client, engine, policy="support-bot",
                                  on_tool_denied=lambda call, d: told.append((call.name, d.stage)))
            await quiet.call_tool("lookup_order", {"order_id": "ORD-87654321"})
            return await quiet.list_tools()  # everything else is the client's

    tools = asyncio.run(go())
    assert told == [("lookup_order", "tool_result")]
    assert {t.name for t in tools.tools} == {"lookup_order", "issue_refund"}
    assert example.RAN == ["lookup_order ORD-87654321"]


def test_the_wrapped_object_is_checked(engine):
    with pytest.raises(TypeError, match="wraps an MCP client with call_tool"):
        GuardedClient(object(), engine)
