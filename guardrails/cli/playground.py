"""`guardrails playground [POLICY_DIR]`: a local page to write, check, try and test policies."""

from __future__ import annotations

import argparse

from guardrails.cli.common import UsageError

NAME = "playground"
HELP = "edit, check, evaluate, graph and test policies in a local web page"

EXAMPLES = """\
examples:
  guardrails playground policies/
      serve the page for policies/ on http://127.0.0.1:8080/
  guardrails playground policies/ --listen 127.0.0.1:0
      pick a free port (the address is printed)
  guardrails playground
      a scratch policy, with nothing to save to
  guardrails playground policies/ --listen 0.0.0.0:8080 --allow-remote
      let other machines reach it (anyone who can reach the port can evaluate and save)

The page works offline: nothing is fetched from elsewhere, and a shared link
carries its state in the URL fragment, which the browser never sends.
Files change only when you press Save: atomically, and only inside POLICY_DIR.
"""


def register(sub) -> None:
    p = sub.add_parser(
        NAME,
        help=HELP,
        description="Serve a local page to edit policies with syntax highlighting and live diagnostics "
        "(the codes and messages of `guardrails check`), evaluate requests of every stage (or a session's "
        "steps) and see the decision, the redactions, the violations' spans and the path through the rule "
        "graph, which is drawn with the fired rules highlighted; run a test file with coverage; compare "
        "the editor's version against a baseline on pasted cases (`guardrails diff`); share the state "
        "as a link. Exit codes: 0 stopped with Ctrl-C, 2 bad usage (a bad directory or address, a port in use).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("policy_dir", nargs="?", metavar="POLICY_DIR",
                   help="the directory of .policy and .tests.yaml files to edit (default: a scratch policy, "
                   "no saving)")
    p.add_argument("--listen", default="127.0.0.1:8080", metavar="HOST:PORT",
                   help="where to listen (default: 127.0.0.1:8080; port 0 picks a free one)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow a --listen address that is not loopback (off by default: the page can save files)")
    p.add_argument("--eval-timeout", type=_positive, default=10.0, metavar="SECONDS",
                   help="the longest one check, evaluation or test run may take (default: 10)")
    p.add_argument("--max-request-kb", type=_positive, default=1024, metavar="KB",
                   help="the largest request body accepted, in KiB (default: 1024)")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 3600 * 24:
        raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
    return value


def run(args: argparse.Namespace) -> int:
    from guardrails.playground.files import PathError, PolicyDir
    from guardrails.playground.server import (
        Settings,
        is_loopback,
        make_server,
        parse_listen,
    )

    try:
        host, port = parse_listen(args.listen)
    except ValueError as exc:
        raise UsageError(f"--listen: {exc}") from None
    if not is_loopback(host) and not args.allow_remote:
        raise UsageError(f"--listen {args.listen}: {host} is not a loopback address; the page can evaluate and "
                         "save policies, so add --allow-remote to let other machines reach it")
    policy_dir = None
    if args.policy_dir is not None:
        try:
            policy_dir = PolicyDir.open(args.policy_dir)
        except PathError as exc:
            raise UsageError(str(exc)) from None
    settings = Settings(host=host, port=port, policy_dir=policy_dir, max_body=int(args.max_request_kb * 1024),
                        eval_timeout=args.eval_timeout, allow_remote=args.allow_remote)
    try:
        server = make_server(settings)
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.listen}: {exc.strerror or exc}") from None
    where = f"editing {policy_dir.root}" if policy_dir else "a scratch policy (no POLICY_DIR: nothing to save)"
    print(f"guardrails playground: {server.url}  ({where}; Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
