"""Where in a text Presidio's pattern recognizers could possibly match, and
which phone candidates cannot be valid.

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
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable

__all__ = [
    "ASCII_WS",
    "MIN_INTERNATIONAL_DIGITS",
    "MIN_PHONE_DIGITS",
    "RECOGNIZER_PATTERNS",
    "SEPARATOR",
    "Compact",
    "compact",
    "merge",
    "pattern_digest",
    "phone_matcher_class",
    "phone_region_may_match",
    "phone_min_digits",
    "phone_regions",
    "phone_validity_check",
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
        if "1" in text[a:b] or "3" in text[a:b]:
            if word_end(text, b) - word_start(text, a) >= 26:
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


# ---- phone candidates that cannot be valid ------------------------------------

# The fewest digits of a valid number written with a country code: the
# shortest country code plus national number (Austria, Germany, Iran: 2 + 4).
MIN_INTERNATIONAL_DIGITS = 6


def phone_min_digits(region: str) -> int:
    """Digits (or letters, for vanity numbers) a candidate needs to be valid
    when parsed with default `region`: its shortest national number, or a
    number with a country code."""
    from phonenumbers import PhoneMetadata

    md = PhoneMetadata.metadata_for_region(region)
    if md is None or md.national_prefix_transform_rule or not md.general_desc.possible_length:
        return 0  # a transform may add digits: no bound
    return min(min(md.general_desc.possible_length), MIN_INTERNATIONAL_DIGITS)


# Characters that may make phonenumbers read a candidate as something other
# than its digits: a plus (a country code follows), extension marks.
_NOT_PLAIN = frozenset("+\uff0b#\uff03;,~\uff5e")


def _plain_digits(candidate: str) -> str | None:
    """The digits phonenumbers parses from `candidate`, or None when it may
    read more than digits (a plus, letters, an extension mark)."""
    out = []
    for ch in candidate:
        if ch.isdecimal():
            out.append(str(unicodedata.decimal(ch)))
        elif ch.isalpha() or ch in _NOT_PLAIN or unicodedata.digit(ch, None) is not None:
            return None
    return "".join(out)


def phone_validity_check(region: str) -> Any:
    """For default `region`: a test that is false only for digit strings
    that cannot parse to a number the matcher accepts at leniency VALID (or
    None when there is no such test).

    Digits that may begin with the region's international prefix get no
    verdict (true). Without a plus or that prefix, a number keeps the
    region's country code, so it is valid only if its
    national number, read as parse() may read it (as written, without the
    country code, without or with a transformed national prefix, or both),
    matches the general pattern and a possible length of some region with
    that country code.

    It must also pass the matcher's national-prefix rule
    (``_is_national_prefix_present_if_required``): a number in national
    format whose formatting rule writes a national prefix ("0" in Germany,
    France and Britain) is rejected when it was written without one. The
    test applies that rule only where parse() certainly reads the digits as
    written: they do not start with the country code, and neither the
    region's nor the country's national prefix pattern matches them.

    Regions whose tests would be the same (the United States and Canada)
    share one test and its memo.
    """
    from phonenumbers import PhoneMetadata

    md = PhoneMetadata.metadata_for_region(region)
    if md is None or not _starts_with_zero(md.international_prefix or ""):
        return None
    return _validity_check(md.country_code, md.international_prefix, md.national_prefix_for_parsing or None,
                           md.national_prefix_transform_rule or None)


@lru_cache(maxsize=None)
def _validity_check(country_code: int, international_prefix: str, national_prefix: str | None,
                    transform: str | None) -> Any:
    from phonenumbers import PhoneMetadata
    from phonenumbers.phonenumberutil import (
        _formatting_rule_has_first_group_only,
        region_code_for_country_code,
        region_codes_for_country_code,
    )

    cc = str(country_code)
    # is_valid_number: for some region of the country code, the general
    # description and at least one type (phonenumbers' _number_type_helper)
    # match the national number. Per length: (general, any type) regexes of
    # the regions where both allow that length.
    by_length: dict[int, list[tuple[Any, Any]]] = {}
    for r in region_codes_for_country_code(country_code):
        g = PhoneMetadata.metadata_for_region(r)
        if g is None or not g.general_desc.national_number_pattern:
            return None
        general = _desc(g.general_desc)
        types = [_desc(d) for d in (g.premium_rate, g.toll_free, g.shared_cost, g.voip, g.personal_number, g.pager,
                                    g.uan, g.voicemail, g.fixed_line, g.mobile)]
        assert general is not None
        for n, any_type in _by_length([t for t in types if t is not None]).items():
            if not general[0] or n in general[0]:
                by_length.setdefault(n, []).append((general[1], any_type))
    idd = re.compile(international_prefix)
    prefix = re.compile(national_prefix) if national_prefix else None
    # The national-prefix rule reads the metadata of the country's main
    # region (US for CA): its formats, in order, as
    # _choose_formatting_pattern_for_number tries them, and whether each
    # rejects a number written without the prefix.
    main = PhoneMetadata.metadata_for_region(region_code_for_country_code(country_code))
    main_prefix = re.compile(main.national_prefix_for_parsing) if main and main.national_prefix_for_parsing else None
    formats = [] if main is None else [
        (re.compile(f.leading_digits_pattern[-1]) if f.leading_digits_pattern else None, re.compile(f.pattern),
         bool(f.national_prefix_formatting_rule) and not f.national_prefix_optional_when_formatting
         and not _formatting_rule_has_first_group_only(f.national_prefix_formatting_rule))
        for f in main.number_format]

    def lacks_required_prefix(digits: str) -> bool:
        if main is None or digits.startswith(cc) or any(p is not None and p.match(digits)
                                                        for p in (prefix, main_prefix)):
            return False  # parse() may read these digits otherwise: no verdict
        for leading, pattern, rejects in formats:
            if (leading is None or leading.match(digits)) and pattern.fullmatch(digits):
                return rejects
        return False

    def valid_somewhere(f: str) -> bool:
        return any(general.fullmatch(f) and any_type.fullmatch(f) for general, any_type in by_length.get(len(f), ()))

    def may_be_valid(digits: str) -> bool:
        if idd.match(digits):
            return True  # parse() may read an international prefix here: no verdict
        forms = {digits, digits[len(cc):]} if digits.startswith(cc) else {digits}
        for _ in range(2):  # parse() may strip a national prefix twice after a country code
            for f in list(forms):
                m = prefix.match(f) if prefix is not None and f else None
                if m:
                    # As _maybe_strip_national_prefix_carrier_code: strip the
                    # prefix, or rewrite it by the region's transform rule.
                    forms.add(f[m.end():])
                    if transform is not None:
                        forms.add(prefix.sub(transform, f, count=1))
        if not any(valid_somewhere(f) for f in forms):
            return False
        return not lacks_required_prefix(digits)

    return lru_cache(maxsize=4096)(may_be_valid)


def _by_length(types: list[tuple[frozenset[int], Any]]) -> dict[int, Any]:
    """For each length a national number can have: one regex matching what
    any of `types` allowing that length matches (a type with no lengths
    allows all). parse() refuses national numbers of more than 17 digits."""
    lengths = set(range(1, 18))
    for allowed, _rx in types:
        lengths |= allowed
    out = {}
    for n in sorted(lengths):
        pats = [rx.pattern for allowed, rx in types if not allowed or n in allowed]
        if pats:
            out[n] = re.compile("|".join(f"(?:{p})" for p in pats))
    return out


def _desc(d: Any) -> tuple[frozenset[int], Any] | None:
    """A phone number description's lengths and pattern (None: matches nothing)."""
    if d is None or not d.national_number_pattern:
        return None
    return frozenset(d.possible_length), re.compile(d.national_number_pattern)


