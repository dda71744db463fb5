"""PII detection with Presidio, and the fast path in front of it.

- :mod:`.detector` - :class:`PiiDetector` and how one is built;
- :mod:`.fastpath` - Presidio's pattern recognizers run over windows, skipping
  text that cannot hold an entity;
- :mod:`.prefilter`, :mod:`.phone_windows`, :mod:`.phone_validity` - the cheap
  tests the fast path asks first: which windows can hold an entity or a phone
  number, which digit groups no phone region accepts;
- :mod:`.phones` - phonenumbers' matcher, skipping candidates that cannot be valid;
- :mod:`.context` - Presidio's context-word boost, on tokens near the findings;
- :mod:`.urls` - Presidio's URL patterns tried only where a match can start;
- :mod:`.rescan` - the scan inside a candidate that failed its check, which
  both paths run so that it hides no overlapping value;
- :mod:`.presidio` - building Presidio's analyzer offline (imported lazily),
  and the optional recognizers a policy loads by naming their entities;
- :mod:`.allow` - a policy's PII options: allow-lists and the mode;
- :mod:`.strict` - the opt-in strict mode's fixes to Presidio's findings.

Importing this package does not import Presidio.
"""

from __future__ import annotations

from guardrails.detectors.pii.allow import (
    DOMAIN_ENTITIES,
    MODES,
    AllowEntry,
    AllowList,
    PiiOptions,
    valid_domain,
)
from guardrails.detectors.pii.detector import (
    NER_ENTITIES,
    PiiConfig,
    PiiDetector,
    get_pii_detector,
    ner_available,
    optional_entities,
    supported_entities,
)

__all__ = [
    "DOMAIN_ENTITIES", "MODES", "NER_ENTITIES", "AllowEntry", "AllowList", "PiiConfig", "PiiDetector", "PiiOptions",
    "get_pii_detector", "ner_available", "optional_entities", "supported_entities", "valid_domain",
]
