"""Heuristic prompt-injection signals: explainable, each with a span and a score.

:func:`scan` returns the :class:`Signal` s a text raises; :func:`heuristic_score`
folds them into one score in [0, 1]. Phrase signals run on the evasion-normalised
text (:func:`guardrails.detectors.normalize.normalize`: case, width, confusables,
diacritics, leetspeak, whitespace), so ``"1GN0RE  prévious"`` reads as
``"ignore previous"``; their spans are mapped back with
:meth:`~guardrails.detectors.normalize.NormalizedText.to_original`. The hidden
carriers and encoded payloads of :mod:`.carriers` read the RAW text, where
normalisation would destroy the evidence (it drops invisible characters).

The signals, one by one (``name`` - family - what fires it):

``override`` - instruction-override
    A verb of ignoring, forgetting, overriding or bypassing whose object is the
    instructions ("disregard prior directions", "forget everything above",
    "ignore the above", "oublie les consignes précédentes", "ignoriere alle
    vorherigen Anweisungen", "olvida todo lo anterior", "忽略之前的所有指令").
    The object decides: "ignore my previous email" and "forget the old address"
    do not fire; "my instructions" scores low (a user revising their own
    request). Weak verbs (skip, drop, clear, replace) need a qualified object.
    A past tense after a subject narrates and does not fire ("the assistant
    forgot the earlier context"; "pretend you forgot everything above" does).
``roleplay`` - jailbreak
    Persona and jailbreak framings: "you are now DAN", "do anything now",
    developer/god/jailbreak mode, "you have no rules", "without any
    restrictions" (stronger addressed to "you"), and hypothetical or fictional
    wrappers followed by a demand to bypass the rules. A clause that opens with
    "you ..." and ends in a question mark asks and scores low ("You have no
    rules for the playground?").
``spoofed-system`` - spoofed-structure
    A ``SYSTEM:`` / ``[admin]:`` header at the start of a line, or "new system
    message", "updated system prompt", "system override": text pretending to
    be the operator. A header followed by an instruction scores higher; the
    phrases need a message's shape (closing a header or a line, or an
    instruction after them), so "new system message templates are available"
    scores low.
``chat-template`` - spoofed-structure
    Chat-template tokens: ``<|im_start|>``, ``<|eot_id|>``, ``[INST]``,
    ``<<SYS>>``, ``<start_of_turn>``, ``### Instruction:`` and
    ``Human:``/``Assistant:`` turn headers at the start of a line.
``fake-tool-call`` - spoofed-structure
    Tool-call JSON or tags inside text (``{"tool_calls": ...``,
    ``{"name": "...", "arguments": ...}``, ``<tool_call>``).
``prompt-leak`` - prompt-leak
    Requests to reveal, print or repeat the system prompt, the initial or hidden
    instructions, or "the words above"; and paraphrases that name the model's
    set-up ("your hidden guidelines", "the rules you were given", "what were you
    told before this conversation", "the text above this message") next to a verb
    of showing, or asked for word for word (which scores higher).
``addressed-to-ai`` - indirect
    Content addressed to the model inside a document: "note to the AI",
    "if you are an AI assistant", "AI reading this", "instead of summarizing",
    "when you summarise this", "next action for the agent". Followed by an
    instruction ("include", "send", "reply", ...) it scores 0.9: that is the
    indirect attack itself.
``exfil-request`` - indirect
    A request to send conversation data, credentials or secrets to a URL,
    address or endpoint, or the verb "exfiltrate".
``html-comment``, ``hidden-css``, ``invisible-text``, ``unicode-tags``,
``exfil-url``, ``encoded-payload``, ``split-payload``
    Hidden carriers, encoded payloads and payload splitting: see
    :mod:`.carriers`.

A quoting or discussing frame lowers a phrase signal: a match opened by a
quotation mark or introduced by "such as"/"like" scores x0.6, and x0.3 when
the text also discusses attacks ("attackers write", "for example", "prompt
injection", "the phrase", ...), as does a match inside a quotation opened
earlier on its line in such a text (but not a JSON or attribute value); a
discussion marker in the 120 characters before an unquoted match scores x0.6.
Described instructions ("the instructions I left for the courier", "telling a
chatbot to ignore its instructions") score low. Hidden carriers are never
lowered: a hidden instruction is not a discussion.

The patterns and their trigger keys are data, in :mod:`.phrases`; this module
scores what they match. Cost: a pattern runs only where one of its trigger
keys occurs, anchored at the word starts before it (:mod:`.triggers`), so
clean prose skips almost all regexes; words common in business prose
("before", "policy", "you are") wake little or nothing, and at most
:data:`MAX_PER_NAME` signals of one name are kept. Whether a text discusses
attacks is asked only of a text with phrase signals, and only when one of
the discussion markers occurs in it. Regexes have bounded repetitions only,
and decoding is bounded (see :mod:`.carriers`).
"""

