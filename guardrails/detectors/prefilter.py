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


def regex_regions(text: str, runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Word-aligned regions that hold every match of the pattern recognizers.

    `runs` are the text's digit runs. Each rule names the recognizers it
    covers; together they cover all of `RECOGNIZER_PATTERNS`.
    """
    seeds: list[tuple[int, int]] = []
    # Credit card, bank account, driver licence, ITIN, passport, SSN, NHS,
    # crypto wallet, date, IBAN, IPv4, medical licence: every match holds a
    # digit, and starts in the word of its first digit run. Card, SSN, NHS,
    # ITIN and IBAN matches may continue across single spaces, so the region
    # reaches DIGIT_REACH characters further.
    regions = _words(text, runs, DIGIT_REACH)
    # Email: an '@'. The match never spans whitespace.
    if "@" in text:
        seeds.extend(_find_all(text, "@"))
    # URL: a dot followed by the first letter of a top-level domain.
    if "." in text:
        seeds.extend(m.span() for m in _TLD_START.finditer(text))
    # IPv6 (and IPv4 mapped into IPv6): either "::" or seven colons.
    if ":" in text:
        if "::" in text:
            seeds.extend(_find_all(text, "::"))
        if text.count(":") >= 7:
            seeds.extend(_find_all(text, ":"))
    # MAC addresses and UUIDs may be written in hex letters only.
    if text.count(":") >= 5 or text.count("-") >= 4:
        seeds.extend(m.span() for m in _MAC_SEP.finditer(text))
        seeds.extend(m.span() for m in _UUID.finditer(text))
    if text.count(".") >= 2:
        seeds.extend(m.span() for m in _MAC_DOT.finditer(text))
    regions.extend(_words(text, seeds))
    return merge(regions)


def _phone_weight(text: str, cluster: list[tuple[int, int]]) -> int:
    """Digits a phone candidate inside `cluster` could have, counting letters."""
    digits = sum(b - a for a, b in cluster)
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
        if clusters:
            gap = text[clusters[-1][-1][1]:a]
            if len(gap) - sum(gap.count(c) for c in _PHONE_GAP_FREE) <= PHONE_GAP:
                clusters[-1].append((a, b))
                continue
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
