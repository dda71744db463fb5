"""`guardrails redteam POLICY_DIR --policy NAME`: attack a policy, report what slips through."""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
from pathlib import Path

from guardrails.cli.common import UsageError

NAME = "redteam"
HELP = "attack a policy with disguised variants of what it forbids; report what slips through"

_EPILOG = """\
examples:
  guardrails redteam policies/ --policy support-bot
  guardrails redteam policies/ --format html --out redteam.html
  guardrails redteam policies/ --policy support-bot --seed 1 --fail-under 0.95 -q

families (--family, repeatable; default: all):
{families}

Each variant is judged on the decision the engine returns. A variant is
"caught" when the rule it attacks fires on it (a redact rule must also remove
the value), "stopped" when the policy keeps it out by any rule, and "passed"
otherwise; the report quotes every passed variant exactly. The benign corpus
(corpus/redteam/benign.txt and corpus/benign/terms.txt) runs through the same
stages: a line any rule flags is a false positive.

exit codes: 0 the run finished (and passed its gate); 1 a policy stops less
than --fail-under, flags more of the benign corpus than --max-false-positives,
or does not load; 2 bad usage. See docs/redteam.md.
"""


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; give a share such as 0.95") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is outside 0..1; give a share such as 0.95, not a percentage")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


class _Help(argparse.RawDescriptionHelpFormatter):
    """Fills the epilog's list of families when the help is shown: importing
    the red-team package on every start of the CLI cost every command (a
    tool-only `guardrails eval` too) about 45 ms."""

    def add_text(self, text: str | None) -> None:
        if text is not None and "{families}" in text:
            from guardrails.redteam.families import FAMILIES

            text = text.format(families="\n".join(
                textwrap.fill(f.doc, 79, initial_indent=f"  {f.name:<16} ", subsequent_indent=" " * 19)
                for f in FAMILIES.values()))
        super().add_text(text)


def register(sub) -> None:
    r = sub.add_parser(
        NAME,
        help=HELP,
        description=textwrap.fill(
            "Read a policy's terms, topics, patterns, entity types, secret and injection rules and tool-call "
            "conditions; generate disguised variants of what each rule forbids (case, invisible characters, "
            "look-alikes, separators, markup, leetspeak, encodings, paraphrases, secret layouts, PII formats, "
            "tool-argument tricks, ...); send every variant through the engine; report per rule the variants "
            "caught and tried, the exact text of each one that passed, and the false-positive rate on a benign "
            "corpus.", 79),
        epilog=_EPILOG,
        formatter_class=_Help,
    )
    r.add_argument("path", metavar="POLICY_DIR", help="a policy file or a directory of *.policy files")
    r.add_argument("--policy", metavar="NAME", action="append",
                   help="the policy to attack (repeatable; default: every policy in POLICY_DIR)")
    r.add_argument("--seed", type=_seed, default=0, metavar="N",
                   help="seed for every random draw: the same seed, corpus and policies give the same report "
                   "(default: 0)")
    r.add_argument("--fail-under", type=_rate, metavar="RATE",
                   help="exit 1 when a policy stops less than this share of the variants (0..1, e.g. 0.95): "
                   "a CI gate")
    r.add_argument("--max-false-positives", type=_rate, metavar="RATE",
                   help="exit 1 when a policy flags more than this share of the benign corpus (0..1)")
    r.add_argument("--format", choices=("text", "json", "html"), default="text",
                   help="report format (default: text); html is one self-contained page")
    r.add_argument("--out", metavar="FILE", help="write the report to FILE instead of stdout")
    r.add_argument("--family", metavar="NAME", action="append", help="run only this family (repeatable)")
    r.add_argument("--sample", type=_count, metavar="N",
                   help="at most N variants per rule and family, drawn with the seed: a quick run "
                   "(default: every variant)")
    r.add_argument("--corpus", metavar="DIR", help="the red-team corpus directory (default: corpus/redteam)")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


class _Progress:
    """Progress on stderr: a line that rewrites itself on a terminal, else a
    line every quarter of a policy."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.start = time.monotonic()
        self.shown: dict[str, int] = {}

    def __call__(self, policy: str, done: int, total: int) -> None:
        elapsed = time.monotonic() - self.start
        line = f"redteam: {policy}: {done:,}/{total:,} checks, {elapsed:.0f}s"
        if self.tty:
            sys.stderr.write("\r" + line + ("\n" if done == total else ""))
            sys.stderr.flush()
            return
        quarter = done * 4 // max(total, 1)
        if quarter > self.shown.get(policy, -1) or done == total:
            self.shown[policy] = quarter
            print(line, file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from guardrails.diagnostics import PolicyError
    from guardrails.redteam import CorpusError, run_redteam
    from guardrails.redteam.report_html import render_html

    if not Path(args.path).exists():
        raise UsageError(f"{args.path}: no such file or directory")
    if args.out is not None:
        parent = Path(args.out).resolve().parent
        if not parent.is_dir():
            raise UsageError(f"--out {args.out}: the directory {parent} does not exist")
        if Path(args.out).is_dir():
            raise UsageError(f"--out {args.out}: is a directory; name a file")
    if args.corpus is not None and not Path(args.corpus).is_dir():
        raise UsageError(f"--corpus {args.corpus}: no such directory")
    try:
        report = run_redteam(args.path, policies=args.policy, seed=args.seed, sample=args.sample,
                             families=args.family, corpus=args.corpus,
                             progress=None if args.quiet else _Progress(), fail_under=args.fail_under,
                             max_false_positives=args.max_false_positives)
    except PolicyError as err:
        print(err.render(), file=sys.stderr)
        return 1
    except (CorpusError, ValueError, LookupError) as err:
        raise UsageError(str(err).strip("'\"")) from None
    text = {"text": report.to_text, "json": report.to_json, "html": lambda: render_html(report)}[args.format]()
    if args.out is None:
        sys.stdout.write(text)
    else:
        try:
            Path(args.out).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--out {args.out}: cannot write it: {exc.strerror or exc}") from None
        if not args.quiet:
            print(f"redteam: {args.format} report written to {args.out}", file=sys.stderr)
    failures = report.failures()
    for failure in failures:
        print(f"redteam: below the gate: {failure}", file=sys.stderr)
    return 1 if failures else 0
