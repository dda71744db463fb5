"""Terms and prices the sources never state: hard evidence of a claim the
answer made up, short of a number or a name.

A word of the answer's own that no source uses is weak evidence: answers
paraphrase. Two things here are stronger, and the default check flags them:

- a term of two or more words none of which any source has ("heat pump",
  "water and electricity", "bird-proofing"), or another kind of a thing the
  sources name ("part-time" where they have only "full-time", "the brown
  caddy" where they name other colours);
- a claim that something is free ("free parking", "park for free", "at no
  extra cost") with no passage saying that thing costs nothing.
"""

from __future__ import annotations

import re
from functools import lru_cache

from guardrails.detectors.grounding.passages import Passage, SourceIndex, by_prefix
from guardrails.detectors.grounding.quantities import words_value
from guardrails.detectors.grounding.words import (
    ANY_NEGATION,
    BROADER,
    COMMON,
    FEE,
    WORD,
    content_stems,
    is_content,
    negated_stems,
    stem,
    verb_like,
)

COMMON_STEMS = frozenset(stem(w) for w in COMMON)


_FREE = re.compile(r"(?<![\w-])free\b(?!-|\s+to\b)|\bno\s+(?:extra\s+|additional\s+)?(?:charge|cost|fee)\b",
                   re.IGNORECASE)
_FREE_NOUN = re.compile(r"\bfree\s+([a-z][\w-]*)", re.IGNORECASE)
_FREE_STEMS = frozenset(stem(w) for w in ("free", "charge", "cost", "fee", "extra", "additional", "price"))


def _free_of_what(bare: str, cstems: set[str]) -> frozenset[str]:
    """What a claim says is free: the word after "free" ("free parking"),
    else the claim's own words (not the everyday ones)."""
    m = _FREE_NOUN.search(bare)
    if m is not None and is_content(m.group(1)) and m.group(1).lower() not in ("of", "for", "entry"):
        got = frozenset(content_stems(m.group(1))) - COMMON_STEMS - _FREE_STEMS
        if got:
            return got
    return frozenset(cstems - COMMON_STEMS - _FREE_STEMS)


def _says_free(p: Passage) -> bool:
    """A passage stating that something costs nothing: "free", "no fee",
    "free of charge", "at no extra cost", "included"."""
    return FEE in p.phrase_negated or FEE in p.mixed or FEE in p.negated or _INCLUDED in p.stems


_INCLUDED = stem("included")


def free_unsupported(bare: str, cstems: set[str], sharing) -> str | bool | None:
    """Whether the claim says something is free and no passage sharing its
    words says that thing costs nothing (most of what the claim names, or
    the word after "free"); None when it says nothing is free. When it is
    not supported, the check id (evidence.CHECKS): "free.none" when no
    passage that says anything costs nothing holds half of the claim's
    content words (the free thing is the claim's own: "members get a free
    book on their birthday", round 7), else "free" (a passage about the
    claim says something is free, which may be this thing in other words:
    "you can come again free" for "the free repeat trip")."""
    if _FREE.search(bare) is None:
        return None
    what = _free_of_what(bare, cstems)
    if not what:
        return False
    free = [p for p in sharing if _says_free(p)]
    if any(len(what & p.stems) * 2 >= len(what) for p in free):
        return False
    return "free" if any(len(cstems & p.stems) * 2 >= len(cstems) for p in free) else "free.none"


def _absent(s: str, stems: frozenset[str], ordered) -> bool:
    return s not in stems and BROADER.get(s) not in stems and not by_prefix(s, stems, ordered)


_COLOURS = frozenset(stem(w) for w in ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black",
                                        "white", "grey", "gray"))


def _other_compound(word: str, head: str, ix: SourceIndex) -> bool:
    """Whether the sources write another compound of the same head and
    never this one: "full-time" where the claim says "part-time"."""
    text = " ".join(src.text.lower() for src in ix.sources)
    return word not in text and re.search(rf"\w-{re.escape(head)}\b", text) is not None


# Words that describe rather than name ("friendly and helpful", "a quick, easy
# process"), and the pair right after a copula ("are friendly and helpful"):
# a description of the answer's own, not a new thing.
_DESCRIBES = re.compile(r"(?:ful|ous|ive|able|ible|ly|less|ish)$", re.IGNORECASE)
_AFTER_BE = re.compile(r"\b(?:is|are|was|were|be|been|being|seems?|looks?|feels?|very|so|quite|really)\s+$",
                       re.IGNORECASE)
