"""`guardrails diff OLD NEW --cases FILE... | --log FILE`: what a policy change would alter."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from pathlib import Path

from guardrails.diagnostics import GuardrailsError, PolicyError
from guardrails.cli.common import UsageError, add_ner_option

NAME = "diff"
HELP = "show which decisions a policy change would alter"


def register(sub) -> None:
    d = sub.add_parser(
        NAME,
        help=HELP,
        description="Evaluate the same requests under two versions of the policies and print every request "
        "whose outcome, fired rules or forwarded text would change, then the counts. Requests come from "
        "JSON-lines files in the `guardrails eval --batch` format or policy test files *.tests.yaml "
        "(--cases), or the requests kept in a decision log (--log). Requests replay in order on one engine "
        "per side, so session steps (labels, history, limits) carry over as they did; each test case starts "
        "on fresh session state, and a logged request replays at its record's time. "
        "Exit codes: 0 done; 1 the policies have errors (as `guardrails eval` and `check`), or something "
        "changed and --fail-on-change was given; 2 bad usage or unreadable input.",
    )
    d.add_argument("old", metavar="OLD", help="the current policies: a file, a directory or a bundle")
    d.add_argument("new", metavar="NEW", help="the proposed policies: a file, a directory or a bundle")
    src = d.add_mutually_exclusive_group(required=True)
    src.add_argument("--cases", nargs="+", metavar="FILE",
                     help="JSON lines, each {\"stage\", \"policy\"?, \"label\"?, \"request\"}, "
                     "or policy test files (*.tests.yaml; their `with:` fixtures apply on both sides)")
    src.add_argument("--log", metavar="FILE", help="replay the requests kept in a decision log")
    d.add_argument("--policy", metavar="NAME",
                   help="only requests for this policy (and the policy for requests that name none)")
    d.add_argument("--fail-on-change", action="store_true", help="exit 1 when any decision changes")
    d.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    add_ner_option(d)


def run(args: argparse.Namespace) -> int:
    from guardrails.authoring.impact import compare

    cases = _read_cases(args)
    # One salt for both sides, so hash() redactions compare equal.
    salt = secrets.token_bytes(32)
    old = _engine(args.old, "OLD", args, salt)
    new = _engine(args.new, "NEW", args, salt)
    report = compare(old, new, cases, policy=args.policy, progress=_progress(len(cases)))
    if args.format == "json":
        out = report.as_dict()
        out["old"] = _describe(old)
        out["new"] = _describe(new)
        print(json.dumps(out, indent=2, ensure_ascii=False, default=str))
    else:
        _print_text(report, old, new)
    return 1 if (args.fail_on_change and report.changed) else 0


def _read_cases(args: argparse.Namespace) -> list:
    from guardrails.authoring.impact import cases_from_batch, cases_from_log

    if args.log is not None:
        from guardrails.decision_log import LogFormatError

        try:
            cases = cases_from_log(args.log)
        except OSError as exc:
            raise UsageError(f"cannot read {args.log}: {exc.strerror or exc}") from None
        except LogFormatError as exc:
            raise UsageError(str(exc)) from None
        if not cases:
            raise UsageError(f"{args.log}: the log holds no decision records")
        return cases
    from guardrails.cli.eval import read_batch

    cases = []
    for path in args.cases:
        if path.endswith((".tests.yaml", ".tests.yml")):
            cases.extend(_test_file_cases(path))
        else:
            cases.extend(cases_from_batch(read_batch(path)))
    return cases


def _test_file_cases(path: str) -> list:
    """The requests of a policy test file (guardrails.testing), with their `with:` fixtures."""
    from guardrails.diagnostics import Diagnostics, render_all
    from guardrails.authoring.impact import Case
    from guardrails.testing import SEQUENCE, STATIC, load_tests, overrides_for

    tests = load_tests(path)
    if not tests.ok:
        errors = [d for d in tests.diagnostics if d.is_error]
        print(render_all(errors, {tests.path: tests.text}), file=sys.stderr)
        raise UsageError(f"{path}: {len(errors)} error(s) in the test file")

    def fixtures(case):
        # A case's (or a step's) `with:` fixes detector results; the detector
        # node ids come from each side's own graph, so translate once per side.
        def build(policy) -> dict:
            diags = Diagnostics()
            found = overrides_for(case, policy.stages[case.stage], diags)
            if diags.has_errors:
                raise ValueError("the case's `with:` does not apply: "
                                 + "; ".join(d.message for d in diags.items if d.is_error))
            return found

        return build if case.fixed else None

    out = []
    for c in tests.cases:
        if c.stage == STATIC:  # checks of the policy text: no request to replay
            continue
        # Every case starts on fresh session state, as `guardrails test` runs it;
        # a step case replays step by step on the state its steps build.
        for i, (label, req) in enumerate([(f"{path}:{c.line} {c.name}", c)] if c.stage != SEQUENCE else
                                         [(f"{path}:{s.line} {c.name} steps[{s.index}]", s) for s in c.steps]):
            out.append(Case(label, req.stage, tests.policy, req.request, overrides=fixtures(req),
                            fresh_state=i == 0))
    return out


def _engine(path: str, side: str, args: argparse.Namespace, salt: bytes):
    from guardrails.engine import Engine

    if not Path(path).exists():
        raise UsageError(f"{side} {path}: no such file or directory")
    try:
        return Engine.from_path(path, ner_model=args.ner_model, hash_salt=salt)
    except PolicyError as err:
        print(err.render(), file=sys.stderr)
        errors = sum(d.is_error for d in err.diagnostics)
        # exit 1 (main's GuardrailsError), as eval and check exit on policies with errors
        raise GuardrailsError(f"{side} {path}: {errors} error(s) in the policies") from None
    except GuardrailsError as err:
        raise UsageError(f"{side} {path}: {err}") from None


def _progress(total: int):
    """Report to stderr about once a second, once a run has taken more than a second."""
    started = time.monotonic()
    state = {"next": started + 1.0}

    def report(done: int) -> None:
        now = time.monotonic()
        if now >= state["next"] and done < total:
            state["next"] = now + 1.0
            print(f"guardrails diff: {done}/{total} requests evaluated", file=sys.stderr, flush=True)

    return report


def _describe(engine) -> list[dict]:
    return [{"name": p.name, "version": p.version, "digest": p.digest}
            for p in sorted(engine.policies, key=lambda p: (p.name, p.version))]


def _print_text(report, old, new) -> None:
    from guardrails.authoring.impact import show_value

    def names(engine) -> str:
        return ", ".join(f"{p['name']} {p['version']}" for p in _describe(engine))

    print(f"OLD: {names(old)}")
    print(f"NEW: {names(new)}")
    for r in report.changed:
        print(f"\n== {r.case.label}")
        if r.old.policy != r.new.policy:
            print(f"   policy   {r.old.policy} -> {r.new.policy}")
        if "outcome" in r.kinds:
            print(f"   outcome  {r.old.outcome} -> {r.new.outcome}")
        if "rules" in r.kinds:
            print(f"   rules    {_rules(r.old.rules)} -> {_rules(r.new.rules)}")
        if "text" in r.kinds:
            print(f"   text     {show_value(r.old.text)} -> {show_value(r.new.text)}")
        if r.case.missing:
            print(f"   (replayed without the masked fields {', '.join(r.case.missing)})")
    if report.not_replayable:
        print("\nnot replayable:")
        for r in report.not_replayable:
            print(f"   {r.case.label}: {r.problem}")
    counts = report.counts()
    print(f"\n{len(report.results)} request(s), {len(report.changed)} changed:")
    for name, n in counts.items():
        print(f"   {name:<16} {n}")
    if report.filtered:
        print(f"   ({report.filtered} request(s) for other policies not evaluated)")


def _rules(rules) -> str:
    return ", ".join(rules) if rules else "(none)"
