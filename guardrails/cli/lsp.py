"""`guardrails lsp`: the language server, over stdin and stdout."""

from __future__ import annotations

import argparse

from guardrails.cli.common import UsageError, add_ner_option
from guardrails.pipeline import resolve_ner_model

NAME = "lsp"
HELP = "run the language server for editors (LSP over stdio)"


def register(sub) -> None:
    c = sub.add_parser(
        NAME,
        help=HELP,
        description="Run the policy language server over stdin and stdout, for an editor to start: "
        "diagnostics as `guardrails check` reports them, hover, completion, go to definition, "
        "formatting and document symbols (docs/editors.md). Needs the `lsp` extra: "
        "pip install 'guardlang[lsp]'.",
    )
    # Editors' LSP clients pass --stdio when they talk over stdin and stdout,
    # which is the only transport this server has.
    c.add_argument("--stdio", action="store_true", help="talk over stdin and stdout (the default and only transport)")
    add_ner_option(c)


def run(args: argparse.Namespace) -> int:
    try:
        from guardrails.lsp.server import serve_stdio
    except ImportError as err:
        if err.name not in ("pygls", "lsprotocol") and not str(err.name or "").startswith(("pygls.", "lsprotocol.")):
            raise
        raise UsageError("the language server needs pygls, which is not installed; "
                         "install the lsp extra: pip install 'guardlang[lsp]'") from None

    serve_stdio(resolve_ner_model(args.ner_model))
    return 0
