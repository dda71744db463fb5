"""Document symbols: the policy, its declarations and schemas, its stages and their rules.

Read from the file's AST, so a file with a syntax error still shows every
statement the parser kept (a broken statement is blanked, the rest parses).
"""

from __future__ import annotations

from dataclasses import dataclass

from guardrails import ast
from guardrails.diagnostics import Span
from guardrails.lsp.lexicon import NAME
from guardrails.lsp.names import KIND_NAMES
from guardrails.resolve import SourceFile

# Symbol kinds, named as LSP names them (the server maps them to numbers).
MODULE, NAMESPACE, CONSTANT, EVENT, PROPERTY, FUNCTION, STRUCT = (
    "module", "namespace", "constant", "event", "property", "function", "struct")


@dataclass(frozen=True, slots=True)
class Symbol:
    name: str
    kind: str
    detail: str
    start: int  # offsets of the whole statement
    end: int
    name_start: int  # offsets of its name
    name_end: int
    children: tuple[Symbol, ...] = ()


def outline(source: SourceFile) -> list[Symbol]:
    """The file's symbols: one for the policy, holding everything else."""
    p = source.policy
    if p is None:
        return []
    children: list[Symbol] = []
    for imp in p.imports:
        children.append(_symbol(f'import "{imp.name}"', MODULE, "import", imp.span, imp.span))
    for s in p.settings:
        children.append(_symbol(s.key, PROPERTY, "setting", s.span, s.span))
    for d in p.definitions:
        children.append(_symbol(d.name, CONSTANT, KIND_NAMES[type(d)], d.span,
                                _name_span(source.text, d.span, d.name)))
    for decl in p.schemas:
        if isinstance(decl, ast.ToolDecl):
            children.append(_symbol(decl.name, FUNCTION, "tool schema", decl.span, decl.name_span))
        else:
            children.append(_symbol(decl.root, STRUCT, "schema", decl.span, _head(decl.span, decl.root)))
    for block in p.stages:
        rules = tuple(_symbol(r.id, FUNCTION if isinstance(r.effect, ast.Allow) else EVENT,
                              ast.effect_name(r.effect), r.span, r.id_span) for r in block.rules)
        children.append(_symbol(block.stage, NAMESPACE, "stage", block.span, _head(block.span, block.stage),
                                rules))
    end = max([p.span.end, *(c.end for c in children)])
    head = p.name_span
    return [Symbol(p.name, MODULE, f"{p.kind} version {p.version}", min(p.span.start, head.start), end,
                   head.start, head.end, tuple(children))]


def _symbol(name: str, kind: str, detail: str, span: Span, name_span: Span,
            children: tuple[Symbol, ...] = ()) -> Symbol:
    name_span = name_span if span.start <= name_span.start and name_span.end <= span.end else span
    return Symbol(name, kind, detail, span.start, span.end, name_span.start, name_span.end, children)


def _name_span(text: str, span: Span, name: str) -> Span:
    """Where a definition's name is written: the first name after its keyword."""
    for m in NAME.finditer(text, span.start, span.end):
        if m.start() > span.start and m.group() == name:
            return Span(span.file, span.line, span.col, span.line, span.col, m.start(), m.end())
    return span


def _head(span: Span, word: str) -> Span:
    return Span(span.file, span.line, span.col, span.line, span.col + len(word), span.start, span.start + len(word))


__all__ = ["Symbol", "outline"]
