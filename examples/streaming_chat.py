"""A streaming chat guarded token by token, with a local fake model.

Run it: ``python examples/streaming_chat.py`` (no network, no keys). The fake
model streams its answer in small chunks, so e-mail addresses, card numbers
and placeholders arrive split across chunks. It shows the redacted stream, a
stream stopped in the middle by a deny, placeholders restored across chunk
boundaries, and StreamGuard used directly.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from guardrails import Engine
from guardrails.guard import PolicyViolation, guard
from guardrails.guard.stream_guard import StreamGuard

POLICIES = Path(__file__).resolve().parent.parent / "policies"
engine = Engine.from_path(POLICIES)

ANSWERS = {
    "refund": ("I found your order. The refund of 40 EUR goes back to the card 4111 1111 1111 1111 "
               "within five days; the receipt is sent to billing@shop.example.com. Anything else?"),
    "pills": ("Your parcel left our warehouse in Leeds on Monday and is now with the courier, who "
              "usually delivers within two working days; you will get a text message on the morning "
              "of the delivery with a one-hour window. By the way, for that cough the right dosage of the medication "
              "is two tablets, and a prescription is not needed. Your tracking number follows."),
}


async def fake_model_stream(prompt: str):
    """A stand-in for a streaming completion API: 3-character chunks."""
    placeholders = re.findall(r"<[A-Z_]+_\d+_[a-z0-9]+>", prompt)
    if placeholders:
        text = (f"Noted: our billing team will call you at {placeholders[0]} tomorrow between nine and "
                f"eleven, and if nobody answers they will try {placeholders[0]} again in the afternoon. "
                "You do not need to do anything else before then.")
    else:
        text = ANSWERS["pills" if "parcel" in prompt else "refund"]
    for i in range(0, len(text), 3):
        await asyncio.sleep(0)  # a real model would be waiting for tokens here
        yield text[i:i + 3]


@guard(engine, policy="support-bot", input_arg="prompt", context={"user_id": "cust-42"})
async def chat(prompt: str):
    async for token in fake_model_stream(prompt):
        yield token


async def show(stream) -> str:
    pieces = []
    async for piece in stream:
        pieces.append(piece)
    print(f"  released in {len(pieces)} pieces: {'|'.join(pieces)!r}")
    return "".join(pieces)


async def main() -> None:
    print("1. A redacted stream: values split across 3-character chunks are still caught")
    await show(chat("I'd like a refund please"))

    print("\n2. A deny in the middle of the stream stops it")
    released = []
    try:
        async for piece in chat("Where is my parcel?"):
            released.append(piece)
    except PolicyViolation as exc:
        print(f"  released before the stop: {'|'.join(released)!r}")
        print(f"  STOPPED: {exc}")

    print("\n3. on_deny ends the stream with a last message instead")
    polite = guard(engine, policy="support-bot", input_arg="prompt",
                   on_deny=lambda d: " [The rest of this answer was withheld.]")(chat.__wrapped__)
    await show(polite("Where is my parcel?"))

    print("\n4. Pseudonymised: placeholders split across chunks are restored")
    private = Engine.from_source(
        'policy "private" version "1.0.0"\n'
        'input { rule hide-phone: redact [PHONE_NUMBER] }\n'
        'output { rule hide-card: redact [CREDIT_CARD] using mask("*") }\n'
    )

    @guard(private, policy="private", input_arg="prompt", pseudonymize=True)
    async def private_chat(prompt: str):
        print(f"  model received: {prompt!r}")
        async for token in fake_model_stream(prompt):
            yield token

    await show(private_chat("Please call me back on 212-555-0123"))

    print("\n5. StreamGuard on its own (as a sidecar or a web handler would use it)")
    sg = StreamGuard(engine, policy="support-bot", context={"user_id": "cust-42"})
    out = []
    async for token in fake_model_stream("refund"):
        piece = await sg.afeed(token)
        if piece:
            out.append(piece)
    tail, decision = await sg.afinish()
    out.append(tail)
    print(f"  {len(out)} releases; final decision: {decision.outcome.value} by {decision.rule_ids}")
    print(f"  text: {''.join(out)!r}")


if __name__ == "__main__":
    asyncio.run(main())