def _matches(desc: tuple[frozenset[int], Any] | None, number: str) -> bool:
    """phonenumbers' _is_number_matching_desc."""
    if desc is None:
        return False
    lengths, rx = desc
    return (not lengths or len(number) in lengths) and rx.fullmatch(number) is not None


def _starts_with_zero(pattern: str) -> bool:
    """Whether every match of `pattern` starts with "0": it begins with a
    literal 0 and has no alternative outside parentheses."""
    if not pattern.startswith("0"):
        return False
    depth, escaped, in_class = 0, False, False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            return False
    return True


@lru_cache(maxsize=8192)
def _candidate_facts(candidate: str) -> tuple[int, str | None]:
    """Digits and letters in a phone candidate, and its plain digits (memoised:
    the eight regions' matchers see the same candidates)."""
    return sum(1 for ch in candidate if ch.isdigit() or ch.isalpha()), _plain_digits(candidate)


class PhoneScan:
    """What the phone matchers of several regions over one text share.

    phonenumbers' matcher finds candidates and the inner groups to try in
    them with regexes that do not depend on the region; only the parse and
    the check of each group do. The first matcher records them, the others
    replay them."""

    __slots__ = ("searches", "plans", "verdicts", "_tries")

    def __init__(self) -> None:
        self.searches: dict[int, tuple[int, str] | None] = {}
        self.plans: dict[tuple[str, int], list | None] = {}
        self.verdicts: dict[tuple[str, int], Any] = {}
        self._tries: list[str] | None = None

    def tries(self, matcher: Any) -> list[str]:
        """Every string a matcher over this text parses while it finds no
        match: the candidates one after the other, each whole and then its
        inner groups. (A matcher that finds a match tries a prefix of this
        list first; max_tries can only shorten it.)"""
        if self._tries is None:
            out: list[str] = []
            found = matcher._search(0)
            while found is not None:
                start, candidate = found
                plan = matcher._plan(candidate, start)
                if plan is not None:
                    out.append(candidate)
                    out.extend(g[0] for tries in plan for before, group in tries
                               for g in ((before, group) if before is not None else (group,)))
                found = matcher._search(start + len(candidate))
            self._tries = out
        return self._tries


