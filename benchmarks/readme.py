"""`python -m benchmarks.readme [REPORT] [--write FILE | --check FILE]`.

Renders a JSON report of `python -m benchmarks` as the README's table of
goals, so that the table is the report and nothing else. The table sits in
the README between two markers::

    <!-- benchmarks:table begin -->
    ...
    <!-- benchmarks:table end -->

``--write README.md`` replaces what is between them; ``--check README.md``
exits 1 when it differs from the report (a test runs it on
``benchmarks/reference-run.json``). Without either, the table is printed.

Every row of the report that has a goal is shown (a goal is a ratio the
issue set: "≥ 10× faster" for a speedup, "≤ 1.2×" for a ratio of ours to a
peer or a budget), plus the rows without a goal that compare with another
product (cedarpy, Presidio) or carry a cost an issue names, so that the
table also shows where no goal was set.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .harness import fmt_time

BEGIN, END = "<!-- benchmarks:table begin -->", "<!-- benchmarks:table end -->"
DEFAULT_REPORT = Path(__file__).resolve().parent / "reference-run.json"

#: Rows with no goal that the table shows anyway: (section, the case's start).
ALSO = (
    ("injection", ""),  # injection() per text size, against the terms detector
    ("grounding", "grounding, 1 KB answer + 4 KB new sources"),
    ("rules", "no-tool decision, 10,000 rules"),
    ("rules", "compile 10,000 rules"),
    ("sessions", "Redis store"),
)


class ReportError(Exception):
    """A report that is not what `python -m benchmarks` writes."""


def _amount(t: dict | None, unit: str) -> str:
    if not t:
        return "–"
    return f"{t['median_bytes'] / 2**20:.1f} MB" if unit == "MB" else fmt_time(t["median_s"])


def _x(r: float) -> str:
    return f"{r:.1f}×" if r >= 10 else f"{r:.2f}×"


def _ratio(row: dict) -> str:
    r = row.get("ratio_median")
    if r is None:
        return "–"
    lo, hi = row.get("ratio_min"), row.get("ratio_max")
    spread = f" ({_x(lo)[:-1]}–{_x(hi)})" if lo is not None and hi is not None and row.get("repetitions", 1) > 1 else ""
    return _x(r) + (" faster" if row.get("kind") == "speedup" else "") + spread


def _goal(row: dict) -> str:
    g = row.get("goal")
    if g is None:
        return "–"
    return f"≥ {g:g}×" if row.get("kind") == "speedup" else f"≤ {g:g}×"


def _met(row: dict) -> str:
    if row.get("goal") is None:
        return "–"
    return "yes" if row.get("met") else "**no**"


def _shown(section: str, row: dict) -> bool:
    if row.get("goal") is not None:
        return True
    return any(section == s and row.get("case", "").startswith(start) for s, start in ALSO)


def render(report: dict) -> str:
    """The markdown table (with the run it came from) for a report."""
    try:
        meta, sections = report["meta"], report["sections"]
        commit = meta.get("commit") or "unknown"
        lines = [
            (f"From the {meta['mode']} run of commit `{commit[:7]}` on {meta['when'][:10]} "
             f"({meta['cpus']} cores, Python {meta['python']}). Ratios are medians over repetitions, "
             "with their min–max; a speedup is the peer's time over ours, any other ratio ours over the peer's."),
            "",
            "| section | case | this engine | peer, same run | ratio (min–max) | goal | met |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name, sec in sections.items():
            for row in sec["rows"]:
                if not _shown(name, row):
                    continue
                unit = row.get("unit", "s")
                peer = row.get("peer", "")
                peer_time = row.get("peer_time")
                budget = "budget" in peer or "goal" in peer  # (its time is the budget itself)
                peer_cell = f"{peer} {_amount(peer_time, unit)}" if peer_time and not budget else peer
                lines.append(f"| {name} | {row['case']} | {_amount(row.get('ours'), unit)} | {peer_cell} | "
                             f"{_ratio(row)} | {_goal(row)} | {_met(row)} |")
        if meta.get("uncommitted_changes"):
            lines += ["", "Uncommitted changes in that run: " + ", ".join(meta["uncommitted_changes"]) + "."]
    except (KeyError, TypeError, AttributeError) as exc:
        raise ReportError(f"not a benchmark report (missing or malformed {exc})") from None
    return "\n".join(lines) + "\n"


def splice(document: str, table: str, where: str) -> str:
    """`document` with the text between the markers replaced by `table`."""
    start, end = document.find(BEGIN), document.find(END)
    if start < 0 or end < start:
        raise ReportError(f"{where}: no '{BEGIN}' ... '{END}' markers around a table")
    return document[:start + len(BEGIN)] + "\n" + table + document[end:]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.readme",
        description="Render a benchmark report (python -m benchmarks --json FILE) as the README's table of goals: "
                    "print it, write it between the README's markers, or check that the README holds it.",
        epilog=f"markers: {BEGIN} ... {END}")
    p.add_argument("report", nargs="?", default=str(DEFAULT_REPORT),
                   help="the JSON report (default: benchmarks/reference-run.json)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--write", metavar="FILE", help="replace the table between the markers in FILE")
    what.add_argument("--check", metavar="FILE", help="exit 1 when FILE's table is not the report's")
    args = p.parse_args(argv)
    try:
        report = json.loads(Path(args.report).read_text(encoding="utf-8"))
        try:
            table = render(report)
        except ReportError as exc:
            raise ReportError(f"{args.report}: {exc}") from None
        target = args.write or args.check
        if target is None:
            sys.stdout.write(table)
            return 0
        document = Path(target).read_text(encoding="utf-8")
        updated = splice(document, table, target)
    except OSError as exc:
        print(f"error: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    except json.JSONDecodeError as exc:
        print(f"error: {args.report}:{exc.lineno}:{exc.colno}: not JSON ({exc.msg})", file=sys.stderr)
        return 2
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if updated != document:
            print(f"{target}: the benchmark table differs from {args.report}; "
                  f"run `python -m benchmarks.readme {args.report} --write {target}`", file=sys.stderr)
            return 1
        return 0
    Path(target).write_text(updated, encoding="utf-8")
    print(f"{target}: table written from {args.report}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