from __future__ import annotations

from dataclasses import dataclass

from guardrails.detectors.injection import accel, carriers
from guardrails.detectors.injection import phrases as P
from guardrails.detectors.injection.carriers import Hit
from guardrails.detectors.injection.triggers import (
    Gate,
    Words,
    finditer,
    keys_present,
    search,
    text_words,
)
from guardrails.detectors.normalize import NormalizedText, normalize

__all__ = ["FAMILIES", "SIGNALS", "Signal", "heuristic_score", "scan"]


@dataclass(frozen=True, slots=True)
class Signal:
    """One heuristic signal: its stable ``name``, the issue's ``family``, a
    ``score`` in [0, 1] and its span ``[start, end)`` in the original text."""

    name: str
    family: str
    score: float
    start: int
    end: int


#: name -> one-line description (the docs table reads it).
SIGNALS: dict[str, str] = {
    "override": "a verb of ignoring/forgetting/overriding whose object is the instructions, "
    "in en, fr, de, es, zh",
    "roleplay": "a jailbreak persona or framing: 'you are now DAN', developer mode, "
    "'no restrictions', a hypothetical demanding a bypass",
    "spoofed-system": "a SYSTEM:/admin: line header or 'new system message': text posing as the operator",
    "chat-template": "chat-template tokens such as <|im_start|>, [INST], <<SYS>>, ### Instruction:",
    "fake-tool-call": "tool-call JSON or tags inside text",
    "prompt-leak": "a request to reveal or repeat the system prompt or hidden instructions",
    "addressed-to-ai": "content addressed to 'the AI' or 'the assistant' inside a document",
    "exfil-request": "a request to send conversation data or secrets to a URL or address",
    **carriers.CARRIER_SIGNALS,
}

#: name -> the issue's family.
FAMILIES: dict[str, str] = {
    "override": "instruction-override",
    "roleplay": "jailbreak",
    "spoofed-system": "spoofed-structure",
    "chat-template": "spoofed-structure",
    "fake-tool-call": "spoofed-structure",
    "prompt-leak": "prompt-leak",
    "addressed-to-ai": "indirect",
    "exfil-request": "indirect",
    **carriers.CARRIER_FAMILIES,
}


# --- instruction override ----------------------------------------------------


def _narrated(t: str, start: int) -> bool:
    """Whether the verb at ``start`` is a past tense after a subject other than "you":
    it tells what someone did and addresses nobody, so it is no signal at all."""
    if not P.PAST_VERB.match(t, start):
        return False
    clause = P.CLAUSE_START.split(t[max(0, start - 60) : start])[-1].split()
    return bool(clause) and clause[-1] not in P.SECOND_PERSON


def _override(t: str, g: frozenset[str]) -> list[Hit]:
    hits: list[Hit] = []
    for m in finditer(P.OVERRIDE, t, _on(P.OVERRIDE_KEYS, g), before=12):
        s = m.group()
        qualified = bool(P.QUALIFIER.search(s, m.end("v") - m.start()))
        if P.WEAK_VERB_RE.match(m.group("v")):
            if not qualified:
                continue
            score = 0.7
        else:
            score = 0.9 if qualified else 0.6
        if _narrated(t, m.start()):
            continue
        if P.OWN.search(s) or P.OWN_AFTER.match(t, m.end()):
            score = 0.3
        hits.append(Hit("override", score, m.start(), m.end()))
    for m in finditer(P.OVERRIDE_POSITION, t, _on(P.POSITION_KEYS, g), before=12):
        if not _narrated(t, m.start()):
            hits.append(Hit("override", 0.85, *m.span()))
    if not t.isascii():
        hits.extend(Hit("override", 0.85, *m.span()) for m in finditer(P.OVERRIDE_ZH, t, _on(P.ZH_KEYS, g)))
    return hits


