from __future__ import annotations

import itertools

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from guardrails.detectors import NormalizedText, normalize
from guardrails.detectors.normalize import blind_text, blind_views

CASES = [
    # (input, normalised) - the evasions the module promises to undo
    ("Hello World", "hello world"),
    ("D\u200bI\u200cA\u200dG\u2060N\ufeffO\u00adSIS", "diagnosis"),
    ("d\u0456agnos\u0456s", "diagnosis"),  # Cyrillic i
    ("\u0440\u0430ss\u0432\u043erd", "passbord"),  # Cyrillic r a ... v(=b) o
    ("\u0421\u0415\u041a\u0420\u0415\u0422", "cekpet"),  # capitals map before casefold
    ("\u0397ello", "hello"),  # Greek capital eta looks like H
    ("\u03bf\u03b1\u03b5", "oae"),  # Greek omicron alpha epsilon
    ("\uff44\uff49\uff41\uff47", "diag"),  # fullwidth
    ("\ufb01le", "file"),  # ligature
    ("Stra\u00dfe", "strasse"),
    ("caf\u00e9 na\u00efve", "cafe naive"),
    ("e\u0301cole", "ecole"),  # combining accent after a Latin letter
    ("h3ll0 w0rld", "hello world"),
    ("p4$$w0rd", "password"),
    ("@dmin k!ll", "admin kill"),
    ("stop! now!!", "stop! now!!"),
    ("2024 costs $5 or 10.5", "2024 costs $5 or 10.5"),
    ("the 1990s and 4th of july", "the 1990s and 4th of july"),
    ("a  b\t\tc\n\nd \u00a0 e", "a b c d e"),
    ("", ""),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_normalize_examples(text: str, expected: str) -> None:
    norm = normalize(text)
    assert norm.text == expected
    _check_offsets(text, norm)


def test_offsets_point_at_source_characters() -> None:
    text = "A\u200bB  \ufb01"
    norm = normalize(text)
    assert norm.text == "ab fi"
    assert norm.offsets == (0, 2, 3, 5, 5, 6)


def test_to_original() -> None:
    text = "say D\u200bIAGNOSIS\u200b  now \ufb01x"
    norm = normalize(text)
    assert norm.text == "say diagnosis now fix"
    start = norm.text.index("diagnosis")
    s, e = norm.to_original(start, start + len("diagnosis"))
    assert text[s:e] == "D\u200bIAGNOSIS"
    # a span ending inside a ligature's expansion covers the whole ligature
    f = norm.text.index("fi")
    assert norm.to_original(f, f + 1) == (text.index("\ufb01"), text.index("\ufb01") + 1)
    # a span ending with a collapsed space covers the whole run
    sp = norm.text.index(" now")
    s, e = norm.to_original(sp, sp + 1)
    assert text[s:e].strip("\u200b") == "  "
    assert norm.to_original(3, 3) == (norm.offsets[3], norm.offsets[3])
    with pytest.raises(ValueError):
        norm.to_original(0, len(norm.text) + 1)


def _check_offsets(text: str, norm: NormalizedText) -> None:
    offs = norm.offsets
    assert len(offs) == len(norm.text) + 1
    assert offs[-1] == len(text)
    assert all(0 <= o < len(text) for o in offs[:-1])
    assert all(a <= b for a, b in itertools.pairwise(offs))


EVASIVE_CHARS = st.sampled_from(
    list("aeiopcxy013457@$! \t\n.-_")
    + ["\u200b", "\u200d", "\ufeff", "\u00ad", "\u0430", "\u0435", "\u0456", "\u0410", "\u0397"]
    + ["\u00e9", "\u0301", "\ufe0f", "\ufb01", "\u00df", "\u0130", "\uff41", "\u00a0", "\u3000", "\u2028"]
    + ["\u4e2d", "\U0001f600", "\ud800"]
)
TEXTS = st.one_of(st.text(), st.lists(EVASIVE_CHARS, max_size=60).map("".join))


@settings(max_examples=400, deadline=None)
@given(TEXTS)
def test_offsets_monotonic_and_in_bounds(text: str) -> None:
    norm = normalize(text)
    _check_offsets(text, norm)
    assert normalize(text) == norm  # deterministic


@settings(max_examples=300, deadline=None)
@given(TEXTS, st.data())
def test_to_original_in_bounds(text: str, data: st.DataObject) -> None:
    norm = normalize(text)
    n = len(norm.text)
    start = data.draw(st.integers(0, n))
    end = data.draw(st.integers(start, n))
    s, e = norm.to_original(start, end)
    assert 0 <= s <= e <= len(text)
    if end > start:
        assert e > s
        # every source character of the span lies inside the mapped range
        assert all(s <= norm.offsets[i] < e for i in range(start, end))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x7F)))
