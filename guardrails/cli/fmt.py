"""`guardrails fmt PATH...`: rewrite policy files in the canonical layout."""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
import tempfile
from pathlib import Path

from guardrails.diagnostics import Diagnostics, render_all
from guardrails.cli.common import UsageError

NAME = "fmt"
HELP = "format policy files in the canonical layout"

STDIN = "-"


def register(sub) -> None:
    f = sub.add_parser(
        NAME,
        help=HELP,
        description="Rewrite policy files in place in the canonical layout (comments kept; the policy "
        "itself never changes). Files with syntax errors are left alone and their errors printed. "
        "PATH `-` formats stdin to stdout. Exits 0 on success, 1 when a file has errors (or, with "
        "--check, would change), 2 on a usage error.",
    )
    f.add_argument("paths", nargs="+", metavar="PATH",
                   help="policy files, directories of *.policy files, or - for stdin")
    f.add_argument("--check", action="store_true",
                   help="write nothing; list the files that would change and exit 1 if any would")
    f.add_argument("--diff", action="store_true", help="write nothing; print a unified diff of the changes")


def run(args: argparse.Namespace) -> int:
    if STDIN in args.paths:
        if len(args.paths) > 1:
            raise UsageError("`-` (stdin) cannot be combined with other paths")
        return _run_stdin(args)
    files = _discover(args.paths)
    changed = unchanged = failed = 0
    for path in files:
        try:
            text = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"{path}: error: cannot read: {exc}", file=sys.stderr)
            failed += 1
            continue
        formatted = _format(text, str(path))
        if formatted is None:
            failed += 1
            continue
        if formatted == text:
            unchanged += 1
            continue
        changed += 1
        if args.diff:
            _print_diff(text, formatted, str(path))
        if args.check and not args.diff:
            print(path)
        if not (args.check or args.diff):
            try:
                _write_atomic(path, formatted)
            except OSError as exc:
                print(f"{path}: error: cannot write: {exc}", file=sys.stderr)
                changed -= 1
                failed += 1
    tail = f", {failed} with errors" if failed else ""
    if args.check or args.diff:
        summary = f"{changed} file(s) would be reformatted, {unchanged} already formatted{tail}"
    else:
        summary = f"formatted {changed} file(s), {unchanged} unchanged{tail}"
    print(summary, file=sys.stderr if failed or args.check or args.diff else sys.stdout)
    return 1 if failed or (args.check and changed) else 0


def _run_stdin(args: argparse.Namespace) -> int:
    label = "<stdin>"
    try:
        text = sys.stdin.buffer.read().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"stdin is not UTF-8: {exc}") from None
    formatted = _format(text, label)
    if formatted is None:
        return 1
    if args.diff:
        _print_diff(text, formatted, label)
    elif args.check:
        if formatted != text:
            print(label)
    else:
        sys.stdout.write(formatted)
    return 1 if args.check and formatted != text else 0


def _discover(paths: list[str]) -> list[Path]:
    from guardrails.resolve import discover

    diags = Diagnostics()
    files = discover(paths, diags)
    if diags.has_errors:
        raise UsageError("; ".join(d.message for d in diags.errors()))
    return files


def _format(text: str, label: str) -> str | None:
    """The formatted text, or None after printing why there is none."""
    from guardrails.authoring.format import FormatError, format_source

    try:
        result = format_source(text, label)
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others or dump a traceback
        why = str(exc) if isinstance(exc, FormatError) else f"{type(exc).__name__}: {exc}"
        print(f"{label}: internal error: {why} (please report this; the file was not changed)", file=sys.stderr)
        return None
    if result.text is None:
        print(render_all(result.diagnostics, {label: text}), file=sys.stderr)
    return result.text


def _print_diff(before: str, after: str, label: str) -> None:
    diff = difflib.unified_diff(_lines(before), _lines(after), fromfile=label, tofile=label)
    for line in diff:
        sys.stdout.write(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")


def _lines(text: str) -> list[str]:
    # Not str.splitlines(): that also splits at \x0c, \x85, U+2028... inside strings and comments.
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def _write_atomic(path: Path, text: str) -> None:
    """Replace the file in one step: a crash leaves the old or the new text, never half."""
    target = Path(os.path.realpath(path))  # through a symlink, not over it
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, target.stat().st_mode & 0o7777)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
