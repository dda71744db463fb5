"""PII: this engine's redaction against Presidio's AnalyzerEngine + AnonymizerEngine.

Both sides detect the same entity types with the same recognizers: the
Presidio side is built by the same offline builder the engine uses (blank
spaCy pipeline, the predefined pattern recognizers, offline email
validation), then called directly: ``analyze(score_threshold=0.3)`` and
``anonymize`` with the ``replace`` operator, which writes ``<ENTITY>`` as
the policy's ``replace("<{entity}>")`` does.

The engine runs with a one-entry detector cache and every text is used
once, so the cache never answers. Three classes of text (see CLASSES) at
100 B, 1 KB and 10 KB; the two sides alternate text by text, in an order
drawn at random for each text, over several repetitions with new texts.
"""

from __future__ import annotations

import random

from ..data import numbers_text, pii_text, prose
from ..harness import Context, SectionResult, measure, section

MIN_SCORE = 0.3  # the policy language's default for `redact <entities>`


def _policy(entities: list[str]) -> str:
    return f"""
policy "bench-pii" version "1.0.0"
entities everything = [{", ".join(entities)}]
input {{
  rule redact-pii: redact everything using replace("<{{entity}}>")
}}
"""


class Presidio:
    """Presidio called directly, built as the engine builds it."""

    def __init__(self, entities: list[str]):
        from presidio_anonymizer import AnonymizerEngine
        from presidio_anonymizer.entities import OperatorConfig

        from guardrails.detectors import NER_ENTITIES
        from guardrails.detectors.pii.presidio import build_analyzer

        self.analyzer = build_analyzer("en", None, NER_ENTITIES)
        self.anonymizer = AnonymizerEngine()
        self.entities = entities
        self.operators = {"DEFAULT": OperatorConfig("replace")}
        self.recognizers = sorted({r.name for r in self.analyzer.registry.recognizers})

    def redact(self, text: str):
        results = self.analyzer.analyze(text=text, language="en", entities=self.entities, score_threshold=MIN_SCORE)
        return results, self.anonymizer.anonymize(text=text, analyzer_results=results, operators=self.operators).text


CLASSES = {
    "clean": "everyday prose, now and then a 1-2 digit number",
    "numbers": "the same prose with about one everyday number per 50 characters: years, prices, dates, "
               "times, order numbers (dates are DATE_TIME to both sides)",
    "PII": "the same prose with emails, phone numbers, card numbers, SSNs, IBANs, IP addresses and URLs, "
           "each after a context word (1 per 100 B text, 3 per 1 KB, 10 per 10 KB)",
}
GOALS = {"clean": 15.0, "numbers": 10.0, "PII": 5.0}  # issue 16's goals
PII_PER_TEXT = {100: 1, 1_000: 3, 10_000: 10}


def make_text(rnd: random.Random, size: int, label: str) -> str:
    if label == "clean":
        return prose(rnd, size)
    if label == "numbers":
        return numbers_text(rnd, size)
    return pii_text(rnd, size, PII_PER_TEXT[size])


@section("pii", "PII redaction vs Presidio (AnalyzerEngine + AnonymizerEngine)")
def run(ctx: Context, res: SectionResult) -> None:
    from guardrails import Engine
    from guardrails.detectors import PiiConfig, get_pii_detector

    entities = sorted(get_pii_detector(PiiConfig()).supported)
    engine = Engine.from_source(_policy(entities), cache_size=1)
    presidio = Presidio(entities)
    rnd = random.Random(ctx.seed)
    reps = ctx.pick(2, 5, 5)
    per_rep = {100: ctx.pick(3, 20, 60), 1_000: ctx.pick(2, 8, 30), 10_000: ctx.pick(1, 2, 10)}
    same_spans = same_text = total = 0
    for size, n in per_rep.items():
        for label in CLASSES:
            # Warm both sides on texts of this shape (not timed), as a running
            # service is: its tokenizers have met everyday words.
            for w in [make_text(rnd, size, label) for _ in range(ctx.pick(2, 10, 20))]:
                engine.check_input(w)
                presidio.redact(w)
            texts = [[make_text(rnd, size, label) for _ in range(n)] for _ in range(reps)]
            m = measure([engine.check_input, presidio.redact], lambda rep, t=texts: [t[rep], t[rep]], reps, rnd,
                        keep=True)
            res.rows.append(m.row(f"{_size(size)} {label} text", "presidio", goal=GOALS[label],
                                  note=f"{n} distinct texts x {reps} repetitions"))
            for t, d, (results, redacted) in zip([t for rep in texts for t in rep], m.results_of(0), m.results_of(1)):
                ours_spans = {(s.start, s.end, s.entity, s.score) for v in d.violations for s in v.spans}
                theirs = {(r.start, r.end, r.entity_type, round(r.score, 4)) for r in results}
                total += 1
                same_spans += ours_spans == theirs
                same_text += d.text == redacted
    res.check("identical spans (start, end, entity, score) on every text", same_spans == total)
    res.notes.append(f"spans identical on {same_spans}/{total} texts; redacted text identical on {same_text}/{total} "
                     "(Presidio's anonymizer resolves overlapping spans its own way; the spans are the contract)")
    for label, what in CLASSES.items():
        res.notes.append(f"{label} = {what}")
    res.notes.append(f"entities, both sides: {', '.join(entities)}; recognizers, both sides: "
                     + ", ".join(presidio.recognizers))
    res.notes.append("engine: cache_size=1 and every text distinct, so no cached answer is ever used; "
                     "the two sides alternate text by text, in an order drawn at random for each text")
    res.extra["entities"] = entities
    res.extra["recognizers"] = presidio.recognizers


def _size(n: int) -> str:
    return f"{n // 1000} KB" if n >= 1000 else f"{n} B"
