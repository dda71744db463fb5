"""Evasion-resistant matching of a fixed list of policy terms and phrases.

Terms and text are both folded by :func:`~guardrails.detectors.normalize.normalize`
(case, invisibles, look-alikes, width, diacritics, leetspeak), and markup inside
words is dropped from the text (:func:`~guardrails.detectors.normalize.strip_markup`).
Then a term is found in any of these forms:

as written
    the folded term, whole words only; ``"rm -rf /"`` or ``"c++"`` too.
joined (multi-word terms of letters and digits)
    the words joined by up to three punctuation characters, one or two
    between spaces, or by nothing: ``pipe-bomb``, ``developer_mode``,
    ``developer.mode``, ``DeveloperMode``, ``performance - review``.
split (words of five or more letters and digits, in any term)
    a word broken once by one space or punctuation character: ``coc aine``,
    ``co-caine``. Not where a piece is a common English word
    (:data:`COMMON_WORDS`): ``"hero in"`` is no ``heroin`` and ``"the
    rapist"`` no ``therapist``.
spelled (terms of four or more letters)
    every letter apart, by one to three spaces or punctuation characters:
    ``d i a g``, ``c. o. c. a. i. n. e``, ``c-o-u-n-t-e-r-f-e-i-t- -m-o-n-e-y``.
    A term with punctuation is spelled by its letters and digits, wherever its
    punctuation is: ``r.m -r.f /`` and ``d-d i-f=/d-e-v/z-e-r-o``.

A match starts and ends at a word's edge, where a word is a run of letters and
digits (``_`` separates words), except in scripts written without spaces. So a
term inside a longer word (``rapist`` in ``therapist``) never matches. A term
that ends in a path separator (``rm -rf /``) is not followed by a letter or
digit either: ``rm -rf /tmp/cache`` names a longer path.

Speed: the first two forms are one trie-shaped regex, scanned once. The other
two are looked for only where they can be: a split where one word is the start
of a split-able term word and the next word its end (one more trie scan), and a
spelled term inside a run of one-letter words. A regex that allowed gaps
between all letters would do it in one scan, but repeats in a pattern of
thousands of branches make every position slow (about 60x on 10 KB).
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

import regex

from guardrails.detectors.base import Finding
from guardrails.detectors.normalize import (
    BLIND_CHAR,
    NormalizedText,
    blind_letters,
    blind_text,
    blind_views,
    normalize,
    strip_markup,
)

__all__ = ["COMMON_WORDS", "TermMatcher"]

# Terms of at least this many letters are also matched spelled out letter by
# letter; shorter ones would match too much ordinary text ("i t" for "it").
_SPACED_MIN_LETTERS = 4
# Words of at least this many letters are also matched split once.
_SPLIT_MIN_LETTERS = 5
# A term's last character after which a letter or digit continues a path.
_PATH_ENDS = "/\\"
# Scripts written without spaces: a term in them has no word boundary to check.
_UNSPACED_SCRIPTS = ("CJK", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR")

#: Pieces that stop a split from being read as one word: where a piece is one
#: of these, the two pieces are more likely two real words ("hero in", "do
#: sage", "the rapist") than a term broken up to hide it.
COMMON_WORDS: frozenset[str] = frozenset(
    """
    a about above after again age ago all also am an and any are art as at away back
    bad be been before being best big both but by came can car case cat come could
    day did do does dog done down each end even ever eye far few fine for free from
    full gave get give go good got had has have he her here him his how i if in into
    is it its job just keep kind know last late law less let life like line long look
    lot low made make man many may me men might mind more most much must my new next
    no none nor not now o of off oft oh ok old on once one only or other our out over
    own part per place put re red run said same saw say see she should show side so
    some such take than that the their them then there these they thing this those
    though time to too top two under up upon us use very view was way we well went
    were what when where which while who why will with work would yes yet you your
    """.split()  # noqa: SIM905 - a word list reads better as text
)

_ALNUM = regex.compile(r"[^\W_]")
_ALNUM_WORD = regex.compile(r"[^\W_]+")
_NON_ALNUM = regex.compile(r"[\W_]+")
_START = r"(?<![^\W_])"
_END = r"(?![^\W_])"
# Between the words of a multi-word term: a space, up to three punctuation
# characters, or nothing. Written without a repeat: each repeat in a pattern
# costs something at every position tried.
_P = r"[^\w\s]|_"
_JOIN_ATOM = "\x00join"
# Or one or two between spaces (``performance - review``), never a NUL: the
# normaliser leaves one only inside the separator of a tool call's arguments.
_PS = r"[^\w\s\x00]|_"
_JOIN = rf"(?:[ ]|(?:{_P})(?:{_P})(?:{_P})|(?:{_P})(?:{_P})|{_P}|[ ](?:{_PS})[ ]|[ ](?:{_PS})(?:{_PS})[ ]|)"
# A run of one-letter words, one to three separators apart: where a spelled
# term can be. A NUL is never one of those separators: after normalisation it
# is only left between a tool call's arguments, which no match spans.
_SPELLED_SEP = r"(?:[^\w\x00]|_)"
_SPELLED_RUN = regex.compile(
    r"(?<![^\W_])[^\W_](?:" + _SPELLED_SEP + r"{1,3}[^\W_](?![^\W_])){" + str(_SPACED_MIN_LETTERS - 1) + ",}"
)
# Two one-letter words in a row, after a separator: where such a run can start.
_SPELLED_HINT = regex.compile(r"[\W_][^\W_]" + _SPELLED_SEP + r"{1,3}[^\W_](?![^\W_])")


def _needs_boundary(ch: str) -> bool:
    return bool(_ALNUM.fullmatch(ch)) and not unicodedata.name(ch, "").startswith(_UNSPACED_SCRIPTS)


def _atom(atom: str) -> str:
    return _JOIN if atom == _JOIN_ATOM else regex.escape(atom)


class _Trie:
    """Builds one regex alternation from many sequences of atoms.

    A plain ``a|b|c`` alternation is tried branch by branch at every position
    (about 12 ms on 10 KB for 1,000 terms); sharing prefixes makes the engine
    reject most positions after one character. At every node the longer
    continuations come before the "stop here" branch, so at a given start the
    longest term wins, as with a longest-first alternation.
    """

    _END = ""

    def __init__(self) -> None:
        self.root: dict[str, Any] = {}

    def add(self, atoms: Iterable[str], end: str) -> None:
        node = self.root
        for atom in atoms:
            node = node.setdefault(atom, {})
        node[self._END] = end

    def pattern(self, start: dict[str, str]) -> str:
        """Regex source; ``start`` maps a first atom to its left-boundary check."""
        return "|".join(
            start.get(atom, "") + _atom(atom) + self._emit(child) for atom, child in sorted(self.root.items())
        )

    def _emit(self, node: dict[str, Any]) -> str:
        # Walk single-child chains iteratively: long phrases would otherwise
        # recurse once per character.
        out: list[str] = []
        while True:
            children = sorted((k, v) for k, v in node.items() if k != self._END)
            if len(children) == 1 and self._END not in node:
                atom, node = children[0]
                out.append(_atom(atom))
                continue
            alts = [_atom(atom) + self._emit(child) for atom, child in children]
            if self._END in node:
                alts.append(node[self._END])
            if len(alts) == 1:
                out.append(alts[0])
            else:
                out.append("(?:" + "|".join(alts) + ")")
            return "".join(out)


def _compile(trie: _Trie, start: dict[str, str]) -> regex.Pattern[str] | None:
    return regex.compile(trie.pattern(start)) if trie.root else None


def _split_ok(left: str, right: str) -> bool:
    return left not in COMMON_WORDS and right not in COMMON_WORDS


class TermMatcher:
    """Finds any of a list of terms in text, resisting common evasions.

    The forms a term is found in are listed in the module doc: as written
    (case, zero-width and other invisible characters, look-alikes, fullwidth
    forms, diacritics, simple leetspeak and markup inside words do not hide
    it, and a multi-word phrase matches across any run of whitespace), with
    its words joined by punctuation or by nothing, with a word split once, or
    spelled out letter by letter. Terms match whole words only, except in
    scripts written without spaces (CJK, Thai, ...).

    Terms that normalise to nothing (only zero-width or format characters,
    whitespace) are ignored. At each start position the longest term wins; a
    shorter term that is a whole-word prefix of it as written (``"credit"`` in
    ``"credit card"``) is reported as well, and so is a term found in another
    form at the same start. Matches at different start positions may overlap.
    """

    def __init__(self, terms: Sequence[str], *, blind: bool = True) -> None:
        if isinstance(terms, str):
            raise TypeError("terms must be a sequence of strings, not a string")
        # normalised term -> the first policy spelling that produced it
        self._by_norm: dict[str, str] = {}
        for term in terms:
            norm = normalize(term).text.strip()
            if norm:
                # A term of only invisible characters normalises to nothing
                # and could match anywhere; it is ignored instead.
                self._by_norm.setdefault(norm, term)
        self.terms: tuple[str, ...] = tuple(terms)

        # letters and digits only -> normalised term, for the joined, split
        # and spelled forms (which are found by their letters)
        self._by_letters: dict[str, str] = {}
        self._split_words: set[str] = set()
        self._spelled: dict[str, str] = {}
        direct, joined, tails = _Trie(), _Trie(), _Trie()
        # The scan's trie: terms that start a word, and those that need no
        # left boundary (they start with punctuation or a CJK character).
        bounded, free = _Trie(), _Trie()
        direct_start: dict[str, str] = {}
        for norm in self._by_norm:
            # A term ending in a letter or digit ends at a word's edge; so does
            # one ending in a path's "/": "rm -rf /" is the root, and "rm -rf
            # /tmp/cache" a longer path that is not the term.
            end = _END if _needs_boundary(norm[-1]) or norm[-1] in _PATH_ENDS else ""
            direct.add(norm, end)
            if _needs_boundary(norm[0]):
                direct_start[norm[0]] = _START
                bounded.add(norm, end)
            else:
                free.add(norm, end)
            words = norm.split(" ")
            plain = all(_ALNUM_WORD.fullmatch(w) and all(map(_needs_boundary, w)) for w in words)
            if not plain:
                # A term with punctuation ("rm -rf /", "dd if=/dev/zero") is
                # spelled and split by its letters and digits; the punctuation
                # between them is left where it is, so it is not required.
                words = _ALNUM_WORD.findall(norm)
                if not all(all(map(_needs_boundary, w)) for w in words):
                    continue
            letters = "".join(words)
            if plain:
                self._by_letters.setdefault(letters, norm)
            if plain and len(words) > 1:
                atoms = [atom for k, w in enumerate(words) for atom in ([_JOIN_ATOM, *w] if k else w)]
                joined.add(atoms, _END)
                bounded.add(atoms, _END)
            if sum(ch.isalpha() for ch in letters) >= _SPACED_MIN_LETTERS:
                self._spelled.setdefault(letters, norm)
            for word in words:
                if len(word) < _SPLIT_MIN_LETTERS or word in self._split_words:
                    continue
                self._split_words.add(word)
                for i in range(1, len(word)):
                    if _split_ok(word[:i], word[i:]):
                        tails.add(word[i:], "")

        # Prefix terms per term, for reporting "credit" inside "credit card".
        self._prefixes: dict[str, tuple[str, ...]] = {}
        for norm in self._by_norm:
            found = tuple(
                norm[:i]
                for i in range(1, len(norm))
                if norm[:i] in self._by_norm
                and (not _needs_boundary(norm[i - 1]) or not _ALNUM.fullmatch(norm[i]))
            )
            if found:
                self._prefixes[norm] = found

        # Each form alone, tried where the scans below say a match may start.
        self._direct = _compile(direct, direct_start)
        self._joined = _compile(joined, dict.fromkeys(joined.root, _START))
        # The scans run over " " + text and start with the separator before a
        # word instead of a look-behind at every position, which is about a
        # third cheaper: most positions fail on their first character.
        scan = []
        if bounded.root:
            scan.append(rf"[\W_]()(?:{bounded.pattern({})})")
        if free.root:
            scan.append(f"()(?:{free.pattern({})})")
        # The empty group marks where the term starts: group 1, or group 2 when
        # the first alternative did not match.
        self._scan = regex.compile("|".join(scan)) if scan else None
        # A split shows as a separator, then the end of a split-able word; the
        # word's start before the separator is checked in Python.
        self._split_tails = regex.compile(rf"[\W_]({tails.pattern({})}){_END}") if tails.root else None
        self._longest_word = max(map(len, self._split_words), default=0)
        self._spelled_lengths = sorted({len(k) for k in self._spelled}, reverse=True)

        # The blind reading (normalize.blind_views): the terms folded the same
        # way, each blind spelling -> the term it stands for.
        self._blind_terms: dict[str, str] = {}
        for norm, term in self._by_norm.items():
            self._blind_terms.setdefault(blind_text(norm), term)
        self._blind = TermMatcher(list(self._blind_terms), blind=False) if blind and self._blind_terms else None
        if self._blind is not None:
            blind_letters()  # built at load time, not on the first request that needs it
        # How far from a telling character a match can reach: a term spelled
        # out with up to three separators between its letters.
        self._blind_reach = 4 * max(map(len, self._blind_terms), default=0)

    def find(self, text: str, norm: NormalizedText | None = None) -> list[Finding]:
        """Occurrences of the terms in ``text``, in original coordinates.

        ``entity`` is the term as written in the policy (the first spelling,
        when several normalise alike), ``score`` is 1.0, and the result is
        sorted by ``(start, end)``. Pass ``norm = normalize(text)`` when it is
        already at hand to avoid normalising twice.
        """
        if self._scan is None:
            return []
        if norm is None:
            norm = normalize(text)
        view = strip_markup(norm)
        found: set[tuple[int, int, str]] = set()
        self._find_written(view, found)
        mended = self._mend_splits(view)
        if mended is not None:
            self._find_written(mended, found)
        if self._spelled:
            self._find_spelled(view, found)
            if view is not norm:
                # "*" and "~" between one-letter words are separators, not
                # markup to drop: "s*a.l~a+r+y" spells "salary"
                self._find_spelled(norm, found)
        if self._blind is not None:
            self._find_blind(text, norm, found)
        results = [Finding(start, end, term, 1.0) for start, end, term in found]
        results.sort(key=lambda f: (f.start, f.end, f.entity))
        return results

    def _find_blind(self, text: str, norm: NormalizedText, found: set[tuple[int, int, str]]) -> None:
        """Matches of the blind reading whose text holds a digit, a symbol or a
        non-ASCII letter: ``1N73RN41``, ``Ιαwsυιt``, ``d149n0515``."""
        assert self._blind is not None
        for view in blind_views(text, norm, self._blind_reach):
            for f in self._blind.find(text, view):
                if BLIND_CHAR.search(text, f.start, f.end) is not None:
                    found.add((f.start, f.end, self._blind_terms[f.entity]))

    def _find_written(self, view: NormalizedText, found: set[tuple[int, int, str]]) -> None:
        """The as-written and joined forms, added to ``found`` in original coordinates."""
        assert self._scan is not None
        folded = view.text
        # Literal terms and bounded gaps cannot backtrack catastrophically: no
        # timeout needed.
        for hit in self._scan.finditer(" " + folded, overlapped=True):
            at = hit.start(1)
            if at < 0:
                at = hit.start(2)
            at -= 1  # the scan ran over " " + folded
            m = self._direct.match(folded, at) if self._direct is not None else None
            if m is not None:
                key = m.group()
                for prefix in self._prefixes.get(key, ()):
                    found.add((*view.to_original(at, at + len(prefix)), self._by_norm[prefix]))
                found.add((*view.to_original(at, m.end()), self._by_norm[key]))
            m = self._joined.match(folded, at) if self._joined is not None else None
            if m is not None:
                key = self._by_letters[_NON_ALNUM.sub("", m.group())]
                found.add((*view.to_original(at, m.end()), self._by_norm[key]))

    def _mend_splits(self, view: NormalizedText) -> NormalizedText | None:
        """``view`` with the break removed from every word split once, or None."""
        if self._split_tails is None:
            return None
        text = view.text
        cuts: list[int] = []
        for m in self._split_tails.finditer(text, overlapped=True):
            cut = m.start()
            head = _word_before(text, cut, self._longest_word)
            if (
                head
                and head + m.group(1) in self._split_words
                and _split_ok(head, m.group(1))
                and (not cuts or cuts[-1] < cut - len(head) - 1)  # two splits sharing a word: keep the first
            ):
                cuts.append(cut)
        if not cuts:
            return None
        offsets = view.offsets
        parts: list[str] = []
        kept: list[int] = []
        pos = 0
        for cut in cuts:
            parts.append(text[pos:cut])
            kept.extend(offsets[pos:cut])
            pos = cut + 1
        parts.append(text[pos:])
        kept.extend(offsets[pos:])
        return NormalizedText("".join(parts), tuple(kept))

    def _find_spelled(self, view: NormalizedText, found: set[tuple[int, int, str]]) -> None:
        """Terms spelled letter by letter, added to ``found`` in original coordinates."""
        text = view.text
        covered = 0
        # A run starts at the text's start or after a separator; the hint,
        # separator first, is cheap to scan for.
        starts = (m.start() + 1 for m in _SPELLED_HINT.finditer(text))
        for at in itertools.chain((0,), starts):
            if at < covered:
                continue
            run = _SPELLED_RUN.match(text, at)
            if run is None:
                continue
            covered = run.end()
            letters = [(m.group(), m.start()) for m in _ALNUM.finditer(text, run.start(), run.end())]
            chars = "".join(ch for ch, _ in letters)
            for i in range(len(chars)):
                for n in self._spelled_lengths:
                    key = chars[i : i + n]
                    if len(key) == n and key in self._spelled:
                        start, end = letters[i][1], letters[i + n - 1][1] + 1
                        found.add((*view.to_original(start, end), self._by_norm[self._spelled[key]]))
                        break  # the longest at this start, as in the other forms


def _word_before(text: str, end: int, longest: int) -> str:
    """The word of letters and digits that ends at ``end``, or "" if longer than ``longest``."""
    start = end
    while start > 0 and end - start <= longest and _ALNUM.match(text, start - 1):
        start -= 1
    if end - start > longest:
        return ""
    return text[start:end]
