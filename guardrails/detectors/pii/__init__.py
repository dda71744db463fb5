"""PII detection with Presidio, and the fast path in front of it.

- :mod:`.detector` - :class:`PiiDetector` and how one is built;
- :mod:`.fastpath` - Presidio's pattern recognizers run over windows, skipping
  text that cannot hold an entity;
- :mod:`.prefilter`, :mod:`.phone_windows`, :mod:`.phone_validity` - the cheap
  tests the fast path asks first: which windows can hold an entity or a phone
  number, which digit groups no phone region accepts;
- :mod:`.phones` - phonenumbers' matcher, skipping candidates that cannot be valid;
- :mod:`.context` - Presidio's context-word boost, on tokens near the findings;
- :mod:`.rescan` - the scan inside a candidate that failed its check, which
  both paths run so that it hides no overlapping value;
- :mod:`.presidio` - building Presidio's analyzer offline (imported lazily).

Importing this package does not import Presidio.
"""

from __future__ import annotations

from guardrails.detectors.pii.detector import (
    NER_ENTITIES,
    PiiConfig,
    PiiDetector,
    get_pii_detector,
    ner_available,
    supported_entities,
)

__all__ = ["NER_ENTITIES", "PiiConfig", "PiiDetector", "get_pii_detector", "ner_available", "supported_entities"]
