"""Where in a text Presidio's pattern recognizers could possibly match.

The PII fast path (:class:`guardrails.detectors.pii.PiiDetector`) asks this
module for *windows*: the few stretches of a text that can hold a match of
some recognizer. Presidio then runs on those windows only, joined into one
short *compact* text, and its findings are mapped back. Text with no window
skips Presidio altogether.

Every rule below is a necessary condition read off the regexes of Presidio's
predefined recognizers (``RECOGNIZER_PATTERNS`` pins their digests; a
recognizer whose patterns differ is not covered and sends the whole text down
the slow path). The rules only choose where to look: whether something is
found is still decided by Presidio's own regexes and validators, so a rule
that is too broad costs time, never a finding.

Why a window gives the same matches as the whole text:

* every match lies inside one window (the seeds and margins below);
* windows start just after ASCII whitespace and end just before it, so the
  lookarounds and ``\\b`` at their edges see a non-word character either
  way, and spaCy, which splits on whitespace first, makes the same tokens;
* windows are joined with ``"\\n"``, which no pattern can match, so the
  left-to-right scan of each regex finds the same matches in the same order.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Iterable

__all__ = [
    "ASCII_WS",
    "MIN_PHONE_DIGITS",
    "RECOGNIZER_PATTERNS",
    "SEPARATOR",
    "Compact",
    "compact",
    "merge",
    "pattern_digest",
    "phone_regions",
    "recognizers_that_may_match",
    "regex_regions",
    "word_end",
    "word_start",
]

ASCII_WS = " \t\n\r\x0b\x0c"
SEPARATOR = "\n"

# Digests of the patterns (name, score, regex) each supported recognizer had
# when the rules in this module were derived from them (presidio-analyzer
# 2.2.366). See `pattern_digest`.
RECOGNIZER_PATTERNS: dict[str, str] = {
    "CreditCardRecognizer": "8b49130cc3bd2440",
    "UsBankRecognizer": "0994916b2ad78159",
    "UsLicenseRecognizer": "5c9b87c3d80c7001",
    "UsItinRecognizer": "e3addc5ce8fd45fd",
    "UsPassportRecognizer": "478bf9263853a21c",
    "UsSsnRecognizer": "352667989d0a9ab9",
    "NhsRecognizer": "bf8145cbe492317c",
    "CryptoRecognizer": "72a3d55e85cd47b1",
    "DateRecognizer": "2698241037db8429",
    "IbanRecognizer": "5cf1746458f73e67",
    "IpRecognizer": "7d6aa94625658263",
    "MedicalLicenseRecognizer": "1b7cb21f9a40f62f",
    "MacAddressRecognizer": "7a09ccb982dc5eea",
    "UuidRecognizer": "10443b19f0a04bc0",
    "UrlRecognizer": "acca6dd2dc71798e",
    "OfflineEmailRecognizer": "c31ff8ba702e622b",
}

# The fewest digits a phone number can have and still pass
# phonenumbers.is_valid_number: the shortest possible national number of any
# region (4, for example Austria or Germany). Letters count as digits here,
# because a candidate with three letters is parsed as a vanity number.
MIN_PHONE_DIGITS = 4

# How far a match that starts at a digit run can reach past that run's word:
# IBAN, the longest of the patterns that cross spaces (2+2 letters and
# digits, then up to eight 4-character groups, each after an optional space).
DIGIT_REACH = 48
# phonenumbers' candidate pattern: up to two lead characters, each followed by
# up to four punctuation characters, before the first digit.
PHONE_LEAD = 10
# Between two digit runs of one phone candidate: at most four punctuation
# characters, or an extension label (";ext=", "extensión", "anexo", ...) with
# separators from " \u00a0\t,-" that may repeat without limit.
PHONE_GAP = 12
_PHONE_GAP_FREE = " \u00a0\t,-"


def pattern_digest(patterns: Iterable) -> str:
    """A short digest of Presidio `Pattern` objects (name, score, regex)."""
    h = hashlib.sha256()
    for p in patterns:
        h.update(f"{p.name}\x00{p.score!r}\x00{p.regex}\x01".encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:16]


_DIGIT_RUN = re.compile(r"\d+")
# A URL's top-level domain starts right after a dot. With IGNORECASE the
# regex module also folds the Kelvin sign and the long s into ASCII letters.
_TLD_START = re.compile("\\.[A-Za-z\u212a\u017f]")
_MAC_SEP = re.compile(r"[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}")
_MAC_DOT = re.compile(r"[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}")
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")


def word_start(text: str, pos: int) -> int:
    """The nearest window start at or before `pos`.

    A window start is 0 or a position whose character is not whitespace and
    whose previous character is ASCII whitespace.
    """
    i = pos
    while i > 0 and not (text[i - 1] in ASCII_WS and not text[i].isspace()):
        i -= 1
    return i


_ASCII_WS_RE = re.compile("[ \t\n\r\x0b\x0c]")


def word_end(text: str, pos: int) -> int:
    """The nearest window end at or after `pos`.

    A window end is len(text) or a position holding ASCII whitespace whose
    previous character is not whitespace.
    """
    n = len(text)
    i = max(pos, 1)
    while i < n:
        m = _ASCII_WS_RE.search(text, i)
        if m is None:
            return n
        j = m.start()
        if not text[j - 1].isspace():
            return j
        i = j + 1
    return n


def merge(regions: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, disjoint regions; overlapping or touching ones become one."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(regions):
        if out and a <= out[-1][1]:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _words(text: str, seeds: Iterable[tuple[int, int]], reach: int = 0) -> list[tuple[int, int]]:
    """Seeds widened to whole words (`reach` more characters to the right)."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(seeds):
        if out and a < out[-1][1]:
            # Inside the previous region: only its end can move. This keeps a
            # long word with many seeds from being scanned once per seed.
            if b + reach > out[-1][1]:
                out[-1] = (out[-1][0], word_end(text, b + reach))
            continue
        out.append((word_start(text, a), word_end(text, b + reach)))
    return out


