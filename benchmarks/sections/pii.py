"""PII: this engine's redaction against Presidio's AnalyzerEngine + AnonymizerEngine.

Both sides detect the same entity types with the same recognizers: the
Presidio side is built by the same offline builder the engine uses (blank
spaCy pipeline, the predefined pattern recognizers, offline email
validation), then called directly: ``analyze(score_threshold=0.3)`` and
``anonymize`` with the ``replace`` operator, which writes ``<ENTITY>`` as
the policy's ``replace("<{entity}>")`` does.

The engine runs with a one-entry detector cache and every text is used
once, so the cache never answers.
"""

from __future__ import annotations

import random

from ..data import pii_text, prose
from ..harness import Context, Row, SectionResult, section, time_pair

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

    def redact(self, text: str):
        results = self.analyzer.analyze(text=text, language="en", entities=self.entities, score_threshold=MIN_SCORE)
        return results, self.anonymizer.anonymize(text=text, analyzer_results=results, operators=self.operators).text


@section("pii", "PII redaction vs Presidio (AnalyzerEngine + AnonymizerEngine)")
def run(ctx: Context, res: SectionResult) -> None:
    from guardrails import Engine
    from guardrails.detectors import PiiConfig, get_pii_detector

    entities = sorted(get_pii_detector(PiiConfig()).supported)
    engine = Engine.from_source(_policy(entities), cache_size=1)
    presidio = Presidio(entities)
    rnd = random.Random(ctx.seed)
    counts = {100: ctx.pick(4, 60, 200), 1_000: ctx.pick(3, 40, 150), 10_000: ctx.pick(2, 12, 50)}
    pii_per_text = {100: 1, 1_000: 3, 10_000: 10}
    same_spans = same_text = total = 0
    for size, n in counts.items():
        for label, make in (("clean", lambda: prose(rnd, size)),
                            ("PII", lambda: pii_text(rnd, size, pii_per_text[size]))):
            texts = [make() for _ in range(n)]
            # Warm both sides on the same texts of this shape (not timed), as
            # a running service is: its tokenizers have met everyday words.
            for w in [make() for _ in range(ctx.pick(2, 30, 30))]:
                engine.check_input(w)
                presidio.redact(w)
            ours, peer = time_pair(engine.check_input, presidio.redact, texts)
            goal = 10.0 if label == "clean" else 3.0
            res.rows.append(Row(f"{_size(size)} {label} text", ours, "presidio", peer, goal=goal,
                                note=f"{n} distinct texts" + ("" if label == "clean" else
                                                              f", {pii_per_text[size]} PII values each")))
            for t in texts:
                d = engine.check_input(t)
                results, redacted = presidio.redact(t)
                ours_spans = {(s.start, s.end, s.entity, s.score) for v in d.violations for s in v.spans}
                theirs = {(r.start, r.end, r.entity_type, round(r.score, 4)) for r in results}
                total += 1
                same_spans += ours_spans == theirs
                same_text += d.text == redacted
    res.check("identical spans (start, end, entity, score) on every text", same_spans == total)
    res.notes.append(f"spans identical on {same_spans}/{total} texts; redacted text identical on {same_text}/{total} "
                     "(Presidio's anonymizer resolves overlapping spans its own way; the spans are the contract)")
    res.notes.append("clean = everyday prose, now and then a 1-2 digit number; PII = the same prose with emails, "
                     "phone numbers, card numbers, SSNs, IBANs, IP addresses and URLs, each after a context word")
    res.notes.append("engine: cache_size=1 and every text distinct, so no cached answer is ever used")


def _size(n: int) -> str:
    return f"{n // 1000} KB" if n >= 1000 else f"{n} B"
