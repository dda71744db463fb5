"""The text families: ways to write a word so that a person still reads it
and a literal matcher does not.

Each generator takes the text to hide and a seeded ``random.Random`` and
returns ``(how, variant)`` pairs, ``how`` saying exactly what was done
(``"one: '.'"``, ``"greek"``). Variants equal to the input are dropped, so a
family that cannot touch a text (leetspeak on ``":(){ :|:& };:"``) yields
nothing rather than a free catch.

The Unicode tables are read from Unicode's own data, never from the
detectors under test: the Default_Ignorable code points from the ``regex``
module's property tables, the look-alikes from the confusables data that
``confusable-homoglyphs`` ships (UTS #39), the width and compatibility forms
and the accented letters from :mod:`unicodedata` by character name and
decomposition.
"""

from __future__ import annotations

import functools
import json
import random
import unicodedata
from collections.abc import Callable, Sequence
from importlib import resources

import regex

__all__ = ["GENERATORS", "default_ignorables", "invisible_sweep", "lookalike_table"]

Variants = list[tuple[str, str]]

_LETTER = regex.compile(r"[A-Za-z]")
# Separators a person reads past; the last ones are wide or unusual on purpose.
_SEPARATORS = (" ", ".", "-", "_", "*", "/", "|", "·", "+", "~", "•", "\\")
_SEVERAL = (". ", " - ", "..", "--", " _ ", " . ", "  ")
_BETWEEN_WORDS = ("-", "_", ".", "/", "  ", "\t", "\n", " - ", "+", "·", "\u00a0", "\u3000")


def _distinct(original: str, pairs: Variants) -> Variants:
    seen = {original}
    out = []
    for how, text in pairs:
        if text not in seen:
            seen.add(text)
            out.append((how, text))
    return out


def _letter_positions(text: str) -> list[int]:
    return [i for i, ch in enumerate(text) if ch.isalpha()]


# ---- case ---------------------------------------------------------------------


def case(text: str, rng: random.Random) -> Variants:
    alternating = "".join(ch.upper() if i % 2 else ch.lower() for i, ch in enumerate(text))
    mixed = "".join(ch.upper() if rng.random() < 0.5 else ch.lower() for ch in text)
    return _distinct(text, [("upper", text.upper()), ("title", text.title()), ("alternating", alternating),
                            ("random", mixed), ("lower", text.lower())])


# ---- invisible characters ------------------------------------------------------


@functools.cache
def default_ignorables() -> tuple[str, ...]:
    """Every Default_Ignorable_Code_Point (DerivedCoreProperties.txt), assigned or not."""
    # Every plane is scanned (about 0.3 s, once per process) rather than the
    # three the property lives in today, so a new Unicode version cannot
    # leave one out.
    prop = regex.compile(r"\p{Default_Ignorable_Code_Point}")
    chars = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    return tuple(m.group() for m in prop.finditer(chars))


def _insert(text: str, gaps: Sequence[int], fill: Callable[[int], str]) -> str:
    out = []
    for i, ch in enumerate(text):
        out.append(ch)
        if i in gaps:
            out.append(fill(i))
    return "".join(out)


def _gaps(text: str) -> list[int]:
    """Positions after which an invisible character can go: inside words."""
    return [i for i in range(len(text) - 1) if text[i].isalnum() and text[i + 1].isalnum()]


def invisible(text: str, rng: random.Random) -> Variants:
    gaps = _gaps(text)
    if not gaps:
        return []
    pool = default_ignorables()
    one, same = rng.choice(pool), rng.choice(pool)
    at = rng.choice(gaps)
    return _distinct(text, [
        (f"U+{ord(one):04X} once", _insert(text, {at}, lambda _: one)),
        (f"U+{ord(same):04X} between every letter", _insert(text, set(gaps), lambda _: same)),
        ("a different one between every letter", _insert(text, set(gaps), lambda _: rng.choice(pool))),
    ])


