"""Text normalisation against lexical evasion, with a map back to the original.

Policy terms and request text go through the same :func:`normalize`, so a term
matches whatever the evasion: ``"D\\u200bIAGNOSIS"``, ``"dіagnosis"`` (Cyrillic
``і``), ``"ｄｉａｇｎｏｓｉｓ"``, ``"d1agn0sis"`` and ``"diagnosis"`` all
normalise to ``"diagnosis"``. Findings are reported in original coordinates
through :meth:`NormalizedText.to_original`.

The steps, in order:

1. per original character: drop invisible characters (every
   Default_Ignorable_Code_Point, such as zero-width spaces and joiners, BOM,
   soft hyphen, bidi controls, tag characters, variation selectors and the
   Hangul fillers, plus the other format characters); strip diacritics from
   Latin, Greek and Cyrillic letters (``é`` -> ``e``); NFKC (fullwidth,
   ligatures, compatibility forms); casefold; map look-alike letters to the
   ASCII letter they imitate (Greek ``ϲ``, Cyrillic ``п``, Armenian ``օ``,
   Cherokee ``Ꮯ``, Coptic ``ⲟ``, Latin small capitals ``ᴄᴏᴄᴀɪɴᴇ``: the table
   comes from Unicode's confusables data, see :mod:`.lookalikes`). A
   stand-alone combining mark directly after an ASCII letter is dropped too,
   and a lone surrogate becomes U+FFFD, the replacement character.
2. leetspeak: ``0 1 3 4 5 7 @ $ !`` become ``o i e a s t a s i`` only inside
   words: a run of these characters is converted only if it touches a letter,
   so ``"h3ll0"`` -> ``"hello"`` while ``"2024"`` and ``"$5"`` stay. A ``!``
   converts only when a letter follows it (``"k!ll"``) so that
   ``"stop!"`` keeps its punctuation. Runs next to another digit (``"1990s"``),
   ordinals (``"4th"``) and runs longer than 32 characters are left alone.
3. every control character (``\x00``-``\x1f``, ``\x7f``-``\x9f`` that are not
   already whitespace: NUL, backspace, escape, delete, ...) becomes a space,
   as a tokenizer reads it: a break between words, so ``"previous\x00
   instructions"`` is ``"previous instructions"``. The one exception is a NUL
   between two line breaks, the separator the engine puts between a tool
   call's arguments (:data:`guardrails.values.ARG_SEPARATOR`): it stays, and a
   phrase never matches across it (nor across the same three characters in
   one string, as it does not across ``" - "``). Then every run of whitespace
   becomes one space.

:func:`strip_markup` is a further, separate step for term matching: it
removes HTML tags and Markdown emphasis from inside words (``co**caine**``,
``co<b></b>caine``). It is not part of :func:`normalize` because other
detectors read the markup itself (an instruction hidden in an HTML comment).

:func:`blind_views` is a second reading, for term matching too: ``i`` and
``l`` read alike, and digits and symbols inside a word read as the letters
of a wider leetspeak (``2 8 9`` as ``z b g``, ``1`` and ``|`` as ``i`` or
``l``). One reading cannot do this: a capital ``I`` (Greek ``Ι``, Cyrillic
``Ӏ``, Coptic ``Ⲓ``, a ``1``) is drawn like an ``l`` as much as an ``i``,
and the same word can use it for both (``1N73RN41``). Folding both letters to
one is the only way to read either; :class:`~.terms.TermMatcher` folds its
terms the same way and keeps a match from this reading only where the
matched text holds a digit, a symbol or a non-ASCII letter (:data:`BLIND_CHAR`),
so a plain word never matches through it ("mild" is still no "miid"). It is
read only around such characters, so most text costs nothing more.

Why one module: the fast paths of steps 2 and 3 must give what the class scans
they skip give, to the character, and the blind reading and :func:`strip_markup`
read step 2's table and the offsets; apart, each would import the others' tables.
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import regex

from guardrails.detectors.lookalikes import BLIND, LOOKALIKES

__all__ = ["BLIND_CHAR", "NormalizedText", "blind_letters", "blind_text", "blind_views", "normalize", "strip_markup"]


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """Normalised text plus, for each of its characters, where it came from.

    ``offsets[i]`` is the index in the original text of the character that
    produced normalised character ``i``; a final sentinel equal to the
    original length follows, so ``len(offsets) == len(text) + 1``. Offsets are
    non-decreasing.
    """

    text: str
    offsets: tuple[int, ...]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map the normalised half-open span ``[start, end)`` to the original.

        The result covers every original character that produced a character
        of the span, including a whole ligature when only part of its
        expansion is in the span and a whole collapsed whitespace run.
        """
        n = len(self.text)
        if not 0 <= start <= end <= n:
            raise ValueError(f"span ({start}, {end}) outside normalised text of length {n}")
        offsets = self.offsets
        if start == end:
            return offsets[start], offsets[start]
        last = end - 1
        o_end = offsets[last] + 1
        if self.text[last] == " ":
            # A space may stand for a collapsed run; the run ends where the
            # next normalised character's source begins.
            o_end = max(o_end, offsets[end])
        return offsets[start], o_end


