"""Leave-one-split-out figures for the grounding detector's default.

    python scripts/grounding_loso.py [--table shipped|before|fit] [--threshold 0.9] [--show] [--verify]

Runs check_grounding once per answer of the development splits (dev,
dev-2 .. dev-17, named one by one: a held-out split is never read), with
nothing counted strong, so every clause's findings are collected with the
checks that made them (evidence.CHECKS). A strength table (evidence.Evidence)
then decides which answers are flagged, with no second run: a clause is
flagged when its checks are strong, and a table's strength only grows with
more checks, so this is what check_grounding itself gives (``--verify``
compares the two for the shipped table).

``--table shipped`` (the default): the package's evidence.DEFAULT. It has no
fitted part (its hard checks are the redesign's definition of hard
evidence), so leaving a split out changes nothing and the figure per split
is its leave-one-split-out figure. ``--table before``: every finding flags
(the default before evidence strength; no fitted part either, but its
rules were tuned on dev .. dev-9; dev-10 and dev-11 came after it).
``--table fit``: for each split, a table is fitted on the other splits and
scored on that one: a check is hard when its precision on them,
tp / (tp + fp + 1) over the answers it finds something in, is at least
``--threshold``; two families agreeing flag as in the shipped table.
``--sweep`` prints the fit's pooled figures for a range of thresholds.

Prints a table per split and pooled (caught/unsupported, flagged/supported),
per kind, and the false flags and misses by check and by expected reason.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

import yaml

from guardrails.detectors.grounding import check_grounding, read_sources
from guardrails.detectors.grounding.check import Unsupported
from guardrails.detectors.grounding.evidence import ALL, CHECKS, DEFAULT, Evidence

SPLITS = ("dev", "dev-2", "dev-3", "dev-4", "dev-5", "dev-6", "dev-7", "dev-8", "dev-9", "dev-10",
          "dev-11", "dev-12", "dev-13", "dev-14", "dev-15", "dev-16", "dev-17")
#: Nothing is strong: every clause's findings are collected whole.
COLLECT = Evidence(frozenset(), agree=10**6)


def collect() -> dict[str, list[dict]]:
    """Per split, its cases with `clauses`: each clause's tuple of checks."""
    out = {}
    for split in SPLITS:
        data = yaml.safe_load((HERE / "tests" / "grounding" / f"{split}.yaml").read_text(encoding="utf-8"))
        rows = []
        for case in data["cases"]:
            sources, _ = read_sources(data["sources"][case["sources"]])
            r = check_grounding(case["answer"], sources, evidence=COLLECT)
            assert not r.unsupported
            weak = [u for u in r.unverified if isinstance(u, Unsupported)]
            rows.append({**case, "clauses": [u.evidence for u in weak], "split": split, "_sources": sources,
                         "_found": weak})
        out[split] = rows
    return out


def flagged(case: dict, ev: Evidence) -> tuple[str, ...] | None:
    """The checks of the clause that flags the answer, or None."""
    return next((c for c in case["clauses"] if ev.strong(c)), None)


def fit(cases: list[dict], threshold: float) -> Evidence:
    """The strength table fitted on `cases`: a check is hard when its
    precision on them, with a prior of one false flag, reaches
    `threshold`."""
    tp: Counter = Counter()
    fp: Counter = Counter()
    for c in cases:
        seen = {k for cl in c["clauses"] for k in cl}
        (tp if c["label"] == "unsupported" else fp).update(seen)
    return Evidence(frozenset(k for k in CHECKS if tp[k] and tp[k] / (tp[k] + fp[k] + 1) >= threshold))


def _false(cases, ev) -> int:
    return sum(c["label"] == "supported" and flagged(c, ev) is not None for c in cases)


def _caught(cases, ev) -> int:
    return sum(c["label"] == "unsupported" and flagged(c, ev) is not None for c in cases)


