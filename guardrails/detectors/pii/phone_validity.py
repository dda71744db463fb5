"""Which digit strings no region's phone matcher can accept, told without parsing.

Presidio's PhoneRecognizer runs phonenumbers' ``PhoneNumberMatcher`` once per
default region, and the matcher parses every candidate it finds, mostly to
reject it. This module holds the tests that tell, from the digits alone,
that phonenumbers would reject a candidate for a region
(`phone_validity_check`, `phone_min_digits`), and the test of a whole group
of digit runs built on them (`cluster_check`), which lets the phone windows drop
years, prices, dates and times before any matcher runs. :mod:`.phones`
holds the matcher that skips what these tests reject; the phonenumbers
functions the reasoning reads are pinned by ``fastpath._MIRRORED_PHONE``.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from functools import cache, lru_cache
from typing import Any

__all__ = [
    "MIN_INTERNATIONAL_DIGITS",
    "cluster_check",
    "phone_min_digits",
    "phone_validity_check",
    "plain_digits",
]

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


_NOT_DIGIT = re.compile(r"[^0-9]")

# Characters that may make phonenumbers read a candidate as something other
# than its digits: a plus (a country code follows), extension marks.
_NOT_PLAIN = frozenset("+\uff0b#\uff03;,~\uff5e")


def plain_digits(candidate: str) -> str | None:
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


@cache
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

    # Per length, the regions' general patterns as one regex: most digits
    # match none (a country code like +1 has some twenty regions).
    any_general = {n: re.compile("|".join(f"(?:{general.pattern})" for general, _ in pairs))
                   for n, pairs in by_length.items()}

    def valid_somewhere(f: str) -> bool:
        first = any_general.get(len(f))
        if first is None or first.fullmatch(f) is None:
            return False
        return any(general.fullmatch(f) and any_type.fullmatch(f) for general, any_type in by_length[len(f)])

    # Every form is the digits or a part of them (a transform rule that is
    # one group reference, like Brazil's "\\2", keeps a part too), so digits
    # shorter than the shortest valid national number are no number: most
    # years, prices and times, told without building forms.
    shortest = min(by_length, default=18) if transform is None or _ONE_GROUP.fullmatch(transform) else 0

    def may_be_valid(digits: str) -> bool:
        if idd.match(digits):
            return True  # parse() may read an international prefix here: no verdict
        if len(digits) < shortest:
            return False
        if not digits.startswith(cc) and (prefix is None or not prefix.match(digits)):
            # Neither a country code nor a national prefix to strip: the
            # digits are the one form (the loop below would add none).
            return valid_somewhere(digits) and not lacks_required_prefix(digits)
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

    check = lru_cache(maxsize=4096)(may_be_valid)
    # For callers that test many strings: the two answers told without a
    # call (see cluster_check).
    check.shortest, check.international = shortest, idd
    # What the direct reading (the digits as written) needs: see cluster_check.
    check.direct = (cc, prefix, by_length)
    return check


# A transform rule that only keeps one group of what the prefix pattern matched.
_ONE_GROUP = re.compile(r"\\\d")


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


def cluster_check(regions: list[tuple[str, int, Any]]) -> Any:
    """For the phone recognizer's regions, each as (region, fewest digits,
    `phone_validity_check`): a test of a group of digit runs that is false
    only when no region's matcher can accept any string in it.

    It is asked about groups of plain digits, as the gaps and runs of
    ``phone_windows.plain_groups``: every string the matchers parse there is
    read as its digits, so each is skipped by the same tests the matchers
    apply (``phones.phone_region_may_match``,
    ``Matcher._parse_and_verify``), and dropping the group changes no
    match. Which strings those are, as phonenumbers' matcher finds them:

    - a candidate runs across gaps of at most four of its punctuation
      characters (a plain group has no extension), so a gap with a colon or
      a comma ("10:30", "1,299") ends one;
    - a candidate holding a slash-separated date ("12/03/2024"), or a time
      stamp followed by ":mm", is not parsed at all (``_extract_match``);
    - otherwise the candidate is parsed, then the groups
      ``_extract_inner_match`` cuts from it at "/", "(", " - ", dots and
      spaces; with an opening bracket before the first digit the candidate
      starts there, which adds no digits but may add any run of leading
      runs.

    Memoised: years, times and prices recur.
    """
    from phonenumbers.phonenumbermatcher import (
        _INNER_MATCHES,
        _SLASH_SEPARATED_DATES,
        _TIME_STAMPS,
        _TIME_STAMPS_SUFFIX,
        _UNWANTED_END_CHAR_PATTERN,
    )
    from phonenumbers.phonenumberutil import _VALID_PUNCTUATION

    # A gap a candidate runs across: phonenumbers' own punctuation class (a
    # regex class, with ranges), at most four of them.
    crossed = re.compile(f"[{_VALID_PUNCTUATION}]{{1,4}}", re.UNICODE | re.IGNORECASE)
    openers = frozenset("([\uff08\uff3b")
    # Regions sharing a test (the United States and Canada) are asked once.
    # Each as: the fewest digits, and the test with what it tells first
    # (every international prefix it checks starts with "0").
    checks = [(min_digits, None, 0, None) if may_be_valid is None else
              (min_digits, may_be_valid.international, may_be_valid.shortest, may_be_valid)
              for min_digits, may_be_valid in dict.fromkeys((m, v) for _region, m, v in regions)]

    quick_reject = _direct_rejection([may_be_valid for _m, _i, _s, may_be_valid in checks])

    @lru_cache(maxsize=16384)
    def some_region_may_accept(digits: str) -> bool:
        if quick_reject is not None and quick_reject(digits):
            return False
        return every_region_asked(digits)

    def every_region_asked(digits: str) -> bool:
        n = len(digits)
        zero = digits[:1] == "0"
        for min_digits, international, shortest, may_be_valid in checks:
            if n < min_digits:
                continue  # the matcher's own count skips it
            if may_be_valid is None or (zero and international.match(digits)):
                return True
            if n >= shortest and may_be_valid(digits):
                return True
        return False

    def trim(group: str) -> str:  # the matcher's _trim_after_first_match(_UNWANTED_END_CHAR_PATTERN, ...)
        m = _UNWANTED_END_CHAR_PATTERN.search(group)
        return group[:m.start()] if m else group

    def tried(candidate: str) -> list[str]:
        """What _extract_match parses: the candidate, then _extract_inner_match's groups."""
        out = [candidate]
        for pattern in _INNER_MATCHES:
            m = pattern.search(candidate)
            if m is not None:
                out.append(trim(candidate[:m.start()]))
            while m is not None:
                out.append(trim(m.group(1)))
                m = pattern.search(candidate, m.start() + 1)
        return out

    floor = min((_fewest_accepted(*check) for check in checks), default=0)

    def candidate_may_hold(parts: tuple[str, ...], lead: bool, following: str | None) -> bool:
        if sum(len(run) for run in parts[::2]) < floor:
            return False  # every string tried in it is shorter than any region accepts
        candidate = "".join(parts)
        if _SLASH_SEPARATED_DATES.search(candidate) or (
                following is not None and _TIME_STAMPS.search(candidate) and _TIME_STAMPS_SUFFIX.match(following)):
            return False
        strings = tried(candidate) if len(parts) > 1 else [candidate]
        if lead:
            strings.extend("".join(parts[:i]) for i in range(1, len(parts), 2))
        # The strings are plain: their digits are what is left without the
        # punctuation (plain_digits reads other scripts' digits too).
        return any(some_region_may_accept(_NOT_DIGIT.sub("", s) if s.isascii() else plain_digits(s) or "")
                   for s in strings)

    @lru_cache(maxsize=8192)
    def may_hold(parts: tuple[str, ...]) -> bool:
        start, lead = 1, parts[0] != ""
        for i in range(2, len(parts), 2):
            gap = parts[i]
            if crossed.fullmatch(gap) is None:
                # The candidate ends before this gap; what follows it is the
                # gap and the next run, and the next one may start at a
                # bracket in the gap.
                if candidate_may_hold(parts[start:i], lead, gap + parts[i + 1]):
                    return True
                start, lead = i + 1, any(ch in openers for ch in gap)
        return candidate_may_hold(parts[start:], lead, None)

    def one_run(run: str) -> bool:
        """may_hold(("", run)) or may_hold(("(", run)) for a group of one run:
        the run is the one string tried."""
        return len(run) >= floor and some_region_may_accept(_NOT_DIGIT.sub("", run) if run.isascii()
                                                            else plain_digits(run) or "")

    may_hold.one_run = one_run  # type: ignore[attr-defined]
    may_hold.quick_reject, may_hold.every_region_asked = quick_reject, every_region_asked  # type: ignore[attr-defined]
    may_hold.floor = floor  # type: ignore[attr-defined]
    return may_hold


