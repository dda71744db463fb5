"""Where in a text Presidio's pattern recognizers could possibly match.

The PII fast path (:class:`guardrails.detectors.pii.PiiDetector`) asks this
module for *windows*: the few stretches of a text that can hold a match of
a recognizer, each recognizer its own (`recognizer_regions`). The
recognizer then runs on its windows only, joined into one short *compact*
text, and its findings are mapped back. Text with no window skips Presidio
altogether. Phone numbers get windows of their own (:mod:`.phone_windows`).

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
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "ASCII_WS",
    "RECOGNIZER_PATTERNS",
    "SEPARATOR",
    "Compact",
    "compact",
    "digit_runs",
    "inert_runs",
    "merge",
    "pattern_digest",
    "recognizer_regions",
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

# How far a match that starts at a digit run can reach past that run's word:
# IBAN, the longest of the patterns that cross spaces (2+2 letters and
# digits, then up to eight 4-character groups, each after an optional space).
DIGIT_REACH = 48
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
_MAC_DOT_INNER = re.compile(r"\.[0-9A-Fa-f]{4}\.")
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_LONG_WORD = re.compile(r"\S{26,}")


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


# Recognizers whose matches may cross a space: a card, SSN, NHS number or
# ITIN written in groups, an IBAN in groups of four. Their windows reach
# DIGIT_REACH past the digit run a match starts in; every other pattern
# stays inside one word.
SPACED_RECOGNIZERS = frozenset({
    "CreditCardRecognizer", "UsSsnRecognizer", "NhsRecognizer", "UsItinRecognizer", "IbanRecognizer",
})


def _chains(text: str, runs: list[tuple[int, int]]) -> tuple[list[int], list[int], list[int], list[int]]:
    """For each digit run, what follows it through one-character gaps.

    ``spaced[i]``: digits in run i and the runs after it, each joined to the
    previous one by a single "-" or " "; ``ssn[i]``: the same with "." as well;
    ``dotted[i]``: how many runs from i on are joined by single dots;
    ``octets[i]``: the same, counting only runs of at most 3 digits.
    Computed from the last run back, so a long chain costs one pass.
    """
    n = len(runs)
    spaced, ssn, dotted, octets = [0] * n, [0] * n, [0] * n, [0] * n
    for i in range(n - 1, -1, -1):
        a, b = runs[i]
        length = b - a
        sep = text[b] if i + 1 < n and runs[i + 1][0] == b + 1 else ""
        spaced[i] = length + (spaced[i + 1] if sep == "-" or sep == " " else 0)
        ssn[i] = length + (ssn[i + 1] if sep == "-" or sep == " " or sep == "." else 0)
        dotted[i] = 1 + (dotted[i + 1] if sep == "." else 0)
        octets[i] = 0 if length > 3 else 1 + (octets[i + 1] if sep == "." else 0)
    return spaced, ssn, dotted, octets


def _digit_starts(text: str, runs: list[tuple[int, int]], names: frozenset[str] | set[str]) -> dict[str, list[int]]:
    """For each recognizer in `names` matching digits: the runs one of its
    matches could start in (or, for patterns inside one word, share a word
    with). A recognizer without such a run cannot match a digit anywhere.

    Each test is a necessary condition read off the recognizer's regexes;
    a match starting at a ``\\b`` before a digit starts at the start of a
    run. Everyday numbers fail them: a year, a price, a time or a short
    order number is not 13 digits in groups (a card), nor 9 or 10 (SSN,
    ITIN, NHS), nor four short groups joined by dots (IPv4), nor three runs
    joined by dots (a dd.mm.yyyy date).
    """
    out: dict[str, list[int]] = {name: [] for name in names}
    card, bank, lic, itin, passport, ssn_, nhs, crypto, date, iban, ip, medical = (
        out.get(name) for name in (
            "CreditCardRecognizer", "UsBankRecognizer", "UsLicenseRecognizer", "UsItinRecognizer",
            "UsPassportRecognizer", "UsSsnRecognizer", "NhsRecognizer", "CryptoRecognizer", "DateRecognizer",
            "IbanRecognizer", "IpRecognizer", "MedicalLicenseRecognizer"))
    spaced, ssn, dotted, octets = _chains(text, runs)
    n = len(text)
    for i, (a, b) in enumerate(runs):
        length = b - a
        before = text[a - 1] if a > 0 else ""
        after = text[b] if b < n else ""
        alpha_before = before.isalpha()
        if card is not None and length >= 4 and spaced[i] >= 13:
            card.append(i)  # (4|5|6|1|3)\d{3}, then three groups of 3-5 after an optional "-" or " "
        if length >= 3:
            if ssn_ is not None and ssn[i] >= 9:
                ssn_.append(i)  # 9 digits: 3-2-4, 5-4, 3-6 or 9, joined by "-", " " or "."
            if nhs is not None and spaced[i] >= 10:
                nhs.append(i)  # 3-3-4, joined by an optional "-" or " "
            if itin is not None and text[a] == "9" and spaced[i] >= 9:
                itin.append(i)  # \b9\d{2}, 9 digits joined by "-" or " "
        if medical is not None and alpha_before and length >= 7:
            medical.append(i)  # [A-Z][A-Z]\d{7} | [A-Z]9\d{7}
        if bank is not None and 8 <= length <= 17:
            bank.append(i)  # \b[0-9]{8,17}\b
        if passport is not None and (length == 9 or (length == 8 and alpha_before)):
            passport.append(i)  # \b[0-9]{9}\b | \b[A-Z][0-9]{8}\b
        if lic is not None and (length >= 6 or before == "]" or alpha_before or (length >= 2 and after.isalpha())):
            lic.append(i)  # letter-digit forms, digits-then-letters forms, 6+ digits, and "A-Z]]" + digits
        if date is not None and (before == "/" or before == "-" or after == "/" or after == "-" or dotted[i] >= 3):
            date.append(i)  # a "/" or "-" next to a digit, or dd.mm.yy(yy)
        if iban is not None and length >= 2 and alpha_before:
            iban.append(i)  # [A-Z]{2}[0-9]{2}
        if ip is not None and octets[i] >= 4:
            ip.append(i)  # IPv4, also inside the IPv6 forms that embed one
    if crypto is not None:
        # (bc1|[13])[a-zA-HJ-NP-Z0-9]{25,59}: a 1 or a 3 in a run of 26 or
        # more characters that are not whitespace; prose has few.
        k = 0
        for lo, hi in (m.span() for m in _LONG_WORD.finditer(text)):
            while k < len(runs) and runs[k][1] <= lo:
                k += 1
            while k < len(runs) and runs[k][0] < hi:
                a, b = runs[k]
                if "1" in text[a:b] or "3" in text[a:b]:
                    crypto.append(k)
                k += 1
    return out


# Recognizers whose matches hold a digit; the others are found by seeds.
DIGIT_RECOGNIZERS = frozenset({
    "CreditCardRecognizer", "UsBankRecognizer", "UsLicenseRecognizer", "UsItinRecognizer", "UsPassportRecognizer",
    "UsSsnRecognizer", "NhsRecognizer", "CryptoRecognizer", "DateRecognizer", "IbanRecognizer", "IpRecognizer",
    "MedicalLicenseRecognizer",
})


def recognizer_regions(text: str, runs: list[tuple[int, int]],
                       names: frozenset[str] | set[str]) -> dict[str, list[tuple[int, int]]]:
    """For each recognizer in `names` that could match `text`: word-aligned
    regions that hold every one of its matches. A recognizer left out has no
    match anywhere in the text, so it need not run.

    `runs` are the text's digit runs (`digit_runs`). Each recognizer gets
    windows of its own, so a date's regexes scan the words around dates
    only, not those around every number.
    """
    out: dict[str, list[tuple[int, int]]] = {}
    digit_names = names & DIGIT_RECOGNIZERS
    if digit_names and runs and not inert_runs(text, runs):
        for name, starts in _digit_starts(text, runs, digit_names).items():
            if starts:
                reach = DIGIT_REACH if name in SPACED_RECOGNIZERS else 0
                out[name] = _words(text, [runs[i] for i in starts], reach)
    if "OfflineEmailRecognizer" in names and "@" in text:
        out["OfflineEmailRecognizer"] = _words(text, _find_all(text, "@"))  # a match never spans whitespace
    if "UrlRecognizer" in names and "." in text and _TLD_START.search(text) is not None:
        out["UrlRecognizer"] = _words(text, [m.span() for m in _TLD_START.finditer(text)])
    if "IpRecognizer" in names:  # IPv6: "::" or seven colons, no whitespace
        seeds = _find_all(text, "::") if "::" in text else []
        if text.count(":") >= 7:
            seeds.extend(_find_all(text, ":"))
        if seeds:
            out["IpRecognizer"] = merge(out.get("IpRecognizer", []) + _words(text, seeds))
    if "MacAddressRecognizer" in names:
        seeds = []
        if text.count(":") >= 5 or text.count("-") >= 5:
            seeds.extend(m.span() for m in _MAC_SEP.finditer(text))
        # The dotted form holds ".hhhh." (h a hex digit): most text has no
        # such piece, and a search for it starts at a dot, not at every letter.
        if text.count(".") >= 2 and _MAC_DOT_INNER.search(text) is not None:
            seeds.extend(m.span() for m in _MAC_DOT.finditer(text))
        if seeds:
            out["MacAddressRecognizer"] = _words(text, seeds)
    if "UuidRecognizer" in names and text.count("-") >= 4:
        seeds = [m.span() for m in _UUID.finditer(text)]
        if seeds:
            out["UuidRecognizer"] = _words(text, seeds)
    return {name: merge(regions) for name, regions in out.items()} if out else out


# Characters beside a digit run of one or two digits that start no digit
# recognizer's match there (see `inert_runs`): not a letter, "]", "/", "-"
# or "."; the dot after a run is allowed when no digit follows it.
_INERT_BEFORE = frozenset(ASCII_WS + "([{\"'$\u20ac\u00a3,;")
_INERT_AFTER = frozenset(ASCII_WS + ")]}\"',;:!?%")
# Shorter than the crypto address's run of 26 characters without a space.
_SHORT_WORD = 26


def inert_runs(text: str, runs: list[tuple[int, int]]) -> bool:
    """Whether no digit run of `text` can hold or start a match of any
    digit recognizer (`_digit_starts` finds none), told without its tests:
    every run has one or two digits, with whitespace, an edge or harmless
    punctuation on each side. Prose with a number now and then ("50 books",
    "(14)", "item 7.") is like that.

    Why: the tests need three digits or more (cards, SSNs, ITINs, NHS,
    bank and passport numbers, medical licences), a letter or "]" beside
    the run (licences, IBANs), a "/" or "-" beside it or dots joining runs
    (dates, IPv4), or a word of 26 characters without a space around a 1
    or a 3 (crypto), which a run with whitespace on both sides is not in.
    """
    n = len(text)
    for a, b in runs:
        if b - a > 2:
            return False
        before = text[a - 1] if a > 0 else " "
        after = text[b] if b < n else " "
        if before not in _INERT_BEFORE:
            return False
        if after == ".":
            if b + 1 < n and not text[b + 1].isspace():
                return False
        elif after not in _INERT_AFTER:
            return False
        if (before not in ASCII_WS or after not in ASCII_WS) and ("1" in text[a:b] or "3" in text[a:b]):
            # A crypto address could hold the run only inside a long word.
            lo, hi = a, b
            while lo > 0 and not text[lo - 1].isspace() and b - lo < _SHORT_WORD:
                lo -= 1
            while hi < n and not text[hi].isspace() and hi - lo < _SHORT_WORD:
                hi += 1
            if hi - lo >= _SHORT_WORD:
                return False
    return True


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
