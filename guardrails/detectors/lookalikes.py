"""Look-alike letters folded to the ASCII letter they imitate.

The table comes from Unicode's confusables data (UTS #39), read through the
``confusable-homoglyphs`` package, which ships that data as a JSON file and
reads it from disk (its network update is a separate command we never call).
Loading that file and deriving the table takes about 100 ms, too much for
every start-up, so the derived table is generated into ``lookalikes.json``
beside this module and read at import (under a millisecond); a test fails when
it no longer matches what :func:`build_table` derives from the installed data.
Regenerate it with :func:`write_table` (``python -c "from
guardrails.detectors.lookalikes import write_table; write_table()"``).

The data pairs characters that look alike, in both directions but without the
transitive closure, so a character's look-alike letter is found among the
characters it is linked to, directly or through a chain:

* a capital (``Lu``) takes the ASCII capital of its group, lower-cased: UTS
  #39 draws ``I`` and ``l`` as one prototype ``l``, but after case folding a
  Cyrillic ``І`` must read as ``i``; a capital with no ASCII capital in its
  group is left to its lower-case form, which is looked up after casefolding,
  unless casefolding keeps it a capital (Cherokee folds to its capitals:
  ``Ꮷ``, ``Ꮒ``), when it is read like a lower-case letter below;
* any other letter or symbol takes the lower-case ASCII letters it is linked to
  directly, else those of its group, else its group's capitals, lower-cased;
* Latin small capitals (``ᴀ``, ``ɴ``, ``ᴇ``), which UTS #39 keeps as their own
  prototypes, take the letter their Unicode name gives, and so does a letter
  whose group has no ASCII letter but one such small capital (Cyrillic ``н``
  is linked to ``ʜ``);
* :data:`EXTRA` adds the few lower-case letters that fonts draw like a Latin
  letter but the data leaves unlinked.

A character that NFKC changes is listed only when NFKC would lose its look
(mathematical and fullwidth letters are left to NFKC). Digits, marks,
punctuation and modifier symbols are not sources (a digit is
read as a letter only by the leetspeak step, inside words), and neither are
scripts written without spaces, whose characters are words of their own.

A second, smaller table, :data:`BLIND`, holds those digits and spacing marks
of other scripts that the data pairs with one ASCII letter (Thai ``๐`` and
Oriya ``୦`` with ``o``, Warang Citi ``𑣩`` with ``c``, Malayalam ``ം`` with
``o``). Only the blind reading of term matching uses it
(:func:`guardrails.detectors.normalize.blind_views`), and only inside words.
"""

from __future__ import annotations

import json
import unicodedata
from collections import defaultdict
from importlib import metadata
from pathlib import Path
from typing import Any

import regex

__all__ = ["BLIND", "EXTRA", "LOOKALIKES", "TABLE_PATH", "build_blind_table", "build_table", "write_table"]

#: The generated table: ``{"source": ..., "table": {char: letter}}``.
TABLE_PATH = Path(__file__).with_name("lookalikes.json")

#: Look-alikes the confusables data leaves unlinked to any ASCII letter. Each
#: is drawn like the Latin letter in common lower-case fonts; the Greek ones
#: were in normalize.py's hand-written table before this data replaced it.
EXTRA: dict[str, str] = {
    "п": "n",  # CYRILLIC SMALL LETTER PE
    "β": "b",  # GREEK SMALL LETTER BETA
    "ε": "e",  # GREEK SMALL LETTER EPSILON
    "η": "n",  # GREEK SMALL LETTER ETA
    "χ": "x",  # GREEK SMALL LETTER CHI
    "ω": "w",  # GREEK SMALL LETTER OMEGA
}

_SOURCE_CATEGORIES = frozenset({"Lu", "Ll", "Lt", "Lo", "Lm", "Sm", "So"})
_UNSPACED = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO", "YI ", "THAI", "LAO",
             "KHMER", "MYANMAR", "IDEOGRAPHIC", "KANGXI")
_SMALL_CAPITAL = regex.compile(r"LATIN LETTER SMALL CAPITAL ([A-Z])")
# The blocks that hold Latin small capitals: IPA Extensions, Phonetic
# Extensions, Latin Extended-D and -E, Latin Extended-G.
_SMALL_CAPITAL_BLOCKS = ((0x0250, 0x02B0), (0x1D00, 0x1D80), (0xA720, 0xA800),
                         (0xAB30, 0xAB70), (0x1DF00, 0x1E000))