def _direct_rejection(tests: list[Any]) -> Any:
    """A test that is true only for digits no region's `phone_validity_check`
    accepts, told by two regexes instead of a call per region (or None when
    some region has no test).

    A region's test reads the digits as written when they begin with none
    of its international prefix, country code and national prefix; then it
    accepts them only if, for some region of its country code allowing
    their length, the general pattern and the pattern of some number type
    both match them whole (`valid_somewhere`). So digits that begin with
    none of those of any region, and that no such pair matches, are
    rejected by every test: most years, prices and dates.
    """
    if not tests or any(t is None for t in tests):
        return None
    leads, by_length = [], {}
    for t in tests:
        cc, prefix, pairs_by_length = t.direct
        leads.extend(p for p in (t.international.pattern, re.escape(cc), prefix.pattern if prefix else None) if p)
        for n, pairs in pairs_by_length.items():
            # Both whole: the general pattern as a lookahead up to the end.
            by_length.setdefault(n, []).extend(f"(?=(?:{g.pattern})\\Z)(?:{t.pattern})" for g, t in pairs)
    lead = re.compile("|".join(f"(?:{p})" for p in dict.fromkeys(leads)))
    general = {n: re.compile("|".join(f"(?:{p})" for p in dict.fromkeys(pats))) for n, pats in by_length.items()}

    def rejected(digits: str) -> bool:
        if lead.match(digits):
            return False
        rx = general.get(len(digits))
        return rx is None or rx.fullmatch(digits) is None

    return rejected


def _fewest_accepted(min_digits: int, international: Any, shortest: int, may_be_valid: Any) -> int:
    """A lower bound on the digits of a string some_region_may_accept takes
    for this region: its own count, and the test's shortest number or the
    shortest string starting with "0" its international prefix matches."""
    if may_be_valid is None:
        return min_digits
    idd = next((k for k in range(1, 6) if any(international.match("0" + "".join(rest))
                                               for rest in itertools.product("0123456789", repeat=k - 1))), 6)
    return max(min_digits, min(shortest, idd))
