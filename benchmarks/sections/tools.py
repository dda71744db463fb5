"""Tool calls: this engine's decisions against cedarpy on the same policy and requests.

Also the cost of tracing a decision (issue 17): the same engine untraced,
wrapped by ``traced()`` with no tracer provider, and wrapped with the
OpenTelemetry SDK and an in-memory exporter; and the sidecar's handler
wrapper (sidecar/tracing.py) with no tracer configured, against the bare
handler. All sides alternate call by call.

The policy has ten permit/forbid rules over roles, amounts, tool groups and
flags, written in both languages. Cedar gets pre-parsed ``PolicySet`` and
``Entities`` handles: users carry their role, id and suspended flag as
entity attributes, tools are actions in action groups. This engine gets the
same user as ``principal`` and the same flags as ``context``.
"""

from __future__ import annotations

import json
import random

from ..harness import Context, SectionResult, measure, section

GROUPS = {
    "payments": ["issue_refund", "void_charge", "transfer_funds"],
    "reads": ["lookup_order", "track_shipment", "search_docs"],
    "admin": ["delete_user", "reset_password", "change_role"],
}
ROLES = ["agent", "manager", "finance", "admin", "viewer"]
GOAL = 10.0  # issue 16: at least 10x cedarpy per request (the goal before it was 5x)

POLICY = """
policy "bench-tools" version "1.0.0"
tools payments = ["issue_refund", "void_charge", "transfer_funds"]
tools reads = ["lookup_order", "track_shipment", "search_docs"]
tools admin = ["delete_user", "reset_password", "change_role"]

tool_call {
  rule reads-for-all: allow when tool in reads
  rule small-payments: allow when tool in payments and args.amount <= 100
  rule manager-payments: allow when tool in payments and principal.role == "manager" and args.amount <= 5000
  rule finance-payments: allow when tool in payments and principal.role == "finance"
  rule admins: allow when tool in admin and principal.role == "admin"
  rule big-needs-ticket: deny "payments over 5000 need a ticket"
      when tool in payments and args.amount > 5000 and not (context has ticket)
  rule suspended: deny "suspended users may not call tools" when principal.suspended
  rule sandbox: deny "no payments from the sandbox" when tool in payments and context.sandbox
  rule no-self-promotion: deny "no changing your own role" when tool == "change_role" and args.target == principal.id
  rule admin-needs-mfa: deny "admin tools need MFA" when tool in admin and not context.mfa
}
"""

CEDAR = """
permit(principal, action in Action::"reads", resource);
permit(principal, action in Action::"payments", resource) when { context.amount <= 100 };
permit(principal, action in Action::"payments", resource)
  when { principal.role == "manager" && context.amount <= 5000 };
permit(principal, action in Action::"payments", resource) when { principal.role == "finance" };
permit(principal, action in Action::"admin", resource) when { principal.role == "admin" };
forbid(principal, action in Action::"payments", resource)
  when { context.amount > 5000 && !(context has ticket) };
forbid(principal, action, resource) when { principal.suspended };
forbid(principal, action in Action::"payments", resource) when { context.sandbox };
forbid(principal, action == Action::"change_role", resource) when { context.target == principal.id };
forbid(principal, action in Action::"admin", resource) when { !context.mfa };
"""


def users(rnd: random.Random, n: int = 40) -> list[dict]:
    return [{"id": f"u{i}", "role": rnd.choice(ROLES), "suspended": rnd.random() < 0.1} for i in range(n)]


def entities_json(people: list[dict]) -> str:
    ents = [{"uid": {"type": "User", "id": u["id"]}, "attrs": dict(u), "parents": []} for u in people]
    for group, tools in GROUPS.items():
        ents.append({"uid": {"type": "Action", "id": group}, "attrs": {}, "parents": []})
        for t in tools:
            ents.append({"uid": {"type": "Action", "id": t}, "attrs": {},
                         "parents": [{"type": "Action", "id": group}]})
    return json.dumps(ents)


def requests(rnd: random.Random, people: list[dict], n: int) -> list[tuple[dict, dict]]:
    """(our request, Cedar request) pairs describing the same call."""
    out = []
    for _ in range(n):
        group = rnd.choice(list(GROUPS))
        tool = rnd.choice(GROUPS[group])
        user = rnd.choice(people)
        args: dict = {}
        if group == "payments":
            args["amount"] = rnd.choice([rnd.randint(1, 100), rnd.randint(101, 5000), rnd.randint(5001, 20000)])
        if tool == "change_role":
            args["target"] = user["id"] if rnd.random() < 0.3 else rnd.choice(people)["id"]
        context: dict = {"sandbox": rnd.random() < 0.1, "mfa": rnd.random() < 0.8}
        if rnd.random() < 0.3:
            context["ticket"] = f"T-{rnd.randint(1000, 9999)}"
        ours = {"tool": tool, "args": args, "principal": dict(user), "context": context}
        cedar_ctx = dict(context)
        cedar_ctx.update(args)
        theirs = {"principal": f'User::"{user["id"]}"', "action": f'Action::"{tool}"',
                  "resource": 'App::"agent"', "context": cedar_ctx}
        out.append((ours, theirs))
    return out


