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
import random
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

# Three sizes of run. `tiny` proves the harness works (the smoke test);
# `quick` finishes in under two minutes; `full` is what docs/performance.md shows.
MODES = ("tiny", "quick", "full")


@dataclass(frozen=True)
class Timing:
    """Per-call samples, in seconds (bytes for memory rows)."""

    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p99(self) -> float:
        s = sorted(self.samples)
        return s[min(len(s) - 1, int(round(0.99 * (len(s) - 1))))]


def _ratio(ours: float, peer: float, kind: str) -> float:
    if kind == "speedup":
        return peer / ours if ours > 0 else float("inf")
    return ours / peer if peer > 0 else float("inf")


@dataclass(frozen=True)
class Row:
    """One comparison. `kind` says which way the ratio reads:

    * ``speedup``: peer time / our time ("8.1x faster"); the goal is a minimum.
    * ``relative``: our time / peer time ("1.05x of 10 rules"); the goal is a maximum.

    `ratios` holds the median ratio of each repetition, so a reader sees how
    far one run's figure can move; the row's ratio is their median.
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
    ratios: list[float] = field(default_factory=list)

    def ratio(self, which: str) -> float | None:
        """The median ratio is the median of the repetitions' ratios (so it
        lies within their min-max); the p99 ratio compares pooled p99s."""
        if which == "median" and self.ratios:
            return statistics.median(self.ratios)
        if self.ours is None or self.peer is None:
            return None
        return _ratio(getattr(self.ours, which), getattr(self.peer, which), self.kind)

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
        out["repetitions"] = len(self.ratios)
        out["ratio_min"] = min(self.ratios) if self.ratios else None
        out["ratio_max"] = max(self.ratios) if self.ratios else None
        out["ratios"] = list(self.ratios)
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


@dataclass
class Measured:
    """Per-call samples of several sides over several repetitions.

    ``samples[rep][side]`` holds one repetition's samples of one side;
    ``results[rep][side]`` what each call returned, when asked to keep them.
    """

    samples: list[list[list[float]]]
    results: list[list[list[Any]]] = field(default_factory=list)

    def timing(self, side: int) -> Timing:
        """All repetitions' samples of one side, pooled."""
        return Timing([s for rep in self.samples for s in rep[side]])

    def ratios(self, ours: int, peer: int, kind: str = "speedup") -> list[float]:
        """The median ratio of each repetition, read as `kind` reads (see :class:`Row`)."""
        out = []
        for rep in self.samples:
            a, b = statistics.median(rep[ours]), statistics.median(rep[peer])
            out.append(_ratio(a, b, kind))
        return out

    def row(self, case: str, peer_name: str, ours: int = 0, peer: int = 1, **kw: Any) -> Row:
        """A row comparing two sides, with the ratio's spread over the repetitions."""
        kind = kw.get("kind", "speedup")
        return Row(case, self.timing(ours), peer_name, self.timing(peer), ratios=self.ratios(ours, peer, kind), **kw)

    def results_of(self, side: int) -> list[Any]:
        return [r for rep in self.results for r in rep[side]]


def interleave(fns: list[Callable[[Any], Any]], inputs: list[list[Any]], rnd: random.Random,
               keep: bool = False) -> tuple[list[list[float]], list[list[Any]]]:
    """Call every side on its own form of each input, request by request.

    Request ``i`` calls side ``k`` on ``inputs[k][i]``, every side once, in an
    order shuffled for that request: as a service meets them, so no side runs
    a block of calls with caches only it filled, and the order never favours
    one. Sides with fewer inputs drop out when theirs run out. The collector
    is off while a call is timed and runs between requests now and then,
    untimed, so neither side pays for the other's garbage.
    """
    n = len(fns)
    samples: list[list[float]] = [[] for _ in range(n)]
    results: list[list[Any]] = [[] for _ in range(n)]
    clock = time.perf_counter
    enabled = gc.isenabled()
    gc.disable()
    try:
        for i in range(max(len(x) for x in inputs)):
            order = [k for k in range(n) if i < len(inputs[k])]
            rnd.shuffle(order)
            for k in order:
                fn, arg = fns[k], inputs[k][i]
                t0 = clock()
                out = fn(arg)
                samples[k].append(clock() - t0)
                if keep:
                    results[k].append(out)
            if i % 256 == 255:
                gc.collect()
    finally:
        if enabled:
            gc.enable()
    return samples, results


def measure(fns: list[Callable[[Any], Any]], inputs: Callable[[int], list[list[Any]]], reps: int,
            rnd: random.Random, keep: bool = False) -> Measured:
    """:func:`interleave` over `reps` repetitions; ``inputs(rep)`` gives each
    side's inputs for one repetition (new ones each time, so no cache answers)."""
    out = Measured([], [])
    for rep in range(reps):
        gc.collect()
        s, r = interleave(fns, inputs(rep), rnd, keep)
        out.samples.append(s)
        if keep:
            out.results.append(r)
    return out


def once(fn: Callable[[], Any]) -> float:
    """The wall time of one call, for work done once per repetition (compiling)."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def budget_row(case: str, per_rep: list[float], budget: float, budget_name: str, **kw: Any) -> Row:
    """A row against a fixed budget: one figure per repetition, each read against the budget."""
    return Row(case, Timing(per_rep), budget_name, Timing([budget]), kind="relative",
               ratios=[x / budget for x in per_rep], **kw)


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
            "cpus": os.cpu_count(), "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "versions": versions,
            **source_commit()}


def source_commit() -> dict:
    """The commit of the code measured, and whether its engine or benchmarks
    differ from it ({} outside a git checkout, as in an unpacked sdist)."""
    import subprocess

    import guardrails

    root = os.path.dirname(os.path.dirname(os.path.abspath(guardrails.__file__)))

    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(["git", "-C", root, *args], capture_output=True, text=True, timeout=30,
                                  check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return proc.stdout if proc.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {}
    # (porcelain lines are "XY path": not stripped, or " M a/b" would lose the path's first letter)
    changed = git("status", "--porcelain", "--", "guardrails", "grammar", "benchmarks") or ""
    return {"commit": commit.strip(), "uncommitted_changes": [line[3:] for line in changed.splitlines() if line]}


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
    return _fmt_x(r)


def _fmt_x(r: float) -> str:
    return f"{r:.1f}x" if r >= 10 else f"{r:.2f}x"


def fmt_range(row: Row) -> str:
    """The per-repetition ratios' min-max and their count: "5.31-5.92x (5)"."""
    if not row.ratios:
        return "-"
    lo, hi = min(row.ratios), max(row.ratios)
    return f"{_fmt_x(lo)[:-1]}-{_fmt_x(hi)} ({len(row.ratios)})"


def render(results: list[SectionResult], mode: str) -> str:
    head = ["case", "ours median / p99", "peer", "peer median / p99", "ratio med", "min-max (reps)", "ratio p99",
            "goal", "met"]
    title = (f"guardlang benchmarks ({mode} mode; ratios: 'speedup' = peer/ours, 'relative' = ours/peer; "
             "ratio med: the median over repetitions of each repetition's median ratio, min-max: their range)")
    lines = [title, ""]
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
            table.append([r.case, ours, r.peer_name, peer, fmt_ratio(r, "median"), fmt_range(r), fmt_ratio(r, "p99"),
                          goal, met])
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
