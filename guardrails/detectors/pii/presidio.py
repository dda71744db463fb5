"""Offline building blocks for Presidio. Imported only by ``pii`` when a detector is built.

Presidio's defaults reach for the network in two places: ``SpacyNlpEngine``
downloads a missing spaCy model, and ``EmailRecognizer`` validates domains
with ``tldextract.extract``, which fetches the public suffix list. Both are
replaced here by versions that only ever use what is installed.

The pattern recognizers with a check (Luhn, IBAN checksum, email domain,
...) are also made to scan inside a candidate their check rejects, so that
it cannot hide an overlapping candidate that passes (see :mod:`.rescan`).
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

import regex
import spacy
import tldextract
from presidio_analyzer import (
    AnalyzerEngine,
    EntityRecognizer,
    PatternRecognizer,
    RecognizerRegistry,
    RecognizerResult,
)
from presidio_analyzer.nlp_engine import SpacyNlpEngine
from presidio_analyzer.pattern_recognizer import REGEX_TIMEOUT_SECONDS
from presidio_analyzer.predefined_recognizers import (
    EmailRecognizer,
    IbanRecognizer,
    SpacyRecognizer,
)
from spacy.language import Language

from guardrails.detectors.pii.rescan import inside_rejected
from guardrails.detectors.pii.timeouts import PatternTimeout

_LOWER_LEMMA = "guardlang_lower_lemma"

if not Language.has_factory(_LOWER_LEMMA):

    @Language.component(_LOWER_LEMMA)
    def _lower_lemma(doc: Any) -> Any:
        # A blank pipeline has no lemmatizer, and Presidio's context enhancer
        # compares context words ("ssn", "card") against lemmas; without this
        # every lemma is "" and context never raises a score.
        for token in doc:
            token.lemma_ = token.lower_
        return doc


_tld_lock = threading.Lock()
_tld: tldextract.TLDExtract | None = None


def _offline_tld() -> tldextract.TLDExtract:
    global _tld
    if _tld is None:
        with _tld_lock:
            if _tld is None:
                # No URLs and no cache directory: the suffix list bundled with
                # tldextract is the only source, so nothing is fetched or written.
                _tld = tldextract.TLDExtract(
                    suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True
                )
    return _tld


def public_suffix(host: str) -> str:
    """``host``'s public suffix from the bundled list, or "" when it has none."""
    return _offline_tld()(host).suffix


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's email recognizer, validating domains against the bundled suffix list."""

    def validate_result(self, pattern_text: str) -> bool:
        return _offline_tld()(pattern_text).fqdn != ""


class OfflineSpacyNlpEngine(SpacyNlpEngine):
    """A spaCy NLP engine that never downloads.

    With ``model=None`` it runs ``spacy.blank(language)`` (tokens only, no
    entities). With a model it imports that installed package and calls its
    ``load()``; a missing package is an ``ImportError``, never a download.
    """

    def __init__(self, language: str, model: str | None = None) -> None:
        super().__init__(models=[{"lang_code": language, "model_name": model or f"blank:{language}"}])
        self._language = language
        self._model = model

    def load(self) -> None:
        if self._model is None:
            nlp = spacy.blank(self._language)
            nlp.add_pipe(_LOWER_LEMMA)
        else:
            module = importlib.import_module(self._model)
            nlp = module.load()
        self.nlp = {self._language: nlp}


def build_analyzer(language: str, ner_model: str | None, ner_entities: frozenset[str]) -> AnalyzerEngine:
    """An AnalyzerEngine over Presidio's predefined recognizers, fully offline."""
    nlp_engine = OfflineSpacyNlpEngine(language, ner_model)
    nlp_engine.load()
    registry = RecognizerRegistry(supported_languages=[language])
    registry.load_predefined_recognizers(languages=[language], nlp_engine=nlp_engine)
    _make_offline(registry)
    _rescan_rejected(registry)
    registry.remove_recognizer("SpacyRecognizer")
    if ner_model is not None:
        # Only the entities nothing else detects: DATE_TIME and PHONE_NUMBER
        # keep coming from the pattern recognizers whether or not NER is on.
        registry.add_recognizer(
            SpacyRecognizer(supported_language=language, supported_entities=sorted(ner_entities))
        )
    return AnalyzerEngine(nlp_engine=nlp_engine, registry=registry, supported_languages=[language])


def bound_url_scans(analyzer: AnalyzerEngine) -> None:
    """Give ``analyzer``'s URL recognizers the linear scan of :mod:`.urls`.

    Presidio's loop calls ``finditer`` on each pattern's compiled regex; the
    recognizer gets copies of its patterns whose compiled regex is a
    :class:`~guardrails.detectors.pii.urls.BoundedUrlPattern`, with the same
    matches. Copies, because Presidio's recognizers share their class's
    pattern objects with every other instance (a reference analyzer built
    beside this one keeps the plain regexes). A recognizer whose patterns
    are not of the URL shape is left as it is.
    """
    import copy

    from guardrails.detectors.pii.urls import BoundedUrlPattern, UrlScan

    for rec in analyzer.registry.recognizers:
        if type(rec).__name__ != "UrlRecognizer" or not getattr(rec, "patterns", None):
            continue
        scan = UrlScan.build(rec.patterns, rec.global_regex_flags)
        if scan is None:
            continue
        patterns = [copy.copy(p) for p in rec.patterns]
        for i, p in enumerate(patterns):
            p.compiled_regex = BoundedUrlPattern(scan, i)
            p.compiled_with_flags = rec.global_regex_flags
        rec.patterns = patterns


