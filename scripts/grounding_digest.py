"""A digest of every grounding result, to show that a speed change left
them as they were.

    python scripts/grounding_digest.py [--tree PATH] [--verbose]

Runs check_grounding in both modes (default and strict=True) on every case
of the development splits (tests/grounding/dev*.yaml; a held-out split is
never read) and on the benchmark's generated answers (restating and with a
figure changed, benchmarks/sections/grounding.py), and analyses every
source text and every answer as a source (passages.analyse: each passage's
stems, quantities and polarity; plain() and polarity() of each
sentence; find_quantities() of the whole text, as a claim's are found). Prints one SHA-256 per part and one over
all. Run it in two trees (``--tree``: the tree whose ``guardrails`` is
imported) and compare the lines: equal digests, equal results.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def _passage_row(p) -> list:
    return [p.source, p.start, p.end, p.text, sorted(p.stems), [list(q) for q in p.quantities],
            sorted(p.clause_negated), sorted(p.phrase_negated), sorted(p.mixed), sorted(p.clause_mixed),
            sorted(p.negated), sorted(p.values), p.ranged]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", default=str(HERE), help="the tree whose guardrails package is imported")
    ap.add_argument("--verbose", action="store_true", help="print a digest per case group as well")
    ap.add_argument("--pairs", type=int, default=160, help="generated benchmark pairs (default 160)")
    args = ap.parse_args()
    tree = Path(args.tree).resolve()
    sys.path.insert(0, str(tree))
    import yaml

    from benchmarks.sections.grounding import _pair
    from guardrails.detectors.grounding import check_grounding, read_sources
    from guardrails.detectors.grounding.claims import sentences
    from guardrails.detectors.grounding.passages import analyse
    from guardrails.detectors.grounding.quantities import find_quantities
    from guardrails.detectors.grounding.words import content_stems, plain, polarity

    parts: dict[str, hashlib._Hash] = {}

    def feed(part: str, value) -> None:
        parts.setdefault(part, hashlib.sha256()).update(
            json.dumps(value, sort_keys=True, default=repr, ensure_ascii=False).encode() + b"\n")

    def check(part: str, answer: str, sources) -> None:
        for strict in (False, True):
            feed(f"{part} strict={strict}", check_grounding(answer, sources, strict=strict).to_json())

    texts: list[str] = []
    for path in sorted((tree / "tests" / "grounding").glob("dev*.yaml")):  # never a held-out split
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for case in data["cases"]:
            sources, problem = read_sources(data["sources"][case["sources"]])
            if problem is not None:
                feed(path.stem, problem)
                continue
            check(path.stem, case["answer"], sources)
            texts.append(case["answer"])
        texts.extend(s["text"] for group in data["sources"].values() for s in group)
    rnd = random.Random(19)
    from guardrails.detectors.grounding import Source
    for _ in range(args.pairs):
        good, srcs, wrong = _pair(rnd, rnd.choice([512, 1024, 2048]), rnd.choice([2048, 4096, 8192]))
        sources = [Source(str(i + 1), t) for i, t in enumerate(srcs)]
        check("benchmark", good, sources)
        check("benchmark", wrong, sources)
        texts.extend(srcs)
    for t in texts:  # every text analysed as a source: each passage's fields
        feed("analyse", [_passage_row(p) for p in analyse(t, 0).passages])
        feed("plain", plain(t))
        feed("quantities", [list(q) for q in find_quantities(t)])
        for s, e in sentences(t):  # and the word-level helpers on each sentence alone
            feed("words", [plain(t[s:e]), [sorted(x) for x in polarity(t[s:e])], content_stems(t[s:e])])
    total = hashlib.sha256()
    for name in sorted(parts):
        digest = parts[name].hexdigest()
        total.update(f"{name} {digest}\n".encode())
        if args.verbose:
            print(f"{digest[:16]}  {name}")
    print(f"{total.hexdigest()}  all ({len(texts)} texts analysed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
