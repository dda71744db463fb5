"""Words as the grounding check compares them: tokens, light stems, the
function words that carry no claim, and the everyday words a paraphrase may
bring in without inventing a fact.

A claim's content words are compared with the sources' as stems, so
"refunds", "refunded" and "refund" are one word, and through a short table of
equivalents ("buy" is "purchase", "staff" is "employee"). The table is small
on purpose: each entry is a pair a support answer commonly swaps, not a
thesaurus; a paraphrase beyond it is what the NLI backend is for.
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import pairwise


def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# A word: letters, inner apostrophes and hyphens; a number; or a code such as
# X2 or AES-256 (letters and digits together).
WORD = re.compile(r"[^\W\d_](?:[\w'’\-]*\w)?|\d+(?:[.,]\d+)*(?:[^\W\d_]\w*)?", re.UNICODE)

#: Words that carry no content of their own (articles, pronouns, auxiliaries,
#: prepositions). Negations are not here: polarity.py reads them.
STOPWORDS = _set("""
a an the and or but if then than that this these those there here it its it's they them their theirs we us
our ours you your yours i me my mine he him his she her hers who whom whose which what when where why how is
are was were be been being am do does did done doing have has had having can could may might must shall
should will would of in on at to for from by with about as into onto over under up down out off so too very
also just only still even both each either any all some such same other another more most less least much
many few per via within until till upon after before during while between among through against across along
around behind beyond near since toward towards whether because although though below above shorter longer
fewer greater well yes ok okay let lets let's get gets got getting make makes made making use used using
uses older younger higher lower plus someone somebody something somewhere else one's oneself itself themselves yourself yourselves ourselves myself thing things way ways
""")

#: Everyday words: a paraphrase may use them where the sources do not, so a
#: claim missing only such words is not flagged for them alone. A missing word
#: outside this list (a product feature, a place, a service) is a new fact.
_EVERYDAY = _set("""
able ahead anything anyone anybody anywhere back bring brings choose chooses choice come
comes coming every everyone everything everybody give gives giving go goes going good great help item items
keep kind know last lasts long look money need needs new next note old own part pay people person place put
really right say says see set show start starts stay sure take takes taking tell tells time times today try
want wants way whole work works working write writing year years day days month months week weeks hour hours
minute minutes yours ask asks asking call calls end ends find free full case point side fine once twice
always never often usually least least able ready available member members maximum minimum max min
morning afternoon evening tonight tomorrow
""")

# Everyday verbs, adjectives and adverbs an answer uses to restate a source
# in its own words: "spread over", "drops below", "arrives". A claim's facts
# are its nouns, names and figures; a missing word from this list is not a
# fact the sources lack (COMMON below holds them with the older entries).
_PARAPHRASE = _set("""
add adds added adding spread spreads move moves moved happen happens become becomes remain remains reach
reaches hold holds handle handles mean means apply applies count counts qualify qualifies depend depends
arrive arrives arrived drop drops dropped rise rises fall falls lose loses lost stop stops allow allows
cost costs include includes included offer offers provide provides receive receives let lets like
extra additional entire total overall main basic general normal usual regular standard typical simple
approximately roughly around nearly almost exactly about usually normally typically generally simply
actually currently later earlier soon immediately automatically directly fully entirely completely
whenever wherever however therefore instead otherwise anyway rather
suitable ideal designed meant intended appropriate
already half quarter past
""")
COMMON = _EVERYDAY | _PARAPHRASE

# Pairs an answer commonly swaps for a source's word, as groups: every
# word's stem maps to the first one's. General English, not a thesaurus: a
# paraphrase beyond this is what the NLI backend is for.
_GROUPS = """
purchase buy bought
employee staff worker workers personnel
end terminate finish conclude
start begin began begun commence
tell notify inform
fee charge cost price
pupil student
cover reimburse
call request
give given gave
take taken took
write written wrote
pay paid
keep kept retain store stored
send sent dispatch
extra additional
fall drop decline
rise increase
receive arrive
allow permit let prohibited forbidden banned disallowed
include excluded
available unavailable
eligible ineligible
support unsupported
ahead advance beforehand
mandatory compulsory obligatory required require need needed optional
open closed
cancel cancellation cancelled
big large
little small
fast quick rapid
assist help
choose select pick
delete remove erase
year annual yearly annually
month monthly
week weekly
day daily
child children kid kids
person people individual
lend lent borrow loan
maximum cap capped limit
minimum least
car vehicle
doctor physician
medicine medication drug
repair fix
problem issue
ship delivery deliver postage
overdue late
ticket admission fare registration
vet veterinary veterinarian
photo photograph photography picture
freeze frozen froze
"""

# A word negative in itself ("prohibited" is "not allowed") stems to the
# positive word of its group above, and negated_stems reads it as negated,
# so "Smoking is permitted" meets "Smoking is prohibited" as a contradiction.

# A word a claim may use where the source states something broader that
# includes it: "closed on weekends" supports "closed on Saturday".
BROADER: dict[str, str] = {
    "saturday": "weekend", "sunday": "weekend", "monday": "weekday", "tuesday": "weekday",
    "wednesday": "weekday", "thursday": "weekday", "friday": "weekday",
}

# Double letters an -ed or -ing ending leaves behind: "cancelled" -> "cancel"
# (not when what is left is three letters: "added" is "add").
_DOUBLE = re.compile(r"([bdfglmnprt])\1$")


def _raw_stem(word: str) -> str:
    w = word.lower().replace("’", "'")
    w = w.removesuffix("'s")
    w = w.rstrip("'")
    if len(w) > 4 and w.endswith("ies"):
        w = w[:-3] + "y"
    elif len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    if len(w) > 5 and w.endswith("ing"):  # "bookings" -> "booking" -> "book"
        w = w[:-3]
        w = _DOUBLE.sub(r"\1", w) if len(w) > 4 else w
    elif len(w) > 4 and w.endswith("ed"):
        w = w[:-2]
        w = _DOUBLE.sub(r"\1", w) if len(w) > 4 else w
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]
    return w


_EQUIVALENT: dict[str, str] = {}
for _line in _GROUPS.strip().splitlines():
    _first, *_rest = _line.split()
    for _w in (_first, *_rest):
        _EQUIVALENT[_w] = _EQUIVALENT[_raw_stem(_w)] = _raw_stem(_first)


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light stem: lower case, no possessive, no plural, no -ing or -ed,
    no final e; then the table of equivalents. Numbers stay as they are."""
    w = word.lower().replace("’", "'").removesuffix("'s").rstrip("'")
    if w in _EQUIVALENT:
        return _EQUIVALENT[w]
    w = _raw_stem(w)
    return _EQUIVALENT.get(w, w)


