"""Completion: what may be written where the cursor is.

The place is read from the tokens before the cursor, since the text being
typed rarely parses: the argument of a call (``topic(`` wants a topic,
``pii(`` an entity group or type), the target of ``redact``, the effect after
``rule ID:``, the attribute after ``args.``. Anywhere else every word that
could start there is offered (keywords, definitions in scope, imported ones
included, builtins, entity types, request attributes) and the editor filters
by what is typed.

Attribute paths (``args.amount``, ``tool.owner``, ``principal.role``) come
from the file's schema when it declares them, and from what the loaded
policies already read (:mod:`guardrails.lsp.paths`).
"""

from __future__ import annotations

from dataclasses import dataclass

from guardrails import ast
from guardrails.detectors import SECRET_KINDS
from guardrails.detectors.injection import LEVELS as INJECTION_LEVELS
from guardrails.functions import FUNCTIONS
from guardrails.lsp.lexicon import Token, before, dotted_before, keywords, tokens
from guardrails.lsp.names import (
    KIND_NAMES,
    ROOTS_BY_NAME,
    describe_function,
    entity_types,
)
from guardrails.lsp.paths import declared_after, read_after, schema_of
from guardrails.lsp.workspace import Snapshot
from guardrails.stages import STAGE_EFFECTS, STAGES

# Item kinds, named as LSP names them (the server maps them to numbers).
KEYWORD, FUNCTION, VARIABLE, CONSTANT, FIELD, MODULE, ENUM_MEMBER = (
    "keyword", "function", "variable", "constant", "field", "module", "enum_member")


@dataclass(frozen=True, slots=True)
class Item:
    label: str
    kind: str
    detail: str = ""
    doc: str = ""


#: The definition kind a call's name argument takes.
ARG_KINDS: dict[str, tuple[type, ...]] = {
    "pii": (ast.EntitiesDef,),
    "topic": (ast.TopicDef,),
    "banned": (ast.TermsDef,),
    "labelled": (ast.LabelDef,),
    "flows_from": (ast.LabelDef,),
    "occurred_since": (ast.LabelDef,),
    "over": (ast.LimitDef,),
}

#: The redaction operators (``using mask("#")``).
OPERATORS = ("mask", "replace", "hash", "remove")
EFFECTS = tuple(sorted(set().union(*STAGE_EFFECTS.values())))


def complete(snap: Snapshot, path: str, text: str, offset: int) -> list[Item]:
    """The items for the cursor at `offset` of the document `path`."""
    every = tokens(text)
    inside = next((t for t in every if t.start < offset <= t.end and t.kind in ("string", "comment")), None)
    toks = before(every, offset)
    if inside is not None and not (inside.kind == "string" and inside.end == offset and _closed(inside.text)):
        # In a comment or a string nothing is offered, but an import's name.
        previous = [t for t in toks if t.end <= inside.start]
        return module_items(snap, path) if previous and previous[-1].text == "import" else []
    # The word being typed is not context: drop it, the editor filters by it.
    if toks and toks[-1].kind == "name" and toks[-1].end == offset:
        toks = toks[:-1]
    prev = toks[-1].text if toks else ""
    if prev == "." and len(toks) >= 2:
        parts = dotted_before(toks, len(toks) - 2)
        return attribute_items(snap, path, parts) if parts else []
    call = _open_call(toks)
    if call is not None:
        return call_items(snap, path, call)
    if prev == "redact":
        return redact_items(snap, path)
    if prev in ("pattern", "matches"):
        return defined(snap, path, (ast.PatternDef,))
    if prev == "terms" and len(toks) >= 2 and toks[-2].text == "redact":
        return defined(snap, path, (ast.TermsDef,))
    if prev == "using":
        return [Item(o, FUNCTION, "redaction operator") for o in OPERATORS]
    if prev == ":" and len(toks) >= 3 and toks[-3].text == "rule":
        stage = _stage_of(toks)
        effects = STAGE_EFFECTS.get(stage, set(EFFECTS)) if stage else set(EFFECTS)
        return [Item(e, KEYWORD, "effect") for e in sorted(effects)]
    if prev == "label" and _in_rule(toks):
        return defined(snap, path, (ast.LabelDef,))
    if prev == "in":
        return defined(snap, path, (ast.ToolsDef,)) + root_items(snap, path)
    if prev == "import":
        return module_items(snap, path)
    return everything(snap, path)


def _closed(string: str) -> bool:
    return len(string) >= 2 and string.endswith('"') and not string.endswith('\\"')


