"""Streaming: the per-chunk cost of StreamGuard on a token stream.

A model's answer arrives as word-sized chunks; the guard holds back a
little and checks windows with the policy's output rules. The peer is the
alternative of checking the whole answer once at the end (one
``check_output``), spread over its chunks; the goal is the amortised cost
per clean chunk.
"""

from __future__ import annotations

import random
import statistics
import time

from ..data import prose
from ..harness import (
    Context,
    Measured,
    SectionResult,
    Timing,
    budget_row,
    fmt_time,
    measure,
    section,
)

OUTPUT_POLICY = """
policy "bench-stream" version "1.0.0"
entities contact = [EMAIL_ADDRESS, PHONE_NUMBER]
topic medical { "diagnosis" 1.0, "prescription" 1.0, "dosage" 0.8 }
output {
  rule no-secrets: deny "credentials" when secrets()
  rule no-medical: deny "medical advice" when topic(medical) >= 0.6
  rule redact-contact: redact contact using replace("<{entity}>")
}
"""


def chunks_of(text: str, rnd: random.Random) -> list[str]:
    """Split into token-like chunks: a word with its leading space, now and then two."""
    words = text.split(" ")
    out, i = [], 0
    while i < len(words):
        k = 2 if rnd.random() < 0.2 else 1
        out.append((" " if i else "") + " ".join(words[i:i + k]))
        i += k
    return out


@section("streaming", "Streaming: StreamGuard per-chunk cost", needs=())
def run(ctx: Context, res: SectionResult) -> None:
    from guardrails import Engine
    from guardrails.guard.stream_guard import StreamGuard

    engine = Engine.from_source(OUTPUT_POLICY, cache_size=1)
    rnd = random.Random(ctx.seed)
    feeds: list[float] = []
    released_ok = [True]
    clock = time.perf_counter

    def stream(chunks: list[str]) -> None:
        sg = StreamGuard(engine)
        out = []
        for c in chunks:
            t = clock()
            out.append(sg.feed(c))
            feeds.append(clock() - t)
        tail, _ = sg.finish()
        out.append(tail)
        released_ok[0] &= "".join(out) == "".join(chunks)

    def at_the_end(chunks: list[str]) -> None:
        engine.check_output("".join(chunks))

    for chunks in [chunks_of(prose(rnd, 2000), rnd) for _ in range(2)]:  # warm-up, not timed
        stream(chunks)
        at_the_end(chunks)
    feeds.clear()
    reps = ctx.pick(2, 5, 5)
    streams = [[chunks_of(prose(rnd, 2000), rnd) for _ in range(ctx.pick(3, 8, 20))] for _ in range(reps)]
    m = measure([stream, at_the_end], lambda rep: [streams[rep], streams[rep]], reps, rnd)
    # Per chunk: each stream's time divided by its number of chunks.
    lengths = [[len(c) for c in rep] for rep in streams]
    per_chunk = Measured([[[t / k for t, k in zip(side, lengths[rep])] for side in sides]
                          for rep, sides in enumerate(m.samples)])
    res.check("a clean stream is released unchanged", released_ok[0])
    n = sum(map(len, lengths))
    res.rows.append(per_chunk.row("per clean chunk, amortised (feed + finish)", "one check_output at the end, per chunk",
                                  kind="relative", note=f"{n} streams of ~2 KB, {sum(map(sum, lengths)) // n} "
                                                        "chunks each"))
    res.rows.append(budget_row("per clean chunk vs 50 µs budget",
                               [statistics.median(rep[0]) for rep in per_chunk.samples], 50e-6, "50 µs budget",
                               goal=1.0))
    single = Timing(feeds)
    res.notes.append(f"a single feed() call: median {fmt_time(single.median)}, p99 {fmt_time(single.p99)} "
                     "(most feeds only buffer; every holdback+step characters one runs the rules)")
    res.notes.append("each stream is streamed and checked once at the end, in an order drawn at random "
                     "for each stream")