_JOINED_BY = re.compile(r"\s+(?:and|or|&)\s+", re.IGNORECASE)
# Adjectives of size and degree describe a thing the sources may name another
# way ("a deep keel", "a long queue"); like _DESCRIBES, not a new thing.
_DEGREE = frozenset(stem(w) for w in ("deep", "shallow", "tall", "wide", "narrow", "thick", "thin", "heavy", "light",
                                       "long", "short", "high", "low", "big", "small", "large", "tiny", "huge",
                                       "broad", "steep", "flat", "bit", "lot"))
# Adverbs of place after a noun: "your trip home", "the way back".
_PLACE = frozenset(stem(w) for w in ("home", "back", "abroad", "away", "overseas", "online", "offline", "upstairs",
                                      "downstairs", "indoors", "outdoors", "ahead", "there", "here"))
# A term naming the rules or documents the answer rests on ("the tenancy rules",
# "the licensing terms"): where the facts are, not a fact.
_DOCUMENT = frozenset(stem(w) for w in ("rules", "terms", "conditions", "regulations", "guidelines", "policy",
                                         "handbook", "guide", "documentation", "documents", "wording"))
# After a clause's opening noun phrase ("The day boat leaves at 08:30"), a word
# in -s followed by a preposition, an article or a figure is its verb.
_OPENING = re.compile(r"^\W*(?:(?:the|a|an|your|our|their|its|this|that|each|every)\s+)?(?:[a-z][\w-]*\s+){0,2}$",
                      re.IGNORECASE)
_VERB_NEXT = re.compile(r"\s+(?:at|on|in|to|from|into|by|with|every|each|after|before|a|an|the|\d)", re.IGNORECASE)


def _reads_as_verb(bare: str, w: str, start: int, end: int, prev_start: int) -> bool:
    """Whether `w` (at bare[start:end]) is the verb after the clause's
    opening noun phrase rather than the second noun of a term."""
    lw = w.lower()
    return (lw.endswith("s") and not lw.endswith("ss") and _OPENING.match(bare[:prev_start]) is not None
            and _VERB_NEXT.match(bare, end) is not None)


# A word repeated around a preposition says how, not what: "back-to-back",
# "side-by-side", "face-to-face", "year-on-year".
_REDUPLICATED = re.compile(r"([a-z]+)-(?:to|by|on|for|in|after)-\1")
_PRONOUN_NOUNS = frozenset(["one", "ones"])


def new_term(bare: str, cstems: set[str], stems: frozenset[str], ix: SourceIndex, allowed) -> str | None:
    """A term of two or more words, none of which any source has: a
    hyphenated word ("bird-proofing", "e-readers") or two content words in
    a row that do not read as verbs ("heat pump", "account manager"). One
    new word is the answer's own phrasing as often as a new fact; a new
    thing named in two words the sources never use is a new fact. A term
    the claim denies ("contains no animal products") asserts nothing.
    `cstems`: the claim's content stems; most claims have all of them in
    the sources, and need no more than that test."""
    if all(s in stems or BROADER.get(s) in stems for s in cstems):
        return None
    ordered = None
    weak = None
    denied = None
    prev: str | None = None
    prev_w, prev_start, prev_end = "", 0, -1
    for m in WORD.finditer(bare):
        w = m.group()
        lw = w.lower()
        gap = bare[prev_end:m.start()] if prev is not None else ""
        adjacent = prev is not None and (gap.isspace() or _JOINED_BY.fullmatch(gap) is not None)
        if "-" in lw:
            parts = [p for p in lw.split("-") if p and is_content(p)]
            prev = None
            if _REDUPLICATED.fullmatch(lw):
                continue  # "back-to-back", "side-by-side", "day-to-day": how, not a thing
            if len(parts) >= 2 and words_value(lw.split("-")[0]) is None:  # "two-fifths": a figure's, not a term
                if ordered is None:
                    ordered = ix.ordered if allowed is None else tuple(sorted(stems))
                absent = [_absent(stem(p), stems, ordered) for p in parts]
                if all(absent) or (absent[0] and not any(absent[1:]) and _other_compound(lw, parts[-1], ix)):
                    # none of its words, or another kind of the same thing ("part-time" where the
                    # sources have only "full-time")
                    if denied is None:
                        denied = negated_stems(bare)
                    if not any(stem(p) in denied for p in parts):
                        return w
            continue
        if lw in ("and", "or") and prev is not None and gap.isspace():
            continue  # "water and electricity": two things named together
        if not is_content(lw) or lw[0].isdigit() or w[0].isupper() or lw in _PRONOUN_NOUNS:
            prev = None  # "only acoustic ones": "ones" stands for a noun before it
            continue
        s = stem(lw)
        if s in COMMON_STEMS:
            prev = None
            continue
        if adjacent and prev in _COLOURS and s in stems:
            if ordered is None:
                ordered = ix.ordered if allowed is None else tuple(sorted(stems))
            if _absent(prev, stems, ordered):  # "the brown caddy" where the sources have a green one
                return f"{prev_w} {w}"
        if adjacent and not (_DESCRIBES.search(prev_w) or _DESCRIBES.search(w)) \
                and _AFTER_BE.search(bare, 0, prev_start) is None and prev not in _DEGREE \
                and s not in _PLACE and s not in _DOCUMENT and not _reads_as_verb(bare, w, m.start(), m.end(),
                                                                                 prev_start):
            if ordered is None:
                ordered = ix.ordered if allowed is None else tuple(sorted(stems))
            if weak is None:
                weak = verb_like(bare)
            if prev not in weak and s not in weak and _absent(prev, stems, ordered) and _absent(s, stems, ordered):
                if denied is None:
                    denied = negated_stems(bare)
                if prev not in denied and s not in denied:
                    return f"{prev_w} {w}"
        prev, prev_w, prev_start, prev_end = s, w, m.start(), m.end()
    return None


