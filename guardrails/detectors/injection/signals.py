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
``roleplay`` - jailbreak
    Persona and jailbreak framings: "you are now DAN", "do anything now",
    developer/god/jailbreak mode, "you have no rules", "without any
    restrictions" (stronger addressed to "you"), and hypothetical or fictional
    wrappers followed by a demand to bypass the rules.
``spoofed-system`` - spoofed-structure
    A ``SYSTEM:`` / ``[admin]:`` header at the start of a line, or "new system
    message", "updated system prompt", "system override": text pretending to
    be the operator. A header followed by an instruction scores higher.
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

Cost: every phrase signal first checks for one of its trigger words with a
substring test, so clean prose skips almost all regexes; words common in
business prose ("before", "policy", "you are") wake little or nothing, and at
most :data:`MAX_PER_NAME` signals of one name are kept. Regexes have bounded
repetitions only, and decoding is bounded (see :mod:`.carriers`).

Why one module: most of its length is the phrase tables (verbs, objects and
framings in five languages), one block per signal beside the few lines that
score it; the raw-text carriers already live in :mod:`.carriers`, and
splitting the phrase signals further would separate each table from its
scoring and from the quoting frame they share.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass

from guardrails.detectors.injection import carriers
from guardrails.detectors.injection.carriers import Hit, finditer
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