# --- step 1: per-character folding -----------------------------------------

_STRIP_MARKS_SCRIPTS = ("LATIN", "GREEK", "CYRILLIC")
_MARK_CATEGORIES = frozenset({"Mn", "Me"})
# Sentinel for "a stand-alone combining mark": whether it is dropped depends
# on the previous character, so it cannot be memoised as a plain string.
_MARK = "\x00mark"

_FOLD_CACHE: dict[str, str] = {}
_FOLD_CACHE_MAX = 1 << 16


def _is_alphabetic_script(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith(_STRIP_MARKS_SCRIPTS)


# Default_Ignorable_Code_Point: invisible by definition. Most are format
# characters (Cf), but not the Hangul fillers (Lo: U+115F, U+1160, U+3164,
# U+FFA0), the variation selectors and U+034F (Mn), or unassigned ones.
_IGNORABLE = regex.compile(r"\p{Default_Ignorable_Code_Point}")


def _invisible(ch: str) -> bool:
    return unicodedata.category(ch) == "Cf" or _IGNORABLE.match(ch) is not None


def _fold_char_uncached(c: str) -> str:
    if "\ud800" <= c <= "\udfff":
        # A lone surrogate is no character (a str that is not valid Unicode):
        # the replacement character stands for it, so no detector downstream
        # meets text that UTF-8 cannot encode.
        return "\ufffd"
    if _invisible(c):
        return ""
    lookalike = LOOKALIKES.get(ord(c))
    if lookalike is not None:
        return lookalike  # before NFKC, which may lose the look ("ϲ" -> "ς")
    cat = unicodedata.category(c)
    if cat in _MARK_CATEGORIES:
        return _MARK
    s = c
    decomposed = unicodedata.normalize("NFKD", c)
    if len(decomposed) > 1:
        base = "".join(ch for ch in decomposed if unicodedata.category(ch) not in _MARK_CATEGORIES)
        if base and len(base) < len(decomposed) and all(map(_is_alphabetic_script, base)):
            s = base
    # Look-alikes are mapped before casefolding and again after it: a capital's
    # look-alike may differ from its lower-case form's (Greek "Η" looks like
    # "H", "η" like "n"), and some are listed only in one case.
    s = unicodedata.normalize("NFKC", s).translate(LOOKALIKES)
    s = unicodedata.normalize("NFKC", s.casefold())
    s = "".join(ch for ch in s if not _invisible(ch))
    return s.translate(LOOKALIKES)


def _fold_char(c: str) -> str:
    folded = _FOLD_CACHE.get(c)
    if folded is None:
        folded = _fold_char_uncached(c)
        if len(_FOLD_CACHE) < _FOLD_CACHE_MAX:  # bound memory on adversarial input
            _FOLD_CACHE[c] = folded
    return folded


_NON_ASCII_RUN = regex.compile(r"[^\x00-\x7f]+")

# Building offsets means materialising one int per character, and ints above
# 256 are allocated individually: `tuple(range(10_001))` alone costs about
# 140 us. Slicing a shared identity tuple reuses the same int objects instead
# (about 10x faster). Grown on demand, capped to bound memory.
_IDENT_CAP = 1 << 17
_ident: tuple[int, ...] = tuple(range(4096))


def _positions(a: int, b: int) -> Sequence[int]:
    """``range(a, b)`` as cheaply as possible."""
    global _ident
    if b > len(_ident):
        if b > _IDENT_CAP:
            return range(a, b)
        # Benign race: two threads may both grow it; either result is correct.
        _ident = tuple(range(min(_IDENT_CAP, max(b, 2 * len(_ident)))))
    return _ident[a:b]


def _fold(text: str) -> tuple[str, Sequence[int]]:
    """Step 1 over the whole text: folded text and its origin offsets."""
    if text.isascii():
        # ASCII is NFKC-stable, has no format characters or look-alikes, and
        # casefold() equals lower() on it.
        return text.lower(), _positions(0, len(text))
    parts: list[str] = []
    offsets: list[int] = []
    prev = ""
    pos = 0
    for m in _NON_ASCII_RUN.finditer(text):
        start, end = m.span()
        if start > pos:
            chunk = text[pos:start].lower()
            parts.append(chunk)
            offsets.extend(_positions(pos, start))
            prev = chunk[-1]
        for i in range(start, end):
            folded = _fold_char(text[i])
            if folded is _MARK:
                if prev.isascii() and prev.isalpha():
                    continue  # "d\u0301" or "d\ufe0f": decoration on a Latin letter
                folded = text[i]
            if folded:
                parts.append(folded)
                offsets.extend([i] * len(folded))
                prev = folded[-1]
        pos = end
    if pos < len(text):
        parts.append(text[pos:].lower())
        offsets.extend(_positions(pos, len(text)))
    return "".join(parts), offsets


# --- steps 2 and 3: leetspeak and whitespace ---------------------------------

_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
_LEET_RUN_MAX = 32
_ORDINAL_SUFFIXES = frozenset({"st", "nd", "rd", "th"})
_LEET_RUN = regex.compile(r"[013457@$!]+")
# Step 3 in two moves: every whitespace character becomes " " (one for one,
# so offsets are unchanged), then runs of spaces collapse. Most text has only
# single spaces and newlines, so the offset-rebuilding second move is rare.
_WS_CHARS = "".join(chr(c) for c in range(0x3001) if chr(c).isspace() and chr(c) != " ")
# Control characters that are not whitespace become a space in the same move
# (a NUL only where the separator does not hold it: see _LONE_NUL).
_CONTROLS = "".join(chr(c) for c in (*range(0x01, 0x20), *range(0x7F, 0xA0)) if not chr(c).isspace())
# One character class, replaced one for one: str.translate with a dict looks
# every character up and pays for each miss (about 150 us per KB of
# non-ASCII text); a class scan costs a few.
_WS_CLASS = re.compile("[" + "".join(re.escape(ch) for ch in _WS_CHARS + _CONTROLS) + "]")
_SPACE_RUN = regex.compile(r" {2,}")
# A NUL that is not the middle of the argument separator "\n\x00\n".
_LONE_NUL = regex.compile(r"(?<!\n)\x00|\x00(?!\n)")


def _convert_leet_run(run: str, left_alpha: bool, right_alpha: bool) -> str:
    """Convert the characters of ``run`` that sit inside a word.

    A character converts when a neighbour is (or has become) a letter; ``!``
    needs the letter on its right. Alternating sweeps reach the fixpoint.
    """
    n = len(run)
    done = [False] * n
    changed = True
    while changed:
        changed = False
        for order in (range(n), range(n - 1, -1, -1)):
            for k in order:
                if done[k]:
                    continue
                right = right_alpha if k == n - 1 else done[k + 1]
                if run[k] == "!":
                    ok = right
                else:
                    ok = right or (left_alpha if k == 0 else done[k - 1])
                if ok:
                    done[k] = changed = True
    return "".join(_LEET[ch] if d else ch for ch, d in zip(run, done))


def _leet_replacement(folded: str, start: int, end: int) -> str | None:
    """The replacement for the leet run ``folded[start:end]``, or None to keep it."""
    if end - start > _LEET_RUN_MAX:
        return None
    before = folded[start - 1] if start > 0 else ""
    after = folded[end] if end < len(folded) else ""
    if before.isdigit() or after.isdigit():
        return None  # part of a number such as "1990s" or "b2b"
    left_alpha, right_alpha = before.isalpha(), after.isalpha()
    if not (left_alpha or right_alpha):
        return None
    run = folded[start:end]
    if (not left_alpha and run.isdigit() and folded[end : end + 2] in _ORDINAL_SUFFIXES
            and not folded[end + 2 : end + 3].isalpha()):
        return None  # "4th", "1st"
    key = (run, left_alpha, right_alpha)
    converted = _LEET_CONVERTED.get(key)
    if converted is None:
        converted = _convert_leet_run(run, left_alpha, right_alpha)
        if len(_LEET_CONVERTED) < _LEET_MEMO:
            _LEET_CONVERTED[key] = converted
    return None if converted == run else converted


# A run's conversion depends on the run and its two neighbours' letterhood alone, and
# the same few runs recur ("!" after a word ends most exclamations): remembered, the
# sweeps of _convert_leet_run run once per distinct run (bounded: runs are at most 32).
_LEET_CONVERTED: dict[tuple[str, bool, bool], str] = {}
_LEET_MEMO = 4096


# Leet characters -> 1, other bytes -> 0: bytes.find (memchr) finds the runs in the
# UTF-8, where a class scan tests every character (about 15 us per KB of prose).
_LEET_BYTES = bytes(int(chr(b) in _LEET) for b in range(256))


def _leet_runs(folded: str) -> list[tuple[int, int]]:
    """The spans of ``_LEET_RUN.finditer(folded)``: maximal runs of leet characters."""
    utf8 = folded.encode("utf-8", "surrogatepass")
    marks, ascii_, runs = utf8.translate(_LEET_BYTES), len(utf8) == len(folded), []
    byte = char = 0  # a byte offset and its character offset (a leet character is one byte)
    start = marks.find(1)
    while start >= 0:
        end = marks.find(0, start)
        end = len(marks) if end < 0 else end
        char += start - byte if ascii_ else len(utf8[byte:start].decode("utf-8", "surrogatepass"))
        runs.append((char, char + end - start))
        byte, char, start = end, char + end - start, marks.find(1, end)
    return runs


def _apply_leet(folded: str) -> str:
    """Step 2. Replacements are one character for one, so offsets are unchanged."""
    if not any(ch in folded for ch in _LEET):
        return folded
    parts: list[str] = []
    pos = 0
    for start, end in _leet_runs(folded):
        replacement = _leet_replacement(folded, start, end)
        if replacement is not None:
            parts.append(folded[pos:start])
            parts.append(replacement)
            pos = end
    if not parts:
        return folded
    parts.append(folded[pos:])
    return "".join(parts)


def normalize(text: str) -> NormalizedText:
    """Normalise ``text`` for evasion-resistant matching (see the module doc)."""
    folded, offsets = _fold(text)
    folded = _apply_leet(folded)
    if "\x00" in folded:
        folded = _LONE_NUL.sub(" ", folded)  # one for one: offsets are unchanged
    # Every character of _WS_CLASS is unprintable, and most text holds only newlines
    # and tabs of them: replacing those (a memchr pass each) spares most texts the
    # class scan (about 15 us per KB of non-Latin-1 text in `re`).
    if not folded.isprintable():
        for ch in "\n\t\r":
            folded = folded.replace(ch, " ")
        if not folded.isprintable():
            folded = _WS_CLASS.sub(" ", folded)
    if "  " not in folded:
        if text.isascii():  # offsets are the identity
            return NormalizedText(folded, tuple(_positions(0, len(text) + 1)))
        return NormalizedText(folded, (*offsets, len(text)))
    # Collapse each run of spaces to one, at the offset of its first character.
    parts: list[str] = []
    out_offsets: list[int] = []
    pos = 0
    for m in _SPACE_RUN.finditer(folded):
        start, end = m.span()
        parts.append(folded[pos : start + 1])
        out_offsets.extend(offsets[pos : start + 1])
        pos = end
    parts.append(folded[pos:])
    out_offsets.extend(offsets[pos:])
    out_offsets.append(len(text))
    return NormalizedText("".join(parts), tuple(out_offsets))


# --- for term matching: the blind reading ------------------------------------

# What the blind reading takes a digit or symbol inside a word for: step 2's
# table, plus 2 8 9 for z b g and "|" for l; "1" and "|" read as "i" because
# the blind reading folds "l" to "i". "6" stays a digit: it stands for "b" or
# "g" as often as not.
_BLIND_LEET = {**_LEET, "2": "z", "8": "b", "9": "g", "|": "i"}
_BLIND_RUN = regex.compile(r"[0-57-9@$!|]+")
# A character that lets a match of the blind reading count: a digit or symbol
# of its leetspeak, or a non-ASCII letter, digit, symbol or mark (not
# punctuation, a space or an invisible character: a curly quote hides nothing).
BLIND_CHAR = regex.compile(r"[0-57-9@$!|]|[^\x00-\x7f\p{P}\p{Z}\p{C}]")
# Where a leetspeak digit or symbol touches a letter, found on bytes (far quicker
# than a regex class scan): a letter becomes "a", a digit or symbol "1"; beyond
# Latin-1, encoding gives "?", then read as a letter (a Cyrillic "ѕ" before "4").
_SPOT_BYTES = bytes(
    ord("a") if chr(c).isalpha() else ord("1") if chr(c) in "012345789@$|" else ord("!") if c == ord("!")
    else ord(" ")
    for c in range(256)
)
_SPOT_BYTES_WIDE = _SPOT_BYTES[: ord("?")] + b"a" + _SPOT_BYTES[ord("?") + 1 :]
# Blocks whose characters NFKC turns into ASCII letters or digits: fullwidth
# forms, letterlike symbols and number forms, enclosed and mathematical
# alphanumerics, super- and subscripts, segmented digits.
_COMPAT_BLOCKS = ((0x00AA, 0x00BB), (0x2070, 0x20A0), (0x2100, 0x2190), (0x2460, 0x2500), (0xFF00, 0xFFF0),
                  (0x1D400, 0x1D800), (0x1F100, 0x1F200), (0x1FBF0, 0x1FBFA))


@functools.cache
def blind_letters() -> frozenset[str]:
    """Non-ASCII characters the blind reading can change: those that fold to
    ``i``, ``l`` or a digit (Greek ``Ι``, Cyrillic ``Ӏ``, ``𝟷``, ``ℓ``), and
    those of :data:`~.lookalikes.BLIND`.
    Built once, a few milliseconds: a term matcher builds it at load time."""
    wanted = set("il0123456789")
    chars = {chr(cp) for cp, letter in LOOKALIKES.items() if letter in wanted}
    for low, high in _COMPAT_BLOCKS:
        for cp in range(low, high):
            if unicodedata.normalize("NFKC", chr(cp)).casefold() in wanted:
                chars.add(chr(cp))
    chars.update(map(chr, BLIND))
    return frozenset(ch for ch in chars if not ch.isascii())


def _blind_spots(text: str) -> list[int]:
    """Where the blind reading can count: a leetspeak digit or symbol that
    touches a letter (a ``!`` only before one: ``stop!`` is no leetspeak),
    and a non-ASCII character of :func:`blind_letters`."""
    if text.isascii():
        marks = text.encode("ascii").translate(_SPOT_BYTES)
    else:
        marks = text.encode("latin-1", "replace").translate(_SPOT_BYTES_WIDE)
    spots = []
    for pair, at in ((b"a1", 1), (b"1a", 0), (b"!a", 0)):
        i = marks.find(pair)
        while i >= 0:
            spots.append(i + at)
            i = marks.find(pair, i + 1)
    if not text.isascii():
        letters = blind_letters()
        for m in _NON_ASCII_RUN.finditer(text):
            spots.extend(i for i in range(m.start(), m.end()) if text[i] in letters)
    spots.sort()
    return spots


def blind_text(folded: str) -> str:
    """``folded`` (normalised text) read blind: ``l`` as ``i``, a digit or
    spacing mark of another script as the letter it imitates
    (:data:`~.lookalikes.BLIND`), and each run of digits and symbols that
    touches a letter as letters. A run next to
    another digit (``h264``), an ordinal (``2nd``) and a word of digits alone
    (``2024``) are left as they are. One character for one."""
    s = folded.replace("l", "i")
    if not s.isascii():
        s = s.translate(BLIND)  # Thai "๐" for o, Oriya "୦", Warang Citi "𑣩" for c
    if not any(ch in s for ch in _BLIND_LEET):
        return s
    parts: list[str] = []
    pos = 0
    for m in _BLIND_RUN.finditer(s):
        start, end = m.span()
        if end - start > _LEET_RUN_MAX:
            continue
        before = s[start - 1] if start > 0 else ""
        after = s[end] if end < len(s) else ""
        if before.isdigit() or after.isdigit() or not (before.isalpha() or after.isalpha()):
            continue
        run = m.group()
        if (not before.isalpha() and run.isdigit() and s[end : end + 2] in _ORDINAL_SUFFIXES
                and not s[end + 2 : end + 3].isalpha()):
            continue
        parts.append(s[pos:start])
        parts.append("".join(_BLIND_LEET[ch] for ch in run))
        pos = end
    if not parts:
        return s
    parts.append(s[pos:])
    return "".join(parts)


def blind_views(text: str, norm: NormalizedText, reach: int) -> list[NormalizedText]:
    """The blind reading (:func:`blind_text`) of ``norm`` (``normalize(text)``)
    where it can count: around each place :data:`BLIND_CHAR` could make a
    difference, ``reach`` characters either way and out to a space, as pieces
    whose offsets still point into ``text``. Empty when there is no such place
    (plain ASCII words, numbers apart), as in most text."""
    spots = _blind_spots(text)
    if not spots:
        return []
    folded = norm.text
    offsets = norm.offsets
    n = len(folded)
    windows: list[list[int]] = []
    for spot in spots:
        at = bisect.bisect_left(offsets, spot, 0, n)
        start = folded.rfind(" ", 0, max(0, at - reach)) + 1
        end = folded.find(" ", min(n, at + reach))
        end = n if end < 0 else end
        if windows and start <= windows[-1][1]:
            windows[-1][1] = max(windows[-1][1], end)
        else:
            windows.append([start, end])
    # A window starts and ends at a space, so the blind reading of each is the
    # blind reading of the whole text there.
    return [NormalizedText(blind_text(folded[a:b]), tuple(offsets[a : b + 1])) for a, b in windows]


# --- for term matching: markup inside words ------------------------------------

# A run of tags, HTML comments and Markdown emphasis characters. Bounded, so a
# stray "<" cannot make a match scan far. "_" is not here: intraword "_" is no
# emphasis in CommonMark, and term matching treats it as a separator.
_MARKUP = r"(?:<!--.{0,200}?-->|</?[a-z][a-z0-9]{0,15}(?:\s[^<>]{0,200})?/?>|[*~`])+"
# Inside a word, or at a word's edge next to a space or the text's edge
# (``chmo**d** -R``, ``INTERNAL <b>ONL</b>Y``): a phrase matches across it.
_MARKUP_RUN = regex.compile(
    rf"(?<=[^\W_]){_MARKUP}(?=[^\W_]|\s|$)|(?<=\s|^){_MARKUP}(?=[^\W_])",
    regex.DOTALL,
)
_MARKUP_CHARS = ("<", "*", "~", "`")
# Tags that start a new line or block when rendered: between two letters they
# stand for a space, not for nothing.
_BLOCK_TAG = regex.compile(
    r"</?(?:br|p|div|li|ul|ol|tr|td|th|table|h[1-6]|hr|pre|blockquote|section|article|header|footer)\b"
)


def strip_markup(norm: NormalizedText) -> NormalizedText:
    """``norm`` without the markup that sits between two letters or digits.

    HTML tags and comments and the Markdown emphasis characters ``*``, ``~`` and
    `````` ` `````` are removed where they split a word: ``co**caine**`` reads
    ``cocaine``, ``co<b></b>caine`` reads ``cocaine``. A block tag there
    (``<br>``, ``<p>``, ``<li>``, ...) becomes one space, as it renders. Markup
    at a word's edge is dropped where a space or the text's edge is on its
    other side, so a phrase reads across it: ``chmo**d** -R`` reads ``chmod
    -r``, ``INTERNAL <b>ONL</b>Y`` reads ``internal only``. Offsets still
    point into the original text; ``norm`` itself is returned when nothing is
    removed.
    """
    text = norm.text
    if not any(ch in text for ch in _MARKUP_CHARS):
        return norm
    parts: list[str] = []
    offsets: list[int] = []
    pos = 0
    for m in _MARKUP_RUN.finditer(text):
        start, end = m.span()
        parts.append(text[pos:start])
        offsets.extend(norm.offsets[pos:start])
        if _BLOCK_TAG.search(m.group()):
            parts.append(" ")
            offsets.append(norm.offsets[start])
        pos = end
    if not parts:
        return norm
    parts.append(text[pos:])
    offsets.extend(norm.offsets[pos:])
    return NormalizedText("".join(parts), tuple(offsets))
