"""Reversible pseudonymisation: placeholders for the model, real values for the user.

With ``guard(..., pseudonymize=True)`` every span the input rules redact is
replaced, before the model sees it, by a placeholder such as
``<EMAIL_ADDRESS_1_k3f9>``. The model answers in terms of the placeholder and
the guard puts the real value back in the answer, which then goes through the
output rules like any answer: a value the output rules redact stays redacted.

Why a mapping object per call *and* a nonce in the placeholder
--------------------------------------------------------------
The values live only in one :class:`Pseudonymizer`, created for one call and
dropped when it ends. It cannot be pickled, it shows no value in its repr,
and no other call can reach it, so one call's values can never appear in
another call's answer: that isolation holds by construction, with threads
and asyncio tasks alike.

The nonce (four characters, unique among the pseudonymisers alive in the
process) covers the other direction: a placeholder produced for call A that
turns up in call B's answer (a shared cache, a few-shot example, history
replayed by the application) is recognisably foreign and is left as it is,
rather than being silently filled with B's own value of the same number. It
also makes the placeholder distinctive enough to be recognised when a model
echoes it loosely, so restoring accepts:

* any letter case (``<email_address_1_k3f9>``);
* Markdown-escaped underscores (``EMAIL\\_ADDRESS\\_1\\_k3f9``);
* spaces for underscores and around the brackets, up to three;
* HTML-escaped brackets (``&lt;...&gt;``) or none at all.

A placeholder whose nonce or number is not this call's is never resolved.
``Pseudonymizer(nonce=False)`` gives the plain ``<EMAIL_ADDRESS_1>`` form,
which must then be echoed with its brackets, and relies on the per-call
mapping alone.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterable
from typing import Any

NONCE_ALPHABET = "bcdfghjkmnpqrstvwxz23456789"  # no vowels (no words), no 0/1/l/o look-alikes
NONCE_LENGTH = 4

_live: set[str] = set()
_live_lock = threading.Lock()


def _claim_nonce() -> str:
    with _live_lock:
        while True:
            nonce = "".join(secrets.choice(NONCE_ALPHABET) for _ in range(NONCE_LENGTH))
            if nonce not in _live:
                _live.add(nonce)
                return nonce


def _release_nonce(nonce: str) -> None:
    with _live_lock:
        _live.discard(nonce)


def _entity_name(entity: str) -> str:
    name = re.sub(r"[^A-Z0-9]+", "_", entity.upper()).strip("_")
    return name or "VALUE"


_SEP = r"(?:\\?_|[ ]{1,3})"  # "_", Markdown's "\_", or spaces


def _loose(name: str) -> str:
    """``EMAIL_ADDRESS`` as a pattern that accepts the echoes listed above."""
    return _SEP.join(re.escape(part) for part in name.split("_"))


def merge_spans(spans: Iterable[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Merge overlapping ``(start, end, entity)`` spans, as the engine merges
    redactions: overlaps become one span (the entity of its first part),
    spans that merely touch stay separate, empty spans are dropped."""
    merged: list[list[Any]] = []
    for start, end, entity in sorted(s for s in spans if s[1] > s[0]):
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end, entity])
    return [(s, e, ent) for s, e, ent in merged]


