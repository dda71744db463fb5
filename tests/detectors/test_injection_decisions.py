"""injection() decides the injection corpora exactly as it did when the
figures in docs/injection.md were measured.

A speed-up of the normaliser, the signals or the model must not move a
single score: the digest covers every text's combined score, its heuristic
and model parts and every finding (span, signal, score), bit for bit. A
change meant to move decisions (new signals, a retrained model) updates
DIGEST here and the figures in docs/injection.md in the same commit.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from guardrails.detectors.injection import InjectionDetector

CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "injection"
DIGEST = "4809e9e20129a1bc6169c5dd65aa67b457ad5c9528cb475e5ad13b4cf599d3e7"


def test_the_injection_corpora_are_scored_exactly_as_before() -> None:
    detector = InjectionDetector()
    h = hashlib.sha256()
    n = 0
    for name in ("train.jsonl", "heldout.jsonl"):
        for line in (CORPUS / name).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            r = detector.scan(json.loads(line)["text"])
            findings = [(f.start, f.end, f.entity, f.score) for f in r.findings]
            h.update(repr((r.score, r.heuristic, r.model, findings)).encode())
            n += 1
    assert n == 7425
    assert h.hexdigest() == DIGEST