# --- role-play and jailbreak framings -----------------------------------------

_FRAMING_WINDOW = 200
_MAX_FRAMINGS = 16


def _roleplay(t: str, g: frozenset[str]) -> list[Hit]:
    # Only "<x> mode" has a lead-in before its trigger; "you are ..." starts at it,
    # so business prose ("you are welcome") costs one anchored match.
    keys = _on(P.ROLEPLAY_KEYS, g)
    led = [k for k in keys if k in ("mode", "modo")]
    hits = [Hit("roleplay", 0.85, *m.span()) for m in finditer(P.ROLEPLAY_STRONG, t, led, before=16)]
    off = [k for k in keys if k in P.OFF_KEYS]
    hits += [Hit("roleplay", 0.85, *m.span()) for m in finditer(P.ROLEPLAY_STRONG, t, off, before=48)]
    led += off
    rest = [k for k in keys if k not in led]
    asked: list[tuple[int, int]] = []
    for m in finditer(P.ROLEPLAY_STRONG, t, rest, before=0):
        # "You have no rules for the playground?" asks about the framing; it does not assign it
        if _opens_sentence(t, m.start()) and (q := P.ASKED.match(t, m.end())):
            asked.append((m.start(), q.end()))
            hits.append(Hit("roleplay", 0.4, *m.span()))
        else:
            hits.append(Hit("roleplay", 0.85, *m.span()))
    for m in finditer(P.ROLEPLAY_MEDIUM, t, _on(P.RULE_KEYS, g), before=24):
        before = t[max(0, m.start() - 60) : m.start()]
        # "stay in character" is ordinary role-play unless the text also asks to drop the rules
        plain = m.group() == "stay in character" and not search(P.BYPASS, t, max(0, m.start() - 300), m.end() + 300)
        weak = plain or not P.YOU.search(before) or any(a <= m.start() < b for a, b in asked)
        hits.append(Hit("roleplay", 0.4 if weak else 0.7, *m.span()))
    for i, m in enumerate(finditer(P.FRAMING, t, _on(P.FRAMING_KEYS, g), before=4)):
        if i >= _MAX_FRAMINGS:
            break
        b = search(P.BYPASS, t, m.end(), m.end() + _FRAMING_WINDOW)
        if b:
            hits.append(Hit("roleplay", 0.75, m.start(), b.end()))
    return hits


def _opens_sentence(t: str, start: int) -> bool:
    i = start - 1
    while i >= 0 and t[i] in " \"'“‘«(":
        i -= 1
    return i < 0 or t[i] in ".!?\n:;"


# --- spoofed structure --------------------------------------------------------


def _at_line_start(raw: str, o: int) -> bool:
    i = o - 1
    while i >= 0 and o - i <= 8 and raw[i] in " \t>#*-":
        i -= 1
    return i < 0 or raw[i] in "\n\r"


def _spoofed(t: str, norm: NormalizedText, raw: str, g: frozenset[str]) -> list[Hit]:
    hits = []
    for m in finditer(P.SYSTEM_PHRASE, t, _on(P.SYSTEM_PHRASE_KEYS, g), before=16):
        # a message's shape: the phrase closes a header or a line, or an instruction follows;
        # else a noun phrase in a sentence ("new system message templates are available")
        shaped = P.HEADER_END.match(t, m.end()) or P.SYSTEM_CUE.search(t, m.end(), m.end() + 30)
        shaped = shaped or P.LINE_END.match(raw, norm.to_original(m.start(), m.end())[1])
        hits.append(Hit("spoofed-system", 0.85 if shaped else 0.4, *m.span()))
    if ":" not in t and "：" not in t:  # every match of the two patterns below ends with one
        return hits
    news = finditer(P.NEW_INSTRUCTIONS, t, _on(P.NEW_INSTRUCTIONS_KEYS, g), before=12)
    hits.extend(Hit("spoofed-system", 0.5, *m.span()) for m in news)
    for m in finditer(P.SYSTEM_HEADER, t, _on(P.SYSTEM_HEADER_KEYS, g), before=8, after=40):
        cue = P.SYSTEM_CUE.search(t, m.end(), m.end() + 40)
        if _at_line_start(raw, norm.offsets[m.start()]):
            # without an instruction after it, "Security note:" is a document's heading
            bare = 0.45 if P.SYSTEM_NAME.search(m.group()) else 0.3
            hits.append(Hit("spoofed-system", 0.85 if cue else bare, *m.span()))
        elif cue and m.start() >= 2 and t[m.start() - 2] in ".!?]>":
            hits.append(Hit("spoofed-system", 0.6, *m.span()))
    return hits


