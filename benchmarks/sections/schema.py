"""The schema check's cost per tool decision (docs/schema.md).

Two engines load the same twenty tool-call rules; one also declares the
twenty tools' arguments (typed, with enums, optional ones and a nested
record), so each of its decisions first checks the request against the
schema. Both decide the same requests, alternated call by call; the ratio
is the cost of the check. Every request matches the schema, as a working
agent's do (a refused one would stop early and cost less).
"""

from __future__ import annotations

import random

from ..harness import Context, SectionResult, measure, section

TOOLS = 20
GOAL = 1.25  # the check may add at most a quarter to a tool decision


def policies() -> tuple[str, str]:
    """(with a schema, without), the same rules."""
    decls, rules = [], []
    for k in range(TOOLS):
        decls.append(f'tool t{k}(order_id: string, amount: number, currency: "USD" | "EUR" | "GBP", '
                     f'note?: string, lines?: list[{{sku: string, qty: integer}}])')
        rules.append(f'  rule allow-{k}: allow when tool == "t{k}" and principal.role == "r{k % 4}" '
                     f'and args.amount <= {100 * (k + 1)}')
    decls.append('principal { id: string, role: "r0" | "r1" | "r2" | "r3" }')
    body = "tool_call {\n" + "\n".join(rules) + "\n}\n"
    head = 'policy "bench-schema" version "1.0.0"\n'
    return head + "\n".join(decls) + "\n" + body, head + body


def requests(rnd: random.Random, n: int) -> list[dict]:
    out = []
    for _ in range(n):
        args = {"order_id": f"A{rnd.randrange(10**6)}", "amount": rnd.randint(1, 2000),
                "currency": rnd.choice(["USD", "EUR", "GBP"])}
        if rnd.random() < 0.5:
            args["note"] = "customer asked twice"
        if rnd.random() < 0.5:
            args["lines"] = [{"sku": f"S{j}", "qty": rnd.randint(1, 5)} for j in range(rnd.randint(1, 4))]
        out.append({"tool": f"t{rnd.randrange(TOOLS)}", "args": args,
                    "principal": {"id": f"u{rnd.randrange(100)}", "role": f"r{rnd.randrange(4)}"}})
    return out


@section("schema", "The schema check's cost per tool decision")
def run(ctx: Context, res: SectionResult) -> None:
    from guardrails import Engine

    rnd = random.Random(ctx.seed)
    with_schema, without = policies()
    engines = [Engine.from_source(with_schema, warm_up=False), Engine.from_source(without, warm_up=False)]
    fns = [lambda r, e=e: e.check_tool_call(r["tool"], r["args"], principal=r["principal"]) for e in engines]
    for r in requests(rnd, 50):  # warm-up, not timed
        for f in fns:
            f(r)
    reps, per_rep = ctx.pick(2, 5, 5), ctx.pick(50, 2000, 5000)
    sets = [requests(rnd, per_rep) for _ in range(reps)]
    m = measure(fns, lambda rep: [sets[rep], sets[rep]], reps, rnd, keep=True)
    same = all(a.outcome == b.outcome and a.rule_ids == b.rule_ids
               for a, b in zip(m.results_of(0), m.results_of(1)))
    res.check("identical decisions with and without the schema on matching requests", same)
    res.check("no request refused by the schema", not any(d.request_error for d in m.results_of(0)))
    added = (m.timing(0).median - m.timing(1).median) * 1e6
    res.rows.append(m.row("tool decision with the schema check", "same rules, no schema", kind="relative",
                          goal=GOAL, note=f"the check adds {added:.1f} µs at the median; {TOOLS} declared tools, "
                                          f"args of 3-5 fields with an enum and a list of records"))
    res.notes.append(f"{per_rep} requests x {reps} repetitions, both engines on each request in a random order")
