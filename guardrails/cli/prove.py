"""`guardrails prove`: what a policy can allow, proved with the z3 SMT solver (docs/prove.md)."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

from guardrails.cli.common import UsageError, add_ner_option

NAME = "prove"
HELP = "prove what tool calls a policy (or a policy change) can allow, with the z3 solver"

EXAMPLES = """\
examples:
  guardrails prove policies-v1/ policies-v2/ --policy support-bot --no-new-allows
  guardrails prove policies/ --policy coding-assistant \\
      --never-allows 'tool == "run_shell" and principal.role != "admin"'
  guardrails prove policies/ --policy support-bot --always-denies 'tool == "issue_refund" and args.amount > 5000'
  guardrails prove policies/ --policy support-bot --rules

exit codes: 0 proved (every rule fires and takes effect, with --rules); 1 a counterexample or a finding
(confirmed by the engine); 2 bad usage, a policy that does not load, a rule outside the solver's
fragment, or a query the solver could not settle in --timeout."""


def register(sub) -> None:
    p = sub.add_parser(
        NAME, help=HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="\n".join(textwrap.wrap(
            "Encode a policy's tool_call stage into the z3 SMT solver and prove a property for every "
            "request, or print a concrete request that breaks it: as JSON, and as a case ready to paste "
            "into a *.tests.yaml file. Every counterexample is replayed on the engine before it is shown. "
            "Text detectors (pii, secrets, banned, topic, injection) and session builtins are free inputs; "
            "a rule the solver cannot express is reported, never skipped. Needs the optional extra "
            "'prove' (z3-solver).", 100)),
        epilog=EXAMPLES,
    )
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="the policies: a file, a directory or a bundle (OLD NEW with --no-new-allows)")
    q = p.add_mutually_exclusive_group(required=True)
    q.add_argument("--no-new-allows", action="store_true",
                   help="OLD NEW: prove that every tool call NEW allows, OLD allows too")
    q.add_argument("--never-allows", metavar="EXPR",
                   help="prove that no tool call where EXPR holds is allowed (EXPR: a condition)")
    q.add_argument("--always-denies", metavar="EXPR",
                   help="prove that every tool call where EXPR holds is denied")
    q.add_argument("--rules", action="store_true",
                   help="every rule of every stage: can it fire, and does a deny always override it?")
    p.add_argument("--policy", metavar="NAME", help="the policy, when a path holds several (NAME or NAME@VERSION)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                   help="per solver query (default: 30; 0: none)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    add_ner_option(p)


def run(args: argparse.Namespace) -> int:
    from guardrails.prove.symbolic import ProveUnavailable, load_z3

    try:
        load_z3()
    except ProveUnavailable as exc:
        print(f"guardrails prove: error: {exc}", file=sys.stderr)
        return 2
    from guardrails.diagnostics import PolicyError
    from guardrails.prove.load import ChooseError, load

    want = 2 if args.no_new_allows else 1
    if len(args.paths) != want:
        raise UsageError("--no-new-allows takes two paths, OLD and NEW" if want == 2 else
                         "give one path (two only with --no-new-allows)")
    timeout_ms = int(args.timeout * 1000)
    progress = _progress
    try:
        loaded = [load(path, args.policy, ner_model=args.ner_model) for path in args.paths]
    except ChooseError as exc:
        raise UsageError(str(exc)) from None
    except PolicyError as exc:
        print(exc.render() if hasattr(exc, "render") else str(exc), file=sys.stderr)
        return 2
    from guardrails.prove import queries

    if args.rules:
        return _report_rules(queries.check_rules(loaded[0], timeout_ms, progress), args)
    if args.no_new_allows:
        old, new = loaded
        progress(f"proving that {new.ref} allows nothing {old.ref} denies")
        result = queries.no_new_allows(old, new, timeout_ms, progress)
        expect_side = f"OLD {old.ref}"
    else:
        source = args.never_allows if args.never_allows is not None else args.always_denies
        flag = "--never-allows" if args.never_allows is not None else "--always-denies"
        expr = parse_expression(source, flag)
        _check_expression(expr, source, flag, loaded[0])
        run_query = queries.never_allows if args.never_allows is not None else queries.always_denies
        progress(f"proving {flag} on {loaded[0].ref}")
        result = run_query(loaded[0], expr, source, timeout_ms, progress)
        expect_side = None
    return _report(result, args, expect_side)


def _progress(message: str) -> None:
    print(f"prove: {message}", file=sys.stderr, flush=True)


def parse_expression(source: str, flag: str):
    """A condition in the policy language, parsed by the project's parser
    inside a one-rule policy; a syntax error is shown with its caret."""
    from guardrails.parser import parse

    wrapper = 'policy "prove-query" version "1.0.0"\ntool_call { rule query: deny "query" when\n'
    result = parse(wrapper + source + "\n}\n", "<query>")
    errors = [d for d in result.diagnostics.items if d.is_error]
    if errors or result.policy is None or not result.policy.stages:
        raise UsageError("the expression does not parse:\n" + _render(errors, source, flag))
    return result.policy.stages[0].rules[0].condition


def _check_expression(expr, source: str, flag: str, loaded) -> None:
    """The expression checked as a rule of the policy would be: a misspelt
    attribute (E108) would otherwise make a vacuous proof. An optional
    attribute needs no `has` here (E304): the query holds only where it is
    true without an evaluation error."""
    from guardrails.checker import check_query

    errors = [d for d in check_query(expr, "tool_call", loaded.unit).items if d.is_error and d.code != "E304"]
    if errors:
        raise UsageError(f"the expression does not check against {loaded.ref}:\n" + _render(errors, source, flag))


def _render(errors, source: str, flag: str) -> str:
    """Diagnostics on the query's own line (line 3 of the policy it was parsed in)."""
    lines = []
    for d in errors:
        on_line = d.span.line == 3 and d.span.end_line == 3
        col = d.span.col if on_line else len(source) + 1
        width = max(1, d.span.end_col - d.span.col) if on_line else 1
        message = d.message
        if not on_line and message.startswith("unexpected '}'"):
            # The `}` closing the policy the query was parsed in: the query ended too soon.
            message = "unexpected end of the expression" + message[len("unexpected '}'"):]
        lines.append(f"{flag}:1:{col}: error[{d.code}]: {message}\n   {source}\n   {' ' * (col - 1)}{'^' * width}")
        if d.hint:
            lines.append(f"     = hint: {d.hint}")
    return "\n".join(lines or ["(empty)"])