def _find_all(text: str, needle: str) -> list[tuple[int, int]]:
    out, i = [], text.find(needle)
    while i >= 0:
        out.append((i, i + len(needle)))
        i = text.find(needle, i + 1)
    return out


def _alphaish(ch: str) -> bool:
    # What `[A-Z]` matches under IGNORECASE: ASCII letters, plus letters that
    # fold to them (the Kelvin sign, the long s); isalpha covers them all.
    return ch.isalpha()


def recognizers_that_may_match(text: str, runs: list[tuple[int, int]]) -> set[str]:
    """Names of the recognizers in RECOGNIZER_PATTERNS that could match `text`.

    A recognizer left out has no match anywhere in the text, so it need not
    run; one that is kept is asked anyway (its own regexes decide).
    """
    out: set[str] = set()
    n = len(text)
    for a, b in runs:
        length = b - a
        before = text[a - 1] if a > 0 else ""
        after = text[b] if b < n else ""
        if length >= 4:
            out.add("CreditCardRecognizer")  # (4|5|6|1|3)\d{3} then groups
        if length >= 3:
            out.update(("UsSsnRecognizer", "NhsRecognizer"))  # every SSN and NHS form has a 3-digit group
            if text[a] == "9":
                out.add("UsItinRecognizer")  # \b9\d{2}...
        if length >= 7:
            out.add("MedicalLicenseRecognizer")  # [A-Z][A-Z]\d{7} | [A-Z]9\d{7}
        if length >= 8:
            out.update(("UsBankRecognizer", "UsPassportRecognizer"))  # [0-9]{8,17}; [0-9]{9} | [A-Z][0-9]{8}
        if length >= 6 or before == "]" or _alphaish(before) or (length >= 2 and _alphaish(after)):
            out.add("UsLicenseRecognizer")  # letter-digit forms, digits-then-letters forms, 6+ digits
        if (before and before in "/-.") or (after and after in "/-."):
            out.add("DateRecognizer")  # every date form puts / - or . next to a digit
        if length >= 2 and _alphaish(before):
            out.add("IbanRecognizer")  # [A-Z]{2}[0-9]{2}
        if after == "." or before == ".":
            out.add("IpRecognizer")  # IPv4: \d{1,3}\.
        # Once known, not asked again: each ask walks the run's whole word,
        # and a text that is one long word ("1-1-1-...") has a run per step.
        if "CryptoRecognizer" not in out and ("1" in text[a:b] or "3" in text[a:b]) \
                and word_end(text, b) - word_start(text, a) >= 26:
            out.add("CryptoRecognizer")  # (bc1|[13])[a-zA-HJ-NP-Z0-9]{25,59}
    if "@" in text:
        out.add("OfflineEmailRecognizer")
    if "::" in text or text.count(":") >= 7:
        out.add("IpRecognizer")
    if "." in text and _TLD_START.search(text):
        out.add("UrlRecognizer")
    if (text.count(":") >= 5 or text.count("-") >= 5) and _MAC_SEP.search(text) or \
            text.count(".") >= 2 and _MAC_DOT.search(text):
        out.add("MacAddressRecognizer")
    if text.count("-") >= 4 and _UUID.search(text):
        out.add("UuidRecognizer")
    return out


