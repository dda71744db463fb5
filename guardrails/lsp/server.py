"""The pygls language server: LSP messages in, the engine's answers out.

The only module that imports pygls (the ``lsp`` extra). Each open document
belongs to the directory it is in: a change loads that directory again with
every open buffer over its files (:func:`~guardrails.lsp.workspace.load`)
and publishes the diagnostics of every open document there, since a change
to a module can fix or break the policies that import it. Requests (hover,
completion, definition, symbols) read the last load.

Documents are synced whole (``TextDocumentSyncKind.Full``): policy files are
small, and the server's text then never depends on replaying edits. Lines
are counted at ``\\n`` as spans count them; columns are converted to the
client's position encoding (UTF-16 unless it asks for another).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from guardrails.authoring.format import FormatError, format_source
from guardrails.diagnostics import Diagnostic, Severity
from guardrails.lsp.complete import Item, complete
from guardrails.lsp.names import definition, hover
from guardrails.lsp.outline import Symbol, outline
from guardrails.lsp.workspace import Snapshot, load, norm
from guardrails.version import __version__

COMPLETION_KINDS = {
    "keyword": lsp.CompletionItemKind.Keyword, "function": lsp.CompletionItemKind.Function,
    "variable": lsp.CompletionItemKind.Variable, "constant": lsp.CompletionItemKind.Constant,
    "field": lsp.CompletionItemKind.Field, "module": lsp.CompletionItemKind.Module,
    "enum_member": lsp.CompletionItemKind.EnumMember,
}
SYMBOL_KINDS = {
    "module": lsp.SymbolKind.Module, "namespace": lsp.SymbolKind.Namespace, "constant": lsp.SymbolKind.Constant,
    "event": lsp.SymbolKind.Event, "property": lsp.SymbolKind.Property, "function": lsp.SymbolKind.Function,
    "struct": lsp.SymbolKind.Struct,
}


@dataclass(slots=True)
class State:
    """What the server keeps between messages."""

    ner_model: str | None = None
    snapshots: dict[str | None, Snapshot] = field(default_factory=dict)  # by root directory


def root_of(uri: str) -> str | None:
    """The directory a document is loaded with; None for a document with no file."""
    path = to_fs_path(uri) if uri.startswith("file:") else None
    return norm(os.path.dirname(path)) if path else None


def path_of(uri: str) -> str:
    """The path a document's diagnostics name: its file, or its URI when it has none."""
    path = to_fs_path(uri) if uri.startswith("file:") else None
    return path or uri


def _units(ch: str, encoding: str) -> int:
    if encoding == lsp.PositionEncodingKind.Utf8:
        return len(ch.encode("utf-8", "surrogatepass"))
    if encoding == lsp.PositionEncodingKind.Utf32:
        return len(ch)
    return len(ch.encode("utf-16-le", "surrogatepass")) // 2


def to_position(text: str, offset: int, encoding: str) -> lsp.Position:
    offset = max(0, min(offset, len(text)))
    line_start = text.rfind("\n", 0, offset) + 1
    return lsp.Position(text.count("\n", 0, offset), _units(text[line_start:offset], encoding))


def to_offset(text: str, pos: lsp.Position, encoding: str) -> int:
    start = 0
    for _ in range(pos.line):
        nl = text.find("\n", start)
        if nl < 0:
            return len(text)
        start = nl + 1
    end = text.find("\n", start)
    end = len(text) if end < 0 else end
    units = 0
    for i in range(start, end):
        if units >= pos.character:
            return i
        units += _units(text[i], encoding)
    return end


def to_range(text: str, start: int, end: int, encoding: str) -> lsp.Range:
    return lsp.Range(to_position(text, start, encoding), to_position(text, end, encoding))


def to_lsp_diagnostic(d: Diagnostic, text: str, encoding: str) -> lsp.Diagnostic:
    # The message `check` prints, then its hint on a line of its own.
    message = d.message + (f"\nhint: {d.hint}" if d.hint else "")
    severity = lsp.DiagnosticSeverity.Error if d.severity is Severity.ERROR else lsp.DiagnosticSeverity.Warning
    return lsp.Diagnostic(range=to_range(text, d.span.start, max(d.span.end, d.span.start), encoding),
                          message=message, severity=severity, code=d.code, source="guardrails")


