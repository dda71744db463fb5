"""Detectors: the leaf checks that policies call on text.

Each detector is built once at policy compile time and called many times per
request; all run locally (no network, no model downloads). Importing this
package is cheap: Presidio, spaCy and presidio-anonymizer load only when a
PII detector or a redaction is first used.

- :mod:`.normalize` - evasion-resistant normalisation with an offset map
- :mod:`.terms`, :mod:`.topics` - policy term lists and weighted topics
- :mod:`.regexes` - policy regexes with a time limit
- :mod:`.secrets` - credentials and keys
- :mod:`.injection` - prompt injection: heuristic signals and a small model
  (the model and numpy load on first use)
- :mod:`.pii` - Presidio PII entities
- :mod:`.redact` - merging and applying redactions
- :mod:`.cache` - a per-text memo of detector results
"""

from __future__ import annotations

from guardrails.detectors.base import DetectorError, Finding
from guardrails.detectors.cache import DetectorCache
from guardrails.detectors.injection import InjectionDetector, InjectionResult
from guardrails.detectors.normalize import NormalizedText, normalize
from guardrails.detectors.pii.detector import (
    NER_ENTITIES,
    PiiConfig,
    PiiDetector,
    get_pii_detector,
    ner_available,
    supported_entities,
)
from guardrails.detectors.redact import (
    OPERATOR_RANK,
    Redaction,
    apply_redactions,
    merge_redactions,
    validate_template,
)
from guardrails.detectors.regexes import DEFAULT_TIMEOUT_S, RegexSyntaxError, SafeRegex
from guardrails.detectors.secrets import SECRET_KINDS, SecretScanner
from guardrails.detectors.terms import TermMatcher
from guardrails.detectors.topics import TopicClassifier, TopicResult, TopicScorer

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "NER_ENTITIES",
    "OPERATOR_RANK",
    "SECRET_KINDS",
    "DetectorCache",
    "DetectorError",
    "Finding",
    "InjectionDetector",
    "InjectionResult",
    "NormalizedText",
    "PiiConfig",
    "PiiDetector",
    "Redaction",
    "RegexSyntaxError",
    "SafeRegex",
    "SecretScanner",
    "TermMatcher",
    "TopicClassifier",
    "TopicResult",
    "TopicScorer",
    "apply_redactions",
    "get_pii_detector",
    "merge_redactions",
    "ner_available",
    "normalize",
    "supported_entities",
    "validate_template",
]
