"""Grounding through the decorator and the stream guard: the retrieval
step's chunks are checked and become the answer's sources (from the guarded
call's argument, a per-call ``guard_sources``, or the session), and a
streamed answer is checked sentence by sentence so that an unsupported
figure is never released. The LLMs are fakes; the engine is real."""

from __future__ import annotations

import asyncio

import pytest

from guardrails import Engine, Outcome
from guardrails.guard import PolicyViolation, guard, session
from guardrails.guard.stream_guard import StreamGuard, guard_text_stream

POLICY = '''policy "rag" version "1.0.0"
terms secret = ["PROJECT NIGHTJAR"]
retrieval {
  rule restricted: deny "Restricted collection" when metadata has collection and metadata.collection == "hr"
  rule marked: redact terms secret
}
output {
  rule not-grounded: deny "Not supported by the retrieved documents" when not grounded(min_share=0.8)
  rule figure: escalate to fact_check "A figure the documents do not give"
      when ungrounded(number_mismatch, missing_number)
}
'''
CHUNKS = [
    {"id": "kb-1", "text": "Refunds are accepted within 30 days of purchase.", "metadata": {"collection": "faq"}},
    {"id": "kb-2", "text": "Salaries are reviewed on 1 March.", "metadata": {"collection": "hr"}},
    {"id": "kb-3", "text": "Express delivery costs $12.99 under PROJECT NIGHTJAR.", "metadata": {}},
]


@pytest.fixture()
def engine():
    return Engine.from_source(POLICY)


def test_the_retrieved_chunks_are_checked_and_the_answer_is_checked_against_the_kept_ones(engine):
    seen = {}

    @guard(engine, input_arg="question", messages_arg=None, sources_arg="chunks")
    def answer(question: str, chunks: list) -> str:
        seen["chunks"] = chunks
        return seen["reply"]

    seen["reply"] = "Refunds are accepted within thirty days of purchase [kb-1]."
    assert answer("How long do I have?", CHUNKS) == seen["reply"]
    # The HR chunk was dropped and the marked term redacted before the model saw them.
    assert [c["id"] for c in seen["chunks"]] == ["kb-1", "kb-3"]
    assert "PROJECT NIGHTJAR" not in seen["chunks"][1]["text"] and CHUNKS[2]["text"].endswith("NIGHTJAR.")
    seen["reply"] = "Refunds are accepted within 60 days of purchase."
    with pytest.raises(PolicyViolation) as info:
        answer("How long do I have?", CHUNKS)
    assert info.value.decision.violations[0].spans[0].entity == "NUMBER_MISMATCH"
    # A fact only the dropped chunk holds is not supported by what the model was given.
    seen["reply"] = "Salaries are reviewed on 1 March."
    with pytest.raises(PolicyViolation):
        answer("When are salaries reviewed?", CHUNKS)


def test_plain_string_chunks_are_numbered_from_one_as_the_function_sees_them(engine):
    @guard(engine, input_arg=None, messages_arg=None, sources_arg="chunks", check_retrieval=False)
    def answer(chunks):
        return "Express delivery costs $12.99 [2]."

    assert answer(["Refunds are accepted within 30 days.", "Express delivery costs $12.99."]).endswith("[2].")
    with pytest.raises(PolicyViolation):  # [2] is now the refund chunk: it does not hold the claim
        answer(["Express delivery costs $12.99.", "Refunds are accepted within 30 days."])


def test_guard_sources_gives_one_call_its_sources_and_none_fails_closed(engine):
    @guard(engine, input_arg=None, messages_arg=None)
    def reply():
        return "Refunds are accepted within 30 days."

    assert reply(guard_sources=["Refunds are accepted within 30 days of purchase."]).startswith("Refunds")
    with pytest.raises(PolicyViolation) as info:
        reply(guard_sources=["Refunds are accepted within 14 days of purchase."])
    assert info.value.decision.outcome is Outcome.DENY
    with pytest.raises(PolicyViolation) as info:
        reply()  # no sources and no session: grounded() cannot run, and the policy fails closed
    assert {e.code for e in info.value.decision.errors} == {"missing-attribute"}


def test_inside_a_session_the_answer_is_checked_against_that_session_s_retrieval(engine):
    @guard(engine, input_arg=None, messages_arg=None)
    def reply(text):
        return text

    with session("rag-run-7"):
        engine.check_retrieval(CHUNKS, session="rag-run-7")
        assert reply("Refunds are accepted within 30 days.") == "Refunds are accepted within 30 days."
        with pytest.raises(PolicyViolation):
            reply("Salaries are reviewed on 1 March.")  # the HR chunk was not forwarded
    with session("rag-run-8"), pytest.raises(PolicyViolation):
        reply("Refunds are accepted within 30 days.")  # this session retrieved nothing