# Recognizers whose matches contain a digit, and those of them whose matches
# may cross a space (card, SSN, NHS, ITIN, IBAN).
DIGIT_RECOGNIZERS = frozenset({
    "CreditCardRecognizer", "UsBankRecognizer", "UsLicenseRecognizer", "UsItinRecognizer", "UsPassportRecognizer",
    "UsSsnRecognizer", "NhsRecognizer", "CryptoRecognizer", "DateRecognizer", "IbanRecognizer", "IpRecognizer",
    "MedicalLicenseRecognizer",
})


def regex_regions(text: str, runs: list[tuple[int, int]], names: set[str]) -> list[tuple[int, int]]:
    """Word-aligned regions that hold every match of the recognizers `names`.

    `runs` are the text's digit runs.
    """
    seeds: list[tuple[int, int]] = []
    regions: list[tuple[int, int]] = []
    if names & DIGIT_RECOGNIZERS:
        # Every match of these holds a digit and starts in the word of its
        # first digit run; card, SSN, NHS, ITIN and IBAN matches may continue
        # across single spaces, so the region reaches DIGIT_REACH further.
        regions = _words(text, runs, DIGIT_REACH)
    if "OfflineEmailRecognizer" in names:
        seeds.extend(_find_all(text, "@"))  # a match never spans whitespace
    if "UrlRecognizer" in names:
        seeds.extend(m.span() for m in _TLD_START.finditer(text))
    if "IpRecognizer" in names:  # IPv6: "::" or seven colons, no whitespace
        seeds.extend(_find_all(text, "::"))
        if text.count(":") >= 7:
            seeds.extend(_find_all(text, ":"))
    if "MacAddressRecognizer" in names:
        seeds.extend(m.span() for m in _MAC_SEP.finditer(text))
        seeds.extend(m.span() for m in _MAC_DOT.finditer(text))
    if "UuidRecognizer" in names:
        seeds.extend(m.span() for m in _UUID.finditer(text))
    regions.extend(_words(text, seeds))
    return merge(regions)


