"""The benchmark harness: sections, timing, the table and the JSON report.

Every figure is a ratio against a peer measured in the same run, because
these machines are noisy and absolute times drift. A row holds both
timings (median and p99 of per-call samples) and their ratios; a section
may add checks (identical spans, identical decisions, flat memory) that
must hold whatever the timings.

Sections register themselves with :func:`section`; `python -m benchmarks`
runs them in registration order.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

# Three sizes of run. `tiny` proves the harness works (the smoke test);
# `quick` finishes in under two minutes; `full` is what docs/performance.md shows.
MODES = ("tiny", "quick", "full")


@dataclass
class Timing:
    """Per-call samples, in seconds."""

    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p99(self) -> float:
        s = sorted(self.samples)
        return s[min(len(s) - 1, int(round(0.99 * (len(s) - 1))))]


@dataclass
class Row:
    """One comparison. `kind` says which way the ratio reads:

    * ``speedup``: peer time / our time ("8.1x faster"); the goal is a minimum.
    * ``relative``: our time / peer time ("1.05x of 10 rules"); the goal is a maximum.
    """

    case: str
    ours: Timing | None
    peer_name: str
    peer: Timing | None
    kind: str = "speedup"
    goal: float | None = None
    note: str = ""
    value: str = ""  # for rows that are a measured quantity, not a timing pair
    unit: str = "s"  # "s" (timings) or "MB" (memory)

    def ratio(self, which: str) -> float | None:
        if self.ours is None or self.peer is None:
            return None
        a, b = getattr(self.ours, which), getattr(self.peer, which)
        if self.kind == "speedup":
            return b / a if a > 0 else float("inf")
        return a / b if b > 0 else float("inf")

    @property
    def met(self) -> bool | None:
        r = self.ratio("median")
        if self.goal is None or r is None:
            return None
        return r >= self.goal if self.kind == "speedup" else r <= self.goal

    def to_json(self) -> dict:
        out: dict[str, Any] = {"case": self.case, "peer": self.peer_name, "kind": self.kind, "goal": self.goal,
                               "met": self.met, "note": self.note, "unit": self.unit}
        for name, t in (("ours", self.ours), ("peer_time", self.peer)):
            if t is not None:
                key = "bytes" if self.unit == "MB" else "s"
                out[name] = {f"median_{key}": t.median, f"p99_{key}": t.p99, "samples": len(t.samples)}
        out["ratio_median"] = self.ratio("median")
        out["ratio_p99"] = self.ratio("p99")
        if self.value:
            out["value"] = self.value
        return out


@dataclass
class SectionResult:
    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None
    seconds: float = 0.0

    def check(self, name: str, ok: bool) -> None:
        self.checks[name] = bool(ok)

    def to_json(self) -> dict:
        return {"title": self.title, "rows": [r.to_json() for r in self.rows], "checks": self.checks,
                "notes": self.notes, "extra": self.extra, "skipped": self.skipped, "seconds": round(self.seconds, 2)}


@dataclass(frozen=True)
class Section:
    name: str
    title: str
    run: Callable[["Context", SectionResult], None]
    needs: tuple[str, ...] = ()  # importable modules; missing ones skip the section


@dataclass
class Context:
    mode: str
    seed: int = 20240601
    loadgen: str = "auto"  # the sidecar's load: "auto" (h2load when on the PATH), "h2load" or "python"

    def pick(self, tiny: Any, quick: Any, full: Any) -> Any:
        return {"tiny": tiny, "quick": quick, "full": full}[self.mode]


SECTIONS: dict[str, Section] = {}


def section(name: str, title: str, needs: tuple[str, ...] = ()):
    """Register a benchmark section (a function of Context and SectionResult)."""

    def wrap(fn: Callable[[Context, SectionResult], None]):
        SECTIONS[name] = Section(name, title, fn, needs)
        return fn

    return wrap


# ---- timing -------------------------------------------------------------------------


def time_calls(fn: Callable[[Any], Any], args: list[Any]) -> Timing:
    """Time `fn(a)` once per item, with the collector off (it is turned back on after)."""
    samples = []
    clock = time.perf_counter
    enabled = gc.isenabled()
    gc.disable()
    try:
        for a in args:
            t0 = clock()
            fn(a)
            samples.append(clock() - t0)
    finally:
        if enabled:
            gc.enable()
    return Timing(samples)


def time_pair(ours: Callable[[Any], Any], peer: Callable[[Any], Any], args: list[Any],
              rounds: int = 1, peer_args: list[Any] | None = None, chunk: int = 50) -> tuple[Timing, Timing]:
    """Alternate the two sides in chunks of `chunk` calls so both see the same noise.

    `peer_args` gives the peer its own form of each input (same order).
    """
    peer_args = args if peer_args is None else peer_args
    a: list[float] = []
    b: list[float] = []
    for _ in range(rounds):
        for i in range(0, len(args), chunk):
            a.extend(time_calls(ours, args[i:i + chunk]).samples)
            b.extend(time_calls(peer, peer_args[i:i + chunk]).samples)
    return Timing(a), Timing(b)


def time_alternating(ours: Callable[[Any], Any], peer: Callable[[Any], Any],
                     args: list[Any]) -> tuple[Timing, Timing]:
    """Both sides on every argument, alternating call by call (which side goes
    first alternates too), with the collector off: request by request, as a
    service meets them, so neither side keeps its caches warm in a block."""
    a: list[float] = []
    b: list[float] = []
    clock = time.perf_counter
    enabled = gc.isenabled()
    gc.disable()
    try:
        for i, arg in enumerate(args):
            for fn, out in ((ours, a), (peer, b)) if i % 2 == 0 else ((peer, b), (ours, a)):
                t0 = clock()
                fn(arg)
                out.append(clock() - t0)
    finally:
        if enabled:
            gc.enable()
    return Timing(a), Timing(b)


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


# ---- running and reporting --------------------------------------------------------------


def run(mode: str, only: list[str] | None = None, out=sys.stdout, loadgen: str = "auto") -> dict:
    from importlib.util import find_spec

    ctx = Context(mode, loadgen=loadgen)
    results: list[SectionResult] = []
    for name, sec in SECTIONS.items():
        if only and name not in only:
            continue
        res = SectionResult(name, sec.title)
        missing = [m for m in sec.needs if find_spec(m) is None]
        started = time.perf_counter()
        if missing:
            res.skipped = f"needs {', '.join(missing)} (pip install -e '.[bench]')"
        else:
            print(f"[{name}] {sec.title} ...", file=sys.stderr, flush=True)
            try:
                sec.run(ctx, res)
            except Exception as exc:  # noqa: BLE001 - one broken section must not lose the others
                res.check("the section ran to the end", False)
                res.notes.append(f"stopped by {type(exc).__name__}: {exc}")
                print(f"[{name}] stopped: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        res.seconds = time.perf_counter() - started
        results.append(res)
    report = {"meta": meta(mode), "sections": {r.name: r.to_json() for r in results}}
    print(render(results, mode), file=out)
    return report


def meta(mode: str) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for pkg in ("guardlang", "presidio-analyzer", "presidio-anonymizer", "spacy", "cedarpy", "grpcio", "phonenumbers"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    h2load = _tool_version("h2load")
    if h2load:
        versions["h2load"] = h2load
    return {"mode": mode, "python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "versions": versions}


def _tool_version(exe: str) -> str | None:
    """`exe --version`'s last word ("h2load nghttp2/1.52.0" -> "nghttp2/1.52.0"), or None."""
    import shutil
    import subprocess

    path = shutil.which(exe)
    if path is None:
        return None
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    return out[-1] if out else None


def fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def _fmt_pair(t: Timing, unit: str) -> str:
    if unit == "MB":
        return f"{t.median / 2**20:.1f} MB"
    if len(t.samples) == 1:
        return fmt_time(t.median)
    return f"{fmt_time(t.median)} / {fmt_time(t.p99)}"


def fmt_ratio(row: Row, which: str) -> str:
    r = row.ratio(which)
    if r is None:
        return "-"
    return f"{r:.1f}x" if r >= 10 else f"{r:.2f}x"


def render(results: list[SectionResult], mode: str) -> str:
    head = ["case", "ours median / p99", "peer", "peer median / p99", "ratio med", "ratio p99", "goal", "met"]
    lines = [f"guardlang benchmarks ({mode} mode; ratios: 'speedup' = peer/ours, 'relative' = ours/peer)", ""]
    for res in results:
        lines.append(f"== {res.title} [{res.name}]" + (f"  (skipped: {res.skipped})" if res.skipped else ""))
        if res.skipped:
            lines.append("")
            continue
        table = [head]
        for r in res.rows:
            ours = _fmt_pair(r.ours, r.unit) if r.ours else (r.value or "-")
            peer = _fmt_pair(r.peer, r.unit) if r.peer else "-"
            goal = "-" if r.goal is None else (f">= {r.goal:g}x" if r.kind == "speedup" else f"<= {r.goal:g}x")
            met = {True: "yes", False: "NO", None: "-"}[r.met]
            table.append([r.case, ours, r.peer_name, peer, fmt_ratio(r, "median"), fmt_ratio(r, "p99"), goal, met])
        widths = [max(len(row[i]) for row in table) for i in range(len(head))]
        for i, row in enumerate(table):
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        for name, ok in res.checks.items():
            lines.append(f"  check: {name}: {'ok' if ok else 'FAILED'}")
        for note in res.notes:
            lines.append(f"  note: {note}")
        lines.append(f"  ({res.seconds:.1f} s)")
        lines.append("")
    return "\n".join(lines)


def write_json(report: dict, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2, default=_json_default)
        f.write("\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, float) and (o != o or o in (float("inf"), float("-inf"))):
        return None
    if hasattr(o, "__dataclass_fields__"):
        return asdict(o)
    return str(o)
