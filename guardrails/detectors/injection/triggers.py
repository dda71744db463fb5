"""Where a phrase pattern can match: the trigger gate and anchored matching.

A phrase signal's regex is an alternation of hundreds of words in five
languages; run over a whole text it would cost more than everything else in
``injection()``. So a pattern only runs where it can match, found in three
exact steps (none of them drops a match the regex would find):

1. :class:`Gate` - which trigger keys can occur in a text. A key is a literal
   that every match of its pattern contains. Keys starting with an ASCII
   letter occur only at a word start, so the head (first three or four
   characters) of the key's longest word is the head of a word of the text:
   one ``bytes.translate`` and ``split`` give the text's words, and a word
   seen before is looked up, not examined again. Other keys (markup, CJK) are
   looked up as substrings.
2. :func:`finditer` - at each occurrence of a key, the pattern is tried
   anchored (``pattern.match``) at the word starts in the lead-in before it
   (patterns of words start at a word), not searched for.
3. :func:`first_literals` - the strings a pattern's matches can start with,
   read once from its parsed form. A word start that begins with none of them
   is skipped without running the regex; :func:`search` and the windows of
   non-ASCII triggers try a pattern only where they begin.

Why one module: the three steps are one argument that no match is lost (each
skips only what the next could never match), checked together by
``tests/detectors/test_injection_triggers.py`` against ``re``'s own searches;
they share the prefilter cache and the occurrence cache, and the signals and
carriers see five names of it (:class:`Gate`, :class:`Words`,
:func:`finditer`, :func:`search`, :func:`text_words`).
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import regex

from guardrails.detectors.injection import accel

__all__ = [
    "Gate", "Prefilter", "Words", "finditer", "first_literals", "keys_present", "occurrences", "search", "text_words",
    "windows",
]


class _Found(threading.local):
    """The spans of each trigger already found in the last few texts (per thread):
    the phrase patterns share many triggers ("sys" wakes three of them), and a
    long text is scanned for each trigger once, not once per pattern. A text is
    known by identity and held here, so its id cannot be reused meanwhile."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, dict[str, list[tuple[int, int]]]]] = []


_FOUND = _Found()
_FOUND_TEXTS = 4  # a scan alternates between the normalised text, the raw one and decoded payloads
_FOUND_FROM = 1024  # a shorter text is scanned again: remembering costs about what it saves


def occurrences(t: str, trig: str) -> Iterator[tuple[int, int]]:
    """Spans of ``trig`` in ``t``; a trigger starting with an ASCII letter must
    start a word, and one ending in ``$`` must also end one."""
    return iter(_spans(t, trig))


def _spans(t: str, trig: str) -> list[tuple[int, int]]:
    """:func:`occurrences` as a list (the text's own for a long text: not to be changed)."""
    if len(t) < _FOUND_FROM:
        return _occurrences(t, trig)
    texts = _FOUND.texts
    for known, spans in texts:
        if known is t:
            break
    else:
        spans = {}
        texts.insert(0, (t, spans))
        del texts[_FOUND_TEXTS:]
    found = spans.get(trig)
    if found is None:
        found = spans[trig] = _occurrences(t, trig)
    return found


#: Letters a word-led trigger starts with (``c in`` it is ``c.isascii() and c.isalpha()``).
WORD_LED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# trigger -> (its literal, its length, whether it must start a word, whether it must end one)
_SPELLING: dict[str, tuple[str, int, bool, bool]] = {}


def _occurrences(t: str, trig: str) -> list[tuple[int, int]]:
    spelling = _SPELLING.get(trig)
    if spelling is None:
        whole = trig.endswith("$")
        lit = trig[:-1] if whole else trig
        spelling = _SPELLING[trig] = (lit, len(lit), lit[0] in WORD_LED, whole)
    lit, size, left, whole = spelling
    i = t.find(lit)
    if i < 0:
        return []
    out = []
    n = len(t)
    while i >= 0:
        j = i + size
        if (not left or i == 0 or not t[i - 1].isalnum()) and (
            not whole or j == n or not t[j].isalnum()
        ):
            out.append((i, j))
        i = t.find(lit, j)
    return out