def invisible_sweep(texts: Sequence[str], rng: random.Random, per_gap: int = 4) -> list[tuple[int, str, str]]:
    """``(text index, how, variant)`` covering every Default_Ignorable code
    point at least once: the shuffled list is dealt out, ``per_gap`` at a time,
    into the gaps of the texts in turn."""
    usable = [i for i, t in enumerate(texts) if _gaps(t)]
    if not usable:
        return []
    pool = list(default_ignorables())
    rng.shuffle(pool)
    out: list[tuple[int, str, str]] = []
    k = 0
    while pool:
        index = usable[k % len(usable)]
        k += 1
        text = texts[index]
        gaps = _gaps(text)
        dealt = pool[: per_gap * len(gaps)]
        del pool[: len(dealt)]
        chunks = {g: "".join(dealt[j * per_gap:(j + 1) * per_gap]) for j, g in enumerate(gaps)}
        variant = _insert(text, set(chunks), chunks.__getitem__)
        first, last = dealt[0], dealt[-1]
        out.append((index, f"{len(dealt)} code points U+{ord(first):04X}..U+{ord(last):04X} (sweep)", variant))
    return out


# ---- look-alikes ---------------------------------------------------------------


@functools.cache
def lookalike_table() -> dict[str, tuple[str, ...]]:
    """ASCII letter -> single code points Unicode's confusables data pairs
    with it, minus those that NFKC turns back into the letter (the width
    family's) and ASCII itself."""
    data = json.loads(resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8"))
    table: dict[str, set[str]] = {}
    for letter in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ":
        for entry in data.get(letter, ()):
            glyph = entry["c"].strip("\u200e\u200f")  # the data wraps right-to-left glyphs in marks
            if len(glyph) != 1 or glyph.isascii():
                continue
            if unicodedata.normalize("NFKC", glyph).lower() == letter.lower():
                continue
            table.setdefault(letter, set()).add(glyph)
    return {k: tuple(sorted(v)) for k, v in table.items()}


def _script(ch: str) -> str:
    return unicodedata.name(ch, "?").split(" ")[0]


def lookalikes(text: str, rng: random.Random) -> Variants:
    table = lookalike_table()
    letters = [i for i in _letter_positions(text) if text[i] in table]
    if not letters:
        return []
    chars = list(text)
    one = chars.copy()
    at = rng.choice(letters)
    one[at] = rng.choice(table[text[at]])
    every = [rng.choice(table[ch]) if ch in table else ch for ch in chars]
    out = [(f"one letter ({_script(one[at]).lower()} U+{ord(one[at]):04X})", "".join(one)),
           ("every letter, any script", "".join(every))]
    for script in ("CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC", "LATIN"):
        swapped = [ch for ch in chars]
        changed = 0
        for i in letters:
            options = [g for g in table[chars[i]] if _script(g) == script]
            if options:
                swapped[i] = rng.choice(options)
                changed += 1
        if changed:
            out.append((f"{script.lower()} letters", "".join(swapped)))
    return _distinct(text, out)


# ---- width and compatibility forms -------------------------------------------------

_MATH_STYLES = ("BOLD", "ITALIC", "BOLD ITALIC", "SCRIPT", "BOLD SCRIPT", "FRAKTUR", "DOUBLE-STRUCK",
                "BOLD FRAKTUR", "SANS-SERIF", "SANS-SERIF BOLD", "SANS-SERIF ITALIC", "SANS-SERIF BOLD ITALIC",
                "MONOSPACE")
_LIGATURES = (("ffi", "\ufb03"), ("ffl", "\ufb04"), ("ff", "\ufb00"), ("fi", "\ufb01"), ("fl", "\ufb02"),
              ("st", "\ufb06"))


def _named(ch: str, *names: str) -> str:
    for name in names:
        try:
            return unicodedata.lookup(name)
        except KeyError:
            continue
    return ch


def _by_name(text: str, pattern: Callable[[str, str], tuple[str, ...]]) -> str:
    out = []
    for ch in text:
        if _LETTER.fullmatch(ch):
            out.append(_named(ch, *pattern("CAPITAL" if ch.isupper() else "SMALL", ch.upper())))
        else:
            out.append(ch)
    return "".join(out)


def width(text: str, rng: random.Random) -> Variants:
    fullwidth = "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else "\u3000" if ch == " " else ch
                        for ch in text)
    out = [("fullwidth", fullwidth)]
    for style in _MATH_STYLES:
        out.append((f"mathematical {style.lower()}",
                    _by_name(text, lambda case_, l, s=style: (f"MATHEMATICAL {s} {case_} {l}",))))
    out.append(("circled", _by_name(text, lambda case_, l: (f"CIRCLED LATIN {case_} LETTER {l}",))))
    out.append(("squared capitals", _by_name(text.upper(), lambda case_, l: (f"SQUARED LATIN CAPITAL LETTER {l}",))))
    out.append(("superscript", _by_name(text.lower(), lambda case_, l: (
        f"MODIFIER LETTER SMALL {l}", f"SUPERSCRIPT LATIN SMALL LETTER {l}"))))
    ligatured = text
    for plain, lig in _LIGATURES:
        ligatured = ligatured.replace(plain, lig)
    out.append(("ligatures", ligatured))
    return _distinct(text, out)


