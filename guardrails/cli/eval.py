"""`guardrails eval PATH --stage S`: evaluate one request (or a batch)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from guardrails.decision import Decision
from guardrails.diagnostics import PolicyError
from guardrails.stages import STAGES
from guardrails.cli.common import UsageError, add_ner_option, printable, read_json

NAME = "eval"
HELP = "evaluate one request (or a batch) and print the decision"


def register(sub) -> None:
    e = sub.add_parser(
        NAME,
        help=HELP,
        description="Evaluate a request against a policy. The request is JSON on stdin unless --text "
        "or --batch is given. Shapes: input/output {\"text\", \"context\"}; retrieval "
        "{\"chunks\": [{\"text\", \"metadata\"}], \"context\"}; tool_call "
        "{\"tool\", \"args\", \"principal\", \"context\"}; tool_result {\"tool\", \"result\" (a string or "
        "any JSON value), \"args\", \"principal\", \"context\"}. Any request may carry \"session\" (the "
        "agent run it belongs to) and \"at\" (its time in unix seconds; default now). A --batch file is "
        "replayed in order on one engine, so its lines are the steps of sessions: labels, history and "
        "limits carry from line to line. Exit codes: 0 decided, 1 policy errors (or a deny with "
        "--fail-on-deny), 2 bad usage or request.",
        epilog="Session state lives in memory for the run unless --state names a shared store; "
        "redis:// needs $GUARDRAILS_HASH_SALT, the key the replicas share.",
    )
    e.add_argument("path", metavar="PATH", help="a policy file or a directory of policies")
    e.add_argument("--stage", choices=STAGES, help="which rules to run (required unless --batch)")
    e.add_argument("--policy", metavar="NAME[@VERSION]", help="which policy, when PATH holds several")
    e.add_argument("--text", help="the text to check (input/output stages) instead of stdin")
    e.add_argument("--batch", metavar="FILE",
                   help="JSON lines, each {\"stage\", \"policy\"?, \"label\"?, \"request\"}, replayed in order "
                   "(each request's \"session\" and \"at\" honoured); one decision per line")
    e.add_argument("--state", metavar="URL",
                   help="where session state lives: memory (the default: this run only) or "
                   "redis://HOST:PORT/DB, shared with the sidecars that use it")
    e.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    e.add_argument("--explain", action="store_true", help="show the path through the rule graph")
    e.add_argument("--fail-on-deny", action="store_true", help="exit 1 when any request is denied")
    e.add_argument("--log", metavar="FILE",
                   help="append a hash-chained decision record per request to FILE (see `guardrails log`)")
    add_ner_option(e)
    e.add_argument("--key", metavar="KEYFILE", help="key that verifies a signed bundle given as PATH")
    e.add_argument("--injection-model", metavar="MODULE:FACTORY",
                   help="score injection() with this importable backend instead of the shipped model")
    e.add_argument("--sources", metavar="FILE",
                   help="output stage: a JSON list of the chunks the answer rests on, for grounded() "
                        "(strings or {text, id, metadata})")


def _request_for(args: argparse.Namespace) -> dict:
    if args.text is not None:
        if args.stage not in ("input", "output"):
            raise UsageError("--text works with --stage input or output; send other stages as JSON on stdin")
        return {"text": args.text}
    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError("no request: pass --text, --batch FILE, or JSON on stdin")
    raw = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read()
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise UsageError(f"<stdin>: the request is not UTF-8 (byte {exc.start}: {exc.reason})") from None
    data = read_json(text, "<stdin>")
    if not isinstance(data, dict):
        raise UsageError("<stdin>: the request must be a JSON object")
    return data


def print_decision(d: Decision, fmt: str, label: str | None = None) -> None:
    """One decision on stdout. A lone surrogate the request carried (JSON's
    ``"\\ud800"``) is U+FFFD in the JSON format (see Decision.model_dump_json)
    and its escape in the text format: never a failed write."""
    if fmt == "json":
        body = d.model_dump_json(exclude_none=True)
        # A batch line's label leads its decision, so a reader can match them up.
        print(body if label is None else '{"label":' + json.dumps(label) + "," + body[1:])
        return
    lines = [f"== {label}"] if label else []
    lines.append(d.explain())
    if d.labels:
        lines.append(f"  labels:  {', '.join(d.labels)}")
    if d.text is not None and d.stage in ("input", "output"):
        lines.append(f"  forward: {d.text!r}")
    elif d.text is not None:
        lines.append(f"  forward: {json.dumps(d.text, ensure_ascii=False)}")
    print(printable("\n".join(lines)))


def read_batch(path: str) -> list[tuple[str, str, str | None, dict]]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    entries = []
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        item = read_json(line, path, first_line=n)
        if not isinstance(item, dict) or item.get("stage") not in STAGES or not isinstance(item.get("request"), dict):
            raise UsageError(f"{path}:{n}: each line needs \"stage\" (one of {', '.join(STAGES)}) "
                             "and a \"request\" object")
        label = item.get("label") or f"{path}:{n} {item['stage']}"
        entries.append((label, item["stage"], item.get("policy"), item["request"]))
    if not entries:
        raise UsageError(f"{path}: no requests found")
    return entries


def _with_sources(args: argparse.Namespace, request: dict) -> dict:
    if args.sources is None:
        return request
    if args.stage != "output":
        raise UsageError("--sources works with --stage output (the answer's sources)")
    try:
        text = Path(args.sources).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {args.sources}: {getattr(exc, 'strerror', None) or exc}") from None
    return {**request, "sources": read_json(text, args.sources)}


def run(args: argparse.Namespace) -> int:
    if args.batch is None and args.stage is None:
        raise UsageError(f"--stage is required ({', '.join(STAGES[:-1])} or {STAGES[-1]})")
    if args.state is not None:
        _check_state(args.state)
    batch = read_batch(args.batch) if args.batch is not None else None
    request = _with_sources(args, _request_for(args)) if batch is None else None
    log = None
    if args.log is not None:
        from guardrails.decision_log import DecisionLog

        # Room for the whole batch: the CLI should log every decision, not shed load.
        log = DecisionLog(args.log, queue_size=max(10_000, len(batch or ()) + 1))
    try:
        return _evaluate(args, batch, request, log)
    finally:
        if log is not None:
            log.close()
            stats = log.stats()
            if stats.dropped:
                print(f"guardrails eval: warning: {stats.dropped} decision record(s) not logged: "
                      f"{stats.last_error or 'the log queue was full'}", file=sys.stderr)


def _check_state(url: str) -> None:
    """A bad --state is bad usage (exit 2), found before the policies load."""
    from guardrails.sessions import open_store

    try:
        open_store(url).close()  # parses the URL; connects nowhere
    except ValueError as exc:
        raise UsageError(f"--state: {exc}") from None


def _evaluate(args: argparse.Namespace, batch, request, log) -> int:
    from guardrails.engine import Engine

    try:
        engine = Engine.from_path(args.path, ner_model=args.ner_model, bundle_key=args.key, decision_log=log,
                                  injection_model=args.injection_model, state=args.state)
    except PolicyError as err:
        print(err.render(), file=sys.stderr)
        print(f"cannot evaluate: {sum(d.is_error for d in err.diagnostics)} error(s) in the policies", file=sys.stderr)
        return 1
    try:
        return _decide(args, engine, batch, request, log)
    finally:
        engine.close()


def _decide(args: argparse.Namespace, engine, batch, request, log) -> int:
    from guardrails.engine import UnknownPolicyError

    if log is not None:
        log.bind(engine)  # each policy's log_keep decides what its records keep
    denied = False
    try:
        if batch is None:
            d = engine.check(args.stage, request, policy=args.policy, explain=args.explain)
            print_decision(d, args.format)
            denied = d.denied
        else:
            for label, stage, policy, req in batch:
                d = engine.check(stage, req, policy=policy or args.policy, explain=args.explain)
                print_decision(d, args.format, label)
                denied = denied or d.denied
    except UnknownPolicyError as err:
        raise UsageError(str(err)) from None
    return 1 if (denied and args.fail_on_deny) else 0