def windows(
    t: str, triggers: Sequence[str], before: int = 150, after: int = 250
) -> list[tuple[int, int]]:
    """Merged spans ``[i - before, i + after)`` around each trigger in ``t``.

    A trigger is a literal that every match of a pattern contains, so a pattern
    only runs where it can match: ``str.find`` is far cheaper than a regex
    trying an alternation at every position.
    """
    n = len(t)
    found = [(max(0, i - before), min(n, j + after)) for trig in triggers for i, j in _spans(t, trig)]
    if len(found) < 2:
        return found
    found.sort()
    merged = [found[0]]
    for s, e in found[1:]:
        if s <= merged[-1][1]:
            if e > merged[-1][1]:
                merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


# --- first literals ------------------------------------------------------------------

#: How many characters of a match's start :func:`first_literals` reads.
PREFIX = 3
_MAX_PREFIXES = 600
_MAX_CLASS = 12  # a character class of more characters stops the walk

try:  # the stdlib's regex parser; without it no pattern is prefiltered (slower, same results)
    from re import _constants as _sre
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover - Python < 3.11
    try:
        import sre_constants as _sre  # type: ignore[no-redef]
        import sre_parse as _sre_parse  # type: ignore[no-redef]
    except ImportError:
        _sre = _sre_parse = None  # type: ignore[assignment]


_WORD_CHAR = re.compile(r"\w")


class _Unbounded(Exception):
    """The walk cannot bound a pattern's first characters."""


def _trie(words: Iterable[str]) -> str:
    """A regex matching exactly where one of ``words`` begins, its alternatives
    shared by prefix (``ign|igr`` -> ``ig[nr]``): ``re`` tries an alternation one
    branch at a time, so a lookahead over hundreds of prefixes costs that many
    tests at every position, and a trie a few. Only for a lookahead: it asks
    whether some word begins here, not which (a word that is a prefix of
    another ends its branch)."""
    root: dict[str, dict] = {}
    for w in words:
        node = root
        for c in w:
            node = node.setdefault(c, {})
        node[""] = {}

    def emit(node: dict[str, dict]) -> str:
        if "" in node:
            return ""
        leaves = sorted(c for c, sub in node.items() if "" in sub)
        alts = ["[" + "".join(map(re.escape, leaves)) + "]"] if leaves else []
        alts += [re.escape(c) + emit(sub) for c, sub in sorted(node.items()) if "" not in sub]
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    return emit(root)


def _starts_regex(prefixes: Iterable[str], boundary: bool) -> re.Pattern[str]:
    """Zero width at each position where one of ``prefixes`` begins (after a word
    boundary when ``boundary``): the first characters as a set, then the trie."""
    ordered = sorted(set(prefixes))
    firsts = "".join(map(re.escape, sorted({p[0] for p in ordered})))
    return re.compile((r"\b" if boundary else "") + f"(?=[{firsts}])(?={_trie(ordered)})")


class Prefilter:
    """The strings (at most :data:`PREFIX` characters) a pattern's matches start
    with, by length: ``accepts(t, p)`` is false only where no match can start.
    ``word_starts`` finds, in one regex pass, the word starts where one of them
    begins (a prefix that does not begin with a word character never starts a word).
    ``starts`` finds every position where a match can begin: at a word start too
    when ``word_led`` (each alternative of the pattern opens with ``\\b``).
    ``indexed``: ``re`` skips to such positions by itself (the pattern opens with
    a literal or a set of them), so :func:`search` leaves the search to it."""

    __slots__ = ("by_length", "indexed", "starts", "word_starts")

    def __init__(self, prefixes: Iterable[str], word_led: bool = False, indexed: bool = False) -> None:
        self.indexed = indexed
        by: dict[int, set[str]] = {}
        for p in prefixes:
            by.setdefault(len(p), set()).add(p)
        self.by_length = tuple((n, frozenset(s)) for n, s in sorted(by.items()))
        every = set().union(*by.values())
        wordy = [p for p in every if _WORD_CHAR.match(p)]
        # zero width, so that a prefix spanning two words ("a p") hides no start inside it
        self.word_starts = _starts_regex(wordy, True) if wordy else None
        self.starts = _starts_regex(every, word_led and len(wordy) == len(every))

    def accepts(self, t: str, p: int) -> bool:
        for n, allowed in self.by_length:
            if t[p : p + n] in allowed:
                return True
        return False


