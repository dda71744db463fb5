"""Presidio's URL matches in time linear in the text.

Presidio's four URL patterns share one core,
``(www\\d{0,3}[.])?[a-z0-9.\\-]{1,253}[.](?:com|edu|...)``: up to 253 host
characters, a dot, then one of 675 top-level domains. A regex scan for it
tries every start position, and at each one reads up to 253 characters
ahead and walks back, trying the domain list at every dot. On a long run of
host characters where no dot is followed by a listed domain (``"www."`` or
``"a."`` repeated) that is about half a millisecond a character, so 2 KB
took over a second; Presidio's time limit (60 s) does not cut it.

:class:`UrlScan` gives, for each pattern, exactly the matches its
``finditer`` gives, in the same order, trying only the positions where a
match can start:

1. The *domain dots*: each "." followed by a listed domain, found by one
   search with the patterns' own domain list and flags. Every match holds
   one, so a text without any holds no URL and costs one search.
2. For each domain dot ``d``, the *core start* ``p``: the start of the run
   of host characters (``[a-z0-9.\\-]``) that holds ``d``, or, for a
   ``www`` prefix whose digits are not host characters (``www\u0663.``), the
   ``w``. A match's core starts there: the character before it is a scheme's
   ``/``, a quote, or any character when the pattern has no prefix.
3. Where each pattern can start: with a scheme or a quote, right before
   ``p``, where that prefix is written; without, anywhere from ``p`` (at
   most 260 characters before ``d``: ``www`` with three digits and a dot,
   then 253) up to ``d``.

The scan then does what ``finditer`` does, over those positions only: from
the end of the previous match, the first candidate position where the
pattern matches (``match`` anchored there, on the whole text) is the next
match. A position that is no candidate cannot start a match, so this skips
only failures. Each attempt reads at most one run's worth of characters,
and nearly every attempt succeeds (a prefix-less start within 253 of a
domain dot always does), so the cost is linear in the text.

Built only for patterns of exactly this shape (:meth:`UrlScan.build`);
tests/test_pii_hostile.py compares it with ``finditer`` on generated texts.
"""

from __future__ import annotations

import re

import regex

from guardrails.detectors.pii.prefilter import merge

__all__ = ["BoundedUrlPattern", "UrlScan"]

_CORE_HEAD = r"((www\d{0,3}[.])?[a-z0-9.\-]{1,253}[.]"
# The text of a pattern before its core -> the prefix it requires (a regex)
# and the lengths that prefix can have; None: no prefix.
_PREFIXES: dict[str, tuple[str, tuple[int, ...]] | None] = {
    "(?i)": None,
    "(?i)(?:https?://)": (r"https?://", (7, 8)),
    "(?i)[\"\\'](https?://": (r"[\"']https?://", (8, 9)),
    "(?i)[\"\\'](": (r"[\"']", (1,)),
}
# After the domain list: an optional path, and the closing quote of the quoted forms.
_TAILS = ("(?:/[^\\s()<>\\\"']*)?)", "(?:/[^\\s()<>\\\"']*)?))[\"\\']")
# The domain list: a group of literal alternatives.
_DOMAINS = re.compile(r"\(\?:(?:\(\?:[a-z0-9-]+\)\|)*\(\?:[a-z0-9-]+\)\)")
# The farthest a match's start lies before its domain dot, without a prefix:
# "www", three digits and a dot, then 253 host characters.
_REACH = 7 + 253


