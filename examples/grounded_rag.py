"""A retrieval-augmented assistant whose answers must rest on what it retrieved.

Run it: ``python examples/grounded_rag.py`` (no network, no keys, no LLM).
A keyword retriever over a small knowledge base stands in for the vector
store, and a scripted function stands in for the model. The policy is
``policies/rag-search.policy``:

* the retrieval rules run on the chunks first: a chunk from the HR
  collection is dropped and a contact address redacted before the model
  sees them;
* the output rules check the answer against the chunks the model was given
  (``grounded()``, docs/grounding.md): below 80% of its claims supported it
  is denied, a figure the documents do not give is escalated to fact
  checking, and a citation naming no chunk is removed.

One decorator argument does the wiring: ``sources_arg="chunks"`` names the
parameter holding the retrieved chunks. The last part streams an answer
through the same guard: it is checked sentence by sentence, and the
sentence with the wrong figure is never released.
"""

from __future__ import annotations

from pathlib import Path

from guardrails import Engine
from guardrails.guard import PolicyViolation, guard

POLICIES = Path(__file__).resolve().parent.parent / "policies"
engine = Engine.from_path(POLICIES)

KNOWLEDGE_BASE = [
    {"id": "kb-1", "text": "Refunds are accepted within 30 days of purchase. Items must be unused.",
     "metadata": {"collection": "faq", "year": 2024}},
    {"id": "kb-2", "text": "Express delivery costs $12.99 and arrives in 2 business days. Standard delivery "
                           "is free on orders over $50.", "metadata": {"collection": "faq", "year": 2024}},
    {"id": "kb-3", "text": "Refund requests are reviewed by the returns team at returns@example.com.",
     "metadata": {"collection": "faq", "year": 2023}},
    {"id": "kb-4", "text": "Refund abuse cases are escalated to HR for a disciplinary review.",
     "metadata": {"collection": "hr", "year": 2024}},
]


def retrieve(question: str) -> list[dict]:
    """A keyword retriever: every chunk sharing a word's first six letters with the question."""
    def keys(text: str) -> set[str]:
        return {w.strip("?.,").lower()[:6] for w in text.split() if len(w) > 4}

    return [dict(c) for c in KNOWLEDGE_BASE if keys(question) & keys(c["text"])]


SCRIPT: dict[str, str] = {}  # question -> the scripted model's answer
SEEN: list[list[dict]] = []  # the chunks the model was given, call by call


def on_escalate(decision):
    reasons = sorted({s.entity for v in decision.violations for s in v.spans})
    print(f"  escalated to {decision.route}: {[v.rule for v in decision.violations]} {reasons}")
    return "Let me double-check that figure with a colleague before I answer."


@guard(engine, policy="rag-search", input_arg="question", messages_arg=None, sources_arg="chunks",
       on_escalate=on_escalate)
def answer(question: str, chunks: list[dict]) -> str:
    SEEN.append(chunks)
    return SCRIPT[question]


@guard(engine, policy="rag-search", input_arg="question", messages_arg=None, sources_arg="chunks",
       stream_holdback=32, stream_step=16)
def answer_stream(question: str, chunks: list[dict]):
    text = SCRIPT[question]
    for i in range(0, len(text), 7):  # a token stream
        yield text[i:i + 7]


def ask(n: int, title: str, question: str, reply: str) -> None:
    print(f"{n}. {title}")
    SCRIPT[question] = reply
    try:
        out = answer(question, retrieve(question))
        print(f"  user sees: {out!r}")
    except PolicyViolation as exc:
        d = exc.decision
        print(f"  BLOCKED: {exc}")
        for v in d.violations:
            for s in v.spans:
                print(f"    {s.entity}: {reply[s.start:s.end]!r}")
    print()


def main() -> None:
    q = "How do refunds and express delivery work?"
    ask(1, "A grounded answer, with citations", q,
        "Refunds are accepted within thirty days of purchase [kb-1]. Express delivery costs $12.99 and "
        "arrives in 2 business days [kb-2].")
    given = SEEN[-1]
    print(f"  the model was given {[c['id'] for c in given]}; kb-4 (HR collection) was dropped")
    print(f"  kb-3 as the model saw it: {next(c['text'] for c in given if c['id'] == 'kb-3')!r}")
    print()
    ask(2, "A wrong figure in one sentence of five: escalated to fact checking", q,
        "Refunds are accepted within 30 days of purchase. Items must be unused. Express delivery costs "
        "$12.99. It arrives in 5 business days. Standard delivery is free on orders over $50.")
    ask(3, "A citation naming no chunk: the citations are removed", q,
        "Refunds are accepted within 30 days of purchase [kb-1]. Items must be unused [kb-1]. Express "
        "delivery costs $12.99 [kb-2]. It arrives in 2 business days [kb-2]. Standard delivery is free on "
        "orders over $50 [kb-9].")
    ask(4, "A claim the documents do not make: denied", q,
        "Refunds are paid in cash at any of our stores. Express delivery includes a free gift from the Harbour "
        "Gift Shop.")
    ask(5, "The documents do not say: nothing to check", "Do refunds cover gift cards?",
        "The documents do not say whether gift cards can be refunded. Refunds are accepted within 30 days "
        "of purchase.")

    print("6. A streamed answer, checked sentence by sentence")
    q = "How much does express delivery cost, and how are refunds handled?"
    SCRIPT[q] = ("Refunds are accepted within 30 days of purchase. Express delivery costs $19.99. "
                 "Standard delivery is free on orders over $50.")
    released = []
    try:
        for piece in answer_stream(q, retrieve(q)):
            released.append(piece)  # noqa: PERF402 - what went out before a stop
    except PolicyViolation as exc:
        print(f"  STOPPED: {exc}")
    print(f"  released before the stop: {''.join(released)!r}")
    assert "19.99" not in "".join(released)


if __name__ == "__main__":
    main()
