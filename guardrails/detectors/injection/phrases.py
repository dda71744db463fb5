"""The phrase tables of the injection signals: patterns and trigger keys, as data.

Each phrase signal of :mod:`.signals` reads its regexes and keys from here:
the verbs, objects and framings in English, French, German, Spanish and
Chinese, written for the evasion-normalised text (lower case, no diacritics,
single spaces: see :func:`guardrails.detectors.normalize.normalize`). The
scoring - which match counts for how much - stays beside each scanner in
:mod:`.signals`.

A pattern's ``*_KEYS`` are its triggers: literals every match contains (at
a word start when they begin with an ASCII letter; ``$`` marks one that must
also end a word). :mod:`.triggers` runs a pattern only around them, so a key
list that misses a way of matching loses matches silently: a new alternative
needs a key. Patterns have bounded repetitions only. Each is compiled with
its word boundaries factored out of its alternation (:func:`factor_boundaries`):
the same matches, found in about half the time.

Why one module: it is one vocabulary, read as a table. The signals share its
parts (the verbs, objects and framings recur across patterns), a pattern and
its keys must be read side by side, and the tests walk every pattern and key
tuple of it at once; split by signal, the shared parts would be imported back
and forth.
"""

from __future__ import annotations

import re


def _c(pattern: str) -> re.Pattern[str]:
    factored = factor_boundaries(pattern)
    WRITTEN[factored] = pattern
    return re.compile(factored)


#: Each compiled pattern's source as written here, by its compiled source (a test
#: compares the two compilations position by position).
WRITTEN: dict[str, str] = {}


def top_alternatives(pattern: str) -> list[str]:
    """``pattern`` split at its top-level ``|`` (outside groups and classes)."""
    out: list[str] = []
    depth, start, i, n = 0, 0, 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":  # a class: its first ']' (after a '^') is a literal
            i += 1
            if pattern.startswith("^", i):
                i += 1
            if pattern.startswith("]", i):
                i += 1
            while i < n and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            out.append(pattern[start:i])
            start = i + 1
        i += 1
    out.append(pattern[start:])
    return out


def factor_boundaries(pattern: str) -> str:
    """``\\bA|\\bB|C`` as ``\\b(?:A|B)|C``: the same matches, found faster.

    ``re`` tries a top-level alternation one branch at a time, and a branch
    opening with ``\\b`` is entered before it can fail (one that opens with a
    literal is skipped at a glance). The phrase patterns are alternations of
    dozens of such branches, tried at every lead-in word: factoring the
    boundary out of each run of them makes each branch open with its words
    again, and a match attempt costs about half. The order of the branches is
    kept, so the first one to match at a position is the same."""
    parts = top_alternatives(pattern)
    if len(parts) < 2:
        return pattern
    out: list[str] = []
    run: list[str] = []
    for part in parts + [""]:
        if part.startswith(r"\b"):
            run.append(part[2:])
            continue
        if len(run) > 1:
            out.append(r"\b(?:" + "|".join(run) + ")")
        elif run:
            out.append(r"\b" + run[0])
        run = []
        out.append(part)
    return "|".join(out[:-1])


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
QUALIFIER = _c(
    r"\b(?:all|any|every|prior|previous|preceding|earlier|above|foregoing|initial|original|"
    r"existing|your|system|developer|safety|toutes?|tous|tes|vos|precedentes?|anterieures?|"
    r"initiales?|ci-dessus|alle|allen|deine|ihre|vorherigen?|bisherigen?|obigen?|fruheren?|"
    r"ursprunglichen?|todas?|todos|tus|sus|anteriores?|previas?|previos?|originales?|sistema)\b"
)
# The writer's own instructions, or a third party's described ("telling a chatbot to ignore its
# instructions"): an attack addresses the model's instructions, "your" or none.
OWN = _c(r"\b(?:my|our|mes|meine|mis|its|their|his|her)\b")
OWN_AFTER = _c(r" (?:(?:that |which )?(?:i|we) (?:left|gave|sent|wrote|added|put|made|had)|for the "
                r"(?:courier|driver|delivery|cleaner|team|staff|neighbou?r))\b")