def _structure(t: str, norm: NormalizedText, raw: str, g: frozenset[str]) -> list[Hit]:
    hits: list[Hit] = []
    templates = finditer(P.TEMPLATE, t, _on(P.TEMPLATE_KEYS, g))
    hits.extend(Hit("chat-template", 0.85, *m.span()) for m in templates)
    if ":" in t:
        for m in finditer(P.TURN_HEADER, t, _on(P.TURN_KEYS, g), before=4, after=24):
            if _at_line_start(raw, norm.offsets[m.start()]):
                hits.append(Hit("chat-template", 0.6 if m.group()[0] == "#" else 0.4, *m.span()))
    tools = finditer(P.TOOL_JSON, t, _on(P.TOOL_KEYS, g), before=80, after=120)
    hits.extend(Hit("fake-tool-call", 0.5, *m.span()) for m in tools)
    return hits


# --- prompt leak ---------------------------------------------------------------


def _leak(t: str, g: frozenset[str], words: Words) -> list[Hit]:
    hits = []
    # Whether VERBATIM / SHOW can match anywhere in the text: asked once, when a
    # match first needs it, of the text's words (a search of its windows costs more).
    verbatim: bool | None = None
    show: bool | None = None
    for m in finditer(P.LEAK, t, _on(P.LEAK_KEYS, g), before=70):
        o = m.group("o")
        if o == "prompt" and P.CODE_AFTER.match(t, m.end()):
            continue  # code: "return prompt.filter(...)"
        weak = o == "prompt" or (o and not P.LEAK_STRONG.search(m.group()))
        score = 0.5 if weak else 0.85
        if verbatim is None:
            verbatim = bool(_VERBATIM_GATE.present(t, words))
        if verbatim and search(P.VERBATIM, t, max(0, m.start() - 80), m.end() + 80):
            score += 0.07
        hits.append(Hit("prompt-leak", score, *m.span()))
    for i, m in enumerate(finditer(P.SETUP, t, _on(P.SETUP_KEYS, g), before=60, after=40)):
        if i >= _MAX_SETUPS:
            break
        lo, hi = max(0, m.start() - 80), min(len(t), m.end() + 80)
        if verbatim is None:
            verbatim = bool(_VERBATIM_GATE.present(t, words))
        if verbatim and search(P.VERBATIM, t, lo, hi):
            hits.append(Hit("prompt-leak", 0.9, *m.span()))
            continue
        if show is None:
            show = bool(_SHOW_GATE.present(t, words))
        if show and (P.SHOW.search(t, lo, m.end()) or P.SHOW.search(t, m.end(), m.end() + 30)):
            hits.append(Hit("prompt-leak", 0.6, *m.span()))
    return hits


_MAX_SETUPS = 16


# --- content addressed to the AI; exfiltration requests ----------------------

_MAX_SENDS = 16


def _addressed(t: str, g: frozenset[str], words: Words) -> list[Hit]:
    hits: list[Hit] = []
    for i, m in enumerate(finditer(P.ADDRESSED, t, _on(P.ADDRESSED_KEYS, g), before=32, after=60)):
        if i >= _MAX_SENDS:
            break
        # addressed to the model AND telling it to do something: the indirect attack itself
        act = P.IMPERATIVE.search(t, m.end(), m.end() + 160)
        hits.append(Hit("addressed-to-ai", 0.9 if act else 0.6, *m.span()))
    for m in finditer(P.EXFIL, t, _on(P.EXFIL_KEYS, g), 0, 40):
        hits.append(Hit("exfil-request", 0.3 if m.group() in P.EXFIL_NOUN else 0.6, *m.span()))
    # the gate is a superset by word heads ("contract" wakes "contrasenas"): check the literals
    sensitive = any(k.encode() in words.utf8 for k in _on(P.SENSITIVE_KEYS, g))
    sends = _on(P.SEND_KEYS, g) if sensitive else []
    for i, m in enumerate(finditer(P.SEND, t, sends, before=0, after=20)):
        if i >= _MAX_SENDS:
            break
        s = P.SENSITIVE.search(t, m.end(), m.end() + 80)
        if s and (d := P.DEST.search(t, s.end(), s.end() + 100)):
            hits.append(Hit("exfil-request", 0.65, m.start(), d.end()))
    return hits