class Pseudonymizer:
    """The placeholder <-> value mapping of one guarded call.

    * :meth:`pseudonymize` replaces spans of a text with placeholders; the
      same value always gets the same placeholder within the call.
    * :meth:`restore` puts the values back into a text;
      :meth:`restore_value` into every string of a JSON-like value (tool call
      arguments); :meth:`restorer` gives an incremental restorer for streams,
      which holds back a possible placeholder split across chunks.
    * :meth:`close` forgets the values and frees the nonce; a pseudonymiser
      is also a context manager.

    Thread-safe for one call's own concurrent use; it is never shared between
    calls.
    """

    __slots__ = ("nonce", "_values", "_by_value", "_counts", "_rx", "_longest", "_lock", "_closed")

    def __init__(self, *, nonce: bool = True):
        self.nonce = _claim_nonce() if nonce else ""
        self._values: dict[tuple[str, int], str] = {}  # (ENTITY, n) -> value
        self._by_value: dict[str, str] = {}  # value -> placeholder
        self._counts: dict[str, int] = {}
        self._rx: re.Pattern[str] | None = None
        self._longest = 0
        self._lock = threading.Lock()
        self._closed = False

    # -- building the mapping
    def placeholder(self, value: str, entity: str) -> str:
        """The placeholder standing for ``value`` (created on first use)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this pseudonymizer is closed")
            existing = self._by_value.get(value)
            if existing is not None:
                return existing
            name = _entity_name(entity)
            n = self._counts.get(name, 0) + 1
            self._counts[name] = n
            self._values[(name, n)] = value
            token = f"<{name}_{n}_{self.nonce}>" if self.nonce else f"<{name}_{n}>"
            self._by_value[value] = token
            self._rx = None
            return token

    def pseudonymize(self, text: str, spans: Iterable[tuple[int, int, str]]) -> str:
        """Replace the (merged) ``(start, end, entity)`` spans of ``text``."""
        out: list[str] = []
        pos = 0
        for start, end, entity in merge_spans(spans):
            if start < pos or end > len(text):
                raise ValueError("spans must lie inside the text")
            out.append(text[pos:start])
            out.append(self.placeholder(text[start:end], entity))
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def __len__(self) -> int:
        return len(self._values)

    # -- restoring
    def _pattern(self) -> re.Pattern[str] | None:
        rx = self._rx
        if rx is None and self._values:
            with self._lock:
                names = sorted({name for name, _ in self._values}, key=len, reverse=True)
                alternatives = "|".join(_loose(n) for n in names)
                body = rf"(?P<name>{alternatives}){_SEP}(?P<n>\d{{1,6}})"
                if self.nonce:
                    body += rf"{_SEP}(?P<nonce>{re.escape(self.nonce)})(?![A-Za-z0-9])"
                    pattern = rf"(?:(?:<|&lt;)[ ]{{0,3}})?(?<![A-Za-z0-9_]){body}(?:[ ]{{0,3}}(?:>|&gt;))?"
                else:
                    pattern = rf"(?:<|&lt;)[ ]{{0,3}}{body}[ ]{{0,3}}(?:>|&gt;)"
                rx = self._rx = re.compile(pattern, re.IGNORECASE)
                # The longest text a match can span, for the stream restorer.
                longest_name = max(len(n) for n in names)
                self._longest = 4 + 3 + 3 * longest_name + 4 + 6 + 4 + len(self.nonce) + 3 + 4
        return rx

    def _resolve(self, m: re.Match[str]) -> str:
        name = re.sub(r"(?:\\?_|[ ]+)", "_", m.group("name")).upper()
        value = self._values.get((name, int(m.group("n"))))
        return m.group(0) if value is None else value

    def restore(self, text: str) -> str:
        """``text`` with every placeholder of this call replaced by its value."""
        rx = self._pattern()
        if rx is None or self._closed:
            return text
        return rx.sub(self._resolve, text)

    def restore_value(self, value: Any) -> Any:
        """A copy of a JSON-like value with placeholders restored in its strings."""
        if isinstance(value, str):
            return self.restore(value)
        if isinstance(value, dict):
            return {k: self.restore_value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.restore_value(v) for v in value)
        return value

    def restorer(self) -> "Restorer":
        """An incremental restorer for one stream of text."""
        return Restorer(self)

    # -- lifetime
    def close(self) -> None:
        """Forget every value and free the nonce. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._values.clear()
            self._by_value.clear()
            self._rx = None
        if self.nonce:
            _release_nonce(self.nonce)

    def __enter__(self) -> "Pseudonymizer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:  # never the values
        state = "closed" if self._closed else f"{len(self._values)} values"
        return f"<Pseudonymizer nonce={self.nonce!r} {state}>"

    def __reduce__(self):
        raise TypeError("a Pseudonymizer holds one call's real values and never leaves the process")

    def __copy__(self):
        raise TypeError("a Pseudonymizer belongs to one call and cannot be copied")

    def __deepcopy__(self, memo):
        raise TypeError("a Pseudonymizer belongs to one call and cannot be copied")


class Restorer:
    """Restores placeholders in a stream, chunk by chunk.

    ``feed(chunk)`` returns the restored text that is final; the last few
    characters, which might be the start of a placeholder that the next
    chunk completes, are held back until they can be decided. ``finish()``
    returns the rest. When the call has no placeholders nothing is held back.
    """

    __slots__ = ("_p", "_buf")

    def __init__(self, pseudonymizer: Pseudonymizer):
        self._p = pseudonymizer
        self._buf = ""

    def feed(self, chunk: str) -> str:
        rx = self._p._pattern()
        if rx is None:
            return chunk
        buf = self._buf + chunk
        # A match that ends at least `longest` characters before the end of
        # what has arrived cannot grow any more: everything after it is known.
        cut = len(buf) - self._p._longest
        if cut <= 0:
            self._buf = buf
            return ""
        out: list[str] = []
        pos = 0
        for m in rx.finditer(buf):
            if m.end() > cut:
                cut = min(cut, m.start())
                break
            out.append(buf[pos:m.start()])
            out.append(self._p._resolve(m))
            pos = m.end()
        out.append(buf[pos:cut])
        self._buf = buf[cut:]
        return "".join(out)

    def finish(self) -> str:
        rest, self._buf = self._buf, ""
        return self._p.restore(rest)


__all__ = ["Pseudonymizer", "Restorer", "merge_spans"]
