"""Policy regexes as z3 regular expressions, for the subset z3 can express.

``s matches /R/`` is a search: R may match anywhere, so it becomes
``s in .* R .*``, less the ``.*`` on a side that ``^`` or ``$`` anchors.
Translated exactly: literals, ``.``, classes (ranges, negation, ``\\d \\w \\s``
and their negations, as the engine's ``regex`` module reads them on
Unicode text), groups, ``|``, ``* + ? {m,n}`` (greedy or lazy: a search
only asks whether some match exists), ``^``/``\\A`` at the start and
``$``/``\\Z`` at the end, and the flags ``i`` (letters whose case pairs are
single characters), ``s`` and ``x``. Unicode's ``\\d`` and ``\\w`` (which the engine matches, Arabic digits
and all) have too many ranges for z3 to stay fast, so they too are left
free. Everything else (``\\b``, look-around,
back-references, ``m`` anchors, possessive forms) raises :class:`Untranslatable`;
the caller then makes the match a free input and says so.

z3's characters stop at U+2FFFF: strings above it are outside what the
solver can build.
"""

from __future__ import annotations

import re
import re._constants as C
import re._parser as sre
from functools import cache
from typing import Any

MAX_CHAR = 0x2FFFF
#: A class of more ranges than this (Unicode's \\d has 72) makes z3 slow: left free.
MAX_RANGES = 16


class Untranslatable(Exception):
    """A regex construct with no z3 counterpart: the reason."""


_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


@cache
def _category_ranges(escape: str) -> tuple[tuple[int, int], ...]:
    """The code points the engine's `\\d`, `\\w` or `\\s` matches, as ranges."""
    import regex

    rx = regex.compile(escape)
    out: list[tuple[int, int]] = []
    start = None
    for cp in range(MAX_CHAR + 2):
        hit = cp <= MAX_CHAR and not (0xD800 <= cp <= 0xDFFF) and rx.match(chr(cp)) is not None
        if hit and start is None:
            start = cp
        elif not hit and start is not None:
            out.append((start, cp - 1))
            start = None
    return tuple(out)


@cache
def _ascii_folds() -> dict[str, tuple[int, ...]]:
    """The non-ASCII characters the engine's case-insensitive match takes for an ASCII letter."""
    import regex

    out: dict[str, list[int]] = {}
    letters = regex.compile("[a-z]", regex.IGNORECASE)
    for cp in range(0x80, MAX_CHAR + 1):
        if not (0xD800 <= cp <= 0xDFFF) and letters.fullmatch(chr(cp)):
            for a in "abcdefghijklmnopqrstuvwxyz":
                if regex.fullmatch(a, chr(cp), regex.IGNORECASE):
                    out.setdefault(a, []).append(cp)
    return {k: tuple(v) for k, v in out.items()}


_CATEGORIES = {
    C.CATEGORY_DIGIT: (r"\d", False), C.CATEGORY_NOT_DIGIT: (r"\d", True),
    C.CATEGORY_WORD: (r"\w", False), C.CATEGORY_NOT_WORD: (r"\w", True),
    C.CATEGORY_SPACE: (r"\s", False), C.CATEGORY_NOT_SPACE: (r"\s", True),
}


