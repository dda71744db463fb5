"""How much delay the stream guard adds per chunk, against an unguarded generator.

Run it: ``python examples/stream_overhead.py [--chars 20000] [--chunk 4]``.
A clean answer (no PII, no banned term) is streamed in ``--chunk``-character
tokens three ways: unguarded, through ``StreamGuard.feed`` directly, and
through a ``@guard``-decorated generator (which adds the decorator's
per-item work). It prints the mean added time per chunk, in microseconds,
for a policy whose output rules run the PII detector (support-bot) and for
one whose output rules are term lists only (coding-assistant).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from guardrails import Engine
from guardrails.guard import guard
from guardrails.guard.stream_guard import StreamGuard

POLICIES = Path(__file__).resolve().parent.parent / "policies"
WORDS = ("the parcel left our warehouse on monday and the courier usually delivers within two working days "
         "you will get a message with a one hour window on the morning of the delivery ").split()


def clean_text(n: int) -> str:
    out, i = [], 0
    while sum(map(len, out)) + len(out) < n:
        out.append(WORDS[i % len(WORDS)] + ("" if i % 7 else f" {i}"))
        i += 1
    return " ".join(out)[:n]


def tokens(text: str, size: int):
    for i in range(0, len(text), size):
        yield text[i:i + size]


def timed(fn, text: str, repeat: int) -> float:
    """Median time of ``fn(text')`` where each run's text differs from every
    other run's, so the engine's detector cache cannot answer from memory."""
    runs = []
    for r in range(repeat):
        variant = f"run {r} {time.perf_counter_ns()} " + text
        t = time.perf_counter()
        fn(variant)
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chars", type=int, default=20000)
    ap.add_argument("--chunk", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    engine = Engine.from_path(POLICIES)
    text = clean_text(args.chars)
    n = len(list(tokens(text, args.chunk)))

    def unguarded(text):
        for _ in tokens(text, args.chunk):
            pass

    base = timed(unguarded, text, args.repeat)
    print(f"{n} chunks of {args.chunk} characters ({len(text)} characters); "
          f"unguarded: {base / n * 1e6:.2f} us per chunk")
    for policy in ("support-bot", "coding-assistant"):
        context = {"user_id": "u1"}

        def direct(text):
            sg = StreamGuard(engine, policy=policy, context=context)
            for t in tokens(text, args.chunk):
                sg.feed(t)
            sg.finish()

        @guard(engine, policy=policy, input_arg=None, messages_arg=None, context=context)
        def decorated(text):
            yield from tokens(text, args.chunk)

        def through_decorator(text):
            for _ in decorated(text):
                pass

        direct_t = timed(direct, text, args.repeat)
        deco_t = timed(through_decorator, text, args.repeat)
        print(f"{policy:>17}: StreamGuard.feed +{(direct_t - base) / n * 1e6:7.2f} us per chunk, "
              f"@guard generator +{(deco_t - base) / n * 1e6:7.2f} us per chunk")


if __name__ == "__main__":
    main()
