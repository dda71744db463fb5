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
uses older younger higher lower one's oneself itself themselves yourself yourselves ourselves myself thing things way ways
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
always never often usually least least able ready available member members
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
mandatory compulsory obligatory required require
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


def is_content(word: str) -> bool:
    """A word that can carry a claim's content (not a function word, not a
    bare number: numbers are compared as quantities)."""
    lw = word.lower().replace("’", "'")
    if lw.endswith("'s") and lw[:-2] in STOPWORDS:  # "there's", "it's", "that's": function words
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
    cache = _STEMS_OF
    out: list[str] = []
    for w in WORD.findall(text):
        got = cache.get(w)
        if got is None:
            if len(cache) >= _STEMS_OF_MAX:
                cache.clear()
            got = cache[w] = _word_stems(w)
        out.extend(got)
    return out


def plain(text: str) -> str:
    """Text for substring tests: lower case, hyphens and punctuation as
    spaces, curly quotes straight, runs of space as one."""
    t = text.lower().replace("’", "'").replace("‘", "'")
    t = re.sub(r"[^\w'%$€£.]+|(?<!\d)\.|\.(?!\d)", " ", t)
    return " " + " ".join(t.split()) + " "


# ---- polarity ----------------------------------------------------------------

_NEGATIONS = _set("""
not no never cannot none neither nor nothing nobody nowhere without
""")
# Words that state the negative of a plain predicate: "prohibited" is "not
# allowed", "non-refundable" is "not refundable".
_NEGATIVE = _set("""
prohibited forbidden excluded banned disallowed unsupported unavailable ineligible refused denied
""")


# "no" and "without" negate the noun phrase that follows; "not", "never" and
# "-n't" negate the rest of the clause. A clause ends at punctuation or a
# conjunction; a noun phrase also at a preposition or a verb.
_CLAUSE_END = frozenset(["and", "but", "or", "while", "whereas", "because", "which", "that", "so"])
_PHRASE_END = _set("""
on in at for of to from by with about into over under after before during is are was were be been has have
had can may must will shall should does do did
""")
_BREAK = re.compile(r"[,;:.!?()]")


ANY_NEGATION = re.compile(r"\b(?:" + "|".join(sorted(_NEGATIONS | _NEGATIVE)) + r")\b|n[’']t\b|\bnon-",
                           re.IGNORECASE)
#: ANY_NEGATION without IGNORECASE, for lower-cased text (three times faster).
NEGATION_CS = re.compile(ANY_NEGATION.pattern)


def negated_stems(text: str) -> frozenset[str]:
    """The stems of the content words `text` says are not so: inside a
    negation's scope (an odd number of them), or negative in themselves
    ("prohibited", "non-refundable")."""
    if ANY_NEGATION.search(text) is None:  # most sentences: one scan in C
        return frozenset()
    out: set[str] = set()
    depth, phrase = 0, 0  # open clause negations; open noun-phrase negations
    last = 0
    for m in WORD.finditer(text):
        if _BREAK.search(text, last, m.start()):
            depth = phrase = 0
        last = m.end()
        w = m.group().lower().replace("’", "'")
        if w in _CLAUSE_END:
            depth = phrase = 0
            continue
        if w in _PHRASE_END:
            phrase = 0
        if w in ("no", "without", "none"):
            phrase += 1
            continue
        if w in _NEGATIONS or w.endswith("n't"):
            depth += 1
            continue
        if not is_content(w):
            continue
        negative = w in _NEGATIVE or w.startswith("non-")
        if (depth + phrase + negative) % 2 == 1:
            out.update(content_stems(w))
    return frozenset(out)
