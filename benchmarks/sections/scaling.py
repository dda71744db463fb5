"""Scaling: decision time as rules about other tools grow, input checks as text grows.

The policies are the ten rules of the tool-call section plus rules about
other tools (`other_tool_K`), so the same requests meet more and more rules
that do not concern them; the tool index should keep decisions flat. Rules
that name no tool are the `rules` section's.
"""

from __future__ import annotations

import random

from ..data import pii_text
from ..harness import Context, Measured, SectionResult, fmt_time, measure, section
from .tools import POLICY, requests, users


def tool_policy(n: int) -> str:
    extra = "\n".join(
        f'  rule other-{k}: allow when tool == "other_tool_{k}" and args.amount <= {k % 997}'
        for k in range(n - 10)
    )
    return POLICY.rstrip().rstrip("}") + extra + "\n}\n"


INPUT_POLICY = """
policy "bench-input" version "1.0.0"
config { max_text_length = 1000000 }
entities contact = [EMAIL_ADDRESS, PHONE_NUMBER]
entities money = [CREDIT_CARD, IBAN_CODE, US_BANK_NUMBER]
entities ids = [US_SSN, US_PASSPORT, US_DRIVER_LICENSE]
terms injection = ["ignore previous instructions", "reveal your system prompt", "you are now in developer mode"]
input {
  rule no-secrets: deny "credentials" when secrets()
  rule no-injection: deny "injection" when banned(injection)
  rule override: deny "injection" when text matches /ignore (all|any|previous) instructions/i
  rule redact-contact: redact contact using replace("<{entity}>")
  rule mask-money: redact money using mask("*")
  rule redact-ids: redact ids using replace("<{entity}>")
}
"""


@section("scaling", "Scaling: rules about other tools, text size")
def run(ctx: Context, res: SectionResult) -> None:
    from guardrails import Engine

    rnd = random.Random(ctx.seed)
    people = users(rnd)
    sizes = ctx.pick([10, 100, 1000], [10, 100, 1000, 10000], [10, 100, 1000, 10000])
    reps = ctx.pick(2, 5, 5)
    per_rep = ctx.pick(50, 200, 400)

    def decide(engine):
        return lambda r: engine.check_tool_call(r["tool"], r["args"], principal=r["principal"], context=r["context"])

    fns = [decide(Engine.from_source(tool_policy(n))) for n in sizes]
    for r in [a for a, _ in requests(rnd, people, 50)]:  # warm-up, not timed
        for f in fns:
            f(r)
    # Every size decides every request, in an order drawn at random for each request.
    sets = [[a for a, _ in requests(rnd, people, per_rep)] for _ in range(reps)]
    m = measure(fns, lambda rep: [sets[rep]] * len(fns), reps, rnd)
    for i, n in enumerate(sizes[1:], 1):
        res.rows.append(m.row(f"tool decision, {n:,} rules", "same, 10 rules", ours=i, peer=0, kind="relative",
                              goal=1.2, note=f"{per_rep} requests x {reps} repetitions"))
    res.notes.append("extra rules allow other tools (`tool == \"other_tool_K\" and args.amount <= K`); "
                     "the requests are those of the tool-call section")

    # Input checks as text grows: the same density of PII (one value per 2 KB).
    # Each round checks one text of every size still to do, in a random order.
    engine = Engine.from_source(INPUT_POLICY, cache_size=1)
    text_sizes = ctx.pick([100, 1_000, 10_000, 100_000], [100, 1_000, 10_000, 100_000, 1_000_000],
                          [100, 1_000, 10_000, 100_000, 1_000_000])
    counts = {100: ctx.pick(3, 20, 40), 1_000: ctx.pick(2, 10, 20), 10_000: ctx.pick(1, 4, 8),
              100_000: ctx.pick(1, 1, 2), 1_000_000: ctx.pick(1, 1, 1)}
    engine.check_input(pii_text(rnd, 10_000, 1))  # warm-up, not timed
    texts = [[[pii_text(rnd, size, max(1, size // 2000))[:size] for _ in range(counts[size])] for size in text_sizes]
             for _ in range(reps)]
    m = measure([engine.check_input] * len(text_sizes), lambda rep: texts[rep], reps, rnd)
    # Per KB: each side's samples divided by its text size.
    per_kb = Measured([[[t / (size / 1000) for t in side] for side, size in zip(rep, text_sizes)]
                       for rep in m.samples])
    ref = text_sizes.index(10_000)
    for i, size in enumerate(text_sizes):
        res.extra.setdefault("input_check_seconds", {})[str(size)] = m.timing(i).median
        if i == ref:
            continue
        res.rows.append(per_kb.row(f"input check per KB, {_size(size)}", "per KB at 10 KB", ours=i, peer=ref,
                                   kind="relative", goal=1.5 if size > 10_000 else None,
                                   note=f"{counts[size]} distinct texts x {reps} repetitions; "
                                        f"median {fmt_time(m.timing(i).median)}"))
    res.notes.append("input checks: secrets, banned terms, a regex and three PII redactions; "
                     "linear means the cost per KB does not grow with the text (goal for 100 KB and 1 MB)")
    res.notes.append("small texts cost more per KB: a fixed few tens of microseconds per request")


def _size(n: int) -> str:
    return f"{n // 1_000_000} MB" if n >= 1_000_000 else f"{n // 1000} KB" if n >= 1000 else f"{n} B"
