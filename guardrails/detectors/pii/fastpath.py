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

import bisect
import logging
from typing import Any

from guardrails.detectors.pii import phones, prefilter
from guardrails.detectors.pii.rescan import inside_rejected

__all__ = ["FastAnalyzer"]

log = logging.getLogger("guardrails.detectors")

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
    from presidio_analyzer import PatternRecognizer
    from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
    from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    owners = {"LemmaContextAwareEnhancer": LemmaContextAwareEnhancer, "PhoneRecognizer": PhoneRecognizer,
              "NlpArtifacts": NlpArtifacts, "SpacyNlpEngine": SpacyNlpEngine, "PatternRecognizer": PatternRecognizer}
    try:
        for qualname, digest in _MIRRORED.items():
            owner, name = qualname.split(".")
            if _source_digest(getattr(owners[owner], name)) != digest:
                return False
    except (OSError, TypeError):  # no source to compare: do not guess
        return False
    return True


class _WindowTokenizer:
    """The pipeline's tokenizer rules over a vocabulary of their own.

    Splitting a text into tokens reads only the rules (special cases,
    prefixes, suffixes, infixes, token and URL matches), never the
    vocabulary, so the tokens are the pipeline's. What differs is the cost
    of a word not seen before, and most PII values are such words: the
    pipeline's vocabulary computes some twenty lexical attributes for each,
    this one only the lower-case form the context walk reads. And it is
    bounded: past `limit` entries it starts afresh.
    """

    def __init__(self, source: Any, limit: int = 200_000):
        self.source, self.limit = source, limit
        self._tokenizer = self._fresh()
        self._base = len(self._tokenizer.vocab)  # the special cases' own entries

    @property
    def learned(self) -> int:
        """Words added to the vocabulary since it was last started afresh."""
        return len(self._tokenizer.vocab) - self._base

    def _fresh(self) -> Any:
        from spacy.attrs import LOWER
        from spacy.tokenizer import Tokenizer
        from spacy.vocab import Vocab

        src = self.source
        tok = Tokenizer(Vocab(lex_attr_getters={LOWER: str.lower}), rules=src.rules, prefix_search=src.prefix_search,
                        suffix_search=src.suffix_search, infix_finditer=src.infix_finditer,
                        token_match=src.token_match, url_match=src.url_match)
        tok.faster_heuristics = src.faster_heuristics
        return tok

    def __call__(self, text: str) -> Any:
        tok = self._tokenizer
        if len(tok.vocab) - self._base > self.limit:
            tok = self._tokenizer = self._fresh()  # a swap: calls under way keep the old one
        return tok(text)


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
        from presidio_analyzer import EntityRecognizer, PatternRecognizer, RecognizerResult
        from presidio_analyzer.nlp_engine import NlpArtifacts
        from presidio_analyzer.pattern_recognizer import REGEX_TIMEOUT_SECONDS

        from guardrails.detectors.pii.presidio import RescanRejected

        self.analyzer = analyzer
        self.language = language
        self.covered = covered
        self.max_length = max_length
        from spacy.attrs import IS_PUNCT, IS_STOP

        self.tokenizer = _WindowTokenizer(tokenizer)
        self._vocab = tokenizer.vocab  # the pipeline's, which set_keywords reads
        getters = self._vocab.lex_attr_getters or {}
        self._is_stop, self._is_punct = getters.get(IS_STOP), getters.get(IS_PUNCT)
        # entity -> [(recognizer, its patterns compiled as Presidio compiles them)]
        self.pattern_recs = {
            e: [(r, [regex.compile(p.regex, flags=r.global_regex_flags) for p in r.patterns]) for r in recs]
            for e, recs in pattern_recs.items()
        }
        self.phone = phone
        if phone is not None:
            self._matcher = phones.phone_matcher_class()
            self._phone_regions = [(r, phones.phone_min_digits(r), phones.phone_validity_check(r))
                                  for r in phone.supported_regions]
        enhancer = analyzer.context_aware_enhancer
        self.prefix = enhancer.context_prefix_count
        self.suffix = enhancer.context_suffix_count
        self.factor = enhancer.context_similarity_factor
        self.min_with_context = enhancer.min_score_with_context_similarity
        self.whole_word = enhancer.context_matching_mode == "whole_word"
        self.by_id = {r.id: r for recs in pattern_recs.values() for r in recs}
        if phone is not None:
            self.by_id[phone.id] = phone
        self._pieces: dict[str, list[str]] = {}
        self._colon_memo: dict[str, list[str]] = {}  # a word holding a colon -> its keyword pieces
        self._context_words: dict[str, tuple[str, ...] | None] = {}  # recognizer id -> lower-cased context
        self._dedupe = EntityRecognizer.remove_duplicates
        self._max_score = EntityRecognizer.MAX_SCORE
        self._min_score = EntityRecognizer.MIN_SCORE
        self._plain_analyze = PatternRecognizer.analyze
        self._rescanning = RescanRejected
        self._regex_timeout = REGEX_TIMEOUT_SECONDS
        self._result = RecognizerResult
        self._id_key = RecognizerResult.RECOGNIZER_IDENTIFIER_KEY
        self._name_key = RecognizerResult.RECOGNIZER_NAME_KEY
        self._boosted_key = RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY
        self._set_keywords = NlpArtifacts.set_keywords

    @classmethod
    def build(cls, analyzer: Any, language: str) -> "FastAnalyzer | None":
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
        recs = [rr for e in entities for rr in self.pattern_recs.get(e, ())]
        if recs:
            names = prefilter.recognizers_that_may_match(text, runs)
            recs = [rr for rr in recs if type(rr[0]).__name__ in names]
        if recs:
            regions = prefilter.regex_regions(text, runs, {type(r).__name__ for r, _ in recs})
            if regions:
                c = prefilter.compact(text, regions)
                for rec, patterns in recs:
                    if any(p.search(c.text) for p in patterns):
                        self._collect(rec, self._run_recognizer(rec, patterns, c.text, entities), c, raw)
        if self.phone is not None and "PHONE_NUMBER" in entities and runs:
            regions = prefilter.phone_regions(text, runs)
            if regions:
                c = prefilter.compact(text, regions)
                self._collect(self.phone, self._phones(c.text), c, raw)
        if not raw:
            return []
        self._enhance(text, raw)
        return self._dedupe([r for r in raw if r.score >= 0])

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
        if base is not self._plain_analyze or not rec.patterns:
            return rec.analyze(text=text, entities=entities, nlp_artifacts=None)
        results = []
        hidden: list = []
        entity = rec.supported_entities[0]
        meta = {self._name_key: rec.name, self._id_key: rec.id}
        validate, invalidate = rec.validate_result, rec.invalidate_result
        for pattern, rx in zip(rec.patterns, compiled):
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
                log.warning("Presidio pattern %r timed out after %s seconds; skipped, as Presidio does",
                            pattern.name, self._regex_timeout)
        results = self._dedupe(results)
        # As RescanRejected.analyze: Presidio's results, then the hidden ones.
        return self._dedupe(results + hidden) if hidden else results

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
        return self._dedupe(results)

    # -- context words
    def _enhance(self, text: str, raw: list) -> None:
        # A result already at the maximum score keeps it whatever the context
        # (the boost is capped there), and the explanation, the only other
        # thing the boost changes, never reaches a Finding: skip it.
        todo = [r for r in raw if self.by_id[r.recognition_metadata[self._id_key]].context
                and not r.recognition_metadata.get(self._boosted_key) and r.score < self._max_score]
        if not todo:
            return
        # A context word supports a result only as part of a keyword, and
        # every keyword is a piece of the lower-cased text. A result none of
        # whose (ASCII) context words occurs in it keeps its score: no
        # tokens needed.
        lowered = text.lower()
        occurs: dict[str, bool] = {}  # per recognizer, not per result: one scan of the text each
        for r in todo:
            rid = r.recognition_metadata[self._id_key]
            if rid not in occurs:
                occurs[rid] = self._context_may_occur(rid, lowered)
        todo = [r for r in todo if occurs[r.recognition_metadata[self._id_key]]]
        if not todo:
            return
        n = len(text)
        extra = self._colon_pieces(text) if ":" in text else set()
        regions = prefilter.merge(
            (prefilter.word_start(text, max(0, r.start - 64)), prefilter.word_end(text, r.start + 1)) for r in todo
        )
        while True:
            c = prefilter.compact(text, regions)
            indices: list[int] = []
            ends: list[int] = []
            lemmas: list[str] = []  # the blank pipeline's lemma is the lower-case text (see _presidio)
            for t in self.tokenizer(c.text):  # one pass: every step builds a Token object
                i = t.idx
                indices.append(i)
                ends.append(i + len(t))
                lemmas.append(t.lower_)
            keywords = set(extra)
            for lemma in set(lemmas):
                keywords.update(self._keyword_pieces(lemma))
            words, grow = [], set()
            for r in todo:
                i = c.locate_original(r.start)
                t0 = bisect.bisect_left(indices, c.starts[i])
                t1 = bisect.bisect_left(indices, c.starts[i] + c.lengths[i])
                # LemmaContextAwareEnhancer._find_index_of_match_token: the
                # first token that ends after the match starts.
                k = bisect.bisect_right(ends, r.start - c.origins[i] + c.starts[i])
                back, left = self._walk(k, -1, t0, self.prefix + 1, lemmas, keywords)
                fwd, right = self._walk(k, 1, t1, self.suffix + 1, lemmas, keywords)
                if left and c.origins[i] > 0:
                    grow.add((i, True))
                if right and c.origins[i] + c.lengths[i] < n:
                    grow.add((i, False))
                words.append(back + fwd)
            if not grow:
                break
            wider = list(regions)
            for i, to_left in grow:
                a, b = wider[i]
                reach = 2 * (b - a) + 64
                wider[i] = (prefilter.word_start(text, max(0, a - reach)) if to_left else a,
                            b if to_left else prefilter.word_end(text, min(n, b + reach)))
            regions = prefilter.merge(wider)
        for r, context in zip(todo, words):
            rec = self.by_id[r.recognition_metadata[self._id_key]]
            if self._supports(set(context), rec.context):
                # LemmaContextAwareEnhancer.enhance_using_context, in its order.
                r.score += self.factor
                r.score = max(r.score, self.min_with_context)
                r.score = min(r.score, self._max_score)

    def _context_may_occur(self, rec_id: str, lowered: str) -> bool:
        words = self._context_words.get(rec_id)
        if words is None:
            ctx = [w.lower() for w in self.by_id[rec_id].context]
            # Only ASCII words: lower() maps a text piece by piece, except
            # for sigma, so an ASCII word in a lower-cased token is in the
            # lower-cased text. Otherwise: no shortcut.
            words = self._context_words[rec_id] = tuple(ctx) if all(w.isascii() for w in ctx) else None
            if words is None:
                return True
        return any(w in lowered for w in words)

    @staticmethod
    def _walk(k: int, step: int, stop: int, want: int, lemmas: list[str], keywords: set[str]):
        """LemmaContextAwareEnhancer._add_n_words within one window; also
        whether it ran out of window before finding `want` words."""
        found = []
        i = k
        while (i >= stop if step < 0 else i < stop) and want > 0:
            lower = lemmas[i].lower()
            if lower in keywords:
                found.append(lower)
                want -= 1
            i += step
        return found, want > 0

    def _supports(self, context: set[str], words: list[str]) -> bool:
        """LemmaContextAwareEnhancer._find_supportive_word_in_context != ""."""
        lowered = [k.lower() for k in context]
        for w in words:
            w = w.lower()
            if self.whole_word:
                if w in lowered:
                    return True
            elif any(w in k for k in lowered):
                return True
        return False

    def _keyword_pieces(self, lemma: str) -> list[str]:
        """What Presidio's NlpArtifacts.set_keywords makes of one lemma (memoised).

        set_keywords asks the pipeline's vocabulary whether the lemma is a
        stop word or punctuation, and a word the vocabulary has not seen is
        added to it, with every lexical attribute computed. For such a word
        the two flags come from the same functions the vocabulary would
        run, and nothing is added."""
        pieces = self._pieces.get(lemma)
        if pieces is None:
            if lemma and lemma not in self._vocab and self._is_stop is not None and self._is_punct is not None:
                keep = not self._is_stop(lemma) and not self._is_punct(lemma) and lemma not in ("-PRON-", "be")
                pieces = lemma.lower().split(":") if keep else []
            else:
                pieces = self._set_keywords(self.analyzer.nlp_engine, [lemma], self.language)
            if len(self._pieces) >= 100_000:
                self._pieces.clear()  # bounded; entries are cheap to recompute
            self._pieces[lemma] = pieces
        return pieces

    def _colon_pieces(self, text: str) -> set[str]:
        """Keyword pieces of every token with a colon, wherever it is in the text.

        Presidio splits keywords at colons, so "the:x" anywhere makes every
        "the" a keyword. Words are split at whitespace, as spaCy does first,
        so each tokenizes alone as it does in the text.
        """
        words = set()
        n = len(text)
        i = text.find(":")
        while i >= 0:
            a = i
            while a > 0 and not text[a - 1].isspace():
                a -= 1
            b = i
            while b < n and not text[b].isspace():
                b += 1
            words.add(text[a:b])
            i = text.find(":", b)
        out: set[str] = set()
        memo = self._colon_memo
        for w in words:
            pieces = memo.get(w)
            if pieces is None:
                pieces = [p for t in self.tokenizer(w) if ":" in t.lower_ for p in self._keyword_pieces(t.lower_)]
                if len(memo) >= 100_000:
                    memo.clear()  # bounded; entries are cheap to recompute
                memo[w] = pieces
            out.update(pieces)
        return out
