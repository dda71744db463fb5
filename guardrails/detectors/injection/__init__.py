"""Prompt injection: heuristic signals and a small learned model, combined.

:class:`InjectionDetector` scores a text in [0, 1] with two independent
views of it:

* the heuristic signals of :mod:`.signals` (instruction overrides, role-play
  framings, spoofed structure, hidden carriers, encoded payloads, ...), each
  with a span, folded into one score ``h`` by ``signals.heuristic_score``;
* the learned model of :mod:`.model` (hashed word and character n-grams,
  logistic regression, trained by ``scripts/train_injection.py``), whose
  probability is ``m``.

The combined score is a noisy OR, ``1 - (1 - h) * (1 - m)``: the text is
an injection unless both views miss it. Each view catches what the other
cannot: the signals see structure (a hidden HTML comment, a base64 payload,
a chat-template token) and the model sees paraphrases no pattern foresaw.
The score is never below the stronger view, so neither can veto the other.
That matters because each fails in its own way. A log-odds sum, which lets
a confident "benign" model outweigh a signal, was measured against it on the
held-back split and did worse at every false-positive rate once the signals
discounted quoted attacks (``corpus/injection/README.md`` has both tables).

Each signal that fired becomes a :class:`~guardrails.detectors.base.Finding`
named ``INJECTION_<SIGNAL>`` (``override`` -> ``INJECTION_OVERRIDE``) over its
span of the original text, so a decision names which signals fired and
where. When the model is confident (``m >= 0.5``) a finding
``INJECTION_MODEL`` covers the whole text, so a decision the model made is
named too.

Named thresholds (:data:`LEVELS`) are what ``injected(possible)``,
``injected(likely)`` and ``injected(certain)`` test in a policy.

The model view can be replaced by an opt-in backend the user has (see
:mod:`.backends`): ``InjectionDetector(backend)``; the engine takes it as
``injection_model`` and folds its digest into the policy digest.

Cost: the text is normalised once, for both views; the signals run only where
their trigger words occur (:mod:`.triggers`), and the model is a fixed number of
numpy calls whatever the length (``model.window_max``). Both always run, so a
decision names every view that fired: the score could stop at a certain
heuristic verdict, but the model's finding and the held-back report need ``m``.

Importing this package is cheap: the signals and the model (numpy) load on
first use, and the model at most once per process (``load_model`` caches it).
A failure of either raises :class:`DetectorError`, so a policy that fails
closed denies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guardrails.detectors.base import DetectorError, Finding

if TYPE_CHECKING:
    from guardrails.detectors.normalize import NormalizedText

__all__ = [
    "LEVELS",
    "MODEL_ENTITY",
    "MODEL_REPORTED_FROM",
    "InjectionDetector",
    "InjectionResult",
    "combine_scores",
    "entity_of",
    "markdown_table",
]

#: Named thresholds on the combined score, loosest first. ``possible``: the
#: model's own cross-validated boundary. ``likely`` and ``certain``: the lowest
#: scores above it (in steps of 0.05) at which the combined score flags at most
#: 1% and at most 0.2% of the training split's benign texts, each text scored
#: by a model that never saw its template (4-fold cross-validation; the final
#: model has seen every training text). ``scripts/train_injection.py --levels``
#: computes them and records them in ``levels.json`` with the weights' and the
#: signals' digests; a test fails when that record no longer matches.
#: ``likely`` is the operating point the example policies use.
LEVELS: dict[str, float] = {"possible": 0.5, "likely": 0.8, "certain": 0.9}

#: Where the training script records the levels and what they were computed on.
LEVELS_PATH = Path(__file__).with_name("levels.json")

#: The finding that names the model when it is confident.
MODEL_ENTITY = "INJECTION_MODEL"
MODEL_REPORTED_FROM = 0.5


def calibration_digest() -> str:
    """What the levels depend on besides the weights: the signals' sources
    and the combining rule, so changing either asks for a recalibration."""
    import hashlib
    import inspect

    here = Path(__file__).parent
    h = hashlib.sha256()
    for name in ("signals.py", "phrases.py", "triggers.py", "carriers.py"):
        h.update((here / name).read_bytes())
    h.update(inspect.getsource(combine_scores).encode())
    return h.hexdigest()


def entity_of(signal: str) -> str:
    """A signal's finding name: ``spoofed-system`` -> ``INJECTION_SPOOFED_SYSTEM``."""
    return "INJECTION_" + signal.upper().replace("-", "_")


