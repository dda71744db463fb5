"""The `guardrails` command line: a thin layer over the engine.

One module per command; each has `NAME`, `HELP`, `register(subparsers)` and
`run(args) -> int`. Exit codes: 0 success; 1 the policies have errors (or a
command-specific failure such as --fail-on-deny); 2 bad usage or input.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from guardrails import __version__
from guardrails.diagnostics import GuardrailsError
from guardrails.cli import check, completion, eval as eval_, fmt, graph, init, log, diff, test, bundle, serve, redteam, playground, lsp, prove
from guardrails.cli.common import UsageError

COMMANDS = [init, check, eval_, graph, log, diff, test, bundle, fmt, serve, redteam, playground, lsp, prove, completion]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="guardrails",
        description="Policy-as-code guardrails for LLM applications.",
        epilog="Run `guardrails COMMAND --help` for the options of a command.",
    )
    p.add_argument("--version", action="version", version=f"guardrails {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in COMMANDS:
        cmd.register(sub)
    p.set_defaults(root_parser=p)  # `completion` describes the whole command line
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    command = next(c for c in COMMANDS if c.NAME == args.command)
    try:
        return command.run(args)
    except UsageError as err:
        print(f"guardrails {args.command}: error: {err}", file=sys.stderr)
        return 2
    except GuardrailsError as err:
        print(f"guardrails {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python's
        # exit-time flush from printing a traceback about it.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
