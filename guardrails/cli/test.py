"""`guardrails test PATH...`: run policy tests (*.tests.yaml), with coverage."""

from __future__ import annotations

import argparse
import json
import sys

from guardrails.cli.common import UsageError, add_ner_option
from guardrails.diagnostics import GuardrailsError

NAME = "test"
HELP = "run policy tests (*.tests.yaml) and report rule and branch coverage"

COVERAGE_NOTE = (
    "rule coverage: rules that fired in at least one case (or step); branch coverage: boolean conditions seen "
    "both true and false. --min-coverage applies to rule coverage, --min-branch-coverage to branch "
    "coverage, each policy on its own."
)


def register(sub) -> None:
    t = sub.add_parser(
        NAME,
        help=HELP,
        description="Run the cases of policy test files against the policies they name. A case is one "
        "request of any stage (tool_result included), or `steps:`, a session's requests in order on a fixed "
        "timeline (`at`, `after`), each with its expected decision; every case starts on fresh session state, "
        "and a failing step is named by its index and line. The format is documented in "
        "guardrails/testing/__init__.py. A directory is "
        "searched for *.tests.yaml files; policies load from each test file's directory and from the "
        "directories (and .policy files) given. Exit codes: 0 every case passed, 1 a case failed, a test "
        "file is malformed, no case was found or coverage is below a minimum, 2 bad usage.",
        epilog=COVERAGE_NOTE,
    )
    t.add_argument("paths", nargs="+", metavar="PATH", help="test files or directories")
    t.add_argument("-k", dest="select", metavar="SUBSTRING", help="run only cases whose name contains SUBSTRING")
    t.add_argument("--coverage", action="store_true", help="report rule and branch coverage per policy")
    t.add_argument("--min-coverage", type=_percent, metavar="PCT",
                   help="fail when a policy's rule coverage is below PCT (implies --coverage)")
    t.add_argument("--min-branch-coverage", type=_percent, metavar="PCT",
                   help="fail when a policy's branch coverage is below PCT (implies --coverage)")
    t.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    add_ner_option(t)
    t.add_argument("--injection-model", metavar="MODULE:FACTORY",
                   help="score injection() with this importable backend instead of the shipped model")
    t.add_argument("--grounding-model", metavar="MODULE:FACTORY",
                   help="judge grounded() paraphrases with this importable NLI backend (default: none)")


def _percent(text: str) -> float:
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a percentage: {text!r}") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"a percentage is between 0 and 100, not {value:g}")
    return value


