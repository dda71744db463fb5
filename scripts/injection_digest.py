"""One digest of every ``injection()`` result a speed change must not move.

    .venv/bin/python scripts/injection_digest.py [--fast] [--lines FILE]

Hashes, for every text of both corpus files (``corpus/injection/train.jsonl`` and
``heldout.jsonl``) and of the benchmark's five rows (made as
``scripts/injection_cost.py`` makes them, seeds 11 to 30: 400 texts of 100 B, 200 of
1 KB, 40 of 10 KB, 200 of 1 KB of the corpus and 40 of 10 KB), the detector's
combined score, its heuristic and model parts and every finding (span, entity,
score), ``repr``'d, so a change of one bit in any of them changes the digest. The
pure-Python path runs by default; ``--fast`` runs with the compiled matcher
(Hyperscan) when it is installed. ``--lines FILE`` writes one line per text too,
to find which text moved.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


def all_texts() -> list[tuple[str, str]]:
    """``(where, text)`` for every text the digest covers, in a fixed order."""
    from injection_cost import ROWS, texts

    out = []
    for name in ("train.jsonl", "heldout.jsonl"):
        for k, line in enumerate((ROOT / "corpus" / "injection" / name).read_text(encoding="utf-8").splitlines()):
            if line.strip():
                out.append((f"{name}:{k}", json.loads(line)["text"]))
    for row in ROWS:
        for seed in range(11, 31):
            for k, t in enumerate(texts(row, seed)):
                out.append((f"{row}:{seed}:{k}", t))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="with the compiled matcher, when installed")
    ap.add_argument("--lines", type=Path)
    args = ap.parse_args()
    from guardrails.detectors.injection import InjectionDetector, accel

    detector = InjectionDetector()  # registers the patterns, then starts the matcher's compile
    if args.fast:
        accel.prepare(wait=True)
    else:
        accel.set_enabled(False)
    h = hashlib.sha256()
    lines = []
    items = all_texts()
    for where, text in items:
        r = detector.scan(text)
        line = repr((r.score, r.heuristic, r.model, [(f.start, f.end, f.entity, f.score) for f in r.findings]))
        h.update(line.encode())
        if args.lines:
            lines.append(f"{where}\t{line}")
    if args.lines:
        args.lines.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path = "compiled matcher" if args.fast and accel.available() else "pure Python"
    print(f"{h.hexdigest()}  {len(items)} texts, {path}")


if __name__ == "__main__":
    main()