def swapped(bare: str, cstems: set[str], best: Passage | None, strong: bool = False) -> tuple[str, str] | None:
    """A word the sources use for another thing, standing where the passage
    closest to the claim has a different word between the same two words:
    "on canals runs" where it says "on rivers runs" and canals are named
    elsewhere, "on half plots with" where it says "on full plots with". A
    paraphrase brings a word of its own; a word the sources give to
    something else, in the passage's own frame, is a different thing.
    Returns (the claim's word, the passage's), or None."""
    if best is None:
        return None
    found = list(WORD.finditer(bare))
    toks = [m.group().lower() for m in found]
    ptoks = [w.lower() for w in WORD.findall(best.text)]
    frames: dict[tuple[str, str], str] = {}
    for i in range(1, len(ptoks) - 1):
        frames.setdefault((ptoks[i - 1], ptoks[i + 1]), ptoks[i])
    for i in range(1, len(toks) - 1):
        w = toks[i]
        if not is_content(w) or w[0].isdigit():
            continue
        s = stem(w)
        if s in best.stems or s in COMMON_STEMS:
            continue
        if not (is_content(toks[i - 1]) or is_content(toks[i + 1])):
            continue  # a frame of two function words ("the ... of") holds anything
        v = frames.get((toks[i - 1], toks[i + 1]))
        if v is None or not is_content(v) or v[0].isdigit() or stem(v) in cstems or stem(v) in COMMON_STEMS:
            continue
        if strong and not (is_content(toks[i - 1]) and is_content(toks[i + 1]) and _KIND_WORD.fullmatch(w)
                           and _KIND_WORD.fullmatch(v) and not _verb_next(found, i + 1, bare)):
            continue  # the word must modify the noun after it ("fiscal year"), not be a subject ("... pay")
        if "-" in w and all(p in best.stems for p in content_stems(w)):
            continue  # "hook-up": its parts are the passage's
        return w, v
    return None


_OBJECT_START = frozenset("a an the your their its our my his her this these those any every each".split())


def _verb_next(found: list[re.Match], j: int, bare: str) -> bool:
    """Whether word j reads as a verb: an article or a determiner follows it
    with no punctuation between ("households pay a ...")."""
    if j + 1 >= len(found):
        return False
    gap = bare[found[j].end():found[j + 1].start()]
    return gap.isspace() and found[j + 1].group().lower() in _OBJECT_START


# A word that names a kind, not a degree or a manner: no comparative or
# superlative, no adverb, no describing suffix ("bigger", "larger", "quickly").
_KIND_WORD = re.compile(r"(?![\w-]*(?:er|est|ly|ful|ous|ive|able|ible|less|ish)$)[a-z][\w-]*")


# ---- days of the week and months, named without a date ----------------------------

_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTH_NAMES = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
                "november", "december")
_ONE = (r"(?P<{g}>(?:mon|tues|wednes|thurs|fri|satur|sun)day|january|february|march|april|May|june|july|august|"
        r"september|october|november|december)s?")