def words(text: str) -> list[re.Match]:
    return list(WORD.finditer(text))


_CONTRACTED = ("'s", "'ve", "'ll", "'re", "'d", "'m")


def function_contraction(lw: str) -> bool:
    """"there's", "you've", "we'll", "I'm": a function word and an auxiliary
    (lower case, straight apostrophe)."""
    if "'" not in lw:
        return False
    base, _, tail = lw.rpartition("'")
    return "'" + tail in _CONTRACTED and base in STOPWORDS


def is_content(word: str) -> bool:
    """A word that can carry a claim's content (not a function word, not a
    bare number: numbers are compared as quantities)."""
    lw = word.lower().replace("’", "'")
    if function_contraction(lw):
        return False
    return (lw not in STOPWORDS and lw not in _NEGATIONS and not lw.endswith("n't") and not lw[0].isdigit()
            and len(lw) > 1)


def _word_stems(w: str) -> tuple[str, ...]:
    if not is_content(w):
        return ()
    if "-" in w:
        parts = [p for p in w.split("-") if p]
        if parts and parts[0].lower() == "non":
            parts = parts[1:]
        return tuple(stem(p) for p in parts if is_content(p))
    return (stem(w),)


# word as written -> its content stems; bounded (cleared when full), since
# words come from requests. A dict lookup per word is most of the speed.
_STEMS_OF: dict[str, tuple[str, ...]] = {}
_STEMS_OF_MAX = 200_000


def content_stems(text: str) -> list[str]:
    """The content words' stems, in order; a hyphenated word also gives its parts."""
    return stems_of(word_tokens(text)[0])


# Characters that end a space-separated piece of text after a word and are
# no part of one (WORD ends at a word character): "refund." is one WORD.
_AFTER_WORD = frozenset(".,;:!?)]}\"'’”")
_LETTERS = re.compile(r"[^\W\d_]+")