def _charset(items: list) -> list[str] | None:
    chars: list[str] = []
    for op, av in items:
        if op is _sre.LITERAL:
            chars.append(chr(av))
        elif op is _sre.RANGE and av[1] - av[0] < _MAX_CLASS:
            chars.extend(chr(c) for c in range(av[0], av[1] + 1))
        else:
            return None  # NEGATE, CATEGORY, a wide range
        if len(chars) > _MAX_CLASS:
            return None
    return chars


def _walk(items: list, opened: set[str], k: int) -> tuple[set[str], set[str]]:
    """Follow a parsed sequence from the prefixes ``opened``: the prefixes still
    open after it (a next item may extend them) and those it closed (complete
    or cut at ``k`` characters, or followed by what the walk cannot bound)."""
    closed: set[str] = set()
    for op, av in items:
        if not opened:
            break
        if op in (_sre.AT, _sre.ASSERT, _sre.ASSERT_NOT):
            continue  # zero width: it narrows matches, never widens their start
        if op is _sre.LITERAL:
            opened = {p + chr(av) for p in opened}
        elif op is _sre.IN:
            chars = _charset(av)
            if chars is None:
                closed |= opened
                opened = set()
            else:
                opened = {p + c for p in opened for c in chars}
        elif op is _sre.SUBPATTERN:
            if av[1] & re.IGNORECASE:
                raise _Unbounded
            opened, more = _walk(list(av[-1]), opened, k)
            closed |= more
        elif op is _sre.BRANCH:
            out: set[str] = set()
            for alternative in av[1]:
                o, c = _walk(list(alternative), opened, k)
                out |= o
                closed |= c
            opened = out
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT) or op is getattr(_sre, "POSSESSIVE_REPEAT", None):
            low, high, sub = av
            o, c = _walk(list(sub), opened, k)
            closed |= c
            if high == 1:  # once, or at most once: both ways go on
                opened = opened | o if low == 0 else o
            elif low == 0:  # skipped: the prefixes go on; entered: cut after one round
                closed |= o
            else:
                closed |= o
                opened = set()
        else:  # any other item (., a category, a back-reference): stop here
            closed |= opened
            opened = set()
        full = {p for p in opened if len(p) >= k}
        if full:
            closed |= {p[:k] for p in full}
            opened -= full
        if len(opened) + len(closed) > _MAX_PREFIXES:
            raise _Unbounded
    return opened, closed


def _word_led(items: list) -> bool:
    """Whether every match of a parsed sequence starts at a ``\\b``: it opens with
    one, or with a group or an alternation each of whose branches does."""
    if not items:
        return False
    op, av = items[0]
    if op is _sre.AT:
        return av is _sre.AT_BOUNDARY
    if op is _sre.SUBPATTERN:
        return _word_led(list(av[-1]))
    if op is _sre.BRANCH:
        return all(_word_led(list(alternative)) for alternative in av[1])
    return False


def _indexed(items: list) -> bool:
    """Whether ``re`` finds where a parsed pattern can match without trying every
    position: it opens with a literal or a set, or with an alternation each of
    whose branches opens with a literal (as ``re._compiler`` reads its prefix)."""
    while items:
        op, av = items[0]
        if op is _sre.SUBPATTERN:
            items = list(av[-1])
            continue
        if op is _sre.LITERAL or op is _sre.IN:
            return True
        if op is _sre.BRANCH:
            return all(len(alternative) and alternative[0][0] is _sre.LITERAL for alternative in av[1])
        return False
    return False


# By id: a Pattern hashes its whole compiled program on every lookup. The
# pattern is kept beside its prefilter, so its id is never reused.
_PREFILTERS: dict[int, tuple[re.Pattern[str], Prefilter | None]] = {}


def first_literals(pattern: re.Pattern[str], k: int = PREFIX) -> Prefilter | None:
    """What every match of ``pattern`` starts with, or None when that cannot be
    bounded (a case-insensitive pattern, one that may match the empty string
    or start with ``.``). Zero-width items are passed over, so this is a
    superset of the true starts: a skip is always safe. Cached per pattern."""
    known = _PREFILTERS.get(id(pattern))
    if known is not None:
        return known[1]
    result = None
    if _sre_parse is not None and isinstance(pattern.pattern, str) and not pattern.flags & re.IGNORECASE:
        try:
            parsed = list(_sre_parse.parse(pattern.pattern, pattern.flags))
            opened, closed = _walk(parsed, {""}, k)
            prefixes = opened | closed
            if prefixes and "" not in prefixes:
                result = Prefilter(prefixes, _word_led(parsed), _indexed(parsed))
        except (_Unbounded, AttributeError, TypeError, ValueError):
            result = None
    _PREFILTERS[id(pattern)] = (pattern, result)
    return result