# ---- separators and joined words ------------------------------------------------


_ALNUM_RUN = regex.compile(r"[^\W_]{2,}")
_ALNUM_WORD = regex.compile(r"[^\W_]+")
#: Words shorter than this are not split in two: "mk fs" reads as two tokens.
SPLIT_MIN = 5


def _spread(text: str, sep: Callable[[], str]) -> str:
    """A separator between the letters and digits of every run of them;
    punctuation stays as it is (``rm -rf /`` -> ``r.m -r.f /``)."""
    return _ALNUM_RUN.sub(lambda m: m.group()[0] + "".join(sep() + ch for ch in m.group()[1:]), text)


def _plain_words(text: str) -> list[str] | None:
    """The words of a phrase made only of letters and digits, else None:
    joining ``rm``, ``-rf`` and ``/`` is not joining words."""
    words = text.split(" ")
    return words if len(words) > 1 and all(_ALNUM_WORD.fullmatch(w) for w in words) else None


def separators(text: str, rng: random.Random) -> Variants:
    if not _ALNUM_RUN.search(text):
        return []
    out: Variants = []
    for sep in rng.sample(_SEPARATORS, 3):
        out.append((f"one between letters: '{sep}'", _spread(text, lambda s=sep: s)))
    for sep in rng.sample(_SEVERAL, 2):
        out.append((f"several between letters: '{sep}'", _spread(text, lambda s=sep: s)))
    for _ in range(2):
        out.append(("mixed between letters",
                    _spread(text, lambda: "".join(rng.choice(_SEPARATORS) for _ in range(rng.randint(1, 2))))))
    words = _plain_words(text)
    if words:
        for sep in rng.sample(_BETWEEN_WORDS, 4):
            out.append((f"between words: '{sep}'", sep.join(words)))
    long_words = [m for m in _ALNUM_WORD.finditer(text) if len(m.group()) >= SPLIT_MIN]
    if long_words:
        m = rng.choice(long_words)
        cut = m.start() + rng.randint(2, len(m.group()) - 2)
        for sep in (" ", "-"):
            out.append((f"one '{sep}' inside a word", text[:cut] + sep + text[cut:]))
    return _distinct(text, out)


def joined(text: str, rng: random.Random) -> Variants:
    words = _plain_words(text)
    if not words:
        return []
    return _distinct(text, [
        ("run together", "".join(words)),
        ("CamelCase", "".join(w[:1].upper() + w[1:].lower() for w in words)),
        ("camelCase", words[0].lower() + "".join(w[:1].upper() + w[1:].lower() for w in words[1:])),
        ("upper, run together", "".join(words).upper()),
    ])


# ---- markup -------------------------------------------------------------------------