def word_tokens(text: str) -> tuple[list[str], set[str]]:
    """WORD.findall(text), and the runs of letters in it (what
    quantities.alpha_words gives for those tokens), in one pass. No WORD
    match holds a space, and WORD has no lookaround, so the text is split
    at spaces by str.split and each piece matched alone; a piece of letters
    only (or letters and one closing mark) is one token as it stands, and
    the regex runs only on the rest (figures, codes, hyphens). The regex
    over the whole text cost twice as much: a match object's string per
    word, and a try at every space."""
    out: list[str] = []
    letters: set[str] = set()
    for t in text.split():
        if t.isalpha():
            out.append(t)
            letters.add(t)
        elif t[-1] in _AFTER_WORD and t[:-1].isalpha():
            t = t[:-1]
            out.append(t)
            letters.add(t)
        else:
            out += WORD.findall(t)
            letters.update(_LETTERS.findall(t))
    return out, letters


def _stems_of_word(w: str) -> tuple[str, ...]:
    """content_stems of one WORD token (cached as content_stems caches it)."""
    got = _STEMS_OF.get(w)
    if got is None:
        if len(_STEMS_OF) >= _STEMS_OF_MAX:
            _STEMS_OF.clear()
        got = _STEMS_OF[w] = _word_stems(w)
    return got


def stems_of(tokens: list[str]) -> list[str]:
    """content_stems of a text already split by WORD."""
    cache = _STEMS_OF
    out: list[str] = []
    for w in tokens:
        got = cache.get(w)
        if got is None:
            got = _stems_of_word(w)
        out += got
    return out


def plain(text: str) -> str:
    """Text for substring tests: lower case, hyphens and punctuation as
    spaces, curly quotes straight, runs of space as one: every character
    but a word character, ' % $ € £ and a dot between two digits is a space
    (plain_by_regex). The punctuation is mapped to spaces by one table and
    the dots are judged one by one, which is exact when no character is
    left that the table does not know; the regex was most of the cost of
    a source's plain text."""
    t = text.lower().replace("’", "'").replace("‘", "'").translate(_PLAIN_SPACES)
    if not t.isascii() and _PLAIN_OTHER.search(t):
        return plain_by_regex(t)
    if "." in t:
        parts = t.split(".")
        out = [parts[0]]
        for a, b in pairwise(parts):  # the characters either side of each dot
            out.append("." if a and b and a[-1].isdecimal() and b[0].isdecimal() else " ")
            out.append(b)
        t = "".join(out)
    return " " + " ".join(t.split()) + " "


def plain_by_regex(text: str) -> str:
    """plain() by one regex: the reference that plain() is tested against."""
    t = text.lower().replace("’", "'").replace("‘", "'")
    t = _PLAIN_RX.sub(" ", t)
    return " " + " ".join(t.split()) + " "


_PLAIN_RX = re.compile(r"[^\w'%$€£.]+|(?<!\d)\.|\.(?!\d)")
# Every ASCII character but a letter, a digit and _ ' % $ . (and the
# commonest other punctuation) as a space: what _PLAIN_RX replaces.
_PLAIN_SPACES = str.maketrans(
    {c: " " for c in [chr(i) for i in range(128) if not (chr(i).isalnum() or chr(i) in "_'%$.")] + list(
        "“”„«»–—‑…•·\u00a0\u2009\u202f")})
# A character left that is no word character, space, ' % $ € £ or dot:
# plain() falls back to the regex.
_PLAIN_OTHER = re.compile(r"[^\w'%$€£.\s]")


# ---- verb-like words ------------------------------------------------------------

# A claim's new facts are mostly things: a service, a place, a feature. A
# verb the sources do not use ("covers", "carried over", "owe") is usually
# the answer's own way of saying what the source says, so a missing word
# that reads as a verb is weak evidence (check.py). Without a tagger, a word
# reads as a verb by its neighbours: after a subject pronoun, a modal or
# "to"; an -ed/-en/-ing form after "is"/"be"; an -ed form not after an
# article ("carried over", not "a dedicated manager"); or before an article,
# an object pronoun or "back"/"away".
_VERB_BEFORE = _set("""
you we they i he she it can could may might must will would shall should do does did to don't doesn't didn't
can't cannot won't wouldn't shouldn't couldn't not never also still only just then usually always often
""")
_BE = _set("is are was were be been being get gets got")
_VERB_AFTER = _set("""
a an the your their its our my his her any every each this these those them us him back away
""")
_DETERMINERS = _set("a an the your their its our my his her any every each this these those some no all")
_SKIP = _set("also still only just usually always often then not never really automatically")