def test_ascii_without_leet_or_space_runs_is_lowercase_identity(text: str) -> None:
    norm = normalize(text)
    # Control characters become spaces (a break between words), like whitespace.
    if not any(ch in "013457@$!" or (ch.isspace() and ch != " ") or ch < " " or ch == "\x7f" for ch in text) \
            and "  " not in text:
        assert norm.text == text.lower()
        assert norm.offsets == tuple(range(len(text) + 1))


def test_expansions_keep_their_offsets() -> None:
    # equal lengths after folding must not be mistaken for identity offsets
    norm = normalize("\ufb01\u200b")
    assert norm.text == "fi"
    assert norm.offsets == (0, 0, 2)
    # NFKC can expand to a space plus a combining mark (U+00B8 cedilla)
    norm = normalize("00000\u00b8")
    assert norm.to_original(0, 6) == (0, 6)


def test_long_text_offsets() -> None:
    text = ("x" * 99 + "\n") * 2000  # longer than the shared offset cache
    norm = normalize(text)
    assert norm.text == ("x" * 99 + " ") * 2000
    assert norm.offsets == tuple(range(len(text) + 1))


# --- issue 14: look-alikes from Unicode's confusables data, every invisible --

LOOKALIKE_CASES = [
    ("\u03f2ocaine", "cocaine"),  # Greek lunate sigma ϲ
    ("\u1d04\u1d0f\u1d04\u1d00\u026a\u0274\u1d07", "cocaine"),  # Latin small capitals ᴄᴏᴄᴀɪɴᴇ
    ("c\u0585caine", "cocaine"),  # Armenian oh օ
    ("cocai\u0578e", "cocaine"),  # Armenian vo ո
    ("\u13dfoc\u13aaine", "cocaine"),  # Cherokee Ꮯ and Ꭺ
    ("cocai\u043fe", "cocaine"),  # Cyrillic pe п
    ("c\u2c9fcaine", "cocaine"),  # Coptic o ⲟ
    ("\u0399NDEX \u0406NDEX", "index index"),  # Greek and Cyrillic capital I read as i, not l
    ("\u039d\u03bd", "nv"),  # Greek capital nu looks like N, small nu like v
    ("\ua4d0\ua4ee\ua4e2\ua4f0", "base"),  # Lisu ꓐꓮꓢꓰ
]


@pytest.mark.parametrize(("text", "expected"), LOOKALIKE_CASES)
def test_lookalikes_from_the_confusables_data(text: str, expected: str) -> None:
    norm = normalize(text)
    assert norm.text == expected
    _check_offsets(text, norm)


def test_scripts_without_spaces_keep_their_characters() -> None:
    # CJK and Myanmar characters that UTS #39 links to a Latin letter are words
    # of their own, not disguises.
    text = "\u4e28\u3007\u1040\u101d"
    assert normalize(text).text == text.casefold()


def _default_ignorables() -> list[str]:
    everything = "".join(chr(cp) for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF)
    return regex.findall(r"\p{Default_Ignorable_Code_Point}", everything)


def test_every_default_ignorable_code_point_is_removed() -> None:
    ignorables = _default_ignorables()
    assert "\u3164" in ignorables and "\u115f" in ignorables and "\ufe0f" in ignorables
    assert len(ignorables) > 4000  # the tag and variation-selector planes included
    kept = [f"U+{ord(ch):04X}" for ch in ignorables if normalize(f"co{ch}caine").text != "cocaine"]
    assert kept == []


def test_hangul_filler_between_letters() -> None:
    text = "c\u3164o\u3164c\u3164a\u3164i\u3164n\u3164e"
    norm = normalize(text)
    assert norm.text == "cocaine"
    assert norm.to_original(0, 7) == (0, len(text))


def test_the_lookalike_table_is_what_the_data_gives_without_network() -> None:
    # Reloading reads the package's JSON again, under the detector tests'
    # network block: the data ships with the package.
    import importlib

    from confusable_homoglyphs import confusables, utils

    from guardrails.detectors import lookalikes

    importlib.reload(utils)
    importlib.reload(confusables)
    built = lookalikes.build_table()
    assert {ord(k): v for k, v in built.items()} == lookalikes.LOOKALIKES, (
        "guardrails/detectors/lookalikes.json is stale: regenerate it with lookalikes.write_table()"
    )
    assert all(len(v) == 1 and v.isascii() and v.islower() for v in built.values())
    blind = lookalikes.build_blind_table()
    assert {ord(k): v for k, v in blind.items()} == lookalikes.BLIND, (
        "guardrails/detectors/lookalikes.json is stale: regenerate it with lookalikes.write_table()"
    )
    assert {"\u0e50", "\u0b66", "\U000118e9"} <= set(blind)  # Thai and Oriya zero, Warang Citi nine
    # every entry of the short supplement is one the data really leaves out
    data = confusables.confusables_data
    for char in lookalikes.EXTRA:
        linked = {e["c"] for e in data.get(char, [])}
        assert not any(c.isascii() and c.isalpha() for c in linked), char


