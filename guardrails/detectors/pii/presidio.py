"""Offline building blocks for Presidio. Imported only by ``pii`` when a detector is built.

Presidio's defaults reach for the network in two places: ``SpacyNlpEngine``
downloads a missing spaCy model, and ``EmailRecognizer`` validates domains
with ``tldextract.extract``, which fetches the public suffix list. Both are
replaced here by versions that only ever use what is installed.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

import spacy
import tldextract
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.nlp_engine import SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import EmailRecognizer, SpacyRecognizer
from spacy.language import Language

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
    registry.remove_recognizer("SpacyRecognizer")
    if ner_model is not None:
        # Only the entities nothing else detects: DATE_TIME and PHONE_NUMBER
        # keep coming from the pattern recognizers whether or not NER is on.
        registry.add_recognizer(
            SpacyRecognizer(supported_language=language, supported_entities=sorted(ner_entities))
        )
    return AnalyzerEngine(nlp_engine=nlp_engine, registry=registry, supported_languages=[language])


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
