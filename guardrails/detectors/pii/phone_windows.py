"""Where a text can hold a phone number: groups of digit runs and their windows.

The phone recognizer runs phonenumbers' matcher once per region, and the
matcher finds *candidates*: digit runs joined by punctuation or an
extension label. :func:`phone_regions` groups the runs one candidate could
join, drops the groups that cannot hold a valid number (too few digits, or
plain digits no region accepts: years, prices, dates and times, see
``phone_validity.cluster_check``), and gives windows around the rest. The
fast path (:mod:`.fastpath`) runs the matchers on those windows only.

Every rule here only chooses where to look; whether a number is found is
still decided by phonenumbers, through :mod:`.phones`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable

from guardrails.detectors.pii.prefilter import merge

__all__ = ["MIN_PHONE_DIGITS", "PHONE_LEAD", "phone_regions", "plain_groups"]

# The fewest digits a phone number can have and still pass
# phonenumbers.is_valid_number: the shortest possible national number of any
# region (4, for example Austria or Germany). Letters count as digits here,
# because a candidate with three letters is parsed as a vanity number.
MIN_PHONE_DIGITS = 4

# phonenumbers' candidate pattern: up to two lead characters, each followed by
# up to four punctuation characters, before the first digit.
PHONE_LEAD = 10
# Between two digit runs of one phone candidate: at most four punctuation
# characters, or an extension label (";ext=", "extensión", "anexo", ...) with
# separators from " \u00a0\t,-" that may repeat without limit.
PHONE_GAP = 12
_PHONE_GAP_FREE = " \u00a0\t,-"

# Characters phonenumbers' candidate pattern allows between digits: its
# punctuation and lead characters (case-folded), the separators around an
# extension label, and the letters of the labels themselves ("ext",
# "extensión", "anexo", "int", "x", "#", "~", ";ext=", Cyrillic and
# full-width forms). A gap holding anything else ends a candidate.
_PHONE_PUNCT = frozenset(
    " ()+-./X[]x~\xa0\xad\u200b\u2010\u2011\u2012\u2013\u2014\u2015\u2053\u2060\u2212\u223c\u3000\u30fc"
    "\uff08\uff09\uff0b\uff0d\uff0e\uff0f\uff3b\uff3d\uff5e"
)
_PHONE_LABEL = frozenset("extnsioaEXTNSIOA\u0131\u0130\u017f\u00f3\u00d3\u0301\u0434\u043e\u0431\u0414\u041e\u0411"
                         "\uff45\uff58\uff54\uff4e\uff49\uff25\uff38\uff34\uff2e\uff29#\uff03~\uff5e;=")
_PHONE_BRIDGE = _PHONE_PUNCT | _PHONE_LABEL | frozenset(" \xa0\t,:.\uff0e-")


# A gap holding a letter is crossed only by an extension ("ext", "x",
# "int", "anexo", "доб", full-width forms), or by "x" as punctuation: so
# only if it holds one of these, in any case. " in " or " a " between two
# numbers ends a candidate. phonenumbers matches its labels ignoring case,
# where "ı" and "İ" are an "i" and "ſ" an "s"; _FOLD reads them so.
_LETTER_GAP_LABELS = ("x", "\uff58", "int", "\uff49\uff4e\uff54", "\u0434\u043e\u0431")
_FOLD = str.maketrans({"\u0131": "i", "\u0130": "i", "\u017f": "s"})


def _char_class(chars: Iterable[str]) -> str:
    return "[" + "".join(re.escape(ch) for ch in sorted(chars)) + "]"


# Bridge characters only, and at most PHONE_GAP of them outside
# _PHONE_GAP_FREE: one regex, which stops at the first other character
# (most gaps are words of prose).
_BRIDGE_GAP = re.compile("{free}*(?:{other}{free}*){{0,{n}}}".format(
    free=_char_class(_PHONE_GAP_FREE), other=_char_class(_PHONE_BRIDGE - frozenset(_PHONE_GAP_FREE)), n=PHONE_GAP))


def _bridges(gap: str) -> bool:
    if _BRIDGE_GAP.fullmatch(gap) is None:
        return False
    if not any(ch.isalpha() and ch not in _PHONE_PUNCT for ch in gap):  # "x" and "ー" are punctuation
        return True
    folded = gap.translate(_FOLD).lower()
    return any(label in folded for label in _LETTER_GAP_LABELS)


# The one-character gaps that bridge (most gaps are one character: "12/03",
# "10:30", "4410-22"), told by one set lookup.
_ONE_CHAR_BRIDGE = frozenset(ch for ch in _PHONE_BRIDGE if _bridges(ch))


def _phone_weight(text: str, cluster: list[tuple[int, int]]) -> int:
    """Digits a phone candidate inside `cluster` could have, counting the
    letters it could hold (three letters make phonenumbers read a vanity
    number, letters as digits)."""
    digits = sum(b - a for a, b in cluster)
    if digits >= MIN_PHONE_DIGITS:
        return digits  # enough already; letters only add
    # Before the first digit a candidate holds only lead characters and
    # punctuation, whose one letter is x.
    lead = text[max(0, cluster[0][0] - PHONE_LEAD):cluster[0][0]]
    letters = lead.count("x") + lead.count("X")
    for (_, b), (a, _) in itertools.pairwise(cluster):
        letters += sum(1 for ch in text[b:a] if ch.isalpha())
    return digits + letters


# What makes phonenumbers read a candidate as more than its digits (see
# phone_validity.plain_digits): in a gap between runs, a letter (an extension
# label, "x"), a plus, or an extension mark ("#", "~"; a comma or semicolon
# is part of a candidate only beside a label or mark); among the lead
# characters, a plus or "x" (only after an opening bracket or a plus can a
# candidate start before its first digit); right after the last run, the "#"
# that may end an extension.
_NOT_PLAIN_GAP = frozenset("+\uff0b#\uff03~\uff5e")
_PLAIN_ONE_CHAR_GAP = frozenset(ch for ch in _ONE_CHAR_BRIDGE if not ch.isalpha() and ch not in _NOT_PLAIN_GAP)
_PHONE_OPENER = re.compile("[(\\[\uff08\uff3b+\uff0b]")
_NOT_PLAIN_LEAD = re.compile("[+\uff0bxX]")
# A group of more runs gets no verdict (the strings to check grow with the
# square of the runs); nor does a run longer than the matcher's digit block.
_PLAIN_RUNS = 8
_PHONE_BLOCK = 20


def plain_groups(text: str, cluster: list[tuple[int, int]]) -> tuple[str, ...] | None:
    """A phone `cluster` as the gaps before its runs and its runs,
    alternating (lead, run, gap, run, ..., run), when every string
    phonenumbers' matcher could parse in it is plain digits; else None. The
    lead is "(" when a candidate may start before the first digit (an
    opening bracket among the lead characters), else "".

    Then each string the matcher parses is a few consecutive runs with the
    punctuation between them: a candidate and the groups it tries inside
    one begin and end at punctuation, never inside a run of at most
    _PHONE_BLOCK digits (see phone_validity.cluster_check).
    """
    a0 = cluster[0][0]
    if len(cluster) > _PLAIN_RUNS:
        return None
    lead = text[max(0, a0 - PHONE_LEAD):a0]
    opener = _PHONE_OPENER.search(lead)
    if opener is not None and _NOT_PLAIN_LEAD.search(lead, opener.start()):
        return None
    end = cluster[-1][1]
    if end < len(text) and text[end] in "#\uff03":
        return None
    parts = ["(" if opener is not None else ""]
    previous = -1
    for a, b in cluster:
        if b - a > _PHONE_BLOCK:
            return None
        if previous >= 0:
            gap = text[previous:a]
            if not (a - previous == 1 and gap in _PLAIN_ONE_CHAR_GAP) and any(
                    ch.isalpha() or ch in _NOT_PLAIN_GAP for ch in gap):
                return None
            parts.append(gap)
        parts.append(text[a:b])
        previous = b
    return tuple(parts)


def phone_regions(text: str, runs: list[tuple[int, int]],
                  may_hold: Callable[[tuple[str, ...]], bool] | None = None) -> list[tuple[int, int]]:
    """Regions that hold every candidate phonenumbers' matcher could accept.

    Digit runs that one candidate could join are grouped; a group gets the
    lead characters before it, one character of context before that (the
    matcher looks at the character before a candidate) and three after (it
    looks for a ":mm" time suffix). Groups with fewer than MIN_PHONE_DIGITS
    digits cannot hold a valid number and are dropped, and so is a group of
    plain digits (`plain_groups`) for which `may_hold` says that no region
    accepts any string of consecutive runs: years, prices, dates and times
    mostly. Regions need not be word-aligned: the phone recognizer does not
    tokenize.
    """
    n = len(text)
    regions = []
    one_run = getattr(may_hold, "one_run", None)
    i, count = 0, len(runs)
    previous_end = 0  # where the run before the group ends: a region never starts inside it
    while i < count:
        j = i
        while j + 1 < count:
            b, a = runs[j][1], runs[j + 1][0]
            if not (text[b] in _ONE_CHAR_BRIDGE if a - b == 1 else _bridges(text[b:a])):
                break
            j += 1
        cluster = runs[i:j + 1]
        i = j + 1
        # Not before the run ahead: a window cut into a dropped group's run
        # would show the matcher a number that is not in the text.
        start, previous_end = max(previous_end, cluster[0][0] - PHONE_LEAD - 1), cluster[-1][1]
        if _phone_weight(text, cluster) < MIN_PHONE_DIGITS:
            continue
        if one_run is not None and len(cluster) == 1:
            # A group of one run, told as plain_groups and may_hold tell it
            # without building its parts: one candidate, its digits.
            a, b = cluster[0]
            if b - a <= _PHONE_BLOCK and (b == n or text[b] not in "#\uff03"):
                lead = text[max(0, a - PHONE_LEAD):a]
                opener = _PHONE_OPENER.search(lead)
                if (opener is None or _NOT_PLAIN_LEAD.search(lead, opener.start()) is None) \
                        and not one_run(text[a:b]):
                    continue
        elif may_hold is not None:
            groups = plain_groups(text, cluster)
            if groups is not None and not may_hold(groups):
                continue
        regions.append((start, min(n, cluster[-1][1] + 4)))
    return merge(regions)
