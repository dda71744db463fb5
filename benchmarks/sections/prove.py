"""guardrails prove on a 100-rule tool-call policy (docs/prove.md).

The policy declares twenty tools (typed arguments, an enum, optional ones)
and a principal, and has 100 rules: per tool, an allow up to an amount for
a role, a larger allow for managers, a deny above a cap without a ticket, a
deny of one currency, and a warning. Two changes are proved against it: a
tightening of every tool's allow (proved: the solver shows no request is
newly allowed) and a widening of one tool's allow (a counterexample, replayed
on the engine). Each run loads both versions, encodes them and solves once.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from ..harness import Context, SectionResult, budget_row, section

TOOLS = 20
BUDGET_S = 30.0  # one proof over 100 rules, the command's default --timeout


def policy(version: str, limit: int = 100, widen: int | None = None) -> str:
    decls, rules = [], []
    for k in range(TOOLS):
        decls.append(f'tool t{k}(amount: number, currency: "USD" | "EUR" | "GBP", order_id?: string, '
                     f'note?: string)')
        cap = limit * (k + 1) + (500 if k == widen else 0)
        rules += [
            f'  rule allow-{k}: allow when tool == "t{k}" and principal.role == "agent" and args.amount <= {cap}',
            (f'  rule manager-{k}: allow when tool == "t{k}" and principal.role == "manager" '
            f'and args.amount <= {cap * 10}'),
            (f'  rule cap-{k}: deny "over the cap" when tool == "t{k}" and args.amount > {cap * 20} '
            f'and not (context has ticket)'),
            (f'  rule gbp-{k}: deny "no GBP" when tool == "t{k}" and args.currency == "GBP" '
            f'and not (principal.role == "manager")'),
            f'  rule note-{k}: warn "refund with a note" when tool == "t{k}" and args has note',
        ]
    decls.append('principal { id?: string, role: "agent" | "manager" | "viewer" }')
    decls.append('context { ticket?: string }')
    return (f'policy "bench-prove" version "{version}"\n' + "\n".join(decls) + "\ntool_call {\n"
            + "\n".join(rules) + "\n}\n")


@section("prove", "guardrails prove on a 100-rule policy", needs=("z3",))
def run(ctx: Context, res: SectionResult) -> None:
    from guardrails.prove.load import load
    from guardrails.prove.queries import no_new_allows

    reps = ctx.pick(2, 3, 5)  # every row reports a ratio over at least two repetitions
    cases = {"tightening (proved)": ("1.1.0", 90, None), "widening (counterexample)": ("1.2.0", 100, 7)}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for name, (version, limit, widen) in [("old", ("1.0.0", 100, None)), *cases.items()]:
            p = Path(tmp, f"{version}.policy")
            p.write_text(policy(version, limit, widen))
            paths[name] = p
        rules = policy("1.0.0").count("  rule ")
        for name, (version, _, _) in cases.items():
            times, status = [], set()
            for _ in range(reps):
                t0 = time.perf_counter()
                r = no_new_allows(load(paths["old"]), load(paths[name]), timeout_ms=int(BUDGET_S * 1000))
                times.append(time.perf_counter() - t0)
                status.add(r.status)
            want = "proved" if "proved" in name else "counterexample"
            res.check(f"{name}: {want}", status == {want})
            res.rows.append(budget_row(f"--no-new-allows, {rules} rules, {name}", times, BUDGET_S,
                                       f"{BUDGET_S:g} s budget",
                                       note="load both versions, encode, solve, replay on the engine"))
    res.notes.append(f"{rules} rules over {TOOLS} declared tools; {reps} runs per case, each from loading")