@section("tools", "Tool-call decisions vs cedarpy", needs=("cedarpy",))
def run(ctx: Context, res: SectionResult) -> None:
    import cedarpy

    from guardrails import Engine

    rnd = random.Random(ctx.seed)
    people = users(rnd)
    engine = Engine.from_source(POLICY)
    policies = cedarpy.PolicySet.from_str(CEDAR)
    entities = cedarpy.Entities.from_json_str(entities_json(people))

    def ours(req: dict):
        return engine.check_tool_call(req["tool"], req["args"], principal=req["principal"], context=req["context"])

    def theirs(req: dict):
        return cedarpy.is_authorized(req, policies, entities)

    reps = ctx.pick(2, 5, 5)
    per_rep = ctx.pick(100, 1000, 2000)
    for a, b in requests(rnd, people, 200):  # warm-up, not timed
        ours(a)
        theirs(b)
    sets = [requests(rnd, people, per_rep) for _ in range(reps)]
    m = measure([ours, theirs], lambda rep: [[a for a, _ in sets[rep]], [b for _, b in sets[rep]]], reps, rnd,
                keep=True)
    mismatches = 0
    allowed = 0
    for mine, cedar in zip(m.results_of(0), m.results_of(1)):
        mismatches += bool(cedar.diagnostics.errors) or mine.allowed != cedar.allowed
        allowed += mine.allowed
    total = reps * per_rep
    res.check("identical decisions on every request", mismatches == 0)
    res.notes.append(f"{total} random requests, {allowed} allowed and {total - allowed - mismatches} denied by "
                     f"both; {mismatches} disagreements")
    res.rows.append(m.row("decision per request", "cedarpy", goal=GOAL,
                          note=f"{per_rep} requests x {reps} repetitions"))
    res.notes.append("cedarpy.is_authorized with pre-parsed PolicySet and Entities handles, one request per call; "
                     "the two sides alternate request by request, in an order drawn at random for each request")
    tracing_rows(ctx, res, engine, sets, reps, rnd)


def tracing_rows(ctx: Context, res: SectionResult, engine, sets: list, reps: int, rnd: random.Random) -> None:
    """What a span per decision costs, and what wrapping costs with no tracer configured."""
    from importlib.util import find_spec

    from guardrails.guard.otel import traced
    from guardrails.sidecar.rpc import Later
    from guardrails.sidecar.tracing import RpcTracing

    def decide(target, req):
        return target.check_tool_call(req["tool"], req["args"], principal=req["principal"], context=req["context"])

    class Metadata:  # the gRPC context's one method the wrapper may read
        def invocation_metadata(self):
            return ()

    meta = Metadata()
    handler = lambda req, _ctx: decide(engine, req)
    wrapped = RpcTracing().wrap("tool_call", handler, Later)  # no provider given, none set globally
    bare = traced(engine)
    fns = [lambda req: decide(engine, req), lambda req: decide(bare, req), lambda req: handler(req, meta),
           lambda req: wrapped(req, meta)]
    exporter = None
    if find_spec("opentelemetry.sdk") is not None:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )

        provider, exporter = TracerProvider(), InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        spans = traced(engine, tracer_provider=provider)
        fns.append(lambda req: decide(spans, req))

    def inputs(rep: int) -> list[list]:
        if exporter is not None:
            exporter.clear()  # spans of earlier repetitions are not kept around
        return [[a for a, _ in sets[rep]]] * len(fns)

    for a, _ in sets[0][:200]:  # warm-up, not timed
        for fn in fns:
            fn(a)
    m = measure(fns, inputs, reps, rnd)
    n = len(sets[0])
    res.rows.append(m.row("traced(engine), no tracer provider", "the engine untraced", ours=1, peer=0,
                          kind="relative", goal=1.1, note=f"{n} tool decisions x {reps} repetitions; the "
                          "OpenTelemetry API installed, no provider set: no span, no metric instrument called, "
                          "a look for a global provider at most once a second"))
    res.rows.append(m.row("sidecar check handler, no tracer configured", "the bare handler", ours=3, peer=2,
                          kind="relative", goal=1.1, note="sidecar/tracing.py's wrapper: one provider check, "
                          "no span, no metadata read"))
    if exporter is not None:
        res.rows.append(m.row("traced(engine), SDK tracer + in-memory exporter", "the engine untraced", ours=4,
                              peer=0, kind="relative", note="a recorded span per decision (SimpleSpanProcessor)"))
    else:
        res.notes.append("opentelemetry-sdk not installed: no row for a recorded span")
