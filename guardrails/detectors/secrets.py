"""Credentials and keys in text: provider token formats plus key=value heuristics.

Speed on clean text is the design constraint (the scanner runs on every
prompt and completion). Python's regex engines manage only a few hundred
ns per character for an alternation of many prefixes, but ``str.find`` scans
at memchr speed. So every kind's regex *starts* with one of a few literal
triggers (``AKIA``, ``ghp_``, ``-----BEGIN``, a keyword such as ``password``),
``find`` locates the trigger occurrences with ``str.find``, and the regex is
only tried, anchored, at those positions. Kinds whose triggers all contain a
common character (``_``, ``-``, ``=``/``:``) are skipped outright when the text
lacks it. About 10 KB of clean prose costs roughly 100 µs.

The kinds, their patterns and documented shapes, and the placeholder rules
live in :mod:`.secret_kinds`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import regex

from guardrails.detectors.base import Finding
from guardrails.detectors.secret_kinds import (
    GENERIC,
    KINDS,
    NEAR,
    SCORES,
    SECRET_KINDS,
    Kind,
    compiled,
    generic_value,
    plausible,
)

__all__ = ["SECRET_KINDS", "SecretScanner"]

class SecretScanner:
    """Finds credentials of the configured kinds (all of :data:`SECRET_KINDS` by default).

    Findings carry the kind upper-cased as entity (``"AWS_ACCESS_KEY_ID"``)
    and span only the secret itself; for key=value kinds that is the value,
    not the key name. Scores are 1.0 for provider formats and 0.7 for the
    generic assignment heuristic, which is dropped where it overlaps a more
    specific finding.
    """

    def __init__(self, kinds: Iterable[str] | None = None) -> None:
        if kinds is None:
            selected = list(KINDS)
        else:
            selected = list(dict.fromkeys(kinds))
            unknown = sorted(set(selected) - set(KINDS))
            if unknown:
                raise ValueError(
                    f"unknown secret kind(s) {', '.join(map(repr, unknown))}; "
                    f"valid kinds: {', '.join(sorted(KINDS))}"
                )
        self.kinds: tuple[str, ...] = tuple(selected)
        self._kinds = tuple(compiled(kind) for name in selected for kind in KINDS[name])

    def find(self, text: str) -> list[Finding]:
        """Secrets in ``text``, sorted by ``(start, end, entity)``."""
        gate_memo: dict[str, bool] = {}
        trigger_memo: dict[tuple[bool, str], list[int]] = {}
        lowered: str | None = None
        specific: set[Finding] = set()
        generic: list[Finding] = []
        for kind in self._kinds:
            if kind.gates and not any(_gate(text, g, gate_memo) for g in kind.gates):
                continue
            if kind.lower:
                if lowered is None:
                    lowered = text.lower()
                matches = _matches(kind, text, lowered, trigger_memo)
            else:
                matches = _matches(kind, text, text, trigger_memo)
            entity = kind.name.upper()
            if kind.name == GENERIC:
                for m in matches:
                    span = generic_value(m)
                    if span is not None:
                        generic.append(Finding(span[0], span[1], entity, SCORES[GENERIC]))
                continue
            has_value = "value" in kind.pattern.groupindex
            for m in matches:
                start, end = m.span("value") if has_value else m.span()
                if plausible(kind.name, text[start:end]):
                    specific.add(Finding(start, end, entity, 1.0))
        # A provider format beats the heuristic: `token = "ghp_..."` is a
        # GitHub token, not a generic password.
        findings = [*specific] + [
            g for g in generic if not any(g.start < s.end and s.start < g.end for s in specific)
        ]
        findings.sort(key=lambda f: (f.start, f.end, f.entity))
        return findings


def _gate(text: str, gate: str, memo: dict[str, bool]) -> bool:
    hit = memo.get(gate)
    if hit is None:
        hit = memo[gate] = gate in text
    return hit


def _matches(
    kind: Kind, text: str, haystack: str, found: dict[tuple[bool, str], list[int]]
) -> Iterator[regex.Match[str]]:
    """Non-overlapping matches of ``kind``, tried only where a trigger occurs.

    ``found`` memoises each trigger's positions for the patterns that share it.
    """
    if len(haystack) != len(text):
        # Lower-casing changed the length (e.g. "İ"), so offsets in the
        # lowered text are not offsets in ``text``: scan the plain way.
        yield from kind.pattern.finditer(text)
        return
    positions: list[int] = []
    for trigger in kind.triggers:
        hits = found.get((kind.lower, trigger))
        if hits is None:
            hits = found[(kind.lower, trigger)] = []
            at = haystack.find(trigger)
            while at >= 0:
                hits.append(at)
                at = haystack.find(trigger, at + 1)
        positions.extend(hits)
    if not positions:
        return
    positions.sort()
    covered = 0
    near = kind.near
    precheck = kind.precheck
    for at in positions:
        if at < covered:
            continue  # inside the previous match, as finditer would skip it
        if near:
            window = haystack[at : at + NEAR]
            if not any(n in window for n in near):
                continue
        if precheck is not None and not precheck(haystack, at):
            continue
        m = kind.pattern.match(text, at)
        if m is not None:
            covered = m.end()
            yield m