def _report(result, args, expect_side: str | None) -> int:
    from guardrails.prove.witness import as_json, as_test_case

    if args.format == "json":
        out = {"status": result.status, "message": result.message, "outcomes": result.outcomes,
               "free_inputs": result.free, "outside": result.outside, "seconds": round(result.elapsed_s, 3)}
        if result.witness is not None:
            out["request"] = json.loads(as_json(result.witness))
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        for line in result.outside:
            print(line)
        print(result.message)
        if result.witness is not None:
            print("\nrequest:")
            print("  " + as_json(result.witness))
            print("\ndecisions (solver and engine agree):")
            for label, outcome in result.outcomes.items():
                print(f"  {label}: {outcome}")
            expect = result.outcomes.get(expect_side) if expect_side else "deny"
            notes = [f"{label} decides {o}" for label, o in result.outcomes.items()]
            print("\nas a test case (*.tests.yaml, under cases:):")
            print(textwrap.indent(as_test_case(result.witness, "tool_call", "found by guardrails prove",
                                               expect, notes), "  "))
        if result.free:
            print("\nfree inputs (any value; a model is kept only when the engine agrees):")
            for note in result.free:
                print(f"  {note}")
    return {"proved": 0, "counterexample": 1}.get(result.status, 2)


def _report_rules(reports, args) -> int:
    if args.format == "json":
        print(json.dumps([{"rule": r.qid, "stage": r.stage, "location": r.location, "verdict": r.verdict,
                           "detail": r.detail} for r in reports], indent=2))
    else:
        for r in reports:
            if r.verdict != "ok":
                print(f"{r.location}: rule {r.qid} ({r.stage}): {r.verdict}: {r.detail}")
        counts = {v: sum(1 for r in reports if r.verdict == v) for v in
                  ("ok", "never-fires", "shadowed", "outside", "unknown")}
        print(", ".join(f"{n} {v}" for v, n in counts.items()))
    if any(r.verdict in ("outside", "unknown") for r in reports):
        return 2
    return 1 if any(r.verdict != "ok" for r in reports) else 0