def _ascii_letters(chars: set[str]) -> set[str]:
    return {c for c in chars if len(c) == 1 and c.isascii() and c.isalpha()}


def build_table() -> dict[str, str]:
    """Derive the table from the installed confusables data (see the module doc)."""
    from confusable_homoglyphs import confusables

    data: dict[str, list[dict[str, str]]] = confusables.confusables_data
    links: defaultdict[str, set[str]] = defaultdict(set)
    for char, entries in data.items():
        for entry in entries:
            other = entry["c"]
            if len(other) == 1 and len(char) == 1:
                links[char].add(other)
                links[other].add(char)

    named: dict[str, str] = {}
    for low, high in _SMALL_CAPITAL_BLOCKS:
        for cp in range(low, high):
            m = _SMALL_CAPITAL.fullmatch(unicodedata.name(chr(cp), ""))
            if m:
                named[chr(cp)] = m.group(1).lower()

    table: dict[str, str] = {}
    # Characters NFKC changes, kept only where NFKC would lose the look
    # (Greek lunate sigma "ϲ" is NFKC "ς", which folds to "σ", read as "o").
    nfkc_changed: dict[str, str] = {}
    seen: set[str] = set()
    for start in list(links):
        if start in seen:
            continue
        group = {start}
        stack = [start]
        while stack:
            for other in links[stack.pop()]:
                if other not in group:
                    group.add(other)
                    stack.append(other)
        seen |= group
        ascii_in_group = _ascii_letters(group)
        lower = {c for c in ascii_in_group if c.islower()}
        upper = {c.lower() for c in ascii_in_group if c.isupper()}
        by_name = {named[c] for c in group if c in named}
        for char in group:
            if char.isascii() or not _is_source(char):
                continue
            if unicodedata.category(char) == "Lu" and (upper or char.casefold() != char):
                choice = upper
            else:
                direct = {c for c in _ascii_letters(links[char]) if c.islower()}
                choice = direct or lower or upper or by_name
            if len(choice) == 1:
                letter = next(iter(choice))
                if unicodedata.normalize("NFKC", char) == char:
                    table[char] = letter
                else:
                    nfkc_changed[char] = letter

    for char, letter in [*named.items(), *EXTRA.items()]:
        table.setdefault(char, letter)
    plain = str.maketrans(table)
    for char, letter in nfkc_changed.items():
        folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", char).translate(plain).casefold())
        if folded.translate(plain) != letter:
            table[char] = letter
    return dict(sorted(table.items()))


def build_blind_table() -> dict[str, str]:
    """Digits and spacing marks of other scripts that the installed
    confusables data pairs with exactly one ASCII letter (see the module doc)."""
    from confusable_homoglyphs import confusables

    table: dict[str, str] = {}
    for char, entries in confusables.confusables_data.items():
        if (len(char) != 1 or char.isascii() or unicodedata.category(char) not in _BLIND_CATEGORIES
                or unicodedata.normalize("NFKC", char) != char):
            continue
        letters = {e["c"].lower() for e in entries if len(e["c"]) == 1 and e["c"].isascii() and e["c"].isalpha()}
        if len(letters) == 1:
            table[char] = letters.pop()
    return dict(sorted(table.items()))


_BLIND_CATEGORIES = frozenset({"Nd", "Nl", "No", "Mc"})


def _is_source(char: str) -> bool:
    return (unicodedata.category(char) in _SOURCE_CATEGORIES
            and not unicodedata.name(char, "").startswith(_UNSPACED))


def write_table(path: Path = TABLE_PATH) -> dict[str, Any]:
    """Regenerate the table file from the installed data; returns what was written."""
    doc = {
        "generated": "by guardrails.detectors.lookalikes.write_table(); do not edit",
        "source": f"confusable-homoglyphs {metadata.version('confusable-homoglyphs')}",
        "table": build_table(),
        "blind": build_blind_table(),
    }
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    return doc


def _load(path: Path = TABLE_PATH, key: str = "table") -> dict[int, str]:
    table: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))[key]
    return {ord(char): letter for char, letter in table.items()}


#: ``str.translate`` table: code point -> the lower-case ASCII letter it imitates.
LOOKALIKES: dict[int, str] = _load()
#: The blind reading's table: a digit or spacing mark of another script -> the
#: ASCII letter it imitates.
BLIND: dict[int, str] = _load(key="blind")