def phone_region_may_match(scan: PhoneScan, matcher: Any, min_digits: int, may_be_valid: Any) -> bool:
    """False when the region's matcher over the scanned text cannot find a
    number: each string it would parse is one its own checks skip."""
    for candidate in scan.tries(matcher):
        count, digits = _candidate_facts(candidate)
        if count < min_digits:
            continue
        if may_be_valid is not None and digits is not None and not may_be_valid(digits):
            continue
        return True
    return False


def phone_matcher_class() -> type:
    from phonenumbers import PhoneNumberMatcher
    from phonenumbers.phonenumbermatcher import (
        _INNER_MATCHES,
        _PATTERN,
        _SECOND_NUMBER_START_PATTERN,
        _SLASH_SEPARATED_DATES,
        _TIME_STAMPS,
        _TIME_STAMPS_SUFFIX,
        _UNWANTED_END_CHAR_PATTERN,
    )

    class Matcher(PhoneNumberMatcher):
        """phonenumbers' matcher, skipping the parse of candidates that cannot be valid.

        `_parse_and_verify` returns None for every candidate it skips, as the
        original would after parsing it, so the matches (and the count of
        failed tries) are the same. Only for leniency VALID, whose check is
        phonenumbers.is_valid_number plus the national-prefix rule.

        Matchers of several regions over one text share a :class:`PhoneScan`:
        the candidates and their inner groups are found once (`_find` and
        `_extract_match` replay them in the original's order, counting
        tries as it does). A candidate in international format ("+1 212
        ...", with a known country code) parses the same whatever the
        default region, so it is parsed and verified once for all of them;
        so does plain national digits for regions sharing a country code
        (see `_plain_reading`).
        """

        def __init__(self, text: str, region: str, leniency: Any, min_digits: int, may_be_valid: Any,
                     scan: PhoneScan | None = None):
            super().__init__(text, region, leniency=leniency)
            self._min_digits = min_digits
            self._may_be_valid = may_be_valid
            self._scan = scan if scan is not None else PhoneScan()

        def _search(self, index: int) -> tuple[int, str] | None:
            searches = self._scan.searches
            if index not in searches:
                m = _PATTERN.search(self.text, index)
                searches[index] = None if m is None else (
                    m.start(), self._trim_after_first_match(_SECOND_NUMBER_START_PATTERN, self.text[m.start():m.end()]))
            return searches[index]

        def _find(self, index):
            found = self._search(index)
            while self._max_tries > 0 and found is not None:
                start, candidate = found
                if len(candidate) >= self._min_candidate_length:
                    match = self._extract_match(candidate, start)
                    if match is not None:
                        return match
                    self._max_tries -= 1
                found = self._search(start + len(candidate))
            return None

        def _plan(self, candidate: str, offset: int) -> list | None:
            """None for a date or a time stamp; else, per inner pattern, its
            tries: (the group before the first match or None, the group)."""
            key = (candidate, offset)
            plans = self._scan.plans
            if key in plans:
                return plans[key]
            plan: list | None = None
            if not _SLASH_SEPARATED_DATES.search(candidate) and not (
                    _TIME_STAMPS.search(candidate)
                    and _TIME_STAMPS_SUFFIX.match(self.text[offset + len(candidate):])):
                plan = []
                trim = self._trim_after_first_match
                for pattern in _INNER_MATCHES:
                    tries = []
                    m = pattern.search(candidate)
                    first = True
                    while m:
                        before = (trim(_UNWANTED_END_CHAR_PATTERN, candidate[:m.start()]), offset) if first else None
                        first = False
                        tries.append((before, (trim(_UNWANTED_END_CHAR_PATTERN, m.group(1)), offset + m.start(1))))
                        m = pattern.search(candidate, m.start() + 1)
                    plan.append(tries)
            plans[key] = plan
            return plan

        def _extract_match(self, candidate, offset):
            plan = self._plan(candidate, offset)
            if plan is None:
                return None
            match = self._parse_and_verify(candidate, offset)
            if match is not None:
                return match
            for tries in plan:  # _extract_inner_match
                for before, group in tries:
                    if self._max_tries <= 0:
                        break
                    if before is not None:
                        match = self._parse_and_verify(*before)
                        if match is not None:
                            return match
                        self._max_tries -= 1
                    match = self._parse_and_verify(*group)
                    if match is not None:
                        return match
                    self._max_tries -= 1
            return None

        def _parse_and_verify(self, candidate: str, offset: int):
            count, digits = _candidate_facts(candidate)
            if count < self._min_digits:
                return None
            if self._may_be_valid is not None and digits is not None and not self._may_be_valid(digits):
                return None
            if digits is None:
                if not _region_free(candidate):
                    return super()._parse_and_verify(candidate, offset)
                key: tuple = (candidate, offset)
            else:
                code = _plain_reading(self.preferred_region)(digits)
                if code is None:
                    return super()._parse_and_verify(candidate, offset)
                key = (candidate, offset, code)
            verdicts = self._scan.verdicts
            if key not in verdicts:
                verdicts[key] = super()._parse_and_verify(candidate, offset)
            return verdicts[key]

    return Matcher