def combine_scores(heuristic: float, model: float) -> float:
    """The noisy OR of the two views (see the module docstring): ``1 - (1 - h) * (1 - m)``,
    written so that either view alone comes back exactly. The log-odds rule
    ``sigmoid(logit(m) + max(0, logit(h)))`` was measured against it on the
    held-back split with the retrained model and flagged fewer attacks at every
    false-positive rate (figures in corpus/injection/README.md), so the noisy OR ships."""
    return heuristic + model * (1.0 - heuristic)


def markdown_table() -> str:
    """The signal table of ``docs/language.md``, generated from ``signals.SIGNALS``."""
    from guardrails.detectors.injection.signals import SIGNALS

    rows = ["| signal | span | what it detects |", "| --- | --- | --- |"]
    for name, description in SIGNALS.items():
        rows.append(f"| `{name}` | `{entity_of(name)}` | {description.replace('|', chr(92) + '|')} |")
    return "\n".join(rows) + "\n"


@dataclass(frozen=True, slots=True)
class InjectionResult:
    """One text's score, its two parts, and the findings that explain it."""

    score: float
    heuristic: float
    model: float
    findings: tuple[Finding, ...]


class InjectionDetector:
    """Signals plus model. Built at policy compile time; `scan` per text."""

    def __init__(self, model: Any = None):
        # `model` is a backend (`backends.InjectionBackend`: `score(text) -> float`
        # and `digest`); None loads the shipped one (once per process).
        if model is not None:
            from guardrails.detectors.injection.backends import check_backend

            check_backend(model)
            self._score_folded = None  # a backend reads the text as it is
        else:
            try:
                from guardrails.detectors.injection.model import load_model

                model = load_model()
            except Exception as exc:  # noqa: BLE001 - any failure to load is a load error
                raise DetectorError(f"the injection model could not be loaded: {type(exc).__name__}: {exc}") from None
            # The shipped model reads the normalised text the signals read too
            # (a stand-in put in load_model's place may only have score()).
            self._score_folded = getattr(model, "score_normalized", None)
        self.model = model
        self.digest: str = str(model.digest)
        # The signals load with the detector (at policy compile time), not per scan:
        # an import statement costs a lookup even when the module is loaded.
        # (the module, not the function: a test may replace normalize there)
        from importlib import import_module

        from guardrails.detectors.injection import accel, signals

        self._signals, self._normalize = signals, import_module("guardrails.detectors.normalize")
        # The optional compiled matcher (the `fast` extra) starts compiling with the
        # policy, in the background: about a second, once per process.
        accel.prepare()

    def scan(self, text: str, norm: NormalizedText | None = None) -> InjectionResult:
        """Score ``text``. ``norm`` is ``normalize(text)`` when the caller has it
        already (an engine that normalises once for every detector of a request)."""
        try:
            if norm is None:
                norm = self._normalize.normalize(text)  # once, for the signals and the shipped model alike
            signals = self._signals.scan(text, norm)
            h = float(self._signals.heuristic_score(signals))
            folded = self._score_folded
            m = float(folded(norm.text) if folded is not None else self.model.score(text))
        except DetectorError:
            raise
        except Exception as exc:  # noqa: BLE001 - fail closed: any failure is a detector error
            raise DetectorError(f"injection detector failed: {type(exc).__name__}") from None
        if not (0.0 <= h <= 1.0 and 0.0 <= m <= 1.0) or math.isnan(h) or math.isnan(m):
            raise DetectorError("injection detector returned a score outside [0, 1]")
        findings = [Finding(s.start, s.end, entity_of(s.name), float(s.score)) for s in signals]
        if m >= MODEL_REPORTED_FROM:
            findings.append(Finding(0, len(text), MODEL_ENTITY, m))
        return InjectionResult(combine_scores(h, m), h, m, tuple(findings))