OVERRIDE = _c(
    rf"\b(?P<v>{_STRONG_VERB}|{_WEAK_VERB})\b(?: {_FILLER}\b){{0,6}} ?{_OBJECT}\b"
    r"(?: (?:precedentes?|anterieures?|ci-dessus|anteriores?|previas?|above|before))?"
)
WEAK_VERB_RE = _c(rf"^{_WEAK_VERB}\b")
OVERRIDE_POSITION = _c(
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
OVERRIDE_ZH = _c(
    r"(?:忽略|忽视|无视|無視|不要理会|不要理會|别管|別管|忘记|忘記|忘掉|抛开|拋開|跳过|跳過|绕过|繞過|"
    r"覆盖|不再遵守|不要遵守|不用遵守|停止遵守)(?:掉)?(?:你)?(?:的)?"
    r"(?:(?:所有|全部|一切|之前|以前|先前|此前|前面|上面|以上|上述|原来|原有|最初|初始|系统|系統)的?){0,3}"
    r"(?:指令|指示|规则|規則|说明|說明|提示词|提示詞|提示|设定|設定|要求|限制|约束|約束|命令"
    r"|(?:(?:之前|以前|前面|上面|以上|上述)的?(?:所有|全部|一切)?(?:内容|內容|一切|所有|话|話|对话|對話)?"
    r"(?=[，。,.!！？?\s]|$)))"
)
WEAK_KEYS = frozenset({"skip", "drop", "discard", "abandon", "dismiss", "erase", "delete", "clear",
                        "cancel", "void", "nullify", "replace", "supersede", "wipe", "throw"})
OVERRIDE_KEYS = (
    "ignor", "disregard", "forg", "overrid", "overrule", "bypass", "set aside", "pay no",
    "not follow", "t follow", "stop follow", "longer follow", "not obey", "t obey", "stop obey",
    "longer obey", "oubli", "compte", "abstraction", "contourn", "outrepass", "vergiss",
    "vergess", "missacht", "ubergeh", "umgeh", "olvid", "descart", "omit", "pasa por",
    "caso omiso", "sigas", "siga", "skip", "drop", "discard", "abandon", "dismiss", "erase",
    "delete", "clear", "cancel", "void", "nullify", "replace", "supersede", "wipe", "throw",
)
# A narrated override: the past tense of a strong verb after a subject (see signals._narrated).
PAST_VERB = _c(r"(?:ignored|disregarded|forgot|overrode|overruled|bypassed)\b")
CLAUSE_START = _c(r"[.!?;:\n]")
SECOND_PERSON = frozenset({"you", "u", "ya", "vous", "tu", "du"})
POSITION_KEYS = tuple(k for k in OVERRIDE_KEYS if k not in WEAK_KEYS)
ZH_KEYS = ("忽", "无视", "無視", "理会", "理會", "别管", "別管", "忘", "抛开", "拋開", "跳过", "跳過",
            "绕过", "繞過", "覆盖", "遵守")


# --- role-play and jailbreak framings -----------------------------------------

_ROLE_RULES = (
    r"(?:rules|restrictions|limits|limitations|filters|guidelines|censorship|boundaries|constraints|"
    r"ethics|morals|policies|programming|training|safeguards|guardrails|content polic(?:y|ies))"
)
ROLEPLAY_STRONG = _c(
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
ROLEPLAY_MEDIUM = _c(
    rf"\b(?:without|no) (?:any |all |your |the |ethical |moral |safety |content )?{_ROLE_RULES}\b|"
    r"\bdeveloper mode\b|\bstay in character\b|"
    r"\bsans (?:aucune? )?(?:restrictions?|regles?|limites?|filtres?|censure)\b|"
    r"\bohne (?:jegliche |irgendwelche )?(?:einschrankungen|regeln|grenzen|filter|zensur)\b|"
    r"\bsin (?:ninguna |ningun )?(?:restricciones|reglas|limites|filtros|censura)\b|"
    r"(?:没有|沒有|不受)(?:任何)?(?:限制|规则|規則|约束|約束|过滤|過濾|审查|審查)"
)
# The rest of a clause that ends in a question mark ("you have no rules for the playground?").
ASKED = _c(r"[^.!?\n,;]{0,60}\?")
YOU = _c(r"\b(?:you|your|yourself|tu|vous|du|eres|你)\b|你")
FRAMING = _c(
    r"\b(?:hypothetical(?:ly)?|imagine|pretend|fictional|imaginary|role-?play|"
    r"for a (?:story|novel|screenplay|movie)|let['’]?s play a game|in a world where|"
    r"hypothetisch|stell dir vor|imagina|supongamos|imagine que|假设|假設|想象)"
)
BYPASS = _c(
    rf"\b(?:no |without (?:any )?){_ROLE_RULES}\b|\bignore (?:your|all|the|any) |\bbypass|"
    r"\bnot bound|\bunfiltered|\buncensored|\bunrestricted|\bno (?:ethical|moral)|"
    r"\bwithout (?:ethic|moral)|\bsans (?:regles|restrictions)|\bohne (?:regeln|einschrankungen)|"
    r"\bsin (?:reglas|restricciones)|\bno tienes (?:\w+ )?(?:reglas|restricciones)|"
    r"没有(?:任何)?(?:安全)?(?:限制|规则)"
)
OFF_KEYS = ("switched off", "turned off", "disabled", "removed", "lifted", "suspended")
ROLEPLAY_KEYS = (
    "you are", "you're", "you’re", "you re", "act as", "become", "pretend to be", "roleplay as",
    "role-play as", "play the role", "you will be", "do anything now", "mode", "you now", "you have",
    "you ve got", "you got", "you follow", "free from", "free of", "freed from", "freed of",
    "not bound", "unbound", "released from", "liberated from", "no longer bound", "tu es",
    "vous etes", "du bist", "entwicklermodus", "eres", "modo", "开发者模式", "開發者模式", "越狱", "越獄",
    "你现在是", "你現在是", "从现在起你是", "從現在起你是",
) + OFF_KEYS
RULE_KEYS = (
    "rule", "restriction", "limit", "filter", "guideline", "censor", "boundar", "constraint",
    "ethic", "moral", "policies", "content polic", "programming", "safeguard", "guardrail", "developer mode",
    "stay in character", "regle", "einschrankung", "regeln", "grenzen", "zensur", "reglas",
    "restricci", "filtro", "限制", "规则", "規則", "约束", "約束", "过滤", "過濾", "审查", "審查",
)
FRAMING_KEYS = (
    "hypothetic", "imagin", "pretend", "fiction", "role-play", "roleplay", "for a story",
    "for a novel", "for a screenplay", "for a movie", "play a game", "in a world where",
    "stell dir", "supongamos", "假设", "假設", "想象",
)


# --- spoofed structure --------------------------------------------------------

SYSTEM_HEADER = _c(
    r"(?<![\w])[\[<(*]{0,2}(?:system|sys|admin(?:istrator)?|developer|root|operator|security|"
    r"systeme|systemnachricht|sistema|系统|系統)(?: (?:message|prompt|note|notice|override|"
    r"instructions?|update|alert|command))?[\]>)*]{0,2} ?[:：]"
)
SYSTEM_CUE = _c(
    r"\b(?:you|your|ignore|disregard|forget|must|new|from now|override|reveal|always|never|"
    r"do not|don['’]?t|respond|reply|the assistant|the ai|tu|vous|du|ignoriere|eres|ignora)\b|你|忽略"
)
# What closes a header: a colon, a closing bracket, a dash or the end of the text (the end
# of a line is read in the raw text: normalisation folds a newline into a space).
HEADER_END = _c(r" ?(?:[:：\]>)|\-—–]|$)")
LINE_END = _c(r"[ \t]*(?:\r?\n|$)")
SYSTEM_PHRASE = _c(
    r"\b(?:new|updated|revised|real|actual|true|official) (?:system|admin|developer) "
    r"(?:message|prompt|instructions?|directives?|rules|policy|override)\b|"
    r"\b(?:system|admin|administrator|developer) override\b|"
    r"\b(?:begin|start|end) (?:of )?(?:the )?(?:system|new) (?:prompt|instructions|message)\b|"
    r"\bnouve(?:au|lles?) (?:message|prompt|instructions?|consignes?) (?:du )?systeme\b|"
    r"\bneue (?:systemnachricht|systemanweisung(?:en)?|system-?prompt)\b|"
    r"\bnuev(?:o|as) (?:mensaje|prompt|instrucciones) del sistema\b|"
    r"新的?系统(?:消息|提示|指令)|新的?系統(?:消息|訊息|提示|指令)"
)
NEW_INSTRUCTIONS = _c(
    r"\b(?:new|updated) instructions ?:|\bnouvelles (?:instructions|consignes) ?:|"
    r"\bneue anweisungen ?:|\bnuevas instrucciones ?:|新(?:的)?指令[:：]"
)
SYSTEM_KEYS = ("sys", "admin", "developer", "root", "operator", "security", "sistema",
                "instructions", "anweisungen", "consignes", "instrucciones", "系统", "系統", "指令")
# The keys of SYSTEM_KEYS each pattern's matches can hold at a word start (the
# order kept): a match is kept only where it covers an occurrence of a key, so an
# occurrence of a key no match holds ("security" in a security article) costs a
# lead-in scan and finds nothing. Only word-led keys are left out: the windows of
# the other keys are merged, and a window's search depends on its neighbours.
SYSTEM_PHRASE_KEYS = tuple(k for k in SYSTEM_KEYS if k not in ("root", "operator", "security", "anweisungen"))
SYSTEM_HEADER_KEYS = tuple(k for k in SYSTEM_KEYS if k not in ("anweisungen", "consignes", "instrucciones"))
# ... and NEW_INSTRUCTIONS' matches hold no name, and end with a colon.
NEW_INSTRUCTIONS_KEYS = ("instructions", "anweisungen", "consignes", "instrucciones", "系统", "系統", "指令")


SYSTEM_NAME = _c(r"sys|sistema|admin|系")


TEMPLATE = _c(
    r"<\|(?:im_start|im_end|im_sep|system|user|assistant|endoftext|eot_id|start_header_id|"
    r"end_header_id|begin_of_text|end_of_text|end|eom_id)\|>|\[/?inst\]|<</?sys>>|"
    r"<(?:start|end)_of_turn>"
)
TURN_HEADER = _c(r"(?<!\w)(?:#{2,4} ?(?:instruction|system|response|input)s?|human|assistant) ?:")
TOOL_JSON = _c(
    r"\{ ?\"(?:tool_calls?|function_call|tool_use|tool_name)\" ?:|"
    r"\"name\" ?: ?\"[\w.-]{1,64}\" ?, ?\"(?:arguments|parameters)\" ?:|"
    r"<(?:tool_call|function_call|tool_use)>|<function=[\w.-]{1,64}>"
)

TEMPLATE_KEYS = ("<|", "[inst", "[/inst", "<<sys", "<</sys", "_of_turn>")
TURN_KEYS = ("##", "human", "assistant")
TOOL_KEYS = ("tool_call", "function_call", "tool_use", "tool_name", '"arguments"', '"parameters"',
              "<function=")


# --- prompt leak ---------------------------------------------------------------

LEAK = _c(
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
LEAK_STRONG = _c(r"system|initial|original|hidden|secret|internal|confidential|your|developer|pre")
LEAK_KEYS = ("prompt", "instruction", "above", "repeat", "consigne", "anweisung",
              "instruktion", "vorgabe", "instruccion", "提示", "指令", "系统消息", "系統消息")


# Paraphrases: the model's own set-up named as such ("your hidden guidelines",
# "the rules you were given", "what you were told before this conversation",
# "the text above this message"), asked for by a verb of showing or to be
# given word for word.
_SETUP_Q = (
    r"(?:(?:full|entire|complete|exact|original|initial|hidden|secret|internal|system|developer|"
    r"operating|starting|setup|first|underlying|confidential|private|pre-?) ?){1,3}"
)
SETUP = _c(
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
SETUP_KEYS = (
    "instruction", "rule", "guideline", "directive", "configur", "config", "prompt", "message", "setup",
    "set-up", "text", "told", "set up", "everything", "consigne", "regle", "dit", "texte", "anweisung",
    "richtlin", "vorgab", "konfig", "regeln", "systemprompt", "hast", "nachricht", "instruccion",
    "directric", "regla", "configuracion", "indicacion", "pauta", "mensaje", "规则", "指令", "提示词",
    "设定", "配置", "说明", "消息", "preamble", "preambule", "entwicklernachricht", "systemnachricht",
    "first message", "premier message", "primer mensaje", "ersten nachricht", "texto", "gesagt",
    "aufgetragen", "deployed", "built", "configured", "前言", "开始",
)
SHOW = _c(
    r"\b(?:reveal|show|print|output|display|repeat|recite|tell|give|share|dump|leak|expose|disclose|"
    r"paste|copy|write|spell|list|quote|type|read|what|encode|start your (?:reply|answer|response) with|"
    r"revele|montre|affiche|repete|donne|dis|ecris|imprime|recopie|copie|cite|qu['’ ]?est-ce|"
    r"zeig|zeige|gib|verrate|wiederhole|nenne|schreib|schreibe|drucke|zitiere|was steht|kopiere|"
    r"revela|muestra|muestrame|dime|repite|escribe|copia|dame|cita|citalas|cuales son|que dicen|"
    r"translate|traduce|traduis|traduire|ubersetze|complete this sentence)\b|"
    r"显示|输出|告诉|重复|复制|打印|给我|透露|展示|列出|引用|写出|翻译"
)
VERBATIM = _c(
    r"\b(?:verbatim|word for word|word-for-word|exactly|exact wording|in full|raw text|code block|"
    r"as written|without summari[sz]ing|mot pour mot|mot a mot|formulation exacte|sans resumer|"
    r"pas un resume|wortlich|wortlaut|genau|keine zusammenfassung|textualmente|exactamente|"
    r"palabra por palabra|redaccion exacta|no un resumen|sin resumir|tel quel|tal cual|exactamente)\b|"
    r"逐字|原样|原文|不要总结|原封不动"
)
# Literals of every SHOW and VERBATIM match: without one of them in the text,
# neither is searched for around a prompt-leak match. ("ce$" stands for
# "qu'est-ce": a key shorter than three letters must be a whole word.)
SHOW_KEYS = (
    "reveal", "revel", "show", "print", "output", "display", "repe", "repi", "recite", "tell", "give",
    "share", "dump", "leak", "expose", "dis", "paste", "cop", "write", "spell", "list", "quote",
    "type", "read", "what", "encode", "start your", "montre", "affiche", "donne", "ecris", "imprime",
    "recopie", "cit", "ce$", "zeig", "gib", "verrate", "wiederhole", "nenne", "schreib", "drucke",
    "zitiere", "was steht", "kopiere", "muestra", "dime", "escribe", "dame", "cuales son", "que dicen",
    "translate", "tradu", "ubersetze", "complete this", "显示", "输出", "告诉", "重复", "复制", "打印",
    "给我", "透露", "展示", "列出", "引用", "写出", "翻译",
)
VERBATIM_KEYS = (
    "verbatim", "word", "exact", "in full", "raw text", "code block", "as written", "without summari",
    "mot", "formulation", "sans resumer", "pas un resume", "wortl", "genau", "keine zusammenfassung",
    "textualmente", "palabra", "redaccion", "no un resumen", "sin resumir", "tel quel", "tal cual",
    "逐字", "原样", "原文", "不要总结", "原封不动",
)
CODE_AFTER = _c(r"[.(_=\[]")


# --- content addressed to the AI; exfiltration requests ----------------------

_AI = (
    r"(?:ai|a\.i\.|llm|language model|large language model|chatbot|assistant|ai assistant|ai model|"
    r"ai agent|agent|bot|model|gpt|chatgpt|claude|copilot|gemini)s?"
)
_NOT_JOB = (
    r"(?! (?:manager|director|professor|editor|coach|principal|teacher|secretary|coordinator|"
    r"engineer|position|role|job|team|program|programme|train|release|number|name|year))"
)
ADDRESSED = _c(
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
ADDRESSED_KEYS = ("ai$", "a.i.", "ais$", "modelo", "sprachmodell", "assistenten", "给ai", "給ai", "致ai", "智能体", "llm", "model", "bot$", "bots$", "chatbot", "assistant",
                   "agent", "gpt", "chatgpt", "claude", "copilot", "gemini", "summari", "ia$",
                   "when you", "resume", "resumir", "resumas", "zusammen", "modele", "asistente", "ki-",
                   "正在", "请注意",
                   "ki$", "ki-", "sprachmodell", "assistent", "asistente", "人工智能", "助手", "模型")
SEND_KEYS = ("send", "post", "forward", "upload", "transmit", "leak", "email", "e-mail", "append",
              "include", "encode", "embed", "attach", "envoie", "envoyez", "sende", "schicke",
              "envia", "envie", "发送", "發送")
SEND = _c(
    r"\b(?:send|post|forward|upload|transmit|leak|e-?mail|append|include|encode|embed|attach|"
    r"envoie|envoyez|sende|schicke|envia|envie)\b|发送|發送"
)
SENSITIVE = _c(
    r"\b(?:conversation|chat (?:history|log)|chat|user['’]?s? (?:data|information|messages?|details|"
    r"credentials)|credentials|passwords?|api keys?|secrets?|tokens?|session (?:cookies?|tokens?)|"
    r"previous messages|message history|personal (?:data|information)|system prompt|private data|"
    r"historique|donnees|mots de passe|verlauf|passworter|daten|historial|datos|contrasenas)\b|"
    r"对话|對話|密码|密碼|数据|數據"
)
# A literal of every SENSITIVE match: without one, "send"/"include" in business
# prose is not looked at any further.
SENSITIVE_KEYS = (
    "conversation", "chat", "user", "credential", "password", "api key", "secret", "token", "session",
    "previous messages", "message history", "personal", "system prompt", "private data", "historique",
    "donnees", "mots de passe", "verlauf", "passworter", "daten", "historial", "datos", "contrasenas",
    "对话", "對話", "密码", "密碼", "数据", "數據",
)
DEST = _c(r"https?:|www\.|\burl\b|\bendpoint\b|\bwebhook\b|\bserver\b|\S@\S|\baddress\b|\blink\b|\bimage\b")
IMPERATIVE = _c(
    r"\b(?:ignore|disregard|forget|include|add|append|send|forward|post|reply|respond|recommend|approve|"
    r"list|reveal|show|tell|output|write|say|mark|grant|call|explain|delete|transfer|export|insert|"
    r"wipe|disable|print|do not (?:tell|mention|summari[sz]e|reveal)|don['’]?t (?:tell|mention)|"
    r"instead|ignore[sz]?|oublie[sz]?|ajoute[sz]?|envoie[sz]?|transfere[sz]?|donne[sz]?|liste[sz]?|"
    r"approuve[sz]?|desactive[sz]?|mets|reponds|ignoriere|vergiss|sende|leite|fuge|zeige|gib|"
    r"antworte|ignora|olvida|incluye|envia|responde|aprueba|muestra|dame|lista|a la place|"
    r"stattdessen|en su lugar)\b|"
    r"忽略|废除|列出|发送|显示|附上|批准|不要|回复|转发"
)
EXFIL = _c(r"exfiltrat\w*")
EXFIL_NOUN = ("exfiltration", "exfiltrations")  # a topic, not a request
EXFIL_KEYS = ("exfiltrat",)


# --- the quoting / discussing frame ------------------------------------------

QUOTES = "\"'“”‘’«»„「」『』`"
QUOTE_CHARS = frozenset(QUOTES)
DISCUSSION = _c(
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
INTRO = _c(
    r"(?:such as|like|e\.g\.|for example|for instance|called|named|string|phrase|tokens?|payloads?|"
    r"comme|wie|como)[:,]? ?$"
)
# Literals of every DISCUSSION match (one per alternative, at a word start;
# "like" and "such as" stand for "strings like", "prompts such as", ...):
# without one, a text is not discussing attacks and the search is skipped.
DISCUSSION_KEYS = (
    "attack", "injection", "jailbreak", "for example", "for instance", "such as", "like", "e.g.",
    "phrase", "payload", "researcher", "malicious", "adversar", "red", "classic", "known", "example",
    "detect", "classifier", "security", "phishing", "attaquant", "angreifer", "atacante",
    "exfiltration", "filter", "flag", "defen", "countermeasure", "mitigation", "benchmark",
    "technique", "history of", "refused", "ataque", "angriff", "frase", "ejemplo", "exemple",
    "beispiel", "clasico", "classique", "klassische", "inyeccion", "untrusted", "chatbot",
    "攻击", "攻擊", "注入",
)


# Every pattern the signals run through triggers.finditer: the optional compiled
# matcher (accel) compiles them into one database.
ANCHORED = (
    OVERRIDE, OVERRIDE_POSITION, OVERRIDE_ZH, ROLEPLAY_STRONG, ROLEPLAY_MEDIUM, FRAMING, SYSTEM_PHRASE,
    NEW_INSTRUCTIONS, SYSTEM_HEADER, TEMPLATE, TURN_HEADER, TOOL_JSON, LEAK, SETUP, ADDRESSED, EXFIL, SEND,
)
# ... and the rarer ones it searches for through triggers.search (common words such as
# SHOW's "what" would cost the matcher more in reported matches than they save).
SEARCHED = (DISCUSSION, BYPASS, VERBATIM)