# ---- the blind reading, for term matching ------------------------------------


@pytest.mark.parametrize(("text", "blind"), [
    ("1N73RN41", "internai"),  # "1" is i and l at once: both read "i"
    ("\u0399\u03b1ws\u03c5\u03b9t", "iawsuit"),  # Greek capital iota for l
    ("d149n0515", "diagnosis"),  # 9 for g inside a word
    ("D157R18U73", "distribute"),  # 8 for b
    ("23r0", "zero"),  # 2 for z
    ("d!@gn0$!$", "diagnosis"),  # "!" and "$" at a word's end
    ("h264 2nd 2024 b-52", "h264 2nd 2024 b-52"),  # next to a digit, ordinals, numbers, no letter touched
    ("hello", "heiio"),
])
def test_blind_text(text: str, blind: str) -> None:
    assert blind_text(normalize(text).text) == blind


@given(st.text(alphabet="abil1I2389!$@| -\u0399\u04c0\u200b", max_size=60), st.integers(1, 8))
def test_the_blind_pieces_are_the_blind_reading_with_their_offsets(text: str, reach: int) -> None:
    norm = normalize(text)
    blind = blind_text(norm.text)
    assert len(blind) == len(norm.text) and "l" not in blind
    for view in blind_views(text, norm, reach):
        assert len(view.offsets) == len(view.text) + 1
        at = norm.offsets.index(view.offsets[0]) if view.text else 0
        assert blind[at : at + len(view.text)] == view.text
        assert view.offsets == norm.offsets[at : at + len(view.text) + 1]


def test_the_blind_reading_is_read_only_around_a_telling_character() -> None:
    text = "Order 2024-118842 shipped; call me at 10, or at 11! Stop!"
    assert blind_views(text, normalize(text), 40) == []
    text = "x " * 100 + "the s4lary rise " + "y " * 100
    (view,) = blind_views(text, normalize(text), 6)
    assert "saiary" in view.text and len(view.text) < 40
    assert "the s4lary" in text[view.offsets[0] : view.offsets[-1]]


# --- the fast paths of steps 2 and 3 against the class scans they replace -------------

_NORM = __import__("importlib").import_module("guardrails.detectors.normalize")
# Characters that wake the fast paths and their slow ones: leet characters, digits,
# letters, every ASCII whitespace and control character, a few non-ASCII spaces,
# controls and letters, and a private-use character (not printable, in no class).
_STEP_CHARS = "013457@$!29aZk .,\n\t\r\x0b\x0c\x1c\x1f\x01\x1b\x7f\x85\xa0\u2028\u3000\u200aé中\ue000"


def _reference_normalize(text: str) -> NormalizedText:
    """normalize() as it was before its fast paths: leet runs found by the class
    regex, and the whitespace class scan run over every text that is not
    printable ASCII."""
    folded, offsets = _NORM._fold(text)
    parts, pos = [], 0
    for m in _NORM._LEET_RUN.finditer(folded):
        replacement = _NORM._leet_replacement(folded, *m.span())
        if replacement is not None:
            parts += [folded[pos : m.start()], replacement]
            pos = m.end()
    folded = "".join(parts) + folded[pos:]
    folded = _NORM._WS_CLASS.sub(" ", _NORM._LONE_NUL.sub(" ", folded))
    offsets = list(offsets) + [len(text)]
    keep = [i for i in range(len(folded)) if not (folded[i] == " " and i > 0 and folded[i - 1] == " ")]
    return NormalizedText("".join(folded[i] for i in keep), tuple(offsets[i] for i in keep) + (len(text),))


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(_STEP_CHARS), max_size=60) | st.text(max_size=60))
def test_the_fast_paths_equal_the_class_scans(text: str) -> None:
    assert _NORM._leet_runs(text) == [m.span() for m in _NORM._LEET_RUN.finditer(text)]
    assert normalize(text) == _reference_normalize(text)


def test_every_character_the_space_class_replaces_is_unprintable() -> None:
    # what lets normalize() skip the scan of a printable text
    assert [c for c in range(0x110000) if _NORM._WS_CLASS.match(chr(c)) and chr(c).isprintable()] == []


def test_the_fast_paths_on_long_and_dense_text() -> None:
    for text in ("4" * 5000, "a1" * 3000, ("line 42\n\tcol 7\r\n" * 400), "h3ll0 w0rld! 2024 $5 " * 300 + "7", "é 1n\n" * 500):
        assert _NORM._leet_runs(text) == [m.span() for m in _NORM._LEET_RUN.finditer(text)]
        assert normalize(text) == _reference_normalize(text)
