"""Guarding a token stream: release text only once the output rules have seen enough.

:class:`StreamGuard` is the one incremental backend; the decorator
(:mod:`guardrails.guard`) and the sidecar's streaming call both drive it.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from guardrails.decision import Decision, Outcome
from guardrails.detectors.grounding.claims import complete_until
from guardrails.guard.backend import Backend, EscalationRequired, PolicyViolation, redaction_spans

#: Default holdback, in characters: longer than every term in the example
#: policies (the longest is 29), a card number with separators (23), an IBAN
#: with spaces (42) or a phone number, and than most e-mail addresses.
DEFAULT_HOLDBACK = 64

#: Streams shorter than this many holdbacks get no intermediate full check.
FULL_CHECK_FACTOR = 8


@dataclass(frozen=True, slots=True)
class _Window:
    start: int  # offset of `text` in the whole stream
    text: str
    full: bool  # the whole stream so far (a checkpoint or the final check)


class StreamGuard:
    """Checks one text stream incrementally against a policy's output rules.

    ::

        sg = StreamGuard(engine, policy="support-bot", context={"user_id": "u1"})
        for token in model_stream():
            send(sg.feed(token))          # may be "" while text is held back
        tail, decision = sg.finish()      # the final full check
        send(tail)

    **API** (stable; the sidecar's streaming call relies on it):

    * ``StreamGuard(engine_or_client, *, policy=None, context=None,
      holdback=None, step=None, restore=None, on_error=None, session=None,
      sources=None, sentences=None)``.
      ``engine_or_client`` is an :class:`~guardrails.engine.Engine`, a
      ``GuardrailsClient`` or any object with ``check_output`` (and
      optionally ``acheck_output``). ``restore`` is a
      :class:`~guardrails.guard.pseudonymize.Pseudonymizer` whose placeholders are
      put back before the rules see the text. ``on_error`` overrides the
      policy's fail-closed/fail-open choice for backend failures.
      ``session`` is passed to every check (each window checked is a step
      of the session, as in docs/sessions.md). ``sources`` are the passages
      the answer rests on, passed to every check for ``grounded()``
      (docs/grounding.md); with them the stream is checked and released
      sentence by sentence (``sentences`` defaults to ``sources is not
      None``).
    * ``feed(chunk: str) -> str``: the text that is safe to release now,
      redacted as the policy says; often ``""``.
    * ``finish() -> (str, Decision)``: runs one final check over the whole
      text and returns the rest of it with that decision.
    * ``afeed`` / ``afinish``: the same, awaiting ``acheck_output``.
    * A ``deny`` raises :class:`~guardrails.guard.backend.PolicyViolation` from
      ``feed`` or ``finish`` (an ``escalate`` raises its subclass
      :class:`~guardrails.guard.backend.EscalationRequired`), carrying the
      decision. The guard is then stopped: what was released stays
      released, nothing more is, and further calls raise ``RuntimeError``.
    * Read-only: ``released`` (characters of the stream released so far),
      ``decision`` (the latest decision), ``stopped`` (the deciding decision
      or None), ``holdback``, ``step``.

    **How much is held back.** A text is released only once at least
    ``holdback`` characters after it have been checked together with it, so
    a value or banned term up to ``holdback`` characters long that is split
    across chunks is seen whole before any part of it is released; a
    redacted span that reaches into the held-back part holds the release
    back to its start. The default, :data:`DEFAULT_HOLDBACK` (64), covers
    the example policies' terms and the common PII values; raise it for
    longer terms or patterns. ``holdback=float("inf")`` releases nothing
    before ``finish`` (the whole answer is checked first).

    **Cost.** The rules run on a window, not on the whole text: when
    ``holdback + step`` characters are pending (``step`` defaults to the
    holdback), the window is the last ``holdback`` released characters plus
    the pending ones, and all but the last ``holdback`` of those are
    released. Each character is checked about ``(2 * holdback + step) /
    step`` times, so the cost is linear in the length of the stream. Rules
    about the whole text (a topic whose terms are far apart, ``length(text)``)
    are caught by full checks whenever the stream has doubled in length
    since the last one (from ``8 * holdback`` characters on, amortised
    linear) and by the final check; a deny found there stops the stream, but
    cannot recall text already released.

    **Sentence by sentence** (``sentences=True``, the default with
    ``sources``). Grounding judges whole claims: "is 9" of "is 90 days" is a
    missing number, and "0 days" of "30 days" a wrong one. So every window
    starts at the start of a sentence and ends after the last complete one
    (a sentence end followed by space; a line break), the text after it
    waits for the next window, and a sentence is released once it has been
    checked whole. An unsupported figure is therefore never released when
    the policy denies or escalates it. The holdback still sets how much
    earlier text each window looks back at and how much must be pending
    before a look; a stream without a sentence end is held until
    ``finish``. ``grounded(min_share=N)`` is judged on each window's
    sentences as well as on the whole answer at the end.

    A guard serves one stream and is not meant to be fed from several
    threads at once.
    """

    def __init__(self, engine_or_client: Any, *, policy: str | None = None, context: dict | None = None,
                 holdback: int | float | None = None, step: int | None = None, restore: Any = None,
                 on_error: str | None = None, session: str | None = None, sources: list | None = None,
                 sentences: bool | None = None):
        self._backend = Backend.of(engine_or_client, policy, on_error)
        self._session = session
        if sources is not None and (isinstance(sources, (str, bytes)) or not isinstance(sources, (list, tuple))):
            raise TypeError(f"StreamGuard(sources=...) must be a list of passages, not {type(sources).__name__}")
        self._sources = sources
        self._sentences = (sources is not None) if sentences is None else bool(sentences)
        if context is not None and not isinstance(context, dict):
            raise TypeError(f"StreamGuard(context=...) must be a dict, not {type(context).__name__}")
        self._context = context
        if holdback is None:
            holdback = DEFAULT_HOLDBACK
        if isinstance(holdback, bool) or not isinstance(holdback, (int, float)) or holdback < 0:
            raise ValueError(f"holdback must be a number of characters >= 0, not {holdback!r}")
        if step is None:
            step = max(1, int(holdback)) if holdback != float("inf") else 1
        if isinstance(step, bool) or not isinstance(step, int) or step < 1:
            raise ValueError(f"step must be a whole number of characters >= 1, not {step!r}")
        self.holdback = holdback
        self.step = step
        self._trigger = holdback + step
        self._restorer = restore.restorer() if restore is not None else None
        self._chunks: list[str] = []
        self._n = 0  # characters received (after restoring)
        self._tail = ""  # the stream from _tail_start on: the next window's text
        self._tail_start = 0
        self.released = 0
        self._next_eval = 0
        self._next_full = FULL_CHECK_FACTOR * holdback if holdback != float("inf") else float("inf")
        self.decision: Decision | None = None
        self.stopped: Decision | None = None
        self._finished = False

    # -- public
    def feed(self, chunk: str) -> str:
        """Add a chunk; return the text that can be released now."""
        w = self._accept(chunk)
        if w is None:
            return ""
        return self._release(w, self._backend.output(w.text, self._context, self._session, self._sources))

    def finish(self) -> tuple[str, Decision]:
        """Check the whole text once more; return the rest and that decision."""
        w = self._final_window()
        d = self._backend.output(w.text, self._context, self._session, self._sources)
        return self._release(w, d), d

    async def afeed(self, chunk: str) -> str:
        """:meth:`feed`, awaiting the backend's ``acheck_output``."""
        w = self._accept(chunk)
        if w is None:
            return ""
        return self._release(w, await self._backend.aoutput(w.text, self._context, self._session, self._sources))

    async def afinish(self) -> tuple[str, Decision]:
        """:meth:`finish`, awaiting the backend's ``acheck_output``."""
        w = self._final_window()
        d = await self._backend.aoutput(w.text, self._context, self._session, self._sources)
        return self._release(w, d), d

    @property
    def text_length(self) -> int:
        """Characters received so far (after restoring placeholders)."""
        return self._n

    # -- the steps, shared by the sync and async paths
    def _check_open(self) -> None:
        if self.stopped is not None:
            raise RuntimeError("this stream was stopped by the policy: " + _why(self.stopped))
        if self._finished:
            raise RuntimeError("this stream is finished")

    def _accept(self, chunk: str) -> _Window | None:
        self._check_open()
        if not isinstance(chunk, str):
            raise TypeError(f"StreamGuard.feed(chunk): chunk must be a str, not {type(chunk).__name__}")
        if self._restorer is not None:
            chunk = self._restorer.feed(chunk)
        if chunk:
            self._chunks.append(chunk)
            self._n += len(chunk)
            self._tail += chunk
        if self._n - self.released < self._trigger or self._n < self._next_eval:
            return None
        # At least `step` new characters before the next look, even when a
        # long redacted span holds the release back (no re-check per chunk).
        self._next_eval = self._n + self.step
        if self._n >= self._next_full:
            # A checkpoint: the whole text so far, for rules about all of it.
            self._next_full = 2 * self._n
            w = _Window(0, self._joined(), True)
        else:
            start = max(self._tail_start, self.released - int(self.holdback))
            w = _Window(start, self._tail[start - self._tail_start:], False)
        return self._whole_sentences(w) if self._sentences else w

    def _whole_sentences(self, w: _Window) -> _Window | None:
        """`w` from a sentence start to the end of its last complete sentence;
        None when that adds nothing to what was released. The tail always
        starts at a sentence start in this mode (see _release)."""
        start = w.start
        if 0 < start and start > self._tail_start:
            start = self._tail_start + complete_until(self._tail[:start - self._tail_start])
        text = w.text if start == w.start else self._tail[start - self._tail_start:]
        end = complete_until(text)
        if start + end <= self.released:
            return None
        return _Window(start, text[:end], w.full)

    def _final_window(self) -> _Window:
        self._check_open()
        if self._restorer is not None:
            rest = self._restorer.finish()
            if rest:
                self._chunks.append(rest)
                self._n += len(rest)
        self._finished = True
        return _Window(0, self._joined(), True)

    def _joined(self) -> str:
        if len(self._chunks) > 1:
            self._chunks = ["".join(self._chunks)]
        return self._chunks[0] if self._chunks else ""

    def _release(self, w: _Window, d: Decision) -> str:
        self.decision = d
        if d.outcome is Outcome.DENY or d.outcome is Outcome.ESCALATE:
            self.stopped = d
            self._finished = True
            self._tail = ""
            raise (PolicyViolation if d.outcome is Outcome.DENY else EscalationRequired)(d, "the stream")
        end = w.start + len(w.text)
        final = self._finished
        # By sentence, the window ends where its last whole sentence does.
        cut = end if final or self._sentences else end - int(self.holdback)
        spans = _groups(redaction_spans(d))
        for s, e, _ in spans:
            if w.start + s < cut < w.start + e:
                cut = w.start + s  # never release part of a value being redacted
                break
        r = self.released
        if cut <= r:
            return ""
        out = _rewrite(w, d, spans, r, cut)
        self.released = cut
        if not final:
            keep = max(0, cut - int(self.holdback))
            if self._sentences and keep > self._tail_start:  # keep the tail starting at a sentence start
                keep = self._tail_start + complete_until(self._tail[:keep - self._tail_start])
            if keep > self._tail_start:
                self._tail = self._tail[keep - self._tail_start:]
                self._tail_start = keep
        return out


def _why(d: Decision) -> str:
    return "; ".join(f"{v.rule}" + (f" ({v.message})" if v.message else "") for v in d.violations) or d.outcome.value


def _groups(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Redacted spans as disjoint groups; touching spans are one group, since
    nothing of the original text lies between their replacements."""
    groups: list[list[Any]] = []
    for s, e, entity in spans:
        if groups and s <= groups[-1][1]:
            groups[-1][1] = max(groups[-1][1], e)
        else:
            groups.append([s, e, entity])
    return [(s, e, ent) for s, e, ent in groups]


def _replacements(original: str, redacted: str, groups: list[tuple[int, int, str]]) -> list[str] | None:
    """What each group became in ``redacted``, or None when that is ambiguous.

    ``redacted`` is ``original`` with each group replaced, and the text
    between groups unchanged. Each gap is located once from the left
    (earliest) and once from the right (latest); when both agree, the split
    is the only one possible.
    """
    if not groups:
        return []
    gaps = [original[: groups[0][0]]]
    gaps += [original[groups[i][1]: groups[i + 1][0]] for i in range(len(groups) - 1)]
    gaps.append(original[groups[-1][1]:])
    if not redacted.startswith(gaps[0]) or not redacted.endswith(gaps[-1]):
        return None
    first = len(gaps[0])
    last = len(redacted) - len(gaps[-1])
    if last < first:
        return None
    left: list[int] = []
    lo = first
    for g in gaps[1:-1]:
        p = redacted.find(g, lo, last)
        if p < 0:
            return None
        left.append(p)
        lo = p + len(g)
    right: list[int] = []
    hi = last
    for g in reversed(gaps[1:-1]):
        p = redacted.rfind(g, first, hi)
        if p < 0:
            return None
        right.append(p)
        hi = p
    right.reverse()
    if left != right:
        return None
    bounds = [first] + [p for pos, g in zip(left, gaps[1:-1]) for p in (pos, pos + len(g))] + [last]
    return [redacted[bounds[2 * i]: bounds[2 * i + 1]] for i in range(len(groups))]


def _rewrite(w: _Window, d: Decision, groups: list[tuple[int, int, str]], r: int, cut: int) -> str:
    """The stream's characters [r, cut) as the policy forwards them."""
    if not groups:
        return w.text[r - w.start: cut - w.start]
    reps = _replacements(w.text, d.text, groups) if isinstance(d.text, str) else None
    out: list[str] = []
    pos = r
    for i, (s, e, entity) in enumerate(groups):
        s, e = s + w.start, e + w.start
        if e <= r:
            continue
        if s >= cut:
            break
        out.append(w.text[pos - w.start: max(pos, s) - w.start])
        # Both the policy's own rendering and the fallback hide the whole value;
        # the fallback is used only when the renderings cannot be told apart.
        out.append(reps[i] if reps is not None else f"<{entity}>")
        pos = max(pos, e)
    out.append(w.text[pos - w.start: cut - w.start])
    return "".join(out)


def guard_text_stream(chunks: Iterable[str], sg: StreamGuard) -> Iterator[str]:
    """Yield the released, non-empty pieces of a text stream, then the rest.

    The final decision is left on ``sg.decision``.
    """
    for chunk in chunks:
        out = sg.feed(chunk)
        if out:
            yield out
    tail, _ = sg.finish()
    if tail:
        yield tail


async def aguard_text_stream(chunks: AsyncIterable[str], sg: StreamGuard) -> AsyncIterator[str]:
    """:func:`guard_text_stream` for an async stream."""
    async for chunk in chunks:
        out = await sg.afeed(chunk)
        if out:
            yield out
    tail, _ = await sg.afinish()
    if tail:
        yield tail


__all__ = ["DEFAULT_HOLDBACK", "StreamGuard", "aguard_text_stream", "guard_text_stream"]
