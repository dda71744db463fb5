"""Rules that name no tool: decisions against cedarpy as the policy grows,
and compiling the largest policy.

The tool index files a rule under the tools its condition names; a rule
that names none applies to every call. These policies have only such rules,
in three shapes that test a request's other attributes:

* ``allow when principal.role == "role_K" and args.amount <= N``;
* ``deny when context.team == "team_K" and context.frozen`` (a context flag);
* ``allow when args.project == "proj_K" and not context.frozen``.

Cedar gets the same rules (``principal.role`` as an entity attribute, the
arguments merged into ``context``, as in the tool-call section). Every size
decides the same requests; each request points its role, team and project
at one rule of each shape, half of the time among the first ten rules (so
the 10-rule policy has work to do) and otherwise anywhere up to the largest
size. An engine that indexed equality tests on every attribute, as OPA does,
would touch about three rules per request at every size.
"""

from __future__ import annotations

import json
import random

from ..harness import (
    Context,
    Row,
    SectionResult,
    Timing,
    budget_row,
    measure,
    once,
    section,
)

SIZES = (10, 100, 1_000, 10_000)
TOOLS = ("search_docs", "issue_refund", "send_mail", "lookup_order")
GOAL_VS_10 = 1.5  # issue 16: 10,000 tool-agnostic rules within 1.5x of 10
COMPILE_BUDGET = 1.0  # issue 16: compile 10,000 rules in at most 1 s


def rule_line(k: int, variant: int = 0) -> tuple[str, str]:
    """Rule `k` in this engine's language and in Cedar's."""
    if k % 3 == 0:
        limit = 100 + k % 900 + variant
        cedar = (f'permit(principal, action, resource) when {{ principal.role == "role_{k}" '
                 f'&& context.amount <= {limit} }};')
        return f'  rule role-{k}: allow when principal.role == "role_{k}" and args.amount <= {limit}', cedar
    if k % 3 == 1:
        return (f'  rule team-{k}: deny "team {k} is frozen" when context.team == "team_{k}" and context.frozen',
                f'forbid(principal, action, resource) when {{ context.team == "team_{k}" && context.frozen }};')
    return (f'  rule project-{k}: allow when args.project == "proj_{k}" and not context.frozen',
            f'permit(principal, action, resource) when {{ context.project == "proj_{k}" && !context.frozen }};')


def agnostic_policy(n: int, variant: int = 0) -> tuple[str, str]:
    """`n` tool-agnostic rules, as (this engine's source, Cedar's source).

    `variant` changes one limit and the version, so each compile in a
    repetition reads a source it has never seen."""
    ours, cedar = zip(*(rule_line(k, variant if k == 0 else 0) for k in range(n)))
    head = f'policy "bench-agnostic" version "1.0.{variant}"\ntool_call {{\n'
    return head + "\n".join(ours) + "\n}\n", "\n".join(cedar) + "\n"


