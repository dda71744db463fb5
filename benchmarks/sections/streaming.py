"""Streaming: the per-chunk cost of StreamGuard on a token stream.

A model's answer arrives as word-sized chunks; the guard holds back a
little and checks windows with the policy's output rules. The peer is the
alternative of checking the whole answer once at the end (one
``check_output``), spread over its chunks; the goal is the amortised cost
per clean chunk.
"""

from __future__ import annotations

import random
import time

from ..data import prose
from ..harness import Context, Row, SectionResult, Timing, section, time_calls

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
    streams = [chunks_of(prose(rnd, 2000), rnd) for _ in range(ctx.pick(3, 30, 100))]
    # Warm up.
    sg = StreamGuard(engine)
    for c in streams[0]:
        sg.feed(c)
    sg.finish()
    feed_samples: list[float] = []
    per_chunk_total: list[float] = []
    per_chunk_once: list[float] = []
    released_ok = True
    for chunks in streams:
        sg = StreamGuard(engine)
        out: list[str] = []
        t0 = time.perf_counter()
        for c in chunks:
            t = time.perf_counter()
            out.append(sg.feed(c))
            feed_samples.append(time.perf_counter() - t)
        tail, _ = sg.finish()
        total = time.perf_counter() - t0
        out.append(tail)
        released_ok &= "".join(out) == "".join(chunks)
        per_chunk_total.append(total / len(chunks))
        text = "".join(chunks)
        once = time_calls(engine.check_output, [text]).samples[0]
        per_chunk_once.append(once / len(chunks))
    res.check("a clean stream is released unchanged", released_ok)
    mean = Timing(per_chunk_total)
    res.rows.append(Row("per clean chunk, amortised (feed + finish)", mean, "one check_output at the end, per chunk",
                        Timing(per_chunk_once), kind="relative",
                        note=f"{len(streams)} streams of ~2 KB, {sum(map(len, streams)) // len(streams)} chunks each"))
    res.rows.append(Row("per clean chunk vs 50 µs budget", Timing([mean.median]), "50 µs budget", Timing([50e-6]),
                        kind="relative", goal=1.0))
    res.rows.append(Row("single feed() call", Timing(feed_samples), "one check_output at the end, per chunk",
                        Timing(per_chunk_once), kind="relative",
                        note="most feeds only buffer; every holdback+step characters one runs the rules"))
