"""`guardrails graph PATH`: the compiled rule graph as DOT or Mermaid, or its generated Python."""

from __future__ import annotations

import argparse
import sys

from guardrails.diagnostics import PolicyError
from guardrails.cli.common import UsageError, add_ner_option

NAME = "graph"
HELP = "print the compiled rule graph as DOT or Mermaid, or its generated Python"


def register(sub) -> None:
    g = sub.add_parser(
        NAME,
        help=HELP,
        description="Compile a policy and print its rule graph: shared detector nodes, rules by cost "
        "tier, the tool index, and the combiner; or (--format python) the source of the functions "
        "compiled from its plain rules.",
    )
    g.add_argument("path", metavar="PATH", help="a policy file or a directory of policies")
    g.add_argument("--policy", metavar="NAME[@VERSION]", help="which policy, when PATH holds several")
    g.add_argument("--format", choices=("dot", "mermaid", "python"), default="dot",
                   help="output format (default: dot); python: the generated decision functions")
    add_ner_option(g)
    g.add_argument("--key", metavar="KEYFILE", help="key that verifies a signed bundle given as PATH")


def run(args: argparse.Namespace) -> int:
    from guardrails.engine import Engine, UnknownPolicyError
    from guardrails.authoring.export import to_dot, to_mermaid, to_python

    try:
        engine = Engine.from_path(args.path, ner_model=args.ner_model, bundle_key=args.key)
    except PolicyError as err:
        print(err.render(), file=sys.stderr)
        return 1
    try:
        policy = engine.get_policy(args.policy)
    except UnknownPolicyError as err:
        raise UsageError(str(err)) from None
    render = {"dot": to_dot, "mermaid": to_mermaid, "python": to_python}[args.format]
    print(render(policy), end="")
    return 0