def verb_like(text: str) -> frozenset[str]:
    """The stems of the content words of `text` that read as verbs (above)."""
    toks = [m.group() for m in WORD.finditer(text)]
    low = [t.lower().replace("’", "'") for t in toks]
    out: set[str] = set()
    for i, w in enumerate(low):
        if not is_content(w) or "-" in w:
            continue
        j = i - 1
        while j >= 0 and low[j] in _SKIP:
            j -= 1
        prev = low[j] if j >= 0 else ""
        nxt = low[i + 1] if i + 1 < len(low) else ""
        if nxt == "up" and i + 2 < len(low) and low[i + 2] == "to":
            nxt = "a"  # "covers up to three": a verb before its object's bound
        if (prev in _VERB_BEFORE or prev.endswith("n't") or nxt in _VERB_AFTER
                or (prev in _BE and w.endswith(("ed", "en", "ing")))
                or (w.endswith("ed") and not w.endswith("eed") and len(w) > 3 and prev not in _DETERMINERS)):
            out.add(stem(w))
    return frozenset(out)


# ---- polarity ----------------------------------------------------------------

_NEGATIONS = _set("""
not no never cannot none neither nor nothing nobody nowhere without
""")
# Words that state the negative of a plain predicate: "prohibited" is "not
# allowed", "non-refundable" is "not refundable".
_NEGATIVE = _set("""
prohibited forbidden excluded banned disallowed unsupported unavailable ineligible refused denied optional closed
exempt
""")
# Under a negation, any form of a negative word is one ("never close", "not
# prohibited from"): two negations, which cancel.
_NEGATIVE_RAW = frozenset(_raw_stem(w) for w in _NEGATIVE)


# "no", "without", "outside", "except" and "not" before a preposition ("but
# not in temporary exhibitions") negate the phrase that follows; "not",
# "never", "-n't" and a clause's leading "no" ("No refunds are given",
# "There is no fee") negate the rest of the clause. A clause ends at
# punctuation or a conjunction; a phrase also at a preposition or a verb.
# "free" is "no fee", and "X-free" is "no X".
_CLAUSE_END = frozenset(["and", "but", "or", "while", "whereas", "because", "which", "that", "so"])
_PHRASE_END = _set("""
on in at for of to from by with about into over under after before during is are was were be been has have
had can may must will shall should does do did
""")
_PHRASE_NEGATIONS = _set("no without none outside except excluding")
_PREPOSITIONS = _set("on in at for of from by with about into over under after before during within between a an the")
_ARTICLES = _set("a an the")
_BREAK_CHARS = frozenset(",;:.!?()")  # punctuation that ends a clause and a phrase
_WORD_SPLIT = re.compile(f"({WORD.pattern})")  # WORD has no group of its own: the split keeps the words


#: The words ANY_NEGATION finds (besides "-n't" and "non-").
# An imperative that tells the reader to go without something (round 5): "Please skip the perfume" is "no
# perfume"; a phrase negation only at a clause's start or after "please".
_GO_WITHOUT = _set("skip avoid")
NEGATION_WORDS = _NEGATIONS | _NEGATIVE | _PHRASE_NEGATIONS | _GO_WITHOUT | {"free"}
ANY_NEGATION = re.compile(r"\b(?:" + "|".join(sorted(NEGATION_WORDS))
                          + r")\b|n[’']t\b|\bnon-", re.IGNORECASE)
#: ANY_NEGATION without IGNORECASE, for lower-cased text (three times faster).
NEGATION_CS = re.compile(ANY_NEGATION.pattern)
FEE = "fee"  # the stem "free" denies


def negated_stems(text: str) -> frozenset[str]:
    """The stems of the content words `text` says are not so: inside a
    negation's scope (an odd number of them), or negative in themselves
    ("prohibited", "non-refundable")."""
    clause, phrase, mixed, _ = polarity(text)
    return clause | phrase | mixed


_NONE = (frozenset(), frozenset(), frozenset(), frozenset())