def report(by_split: dict[str, list[dict]], tables: dict[str, Evidence], title: str, show: bool) -> None:
    print(f"== {title}")
    print(f"{'split':8} {'caught':>10} {'flagged':>10}")
    kinds: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    false_by: Counter = Counter()
    missed_by: Counter = Counter()
    tot = [0, 0, 0, 0]
    for split, cases in by_split.items():
        ev = tables[split]
        s = [0, 0, 0, 0]
        for c in cases:
            hit = flagged(c, ev)
            unsup = c["label"] == "unsupported"
            s[1 if unsup else 3] += 1
            s[0 if unsup else 2] += hit is not None
            k = kinds[(c["label"], c["kind"])]
            k[0] += 1
            k[1] += hit is not None
            if not unsup and hit is not None:
                false_by[hit[0] if len(hit) == 1 or hit[0] in ev.hard else "agree:" + "+".join(sorted(set(hit)))] += 1
                if show:
                    print(f"   FALSE {split}: {hit} {c['answer'][:150]!r}")
            if unsup and hit is None:
                weak = sorted({k for cl in c["clauses"] for k in cl})
                missed_by[(c.get("reason", "?"), "weak: " + ",".join(weak) if weak else "nothing found")] += 1
                if show:
                    print(f"   MISS {split}: {weak} {c['answer'][:150]!r}")
        tot = [a + b for a, b in zip(tot, s)]
        print(f"{split:8} {s[0]:>4}/{s[1]:<5} {s[2]:>4}/{s[3]:<5}")
    print(f"{'pooled':8} {tot[0]:>4}/{tot[1]:<5} {tot[2]:>4}/{tot[3]:<5}   caught {tot[0] / tot[1]:.1%}, "
          f"flagged {tot[2] / tot[3]:.1%}")
    print("per kind:")
    for (label, kind), (n, hit) in sorted(kinds.items()):
        print(f"  {label:12} {kind:20} {hit:>4}/{n}")
    print("false flags by check:")
    for k, n in false_by.most_common():
        print(f"  {n:4}  {k}")
    print("misses by expected reason (and what was found):")
    for (reason, found), n in sorted(missed_by.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {n:4}  {reason:16} {found}")


def _loso(by_split, threshold: float) -> dict[str, Evidence]:
    return {s: fit([c for t, cs in by_split.items() if t != s for c in cs], threshold) for s in by_split}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", choices=("shipped", "before", "fit"), default="shipped")
    ap.add_argument("--threshold", type=float, default=0.9, help="--table fit: a hard check's training precision")
    ap.add_argument("--sweep", action="store_true", help="--table fit at thresholds 0.80 .. 0.98, pooled")
    ap.add_argument("--show", action="store_true", help="print every false flag and miss")
    ap.add_argument("--verify", action="store_true", help="compare the simulation with check_grounding's default")
    args = ap.parse_args()
    by_split = collect()
    if args.verify:
        pool = [c for cases in by_split.values() for c in cases]
        wrong = [c["answer"] for c in pool if (flagged(c, DEFAULT) is not None)
                 != bool(check_grounding(c["answer"], c["_sources"]).unsupported)]
        print(f"verify: {len(wrong)} answers differ between the simulation and check_grounding", wrong[:3])
    if args.sweep:
        for t in (0.8, 0.85, 0.9, 0.92, 0.94, 0.96, 0.98):
            tables = _loso(by_split, t)
            row = [(sum(c["label"] == "unsupported" and flagged(c, tables[s]) is not None for c in cs),
                    sum(c["label"] == "supported" and flagged(c, tables[s]) is not None for c in cs))
                   for s, cs in by_split.items()]
            print(f"threshold {t:.2f}: caught {sum(r[0] for r in row)}, flagged {sum(r[1] for r in row)}; per split "
                  + " ".join(f"{a}/{b}" for a, b in row))
        return 0
    if args.table == "before":
        report(by_split, dict.fromkeys(by_split, ALL), "before: every finding flags", args.show)
    elif args.table == "shipped":
        report(by_split, dict.fromkeys(by_split, DEFAULT), "evidence.DEFAULT (nothing fitted: per split is LOSO)",
               args.show)
    else:
        tables = _loso(by_split, args.threshold)
        report(by_split, tables, f"leave one split out (fitted on nine, threshold {args.threshold})", args.show)
        for s, ev in tables.items():
            print(f"  {s}: hard={sorted(ev.hard)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