@lru_cache(maxsize=None)
def _plain_reading(region: str) -> Any:
    """For default `region`: the country code parse() gives plain `digits`
    when it reads them exactly as written (the region's international
    prefix, its country code and its national prefix pattern all fail to
    match at the start), else None. Two regions with one country code (the
    US and Canada) then parse them to the same number, so one verdict
    serves both."""
    from phonenumbers import PhoneMetadata

    md = PhoneMetadata.metadata_for_region(region)
    if md is None:
        return lambda digits: None
    idd = re.compile(md.international_prefix) if md.international_prefix else None
    prefix = re.compile(md.national_prefix_for_parsing) if md.national_prefix_for_parsing else None
    cc, code = str(md.country_code), md.country_code

    def reading(digits: str) -> int | None:
        if digits.startswith(cc) or (idd is not None and idd.match(digits)) \
                or (prefix is not None and prefix.match(digits)):
            return None
        return code

    return reading


@lru_cache(maxsize=8192)
def _region_free(candidate: str) -> bool:
    """Whether parse(candidate, region) is the same for every region: the
    number starts with a plus, and what follows it begins with a known
    country code and is long enough to be a number (otherwise parse() would
    retry with the region's own rules)."""
    from phonenumbers.phonenumberutil import (
        _MIN_LENGTH_FOR_NSN,
        _PLUS_CHARS_PATTERN,
        _build_national_number_for_parsing,
        _extract_country_code,
        _maybe_strip_extension,
        _normalize,
    )

    number = _build_national_number_for_parsing(candidate)
    _ext, number = _maybe_strip_extension(number)
    m = _PLUS_CHARS_PATTERN.match(number)
    if m is None:
        return False
    full = _normalize(number[m.end():])
    return len(full) > _MIN_LENGTH_FOR_NSN and _extract_country_code(full)[0] != 0
