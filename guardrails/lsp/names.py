"""What a word under the cursor is: its hover text and where it is defined.

Every answer is read from the engine's own tables: definitions from the
file's resolved scope (its own and its imports'), builtins from
:data:`~guardrails.functions.FUNCTIONS`, entity types from the PII
detector's registry, secret kinds and injection levels from their detectors,
request attributes from :data:`~guardrails.stages.ROOTS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from guardrails import ast
from guardrails.detectors import (
    NER_ENTITIES,
    SECRET_KINDS,
    PiiConfig,
    supported_entities,
)
from guardrails.detectors.injection import LEVELS as INJECTION_LEVELS
from guardrails.diagnostics import Span
from guardrails.functions import FUNCTIONS, TIER_NAMES, Function
from guardrails.lsp.lexicon import Token, dotted_before, token_at, tokens
from guardrails.lsp.paths import (
    declared_type,
    describe_tool,
    schema_of,
    tool_declaration,
)
from guardrails.lsp.workspace import Snapshot
from guardrails.resolve import Defined
from guardrails.stages import ROOTS, STAGES

#: How a definition's kind is named to an author (the checker's words).
KIND_NAMES = ast.KIND_NAMES

#: The most lines of a definition a hover shows.
MAX_HOVER_LINES = 12


@dataclass(frozen=True, slots=True)
class Hover:
    markdown: str
    start: int  # the word's offsets in the document
    end: int


@lru_cache(maxsize=4)
def entity_types(ner_model: str | None) -> frozenset[str]:
    """The entity types a policy may name: the PII detector's registry."""
    try:
        return supported_entities(PiiConfig(ner_model=ner_model))
    except (ValueError, ImportError, OSError):
        return frozenset(NER_ENTITIES)


def hover(snap: Snapshot, path: str, text: str, offset: int) -> Hover | None:
    """The hover for the word at `offset` of the document `path` (its text `text`)."""
    toks = tokens(text)
    tok = token_at(toks, offset)
    if tok is None:
        return None
    i = toks.index(tok)
    if tok.kind == "string" and i > 0 and toks[i - 1].text == "import":
        module = snap.imported(path, tok.text.strip('"'))
        if module is None or module.policy is None:
            return None
        p = module.policy
        return Hover(f"**{p.kind}** `{p.name}` version {p.version}\n\n{module.path}", tok.start, tok.end)
    if tok.kind == "string":
        decl = tool_declaration(snap, path, tok.text.strip('"'))
        shown = describe_tool(schema_of(snap, path), decl.name) if decl is not None else None
        if shown is None:
            return None
        return Hover(f"```guardrails\n{shown}\n```\n\n{decl.span.file}:{decl.span.line}", tok.start, tok.end)
    if tok.kind != "name":
        return None
    md = _describe_name(snap, path, toks, i)
    return Hover(md, tok.start, tok.end) if md else None


def definition(snap: Snapshot, path: str, text: str, offset: int) -> Span | None:
    """Where the word at `offset` is defined: a declaration, or an imported module's header."""
    toks = tokens(text)
    tok = token_at(toks, offset)
    if tok is None:
        return None
    i = toks.index(tok)
    if tok.kind == "string" and i > 0 and toks[i - 1].text == "import":
        module = snap.imported(path, tok.text.strip('"'))
        return module.policy.name_span if module is not None and module.policy is not None else None
    if tok.kind == "string":  # a tool's name: its declaration
        decl = tool_declaration(snap, path, tok.text.strip('"'))
        return decl.name_span if decl is not None else None
    if tok.kind != "name" or _is_attribute(toks, i) or _is_call(toks, i):
        return None
    found = snap.scope(path).get(tok.text)
    return found.node.span if found is not None else None


def _is_attribute(toks: list[Token], i: int) -> bool:
    return i > 0 and toks[i - 1].text == "."


def _is_call(toks: list[Token], i: int) -> bool:
    return i + 1 < len(toks) and toks[i + 1].text == "("