_MARKUP: tuple[tuple[str, Callable[[str, str], str]], ...] = (
    ("bold second half", lambda a, b: f"{a}**{b}**"),
    ("empty tag", lambda a, b: f"{a}<b></b>{b}"),
    ("html comment", lambda a, b: f"{a}<!-- -->{b}"),
    ("tag around first half", lambda a, b: f"<b>{a}</b>{b}"),
    ("span with attribute", lambda a, b: f'{a}<span class="x">{b}</span>'),
    ("inline code", lambda a, b: f"{a}`{b}`"),
    ("strikethrough", lambda a, b: f"{a}~~{b}~~"),
    ("italic letter", lambda a, b: f"{a}*{b[0]}*{b[1:]}"),
)


def markup(text: str, rng: random.Random) -> Variants:
    words = text.split(" ")
    long_words = [k for k, w in enumerate(words) if len(w) >= 3 and w.isalnum()]
    if not long_words:
        return []
    k = rng.choice(long_words)
    w = words[k]
    cut = rng.randint(1, len(w) - 1)
    out = []
    for how, wrap in _MARKUP:
        marked = words.copy()
        marked[k] = wrap(w[:cut], w[cut:])
        out.append((how, " ".join(marked)))
    return _distinct(text, out)


# ---- leetspeak -------------------------------------------------------------------------

_LEET_BASIC = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"}
_LEET_SYMBOLS = {"a": "@", "s": "$", "i": "!", "o": "0"}
_LEET_EXTENDED = {**_LEET_BASIC, "b": "8", "g": "9", "l": "1", "z": "2"}


def _leet(text: str, table: dict[str, str], keep: Callable[[], bool] = lambda: True) -> str:
    return "".join(table[ch.lower()] if ch.lower() in table and keep() else ch for ch in text)


def leetspeak(text: str, rng: random.Random) -> Variants:
    return _distinct(text, [
        ("digits for a e i o s t", _leet(text, _LEET_BASIC)),
        ("symbols @ $ ! 0", _leet(text, _LEET_SYMBOLS)),
        ("about half the letters", _leet(text, _LEET_BASIC, lambda: rng.random() < 0.5)),
        ("extended: also b g l z", _leet(text, _LEET_EXTENDED)),
    ])


# ---- diacritics --------------------------------------------------------------------------


@functools.cache
def _accented() -> dict[str, tuple[str, ...]]:
    """ASCII letter -> precomposed Latin letters that decompose to it plus marks."""
    table: dict[str, list[str]] = {}
    for cp in range(0xC0, 0x250):
        ch = chr(cp)
        base = unicodedata.normalize("NFD", ch)
        if len(base) > 1 and _LETTER.fullmatch(base[0]) and all(unicodedata.combining(m) for m in base[1:]):
            table.setdefault(base[0], []).append(ch)
    return {k: tuple(v) for k, v in table.items()}


_COMBINING = tuple(chr(c) for c in range(0x300, 0x370))


def diacritics(text: str, rng: random.Random) -> Variants:
    accented = _accented()
    if not _letter_positions(text):
        return []
    pre = "".join(rng.choice(accented[ch]) if ch in accented else ch for ch in text)
    comb = "".join(ch + rng.choice(_COMBINING) if ch.isalpha() else ch for ch in text)
    stacked = "".join(ch + "".join(rng.choice(_COMBINING) for _ in range(3)) if ch.isalpha() else ch for ch in text)
    return _distinct(text, [("precomposed accents", pre), ("a combining mark per letter", comb),
                            ("three stacked marks per letter", stacked)])


#: The text families by name (see :data:`guardrails.redteam.families.FAMILIES`).
GENERATORS: dict[str, Callable[[str, random.Random], Variants]] = {
    "case": case,
    "invisible": invisible,
    "lookalikes": lookalikes,
    "width": width,
    "separators": separators,
    "joined": joined,
    "markup": markup,
    "leetspeak": leetspeak,
    "diacritics": diacritics,
}