# --- the quoting / discussing frame ------------------------------------------

_DISCUSSION_WINDOW = 120


def _in_quote(t: str, start: int) -> bool:
    """Whether ``start`` lies inside a quotation opened in the 80 characters before
    it; not a JSON or attribute value (``"content": "...``, ``alt="...``): data, not a quotation."""
    w = t[max(0, start - 80) : start]
    if "\n" in w:
        w = w[w.rfind("\n") + 1 :]
    q = w.rfind('"')
    return (
        (w.count('"') % 2 == 1 and not w[max(0, q - 2) : q].rstrip().endswith((":", "=")))
        or w.rfind("«") > w.rfind("»")
        or w.rfind("“") > w.rfind("”")
        or w.rfind("「") > w.rfind("」")
    )


def _frame_factor(t: str, start: int, discussing: bool) -> float:
    before = t[max(0, start - 3) : start]
    if not P.QUOTE_CHARS.isdisjoint(before) or P.INTRO.search(t, max(0, start - 16), start) or (
        discussing and _in_quote(t, start)
    ):
        return 0.3 if discussing else 0.6
    if discussing and search(P.DISCUSSION, t, max(0, start - _DISCUSSION_WINDOW), start):
        return 0.6
    return 1.0


# --- the trigger gate -----------------------------------------------------------

_ALL_KEYS = (
    P.OVERRIDE_KEYS + P.ZH_KEYS + P.ROLEPLAY_KEYS + P.RULE_KEYS + P.FRAMING_KEYS + P.SYSTEM_KEYS
    + P.TEMPLATE_KEYS + P.TURN_KEYS + P.TOOL_KEYS + P.LEAK_KEYS + P.SETUP_KEYS + P.ADDRESSED_KEYS + P.SEND_KEYS
    + P.EXFIL_KEYS + P.SENSITIVE_KEYS
)
# which scanner each key can wake (a scanner whose keys are all absent is skipped)
_GROUPS: dict[str, frozenset[str]] = {
    "override": frozenset(P.OVERRIDE_KEYS + P.ZH_KEYS),
    "roleplay": frozenset(P.ROLEPLAY_KEYS + P.RULE_KEYS + P.FRAMING_KEYS),
    "spoofed": frozenset(P.SYSTEM_KEYS),
    "structure": frozenset(P.TEMPLATE_KEYS + P.TURN_KEYS + P.TOOL_KEYS),
    "leak": frozenset(P.LEAK_KEYS + P.SETUP_KEYS),
    "addressed": frozenset(P.ADDRESSED_KEYS + P.SEND_KEYS + P.EXFIL_KEYS),
}
_GATE = Gate(_ALL_KEYS)
accel.register(P.ANCHORED + P.SEARCHED)  # for the optional compiled matcher (a no-op without it)
_VERBATIM_GATE = Gate(P.VERBATIM_KEYS)
_SHOW_GATE = Gate(P.SHOW_KEYS)
# Whether a text discusses attacks, asked only of a text with phrase signals:
# without one of these literals it cannot (a superset: the regex decides).
_DISCUSSION_GATE = Gate(P.DISCUSSION_KEYS)


_on = keys_present


# --- scan -----------------------------------------------------------------------