def _open_call(toks: list[Token]) -> str | None:
    """The builtin whose argument list the cursor is in (``pii(EMAIL, |``)."""
    depth = 0
    for i in range(len(toks) - 1, -1, -1):
        t = toks[i].text
        if t == ")":
            depth += 1
        elif t == "(":
            if depth == 0:
                return toks[i - 1].text if i > 0 and toks[i - 1].text in FUNCTIONS else None
            depth -= 1
        elif t in ("{", "}", "rule", "when", "unless"):
            return None
    return None


def _stage_of(toks: list[Token]) -> str | None:
    """The stage block the cursor is in: the last stage name opened by '{'."""
    depth = 0
    for i in range(len(toks) - 1, -1, -1):
        t = toks[i].text
        if t == "}":
            depth += 1
        elif t == "{":
            if depth == 0:
                return toks[i - 1].text if i > 0 and toks[i - 1].text in STAGES else None
            depth -= 1
    return None


def _in_rule(toks: list[Token]) -> bool:
    """Whether the cursor is in a rule's effect (after `rule ID:`)."""
    for i in range(len(toks) - 1, -1, -1):
        if toks[i].text in ("when", "unless", "{", "}"):
            return False
        if toks[i].text == "rule":
            return True
    return False


def defined(snap: Snapshot, path: str, kinds: tuple[type, ...]) -> list[Item]:
    """The definitions in scope of these kinds, imported ones included."""
    own = snap.source(path)
    own_name = own.policy.name if own is not None and own.policy is not None else None
    out = []
    for name, d in sorted(snap.scope(path).items()):
        if isinstance(d.node, kinds):
            where = "" if d.origin == own_name else f", from {d.origin}"
            out.append(Item(name, VARIABLE, KIND_NAMES[type(d.node)] + where))
    return out


def entity_items(snap: Snapshot) -> list[Item]:
    return [Item(e, CONSTANT, "entity type") for e in sorted(entity_types(snap.ner_model))]


def redact_items(snap: Snapshot, path: str) -> list[Item]:
    targets = [Item(k, KEYWORD, "redaction target") for k in ("secrets", "pattern", "terms")]
    return defined(snap, path, (ast.EntitiesDef,)) + entity_items(snap) + targets


def call_items(snap: Snapshot, path: str, func: str) -> list[Item]:
    if func == "pii":
        return defined(snap, path, ARG_KINDS[func]) + entity_items(snap)
    if func == "secrets":
        return [Item(k, ENUM_MEMBER, "secret kind", doc) for k, doc in sorted(SECRET_KINDS.items())]
    if func == "injected":
        return [Item(k, ENUM_MEMBER, f"injection() >= {v:g}") for k, v in INJECTION_LEVELS.items()]
    if func in ARG_KINDS:
        return defined(snap, path, ARG_KINDS[func])
    return everything(snap, path, keywords_too=False)


def root_items(snap: Snapshot, path: str) -> list[Item]:
    return [Item(r, FIELD, "request attribute: " + ", ".join(stages)) for r, stages in sorted(ROOTS_BY_NAME.items())]


def module_items(snap: Snapshot, path: str) -> list[Item]:
    """The modules another file may import: every loaded module but this file."""
    own = snap.source(path)
    out = []
    for f in snap.sources.values():
        if f.policy is not None and f.policy.kind == "module" and f is not own:
            out.append(Item(f'"{f.policy.name}"', MODULE, f"module, version {f.policy.version}"))
    return sorted(out, key=lambda i: i.label)


def everything(snap: Snapshot, path: str, *, keywords_too: bool = True) -> list[Item]:
    items = [Item(k, KEYWORD) for k in keywords()] if keywords_too else []
    items += [Item(f.name, FUNCTION, f.returns, describe_function(f)) for f in FUNCTIONS.values()]
    items += defined(snap, path, tuple(KIND_NAMES))
    items += root_items(snap, path)
    items += entity_items(snap)
    seen: set[str] = set()
    return [i for i in items if not (i.label in seen or seen.add(i.label))]


def attribute_items(snap: Snapshot, path: str, parts: list[str]) -> list[Item]:
    """The attributes after ``a.b.`` (`parts` = ["a", "b"]): the schema's
    first, then what the loaded policies read there."""
    if parts[0] not in ROOTS_BY_NAME:
        return []
    found = declared_after(schema_of(snap, path), tuple(parts))
    for name, where in read_after(snap, tuple(parts)).items():
        found.setdefault(name, where)
    return [Item(name, FIELD, detail) for name, detail in sorted(found.items())]


__all__ = ["ARG_KINDS", "Item", "attribute_items", "complete", "defined", "everything"]
