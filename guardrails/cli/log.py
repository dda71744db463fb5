"""`guardrails log verify|show FILE`: check and read a decision log."""

from __future__ import annotations

import argparse
import json
import sys

from guardrails.cli.common import UsageError

NAME = "log"
HELP = "verify or show a decision log"


def register(sub) -> None:
    g = sub.add_parser(
        NAME,
        help=HELP,
        description="Work with the hash-chained decision logs that `guardrails eval --log` and "
        "guardrails.decision_log.DecisionLog write.",
    )
    actions = g.add_subparsers(dest="log_action", metavar="ACTION")
    v = actions.add_parser(
        "verify",
        help="recompute the hash chain; name the first line that breaks it",
        description="Recompute the hash chain. Exit 0 when every record verifies (a partial last line, "
        "left by a writer killed mid-write, is a warning), 1 when a record was edited, deleted, inserted "
        "or moved (each problem names its line), 2 when the file cannot be read.",
    )
    v.add_argument("file", metavar="FILE")
    v.add_argument("--strict", action="store_true", help="a truncated last line is an error too")
    v.add_argument("--head", metavar="HASH",
                   help="the hash the last record must have (kept elsewhere; catches records removed from the end)")
    v.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    s = actions.add_parser(
        "show",
        help="print decision records",
        description="Print the decision records of a log, oldest first (the header is skipped).",
    )
    s.add_argument("file", metavar="FILE")
    s.add_argument("--last", type=int, metavar="N", help="only the last N records")
    s.add_argument("--session", metavar="ID",
                   help="only the records of this session: its id where log_keep kept it, or else its masked "
                   "marker's hmac under $GUARDRAILS_LOG_KEY (the key the log was written with)")
    s.add_argument("--format", choices=("text", "json"), default="text",
                   help="text: one line per decision; json: the records as stored (default: text)")


def run(args: argparse.Namespace) -> int:
    if args.log_action == "verify":
        return _verify(args)
    if args.log_action == "show":
        return _show(args)
    raise UsageError("say what to do: `guardrails log verify FILE` or `guardrails log show FILE`")


def _verify(args: argparse.Namespace) -> int:
    from guardrails.decision_log import verify_log

    try:
        result = verify_log(args.file, strict=args.strict, expect_head=args.head)
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    if args.format == "json":
        print(json.dumps({
            "ok": result.ok,
            "records": result.records,
            "head": result.head,
            "truncated_line": result.truncated_line,
            "problems": [{"line": p.line, "message": p.message} for p in result.problems],
        }, indent=2))
        return 0 if result.ok else 1
    for p in result.problems:
        print(f"{args.file}:{p.line}: error: {p.message}", file=sys.stderr)
    if result.truncated_line is not None:
        level = "error" if args.strict else "warning"
        print(f"{args.file}:{result.truncated_line}: {level}: truncated record (no final newline): "
              "a writer stopped mid-write; it is ignored, and a writer reopening the log removes it",
              file=sys.stderr)
    if result.ok:
        print(f"{args.file}: ok: {result.records} record(s) verified; head {result.head}")
        return 0
    print(f"{args.file}: FAILED: {len(result.problems)} problem(s)"
          + ("" if result.problems else " (truncated tail with --strict)"), file=sys.stderr)
    return 1


def _show(args: argparse.Namespace) -> int:
    from guardrails.decision_log import LogFormatError, read_log, verify_log

    if args.last is not None and args.last < 0:
        raise UsageError("--last takes a number of records (0 or more)")
    try:
        records = [rec for _, rec in read_log(args.file) if rec.get("type") == "decision"]
        truncated = verify_log(args.file, max_problems=0).truncated_line
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    except LogFormatError as exc:
        raise UsageError(str(exc)) from None
    if truncated is not None:
        print(f"{args.file}:{truncated}: warning: truncated record (no final newline) not shown", file=sys.stderr)
    if args.session is not None:
        records = _of_session(records, args.session, args.file)
    if args.last is not None:
        records = records[-args.last:] if args.last else []
    for rec in records:
        print(json.dumps(rec, sort_keys=True) if args.format == "json" else _line(rec))
    return 0


def _of_session(records: list[dict], session: str, path: str) -> list[dict]:
    """The records of one session: kept ids compared as they are, masked ones by their keyed hmac."""
    import os

    from guardrails.decision_log import LOG_KEY_ENV, is_masked, value_hmac

    key = os.environ.get(LOG_KEY_ENV)
    want = value_hmac(session, key.encode()) if key else None
    out, unkeyed, keyed = [], 0, 0
    for rec in records:
        got = (rec.get("request") or {}).get("session") if isinstance(rec.get("request"), dict) else None
        if got == session or (is_masked(got) and want is not None and got.get("hmac") == want):
            out.append(rec)
        elif is_masked(got):
            keyed, unkeyed = keyed + ("hmac" in got), unkeyed + ("hmac" not in got)
    if out:
        return out
    if keyed and want is None:
        print(f"{path}: warning: {keyed} record(s) name a masked session; set ${LOG_KEY_ENV} to the key the log "
              "was written with to find this session among them", file=sys.stderr)
    elif unkeyed:
        print(f"{path}: warning: {unkeyed} record(s) name a session that is masked without an hmac; write the "
              f"log with ${LOG_KEY_ENV} set (or keep \"session\" in log_keep) to follow sessions", file=sys.stderr)
    return out


def _line(rec: dict) -> str:
    policy = rec.get("policy") or {}
    rules = ",".join(rec.get("rules") or []) or "-"
    parts = [
        str(rec.get("timestamp", "?")),
        f"#{rec.get('seq', '?')}",
        f"{rec.get('stage', '?'):<11}",
        f"{str(rec.get('outcome', '?')).upper():<8}",
        f"{policy.get('name', '?')}@{policy.get('version', '?')}",
        f"rules={rules}",
    ]
    if rec.get("route"):
        parts.append(f"route={rec['route']}")
    spans = rec.get("spans") or []
    if spans:
        parts.append("spans=" + ",".join(sorted({s.get("entity", "?") for s in spans})))
    if rec.get("errors"):
        parts.append("errors=" + ",".join(e.get("code", "?") for e in rec["errors"]))
    if rec.get("labels"):
        parts.append("labels=" + ",".join(map(str, rec["labels"])))
    session = (rec.get("request") or {}).get("session") if isinstance(rec.get("request"), dict) else None
    if isinstance(session, str):
        parts.append(f"session={session}")
    elif isinstance(session, dict) and session.get("hmac"):
        parts.append(f"session=#{session['hmac'][:12]}")
    parts.append(f"{rec.get('elapsed_us', '?')}us")
    parts.append(str(rec.get("decision_id", "")))
    return "  ".join(parts)