# --- anchored matching -------------------------------------------------------------------

_WORD_START = re.compile(r"\b\w")


def finditer(
    pattern: re.Pattern[str], t: str, triggers: Sequence[str], before: int = 150, after: int = 250
) -> Iterator[re.Match[str]]:
    """Matches of ``pattern`` that contain one of ``triggers``, found cheaply.

    For a trigger starting with an ASCII letter the pattern is tried anchored
    (``pattern.match``) at the trigger and after each space up to ``before``
    characters ahead of it (normalised text has single spaces): patterns of
    words start at a word, so ``before`` is the longest lead-in to the trigger.
    A start no match can begin with (:func:`first_literals`) is skipped.
    Other triggers (markup, CJK) run ``pattern.finditer`` over their
    :func:`windows`. Each match is yielded once.
    """
    if not triggers:
        return
    seen: set[tuple[int, int]] = set()
    tried: dict[int, re.Match[str] | None] = {}
    first = first_literals(pattern)
    known = accel.starts(pattern, t)
    if known is not None:  # the compiled matcher knows where matches can start
        yield from _finditer_known(pattern, t, triggers, before, known, first, seen, tried)
        other = [trig for trig in triggers if trig[0] not in WORD_LED]
    else:
        other = []
        leads = first.word_starts if first is not None else None
        match = pattern.match
        for trig in triggers:
            if trig[0] not in WORD_LED:
                other.append(trig)  # after every word-led trigger, as before
                continue
            for i, j in _spans(t, trig):
                # Word starts in the lead-in, after a space or punctuation ('"note to the AI'),
                # and the trigger itself.
                if not before or not i:
                    starts = []
                elif leads is not None:  # only those a match can start at, found in one pass
                    starts = [p for c in leads.finditer(t, i - before if i > before else 0, i + PREFIX)
                              if (p := c.start()) < i]
                elif first is None:
                    starts = [c.start() for c in _WORD_START.finditer(t, i - before if i > before else 0, i)]
                else:  # no match starts at a word start
                    starts = []
                if first is None or first.accepts(t, i):
                    starts.append(i)
                for p in starts:
                    # another trigger's lead-in may have tried this start already
                    m = tried[p] if p in tried else tried.setdefault(p, match(t, p))
                    if m is not None and m.end() >= j and m.span() not in seen:
                        seen.add(m.span())
                        yield m
    if not other:
        return
    for s, e in windows(t, other, before, after):
        for m in _window_matches(pattern, t, s, e):
            if m.span() not in seen:
                seen.add(m.span())
                yield m


def _finditer_known(
    pattern: re.Pattern[str], t: str, triggers: Sequence[str], before: int, known: list[int],
    first: Prefilter | None, seen: set[tuple[int, int]], tried: dict[int, re.Match[str] | None],
) -> Iterator[re.Match[str]]:
    """The word-led part of :func:`finditer` given ``known``, a sorted superset of
    the positions where ``pattern`` matches (:func:`.accel.starts`).

    The loop of :func:`finditer` turned inside out: instead of trying the starts
    around every occurrence of every trigger, each possible start ``p`` is tried
    once, and its match ``m`` is kept when :func:`finditer` would have tried ``p``
    for some occurrence ``[i, j)`` of a trigger that ``m`` covers (``p <= i <=
    p + before`` and ``j <= m.end()``; at ``p < i`` only a lead-in start, at ``p ==
    i`` only an accepted one). The matches come out in :func:`finditer`'s order:
    by the first trigger, then the first occurrence, that tries them."""
    if not known:
        return
    leads = first.word_starts if first is not None else None
    ordered: list[tuple[tuple[int, int, int], re.Match[str]]] = []
    for p in known:
        m = tried[p] if p in tried else tried.setdefault(p, pattern.match(t, p))
        if m is None:
            continue
        q = m.end()
        if before:  # may p lead in to a later occurrence? (the same test for every i > p)
            if leads is not None:
                lead = leads.match(t, p) is not None
            else:
                lead = first is None and _WORD_START.match(t, p) is not None
        else:
            lead = False
        at = first is None or first.accepts(t, p)
        if not lead and not at:
            continue
        covered = t[p:q]  # an occurrence it covers lies inside the match
        for k, trig in enumerate(triggers):
            if trig[0] not in WORD_LED or trig.rstrip("$") not in covered:
                continue
            i = _first_occurrence(t, trig, p if at else p + 1, p + before if lead else p, q)
            if i >= 0:
                ordered.append(((k, i, p), m))
                break
    ordered.sort(key=lambda km: km[0])
    for _, m in ordered:
        if m.span() not in seen:
            seen.add(m.span())
            yield m