def optional_recognizers(language: str) -> dict[str, type]:
    """Presidio's predefined pattern recognizers that its default registry
    leaves out for ``language`` (other countries' ids, disabled ones), by the
    one entity each finds. A policy loads one only by naming its entity.

    Recognizers of an entity the default registry already has are left out
    (South Africa's phone numbers: ``PHONE_NUMBER`` stays one recognizer).
    """
    from presidio_analyzer import predefined_recognizers as predefined

    default = pattern_entities(language) | {"PHONE_NUMBER"}
    found: dict[str, type] = {}
    for name in sorted(predefined.__all__):
        cls = getattr(predefined, name)
        if not (isinstance(cls, type) and issubclass(cls, PatternRecognizer)) or cls is PatternRecognizer:
            continue
        try:
            rec = cls(supported_language=language)
        except Exception:  # noqa: BLE001, S112 - a recognizer that cannot be built is not offered
            continue
        entities = rec.supported_entities
        if len(entities) == 1 and entities[0] not in default and rec.patterns:
            found.setdefault(entities[0], cls)
    return found


def build_optional_analyzer(base: AnalyzerEngine, language: str, entities: frozenset[str]) -> AnalyzerEngine:
    """An analyzer over the optional recognizers of ``entities`` alone,
    sharing ``base``'s NLP engine. Its results are exactly those a registry
    holding them beside the defaults would give for these entities: Presidio
    removes duplicates and boosts context one entity type at a time."""
    classes = optional_recognizers(language)
    registry = RecognizerRegistry(supported_languages=[language])
    for entity in sorted(entities):
        registry.add_recognizer(classes[entity](supported_language=language))
    _rescan_rejected(registry)
    return AnalyzerEngine(nlp_engine=base.nlp_engine, registry=registry, supported_languages=[language])


def pattern_entities(language: str) -> frozenset[str]:
    """Entities the predefined non-NER recognizers give for ``language``."""
    registry = RecognizerRegistry(supported_languages=[language])
    registry.load_predefined_recognizers(languages=[language])
    return frozenset(
        entity
        for rec in registry.recognizers
        if not isinstance(rec, SpacyRecognizer) and rec.supported_language == language
        for entity in rec.supported_entities
    )


def _make_offline(registry: RecognizerRegistry) -> None:
    for rec in list(registry.recognizers):
        if type(rec) is EmailRecognizer:
            registry.recognizers.remove(rec)
            offline = OfflineEmailRecognizer(
                supported_language=rec.supported_language,
                context=rec.context or None,
                supported_entity=rec.supported_entities[0],
                name=rec.name,
            )
            offline.global_regex_flags = rec.global_regex_flags
            registry.add_recognizer(offline)
    leftover = [r.name for r in registry.recognizers if type(r) is EmailRecognizer]
    assert not leftover, "online EmailRecognizer still registered"