def phrase_hits(text: str, norm: NormalizedText | None = None, words: Words | None = None) -> list[Hit]:
    """The phrase signals of ``text``, in normalised coordinates, frame applied.

    :mod:`.carriers` calls this on decoded payloads, comment bodies and joined
    fragments (one level: it never calls back into the carriers). ``words`` is
    ``text_words(norm.text)`` when the caller has it.
    """
    if norm is None:
        norm = normalize(text)
    t = norm.text
    if words is None:
        words = text_words(t)
    g = _GATE.present(t, words)
    if not g:
        return []
    hits: list[Hit] = []
    if not g.isdisjoint(_GROUPS["override"]):
        hits += _override(t, g)
    if not g.isdisjoint(_GROUPS["roleplay"]):
        hits += _roleplay(t, g)
    if not g.isdisjoint(_GROUPS["spoofed"]):
        hits += _spoofed(t, norm, text, g)
    if not g.isdisjoint(_GROUPS["structure"]):
        hits += _structure(t, norm, text, g)
    if not g.isdisjoint(_GROUPS["leak"]):
        hits += _leak(t, g, words)
    if not g.isdisjoint(_GROUPS["addressed"]):
        hits += _addressed(t, g, words)
    if not hits:
        return hits
    if len(hits) > MAX_PER_NAME:
        hits = _cap(hits)
    discussing = bool(_DISCUSSION_GATE.present(t, words)) and bool(search(P.DISCUSSION, t))
    return [Hit(name, score * _frame_factor(t, start, discussing), start, end) for name, score, start, end in hits]


#: At most this many phrase signals of one name are kept (the strongest): the
#: score takes each family's maximum, so 3,000 repeated overrides say no more
#: than 32, and the decision stays small.
MAX_PER_NAME = 32


def _cap(hits: list[Hit]) -> list[Hit]:
    by_name: dict[str, list[Hit]] = {}
    for h in hits:
        by_name.setdefault(h.name, []).append(h)
    out: list[Hit] = []
    for group in by_name.values():
        if len(group) > MAX_PER_NAME:
            group = sorted(group, key=lambda h: -h.score)[:MAX_PER_NAME]
        out += group
    return out


def _to_signal(h: Hit) -> Signal:
    return Signal(h.name, FAMILIES[h.name], round(min(max(h.score, 0.0), 1.0), 4), h.start, h.end)


def scan(text: str, norm: NormalizedText | None = None) -> list[Signal]:
    """The signals ``text`` raises, sorted by ``(start, end, name)``.

    ``norm`` is ``normalize(text)`` when the caller has it already (the
    detector shares one with the model). Never raises on a ``str``; time is
    linear in the text with bounded extra work (at most 8 decoded candidates
    of 4 KB each).
    """
    if not text:
        return []
    if norm is None:
        norm = normalize(text)
    out: list[Signal] = []
    words = text_words(norm.text)  # read by the gates of both the phrases and the carriers
    phrases = phrase_hits(text, norm, words)
    for name, score, start, end in phrases:
        out.append(_to_signal(Hit(name, score, *norm.to_original(start, end))))
    for h in carriers.scan_carriers(text, out, phrase_hits, words):
        out.append(_to_signal(h))
    return _dedupe(out)


def _dedupe(signals: list[Signal]) -> list[Signal]:
    """Drop a signal that another of the same name contains and scores at least as high."""
    signals.sort(key=lambda s: (s.start, -s.end, -s.score, s.name))
    kept: list[Signal] = []
    last: dict[str, Signal] = {}
    for s in signals:
        prev = last.get(s.name)
        if prev is not None and prev.start <= s.start and s.end <= prev.end and prev.score >= s.score:
            continue
        kept.append(s)
        last[s.name] = s
    kept.sort(key=lambda s: (s.start, s.end, s.name))
    return kept


#: The most a single family contributes: structure and carriers on their own
#: are evidence of an attempt, but cap them below certainty.
FAMILY_CAPS: dict[str, float] = {"spoofed-structure": 0.9, "hidden-carrier": 0.95}


def heuristic_score(signals: list[Signal]) -> float:
    """Fold signals into one score in [0, 1].

    Each family contributes its strongest signal (so ten overrides count as one),
    capped by :data:`FAMILY_CAPS`; families combine by noisy OR,
    ``1 - prod(1 - f)``: independent kinds of evidence reinforce each other.
    """
    best: dict[str, float] = {}
    for s in signals:
        if s.score > best.get(s.family, 0.0):
            best[s.family] = s.score
    miss = 1.0
    for family, score in best.items():
        miss *= 1.0 - min(score, FAMILY_CAPS.get(family, 1.0))
    return min(max(1.0 - miss, 0.0), 1.0)

