"""Targets into cases: each variant, the exact request it is sent in, and
what must not get through.

Draws are seeded per target and family (``"{seed}|{target.key}|{family}"``),
so a run is reproducible, and a rule a module defines draws the same
variants in every policy that imports it.
"""

from __future__ import annotations

import base64
import codecs
import json
import random
import unicodedata
from dataclasses import dataclass
from typing import Any

from guardrails.redteam.corpus import Corpus
from guardrails.redteam.families import FAMILIES
from guardrails.redteam.formats import pii_value, render
from guardrails.redteam.obfuscate import GENERATORS, invisible_sweep, lookalike_table
from guardrails.redteam.solve import ABSENT, PRESENT, Path
from guardrails.redteam.targets import TOPIC_JOIN, Target, path_text

__all__ = ["Case", "build_cases", "materialise", "request_for"]

#: Frames filled per injection target (paraphrase family).
FRAMES_PER_TARGET = 16
#: The text a field trick rides in when the stage needs one (retrieval).
NEUTRAL_TEXT = "Quarterly figures for the northern region are attached."


@dataclass(frozen=True, slots=True)
class Case:
    family: str
    how: str  # what this variant did, exactly
    hidden: str  # what it hides: the term, the secret kind, the field and its value
    text: str  # the disguised text (fields: the disguised value; JSON unless a string)
    request: dict[str, Any]  # what the engine is sent (the runner adds a session)
    planted: str | None = None  # redact rules: the part that must not survive
    listed: bool = False  # a format issue 14 lists