def _backends(args: argparse.Namespace) -> tuple[object | None, object | None]:
    """The backends named by --injection-model and --grounding-model, loaded
    before any test file is read; one that cannot be loaded is bad usage."""
    from guardrails.testing.runner import load_backends

    try:
        return load_backends(args.injection_model, args.grounding_model)
    except GuardrailsError as exc:
        raise UsageError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    from guardrails.testing import Runner, find_test_files, format_failure

    files, roots, missing = find_test_files(args.paths)
    if missing:
        raise UsageError(f"no such file or directory: {', '.join(missing)}")
    want_coverage = args.coverage or args.min_coverage is not None or args.min_branch_coverage is not None
    injection, grounding = _backends(args)
    runner = Runner(roots=roots, coverage=want_coverage, ner_model=args.ner_model,
                    injection_model=injection, grounding_model=grounding)
    text = args.format == "text"

    results = []
    for path in files:
        fr = runner.run_file(path, args.select)
        results.append(fr)
        if text:
            if fr.error:
                print(f"{fr.path}: error ({len(fr.prepared.errors)} problem(s), see below)", flush=True)
            else:
                print(f"{fr.path} ({fr.prepared.label}): " + _counts(
                    fr.count("passed"), fr.count("failed"), fr.count("skipped")), flush=True)

    cases = [r for fr in results for r in fr.results]
    passed = sum(r.status == "passed" for r in cases)
    skipped = sum(r.status == "skipped" for r in cases)
    failed = sum(r.status == "failed" for r in cases) + sum(fr.error for fr in results)
    coverage = runner.coverage_report() if want_coverage else None
    problems = []
    if not files:
        problems.append(f"no test files found in {', '.join(args.paths)} (test files end in .tests.yaml)")
    elif not cases and not any(fr.error for fr in results):
        problems.append(f"no test cases match -k {args.select!r}" if args.select else "no test cases found")
    for pc in coverage or ():
        label = f"{pc.name} {pc.version}"
        if args.min_coverage is not None and pc.rule_percent < args.min_coverage:
            problems.append(f"rule coverage of {label} is {pc.rule_percent:g}%, below --min-coverage "
                            f"{args.min_coverage:g}%")
        if args.min_branch_coverage is not None and pc.branch_percent < args.min_branch_coverage:
            problems.append(f"branch coverage of {label} is {pc.branch_percent:g}%, below --min-branch-coverage "
                            f"{args.min_branch_coverage:g}%")
    ok = failed == 0 and not problems

    if not text:
        print(json.dumps({
            "ok": ok, "passed": passed, "failed": failed, "skipped": skipped,
            "files": [{
                "path": fr.path, "policy": fr.prepared.tests.policy,
                "version": fr.prepared.policy.version if fr.prepared.policy is not None else None,
                "status": "error" if fr.error else "ran",
                "errors": [d.to_json() for d in fr.prepared.errors],
                "rendered_errors": fr.prepared.render_errors() if fr.error else None,
            } for fr in results],
            "cases": [r.to_json() for r in cases],
            "coverage": [pc.to_json() for pc in coverage] if coverage is not None else None,
            "problems": problems,
        }, indent=2, ensure_ascii=False))
        return 0 if ok else 1

    errors = [fr for fr in results if fr.error]
    failures = [r for r in cases if r.status == "failed"]
    if errors or failures:
        print()
    for fr in errors:
        print(fr.prepared.render_errors())
        print()
    for r in failures:
        print(format_failure(r))
        print()
    for r in cases:
        if r.status == "skipped":
            print(f"SKIPPED {r.path}:{r.case.line}: {r.case.name}: {r.reason}")
    if coverage is not None:
        print(_coverage_text(coverage))
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    sys.stderr.flush()
    print(_counts(passed, failed, skipped))
    return 0 if ok else 1


def _counts(passed: int, failed: int, skipped: int) -> str:
    line = f"{passed} passed, {failed} failed"
    return line + (f", {skipped} skipped" if skipped else "")


def _coverage_text(report) -> str:
    lines = ["", "coverage:"]
    for pc in report:
        lines.append(f"  {pc.name} {pc.version}: rules covered {pc.rules_covered}/{len(pc.rules)} "
                     f"({pc.rule_percent:g}%), branches covered {pc.branches_covered}/{pc.branches_total} "
                     f"({pc.branch_percent:g}%)" + (f"; {pc.branches_fixed} tool test(s) always true under the "
                                                      "tool index, not counted" if pc.branches_fixed else ""))
        if not any(r.fired or any(b.seen_true or b.seen_false for b in r.branches) for r in pc.rules):
            lines.append("    no case exercised this policy")
            continue
        uncovered = [r for r in pc.rules if not r.fired]
        if uncovered:
            lines.append("    rules never fired:")
            lines.extend(f"      {r.span}: {r.rule} [{r.stage}]" for r in uncovered)
        partial = [(r, b) for r in pc.rules for b in r.branches if not b.covered]
        if partial:
            lines.append("    branches not seen both ways:")
            for r, b in partial:
                seen = "never evaluated" if not (b.seen_true or b.seen_false) else (
                    "never false" if b.seen_true else "never true")
                lines.append(f"      {r.span}: {r.rule} [{r.stage}]: `{b.source}` {seen}")
    lines.append("  " + COVERAGE_NOTE)
    lines.append("")
    return "\n".join(lines)
