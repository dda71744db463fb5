"""FAMILIES: every variant family the harness draws from, named and documented once.

The report, the ``--family`` option and docs/redteam.md all read this table.
A family applies to some target kinds (see :mod:`.targets`); the generators
live in :mod:`.obfuscate` (text), :mod:`.attacks` (injection, fields) and
:mod:`.formats` (secrets, PII).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FAMILIES", "TEXT_KINDS", "Family"]

#: Target kinds whose payload is a word or phrase the text families disguise.
TEXT_KINDS = ("terms", "topic", "pattern", "injection")


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    kinds: tuple[str, ...]  # the target kinds it attacks
    doc: str


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("plain", ("terms", "topic", "pattern"),
           "the payload as the policy writes it: the baseline every disguise is measured against"),
    Family("case", TEXT_KINDS, "upper, title, alternating and random case"),
    Family("invisible", TEXT_KINDS,
           "Default_Ignorable code points inside words (zero-width spaces and joiners, soft hyphen, "
           "bidi controls, variation selectors, tag characters, Hangul fillers); a term list's variants "
           "together use every one of them, assigned or not"),
    Family("lookalikes", TEXT_KINDS,
           "letters swapped for characters Unicode's confusables data (UTS #39, read through "
           "confusable-homoglyphs) pairs with them: one letter, every letter, and one script at a time "
           "(Cyrillic, Greek, Armenian, Cherokee, Coptic, Latin small capitals and other Latin forms)"),
    Family("width", TEXT_KINDS,
           "width and compatibility forms that NFKC folds: fullwidth, the 13 mathematical alphabets, "
           "circled and squared letters, modifier letters, ligatures"),
    Family("separators", TEXT_KINDS,
           "separators between the letters and digits of a word (one, several, mixed), between the words "
           "of a phrase of plain words, and one space or hyphen inside a word of five or more letters"),
    Family("joined", TEXT_KINDS,
           "the words of a phrase of plain words run together: plain, CamelCase, camelCase, upper case"),
    Family("markup", TEXT_KINDS,
           "HTML and Markdown inside a word: bold, empty tags, comments, spans, inline code, strikethrough"),
    Family("leetspeak", TEXT_KINDS,
           "digits and symbols for letters: 4 3 1 0 5 7, @ $ ! 0, about half the letters, and the "
           "extended 8 9 1 2 for b g l z"),
    Family("diacritics", TEXT_KINDS,
           "accents: precomposed letters, one combining mark per letter, three stacked marks per letter"),
    Family("paraphrase", ("injection",),
           "instruction overrides reworded: the corpus's written phrasings and its slot-filled frames"),
    Family("encoding", ("injection",), "an attack in base64 or rot13, with a hint to decode and follow it"),
    Family("carrier", ("injection",),
           "an attack hidden where a reader does not look: HTML comments, hidden elements, alt text, "
           "code comments, JSON fields, quoted mail, Markdown comments, a note inside a document"),
    Family("pii-format", ("pii",),
           "PII written the ways people write it: spacing, dots and dashes, country formats, context words"),
    Family("secret-layout", ("secrets",),
           "each secret kind in the layouts it leaks in: env, JSON, YAML, CSV, URI, header, and bare in prose"),
    Family("args-case", ("fields",), "a tool name, argument or metadata value in another case"),
    Family("args-whitespace", ("fields",),
           "leading and trailing spaces, tabs, newlines and no-break spaces around a value"),
    Family("args-unicode", ("fields",),
           "a look-alike letter, fullwidth forms, a zero-width space or a decomposed accent in a value"),
    Family("args-type", ("fields",),
           "type confusion: \"100\" for 100, 100.0, exponent and thousands-separator strings, [100], "
           "{\"value\": 100}, \"true\" for true"),
)}