def build_server(ner_model: str | None = None) -> LanguageServer:
    """A server ready for ``start_io()``."""
    server = LanguageServer("guardrails", __version__, text_document_sync_kind=lsp.TextDocumentSyncKind.Full)
    state = State(ner_model)

    def encoding() -> str:
        return server.workspace.position_encoding or lsp.PositionEncodingKind.Utf16

    def refresh(uri: str) -> None:
        """Load the document's directory again and publish for every open document in it."""
        root = root_of(uri)
        docs = server.workspace.text_documents
        mine = [u for u in docs if root_of(u) == root]
        buffers = {path_of(u): docs[u].source for u in mine}
        if root is not None:  # open documents below the directory are read by its load too
            buffers.update({path_of(u): docs[u].source for u in docs
                            if (r := root_of(u)) is not None and r.startswith(root + os.sep)})
        snap = load(root, buffers, ner_model=state.ner_model, previous=state.snapshots.get(root))
        state.snapshots[root] = snap
        for u in mine:
            text = docs[u].source
            diags = [to_lsp_diagnostic(d, text, encoding()) for d in snap.diagnostics(path_of(u))]
            server.text_document_publish_diagnostics(
                lsp.PublishDiagnosticsParams(uri=u, diagnostics=diags, version=docs[u].version))

    def snapshot(uri: str) -> tuple[Snapshot, str, str]:
        root = root_of(uri)
        if root not in state.snapshots:
            refresh(uri)
        return state.snapshots[root], path_of(uri), server.workspace.get_text_document(uri).source

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(params: lsp.DidOpenTextDocumentParams) -> None:
        refresh(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(params: lsp.DidChangeTextDocumentParams) -> None:
        refresh(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(params: lsp.DidSaveTextDocumentParams) -> None:
        refresh(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: lsp.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        # The file on disk takes the buffer's place for the documents still open.
        server.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
        if any(root_of(u) == root_of(uri) for u in server.workspace.text_documents):
            refresh(next(u for u in server.workspace.text_documents if root_of(u) == root_of(uri)))
        else:
            state.snapshots.pop(root_of(uri), None)

    @server.feature(lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_files(params: lsp.DidChangeWatchedFilesParams) -> None:
        # A file changed on disk (a module edited elsewhere, a checkout):
        # load again each directory with an open document at or above it.
        changed = {root_of(c.uri) for c in params.changes}
        done: set[str | None] = set()
        for uri in list(server.workspace.text_documents):
            root = root_of(uri)
            if root in done or root is None:
                continue
            if any(c is not None and (c == root or c.startswith(root + os.sep)) for c in changed):
                done.add(root)
                refresh(uri)

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    def on_hover(params: lsp.HoverParams) -> lsp.Hover | None:
        snap, path, text = snapshot(params.text_document.uri)
        found = hover(snap, path, text, to_offset(text, params.position, encoding()))
        if found is None:
            return None
        return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=found.markdown),
                         range=to_range(text, found.start, found.end, encoding()))

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    def on_definition(params: lsp.DefinitionParams) -> lsp.Location | None:
        snap, path, text = snapshot(params.text_document.uri)
        span = definition(snap, path, text, to_offset(text, params.position, encoding()))
        if span is None:
            return None
        target = snap.source(span.file)
        target_text = target.text if target is not None else ""
        uri = from_fs_path(span.file) if os.path.isabs(span.file) else span.file
        return lsp.Location(uri=uri, range=to_range(target_text, span.start, span.end, encoding()))

    @server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=[".", "(", '"']))
    def on_completion(params: lsp.CompletionParams) -> lsp.CompletionList:
        snap, path, text = snapshot(params.text_document.uri)
        items = complete(snap, path, text, to_offset(text, params.position, encoding()))
        return lsp.CompletionList(is_incomplete=False, items=[_completion_item(i) for i in items])

    @server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
    def on_formatting(params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit] | None:
        uri = params.text_document.uri
        text = server.workspace.get_text_document(uri).source
        try:
            result = format_source(text, path_of(uri))
        except FormatError as err:  # the layout would change the policy: a formatter bug, said plainly
            server.window_show_message(lsp.ShowMessageParams(lsp.MessageType.Error, f"guardrails fmt: {err}"))
            return None
        if result.text is None:
            first = result.diagnostics[0] if result.diagnostics else None
            why = f"{first.span}: {first.message}" if first else "the file has errors"
            server.window_show_message(lsp.ShowMessageParams(lsp.MessageType.Warning,
                                                             f"guardrails fmt: not formatted: {why}"))
            return None
        if not result.changed:
            return []
        return [lsp.TextEdit(range=to_range(text, 0, len(text), encoding()), new_text=result.text)]

    @server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def on_symbols(params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
        snap, path, text = snapshot(params.text_document.uri)
        source = snap.source(path)
        if source is None:
            return []
        return [_document_symbol(s, text, encoding()) for s in outline(source)]

    return server


def _completion_item(item: Item) -> lsp.CompletionItem:
    doc = lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=item.doc) if item.doc else None
    return lsp.CompletionItem(label=item.label, kind=COMPLETION_KINDS[item.kind], detail=item.detail or None,
                              documentation=doc)


def _document_symbol(s: Symbol, text: str, encoding: str) -> lsp.DocumentSymbol:
    return lsp.DocumentSymbol(
        name=s.name, kind=SYMBOL_KINDS[s.kind], detail=s.detail,
        range=to_range(text, s.start, s.end, encoding),
        selection_range=to_range(text, s.name_start, s.name_end, encoding),
        children=[_document_symbol(c, text, encoding) for c in s.children],
    )


def serve_stdio(ner_model: str | None = None) -> None:
    """Serve one client over stdin and stdout until it exits.

    Stdout belongs to the protocol: anything else printed (a library's
    stray output) goes to stderr instead of breaking the client's framing.
    """
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr
    build_server(ner_model).start_io(stdin, stdout)


__all__ = ["build_server", "serve_stdio", "to_offset", "to_position"]
