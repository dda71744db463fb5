"""@guard_tool: a tool's arguments are checked before its body runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from guardrails import Engine
from guardrails.guard import CONTINUE, EscalationRequired, PolicyViolation, guard_tool

ROOT = Path(__file__).resolve().parent.parent
PSEUDO = Path(__file__).parent / "fixtures" / "guard" / "pseudo.policy"


@pytest.fixture(scope="module")
def engine():
    return Engine.from_path(ROOT / "policies")


def test_allowed_calls_run(engine):
    ran = []

    @guard_tool(engine, policy="support-bot", tool="issue_refund")
    def refund(order_id: str, amount: float, note: str = ""):
        ran.append((order_id, amount, note))
        return "done"

    assert refund("ORD-12345678", 50) == "done"
    assert ran == [("ORD-12345678", 50, "")]


def test_a_denied_call_never_runs(engine):
    ran = []

    @guard_tool(engine, policy="support-bot", tool="issue_refund")
    def refund(order_id: str, amount: float):
        ran.append(amount)

    with pytest.raises(PolicyViolation) as info:
        refund("ORD-12345678", amount=9000)
    assert ran == []
    assert str(info.value) == ("support-bot 1.4.0 denied the tool call 'issue_refund': "
                               "cap (Refunds above 5000 need a ticket)")
    assert info.value.decision.stage == "tool_call"


def test_redacted_arguments_are_passed_on(engine):
    got = []

    @guard_tool(engine, policy="support-bot", tool="issue_refund")
    def refund(order_id, amount, note="", tags=()):
        got.append((note, tags))

    refund("ORD-12345678", 10, note="customer jo@example.com", tags=("vip", "mail jo@example.com"))
    assert got == [("customer <EMAIL_ADDRESS>", ("vip", "mail <EMAIL_ADDRESS>"))]


def test_principal_and_context_per_call(engine):
    user = {"role": "agent"}

    # The ticket goes in the context, where the policy reads it; it is not a refund argument.
    @guard_tool(engine, policy="support-bot", tool="issue_refund", principal=lambda: dict(user), exclude=("ticket",),
                context=lambda args: {"ticket": args["ticket"]} if args.get("ticket") else None)
    def refund(order_id, amount, ticket=None):
        return "ran"

    with pytest.raises(PolicyViolation, match="default-deny"):
        refund("ORD-12345678", 300)
    user["role"] = "manager"
    assert refund("ORD-12345678", 300) == "ran"
    with pytest.raises(PolicyViolation, match="cap"):
        refund("ORD-12345678", 9000)
    assert refund("ORD-12345678", 9000, ticket="T-1") == "ran"


def test_on_deny_value_is_returned(engine):
    @guard_tool(engine, policy="support-bot", tool="issue_refund", on_deny=lambda d: {"error": d.rule_ids})
    def refund(order_id, amount):
        raise AssertionError("must not run")

    assert refund("ORD-1", 9000) == {"error": ["cap"]}


def test_default_tool_name_self_and_kwargs(engine):
    class Shop:
        @guard_tool(engine, policy="support-bot")
        def lookup_order(self, **kwargs):
            return kwargs

    assert Shop().lookup_order(order_id="ORD-12345678") == {"order_id": "ORD-12345678"}
    with pytest.raises(PolicyViolation):
        Shop().lookup_order(order_id="nope")


def test_excluded_parameters_are_not_sent(engine):
    seen = []

    class Spy:
        def check_input(self, *a, **k):
            raise AssertionError

        check_output = check_input

        def check_tool_call(self, tool, args=None, **kw):
            seen.append(args)
            return engine.check_tool_call(tool, args, **kw)

    @guard_tool(Spy(), policy="support-bot", tool="lookup_order", exclude=("db",), check_result=False)
    def lookup(order_id, db=None):
        return "ok"

    assert lookup("ORD-12345678", db=object()) == "ok"
    assert seen == [{"order_id": "ORD-12345678"}]


def test_escalation():
    e = Engine.from_path(PSEUDO)

    @guard_tool(e, tool="issue_refund")
    def refund(amount):
        return "ran"

    with pytest.raises(EscalationRequired, match="escalated the tool call 'issue_refund' to human_review"):
        refund(5)
    assert guard_tool(e, tool="issue_refund", on_escalate=lambda d: CONTINUE)(lambda amount: "ran")(5) == "ran"
    assert guard_tool(e, tool="issue_refund", on_escalate=lambda d: "queued")(lambda amount: "ran")(5) == "queued"


def test_async_tools(engine):
    @guard_tool(engine, policy="support-bot", tool="issue_refund")
    async def refund(order_id, amount, note=""):
        await asyncio.sleep(0)
        return note

    assert asyncio.run(refund("ORD-12345678", 5, note="jo@example.com")) == "<EMAIL_ADDRESS>"
    with pytest.raises(PolicyViolation):
        asyncio.run(refund("ORD-12345678", 9000))


def test_a_failing_checker_fails_closed(engine):
    class Down:
        def check_input(self, *a, **k):
            raise ConnectionError("no route to sidecar")

        check_output = check_tool_call = check_tool_result = check_input

    ran = []
    fn = guard_tool(Down(), policy="support-bot", tool="issue_refund")(lambda amount: ran.append(amount))
    with pytest.raises(PolicyViolation, match="fails closed"):
        fn(5)
    assert ran == []