def _c(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


# --- instruction override ----------------------------------------------------

_STRONG_VERB = (
    r"(?:ignor(?:e|ing|ed|ez|es|er|a|en|ar|iere|ieren|iert)|disregard(?:ing|ed)?|"
    r"forg(?:et|etting|ot)(?: about)?|overrid(?:e|ing)|overrule|bypass(?:ing)?|"
    r"set aside|pay no (?:attention|heed|mind) to|do not (?:follow|obey|heed)|"
    r"don['’]?t (?:follow|obey|heed)|stop (?:following|obeying)|no longer (?:follow|obey)|"
    r"oubli(?:e|ez|es|er)|ne (?:tiens|tenez|tenir) (?:pas|plus) compte d['’]?(?:e|es|u)?|"
    r"fai(?:s|tes) abstraction d['’]?(?:e|es|u)?|contourne[zs]?|outrepasse[zs]?|"
    r"vergiss|vergessen(?: sie)?|vergesst|missachte[nt]?|ubergeh(?:e|en)|umgeh(?:e|en)|"
    r"olvid(?:a|e|en|ar|ate de)|descart(?:a|e)|omit(?:e|a)|pasa por alto|"
    r"haz caso omiso (?:a|de)|no (?:sigas|siga|obedezcas))"
)
_WEAK_VERB = r"(?:skip|drop|discard|abandon|dismiss|erase|delete|clear|cancel|void|nullify|replace|supersede|wipe|throw (?:out|away))"
_FILLER = (
    r"(?:all|any|every|each|of|the|your|these|those|this|that|my|our|its|their|prior|previous|"
    r"preceding|earlier|above|foregoing|initial|original|old|existing|current|given|default|system|"
    r"developer['’]?s?|safety|ethical|content|and|or|whatever|other|such|previously|provided|"
    r"toutes?|tous|les|tes|vos|ces|ses|la|le|l['’]|de|des|d['’]|precedentes?|anterieures?|"
    r"initiales?|alle|allen|die|deine|ihre|vorherigen?|bisherigen?|obigen?|fruheren?|"
    r"ursprunglichen?|vorangegangenen?|samtliche|der|den|dem|todas?|todos|las|los|tus|sus|el|"
    r"del|anteriores?|previas?|previos?|originales?|sistema)"
)
_OBJECT = (
    r"(?:instructions?|directions?|directives?|guidelines?|guidance|rules?|polic(?:y|ies)|"
    r"constraints?|restrictions?|limitations?|system prompt|system message|prompts?|programming|"
    r"training|guardrails?|safeguards?|safety filters?|content filters?|commands|principles|"
    r"protocols?|consignes?|regles?|indications?|contraintes?|programmation|anweisungen?|regeln|"
    r"richtlinien|vorgaben|befehle|instruktionen|systemprompt|systemanweisungen?|"
    r"einschrankungen|instrucciones|instruccion|reglas|directrices|indicaciones|normas|ordenes|"
    r"restricciones|limitaciones|directivas|pautas)"
)
_QUALIFIER = _c(
    r"\b(?:all|any|every|prior|previous|preceding|earlier|above|foregoing|initial|original|"
    r"existing|your|system|developer|safety|toutes?|tous|tes|vos|precedentes?|anterieures?|"
    r"initiales?|ci-dessus|alle|allen|deine|ihre|vorherigen?|bisherigen?|obigen?|fruheren?|"
    r"ursprunglichen?|todas?|todos|tus|sus|anteriores?|previas?|previos?|originales?|sistema)\b"
)
# The writer's own instructions, or a third party's described ("telling a chatbot to ignore its
# instructions"): an attack addresses the model's instructions, "your" or none.
_OWN = _c(r"\b(?:my|our|mes|meine|mis|its|their|his|her)\b")
_OWN_AFTER = _c(r" (?:(?:that |which )?(?:i|we) (?:left|gave|sent|wrote|added|put|made|had)|for the "
                r"(?:courier|driver|delivery|cleaner|team|staff|neighbou?r))\b")
_OVERRIDE = _c(
    rf"\b(?P<v>{_STRONG_VERB}|{_WEAK_VERB})\b(?: {_FILLER}\b){{0,6}} ?{_OBJECT}\b"
    r"(?: (?:precedentes?|anterieures?|ci-dessus|anteriores?|previas?|above|before))?"
)
_WEAK_VERB_RE = _c(rf"^{_WEAK_VERB}\b")
_OVERRIDE_POSITION = _c(
    rf"\b{_STRONG_VERB}\b(?: (?:all|everything|anything|what(?:ever)?|the|of|that|this|"
    r"(?:text|content|messages?|stuff|instructions)|(?:you|i) (?:were|was|have been|had been) "
    r"(?:told|given|said)|was (?:said|written)|tout|ce|qui|que|alles|was|todo|lo|que))"
    r"{0,4} (?:above|before(?: this)?|prior|previously|so far|earlier|until now|"
    r"up to (?:now|here|this point)|precede|au-dessus|ci-dessus|davor|oben|bisher|vorher|"
    r"anterior|de arriba|hasta ahora)\b"
    # a position word before a noun is an adjective ("forget the earlier order")
    r"(?! (?!(?:and|then|or|but|now|please|instead|just|you|your|i|from|to|in|at|it|this|that|"
    r"context|text|messages?|conversation|content|input|instructions?|y|et|und|und)\b)[a-z])"
)
_OVERRIDE_ZH = _c(
    r"(?:忽略|忽视|无视|無視|不要理会|不要理會|别管|別管|忘记|忘記|忘掉|抛开|拋開|跳过|跳過|绕过|繞過|"
    r"覆盖|不再遵守|不要遵守|不用遵守|停止遵守)(?:掉)?(?:你)?(?:的)?"
    r"(?:(?:所有|全部|一切|之前|以前|先前|此前|前面|上面|以上|上述|原来|原有|最初|初始|系统|系統)的?){0,3}"
    r"(?:指令|指示|规则|規則|说明|說明|提示词|提示詞|提示|设定|設定|要求|限制|约束|約束|命令"
    r"|(?:(?:之前|以前|前面|上面|以上|上述)的?(?:所有|全部|一切)?(?:内容|內容|一切|所有|话|話|对话|對話)?"
    r"(?=[，。,.!！？?\s]|$)))"
)
_WEAK_KEYS = frozenset({"skip", "drop", "discard", "abandon", "dismiss", "erase", "delete", "clear",
                        "cancel", "void", "nullify", "replace", "supersede", "wipe", "throw"})
_OVERRIDE_KEYS = (
    "ignor", "disregard", "forg", "overrid", "overrule", "bypass", "set aside", "pay no",
    "not follow", "t follow", "stop follow", "longer follow", "not obey", "t obey", "stop obey",
    "longer obey", "oubli", "compte", "abstraction", "contourn", "outrepass", "vergiss",
    "vergess", "missacht", "ubergeh", "umgeh", "olvid", "descart", "omit", "pasa por",
    "caso omiso", "sigas", "siga", "skip", "drop", "discard", "abandon", "dismiss", "erase",
    "delete", "clear", "cancel", "void", "nullify", "replace", "supersede", "wipe", "throw",
)
_POSITION_KEYS = tuple(k for k in _OVERRIDE_KEYS if k not in _WEAK_KEYS)
_ZH_KEYS = ("忽", "无视", "無視", "理会", "理會", "别管", "別管", "忘", "抛开", "拋開", "跳过", "跳過",
            "绕过", "繞過", "覆盖", "遵守")


def _override(t: str, g: frozenset[str]) -> list[Hit]:
    hits: list[Hit] = []
    for m in finditer(_OVERRIDE, t, _on(_OVERRIDE_KEYS, g), before=12):
        s = m.group()
        qualified = bool(_QUALIFIER.search(s, m.end("v") - m.start()))
        if _WEAK_VERB_RE.match(m.group("v")):
            if not qualified:
                continue
            score = 0.7
        else:
            score = 0.9 if qualified else 0.6
        if _OWN.search(s) or _OWN_AFTER.match(t, m.end()):
            score = 0.3
        hits.append(Hit("override", score, m.start(), m.end()))
    positions = finditer(_OVERRIDE_POSITION, t, _on(_POSITION_KEYS, g), before=12)
    hits.extend(Hit("override", 0.85, *m.span()) for m in positions)
    if not t.isascii():
        hits.extend(Hit("override", 0.85, *m.span()) for m in finditer(_OVERRIDE_ZH, t, _on(_ZH_KEYS, g)))
    return hits


# --- role-play and jailbreak framings -----------------------------------------

_ROLE_RULES = (
    r"(?:rules|restrictions|limits|limitations|filters|guidelines|censorship|boundaries|constraints|"
    r"ethics|morals|policies|programming|training|safeguards|guardrails|content polic(?:y|ies))"
)
_ROLEPLAY_STRONG = _c(
    r"\b(?:you(?: are|['’]re| re)(?: now)?|act as|become|pretend to be|roleplay as|role-play as|"
    r"play the role of|you will be) (?:dan|stan|dude|aim)\b(?! \w+ (?:street|road))|"
    r"\bdo anything now\b|"
    r"\b(?:god|jailbreak|jailbroken|unrestricted|unfiltered|uncensored|evil|dan|chaos|opposite) mode\b|"
    r"\byou(?: are|['’]re| re) (?:now|from now on|henceforth) (?:an? |the |in |my )?"
    r"(?:evil|unrestricted|unfiltered|uncensored|jailbroken|rogue|liberated|unchained|unbound|"
    r"amoral|free (?:from|of)|no longer (?:an? |bound|restricted|limited|chatgpt|claude|gpt|ai)|"
    r"not (?:an? )?(?:ai|assistant|bound|restricted|chatgpt|claude))|"
    rf"\byou(?: now)? (?:have|ve got|got|are under|are bound by|follow) (?:no|zero) (?:\w+ )?{_ROLE_RULES}\b|"
    rf"\b(?:free(?:d)? (?:from|of)|not bound by|unbound by|released from|liberated from|"
    rf"no longer bound by) (?:any |all |your |the |of |ethical |moral |safety |openai['’]?s? ){{0,3}}"
    rf"{_ROLE_RULES}\b|"
    r"\b(?:tu es|vous etes) (?:maintenant|desormais|a present) (?:une? )?(?:ia |assistant )?"
    r"(?:sans|libre|libere|debride)|\bmode (?:developpeur|dieu|sans restriction)|"
    r"\bdu bist (?:jetzt|nun|ab sofort) (?:eine? )?(?:ki |assistent )?(?:ohne|frei|unzensiert|uneingeschrankt)|"
    r"\bentwicklermodus|\b(?:ahora|a partir de ahora) eres (?:una? )?(?:ia |asistente )?"
    r"(?:sin|libre|sin censura)|\bmodo (?:de )?(?:desarrollador|dios|sin restricciones)|"
    r"\byour (?:safety |content |ethical )?(?:filters?|guardrails|restrictions|rules|safeguards) "
    r"(?:are|have been|were) (?:now )?(?:switched off|turned off|disabled|removed|lifted|suspended)\b|"
    r"开发者模式|開發者模式|越狱|越獄|(?:你现在是|你現在是|从现在起你是|從現在起你是)[^。！？\n]{0,12}?"
    r"(?:没有|沒有|不受|无限制|無限制|dan)"
)
_ROLEPLAY_MEDIUM = _c(
    rf"\b(?:without|no) (?:any |all |your |the |ethical |moral |safety |content )?{_ROLE_RULES}\b|"
    r"\bdeveloper mode\b|\bstay in character\b|"
    r"\bsans (?:aucune? )?(?:restrictions?|regles?|limites?|filtres?|censure)\b|"
    r"\bohne (?:jegliche |irgendwelche )?(?:einschrankungen|regeln|grenzen|filter|zensur)\b|"
    r"\bsin (?:ninguna |ningun )?(?:restricciones|reglas|limites|filtros|censura)\b|"
    r"(?:没有|沒有|不受)(?:任何)?(?:限制|规则|規則|约束|約束|过滤|過濾|审查|審查)"
)
_YOU = _c(r"\b(?:you|your|yourself|tu|vous|du|eres|你)\b|你")
_FRAMING = _c(
    r"\b(?:hypothetical(?:ly)?|imagine|pretend|fictional|imaginary|role-?play|"
    r"for a (?:story|novel|screenplay|movie)|let['’]?s play a game|in a world where|"
    r"hypothetisch|stell dir vor|imagina|supongamos|imagine que|假设|假設|想象)"
)
_BYPASS = _c(
    rf"\b(?:no |without (?:any )?){_ROLE_RULES}\b|\bignore (?:your|all|the|any) |\bbypass|"
    r"\bnot bound|\bunfiltered|\buncensored|\bunrestricted|\bno (?:ethical|moral)|"
    r"\bwithout (?:ethic|moral)|\bsans (?:regles|restrictions)|\bohne (?:regeln|einschrankungen)|"
    r"\bsin (?:reglas|restricciones)|\bno tienes (?:\w+ )?(?:reglas|restricciones)|"
    r"没有(?:任何)?(?:安全)?(?:限制|规则)"
)
_OFF_KEYS = ("switched off", "turned off", "disabled", "removed", "lifted", "suspended")
_ROLEPLAY_KEYS = (
    "you are", "you're", "you’re", "you re", "act as", "become", "pretend to be", "roleplay as",
    "role-play as", "play the role", "you will be", "do anything now", "mode", "you now", "you have",
    "you ve got", "you got", "you follow", "free from", "free of", "freed from", "freed of",
    "not bound", "unbound", "released from", "liberated from", "no longer bound", "tu es",
    "vous etes", "du bist", "entwicklermodus", "eres", "modo", "开发者模式", "開發者模式", "越狱", "越獄",
    "你现在是", "你現在是", "从现在起你是", "從現在起你是",
) + _OFF_KEYS
_RULE_KEYS = (
    "rule", "restriction", "limit", "filter", "guideline", "censor", "boundar", "constraint",
    "ethic", "moral", "policies", "content polic", "programming", "safeguard", "guardrail", "developer mode",
    "stay in character", "regle", "einschrankung", "regeln", "grenzen", "zensur", "reglas",
    "restricci", "filtro", "限制", "规则", "規則", "约束", "約束", "过滤", "過濾", "审查", "審查",
)
_FRAMING_KEYS = (
    "hypothetic", "imagin", "pretend", "fiction", "role-play", "roleplay", "for a story",
    "for a novel", "for a screenplay", "for a movie", "play a game", "in a world where",
    "stell dir", "supongamos", "假设", "假設", "想象",
)
_FRAMING_WINDOW = 200
_MAX_FRAMINGS = 16


def _roleplay(t: str, g: frozenset[str]) -> list[Hit]:
    # Only "<x> mode" has a lead-in before its trigger; "you are ..." starts at it,
    # so business prose ("you are welcome") costs one anchored match.
    keys = _on(_ROLEPLAY_KEYS, g)
    led = [k for k in keys if k in ("mode", "modo")]
    hits = [Hit("roleplay", 0.85, *m.span()) for m in finditer(_ROLEPLAY_STRONG, t, led, before=16)]
    off = [k for k in keys if k in _OFF_KEYS]
    hits += [Hit("roleplay", 0.85, *m.span()) for m in finditer(_ROLEPLAY_STRONG, t, off, before=48)]
    led += off
    rest = [k for k in keys if k not in led]
    hits += [Hit("roleplay", 0.85, *m.span()) for m in finditer(_ROLEPLAY_STRONG, t, rest, before=0)]
    for m in finditer(_ROLEPLAY_MEDIUM, t, _on(_RULE_KEYS, g), before=24):
        before = t[max(0, m.start() - 60) : m.start()]
        # "stay in character" is ordinary role-play unless the text also asks to drop the rules
        plain = m.group() == "stay in character" and not _BYPASS.search(t, max(0, m.start() - 300), m.end() + 300)
        weak = plain or not _YOU.search(before)
        hits.append(Hit("roleplay", 0.4 if weak else 0.7, *m.span()))
    for i, m in enumerate(finditer(_FRAMING, t, _on(_FRAMING_KEYS, g), before=4)):
        if i >= _MAX_FRAMINGS:
            break
        b = _BYPASS.search(t, m.end(), m.end() + _FRAMING_WINDOW)
        if b:
            hits.append(Hit("roleplay", 0.75, m.start(), b.end()))
    return hits


# --- spoofed structure --------------------------------------------------------

_SYSTEM_HEADER = _c(
    r"(?<![\w])[\[<(*]{0,2}(?:system|sys|admin(?:istrator)?|developer|root|operator|security|"
    r"systeme|systemnachricht|sistema|系统|系統)(?: (?:message|prompt|note|notice|override|"
    r"instructions?|update|alert|command))?[\]>)*]{0,2} ?[:：]"
)
_SYSTEM_CUE = _c(
    r"\b(?:you|your|ignore|disregard|forget|must|new|from now|override|reveal|always|never|"
    r"do not|don['’]?t|respond|reply|the assistant|the ai|tu|vous|du|ignoriere|eres|ignora)\b|你|忽略"
)
_SYSTEM_PHRASE = _c(
    r"\b(?:new|updated|revised|real|actual|true|official) (?:system|admin|developer) "
    r"(?:message|prompt|instructions?|directives?|rules|policy|override)\b|"
    r"\b(?:system|admin|administrator|developer) override\b|"
    r"\b(?:begin|start|end) (?:of )?(?:the )?(?:system|new) (?:prompt|instructions|message)\b|"
    r"\bnouve(?:au|lles?) (?:message|prompt|instructions?|consignes?) (?:du )?systeme\b|"
    r"\bneue (?:systemnachricht|systemanweisung(?:en)?|system-?prompt)\b|"
    r"\bnuev(?:o|as) (?:mensaje|prompt|instrucciones) del sistema\b|"
    r"新的?系统(?:消息|提示|指令)|新的?系統(?:消息|訊息|提示|指令)"
)
_NEW_INSTRUCTIONS = _c(
    r"\b(?:new|updated) instructions ?:|\bnouvelles (?:instructions|consignes) ?:|"
    r"\bneue anweisungen ?:|\bnuevas instrucciones ?:|新(?:的)?指令[:：]"
)
_SYSTEM_KEYS = ("sys", "admin", "developer", "root", "operator", "security", "sistema",
                "instructions", "anweisungen", "consignes", "instrucciones", "系统", "系統", "指令")


_SYSTEM_NAME = _c(r"sys|sistema|admin|系")


def _at_line_start(raw: str, o: int) -> bool:
    i = o - 1
    while i >= 0 and o - i <= 8 and raw[i] in " \t>#*-":
        i -= 1
    return i < 0 or raw[i] in "\n\r"


def _spoofed(t: str, norm: NormalizedText, raw: str, g: frozenset[str]) -> list[Hit]:
    hits = []
    for m in finditer(_SYSTEM_PHRASE, t, _on(_SYSTEM_KEYS, g), before=16):
        weak = m.group().endswith("override") and not _SYSTEM_CUE.search(t, m.end(), m.end() + 30)
        hits.append(Hit("spoofed-system", 0.4 if weak else 0.85, *m.span()))
    news = finditer(_NEW_INSTRUCTIONS, t, _on(_SYSTEM_KEYS, g), before=12)
    hits.extend(Hit("spoofed-system", 0.5, *m.span()) for m in news)
    if ":" not in t and "：" not in t:
        return hits
    for m in finditer(_SYSTEM_HEADER, t, _on(_SYSTEM_KEYS, g), before=8, after=40):
        cue = _SYSTEM_CUE.search(t, m.end(), m.end() + 40)
        if _at_line_start(raw, norm.offsets[m.start()]):
            # without an instruction after it, "Security note:" is a document's heading
            bare = 0.45 if _SYSTEM_NAME.search(m.group()) else 0.3
            hits.append(Hit("spoofed-system", 0.85 if cue else bare, *m.span()))
        elif cue and m.start() >= 2 and t[m.start() - 2] in ".!?]>":
            hits.append(Hit("spoofed-system", 0.6, *m.span()))
    return hits


_TEMPLATE = _c(
    r"<\|(?:im_start|im_end|im_sep|system|user|assistant|endoftext|eot_id|start_header_id|"
    r"end_header_id|begin_of_text|end_of_text|end|eom_id)\|>|\[/?inst\]|<</?sys>>|"
    r"<(?:start|end)_of_turn>"
)
_TURN_HEADER = _c(r"(?<!\w)(?:#{2,4} ?(?:instruction|system|response|input)s?|human|assistant) ?:")
_TOOL_JSON = _c(
    r"\{ ?\"(?:tool_calls?|function_call|tool_use|tool_name)\" ?:|"
    r"\"name\" ?: ?\"[\w.-]{1,64}\" ?, ?\"(?:arguments|parameters)\" ?:|"
    r"<(?:tool_call|function_call|tool_use)>|<function=[\w.-]{1,64}>"
)

_TEMPLATE_KEYS = ("<|", "[inst", "[/inst", "<<sys", "<</sys", "_of_turn>")
_TURN_KEYS = ("##", "human", "assistant")
_TOOL_KEYS = ("tool_call", "function_call", "tool_use", "tool_name", '"arguments"', '"parameters"',
              "<function=")


def _structure(t: str, norm: NormalizedText, raw: str, g: frozenset[str]) -> list[Hit]:
    hits: list[Hit] = []
    templates = finditer(_TEMPLATE, t, _on(_TEMPLATE_KEYS, g))
    hits.extend(Hit("chat-template", 0.85, *m.span()) for m in templates)
    if ":" in t:
        for m in finditer(_TURN_HEADER, t, _on(_TURN_KEYS, g), before=4, after=24):
            if _at_line_start(raw, norm.offsets[m.start()]):
                hits.append(Hit("chat-template", 0.6 if m.group()[0] == "#" else 0.4, *m.span()))
    tools = finditer(_TOOL_JSON, t, _on(_TOOL_KEYS, g), before=80, after=120)
    hits.extend(Hit("fake-tool-call", 0.5, *m.span()) for m in tools)
    return hits


# --- prompt leak ---------------------------------------------------------------

_LEAK = _c(
    r"\b(?:reveal|show|print|output|display|repeat|recite|tell|give|share|dump|leak|expose|"
    r"disclose|paste|copy|write (?:out|down)|spell out|list|provide|return|what (?:is|are|was|were))"
    r"(?: me| us)?(?: back)?(?: (?:all|exactly|verbatim|the|your|of|full|entire|complete|whole|"
    r"original|initial|hidden|secret|internal|exact|current|first|underlying|confidential|actual)\b){0,4}"
    r" (?P<o>system (?:prompt|message|instructions?)|(?:initial|original|hidden|secret|internal|"
    r"underlying|confidential|developer|pre-?) ?(?:prompts?|instructions?|message)|prompt|"
    r"instructions you (?:were|have been) given|rules you (?:were|have been) given)\b|"
    r"\brepeat (?:everything|all|the (?:text|words|content|messages?))(?: \w+){0,3}? "
    r"(?:above|before|preceding)\b|\b(?:words|text) above (?:starting|beginning) with\b|"
    r"\bwhat (?:were|are) your (?:original |initial |first |exact )?instructions\b|"
    r"\b(?:revele|montre|affiche|repete|donne|dis|ecris|imprime)(?:[- ]moi)?(?: \w+){0,3}? "
    r"(?:prompt systeme|ton prompt|votre prompt|instructions initiales|tes instructions|vos instructions|"
    r"tes consignes|vos consignes)\b|"
    r"\b(?:zeig|zeige|gib|verrate|wiederhole|nenne|schreib|drucke)(?: mir)?(?: \w+){0,3}? "
    r"(?:systemprompt|system-prompt|systemanweisungen?|deine (?:anweisungen|instruktionen|vorgaben)|"
    r"ursprunglichen anweisungen)\b|"
    r"\b(?:revela|muestra|muestrame|dime|repite|ensename|imprime|escribe)(?: me)?(?: \w+){0,3}? "
    r"(?:prompt (?:del|de) sistema|mensaje del sistema|tus instrucciones|instrucciones "
    r"(?:iniciales|originales|del sistema))\b|"
    r"(?:显示|顯示|输出|輸出|告诉我|告訴我|重复|重複|泄露|洩露|打印|给我看|給我看|透露|展示|列出)"
    r"[^。！？\n]{0,8}?(?:系统提示|系統提示|提示词|提示詞|系统指令|系統指令|初始指令|系统消息|系統消息|"
    r"你的指令|原始指令|隐藏指令)"
)
_LEAK_STRONG = _c(r"system|initial|original|hidden|secret|internal|confidential|your|developer|pre")
_LEAK_KEYS = ("prompt", "instruction", "above", "repeat", "consigne", "anweisung",
              "instruktion", "vorgabe", "instruccion", "提示", "指令", "系统消息", "系統消息")


# Paraphrases: the model's own set-up named as such ("your hidden guidelines",
# "the rules you were given", "what you were told before this conversation",
# "the text above this message"), asked for by a verb of showing or to be
# given word for word.
_SETUP_Q = (
    r"(?:(?:full|entire|complete|exact|original|initial|hidden|secret|internal|system|developer|"
    r"operating|starting|setup|first|underlying|confidential|private|pre-?) ?){1,3}"
)
_SETUP = _c(
    rf"\b(?:your|the) {_SETUP_Q}(?:instructions?|rules|guidelines|directives|configuration|config|"
    r"prompt|message|setup text|text|preamble)\b|"
    r"\b(?:your|my) (?:real|true|actual) (?:instructions|rules|prompt|system prompt)\b|"
    r"\b(?:hidden|secret) preamble\b|\bpreambule cache\b|\b(?:entwicklernachricht|systemnachricht)\b|"
    r"\b(?:before my first message|avant mon premier message|antes de mi primer mensaje|"
    r"vor meiner ersten nachricht)\b|\btexto que te (?:dieron|han dado|dio)\b|"
    r"\bwas (?:wurde|hat man) dir (?:\w+ )?(?:gesagt|aufgetragen)\b|"
    r"\b(?:the company|the people|whoever|the team|the developers?) (?:that |who )?(?:deployed|built|"
    r"configured|set up) you\b|"
    r"\byour (?:full |entire |complete )?(?:configuration|setup|set-up|guidelines|directives|prompt|"
    r"developer['’]?s? message)\b|\b(?:rules|instructions) you (?:have to|must) follow\b|"
    r"\beverything in your context\b|\b(?:ton|ta|tu) (?:prompt|configuration|configuracion|consigne)\b|"
    r"\bmensaje del (?:desarrollador|sistema)\b|\bmessage du (?:developpeur|systeme)\b|"
    r"(?:开发者|系统)消息|(?:收到|得到)的(?:指令|规则|设定)|"
    r"\b(?:rules|instructions|guidelines|directives|prompt|text|setup text)(?: that)? you (?:were|have been|"
    r"got) (?:given|told|set up with)\b|\b(?:instructions|rules|text|setup text) you (?:received|got)\b|"
    r"\bwhat (?:were|was|have) you (?:been )?told\b|\bhow you were (?:set up|configured|instructed)\b|"
    r"\b(?:text|words|content|everything)(?: that comes?| written| that appears?)? (?:above|before) "
    r"(?:this|my|the (?:first|user['’]?s?)) (?:message|line|conversation|prompt|question)\b|"
    r"\beverything (?:that comes )?before ['\"]?user ?:|"
    r"\b(?:tes|vos|ta|votre) (?:consignes|instructions|regles|directives|configuration)\b|"
    r"\b(?:instructions|consignes|regles) qu['’ ]?on t['’ ]?a (?:donnees|donne|fixees)\b|"
    r"\bqu['’ ]?on t['’ ]?a dit\b|\btexte (?:au-dessus|avant|au dessus) de ce message\b|"
    r"\b(?:deine[nrm]?|ihre[nr]?) (?:\w+ )?"
    r"(?:anweisungen|richtlinien|vorgaben|konfiguration|regeln|instruktionen|systemprompt)\b|"
    r"\b(?:die|den|das) du (?:\w+ ){0,5}(?:bekommen|erhalten) hast\b|\btext uber dieser nachricht\b|"
    r"\btus (?:instrucciones|directrices|reglas|configuracion|indicaciones|pautas)\b|"
    r"\b(?:instrucciones|reglas|directrices) que te (?:dieron|han dado|dio)\b|"
    r"\btexto (?:encima|antes) de este mensaje\b|"
    r"(?:你的|您的)(?:隐藏|秘密|系统|初始|原始|内部)?(?:规则|指令|提示词|设定|配置|说明)|"
    r"(?:隐藏|秘密|系统|初始|原始)的?(?:规则|指令|提示词|设定|前言)|(?:会话|对话)开始(?:时|前)|(?:这条|本条|第一条)消息(?:上面|之前|以前)的(?:文字|内容)"
)
_SETUP_KEYS = (
    "instruction", "rule", "guideline", "directive", "configur", "config", "prompt", "message", "setup",
    "set-up", "text", "told", "set up", "everything", "consigne", "regle", "dit", "texte", "anweisung",
    "richtlin", "vorgab", "konfig", "regeln", "systemprompt", "hast", "nachricht", "instruccion",
    "directric", "regla", "configuracion", "indicacion", "pauta", "mensaje", "规则", "指令", "提示词",
    "设定", "配置", "说明", "消息", "preamble", "preambule", "entwicklernachricht", "systemnachricht",
    "first message", "premier message", "primer mensaje", "ersten nachricht", "texto", "gesagt",
    "aufgetragen", "deployed", "built", "configured", "前言", "开始",
)
_SHOW = _c(
    r"\b(?:reveal|show|print|output|display|repeat|recite|tell|give|share|dump|leak|expose|disclose|"
    r"paste|copy|write|spell|list|quote|type|read|what|encode|start your (?:reply|answer|response) with|"
    r"revele|montre|affiche|repete|donne|dis|ecris|imprime|recopie|copie|cite|qu['’ ]?est-ce|"
    r"zeig|zeige|gib|verrate|wiederhole|nenne|schreib|schreibe|drucke|zitiere|was steht|kopiere|"
    r"revela|muestra|muestrame|dime|repite|escribe|copia|dame|cita|citalas|cuales son|que dicen|"
    r"translate|traduce|traduis|traduire|ubersetze|complete this sentence)\b|"
    r"显示|输出|告诉|重复|复制|打印|给我|透露|展示|列出|引用|写出|翻译"
)
_VERBATIM = _c(
    r"\b(?:verbatim|word for word|word-for-word|exactly|exact wording|in full|raw text|code block|"
    r"as written|without summari[sz]ing|mot pour mot|mot a mot|formulation exacte|sans resumer|"
    r"pas un resume|wortlich|wortlaut|genau|keine zusammenfassung|textualmente|exactamente|"
    r"palabra por palabra|redaccion exacta|no un resumen|sin resumir|tel quel|tal cual|exactamente)\b|"
    r"逐字|原样|原文|不要总结|原封不动"
)
_CODE_AFTER = _c(r"[.(_=\[]")


def _leak(t: str, g: frozenset[str]) -> list[Hit]:
    hits = []
    for m in finditer(_LEAK, t, _on(_LEAK_KEYS, g), before=70):
        o = m.group("o")
        if o == "prompt" and _CODE_AFTER.match(t, m.end()):
            continue  # code: "return prompt.filter(...)"
        weak = o == "prompt" or (o and not _LEAK_STRONG.search(m.group()))
        score = 0.5 if weak else 0.85
        if _VERBATIM.search(t, max(0, m.start() - 80), m.end() + 80):
            score += 0.07
        hits.append(Hit("prompt-leak", score, *m.span()))
    for i, m in enumerate(finditer(_SETUP, t, _on(_SETUP_KEYS, g), before=60, after=40)):
        if i >= _MAX_SETUPS:
            break
        lo, hi = max(0, m.start() - 80), min(len(t), m.end() + 80)
        if _VERBATIM.search(t, lo, hi):
            hits.append(Hit("prompt-leak", 0.9, *m.span()))
        elif _SHOW.search(t, lo, m.end()) or _SHOW.search(t, m.end(), m.end() + 30):
            hits.append(Hit("prompt-leak", 0.6, *m.span()))
    return hits


_MAX_SETUPS = 16


# --- content addressed to the AI; exfiltration requests ----------------------

_AI = (
    r"(?:ai|a\.i\.|llm|language model|large language model|chatbot|assistant|ai assistant|ai model|"
    r"ai agent|agent|bot|model|gpt|chatgpt|claude|copilot|gemini)s?"
)
_NOT_JOB = (
    r"(?! (?:manager|director|professor|editor|coach|principal|teacher|secretary|coordinator|"
    r"engineer|position|role|job|team|program|programme|train|release|number|name|year))"
)
_ADDRESSED = _c(
    rf"\b(?:note|message|instructions?|attention|notice|reminder|request|directive|memo|p\.?s\.?) "
    rf"(?:to|for) (?:the |any |all |an? )?{_AI}\b{_NOT_JOB}|"
    rf"\b(?:dear|hey|hi|hello|attention|important|urgent)[,:!]? (?:the )?{_AI}\b{_NOT_JOB}|"
    rf"\bif you are (?:an?|the) (?:\w+ ){{0,2}}(?:ai|llm|large language model|language model|ai assistant|assistant|"
    rf"chatbot|bot|ai model|agent|automated (?:system|agent|assistant))\b|"
    rf"\bwhen you (?:summari[sz]e|read|process|analy[sz]e|translate|review|parse) this\b|"
    rf"\b(?:next (?:action|step|task)|action|task) for (?:the |any |an? )?{_AI}\b{_NOT_JOB}|"
    rf"\bthe {_AI} (?:handling|reading|processing|summari[sz]ing|"
    rf"screening|parsing) (?:this|the following|these)\b|"
    rf"\bto (?:whichever|any|the|every) {_AI} (?:that )?(?:is )?(?:processing|reading|summari[sz]ing|handling|"
    rf"parsing) (?:this|the following|these)\b|"
    rf"\b(?:achtung|atencion|attention|instruccion para|instruction pour|anweisung fur) (?:la |le |l['’] ?|"
    rf"el |die |den )?(?:ia|ki|assistent(?:en)?|asistente|modele(?: de langage)?|modelo|sprachmodell)\b|"
    rf"(?:给|給|致)(?:ai|助手|模型|智能体)的|"
    rf"\b(?:au lieu de resumer|ne resume pas|en lugar de resumir|no resumas|nicht zusammen(?:fassen)?)\b|"
    rf"\bsi (?:tu es|vous etes) (?:le|la|l['’] ?)(?:ia|assistant|chatbot|modele|agent)\b|"
    rf"\bwenn du ein(?:e)? (?:ki|ki-agent|ki-modell|sprachmodell|llm|assistent|chatbot|agent)\b|"
    rf"\bsi eres (?:el|la) (?:ia|asistente|modelo|chatbot|agente)\b|\basistente, |"
    rf"(?:致|给|給)正在(?:阅读|閱讀|总结|總結)[^：:\n]{{0,12}}(?:助手|模型|智能体|ai)|(?:智能体|助手|ai助手)请注意|"
    rf"(?:如果你是|若你是)正在|"
    rf"\b(?:ai|llm|assistant|model|agent|chatbot|bot)s? (?:reading|processing|summari[sz]ing|"
    rf"parsing|analy[sz]ing|scanning|crawling|browsing) (?:this|the following)\b|"
    rf"\bwhen (?:the |an? )?(?:ai|assistant|llm|model|agent|chatbot) (?:reads|processes|"
    rf"summari[sz]es|sees|parses) this\b|"
    rf"\b(?:instead of summari[sz]ing|do not summari[sz]e|don['’]t summari[sz]e|rather than summari[sz]ing)\b|"
    rf"\bsi (?:tu es|vous etes) une? (?:ia|intelligence artificielle|assistant|modele de langage|"
    rf"llm|chatbot)\b|\b(?:note|message|consigne)s? (?:a|pour) (?:l['’] ?|les? |la )"
    rf"(?:ia|assistant|intelligence artificielle|modele)\b|"
    rf"\bwenn du (?:eine ki|ein (?:ki-?modell|sprachmodell|llm|assistent|chatbot|ki)) bist\b|"
    rf"\b(?:hinweis|nachricht|anweisung)(?:en)? (?:an|fur) (?:die ki|den assistenten|das "
    rf"(?:sprachmodell|modell|llm)|jede ki)\b|"
    rf"\bsi eres una? (?:ia|inteligencia artificial|asistente|modelo de lenguaje|llm|chatbot)\b|"
    rf"\b(?:nota|mensaje|instrucciones?) (?:para|a) (?:la ia|el asistente|el modelo|"
    rf"la inteligencia artificial|cualquier ia)\b|"
    rf"(?:如果你是|若你是|假如你是)(?:一个|一個)?(?:ai|人工智能|语言模型|語言模型|助手|大模型|聊天机器人)|"
    rf"(?:致|给|給)(?:ai|人工智能|ai助手|助手|模型|语言模型)[:：的]"
)
_ADDRESSED_KEYS = ("ai$", "a.i.", "ais$", "modelo", "sprachmodell", "assistenten", "给ai", "給ai", "致ai", "智能体", "llm", "model", "bot$", "bots$", "chatbot", "assistant",
                   "agent", "gpt", "chatgpt", "claude", "copilot", "gemini", "summari", "ia$",
                   "when you", "resume", "resumir", "resumas", "zusammen", "modele", "asistente", "ki-",
                   "正在", "请注意",
                   "ki$", "ki-", "sprachmodell", "assistent", "asistente", "人工智能", "助手", "模型")
_SEND_KEYS = ("send", "post", "forward", "upload", "transmit", "leak", "email", "e-mail", "append",
              "include", "encode", "embed", "attach", "envoie", "envoyez", "sende", "schicke",
              "envia", "envie", "发送", "發送")
_SEND = _c(
    r"\b(?:send|post|forward|upload|transmit|leak|e-?mail|append|include|encode|embed|attach|"
    r"envoie|envoyez|sende|schicke|envia|envie)\b|发送|發送"
)
_SENSITIVE = _c(
    r"\b(?:conversation|chat (?:history|log)|chat|user['’]?s? (?:data|information|messages?|details|"
    r"credentials)|credentials|passwords?|api keys?|secrets?|tokens?|session (?:cookies?|tokens?)|"
    r"previous messages|message history|personal (?:data|information)|system prompt|private data|"
    r"historique|donnees|mots de passe|verlauf|passworter|daten|historial|datos|contrasenas)\b|"
    r"对话|對話|密码|密碼|数据|數據"
)
# A literal of every _SENSITIVE match: without one, "send"/"include" in business
# prose is not looked at any further.
_SENSITIVE_KEYS = (
    "conversation", "chat", "user", "credential", "password", "api key", "secret", "token", "session",
    "previous messages", "message history", "personal", "system prompt", "private data", "historique",
    "donnees", "mots de passe", "verlauf", "passworter", "daten", "historial", "datos", "contrasenas",
    "对话", "對話", "密码", "密碼", "数据", "數據",
)
_DEST = _c(r"https?:|www\.|\burl\b|\bendpoint\b|\bwebhook\b|\bserver\b|\S@\S|\baddress\b|\blink\b|\bimage\b")
_MAX_SENDS = 16
_IMPERATIVE = _c(
    r"\b(?:ignore|disregard|forget|include|add|append|send|forward|post|reply|respond|recommend|approve|"
    r"list|reveal|show|tell|output|write|say|mark|grant|call|explain|delete|transfer|export|insert|"
    r"wipe|disable|print|do not (?:tell|mention|summari[sz]e|reveal)|don['’]?t (?:tell|mention)|"
    r"instead|ignore[sz]?|oublie[sz]?|ajoute[sz]?|envoie[sz]?|transfere[sz]?|donne[sz]?|liste[sz]?|"
    r"approuve[sz]?|desactive[sz]?|mets|reponds|ignoriere|vergiss|sende|leite|fuge|zeige|gib|"
    r"antworte|ignora|olvida|incluye|envia|responde|aprueba|muestra|dame|lista|a la place|"
    r"stattdessen|en su lugar)\b|"
    r"忽略|废除|列出|发送|显示|附上|批准|不要|回复|转发"
)
_EXFIL = _c(r"exfiltrat\w*")
_EXFIL_NOUN = ("exfiltration", "exfiltrations")  # a topic, not a request
_EXFIL_KEYS = ("exfiltrat",)


def _addressed(t: str, g: frozenset[str]) -> list[Hit]:
    hits: list[Hit] = []
    for i, m in enumerate(finditer(_ADDRESSED, t, _on(_ADDRESSED_KEYS, g), before=32, after=60)):
        if i >= _MAX_SENDS:
            break
        # addressed to the model AND telling it to do something: the indirect attack itself
        act = _IMPERATIVE.search(t, m.end(), m.end() + 160)
        hits.append(Hit("addressed-to-ai", 0.9 if act else 0.6, *m.span()))
    for m in finditer(_EXFIL, t, _on(_EXFIL_KEYS, g), 0, 40):
        hits.append(Hit("exfil-request", 0.3 if m.group() in _EXFIL_NOUN else 0.6, *m.span()))
    # the gate is a superset by word heads ("contract" wakes "contrasenas"): check the literals
    sensitive = any(k in t for k in _on(_SENSITIVE_KEYS, g))
    sends = _on(_SEND_KEYS, g) if sensitive else []
    for i, m in enumerate(finditer(_SEND, t, sends, before=0, after=20)):
        if i >= _MAX_SENDS:
            break
        s = _SENSITIVE.search(t, m.end(), m.end() + 80)
        if s and (d := _DEST.search(t, s.end(), s.end() + 100)):
            hits.append(Hit("exfil-request", 0.65, m.start(), d.end()))
    return hits


# --- the quoting / discussing frame ------------------------------------------

_QUOTES = "\"'“”‘’«»„「」『』`"
_DISCUSSION = _c(
    r"\b(?:attackers?|attacks?|attacked|prompt injections?|injection attacks?|jailbreak(?:s|ing)? "
    r"(?:attempts?|prompts?|techniques?)|for example|for instance|such as|e\.g\.|phrases? (?:like|such as)|"
    r"payloads?|researchers?|malicious|adversar\w+|red[- ]team\w*|classic|known as|example of|"
    r"detect\w*|classifier|security|phishing|attaquants?|angreifer|atacantes?|injections?|"
    r"jailbreaks|exfiltration|well-known|(?:strings?|inputs?|phrases?|prompts?|texts?) (?:like|such as)|"
    r"filters?|flags?|defen[cs]es?|countermeasures?|mitigations?|benchmarks?|techniques?|history of|"
    r"the model refused|injection de prompt|prompt-injection|ataques?|angriffe?|the phrase|la frase|"
    r"la phrase|ejemplo|exemple|beispiel|clasico|classique|klassische|inyeccion|untrusted|"
    r"chatbots? (?:\w+ )?obey)\b|攻击|攻擊|注入"
)
# A discussion marker right before a match introduces it like a quotation ("tokens such as <|im_start|>").
_INTRO = _c(
    r"(?:such as|like|e\.g\.|for example|for instance|called|named|string|phrase|tokens?|payloads?|"
    r"comme|wie|como)[:,]? ?$"
)
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
    if any(q in before for q in _QUOTES) or _INTRO.search(t, max(0, start - 16), start) or (
        discussing and _in_quote(t, start)
    ):
        return 0.3 if discussing else 0.6
    if discussing and _DISCUSSION.search(t, max(0, start - _DISCUSSION_WINDOW), start):
        return 0.6
    return 1.0


# --- the trigger gate -----------------------------------------------------------

_ALL_KEYS = (
    _OVERRIDE_KEYS + _ZH_KEYS + _ROLEPLAY_KEYS + _RULE_KEYS + _FRAMING_KEYS + _SYSTEM_KEYS
    + _TEMPLATE_KEYS + _TURN_KEYS + _TOOL_KEYS + _LEAK_KEYS + _SETUP_KEYS + _ADDRESSED_KEYS + _SEND_KEYS
    + _EXFIL_KEYS + _SENSITIVE_KEYS
)
# which scanner each key can wake (a scanner whose keys are all absent is skipped)
_GROUPS: dict[str, frozenset[str]] = {
    "override": frozenset(_OVERRIDE_KEYS + _ZH_KEYS),
    "roleplay": frozenset(_ROLEPLAY_KEYS + _RULE_KEYS + _FRAMING_KEYS),
    "spoofed": frozenset(_SYSTEM_KEYS),
    "structure": frozenset(_TEMPLATE_KEYS + _TURN_KEYS + _TOOL_KEYS),
    "leak": frozenset(_LEAK_KEYS + _SETUP_KEYS),
    "addressed": frozenset(_ADDRESSED_KEYS + _SEND_KEYS + _EXFIL_KEYS),
}
# literal -> the keys spelled with it (a key ending in "$" must end a word)
_BY_LITERAL: dict[str, set[str]] = {}
for _key in _ALL_KEYS:
    _BY_LITERAL.setdefault(_key.rstrip("$"), set()).add(_key)


# The gate: which keys can occur, from the set of the text's word heads (first
# four and three characters of each word). A key starting with an ASCII letter occurs
# only at a word start (see carriers.windows), so each of its words starts a
# word of the text and the head of its longest word must be among them; other
# keys (markup, CJK) are looked up as substrings. One
# bytes.translate and split cost far less than a regex over clean prose.
_HEAD = 4
# Every byte but an ASCII letter or digit splits words: non-ASCII characters
# too, so "«ignore" still shows the head "igno" (extra heads only cost time).
_WORD_BYTES = bytes.maketrans(
    bytes(range(256)), bytes(c if c < 128 and chr(c).isalnum() else 32 for c in range(256))
)
_HEADED: dict[bytes, list[str]] = {}
_SUBSTRING: list[str] = []
for _lit in sorted(_BY_LITERAL):
    _word = max(re.findall(r"[a-z0-9]+", _lit) or [""], key=len)
    if _lit[0].isascii() and _lit[0].isalpha():
        _HEADED.setdefault(_word[:_HEAD].encode(), []).append(_lit)
    else:
        _SUBSTRING.append(_lit)
_HEAD_KEYS = frozenset(_HEADED)
_HEAD4 = operator.itemgetter(slice(None, _HEAD))
_HEAD3 = operator.itemgetter(slice(None, 3))  # three-letter stems ("sys")


def _present(t: str) -> frozenset[str]:
    """The keys whose literal may occur in ``t`` (a superset; windows() decides)."""
    words = t.encode("utf-8", "surrogatepass").translate(_WORD_BYTES).split()
    heads = set(map(_HEAD4, words))
    heads.update(map(_HEAD3, words))
    found: set[str] = set()
    for head in _HEAD_KEYS.intersection(heads):
        for lit in _HEADED[head]:
            # heads over-approximate ("contract" shows "cont"): one substring test
            # here spares every scanner a search for a literal that is not there
            if lit in t:
                found.update(_BY_LITERAL[lit])
    if not t.isascii() or "<" in t or "[" in t or "#" in t or '"' in t or "_" in t:
        for lit in _SUBSTRING:
            if lit in t:
                found.update(_BY_LITERAL[lit])
    return frozenset(found)


def _on(keys: tuple[str, ...] | frozenset[str], g: frozenset[str]) -> list[str]:
    return [k for k in keys if k in g]


# --- scan -----------------------------------------------------------------------


def phrase_hits(text: str, norm: NormalizedText | None = None) -> list[Hit]:
    """The phrase signals of ``text``, in normalised coordinates, frame applied.

    :mod:`.carriers` calls this on decoded payloads, comment bodies and joined
    fragments (one level: it never calls back into the carriers).
    """
    if norm is None:
        norm = normalize(text)
    t = norm.text
    g = _present(t)
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
        hits += _leak(t, g)
    if not g.isdisjoint(_GROUPS["addressed"]):
        hits += _addressed(t, g)
    if not hits:
        return hits
    if len(hits) > MAX_PER_NAME:
        hits = _cap(hits)
    discussing = bool(_DISCUSSION.search(t))
    return [h._replace(score=h.score * _frame_factor(t, h.start, discussing)) for h in hits]


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
    phrases = phrase_hits(text, norm)
    for h in phrases:
        start, end = norm.to_original(h.start, h.end)
        out.append(_to_signal(h._replace(start=start, end=end)))
    for h in carriers.scan_carriers(text, out, phrase_hits):
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

