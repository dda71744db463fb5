"""phonenumbers' matcher, skipping the candidates that cannot be valid.

Presidio's PhoneRecognizer runs phonenumbers' ``PhoneNumberMatcher`` once per
default region, and the matcher parses every candidate it finds. Most
candidates in real text (dates, amounts, IP addresses, other regions'
numbers) are ones phonenumbers parses only to reject. The checks in
:mod:`.phone_validity` say, without parsing, that a candidate cannot be
valid for a region; the :class:`Matcher` skips those and shares the rest of
its work between the regions. A skipped candidate is one the original would have parsed and
rejected, so the matches are the same; ``fastpath._MIRRORED_PHONE`` pins the
phonenumbers functions this reasoning reads, and the fast path is off if
they change. The windows the matcher runs on come from :mod:`.phone_windows`.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from typing import Any

from guardrails.detectors.pii.phone_validity import plain_digits

__all__ = [
    "PhoneScan",
    "phone_matcher_class",
    "phone_region_may_match",
]

@lru_cache(maxsize=8192)
def _candidate_facts(candidate: str) -> tuple[int, str | None]:
    """Digits and letters in a phone candidate, and its plain digits (memoised:
    the eight regions' matchers see the same candidates)."""
    return sum(1 for ch in candidate if ch.isdigit() or ch.isalpha()), plain_digits(candidate)


class PhoneScan:
    """What the phone matchers of several regions over one text share.

    phonenumbers' matcher finds candidates and the inner groups to try in
    them with regexes that do not depend on the region; only the parse and
    the check of each group do. The first matcher records them, the others
    replay them."""

    __slots__ = ("_tries", "plans", "searches", "verdicts")

    def __init__(self) -> None:
        self.searches: dict[int, tuple[int, str] | None] = {}
        self.plans: dict[tuple[str, int], list | None] = {}
        self.verdicts: dict[tuple, Any] = {}  # (candidate, offset[, country code]) -> match or None
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


@cache
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