def _target(rnd: random.Random, shape: int) -> int:
    """A rule index of this shape: among the first ten half of the time, else up to the largest size."""
    top = 10 if rnd.random() < 0.5 else SIZES[-1]
    return 3 * rnd.randrange((top - shape + 2) // 3) + shape


def users(rnd: random.Random, n: int = 1000) -> list[dict]:
    return [{"id": f"u{i}", "role": f"role_{_target(rnd, 0)}"} for i in range(n)]


def entities_json(people: list[dict]) -> str:
    return json.dumps([{"uid": {"type": "User", "id": u["id"]}, "attrs": dict(u), "parents": []} for u in people])


def requests(rnd: random.Random, people: list[dict], n: int) -> list[tuple[dict, dict]]:
    """(our request, Cedar request) pairs describing the same call."""
    out = []
    for _ in range(n):
        user = rnd.choice(people)
        tool = rnd.choice(TOOLS)
        args = {"amount": rnd.randint(1, 1200), "project": f"proj_{_target(rnd, 2)}"}
        context = {"team": f"team_{_target(rnd, 1)}", "frozen": rnd.random() < 0.2}
        ours = {"tool": tool, "args": args, "principal": dict(user), "context": context}
        theirs = {"principal": f'User::"{user["id"]}"', "action": f'Action::"{tool}"',
                  "resource": 'App::"agent"', "context": {**context, **args}}
        out.append((ours, theirs))
    return out


@section("rules", "Rules that name no tool vs cedarpy, and compiling them", needs=("cedarpy",))
def run(ctx: Context, res: SectionResult) -> None:
    import cedarpy

    from guardrails import Engine

    rnd = random.Random(ctx.seed)
    sizes = ctx.pick(SIZES[:2], SIZES[:3], SIZES)
    people = users(rnd)
    entities = cedarpy.Entities.from_json_str(entities_json(people))

    # Compiling the largest policy, against Cedar parsing the same rules. A
    # compile is one sample; repetitions stop early once ours has taken
    # `budget` seconds in all, so a slow compile costs one sample, not five.
    largest = sizes[-1]
    reps = ctx.pick(2, 5, 5)
    budget = ctx.pick(10.0, 30.0, 150.0)
    t_ours: list[float] = []
    t_cedar: list[float] = []
    built: dict[str, object] = {}
    engines: dict[int, object] = {}
    policies: dict[int, object] = {}
    for rep in range(reps):
        src, ced = agnostic_policy(largest, rep)
        steps = [lambda src=src: built.__setitem__("ours", Engine.from_source(src)),
                 lambda ced=ced: built.__setitem__("cedar", cedarpy.PolicySet.from_str(ced))]
        order = [0, 1]
        rnd.shuffle(order)
        took = {k: once(steps[k]) for k in order}
        t_ours.append(took[0])
        t_cedar.append(took[1])
        if rep == 0:
            engines[largest], policies[largest] = built["ours"], built["cedar"]
        if sum(t_ours) > budget:
            break
    note = (f"{len(t_ours)} repetitions, each a new source"
            + ("" if len(t_ours) == reps else f" (cut at {budget:g} s of compiling)"))
    res.rows.append(Row(f"compile {largest:,} rules", Timing(t_ours), "cedarpy PolicySet.from_str", Timing(t_cedar),
                        kind="relative", ratios=[a / b for a, b in zip(t_ours, t_cedar)],
                        note=f"ours / Cedar's parse; {note}"))
    res.rows.append(budget_row(f"compile {largest:,} rules vs {COMPILE_BUDGET:g} s budget", t_ours, COMPILE_BUDGET,
                               f"{COMPILE_BUDGET:g} s budget", goal=COMPILE_BUDGET if largest == SIZES[-1] else None,
                               note="parse, check and compile (Engine.from_source)"))
    for n in sizes[:-1]:
        src, ced = agnostic_policy(n)
        engines[n] = Engine.from_source(src)
        policies[n] = cedarpy.PolicySet.from_str(ced)

    # Decisions: every size on every request, ours and Cedar's, in an order
    # drawn at random for each request.
    fns = []
    for n in sizes:
        e, p = engines[n], policies[n]
        fns.append(lambda r, e=e: e.check_tool_call(r["tool"], r["args"], principal=r["principal"],
                                                    context=r["context"]))
        fns.append(lambda r, p=p: cedarpy.is_authorized(r, p, entities))
    for a, b in requests(rnd, people, ctx.pick(5, 20, 20)):  # warm-up, not timed
        for k, f in enumerate(fns):
            f(a if k % 2 == 0 else b)
    reps = ctx.pick(2, 5, 5)
    per_rep = ctx.pick(10, 100, 100)
    sets = [requests(rnd, people, per_rep) for _ in range(reps)]
    m = measure(fns, lambda rep: [[p[k % 2] for p in sets[rep]] for k in range(len(fns))], reps, rnd, keep=True)
    disagree = {n: sum(bool(c.diagnostics.errors) or o.allowed != c.allowed
                       for o, c in zip(m.results_of(2 * i), m.results_of(2 * i + 1)))
                for i, n in enumerate(sizes)}
    res.check("identical decisions to cedarpy's at every size", not any(disagree.values()))
    for i, n in enumerate(sizes):
        allowed = sum(d.allowed for d in m.results_of(2 * i))
        res.rows.append(m.row(f"no-tool decision, {n:,} rules", f"cedarpy, same {n:,} rules", ours=2 * i,
                              peer=2 * i + 1, note=f"{allowed} of {reps * per_rep} allowed; "
                                                   f"{disagree[n]} disagreements"))
    for i, n in enumerate(sizes[1:], 1):
        res.rows.append(m.row(f"no-tool decision, {n:,} rules vs 10", "same, 10 rules", ours=2 * i, peer=0,
                              kind="relative", goal=GOAL_VS_10))
    growth = ", ".join(f"{n:,} rules {r:.1f}x" for n, r in
                       ((n, m.timing(2 * i + 1).median / m.timing(1).median) for i, n in enumerate(sizes[1:], 1)))
    res.notes.append(f"cedarpy's own growth against its 10 rules: {growth}")
    res.notes.append(f"{per_rep} requests x {reps} repetitions; every size and both engines decide each request, "
                     f"in an order drawn at random for each request")
    res.notes.append("rules test principal.role, context.team with the context.frozen flag, and args.project with "
                     "args.amount; a third of them deny")