class _Translator:
    def __init__(self, z3: Any, flags: int):
        self.z3 = z3
        self.icase = bool(flags & re.IGNORECASE)
        self.dotall = bool(flags & re.DOTALL)
        self.multiline = bool(flags & re.MULTILINE)

    def char(self, cp: int) -> Any:
        z3 = self.z3
        if cp > MAX_CHAR:
            raise Untranslatable(f"the character U+{cp:X} is beyond what the solver represents")
        return z3.Re(z3.StringVal(chr(cp)))

    def ranges(self, pairs: list[tuple[int, int]]) -> Any:
        z3 = self.z3
        parts = []
        for a, b in pairs:
            if a > MAX_CHAR:
                continue
            b = min(b, MAX_CHAR)
            parts.append(self.char(a) if a == b else z3.Range(chr(a), chr(b)))
        if not parts:
            return z3.Empty(z3.ReSort(z3.StringSort()))
        return parts[0] if len(parts) == 1 else z3.Union(*parts)

    def literal_set(self, cp: int) -> list[tuple[int, int]]:
        if not self.icase:
            return [(cp, cp)]
        c = chr(cp)
        forms = {cp}
        for other in (c.lower(), c.upper()):
            if len(other) != 1:
                raise Untranslatable(f"case-insensitive {c!r} has a multi-character case form")
            forms.add(ord(other))
        if not c.isascii() and len(forms) > 1:
            raise Untranslatable(f"case-insensitive matching of the non-ASCII letter {c!r}")
        if len(forms) > 1:  # the engine also folds a few non-ASCII letters to ASCII (K: the Kelvin sign)
            forms.update(_ascii_folds().get(c.lower(), ()))
        return [(f, f) for f in sorted(forms)]

    def klass(self, items: list) -> Any:
        z3 = self.z3
        negate = False
        pairs: list[tuple[int, int]] = []
        extra = []
        for op, av in items:
            if op is C.NEGATE:
                negate = True
            elif op is C.LITERAL:
                pairs.extend(self.literal_set(av))
            elif op is C.RANGE:
                lo, hi = av
                if self.icase and not (chr(lo).isascii() and chr(hi).isascii()):
                    raise Untranslatable("a case-insensitive range beyond ASCII")
                pairs.append((lo, hi))
                if self.icase:
                    for cp in range(lo, hi + 1):
                        pairs.extend(self.literal_set(cp))
            elif op is C.CATEGORY and av in _CATEGORIES:
                esc, neg = _CATEGORIES[av]
                found = _category_ranges(esc)
                if len(found) > MAX_RANGES:
                    raise Untranslatable(f"{esc} matches Unicode's {len(found)} ranges of such characters, "
                                         "more than the solver handles quickly")
                r = self.ranges(list(found))
                extra.append(z3.Intersect(self.anychar(True), z3.Complement(r)) if neg else r)
            else:
                raise Untranslatable(f"the class item {op}")
        r = self.ranges(pairs) if pairs else None
        for e in extra:
            r = e if r is None else z3.Union(r, e)
        if r is None:
            r = z3.Empty(z3.ReSort(z3.StringSort()))
        if negate:
            return z3.Intersect(self.anychar(True), z3.Complement(r))
        return r

    def anychar(self, newline: bool) -> Any:
        z3 = self.z3
        if newline:
            return z3.Range(chr(0), chr(MAX_CHAR))
        return z3.Union(z3.Range(chr(0), chr(9)), z3.Range(chr(11), chr(MAX_CHAR)))

    def seq(self, items: list) -> Any:
        z3 = self.z3
        parts = [self.node(op, av) for op, av in items]
        if not parts:
            return z3.Re(z3.StringVal(""))
        return parts[0] if len(parts) == 1 else z3.Concat(*parts)

    def node(self, op: Any, av: Any) -> Any:
        z3 = self.z3
        if op is C.LITERAL:
            return self.ranges(self.literal_set(av))
        if op is C.NOT_LITERAL:
            return z3.Intersect(self.anychar(True), z3.Complement(self.ranges(self.literal_set(av))))
        if op is C.ANY:
            return self.anychar(self.dotall)
        if op is C.IN:
            return self.klass(list(av))
        if op is C.BRANCH:
            return z3.Union(*[self.seq(list(b)) for b in av[1]])
        if op is C.SUBPATTERN:
            _group, add, dele, sub = av
            if add or dele:
                raise Untranslatable("inline flags inside a group")
            return self.seq(list(sub))
        if op in (C.MAX_REPEAT, C.MIN_REPEAT):
            lo, hi, sub = av
            r = self.seq(list(sub))
            if hi is C.MAXREPEAT:
                return z3.Concat(z3.Loop(r, lo, lo), z3.Star(r)) if lo else z3.Star(r)
            return z3.Loop(r, lo, hi)
        if op is C.AT:
            raise Untranslatable("an anchor or word boundary (\\b) away from the pattern's ends")
        raise Untranslatable(f"the construct {str(op).lower()}")


_START = {C.AT_BEGINNING, C.AT_BEGINNING_STRING}


def search_regex(z3: Any, pattern: str, flags: str) -> Any:
    """The z3 regex of the strings in which `pattern` finds a match."""
    bits = 0
    for f in flags:
        bits |= _FLAGS[f]
    try:
        parsed = sre.parse(pattern, bits)
    except re.error as exc:  # the regex module reads more than re: say so, never guess
        raise Untranslatable(f"the pattern is not in Python's re syntax ({exc})") from None
    t = _Translator(z3, bits | parsed.state.flags)
    items = list(parsed)
    if len(items) == 1 and items[0][0] is C.BRANCH:
        return z3.Union(*[_search_seq(t, list(b)) for b in items[0][1][1]])
    return _search_seq(t, items)


def _search_seq(t: _Translator, items: list) -> Any:
    z3 = t.z3
    anywhere = z3.Star(t.anychar(True))
    head, tail = anywhere, anywhere
    if items and items[0][0] is C.AT and items[0][1] in _START:
        if t.multiline and items[0][1] is C.AT_BEGINNING:
            raise Untranslatable("^ under the m flag")
        head, items = None, items[1:]
    if items and items[-1][0] is C.AT and items[-1][1] in (C.AT_END, C.AT_END_STRING):
        if t.multiline and items[-1][1] is C.AT_END:
            raise Untranslatable("$ under the m flag")
        # `$` also matches before a final new line; `\Z` only at the very end.
        tail = z3.Option(z3.Re(z3.StringVal("\n"))) if items[-1][1] is C.AT_END else None
        items = items[:-1]
    body = t.seq(items)
    parts = [p for p in (head, body, tail) if p is not None]
    return parts[0] if len(parts) == 1 else z3.Concat(*parts)


__all__ = ["MAX_CHAR", "Untranslatable", "search_regex"]
