"""Soak: memory stays flat over many decisions, and every cache stays bounded.

The soak runs in a fresh process (:func:`main`, from the repository root),
so nothing the other sections loaded or cached counts for or against it.
RSS is read after a warm-up and then at five checkpoints (after a
collection each time); each checkpoint's ratio to the start is one
repetition. Tool-call decisions run over the tool-call section's requests.
The input checks use a new text each time, in which about one word in three
is new (random letters), so the detector cache fills and must then hold its
size, and every tokenizer keeps meeting words it has never seen.
"""

from __future__ import annotations

import gc
import json
import random
import subprocess
import sys
from pathlib import Path

from ..data import novel_prose, pii_text
from ..harness import Context, Row, SectionResult, Timing, rss_bytes, section
from .tools import POLICY as TOOL_POLICY
from .tools import requests, users

INPUT_POLICY = """
policy "bench-soak" version "1.0.0"
entities contact = [EMAIL_ADDRESS, PHONE_NUMBER]
input {
  rule no-secrets: deny "credentials" when secrets()
  rule redact-contact: redact contact using replace("<{entity}>")
}
"""

CHECKPOINTS = 5
ROOT = Path(__file__).resolve().parents[2]  # where `benchmarks` and `guardrails` are importable


@section("soak", "Soak: memory over many decisions, in a fresh process")
def run(ctx: Context, res: SectionResult) -> None:
    code = f"from benchmarks.sections.soak import main; main({ctx.mode!r}, {ctx.seed})"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=3600, check=False,
                          cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"the soak process failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for case, rss in out["rss"].items():
        start, points = rss[0], rss[1:]
        res.rows.append(Row(case, Timing([points[-1]]), "RSS before", Timing([start]), kind="relative", goal=1.05,
                            unit="MB", ratios=[p / start for p in points],
                            note=f"{(points[-1] - start) / 2**20:+.1f} MB; min-max over {len(points)} checkpoints"))
    for name, ok in out["checks"].items():
        res.check(name, ok)
    res.notes.extend(out["notes"])
    res.extra.update(out["extra"])


def soak(mode: str, seed: int) -> dict:
    """The soak itself, in this process: RSS checkpoints, bound checks, notes."""
    from guardrails import Engine, evaluate
    from guardrails.detectors import PiiConfig, get_pii_detector

    ctx = Context(mode, seed)
    rnd = random.Random(seed)
    reqs = [a for a, _ in requests(rnd, users(rnd), 1000)]
    engine = Engine.from_source(TOOL_POLICY)
    decisions = ctx.pick(5_000, 100_000, 1_000_000)
    notes: list[str] = []

    def decide(n: int) -> None:
        check = engine.check_tool_call
        for i in range(n):
            r = reqs[i % 1000]
            check(r["tool"], r["args"], principal=r["principal"], context=r["context"])

    def rss_over(steps: int, work) -> list[float]:
        gc.collect()
        points = [float(rss_bytes())]
        for k in range(CHECKPOINTS):
            work(k, steps // CHECKPOINTS)
            gc.collect()
            points.append(float(rss_bytes()))
        return points

    decide(10_000 if decisions >= 100_000 else 1_000)
    rss = {f"RSS after {decisions:,} tool-call decisions": rss_over(decisions, lambda _k, n: decide(n))}
    if decisions < 1_000_000:
        notes.append(f"{mode} mode: {decisions:,} decisions (the full run makes 1,000,000)")

    # Input checks with new text, and new words, every time: the detector
    # cache must stop growing, and so must the tokenizers' vocabularies.
    checks = ctx.pick(300, 5_000, 20_000)
    inp = Engine.from_source(INPUT_POLICY, cache_size=1024)

    def text(i: int) -> str:
        return pii_text(rnd, 300, 1) if i % 2 else novel_prose(rnd, 300)

    for i in range(200):  # warm-up
        inp.check_input(text(i))

    def check(_k: int, n: int) -> None:
        for i in range(n):
            inp.check_input(text(i))

    rss[f"RSS after {checks:,} input checks, new words each"] = rss_over(checks, check)
    stats = inp.cache_stats()
    bounds = {"detector cache bounded (size <= maxsize)": stats["size"] <= stats["maxsize"]}
    fast = get_pii_detector(PiiConfig())._fast
    probes = {
        "fast-path keyword memo bounded": lambda: fast is None or len(fast._pieces) <= 100_000,
        "fast-path colon-word memo and window vocabulary bounded":
            lambda: fast is None or (len(fast._colon_memo) <= 100_000
                                     and fast.tokenizer.learned <= fast.tokenizer.limit + 1000),
        "shared decision parts bounded": lambda: len(evaluate._policy_refs) <= 4096,
    }
    for name, probe in probes.items():
        try:
            bounds[name] = probe()
        except AttributeError as exc:  # the engine changed shape: say so rather than pass or crash
            notes.append(f"not checked, {name}: {exc}")
    notes.append(f"detector cache after the input checks: {stats['size']} of {stats['maxsize']} entries, "
                 f"{stats['hits']} hits, {stats['misses']} misses")
    notes.append("ran in a fresh process; half the input texts are prose with one new word in three, half "
                 "carry a PII value")
    return {"rss": rss, "checks": bounds, "notes": notes, "extra": {"detector_cache": stats}}


def main(mode: str, seed: int) -> None:
    """The fresh process's entry: the soak's results as one JSON line on stdout."""
    print(json.dumps(soak(mode, seed)))