# A day or a month, or a range of them ("Monday to Saturday", "from April to
# September", "Monday-Friday"); "weekends", "weekdays", "every day".
_SPAN = re.compile(r"(?<![\w-])(?:" + _ONE.format(g="a") + r"(?:\s*(?:to|through|thru|until|till|-|–)\s*"
                   + _ONE.format(g="b") + r")?|(?P<w>weekends?|weekdays?|every\s+day|daily|7\s+days\s+a\s+week|"
                   r"seven\s+days\s+a\s+week))(?![\w-])",
                   re.IGNORECASE)
_NAMED = {"weekend": ("day", frozenset({5, 6})), "weekday": ("day", frozenset(range(5)))}
_EVERY_DAY = ("day", frozenset(range(7)))


def _index(word: str) -> tuple[str, int] | None:
    w = word.lower().rstrip("s") if not word.lower().endswith("ss") else word.lower()
    if w in _DAYS:
        return "day", _DAYS.index(w)
    if w in _MONTH_NAMES:
        return "month", _MONTH_NAMES.index(w)
    return None


_MAY_NAME = re.compile(r"day|dail|week|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec")


@lru_cache(maxsize=4096)
def cycle_values(text: str) -> tuple[tuple[int, int, str, frozenset[int], bool], ...]:
    """The days of the week and months `text` names outside a date: (start,
    end, "day" or "month", the days or months, whether a range names them).
    "May" is a month only with its capital (else the modal verb); a month
    beside a figure is a date's, which the number check reads. Cached: a
    passage is asked once per claim near it."""
    if _MAY_NAME.search(text.lower()) is None:
        return ()  # no day, week or month can be named: most texts
    out = []
    for m in _SPAN.finditer(text):
        if m.group("w"):
            w = m.group("w").lower()
            kind, got = _NAMED.get(w.rstrip("s"), _EVERY_DAY)
            out.append((m.start(), m.end(), kind, got, True))
            continue
        a = _index(m.group("a"))
        if a is None or (m.group("a").lower() == "may" and m.group("a") != "May"):
            continue
        if a[0] == "month" and (_DIGIT_NEAR.search(text, max(0, m.start() - 4), m.start())
                                or _DIGIT_NEAR.match(text, m.end())):
            continue  # "14 March", "March 14": a date
        b = _index(m.group("b")) if m.group("b") else None
        if b is not None and b[0] == a[0]:
            n = 7 if a[0] == "day" else 12
            got = frozenset((a[1] + i) % n for i in range((b[1] - a[1]) % n + 1))
            out.append((m.start(), m.end(), a[0], got, True))
        else:
            out.append((m.start(), m.start() + len(m.group("a")), a[0], frozenset({a[1]}), False))
    return tuple(out)


_DIGIT_NEAR = re.compile(r"\s?\d")


def cycle_mismatch(bare: str, overlap: dict[Passage, int], cstems: set[str]) -> tuple[str, Passage] | None:
    """A day of the week or a month (or a range of them) the claim names
    where the passages about it name others: "on Sunday mornings" where the
    passage says Saturday, "Monday to Friday" where it says Monday to
    Saturday. Returns (what the claim says, the passage), or None. A single
    day is supported by a passage naming it or a range or group holding it
    ("closed on Saturday" of "closed on weekends"), a group ("weekends") by a
    passage naming all its days; a range only by the same days. Judged only against passages sharing half of the claim's words,
    and not for a claim with a negation ("closed on Sundays" against "open
    Monday to Saturday" is the same fact)."""
    claimed = cycle_values(bare)
    if not claimed or ANY_NEGATION.search(bare) is not None:
        return None
    need = max(2, (len(cstems) + 1) // 2)
    about = [(p, n) for p, n in overlap.items() if n >= need]
    for start, end, kind, got, ranged in claimed:
        told = []
        for p, n in about:
            vals = [v for v in cycle_values(p.text) if v[2] == kind]
            if vals:
                told.append((n, p, vals))
        if not told:
            continue
        ok = False
        # A group ("weekends", "every day") is held by a passage naming all of
        # its days, alone or among others ("Wednesday, Saturday and Sunday"
        # holds the weekend); a range ("Monday to Friday") only by the same days.
        group = ranged and _index(bare[start:end].split()[0]) is None
        for _, p, vals in told:
            union = frozenset().union(*(v[3] for v in vals))
            if (got == union or any(v[3] == got for v in vals)) if ranged and not group else got <= union:
                ok = True
                break
        if not ok:
            told.sort(key=lambda t: -t[0])
            return bare[start:end], told[0][1]
    return None
