"""The PII fast path: exactly what Presidio's analyzer finds, on windows.

:class:`FastAnalyzer` gives what ``AnalyzerEngine.analyze(text, entities,
score_threshold=0)`` gives for the entities it covers, at a fraction of the
cost: :mod:`.prefilter` finds the windows of a text that can hold a match,
Presidio's recognizers run on those only (phone numbers through
:mod:`.phones`), and the context-word boost is mirrored on tokens of the
windows. It is built only where that is known to be exact, and is checked
against Presidio on generated texts (tests/test_fastpath.py). See
docs/performance.md.
"""

from __future__ import annotations

import re
from typing import Any

from guardrails.detectors.pii import phone_validity, phone_windows, phones, prefilter
from guardrails.detectors.pii.context import ContextBoost
from guardrails.detectors.pii.rescan import inside_rejected
from guardrails.detectors.pii.timeouts import PatternTimeout
from guardrails.detectors.pii.urls import BoundedUrlPattern, UrlScan

__all__ = ["FastAnalyzer"]


# Digests of the Presidio functions whose logic the fast path mirrors
# (presidio-analyzer 2.2.366). Any change turns the fast path off.
_MIRRORED = {
    "LemmaContextAwareEnhancer.enhance_using_context": "a7a5aafaaf901f26",
    "LemmaContextAwareEnhancer._extract_surrounding_words": "26be5215b4b65250",
    "LemmaContextAwareEnhancer._add_n_words": "fb5e80dcc4d30b86",
    "LemmaContextAwareEnhancer._find_supportive_word_in_context": "4f741bcb4cb90860",
    "LemmaContextAwareEnhancer._find_index_of_match_token": "37ce924de8995481",
    "PhoneRecognizer.analyze": "dc228ae284c3d101",
    "NlpArtifacts.set_keywords": "01a88b11983f4142",
    "PatternRecognizer.analyze": "12ba3f7e6cdb75f1",
    "PatternRecognizer._PatternRecognizer__analyze_patterns": "a9f12c77810d2f1a",
    "SpacyNlpEngine.is_stopword": "5c6e7d5a28fe2299",
    "SpacyNlpEngine.is_punct": "8310c61d7d4f3db9",
    "EntityRecognizer.remove_duplicates": "44965f43e3005d67",
}


# phonenumbers functions whose logic the phone prefilter relies on
# (phonenumbers 9.0.x): the parse, the VALID check and its national-prefix
# rule. Any change keeps phone numbers off the fast path.
_MIRRORED_PHONE = {
    "phonenumbermatcher.PhoneNumberMatcher._parse_and_verify": "d8adb854f3266ed5",
    "phonenumbermatcher.PhoneNumberMatcher._find": "a9e89d83733105cb",
    "phonenumbermatcher.PhoneNumberMatcher._extract_match": "59b5958e65b0c9e5",
    "phonenumbermatcher.PhoneNumberMatcher._extract_inner_match": "3f18c77cd6a26a92",
    "phonenumbermatcher._verify": "6c642c22d31b02d4",
    "phonenumbermatcher._is_national_prefix_present_if_required": "37d0807934e6c20e",
    "phonenumberutil.parse": "6e48c9961d117feb",
    "phonenumberutil._maybe_extract_country_code": "57b28e3098d96db7",
    "phonenumberutil._maybe_strip_national_prefix_carrier_code": "462428c534345d07",
    "phonenumberutil._choose_formatting_pattern_for_number": "08b6398e56cc4636",
}


def _phone_mirrors_unchanged() -> bool:
    import importlib

    try:
        for qualname, digest in _MIRRORED_PHONE.items():
            module, *path = qualname.split(".")
            obj: Any = importlib.import_module(f"phonenumbers.{module}")
            for name in path:
                obj = getattr(obj, name)
            if _source_digest(obj) != digest:
                return False
    except (ImportError, AttributeError, OSError, TypeError):  # no source to compare: do not guess
        return False
    return True


def _source_digest(fn: Any) -> str:
    import hashlib
    import inspect

    return hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()[:16]