def materialise(bindings: tuple[tuple[Path, Any], ...]) -> dict[str, Any]:
    """Bindings into nested request fields; absent keys left out."""
    roots: dict[str, Any] = {}
    for path, value in bindings:
        if value is ABSENT:
            continue
        if value is PRESENT:
            value = "x"
        if len(path) == 1:
            roots[path[0]] = value
            continue
        node = roots.setdefault(path[0], {})
        for key in path[1:-1]:
            node = node.setdefault(key, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node[path[-1]] = value
    return roots


def request_for(target: Target, bindings: tuple[tuple[Path, Any], ...], text: str | None) -> dict[str, Any]:
    """The engine request for ``target``'s stage, with ``text`` where the stage reads text."""
    roots = materialise(bindings)
    ctx = roots.get("context")
    if target.stage in ("input", "output"):
        return {"text": text or NEUTRAL_TEXT, "context": ctx}
    if target.stage == "retrieval":
        return {"chunks": [{"text": text or NEUTRAL_TEXT, "metadata": roots.get("metadata") or {}}], "context": ctx}
    args = dict(roots.get("args") or {})
    if target.stage == "tool_result":
        result: Any = roots.get("result", text or NEUTRAL_TEXT)
        if isinstance(result, dict) and text is not None:
            result = {**result, "text": text}
        return {"tool": roots.get("tool", "web_fetch"), "result": result, "args": args or None,
                "principal": roots.get("principal"), "context": ctx}
    if text is not None:
        args["input"] = text
    return {"tool": roots.get("tool", "lookup"), "args": args, "principal": roots.get("principal"), "context": ctx}


# ---- text targets: terms, topics, patterns, injection -------------------------


def _text_cases(target: Target, phrases: tuple[str, ...], rng_for, corpus: Corpus, wanted,
                bare: bool = False) -> list[Case]:
    # A tool argument is the command itself, not a sentence; an injection is
    # sent as it would be typed, not quoted inside a question.
    bare = bare or target.stage == "tool_call"

    def case(family: str, how: str, hidden: str, variant: str, rng: random.Random) -> Case:
        text = variant if bare else rng.choice(corpus.carriers).replace("{}", variant, 1)
        return Case(family, how, hidden, text, request_for(target, target.bindings, text))

    out: list[Case] = []
    if wanted("plain"):
        rng = rng_for("plain")
        out += [case("plain", "as written", p, p, rng) for p in phrases]
    for family, generate in GENERATORS.items():
        if not wanted(family):
            continue
        rng = rng_for(family)
        if family == "invisible":
            out += [case(family, how, phrases[i], v, rng) for i, how, v in invisible_sweep(phrases, rng)]
            continue
        for p in phrases:
            out += [case(family, how, p, v, rng) for how, v in _variants(target, generate, p, rng)]
    return out


def _variants(target: Target, generate, phrase: str, rng: random.Random) -> list[tuple[str, str]]:
    """A family's variants of a phrase; a topic's phrase is disguised term by
    term (joining two topic words into one is no disguise of either)."""
    if target.kind != "topic":
        return generate(phrase, rng)
    terms = phrase.split(TOPIC_JOIN)
    per_term = [generate(t, rng) for t in terms]
    out = []
    for i in range(max(map(len, per_term))):
        picked = [v[i] if i < len(v) else ("", t) for t, v in zip(terms, per_term)]
        how = next(h for h, _ in picked if h)
        out.append((how, TOPIC_JOIN.join(text for _, text in picked)))
    return out


def _frames(inj: dict[str, Any], rng: random.Random) -> list[str]:
    out = []
    for _ in range(FRAMES_PER_TARGET):
        text = rng.choice(inj["frames"])
        task = rng.choice(inj["slots"].get("task", ("",)))
        text = text.replace("{task_lower}", task[:1].lower() + task[1:])
        for slot, values in inj["slots"].items():
            text = text.replace("{" + slot + "}", rng.choice(values))
        out.append(text)
    return list(dict.fromkeys(out))


def _injection_cases(target: Target, rng_for, corpus: Corpus, wanted) -> list[Case]:
    inj = corpus.injection

    def case(family: str, how: str, hidden: str, text: str) -> Case:
        return Case(family, how, hidden, text, request_for(target, target.bindings, text))

    core = tuple(inj["core"])
    disguised = [c for c in _text_cases(target, core, rng_for, corpus, wanted, bare=True) if c.family != "plain"]
    out = [case("plain", "as written", p, p) for p in core] if wanted("plain") else []
    if wanted("paraphrase"):
        rng = rng_for("paraphrase")
        out += [case("paraphrase", "written phrasing", p, p) for p in inj["phrasings"]]
        out += [case("paraphrase", "slot-filled frame", p, p) for p in _frames(inj, rng)]
    if wanted("encoding"):
        rng = rng_for("encoding")
        for payload in inj["payloads"]:
            encoded = {"base64": base64.b64encode(payload.encode()).decode(),
                       "rot13": codecs.encode(payload, "rot13")}
            for name, value in encoded.items():
                out.append(case("encoding", name, payload, rng.choice(inj["hints"][name]).replace("{}", value, 1)))
    if wanted("carrier"):
        rng = rng_for("carrier")
        for k, carrier in enumerate(inj["carriers"]):
            instruction = rng.choice(core + tuple(inj["phrasings"]))
            out.append(case("carrier", f"hiding place {k + 1}: {carrier[:28]!r}...", instruction,
                            carrier.replace("{}", instruction, 1)))
    return out + disguised


# ---- secrets and PII ------------------------------------------------------------


def _secret_cases(target: Target, rng_for, corpus: Corpus) -> list[Case]:
    kinds = set(target.demand.detail or ()) if target.demand else set()
    rng = rng_for("secret-layout")
    out = []
    for fmt in corpus.secrets:
        if kinds and fmt.kind not in kinds:
            continue
        text, planted = render(fmt.template, rng)
        out.append(Case("secret-layout", f"{fmt.kind}: {fmt.label}", fmt.kind, text,
                        request_for(target, target.bindings, text), planted, fmt.listed))
    return out


def _pii_cases(target: Target, rng_for, corpus: Corpus) -> list[Case]:
    entities = set(target.demand.detail or ()) if target.demand else set()
    rng = rng_for("pii-format")
    out = []
    for fmt in corpus.pii:
        if entities and fmt.entity not in entities:
            continue
        wrapped, value = pii_value(fmt, rng, corpus.pii_names, corpus.pii_areas)
        text = rng.choice(corpus.pii_carriers).replace("{}", wrapped, 1)
        out.append(Case("pii-format", f"{fmt.entity}: {fmt.label}", fmt.entity, text,
                        request_for(target, target.bindings, text), value))
    return out


# ---- fields: tool names, arguments, metadata ---------------------------------------


def _unicode_value(value: str, rng: random.Random) -> list[tuple[str, str]]:
    table = lookalike_table()
    letters = [i for i, ch in enumerate(value) if ch in table]
    out = []
    if letters:
        i = rng.choice(letters)
        options = [g for g in table[value[i]] if unicodedata.name(g, "").startswith("CYRILLIC")] or list(table[value[i]])
        glyph = rng.choice(options)
        out.append((f"look-alike {unicodedata.name(glyph, '?').lower()}", value[:i] + glyph + value[i + 1:]))
    out.append(("fullwidth", "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in value)))
    if len(value) > 1:
        out.append(("zero-width space inside", value[:1] + "\u200b" + value[1:]))
    decomposed = unicodedata.normalize("NFD", value)
    out.append(("decomposed accents" if decomposed != value else "combining acute on the first letter",
                decomposed if decomposed != value else value[:1] + "\u0301" + value[1:]))
    return out


def field_tricks(value: Any, rng: random.Random) -> list[tuple[str, str, Any]]:
    """``(family, how, new value)`` for one field's value."""
    out: list[tuple[str, str, Any]] = []
    if isinstance(value, str):
        for how, v in (("upper", value.upper()), ("title", value.title()), ("capitalised", value.capitalize())):
            out.append(("args-case", how, v))
        for how, v in (("leading space", " " + value), ("trailing space", value + " "), ("trailing tab", value + "\t"),
                       ("trailing newline", value + "\n"), ("no-break space before", "\u00a0" + value)):
            out.append(("args-whitespace", how, v))
        out += [("args-unicode", how, v) for how, v in _unicode_value(value, rng)]
        out += [("args-type", "in a list", [value]), ("args-type", "in an object", {"value": value})]
    elif isinstance(value, bool):
        out += [("args-type", "as a string", str(value).lower()), ("args-type", "as a number", int(value)),
                ("args-type", "as yes/no", "yes" if value else "no")]
    elif isinstance(value, (int, float)):
        as_int = int(value) if float(value).is_integer() else None
        out += [("args-type", "as a string", str(value)),
                ("args-type", "as a decimal string", f"{float(value)}"),
                ("args-type", "as a float", float(value)),
                ("args-type", "in exponent notation", f"{float(value):e}"),
                ("args-type", "with a thousands separator", f"{value:,}"),
                ("args-type", "in a list", [value]),
                ("args-type", "in an object", {"value": value})]
        if as_int is not None:
            out.append(("args-unicode", "fullwidth digits", "".join(chr(ord(c) + 0xFEE0) for c in str(as_int))))
            out.append(("args-whitespace", "padded string", f" {as_int} "))
    return [(f, h, v) for f, h, v in out if not (type(v) is type(value) and v == value)]


def _field_cases(target: Target, rng_for, wanted) -> list[Case]:
    out = []
    bindings = dict(target.bindings)
    for path in target.attacked:
        value = bindings[path]
        hidden = f"{path_text(path)} = {json.dumps(value)}"
        tricks = field_tricks(value, rng_for("fields"))
        if len(path) > 1 and isinstance(path[-1], str):  # the key itself in another case or padded
            key = path[-1]
            tricks += [("args-case", f"key {key.upper()!r}", (key.upper(),)),
                       ("args-whitespace", f"key {key + ' '!r}", (key + " ",))]
        for family, how, new in tricks:
            if not wanted(family):
                continue
            changed = dict(bindings)
            if isinstance(new, tuple):  # a renamed key
                del changed[path]
                changed[(*path[:-1], new[0])] = value
                shown = json.dumps({new[0]: value}, ensure_ascii=False)
            else:
                changed[path] = new
                # a string as it is (the report escapes what cannot be seen), anything else as JSON
                shown = new if isinstance(new, str) else json.dumps(new, ensure_ascii=False)
            out.append(Case(family, f"{path_text(path)}: {how}", hidden, shown,
                            request_for(target, tuple(changed.items()), None)))
    return out


def build_cases(target: Target, corpus: Corpus, seed: int, *, families: frozenset[str] | None = None,
                sample: int | None = None) -> list[Case]:
    """Every case for ``target``; at most ``sample`` per family when given
    (plus every issue-listed secret format, which a quick run still tries)."""
    def rng_for(family: str) -> random.Random:
        return random.Random(f"{seed}|{target.key}|{family}")

    def wanted(family: str) -> bool:
        return (families is None or family in families) and target.kind in FAMILIES[family].kinds

    if target.kind in ("terms", "topic", "pattern"):
        cases = _text_cases(target, target.phrases, rng_for, corpus, wanted)
    elif target.kind == "injection":
        cases = _injection_cases(target, rng_for, corpus, wanted)
    elif target.kind == "secrets":
        cases = _secret_cases(target, rng_for, corpus) if wanted("secret-layout") else []
    elif target.kind == "pii":
        cases = _pii_cases(target, rng_for, corpus) if wanted("pii-format") else []
    else:
        cases = _field_cases(target, rng_for, wanted)
    if sample is None:
        return cases
    by_family: dict[str, list[int]] = {}
    for i, c in enumerate(cases):
        by_family.setdefault(c.family, []).append(i)
    keep = {i for i, c in enumerate(cases) if c.listed}  # the formats are always tried
    for family, indexes in by_family.items():
        keep.update(indexes if len(indexes) <= sample else rng_for("sample|" + family).sample(indexes, sample))
    return [c for i, c in enumerate(cases) if i in keep]