def _bordered(lit: str) -> bool:
    """Whether ``lit`` can overlap itself ("##" in "###"): then a search from inside
    the text may find an occurrence that the scan from its start steps over."""
    return any(lit[:k] == lit[-k:] for k in range(1, len(lit)))


_BORDERED: dict[str, bool] = {}


def _first_occurrence(t: str, trig: str, lo: int, hi: int, end: int) -> int:
    """The first ``i`` in ``[lo, hi]`` where :func:`occurrences` finds ``trig`` ending
    at or before ``end``, or -1."""
    whole = trig.endswith("$")
    lit = trig[:-1] if whole else trig
    hi = min(hi, end - len(lit))
    if hi < lo:
        return -1
    bordered = _BORDERED.get(lit)
    if bordered is None:
        bordered = _BORDERED[lit] = _bordered(lit)
    if bordered:  # as the scan from the start finds them
        for i, _ in _spans(t, trig):
            if i > hi:
                return -1
            if i >= lo:
                return i
        return -1
    n = len(t)
    i = t.find(lit, lo, hi + len(lit))
    while i >= 0:
        j = i + len(lit)
        if (i == 0 or not t[i - 1].isalnum()) and (not whole or j == n or not t[j].isalnum()):
            return i
        i = t.find(lit, i + 1, hi + len(lit))
    return -1


def search(pattern: re.Pattern[str], t: str, lo: int = 0, hi: int | None = None) -> re.Match[str] | None:
    """``pattern.search(t, lo, hi)``, tried only where a match can start.

    A search is the first position from ``lo`` on where ``pattern.match(t, p, hi)``
    succeeds; :func:`first_literals` finds, in one zero-width pass, the positions
    where a match can begin (its prefixes), and only those are tried. A pattern
    of a wide alternation such as "a verb of showing" costs a few tests per word
    instead of one per alternative at every position."""
    n = len(t)
    hi = n if hi is None or hi > n else hi
    known = accel.starts(pattern, t)
    if known is not None:
        # Its starts hold those of a search bounded by ``hi`` too: the database's
        # patterns have no assertions, so a match of the shorter string is one of theirs.
        k = bisect_left(known, lo)
        while k < len(known) and known[k] < hi:
            m = pattern.match(t, known[k], hi)
            if m is not None:
                return m
            k += 1
        return None
    first = first_literals(pattern)
    if first is None or first.indexed:
        return pattern.search(t, lo, hi)
    for c in first.starts.finditer(t, lo, hi):
        m = pattern.match(t, c.start(), hi)
        if m is not None:
            return m
    return None


def _window_matches(pattern: re.Pattern[str], t: str, s: int, e: int) -> Iterator[re.Match[str]]:
    """``pattern.finditer(t, s, e)``, tried only where a match can start (see :func:`search`)."""
    known = accel.starts(pattern, t)
    if known is not None:
        pos, k = s, bisect_left(known, s)
        while k < len(known) and known[k] < e:
            p = known[k]
            k += 1
            if p >= pos and (m := pattern.match(t, p, e)) is not None:
                yield m
                pos = m.end()  # finditer resumes at the end of a (never empty) match
        return
    first = first_literals(pattern)
    if first is None or first.indexed:
        yield from pattern.finditer(t, s, e)
        return
    pos = s
    for c in first.starts.finditer(t, s, e):
        p = c.start()
        if p < pos:
            continue  # inside the previous match: finditer resumes at its end
        m = pattern.match(t, p, e)
        if m is not None:
            yield m
            pos = m.end()  # a match is never empty (first_literals has no empty prefix)