def test_the_decorator_refuses_a_missing_parameter_and_a_bad_argument(engine):
    with pytest.raises(TypeError, match="no parameter 'docs'"):
        @guard(engine, input_arg=None, messages_arg=None, sources_arg="docs")
        def f(chunks):
            return ""

    @guard(engine, input_arg=None, messages_arg=None, sources_arg="chunks")
    def g(chunks):
        return ""

    with pytest.raises(TypeError, match=r"g\(chunks=\.\.\.\) must be a list"):
        g("one chunk")
    with pytest.raises(TypeError, match=r"\[1\] must be a string or a dict with a string 'text'"):
        g(["ok", {"body": "x"}])


# ---- streaming -------------------------------------------------------------------------

SOURCES = ["Refunds are accepted within 30 days of purchase. Express delivery costs $12.99.",
           "Standard delivery takes 3 to 5 business days. Returns are free for members."]
GOOD = ("Refunds are accepted within 30 days of purchase. Express delivery costs $12.99. "
        "Standard delivery takes 3 to 5 business days. Returns are free for members. ")


def _pieces(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


@pytest.mark.parametrize("size", [1, 3, 7, 40])
def test_a_grounded_stream_is_released_whole_and_sentence_by_sentence(engine, size):
    sg = StreamGuard(engine, sources=SOURCES, holdback=16, step=8)
    released = []
    for piece in _pieces(GOOD, size):
        out = sg.feed(piece)
        if out:
            released.append(out)
            assert "".join(released).endswith((". ", ".")), released  # only whole sentences go out
    tail, d = sg.finish()
    assert "".join(released) + tail == GOOD and d.outcome is Outcome.ALLOW
    assert len(released) >= 2  # released as it streamed, not only at the end


@pytest.mark.parametrize("size", [1, 2, 5, 11, 64])
def test_an_unsupported_figure_is_never_released(engine, size):
    bad = ("Refunds are accepted within 30 days of purchase. Express delivery costs $19.99 and is "
           "very fast. Standard delivery takes 3 to 5 business days. ")
    sg = StreamGuard(engine, sources=SOURCES, holdback=8, step=4)
    released = ""
    with pytest.raises(PolicyViolation) as info:  # a deny (under 0.8 grounded) or the escalation
        for piece in _pieces(bad, size):
            released += sg.feed(piece)
        released += sg.finish()[0]
    assert "19" not in released and "$" not in released
    assert released in ("", "Refunds are accepted within 30 days of purchase. ")
    spans = [s for v in info.value.decision.violations for s in v.spans]
    assert "NUMBER_MISMATCH" in {s.entity for s in spans}


def test_without_sentence_mode_a_window_cuts_a_number_and_misjudges_it(engine):
    """Why the sentence mode exists: a character window ends inside "30 days"."""
    sg = StreamGuard(engine, sources=SOURCES, holdback=8, step=4, sentences=False)
    with pytest.raises(PolicyViolation):
        for piece in _pieces(GOOD, 5):
            sg.feed(piece)


def test_a_guarded_generator_streams_against_the_call_s_chunks(engine):
    @guard(engine, input_arg=None, messages_arg=None, sources_arg="chunks", check_retrieval=False,
           stream_holdback=16, stream_step=8)
    def stream(chunks, text):
        yield from _pieces(text, 6)

    assert "".join(stream(SOURCES, GOOD)) == GOOD
    out = []
    with pytest.raises(PolicyViolation):
        for piece in stream(SOURCES, GOOD.replace("$12.99", "$14.99")):
            out.append(piece)  # noqa: PERF402 - what went out before a stop
    assert "14.99" not in "".join(out)


def test_an_async_guarded_generator_too(engine):
    @guard(engine, input_arg=None, messages_arg=None, stream_holdback=16, stream_step=8)
    async def stream(text):
        for p in _pieces(text, 9):
            yield p

    async def collect(text, sources):
        return "".join([p async for p in stream(text, guard_sources=sources)])

    assert asyncio.run(collect(GOOD, SOURCES)) == GOOD
    with pytest.raises(PolicyViolation):
        asyncio.run(collect(GOOD.replace("30 days", "45 days"), SOURCES))


def test_guard_text_stream_with_sources(engine):
    sg = StreamGuard(engine, sources=SOURCES)
    assert "".join(guard_text_stream(_pieces(GOOD, 4), sg)) == GOOD
    assert sg.decision.outcome is Outcome.ALLOW


def test_the_grounded_rag_example_runs_alone(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parent.parent / "examples" / "grounded_rag.py"
    proc = subprocess.run([sys.executable, str(example)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "the model was given ['kb-1', 'kb-2', 'kb-3']; kb-4 (HR collection) was dropped" in out
    assert "'Refund requests are reviewed by the returns team at <EMAIL_ADDRESS>.'" in out
    assert "escalated to fact_check: ['figure-not-in-sources'] ['NUMBER_MISMATCH']" in out
    assert "Standard delivery is free on orders over $50 <CITATION>." in out
    # a made-up claim with a name no source has (its "free" alone is weak evidence: evidence.py)
    assert "ENTITY_MISSING: 'Express delivery includes a free gift from the Harbour Gift Shop.'" in out
    assert "user sees: 'The documents do not say whether gift cards" in out
    assert "released before the stop: 'Refunds are accepted within 30 days of purchase. '" in out
