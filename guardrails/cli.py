"""The `guardrails` command line: a thin layer over the engine.

Exit codes: 0 success; 1 the policies have errors (or, with --fail-on-deny,
a request was denied); 2 bad usage or a malformed request.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from . import __version__
from .decision import Decision
from .diagnostics import PolicyError, diagnostics_json, render_all

STAGES = ("input", "output", "retrieval", "tool_call")


class UsageError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="guardrails",
        description="Policy-as-code guardrails for LLM applications.",
        epilog="Run `guardrails COMMAND --help` for the options of a command.",
    )
    p.add_argument("--version", action="version", version=f"guardrails {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    c = sub.add_parser(
        "check",
        help="run the static checks on policy files",
        description="Parse, check and compile policies; print every problem with its line and column. "
        "Exits 0 when valid, 1 when there are errors.",
    )
    c.add_argument("paths", nargs="+", metavar="PATH", help="policy files or directories of *.policy files")
    c.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    c.add_argument("--ner-model", metavar="NAME", help="installed spaCy model package enabling PERSON, LOCATION, ...")
    c.add_argument("--strict", action="store_true", help="treat warnings as errors")
    c.add_argument("-q", "--quiet", action="store_true", help="print errors only, no warnings or summary")

    e = sub.add_parser(
        "eval",
        help="evaluate one request (or a batch) and print the decision",
        description="Evaluate a request against a policy. The request is JSON on stdin unless --text "
        "or --batch is given. Shapes: input/output {\"text\", \"context\"}; retrieval "
        "{\"chunks\": [{\"text\", \"metadata\"}], \"context\"}; tool_call "
        "{\"tool\", \"args\", \"principal\", \"context\"}.",
    )
    e.add_argument("path", metavar="PATH", help="a policy file or a directory of policies")
    e.add_argument("--stage", choices=STAGES, help="which rules to run (required unless --batch)")
    e.add_argument("--policy", metavar="NAME[@VERSION]", help="which policy, when PATH holds several")
    e.add_argument("--text", help="the text to check (input/output stages) instead of stdin")
    e.add_argument("--batch", metavar="FILE",
                   help="JSON lines, each {\"stage\", \"policy\"?, \"request\"}; prints one decision per line")
    e.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    e.add_argument("--explain", action="store_true", help="show the path through the rule graph")
    e.add_argument("--fail-on-deny", action="store_true", help="exit 1 when any request is denied")
    e.add_argument("--ner-model", metavar="NAME", help="installed spaCy model package for NER entities")
    g = sub.add_parser(
        "graph",
        help="print the compiled rule graph as DOT or Mermaid",
        description="Compile a policy and print its rule graph: shared detector nodes, rules by cost "
        "tier, the tool index, and the combiner.",
    )
    g.add_argument("path", metavar="PATH", help="a policy file or a directory of policies")
    g.add_argument("--policy", metavar="NAME[@VERSION]", help="which policy, when PATH holds several")
    g.add_argument("--format", choices=("dot", "mermaid"), default="dot", help="output format (default: dot)")
    g.add_argument("--ner-model", metavar="NAME", help="installed spaCy model package for NER entities")
    return p


def cmd_graph(args: argparse.Namespace) -> int:
    from .engine import Engine, UnknownPolicyError
    from .graph import to_dot, to_mermaid

    try:
        engine = Engine.from_path(args.path, ner_model=args.ner_model)
    except PolicyError as err:
        print(err.render(), file=sys.stderr)
        return 1
    try:
        policy = engine.get_policy(args.policy)
    except UnknownPolicyError as err:
        raise UsageError(str(err)) from None
    print(to_dot(policy) if args.format == "dot" else to_mermaid(policy), end="")
    return 0


def _load(paths: Sequence[str], ner_model: str | None):
    from .engine import load_paths

    return load_paths(paths, ner_model=ner_model)


def cmd_check(args: argparse.Namespace) -> int:
    result = _load(args.paths, args.ner_model)
    diags = [d for d in result.diagnostics if d.is_error or not args.quiet]
    errors = sum(1 for d in result.diagnostics if d.is_error)
    warnings = len(result.diagnostics) - errors
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
            print(f"ok: {len(result.policies)} policies ({names}); {warnings} warning(s)")
    return 1 if failed else 0


def _read_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None


def _request_for(args: argparse.Namespace) -> dict:
    if args.text is not None:
        if args.stage not in ("input", "output"):
            raise UsageError("--text works with --stage input or output; send other stages as JSON on stdin")
        return {"text": args.text}
    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError("no request: pass --text, --batch FILE, or JSON on stdin")
    data = _read_json(sys.stdin.read(), "<stdin>")
    if not isinstance(data, dict):
        raise UsageError("<stdin>: the request must be a JSON object")
    return data


def _print_decision(d: Decision, fmt: str, label: str | None = None) -> None:
    if fmt == "json":
        print(d.model_dump_json(exclude_none=True))
        return
    if label:
        print(f"== {label}")
    print(d.explain())
    if d.text is not None and d.stage in ("input", "output"):
        print(f"  forward: {d.text!r}")
    elif d.text is not None:
        print(f"  forward: {json.dumps(d.text, ensure_ascii=False)}")


def cmd_eval(args: argparse.Namespace) -> int:
    from .engine import Engine, UnknownPolicyError

    if args.batch is None and args.stage is None:
        raise UsageError("--stage is required (input, output, retrieval or tool_call)")
    try:
        engine = Engine.from_path(args.path, ner_model=args.ner_model)
    except PolicyError as err:
        print(err.render(), file=sys.stderr)
        print(f"cannot evaluate: {sum(d.is_error for d in err.diagnostics)} error(s) in the policies", file=sys.stderr)
        return 1
    denied = False
    try:
        if args.batch is None:
            d = engine.check(args.stage, _request_for(args), policy=args.policy, explain=args.explain)
            _print_decision(d, args.format)
            denied = d.denied
        else:
            for label, stage, policy, request in _batch(args.batch):
                d = engine.check(stage, request, policy=policy or args.policy, explain=args.explain)
                _print_decision(d, args.format, label)
                denied = denied or d.denied
    except UnknownPolicyError as err:
        raise UsageError(str(err)) from None
    return 1 if (denied and args.fail_on_deny) else 0


def _batch(path: str):
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    entries = []
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        item = _read_json(line, f"{path}:{n}")
        if not isinstance(item, dict) or item.get("stage") not in STAGES or not isinstance(item.get("request"), dict):
            raise UsageError(f"{path}:{n}: each line needs \"stage\" (one of {', '.join(STAGES)}) "
                             "and a \"request\" object")
        label = item.get("label") or f"{path}:{n} {item['stage']}"
        entries.append((label, item["stage"], item.get("policy"), item["request"]))
    if not entries:
        raise UsageError(f"{path}: no requests found")
    return entries


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "check":
            return cmd_check(args)
        if args.command == "eval":
            return cmd_eval(args)
        if args.command == "graph":
            return cmd_graph(args)
    except UsageError as err:
        print(f"guardrails {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    parser.print_help()
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