# Characters phonenumbers' candidate pattern allows between digits: its
# punctuation and lead characters (case-folded), the separators around an
# extension label, and the letters of the labels themselves ("ext",
# "extensión", "anexo", "int", "x", "#", "~", ";ext=", Cyrillic and
# full-width forms). A gap holding anything else ends a candidate.
_PHONE_PUNCT = frozenset(
    " ()+-./X[]x~\xa0\xad\u200b\u2010\u2011\u2012\u2013\u2014\u2015\u2053\u2060\u2212\u223c\u3000\u30fc"
    "\uff08\uff09\uff0b\uff0d\uff0e\uff0f\uff3b\uff3d\uff5e"
)
_PHONE_LABEL = frozenset("extnsioaEXTNSIOA\u00f3\u00d3\u0301\u0434\u043e\u0431\u0414\u041e\u0411"
                         "\uff45\uff58\uff54\uff4e\uff49\uff25\uff38\uff34\uff2e\uff29#\uff03~\uff5e;=")
_PHONE_BRIDGE = _PHONE_PUNCT | _PHONE_LABEL | frozenset(" \xa0\t,:.\uff0e-")


def _bridges(gap: str) -> bool:
    return len(gap) - sum(gap.count(c) for c in _PHONE_GAP_FREE) <= PHONE_GAP and all(
        ch in _PHONE_BRIDGE for ch in gap)


def _phone_weight(text: str, cluster: list[tuple[int, int]]) -> int:
    """Digits a phone candidate inside `cluster` could have, counting the
    letters it could hold (three letters make phonenumbers read a vanity
    number, letters as digits)."""
    digits = sum(b - a for a, b in cluster)
    # Before the first digit a candidate holds only lead characters and
    # punctuation, whose one letter is x.
    lead = text[max(0, cluster[0][0] - PHONE_LEAD):cluster[0][0]]
    letters = lead.count("x") + lead.count("X")
    for (_, b), (a, _) in zip(cluster, cluster[1:]):
        letters += sum(1 for ch in text[b:a] if ch.isalpha())
    return digits + letters


def phone_regions(text: str, runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Regions that hold every candidate phonenumbers' matcher could accept.

    Digit runs that one candidate could join are grouped; a group gets the
    lead characters before it, one character of context before that (the
    matcher looks at the character before a candidate) and three after (it
    looks for a ":mm" time suffix). Groups with fewer than MIN_PHONE_DIGITS
    digits cannot hold a valid number and are dropped. Regions need not be
    word-aligned: the phone recognizer does not tokenize.
    """
    clusters: list[list[tuple[int, int]]] = []
    for a, b in runs:
        if clusters and _bridges(text[clusters[-1][-1][1]:a]):
            clusters[-1].append((a, b))
        else:
            clusters.append([(a, b)])
    n = len(text)
    return merge(
        (max(0, c[0][0] - PHONE_LEAD - 1), min(n, c[-1][1] + 4))
        for c in clusters if _phone_weight(text, c) >= MIN_PHONE_DIGITS
    )


def digit_runs(text: str) -> list[tuple[int, int]]:
    """Maximal runs of Unicode decimal digits (what `\\d` matches)."""
    return [m.span() for m in _DIGIT_RUN.finditer(text)]


@dataclass(frozen=True, slots=True)
class Compact:
    """Windows of a text joined by SEPARATOR, and the way back to the text."""

    text: str
    starts: tuple[int, ...]  # offset of each window in `text`
    origins: tuple[int, ...]  # offset of each window in the original text
    lengths: tuple[int, ...]

    def locate(self, pos: int) -> int:
        """The window holding compact offset `pos` (which must be in one)."""
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= pos:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def locate_original(self, pos: int) -> int:
        """The window holding original offset `pos` (which must be in one)."""
        lo, hi = 0, len(self.origins) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.origins[mid] <= pos:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        i = self.locate(start)
        shift = self.origins[i] - self.starts[i]
        return start + shift, end + shift


def compact(text: str, regions: list[tuple[int, int]]) -> Compact:
    parts, starts, pos = [], [], 0
    for a, b in regions:
        starts.append(pos)
        parts.append(text[a:b])
        pos += b - a + len(SEPARATOR)
    return Compact(SEPARATOR.join(parts), tuple(starts), tuple(a for a, _ in regions),
                   tuple(b - a for a, b in regions))