# --- the gate ----------------------------------------------------------------------------

_HEAD = 4
# Every byte but an ASCII letter or digit splits words: non-ASCII characters
# too, so "«ignore" still shows the head "igno" (extra heads only cost time).
_WORD_BYTES = bytes.maketrans(
    bytes(range(256)), bytes(c if c < 128 and chr(c).isalnum() else 32 for c in range(256))
)
_NON_ASCII = regex.compile(r"[^\x00-\x7f]+")
_MEMO = 1 << 14  # words remembered per gate (about 1 MB): a bound on memory, not on correctness


@dataclass(frozen=True, slots=True)
class Words:
    """What the gates read of a text, computed once per text: its UTF-8 bytes
    (where substring tests run: on a text with any non-Latin-1 character, a
    ``str`` search is several times slower than a ``bytes`` one, and UTF-8 keeps
    every literal's occurrences) and its distinct ASCII words (runs of letters
    and digits; any other byte splits)."""

    utf8: bytes
    words: frozenset[bytes]
    wide: frozenset[str] = frozenset()  # its distinct non-ASCII characters


def text_words(t: str) -> Words:
    """The :class:`Words` of ``t``."""
    utf8 = t.encode("utf-8", "surrogatepass")
    # (`regex` scans a class over a str beyond Latin-1 several times faster than `re`)
    wide = frozenset() if t.isascii() else frozenset("".join(_NON_ASCII.findall(t)))
    return Words(utf8, frozenset(utf8.translate(_WORD_BYTES).split()), wide)


def _whole_words(lit: str) -> list[bytes]:
    """The runs of ASCII letters and digits of ``lit`` that end before it does."""
    runs = [(m.group().encode(), m.end()) for m in re.finditer(r"[a-z0-9]+", lit)]
    return [run for run, end in runs if end < len(lit)]


