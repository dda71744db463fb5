"""`guardrails completion SHELL`: the shell's tab-completion script, made by shtab."""

from __future__ import annotations

import argparse

NAME = "completion"
HELP = "print a tab-completion script for bash, zsh or tcsh"
SHELLS = ("bash", "zsh", "tcsh")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        NAME, help=HELP,
        description="Print the tab-completion script of `guardrails` for a shell: its commands, options and "
                    "choices. Load it from your shell's start-up file.",
        epilog="examples:\n"
               "  guardrails completion bash > ~/.local/share/bash-completion/completions/guardrails\n"
               "  guardrails completion zsh > \"${fpath[1]}/_guardrails\"",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("shell", choices=SHELLS, help="the shell to complete in")


def run(args: argparse.Namespace) -> int:
    import shtab  # only here: every other command starts without it

    # The whole command line's parser, which build_parser() hands down as a
    # default (importing guardrails.cli here would be an import cycle).
    print(shtab.complete(args.root_parser, shell=args.shell))
    return 0