class RescanRejected:
    """A pattern recognizer whose rejected candidates do not hide overlapping ones.

    Mixed into a ``PatternRecognizer`` subclass that has a check
    (``validate_result`` or ``invalidate_result``) and Presidio's own
    ``analyze`` loop (see :func:`_rescanning_class`). ``analyze`` returns what
    that loop returns, plus what
    :func:`~guardrails.detectors.pii.rescan.inside_rejected` finds inside each
    candidate the check rejected. The fast path runs the same loop and the
    same rescan (``FastAnalyzer._run_recognizer``).
    """

    __slots__ = ()

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None,
                regex_flags: int | None = None) -> list:
        results = self._rescan_base(text, entities, nlp_artifacts, regex_flags)  # type: ignore[attr-defined]
        flags = self._rescan_flags(regex_flags)
        accepted = self._rescan_accepted(results)
        hidden: list = []
        for pattern in self.patterns:  # type: ignore[attr-defined]
            rx = regex.compile(pattern.regex, flags=flags)

            def judge(m: Any, pattern: Any = pattern) -> Any:
                return self.judge_candidate(pattern, text, m, flags)

            try:
                # Presidio's scan again, to find the candidates it rejected.
                for m in rx.finditer(text, timeout=REGEX_TIMEOUT_SECONDS):
                    a, b = m.span()
                    if a < b and self._rescan_key(m) not in accepted and judge(m) is None:
                        hidden.extend(inside_rejected(rx, text, a, b, judge, REGEX_TIMEOUT_SECONDS))
            except TimeoutError:
                # Presidio logs and skips the pattern; here the check fails (see .timeouts).
                raise PatternTimeout(pattern.name, REGEX_TIMEOUT_SECONDS) from None
        return self._rescan_merge(results, hidden) if hidden else results

    def judge_candidate(self, pattern: Any, text: str, m: Any, flags: int) -> Any:
        """The result Presidio's loop makes of match ``m``, or None where it rejects it."""
        start, end = m.span()
        current = text[start:end]
        score = pattern.score
        valid = self.validate_result(current)  # type: ignore[attr-defined]
        if valid is not None:
            score = EntityRecognizer.MAX_SCORE if valid else EntityRecognizer.MIN_SCORE
        if self.invalidate_result(current):  # type: ignore[attr-defined]
            score = EntityRecognizer.MIN_SCORE
        if score <= EntityRecognizer.MIN_SCORE:
            return None
        return self._rescan_result(pattern, start, end, score, valid, flags)

    def _rescan_result(self, pattern: Any, start: int, end: int, score: float, valid: bool | None, flags: int) -> Any:
        # With an explanation, as Presidio's loop makes it: the context
        # enhancer writes to it.
        explanation = PatternRecognizer.build_regex_explanation(
            self.name, pattern.name, pattern.regex, score, valid, flags)  # type: ignore[attr-defined]
        return RecognizerResult(
            entity_type=self.supported_entities[0],  # type: ignore[attr-defined]
            start=start, end=end, score=score, analysis_explanation=explanation,
            recognition_metadata={RecognizerResult.RECOGNIZER_NAME_KEY: self.name,  # type: ignore[attr-defined]
                                  RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id})  # type: ignore[attr-defined]

    def _rescan_flags(self, regex_flags: int | None) -> int:
        return regex_flags if regex_flags else self.global_regex_flags  # type: ignore[attr-defined]

    def _rescan_accepted(self, results: list) -> set:
        # A check reads only the candidate's text, so a span some pattern
        # accepted is one every pattern accepts, unless a pattern's own score
        # is already the minimum: then judge every candidate.
        if any(p.score <= EntityRecognizer.MIN_SCORE for p in self.patterns):  # type: ignore[attr-defined]
            return set()
        return {(r.start, r.end) for r in results}

    @staticmethod
    def _rescan_key(m: Any) -> Any:
        return m.span()

    @staticmethod
    def _rescan_merge(results: list, hidden: list) -> list:
        return EntityRecognizer.remove_duplicates(results + hidden)


class RescanRejectedIban(RescanRejected):
    """:class:`RescanRejected` for ``IbanRecognizer``, whose loop is its own.

    For each candidate, IBAN's loop tries the match without its optional
    trailing groups, longest first, and keeps the first that passes the
    checksum; a candidate none of whose forms passes is rejected. It always
    scans with the recognizer's own flags and does not remove duplicates.
    """

    __slots__ = ()

    def judge_candidate(self, pattern: Any, text: str, m: Any, flags: int) -> Any:
        start = m.start()
        for group in reversed(range(1, len(m.groups()) + 1)):
            end = m.span(group)[1] if m.span(group)[1] > 0 else m.end()
            current = text[start:end]
            if current == "":
                continue
            score = pattern.score
            valid = self.validate_result(current)  # type: ignore[attr-defined]
            if valid is not None:
                score = EntityRecognizer.MAX_SCORE if valid else EntityRecognizer.MIN_SCORE
            if score > EntityRecognizer.MIN_SCORE:
                return self._rescan_result(pattern, start, end, score, valid, flags)
        return None

    def _rescan_flags(self, regex_flags: int | None) -> int:
        return self.global_regex_flags  # type: ignore[attr-defined]

    def _rescan_accepted(self, results: list) -> set:
        if len(self.patterns) != 1:  # type: ignore[attr-defined]
            return set()
        return {r.start for r in results}  # one result at most per candidate, at its start

    @staticmethod
    def _rescan_key(m: Any) -> Any:
        return m.start()

    @staticmethod
    def _rescan_merge(results: list, hidden: list) -> list:
        return results + hidden


_rescanning: dict[type, type | None] = {}


def _rescanning_class(cls: type) -> type | None:
    """``cls`` with :class:`RescanRejected` mixed in; None if it has no check or its own loop."""
    if cls not in _rescanning:
        if issubclass(cls, IbanRecognizer) and cls.analyze is IbanRecognizer.analyze:
            mixin: type | None = RescanRejectedIban
        elif issubclass(cls, PatternRecognizer) and cls.analyze is PatternRecognizer.analyze and (
                cls.validate_result is not PatternRecognizer.validate_result
                or cls.invalidate_result is not PatternRecognizer.invalidate_result):
            mixin = RescanRejected
        else:
            mixin = None
        # The class keeps its name (the prefilter's tables know recognizers by
        # it) and comes first among the bases, so that an instance's class
        # can be swapped for this one; `analyze` is the mixin's, over the
        # class's own.
        _rescanning[cls] = type(cls.__name__, (cls, mixin), {
            "__module__": __name__, "__slots__": (), "analyze": mixin.analyze, "_rescan_base": cls.analyze,
        }) if mixin else None
    return _rescanning[cls]


def _rescan_rejected(registry: RecognizerRegistry) -> None:
    for rec in registry.recognizers:
        cls = _rescanning_class(type(rec))
        if cls is not None and rec.patterns:
            rec.__class__ = cls
