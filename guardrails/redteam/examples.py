"""An example string for a policy regex: what a `matches` rule is meant to catch.

Covers the syntax policies use: literals and escapes, classes (``[a-z]``,
``\\d``, ``\\w``, ``\\s``, ``.``), groups (capturing, ``(?:...)``, named),
alternation, the quantifiers ``? * + {m} {m,n}`` (lazy or possessive too) and
the anchors ``^ $ \\b \\B \\A \\Z``, plus the inline flags ``(?i)``. Anything
else (look-arounds, back-references, Unicode properties) is
:class:`Unsupported`, and the caller skips the rule saying so. Every example
is checked against the regex itself before use.
"""

from __future__ import annotations

import random

import regex

__all__ = ["Unsupported", "example"]


class Unsupported(ValueError):
    """The regex uses syntax this generator does not write examples for."""


_CLASS_ESCAPES = {"d": "0123456789", "w": "abcdefghijklmnopqrstuvwxyz0123456789", "s": " ",
                  "D": "x", "W": "-", "S": "x"}
_ANCHOR_ESCAPES = frozenset("bBAZz")
_LITERAL_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "0": "\0"}


class _Gen:
    def __init__(self, pattern: str, rng: random.Random):
        self.p = pattern
        self.i = 0
        self.rng = rng

    def peek(self) -> str:
        return self.p[self.i] if self.i < len(self.p) else ""

    def take(self) -> str:
        ch = self.peek()
        self.i += 1
        return ch

    def alternation(self) -> str:
        branches = [self.sequence()]
        while self.peek() == "|":
            self.take()
            branches.append(self.sequence())
        # The first branch: the one an author wrote first is the plain case.
        return branches[0] if self.rng.random() < 0.5 else self.rng.choice(branches)

    def sequence(self) -> str:
        out = []
        while self.peek() not in ("", "|", ")"):
            atom = self.atom()
            out.append(self.repeat(atom))
        return "".join(out)

    def repeat(self, atom) -> str:
        ch = self.peek()
        lo, hi = 1, 1
        if ch and ch in "?*+":
            self.take()
            lo, hi = {"?": (0, 1), "*": (0, 2), "+": (1, 2)}[ch]
        elif ch == "{" and regex.match(r"\{\d*(,\d*)?\}", self.p[self.i:]):
            m = regex.match(r"\{(\d*)(,(\d*))?\}", self.p[self.i:])
            self.i += m.end()
            lo = int(m.group(1) or 0)
            hi = lo if m.group(2) is None else int(m.group(3)) if m.group(3) else lo + 2
        else:
            return atom()
        if self.peek() in ("?", "+"):
            self.take()  # lazy or possessive: same strings
        count = max(lo, 1) if hi >= 1 else 0
        return "".join(atom() for _ in range(min(count, hi)))

    def atom(self):
        ch = self.take()
        if ch == "(":
            return self.group()
        if ch == "[":
            chars = self.char_class()
            return lambda: self.rng.choice(chars)
        if ch == "\\":
            return self.escape()
        if ch == ".":
            return lambda: "x"
        if ch in "^$":
            return lambda: ""
        if ch in "*+?{":
            raise Unsupported(f"a quantifier with nothing before it at {self.i - 1}")
        return lambda c=ch: c

    def group(self):
        if self.p.startswith("?:", self.i):
            self.i += 2
        elif self.p.startswith("?P<", self.i) or self.p.startswith("?<", self.i) and self.p[self.i + 2] not in "=!":
            self.i = self.p.index(">", self.i) + 1
        elif self.p.startswith("?", self.i):
            m = regex.match(r"\?([a-zA-Z]+)\)", self.p[self.i:])
            if m is None:
                raise Unsupported(f"the group at {self.i - 1} (look-arounds and the like)")
            self.i += m.end()
            return lambda: ""
        start = self.i
        body = self.alternation()  # drawn once: a group's text is fixed per example
        if self.take() != ")":
            raise Unsupported(f"an unclosed group at {start - 1}")
        return lambda b=body: b

    def escape(self):
        ch = self.take()
        if ch in _CLASS_ESCAPES:
            chars = _CLASS_ESCAPES[ch]
            return lambda: self.rng.choice(chars)
        if ch in _ANCHOR_ESCAPES:
            return lambda: ""
        if ch in _LITERAL_ESCAPES:
            return lambda c=_LITERAL_ESCAPES[ch]: c
        if ch.isalnum():
            raise Unsupported(f"the escape \\{ch}")
        return lambda c=ch: c

    def char_class(self) -> str:
        negated = self.peek() == "^"
        if negated:
            self.take()
        members: list[str] = []
        first = True
        while True:
            ch = self.take()
            if ch == "":
                raise Unsupported("an unclosed character class")
            if ch == "]" and not first:
                break
            first = False
            if ch == "\\":
                esc = self.take()
                if esc in _CLASS_ESCAPES:
                    members.extend(_CLASS_ESCAPES[esc])
                    continue
                ch = _LITERAL_ESCAPES.get(esc, esc)
            if self.peek() == "-" and self.p[self.i + 1:self.i + 2] not in ("]", ""):
                self.take()
                end = self.take()
                if end == "\\":
                    end = self.take()
                members.extend(chr(c) for c in range(ord(ch), ord(end) + 1))
            else:
                members.append(ch)
        if negated:
            pool = [c for c in "xyzXYZ019-_ " if c not in members]
            if not pool:
                raise Unsupported("a negated class that excludes every ordinary character")
            return "".join(pool)
        return "".join(members)


def example(pattern: str, flags: str, rng: random.Random) -> str:
    """A string the regex matches, drawn with ``rng``; :class:`Unsupported`
    when the syntax is beyond this generator or no draw matches."""
    compiled = regex.compile(pattern, regex.I if "i" in flags else 0)
    for _ in range(8):
        g = _Gen(pattern, rng)
        text = g.alternation()
        if g.i < len(pattern):
            raise Unsupported(f"unexpected {pattern[g.i]!r} at {g.i}")
        if compiled.search(text):
            return text
    raise Unsupported("no example drawn matches it")