def _mirrors_unchanged() -> bool:
    from presidio_analyzer import EntityRecognizer, PatternRecognizer
    from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
    from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    owners = {"LemmaContextAwareEnhancer": LemmaContextAwareEnhancer, "PhoneRecognizer": PhoneRecognizer,
              "NlpArtifacts": NlpArtifacts, "SpacyNlpEngine": SpacyNlpEngine, "PatternRecognizer": PatternRecognizer,
              "EntityRecognizer": EntityRecognizer}
    try:
        for qualname, digest in _MIRRORED.items():
            owner, name = qualname.split(".")
            if _source_digest(getattr(owners[owner], name)) != digest:
                return False
    except (OSError, TypeError):  # no source to compare: do not guess
        return False
    return True


# A backreference or an inline flag would change meaning inside an alternation.
_NOT_JOINABLE = re.compile(r"\\[1-9]|\(\?P=|\(\?[aiLmsux-]")


def _gate(patterns: list, flags: int) -> Any:
    """The patterns as one alternation, compiled as Presidio compiles each
    (None when one of them cannot be joined as it is)."""
    import regex

    if any(_NOT_JOINABLE.search(p.regex) for p in patterns):
        return None
    return regex.compile("|".join(f"(?:{p.regex})" for p in patterns), flags=flags)


# Windows whose every character is printable ASCII, a tab or a line break:
# there the stdlib `re` reads Presidio's patterns as `regex` does (`\s` is
# where the two differ below 0x80: `re` also takes \x1c-\x1f).
_NOT_PLAIN_ASCII = re.compile("[^\t\n\r\x20-\x7e]")
# The flags both modules spell alike; a pattern compiled with any other has no twin.
_TWIN_FLAGS = re.IGNORECASE | re.MULTILINE | re.DOTALL | re.UNICODE


def _twins(patterns: list, flags: int) -> tuple[Any, list] | None:
    """A recognizer's patterns compiled by `re` (their ASCII twins), and
    the twins joined as one gate (None where they cannot be joined), or
    None when one of them has no twin: other flags, or syntax `re` lacks.

    On a window of plain ASCII (`_NOT_PLAIN_ASCII`) a twin matches exactly
    where the pattern does, and a call costs a fraction of one to `regex`
    (which, with a time limit, costs about 2 us a call): so a twin that
    finds nothing skips its pattern. The matches themselves still come from
    `regex`, as Presidio's do. tests/test_pii_shortcuts.py compares the
    twins' matches with the patterns' on generated texts.
    """
    if flags & ~_TWIN_FLAGS:
        return None
    try:
        each = [re.compile(p.regex, flags) for p in patterns]
        joined = None if len(patterns) < 2 or any(_NOT_JOINABLE.search(p.regex) for p in patterns) else \
            re.compile("|".join(f"(?:{p.regex})" for p in patterns), flags)
    except (re.error, ValueError, TypeError):
        return None
    return joined, each


def _DUPLICATES_ORDER(r: Any) -> tuple:
    return str(r.entity_type), r.start, r.start - r.end, -r.score


def _SCORE_ORDER(r: Any) -> tuple:
    return -r.score, r.start, r.start - r.end