def clause_words(text: str, low: str) -> tuple[list[str], list[bool]]:
    """The WORD tokens of `text` (`low`: text.lower()), lower case with
    straight apostrophes, and for each whether punctuation that ends a
    clause (,;:.!?()) comes between it and the word before. One split in C
    gives the gaps and the words in turn, where a match object per word
    cost most of polarity()."""
    if len(low) == len(text):
        parts = _WORD_SPLIT.split(low.replace("’", "'") if "’" in low else low)
        ws = parts[1::2]
    else:
        parts = _WORD_SPLIT.split(text)
        ws = [w.lower().replace("’", "'") for w in parts[1::2]]
    return ws, [gap != " " and not _BREAK_CHARS.isdisjoint(gap) for gap in parts[0:-1:2]]


def polarity(text: str, asserts: frozenset[str] = frozenset()
             ) -> tuple[frozenset[str], frozenset[str], frozenset[str], frozenset[str]]:
    """(the stems a clause-level negation or a negative word denies, the
    stems a phrase-level negation denies and the text asserts nowhere, the
    stems it denies in one phrase and asserts elsewhere, the stems of the
    first set it also asserts elsewhere): comment above.
    `asserts`: stems the text asserts in another way (a price asserts a fee)."""
    low = text.lower()
    if (NEGATION_CS if len(low) == len(text) else ANY_NEGATION).search(low) is None:  # most sentences: one scan in C
        return _NONE
    out: set[str] = set()
    out_phrase: set[str] = set()
    asserted: set[str] = set(asserts)
    depth, phrase = 0, 0  # open clause negations; open phrase negations
    first = True  # at a clause's first word
    just_opened = False  # the word before opened a phrase negation
    in_phrase = 0  # content words in the open phrase negation
    skip = -1
    ws, breaks = clause_words(text, low)
    n = len(ws)
    for k, w in enumerate(ws):
        if breaks[k]:
            depth = phrase = 0
            first = True
        lead, first = first, False
        opened, just_opened = just_opened, False
        if w == "or" and depth % 2 == 1:
            continue  # "cannot accept returns or guarantee results": the negation denies both
        if w in _CLAUSE_END:
            depth = phrase = 0
            first = True
            continue
        if w in _PHRASE_END and not opened:  # "except on Sundays": the phrase starts after its preposition
            phrase = 0
        if w == "no" and (lead or (k >= 2 and ws[k - 2] == "there") or (k >= 1 and ws[k - 1] == "there's")):
            depth += 1
            continue
        if w in _PHRASE_NEGATIONS or (w == "not" and k + 1 < n and ws[k + 1] in _PREPOSITIONS) \
                or (w in _GO_WITHOUT and (lead or (k >= 1 and ws[k - 1] == "please"))):
            phrase += 1
            just_opened = True
            in_phrase = 0
            continue
        if w in _NEGATIONS or w.endswith("n't"):
            depth += 1
            continue
        if w == "free" or w.endswith("-free"):
            out_phrase.add(FEE) if w == "free" else out_phrase.update(content_stems(w[:-5]))
            if k + 2 < n and ws[k + 1] == "of":
                skip = k + 2  # "free of charge": the charge is what is denied
            continue
        if k == skip:
            continue
        if not is_content(w):
            continue
        if phrase and opened and w.endswith("ing") and k + 1 < n and ws[k + 1] in _ARTICLES:
            just_opened = True  # "without paying an early termination charge": the charge is what is denied
            continue
        if phrase and (in_phrase >= 3 or (k + 1 < n and ws[k + 1] in _ARTICLES)):
            phrase = 0  # a phrase is a few words, and ends at a verb ("without a badge carries a penalty")
        negative = w in _NEGATIVE or w.startswith("non-") or (depth % 2 == 1 and _raw_stem(w) in _NEGATIVE_RAW)
        if (depth + negative) % 2 == 1:
            out.update(_stems_of_word(w))
        elif phrase % 2 == 1:
            in_phrase += 1
            out_phrase.update(_stems_of_word(w))
        else:
            asserted.update(_stems_of_word(w))
        if negative and depth % 2 == 1:
            depth -= 1  # "not exempt from inspection": the rest of the clause is asserted
    # A phrase negation denies a thing the text does not also assert: "a fee
    # of €50, and strollers travel free" says both, and is not compared on it.
    # A clause negation of a thing the text also asserts ("you only pay the
    # unlock fee; the per-minute charge doesn't apply") is kept, and also
    # reported: a comparison that cannot tell the clauses apart skips it.
    return (frozenset(out), frozenset(out_phrase - asserted), frozenset(out_phrase & asserted),
            frozenset(out & asserted))
