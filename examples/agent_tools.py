"""An agent loop with tools, guarded at both ends, with a local fake model.

Run it: ``python examples/agent_tools.py`` (no network, no keys). The fake
model proposes tool calls in the OpenAI format. ``@guard`` checks each
proposed call against the support-bot policy's tool_call rules before the
agent sees it and removes the ones not allowed; ``@guard_tool`` checks the
tool functions themselves, so a denied call never executes even when it
comes from somewhere else. It shows stopped tool calls, redacted tool
arguments, and the principal taken from the current user.
"""

from __future__ import annotations

import json
from pathlib import Path

from guardrails import Engine
from guardrails.guard import PolicyViolation, guard, guard_tool

POLICIES = Path(__file__).resolve().parent.parent / "policies"
engine = Engine.from_path(POLICIES)
current_user = {"id": "agent-7", "role": "agent"}  # set per request by a web framework


def whoever_is_logged_in() -> dict:
    return {"role": current_user["role"]}


# -- the tools, each guarded where it is defined
@guard_tool(engine, policy="support-bot", tool="lookup_order")
def lookup_order(order_id: str) -> dict:
    return {"order_id": order_id, "status": "shipped", "total": 240}


@guard_tool(engine, policy="support-bot", tool="issue_refund", principal=whoever_is_logged_in)
def issue_refund(order_id: str, amount: float, note: str = "") -> str:
    print(f"    >>> issue_refund RAN: {amount} for {order_id}, note={note!r}")
    return f"refunded {amount}"


TOOLS = {"lookup_order": lookup_order, "issue_refund": issue_refund}


# -- a scripted fake model: what it proposes at each turn of the loop
SCRIPT = [
    [("lookup_order", {"order_id": "ORD-12345678"})],
    [("issue_refund", {"order_id": "ORD-12345678", "amount": 240, "note": "Customer jo@example.com asked twice"}),
     ("issue_refund", {"order_id": "ORD-12345678", "amount": 40, "note": "Goodwill, mail jo@example.com"})],
    [],
]


def fake_model(messages: list[dict]) -> dict:
    turn = sum(1 for m in messages if m["role"] == "assistant")
    calls = SCRIPT[min(turn, len(SCRIPT) - 1)]
    message = {"role": "assistant", "content": None if calls else "All done: the order is refunded.",
               "tool_calls": [{"id": f"call_{turn}_{i}", "type": "function",
                               "function": {"name": name, "arguments": json.dumps(args)}}
                              for i, (name, args) in enumerate(calls)] or None}
    return {"choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}]}


def report_stopped(call, decision) -> None:
    why = "; ".join(f"{v.rule} ({v.message})" for v in decision.violations if v.effect == "deny")
    print(f"    STOPPED tool call {call.name} (amount {call.args.get('amount')}): {why}")


@guard(engine, policy="support-bot", principal=whoever_is_logged_in, context={"user_id": "cust-42"},
       on_tool_denied=report_stopped)
def agent_step(messages: list[dict]) -> dict:
    return fake_model(messages)


def run_agent(question: str) -> None:
    messages = [{"role": "user", "content": question}]
    for turn in range(5):
        message = agent_step(messages)["choices"][0]["message"]
        messages.append(message)
        calls = message.get("tool_calls") or []
        print(f"  turn {turn}: the model's allowed tool calls: {[c['function']['name'] for c in calls]}")
        if not calls:
            print(f"  answer: {message['content']!r}")
            return
        for c in calls:
            args = json.loads(c["function"]["arguments"])
            print(f"    calling {c['function']['name']}({args})")
            result = TOOLS[c["function"]["name"]](**args)
            messages.append({"role": "tool", "tool_call_id": c["id"], "content": json.dumps(result)})


def main() -> None:
    print("1. An agent (role 'agent') asks for a refund: the 240 refund is stopped, the 40 one runs")
    run_agent("Please refund order ORD-12345678, I was charged twice")

    print("\n2. A denied tool call never executes, even when called directly")
    try:
        issue_refund("ORD-12345678", 9000, note="bulk refund")
    except PolicyViolation as exc:
        print(f"  BLOCKED: {exc}")

    print("\n3. The principal is read per call: a manager may refund more")
    current_user["role"] = "manager"
    print(f"  {issue_refund('ORD-12345678', 240)}")

    print("\n4. A lookup with a malformed order id is not allowed")
    try:
        lookup_order("12345")
    except PolicyViolation as exc:
        print(f"  BLOCKED: {exc}")


if __name__ == "__main__":
    main()
