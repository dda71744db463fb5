"""`guardrails check PATH...`: parse, check and compile; print every problem."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from guardrails.diagnostics import diagnostics_json, render_all
from guardrails.cli.common import plural, UsageError, add_ner_option

NAME = "check"
HELP = "run the static checks on policy files"


def register(sub) -> None:
    c = sub.add_parser(
        NAME,
        help=HELP,
        description="Parse, check and compile policies; print every problem with its line and column. "
        "Exits 0 when valid, 1 when there are errors, 2 on a usage error.",
    )
    c.add_argument("paths", nargs="+", metavar="PATH", help="policy files or directories of *.policy files")
    c.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    add_ner_option(c)
    c.add_argument("--strict", action="store_true",
                   help="treat warnings as errors, and require a schema for every tool a policy names and "
                        "every principal, context and metadata it reads (E111; docs/schema.md)")
    c.add_argument("-q", "--quiet", action="store_true", help="print errors only, no warnings or summary")
    c.add_argument("--against", metavar="OLD_BUNDLE",
                   help="also fail when a policy's source differs from the same version in this older bundle "
                   "(its version was not bumped)")
    c.add_argument("--key", metavar="KEYFILE", help="key to verify signed bundles (in PATH or --against)")


def _bundle_failed(err, fmt: str) -> int:
    errors = [d for d in err.diagnostics if d.is_error]
    if fmt == "json":
        print(json.dumps({"ok": False, "errors": len(errors), "warnings": 0, "policies": [],
                          "diagnostics": json.loads(diagnostics_json(err.diagnostics))}, indent=2))
    else:
        print(err.render(), file=sys.stderr)
        print(f"cannot check: a bundle does not verify ({len(errors)} problem(s))", file=sys.stderr)
    return 1


def run(args: argparse.Namespace) -> int:
    from guardrails.bundle import BundleError, check_against
    from guardrails.engine import load_paths

    if args.against is not None and not Path(args.against).is_file():
        raise UsageError(f"--against {args.against}: no such bundle")
    try:
        result = load_paths(args.paths, ner_model=args.ner_model, bundle_key=args.key, strict=args.strict)
        # Versions are compared even when the policies have other errors.
        against = check_against(result.sources, args.against, key=args.key) if args.against else []
    except BundleError as err:
        return _bundle_failed(err, args.format)
    all_diags = sorted([*result.diagnostics, *against], key=lambda d: d.sort_key())
    diags = [d for d in all_diags if d.is_error or not args.quiet]
    errors = sum(1 for d in all_diags if d.is_error)
    warnings = len(all_diags) - errors
    failed = errors > 0 or (args.strict and warnings > 0)
    if args.format == "json":
        print(json.dumps({
            "ok": not failed,
            "errors": errors,
            "warnings": warnings,
            "policies": [{"name": p.name, "version": p.version, "digest": p.digest} for p in result.policies],
            "diagnostics": json.loads(diagnostics_json(diags)),
        }, indent=2))
        return 1 if failed else 0
    if diags:
        print(render_all(diags, result.sources), file=sys.stderr if failed else sys.stdout)
    if not args.quiet:
        if failed:
            print(f"{errors} error(s), {warnings} warning(s)", file=sys.stderr)
        else:
            names = ", ".join(f"{p.name} {p.version}" for p in sorted(result.policies, key=lambda p: p.name))
            print(f"ok: {plural(len(result.policies), 'policy', 'policies')} ({names}); {warnings} warning(s)")
            if args.against:
                print(f"ok: no policy changed without a version bump since {args.against}")
    return 1 if failed else 0
