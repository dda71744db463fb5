"""Soak: memory stays flat over many decisions, and every cache stays bounded.

RSS is read after a warm-up and after the run (after a collection both
times). Tool-call decisions run over the tool-call section's requests; the
input checks use a new text each time, so the detector cache fills and must
then hold its size.
"""

from __future__ import annotations

import gc
import random

from ..data import pii_text, prose
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


@section("soak", "Soak: memory over many decisions")
def run(ctx: Context, res: SectionResult) -> None:
    from guardrails import Engine
    from guardrails import evaluate
    from guardrails.detectors import PiiConfig, get_pii_detector

    rnd = random.Random(ctx.seed)
    reqs = [a for a, _ in requests(rnd, users(rnd), 1000)]
    engine = Engine.from_source(TOOL_POLICY)
    decisions = ctx.pick(5_000, 100_000, 1_000_000)

    def decide(n: int) -> int:
        allowed = 0
        check = engine.check_tool_call
        for i in range(n):
            r = reqs[i % 1000]
            allowed += check(r["tool"], r["args"], principal=r["principal"], context=r["context"]).allowed
        return allowed

    decide(10_000 if decisions >= 100_000 else 1_000)
    gc.collect()
    start = rss_bytes()
    decide(decisions)
    gc.collect()
    end = rss_bytes()
    res.rows.append(Row(f"RSS after {decisions:,} tool-call decisions", Timing([end]), "RSS before", Timing([start]),
                        kind="relative", goal=1.05, unit="MB",
                        note=f"{(end - start) / 2**20:+.1f} MB"))
    if decisions < 1_000_000:
        res.notes.append(f"{ctx.mode} mode: {decisions:,} decisions (the full run makes 1,000,000)")

    # Input checks with new text every time: the detector cache must stop growing.
    checks = ctx.pick(300, 5_000, 20_000)
    inp = Engine.from_source(INPUT_POLICY, cache_size=1024)
    texts = [pii_text(rnd, 300, 1) if i % 2 else prose(rnd, 300) for i in range(200)]
    for t in texts:
        inp.check_input(t)
    gc.collect()
    start = rss_bytes()
    for i in range(checks):
        # A new text each time: a counter makes it unique without new words.
        inp.check_input(f"{texts[i % 200]} ({i})")
    gc.collect()
    end = rss_bytes()
    res.rows.append(Row(f"RSS after {checks:,} input checks, new text each", Timing([end]), "RSS before",
                        Timing([start]), kind="relative", goal=1.05, unit="MB", note=f"{(end - start) / 2**20:+.1f} MB"))
    stats = inp.cache_stats()
    res.check("detector cache bounded (size <= maxsize)", stats["size"] <= stats["maxsize"])
    fast = get_pii_detector(PiiConfig())._fast
    res.check("fast-path keyword memo bounded", fast is None or len(fast._pieces) <= 100_000)
    res.check("fast-path colon-word memo and window vocabulary bounded",
              fast is None or (len(fast._colon_memo) <= 100_000
                               and fast.tokenizer.learned <= fast.tokenizer.limit + 1000))
    res.check("shared decision parts bounded",
              len(evaluate._bare) <= 65536 and len(evaluate._defaults) <= 4096 and len(evaluate._policy_refs) <= 4096)
    res.extra["detector_cache"] = stats
    res.notes.append(f"detector cache after the input checks: {stats['size']} of {stats['maxsize']} entries, "
                     f"{stats['hits']} hits, {stats['misses']} misses")