class UrlScan:
    """The candidate start positions of Presidio's URL patterns in a text (see the module docstring)."""

    def __init__(self, patterns: list[str], domains: str, prefixes: list[tuple[str, tuple[int, ...]] | None],
                 flags: int) -> None:
        trie = _trie(domains)
        self._dots = regex.compile(f"[.]{trie}", flags)
        # Each pattern with its domain list factored (see _factored): the
        # same matches, the same order of trying, without trying the 675
        # alternatives one by one at every domain dot.
        factored = _factored(re.findall(r"\(\?:([a-z0-9-]+)\)", domains))
        self._patterns = [regex.compile(p.replace(f"[.]{domains}", f"[.]{factored}", 1), flags)
                          for p in patterns]
        self._run_back = regex.compile(r"(?r)[a-z0-9.\-]+", flags)
        self._host_char = regex.compile(r"[a-z0-9.\-]", flags)
        self._www_back = regex.compile(r"(?r)www\d{1,3}", flags)
        self._prefixes = [None if p is None else (regex.compile(p[0], flags), p[1]) for p in prefixes]
        self._last: tuple[str | None, list | None] = (None, None)

    @classmethod
    def build(cls, patterns: list, flags: int) -> UrlScan | None:
        """A scan for Presidio ``Pattern`` objects of the URL shape; None for any other."""
        domains = None
        prefixes = []
        for p in patterns:
            head = p.regex.find(_CORE_HEAD)
            if head < 0 or p.regex[:head] not in _PREFIXES:
                return None
            m = _DOMAINS.match(p.regex, head + len(_CORE_HEAD))
            if m is None or p.regex[m.end():] not in _TAILS or (domains is not None and m[0] != domains):
                return None
            domains = m[0]
            prefixes.append(_PREFIXES[p.regex[:head]])
        if domains is None:
            return None
        try:
            return cls([p.regex for p in patterns], domains, prefixes, flags)
        except regex.error:
            return None

    def candidates(self, text: str) -> list | None:
        """For each pattern, its candidate starts in ``text`` as sorted
        ``(start, stop)`` ranges; None when ``text`` has no domain dot."""
        last = self._last
        if last[0] is text:
            return last[1]
        plan = self._candidates(text)
        self._last = (text, plan)
        return plan

    def _candidates(self, text: str) -> list | None:
        dots = [m.start() for m in self._dots.finditer(text)]
        if not dots:
            return None
        spans: list[tuple[int, int]] = []  # prefix-less starts: [core start, d) clipped to the reach
        cores: list[int] = []  # core starts within reach of a domain dot
        run_back, host_char, www_back = self._run_back, self._host_char, self._www_back
        for d in dots:
            lo = d - _REACH - 1 if d > _REACH else 0
            p = run_back.match(text, lo, d + 1).start()  # d is a host character: never None
            if p == lo and lo > 0 and host_char.match(text, lo - 1) is not None:
                p = -1  # the run starts farther back than any match's reach
            spans.append((max(p, d - _REACH), d))
            if p >= 0:
                cores.append(p)
                if p >= 4:
                    w = www_back.match(text, max(0, p - 6), p)
                    if w is not None and d - w.start() <= _REACH:
                        cores.append(w.start())
                        spans.append((w.start(), w.start() + 1))
        cores = sorted(set(cores))
        # Every prefix ends in "/" or a quote: a text without them needs no look.
        marks = "/" in text or "'" in text or '"' in text
        plan = []
        for prefix in self._prefixes:
            if prefix is None:
                plan.append(merge(spans))
            elif not marks:
                plan.append([])
            else:
                rx, lengths = prefix
                starts = {p - k for p in cores for k in lengths
                          if p >= k and rx.fullmatch(text, p - k, p) is not None}
                plan.append([(s, s + 1) for s in sorted(starts)])
        return plan

    def finditer(self, index: int, text: str, timeout: float | None = None) -> list:
        """What pattern ``index``'s ``finditer(text)`` yields."""
        plan = self.candidates(text)
        if plan is None:
            return []
        rx = self._patterns[index]
        out = []
        pos = 0
        for a, b in plan[index]:
            s = max(pos, a)
            while s < b:
                m = rx.match(text, s, timeout=timeout)
                if m is None:
                    s += 1
                    continue
                out.append(m)
                pos = s = m.end() if m.end() > s else s + 1
        return out


class BoundedUrlPattern:
    """Stands in for a URL pattern's compiled regex where Presidio's loop
    calls ``finditer``: the same matches, through :class:`UrlScan`."""

    __slots__ = ("index", "scan")

    def __init__(self, scan: UrlScan, index: int) -> None:
        self.scan, self.index = scan, index

    def finditer(self, text: str, timeout: float | None = None) -> list:
        return self.scan.finditer(self.index, text, timeout)


def _trie(domains: str) -> str:
    """A regex matching where some alternative of the group ``domains`` matches,
    in a fraction of the time: the alternatives as a tree of characters, and
    an alternative that another one starts with standing for both ("co" for
    "com"). It finds the same dots, not always the same domain."""
    names = sorted(set(re.findall(r"\(\?:([a-z0-9-]+)\)", domains)))
    tree: dict = {}
    for name in names:
        node = tree
        for ch in name:
            if node.get("") is not None:
                break  # a shorter name ends here: it already matches
            node = node.setdefault(ch, {})
        else:
            node.clear()
            node[""] = {}

    def emit(node: dict) -> str:
        if "" in node:
            return ""
        ends = "".join(re.escape(ch) for ch, child in sorted(node.items()) if "" in child)
        parts = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if "" not in child]
        if ends:
            parts.insert(0, ends if len(ends) == 1 else f"[{ends}]")
        return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"

    return emit(tree)


def _factored(names: list[str]) -> str:
    """An alternation of the literal ``names`` that a backtracking engine
    tries in the same order as ``(?:name1|name2|...)``, with shared first
    characters factored out.

    Alternatives that start with different characters never both match at
    one position, so their relative order does not matter; those that start
    alike keep theirs, under one test of that character. An empty
    alternative matches wherever the group is tried, so the ones before it
    and the ones after it are factored apart and it stays between them.
    (Under the patterns' IGNORECASE, no character matches two different
    lowercase letters, so the first characters still exclude each other.)
    """
    if "" in names:
        k = names.index("")
        before, after = names[:k], names[k + 1:]
        parts = [p for p in (_factored(before) if before else None, "", _factored(after) if after else None)
                 if p is not None]
        return "(?:" + "|".join(parts) + ")"
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(name[0], []).append(name[1:])
    parts = []
    for first, rests in groups.items():
        rest = "" if rests == [""] else _factored(rests)
        parts.append(re.escape(first) + rest)
    return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"