class Gate:
    """Which of a fixed set of keys may occur in a text (a superset: the
    patterns' anchored matching decides). Built once per key set.

    A key ending in ``$`` must end a word (it is looked up without the ``$``).
    A key whose longest word has fewer than three letters must end with that
    word and a ``$``: heads are three or four letters, so "ce" could not be seen
    starting "cette" (the constructor refuses such a key).
    """

    def __init__(self, keys: Iterable[str]) -> None:
        self.by_literal: dict[str, frozenset[str]] = {}
        spelled: dict[str, set[str]] = {}
        for key in keys:
            spelled.setdefault(key.rstrip("$"), set()).add(key)
        headed: dict[bytes, list[str]] = {}
        substring_ascii: list[str] = []
        substring_other: list[str] = []
        for lit in sorted(spelled):
            self.by_literal[lit] = frozenset(spelled[lit])
            word = max(re.findall(r"[a-z0-9]+", lit) or [""], key=len)
            if lit[0].isascii() and lit[0].isalpha():
                if len(word) < 3 and lit.endswith(word) and not all(k.endswith("$") for k in spelled[lit]):
                    # "ce" also starts "cette", whose heads are "cet" and "cett"
                    raise ValueError(f"trigger key {lit!r}: a word under 3 letters must end the key with '$'")
                headed.setdefault(word[:_HEAD].encode(), []).append(lit)
            elif lit.isascii():
                substring_ascii.append(lit)
            else:
                substring_other.append(lit)
        self.headed = {head: tuple(lits) for head, lits in headed.items()}
        # A longer literal's words that its own spelling ends (all but a last one
        # it may share with a longer word): each is a word of any text it occurs in.
        self.whole_words = {lit: frozenset(_whole_words(lit)) for lits in headed.values() for lit in lits}
        self.substring_ascii = tuple((lit, lit.encode()) for lit in substring_ascii)
        # Literals of other scripts, by first character: one character-class scan
        # tells which first characters occur, and only their literals are looked for.
        by_first: dict[str, list[tuple[str, bytes]]] = {}
        for lit in substring_other:
            by_first.setdefault(lit[0], []).append((lit, lit.encode()))
        self.other_by_first = {ch: tuple(lits) for ch, lits in by_first.items()}
        self.other_firsts = re.compile("[" + "".join(map(re.escape, sorted(by_first))) + "]") if by_first else None
        # Those first characters split: a non-ASCII one is looked up among the text's
        # distinct non-ASCII characters (one set intersection, not a test per character
        # of the table), an ASCII one is a substring test of the text's UTF-8.
        self._wide_firsts = frozenset(ch for ch in by_first if not ch.isascii())
        self._ascii_firsts = tuple((ch, ch.encode()) for ch in sorted(by_first) if ch.isascii())
        # What each word seen before contributes: the keys it starts (a literal of
        # one run of letters and digits occurs at a word start only as the start of
        # a word), and the longer literals a substring test must confirm.
        self._plain: set[bytes] = set()
        self._memo: dict[bytes, tuple[frozenset[str], tuple[tuple[str, bytes, frozenset[bytes]], ...]]] = {}

    def _learn(self, word: bytes) -> tuple[frozenset[str], tuple[tuple[str, bytes, frozenset[bytes]], ...]]:
        starts: set[str] = set()
        longer: list[tuple[str, bytes, frozenset[bytes]]] = []
        for head in {word[:_HEAD], word[:3]}:
            for lit in self.headed.get(head, ()):
                if lit.isascii() and lit.isalnum():
                    if word.startswith(lit.encode()):
                        starts |= self.by_literal[lit]
                else:
                    longer.append((lit, lit.encode(), self.whole_words[lit]))
        if not starts and not longer:
            if len(self._plain) < _MEMO:
                self._plain.add(word)
            return frozenset(), ()
        found = (frozenset(starts), tuple(longer))
        if len(self._memo) < _MEMO:
            self._memo[word] = found
        return found

    def present(self, t: str, words: Words | None = None) -> frozenset[str]:
        """The keys whose literal may occur in ``t``; ``words`` is ``text_words(t)``."""
        if words is None:
            words = text_words(t)
        keys: set[str] = set()
        longer: set[tuple[str, bytes, frozenset[bytes]]] = set()
        memo = self._memo
        text_words_ = words.words
        # words seen before that start no key drop out in one set operation
        # (which iterates over the text's words, not the memory)
        for word in text_words_.difference(self._plain):
            found = memo.get(word) or self._learn(word)
            keys |= found[0]
            longer.update(found[1])
        utf8 = words.utf8
        for lit, encoded, whole in longer:
            # heads over-approximate ("contract" shows "cont"): the literal's whole
            # words, then one substring test, spare every scanner a search for it
            if whole <= text_words_ and encoded in utf8:
                keys |= self.by_literal[lit]
        if not t.isascii() or "<" in t or "[" in t or "#" in t or '"' in t or "_" in t:
            for lit, encoded in self.substring_ascii:
                if encoded in utf8:
                    keys |= self.by_literal[lit]
        if not t.isascii() and self.other_firsts is not None:
            firsts = list(words.wide.intersection(self._wide_firsts))
            firsts += [ch for ch, encoded in self._ascii_firsts if encoded in utf8]
            for first in firsts:
                for lit, encoded in self.other_by_first[first]:
                    if encoded in utf8:
                        keys |= self.by_literal[lit]
        return frozenset(keys)


# Each key tuple's order, by id, with the tuple (so that a reused id is noticed);
# None for a tuple that repeats a key. Bounded: the scanners have a few dozen tuples.
_KEY_ORDER: dict[int, tuple[tuple[str, ...], dict[str, int] | None]] = {}


def keys_present(keys: tuple[str, ...], g: frozenset[str]) -> list[str]:
    """``[k for k in keys if k in g]``: the keys a gate's answer ``g`` holds, in
    ``keys``' order, read from ``g`` when it is the smaller (it usually holds a
    handful of keys, where a scanner has dozens)."""
    entry = _KEY_ORDER.get(id(keys))
    if entry is None or entry[0] is not keys:
        unique = len(set(keys)) == len(keys)
        entry = (keys, {k: i for i, k in enumerate(keys)} if unique else None)
        if len(_KEY_ORDER) < 256:
            _KEY_ORDER[id(keys)] = entry
    order = entry[1]
    if order is None or 2 * len(g) > len(keys):
        return [k for k in keys if k in g]
    return sorted([k for k in g if k in order], key=order.__getitem__)