class FastAnalyzer:
    """Presidio's analysis on the windows of a text that can hold a match.

    Gives exactly what ``AnalyzerEngine.analyze(text, entities,
    score_threshold=0)`` gives, at a fraction of the cost (see
    docs/performance.md):

    1. :mod:`.prefilter` finds the windows; a text without any returns no
       findings and never reaches Presidio.
    2. Each recognizer whose own regexes match the joined windows runs on
       them, and its results are mapped back to the text. The phone
       recognizer runs on windows of its own, with phonenumbers' matcher
       skipping the parse of candidates with too few digits for a region.
    3. Context words: Presidio raises a score when one of the keyword lemmas
       next to a match is a context word of its recognizer. The lemmas come
       from spaCy tokens of windows around the results; a window is widened
       until every walk ends inside it, and the keyword set also holds the
       pieces Presidio splits out of colon tokens anywhere in the text. The
       walk and the score update mirror LemmaContextAwareEnhancer.
    4. Duplicates are removed by Presidio's own function.

    Built only for the blank spaCy pipeline, for recognizers whose patterns
    the prefilter rules were derived from, and while the Presidio functions
    it mirrors are unchanged (`_MIRRORED`); other entities take the
    whole-text path.
    """

    def __init__(self, analyzer: Any, language: str, covered: frozenset[str], pattern_recs: dict,
                 phone: Any, tokenizer: Any, max_length: int):
        import regex
        from presidio_analyzer import (
            EntityRecognizer,
            PatternRecognizer,
            RecognizerResult,
        )
        from presidio_analyzer.pattern_recognizer import REGEX_TIMEOUT_SECONDS

        from guardrails.detectors.pii.presidio import RescanRejected

        self.analyzer = analyzer
        self.language = language
        self.covered = covered
        self.max_length = max_length
        # entity -> [(recognizer, its patterns compiled as Presidio compiles them)]
        self.pattern_recs = {
            e: [(r, [regex.compile(p.regex, flags=r.global_regex_flags) for p in r.patterns]) for r in recs]
            for e, recs in pattern_recs.items()
        }
        # entities -> ({recognizer name: [(rec, patterns)]}, the names, whether phone numbers are asked for)
        # recognizer id -> one regex of all its patterns, which finds a match
        # exactly where one of them does: one search where most windows hold
        # no match of any (Presidio runs each pattern; a date has 13).
        self._gates = {r.id: _gate(r.patterns, r.global_regex_flags) for recs in self.pattern_recs.values()
                       for r, _ in recs if len(r.patterns or ()) > 1}
        # recognizer id -> its ASCII twins (see _twins), or None
        self._twins = {r.id: _twins(r.patterns or [], r.global_regex_flags) for recs in self.pattern_recs.values()
                       for r, _ in recs}
        # recognizer id -> the linear scan of Presidio's URL patterns (see .urls)
        # (its patterns, each paired with its bounded finditer)
        self._url_scans = {r.id: (scan, [(p, BoundedUrlPattern(scan, i)) for i, p in enumerate(r.patterns)])
                           for recs in self.pattern_recs.values() for r, _ in recs
                           if type(r).__name__ == "UrlRecognizer"
                           and (scan := UrlScan.build(r.patterns or [], r.global_regex_flags)) is not None}
        self._recs_for: dict[tuple[str, ...], tuple[dict[str, list], frozenset[str], bool]] = {}
        self.phone = phone
        self._may_hold = None
        if phone is not None:
            self._matcher = phones.phone_matcher_class()
            self._phone_regions = [(r, phone_validity.phone_min_digits(r), phone_validity.phone_validity_check(r))
                                   for r in phone.supported_regions]
            self._may_hold = phone_validity.cluster_check(self._phone_regions)
        by_id = {r.id: r for recs in pattern_recs.values() for r in recs}
        if phone is not None:
            by_id[phone.id] = phone
        self.by_id = by_id
        self.context = ContextBoost(analyzer, language, tokenizer, by_id)
        # The context memos and tokenizer, where the soak benchmark reads them.
        self.tokenizer = self.context.tokenizer
        self._pieces = self.context.pieces
        self._colon_memo = self.context.colon_memo
        self._dedupe = EntityRecognizer.remove_duplicates
        self._max_score = EntityRecognizer.MAX_SCORE
        self._min_score = EntityRecognizer.MIN_SCORE
        self._plain_analyze = PatternRecognizer.analyze
        self._rescanning = RescanRejected
        self._regex_timeout = REGEX_TIMEOUT_SECONDS
        self._result = RecognizerResult
        self._id_key = RecognizerResult.RECOGNIZER_IDENTIFIER_KEY
        self._name_key = RecognizerResult.RECOGNIZER_NAME_KEY

    @classmethod
    def build(cls, analyzer: Any, language: str) -> FastAnalyzer | None:
        from presidio_analyzer import EntityRecognizer
        from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
        from presidio_analyzer.predefined_recognizers import PhoneRecognizer

        from guardrails.detectors.pii.presidio import OfflineSpacyNlpEngine

        engine = analyzer.nlp_engine
        if type(engine) is not OfflineSpacyNlpEngine or engine._model is not None:
            return None
        if type(analyzer.context_aware_enhancer) is not LemmaContextAwareEnhancer or not _mirrors_unchanged():
            return None
        by_entity: dict[str, list] = {}
        for rec in analyzer.registry.recognizers:
            if rec.supported_language == language:
                for e in rec.supported_entities:
                    by_entity.setdefault(e, []).append(rec)
        covered: set[str] = set()
        pattern_recs: dict[str, list] = {}
        phone = None
        for entity, recs in by_entity.items():
            rec = recs[0]
            if len(recs) != 1 or len(rec.supported_entities) != 1 or \
                    type(rec).enhance_using_context is not EntityRecognizer.enhance_using_context:
                continue
            if type(rec) is PhoneRecognizer:
                # The bounds hold only for a matcher that accepts valid numbers.
                if rec.leniency == 1 and _phone_mirrors_unchanged():
                    phone = rec
                    covered.add(entity)
            elif prefilter.RECOGNIZER_PATTERNS.get(type(rec).__name__) == prefilter.pattern_digest(rec.patterns or []) \
                    and not getattr(rec, "deny_list", None):
                pattern_recs[entity] = [rec]
                covered.add(entity)
        nlp = engine.nlp[language]
        return cls(analyzer, language, frozenset(covered), pattern_recs, phone, nlp.tokenizer, nlp.max_length)

    def analyze(self, text: str, entities: list[str]) -> list:
        runs = prefilter.digit_runs(text)
        raw: list = []
        key = tuple(entities)
        plan = self._recs_for.get(key)
        if plan is None:
            recs: dict[str, list] = {}
            for e in entities:
                for rr in self.pattern_recs.get(e, ()):
                    recs.setdefault(type(rr[0]).__name__, []).append(rr)
            if len(self._recs_for) >= 256:
                self._recs_for.clear()  # bounded; policies ask for a few sets
            plan = self._recs_for[key] = (recs, frozenset(recs), self.phone is not None and "PHONE_NUMBER" in entities)
        recs, names, phone = plan
        if recs:
            compacts: dict[tuple, Any] = {}  # recognizers with the same windows share one compact text
            for name, regions in prefilter.recognizer_regions(text, runs, names).items():
                key = tuple(regions)
                c = compacts.get(key)
                if c is None:
                    c = compacts[key] = prefilter.compact(text, regions)
                for rec, patterns in recs[name]:
                    results = self._run_recognizer(rec, patterns, c.text, entities)
                    if results:
                        self._collect(rec, results, c, raw)
        if phone and runs:
            regions = phone_windows.phone_regions(text, runs, self._may_hold)
            if regions:
                c = prefilter.compact(text, regions)
                self._collect(self.phone, self._phones(c.text), c, raw)
        if not raw:
            return []
        self.context.enhance(text, raw)
        return self._unique([r for r in raw if r.score >= 0])

    def _run_recognizer(self, rec: Any, compiled: list, text: str, entities: list) -> list:
        """``rec.analyze(text)``. For a plain PatternRecognizer, its loop
        (``analyze`` and ``__analyze_patterns``, pinned by digest) run here
        without what never reaches a Finding: the explanation objects, the
        clock readings and the debug log calls, which cost more than the
        matching on a window. For one with the rescan mixed in
        (:class:`~guardrails.detectors.pii.presidio.RescanRejected`), also
        what that adds: the candidates inside each rejected one."""
        rescan = isinstance(rec, self._rescanning)
        base = type(rec)._rescan_base if rescan else type(rec).analyze
        url = self._url_scans.get(rec.id)
        if url is not None and base is self._plain_analyze:
            # URL patterns read up to 253 characters at every start: only
            # the starts the scan allows, and none without a domain dot.
            scan, pairs = url
            plan = scan.candidates(text)
            if plan is None:
                return []
            return self._pattern_loop(rec, [pair for pair, starts in zip(pairs, plan) if starts], text, rescan)
        twins = self._twins.get(rec.id)
        if twins is not None and _NOT_PLAIN_ASCII.search(text) is not None:
            twins = None
        if base is not self._plain_analyze or not rec.patterns:
            # Called only where one of its regexes matches: its analyze costs
            # more than the search. (The loop below finds nothing without.)
            if not any(p.search(text) for p in (compiled if twins is None else twins[1])):
                return []
            return rec.analyze(text=text, entities=entities, nlp_artifacts=None)
        if twins is not None:
            if twins[0] is not None and twins[0].search(text) is None:
                return []
            # Only the patterns whose twin finds a match: a pattern skipped
            # would have found nothing, so its loop adds nothing.
            pairs = [(pattern, rx) for pattern, rx, twin in zip(rec.patterns, compiled, twins[1])
                     if twin.search(text) is not None]
            return self._pattern_loop(rec, pairs, text, rescan)
        gate = self._gates.get(rec.id)
        if gate is not None:
            try:
                if gate.search(text, timeout=self._regex_timeout) is None:
                    return []
            except TimeoutError:
                pass  # the loop times each pattern as Presidio does
        return self._pattern_loop(rec, zip(rec.patterns, compiled), text, rescan)

    def _pattern_loop(self, rec: Any, pairs: Any, text: str, rescan: bool) -> list:
        """Presidio's loop (``__analyze_patterns``) over (pattern, compiled) `pairs`."""
        if not pairs:
            return []
        results = []
        hidden: list = []
        entity = rec.supported_entities[0]
        meta = {self._name_key: rec.name, self._id_key: rec.id}
        validate, invalidate = rec.validate_result, rec.invalidate_result
        for pattern, rx in pairs:
            try:
                for m in rx.finditer(text, timeout=self._regex_timeout):
                    start, end = m.span()
                    current = text[start:end]
                    if current == "":
                        continue
                    score = pattern.score
                    valid = validate(current)
                    if valid is not None:
                        score = self._max_score if valid else self._min_score
                    invalid = invalidate(current)
                    if invalid is not None and invalid:
                        score = self._min_score
                    if score > self._min_score:
                        results.append(self._result(entity, start, end, score, recognition_metadata=dict(meta)))
                    elif rescan:  # rare: judged as RescanRejected.analyze judges, explanation and all
                        def judge(m: Any, pattern: Any = pattern) -> Any:
                            return rec.judge_candidate(pattern, text, m, rec.global_regex_flags)

                        hidden.extend(inside_rejected(rx, text, start, end, judge, self._regex_timeout))
            except TimeoutError:
                # Presidio logs and skips the pattern; here the check fails (see .timeouts).
                raise PatternTimeout(pattern.name, self._regex_timeout) from None
        results = self._unique(results)
        # As RescanRejected.analyze: Presidio's results, then the hidden ones.
        return self._dedupe(results + hidden) if hidden else results

    @staticmethod
    def _unique(results: list) -> list:
        """EntityRecognizer.remove_duplicates (pinned by digest), which for one
        result only drops it if its score is 0 (most lists here hold one
        result or none). For more, its walk without its first step, the
        set of the results: hashing a result formats a string, and the walk
        drops a duplicate anyway (an equal result is contained in the one
        kept first, with no higher score). Which of two equal results is
        kept may differ; they differ in nothing a Finding reads."""
        if len(results) < 2:
            return [r for r in results if r.score != 0]
        kept: list = []
        active: list = []
        entity = None
        for r in sorted(results, key=_DUPLICATES_ORDER):
            if r.score == 0:
                continue
            if r.entity_type != entity:
                entity, active = r.entity_type, []
            start, end, score = r.start, r.end, r.score
            active = [f for f in active if f.end >= start]
            for f in active:
                if start >= f.start and end <= f.end and score <= f.score:
                    break
            else:
                kept.append(r)
                active.append(r)
        kept.sort(key=_SCORE_ORDER)
        return kept

    def _collect(self, rec: Any, results: list, c: Any, out: list) -> None:
        for r in results:
            # What AnalyzerEngine adds to every result.
            meta = r.recognition_metadata
            if not meta:
                meta = r.recognition_metadata = {}
            if self._id_key not in meta:
                meta[self._id_key] = rec.id
                meta[self._name_key] = rec.name
            r.start, r.end = c.to_original(r.start, r.end)
            out.append(r)

    def _phones(self, text: str) -> list:
        """PhoneRecognizer.analyze, with the matcher above and without the
        per-match parse that only names the region in the explanation."""
        rec = self.phone
        results = []
        scan = phones.PhoneScan()  # shared by the regions' matchers over this text
        for region, min_digits, may_be_valid in self._phone_regions:
            matcher = self._matcher(text, region, rec.leniency, min_digits, may_be_valid, scan)
            if not phones.phone_region_may_match(scan, matcher, min_digits, may_be_valid):
                continue
            for match in matcher:
                results.append(rec._get_recognizer_result(match, text, region, None))
        return self._unique(results)
