"""Where ``injection()``'s time goes, on the benchmark's texts, one row and one part at a time.

    .venv/bin/python scripts/injection_cost.py ROW PART [--reps N] [--profile] [--time]

ROW is one of the benchmark's five rows (``100B``, ``1KB``, ``10KB``, ``1KBc``, ``10KBc``: the
``c`` rows are the held-back corpus joined), made as ``benchmarks/sections/injection.py`` makes
them (seed 11, 10 texts a row, 4 of 10 KB). PART is ``engine`` (``check_input`` with one
``injected(likely)`` rule), ``alone`` (``InjectionDetector.scan``), ``normalise``, ``signals``
or ``model``. Every part runs once over every text first (the steady state: memories filled),
then ``--reps`` times more.

For instruction counts run it under callgrind twice, with ``--reps 0`` and ``--reps N``, and
divide the difference by N times the row's KB (printed): the compiled matcher stays off, since
its compile takes minutes under valgrind. ``--profile`` prints a cProfile of the timed passes;
``--time`` prints the CPU time per KB (median of the passes).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROWS = {"100B": (100, False), "1KB": (1_000, False), "10KB": (10_000, False),
        "1KBc": (1_000, True), "10KBc": (10_000, True)}


def texts(row: str, seed: int = 11) -> list[str]:
    """The row's texts, half with an attack, as the benchmark section makes them."""
    import json

    from benchmarks.sections.injection import HELDOUT, _corpus_text, _text

    size, corpus = ROWS[row]
    rnd = random.Random(seed)
    rows: dict[str, list[str]] = {"attack": [], "benign": []}
    for line in HELDOUT.read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            rows[r["label"]].append(r["text"])
    n = 4 if size >= 10_000 else 10
    return [_corpus_text(rnd, rows, size, i % 2 == 1) if corpus else _text(rnd, size, i % 2 == 1)
            for i in range(n)]


def part(name: str):
    """The function one pass calls on each text."""
    from guardrails.detectors.injection import accel

    accel.set_enabled(False)  # the pure-Python path (see the module docstring)
    if name == "engine":
        from benchmarks.sections.injection import INJECTION_POLICY
        from guardrails import Engine

        return Engine.from_source(INJECTION_POLICY, cache_size=1).check_input
    from guardrails.detectors.injection import InjectionDetector
    from guardrails.detectors.injection.model import load_model
    from guardrails.detectors.injection.signals import scan
    from guardrails.detectors.normalize import normalize

    if name == "alone":
        return InjectionDetector().scan
    if name == "normalise":
        return normalize
    if name == "signals":
        return lambda text: scan(text, normalize(text))  # minus normalise's own count
    if name == "model":
        model = load_model()
        return lambda text: model.score_normalized(normalize(text).text)  # minus normalise's
    raise SystemExit(f"unknown part {name!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("row", choices=ROWS)
    ap.add_argument("part", choices=["engine", "alone", "normalise", "signals", "model"])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--time", action="store_true")
    args = ap.parse_args()
    items = texts(args.row)
    fn = part(args.part)
    for t in items:
        fn(t)
    kb = sum(len(t.encode()) for t in items) / 1024
    print(f"{args.row}: {len(items)} texts, {kb:.2f} KB a pass", file=sys.stderr)
    prof = cProfile.Profile() if args.profile else None
    per_pass = []
    for _ in range(args.reps):
        if prof:
            prof.enable()
        t0 = time.thread_time()
        for t in items:
            fn(t)
        per_pass.append(time.thread_time() - t0)
        if prof:
            prof.disable()
    if args.time and per_pass:
        print(f"{args.row} {args.part}: {statistics.median(per_pass) / kb * 1e6:.0f} µs/KB "
              f"(median of {len(per_pass)} passes)")
    if prof:
        pstats.Stats(prof).sort_stats("tottime").print_stats(40)


if __name__ == "__main__":
    main()
