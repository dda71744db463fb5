"""`python -m benchmarks [--quick | --tiny] [--json FILE] [--only SECTION ...] [--loadgen KIND]`.

Prints the table and writes the JSON report (default: benchmarks/results.json).
Exits 1 when a correctness check fails (identical spans, identical decisions,
flat memory); timings never fail the run.
"""

from __future__ import annotations

import argparse
import shutil
import sys

from . import sections  # noqa: F401  (registers the sections)
from .harness import MODES, SECTIONS, run, write_json


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", const="quick", dest="mode", help="under two minutes")
    size.add_argument("--tiny", action="store_const", const="tiny", dest="mode", help="seconds; proves the harness runs")
    size.add_argument("--mode", choices=MODES, default="full")
    p.add_argument("--json", metavar="FILE", default="benchmarks/results.json", help="where to write the JSON report")
    p.add_argument("--only", nargs="+", metavar="SECTION", choices=sorted(SECTIONS), help="run only these sections")
    p.add_argument("--loadgen", choices=("auto", "h2load", "python"), default="auto",
                   help="what loads the sidecar: h2load (nghttp2's load generator, in C; 'auto' uses it when it "
                        "is on the PATH) or Python gRPC clients")
    args = p.parse_args(argv)
    if args.loadgen == "h2load" and shutil.which("h2load") is None:
        p.error("--loadgen h2load: h2load is not on the PATH (Debian/Ubuntu: apt install nghttp2-client; "
                "macOS: brew install nghttp2)")
    report = run(args.mode or "full", args.only, loadgen=args.loadgen)
    write_json(report, args.json)
    print(f"JSON report: {args.json}", file=sys.stderr)
    failed = [f"{s}: {c}" for s, sec in report["sections"].items() for c, ok in sec["checks"].items() if not ok]
    for f in failed:
        print(f"check failed: {f}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