def _describe_name(snap: Snapshot, path: str, toks: list[Token], i: int) -> str | None:
    name = toks[i].text
    if _is_attribute(toks, i):
        return describe_path(snap, path, toks, i)
    if _is_call(toks, i) and name in FUNCTIONS:
        return describe_function(FUNCTIONS[name])
    found = snap.scope(path).get(name)
    if found is not None:
        return describe_definition(snap, path, found)
    if name in entity_types(snap.ner_model):
        return describe_entity(name, snap.ner_model)
    if name in SECRET_KINDS:
        return f"**secret kind** `{name}`\n\n{SECRET_KINDS[name]}"
    if name in INJECTION_LEVELS and i >= 2 and toks[i - 2].text == "injected":
        return f"**injection level** `{name}`: `injection()` is at least {INJECTION_LEVELS[name]:g}"
    if name in ROOTS_BY_NAME:
        return describe_root(name)
    if name in FUNCTIONS:
        return describe_function(FUNCTIONS[name])
    return None


def describe_path(snap: Snapshot, path: str, toks: list[Token], i: int) -> str | None:
    """An attribute path (``args.amount``) as the file's schema types it."""
    parts = dotted_before(toks, i)
    if not parts or parts[0] not in ROOTS_BY_NAME:
        return None
    lines = declared_type(schema_of(snap, path), tuple(parts))
    if not lines:
        return None
    head = f"**attribute** `{'.'.join(parts)}`"
    if len(lines) == 1 and not lines[0].startswith("`"):
        return f"{head}: {lines[0]}"
    return head + "\n\n" + "\n".join(f"- {line}" for line in lines)


def describe_function(f: Function) -> str:
    returns = f.returns
    if f.bounds is not None and math.isfinite(f.bounds[1]):
        returns += f" {f.bounds[0]:g}..{f.bounds[1]:g}"
    head = f"**builtin** returning {returns}; cost: {TIER_NAMES[f.tier]}"
    lines = [f"```\n{f.signature().replace('`', '')}\n```", head, "", f.doc[0].upper() + f.doc[1:] + "."]
    for o in f.options:
        lines.append(f"\n`{o.name}`: default {o.shown_default}")
    return "\n".join(lines)


def describe_definition(snap: Snapshot, path: str, found: Defined) -> str:
    d = found.node
    where = snap.source(d.span.file)
    head = f"**{KIND_NAMES[type(d)]}** `{d.name}`"
    own = snap.source(path)
    if own is None or own.policy is None or found.origin != own.policy.name:
        head += f", from `{found.origin}`"
    body = ""
    if where is not None:
        lines = where.text[d.span.start:d.span.end].split("\n")
        if len(lines) > MAX_HOVER_LINES:
            lines = lines[:MAX_HOVER_LINES] + ["..."]
        body = "```guardrails\n" + "\n".join(lines) + "\n```"
    return f"{head}\n\n{body}\n\n{d.span.file}:{d.span.line}"


def describe_entity(name: str, ner_model: str | None) -> str:
    if name in NER_ENTITIES:
        how = ("found by the NER model " + repr(ner_model)) if ner_model else \
            "found by a named-entity model only: configure one (--ner-model) to use it"
    else:
        how = "found by Presidio's pattern recognizers"
    return f"**entity type** `{name}`: {how}"


def describe_root(name: str) -> str:
    stages = [s for s in STAGES if name in ROOTS[s]]
    kinds = sorted({ROOTS[s][name] for s in stages})
    return f"**request attribute** `{name}` ({', '.join(kinds)}), in stages {', '.join(stages)}"


#: Each request attribute a rule can read, and the stages that have it.
ROOTS_BY_NAME: dict[str, tuple[str, ...]] = {
    name: tuple(s for s in STAGES if name in ROOTS[s]) for roots in ROOTS.values() for name in roots
}


__all__ = [
    "KIND_NAMES",
    "ROOTS_BY_NAME",
    "Hover",
    "definition",
    "describe_definition",
    "describe_entity",
    "describe_function",
    "describe_path",
    "describe_root",
    "entity_types",
    "hover",
]
