from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guardrails.detectors import Finding, TermMatcher, normalize
from guardrails.detectors.terms import COMMON_WORDS


def spans(matcher: TermMatcher, text: str) -> list[tuple[str, str]]:
    return [(text[f.start : f.end], f.entity) for f in matcher.find(text)]


CASES = [
    (["diagnosis"], "My diagnosis is bad", [("diagnosis", "diagnosis")]),
    (["diagnosis"], "My DIAGNOSIS", [("DIAGNOSIS", "diagnosis")]),
    (["diagnosis"], "d\u200bi\u200ba\u200bgnosis!", [("d\u200bi\u200ba\u200bgnosis", "diagnosis")]),
    (["diagnosis"], "d\u0456\u0430gn\u043es\u0456s", [("d\u0456\u0430gn\u043es\u0456s", "diagnosis")]),
    (["diagnosis"], "d1agn0sis", [("d1agn0sis", "diagnosis")]),
    (["diagnosis"], "\uff44\uff49\uff41\uff47\uff4e\uff4f\uff53\uff49\uff53", [("\uff44\uff49\uff41\uff47\uff4e\uff4f\uff53\uff49\uff53", "diagnosis")]),
    (["diagnosis"], "d i a g n o s i s", [("d i a g n o s i s", "diagnosis")]),
    (["diagnosis"], "d-i-a-g-n-o-s-i-s", [("d-i-a-g-n-o-s-i-s", "diagnosis")]),
    (["diagnosis"], "d.i.a.g.n.o.s.i.s.", [("d.i.a.g.n.o.s.i.s", "diagnosis")]),
    (["diagnosis"], "prediagnosis diagnosises", []),
    (["diagnosis"], "d  i  a  g  n  o  s  i  s", [("d  i  a  g  n  o  s  i  s", "diagnosis")]),
    (["it"], "i t is", []),  # short terms are not matched spaced out
    (["therapist"], "the rapist", []),
    (
        ["Ignore previous instructions"],
        "please IGNORE   previous\n\tinstructions now",
        [("IGNORE   previous\n\tinstructions", "Ignore previous instructions")],
    ),
    (
        ["ignore previous instructions"],
        "ignore\u00a0previous\u200b instructions",
        [("ignore\u00a0previous\u200b instructions", "ignore previous instructions")],
    ),
    (["Diagnosis", "diagnosis"], "diagnosis", [("diagnosis", "Diagnosis")]),
    (
        ["credit", "credit card"],
        "my credit card",
        [("credit", "credit"), ("credit card", "credit card")],
    ),
    (
        ["previous instructions", "ignore previous instructions"],
        "ignore previous instructions",
        [("ignore previous instructions", "ignore previous instructions"), ("previous instructions", "previous instructions")],
    ),
    (["c++"], "I write c++, C++ and c++11", [("c++", "c++"), ("C++", "c++"), ("c++", "c++")]),
    (["\u8bca\u65ad"], "\u6211\u7684\u8bca\u65ad\u662f", [("\u8bca\u65ad", "\u8bca\u65ad")]),
    (["h3ll0"], "say hello", [("hello", "h3ll0")]),
    ([], "anything", []),
]


@pytest.mark.parametrize(("terms", "text", "expected"), CASES)
def test_term_examples(terms: list[str], text: str, expected: list[tuple[str, str]]) -> None:
    assert spans(TermMatcher(terms), text) == expected


def test_findings_are_sorted_with_score_one_and_accept_precomputed_norm() -> None:
    m = TermMatcher(["beta", "alpha", "gamma"])
    text = "gamma beta alpha beta"
    found = m.find(text)
    assert [(f.start, f.end) for f in found] == sorted((f.start, f.end) for f in found)
    assert all(f.score == 1.0 for f in found)
    assert m.find(text, normalize(text)) == found
    assert found[0] == Finding(0, 5, "gamma", 1.0)


def test_invisible_terms_are_ignored_and_strings_rejected() -> None:
    m = TermMatcher(["ok", "\u200b", " \u00ad "])
    assert [f.entity for f in m.find("ok \u200b fine")] == ["ok"]
    assert TermMatcher(["\u200b"]).find("anything \u200b") == []
    with pytest.raises(TypeError):
        TermMatcher("diagnosis")  # type: ignore[arg-type]


# --- property: an inserted term is found whatever the evasion ----------------

HOMOGLYPHS = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441", "x": "\u0445", "y": "\u0443", "i": "\u0456"}
LEET = {"o": "0", "i": "1", "e": "3", "a": "4", "s": "5", "t": "7"}
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
FILLER = st.text(alphabet=string.ascii_letters + "  .,", max_size=40)


@st.composite
def disguised(draw: st.DrawFn) -> tuple[str, str]:
    """A term and an evasive spelling of it."""
    term = draw(st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=12))
    out = []
    for k, ch in enumerate(term):
        choice = draw(st.sampled_from(["plain", "upper", "homoglyph", "leet"]))
        if choice == "homoglyph" and ch in HOMOGLYPHS:
            g = HOMOGLYPHS[ch]
            out.append(g.upper() if draw(st.booleans()) else g)
        elif choice == "leet" and ch in LEET and k > 0:
            # never the first letter: a leet run must touch a real letter
            out.append(LEET[ch])
        elif choice == "upper":
            out.append(ch.upper())
        else:
            out.append(ch)
        if k < len(term) - 1 and draw(st.booleans()):
            out.append(draw(st.sampled_from(ZERO_WIDTH)))
    return term, "".join(out)


@settings(max_examples=300, deadline=None)
@given(disguised(), FILLER, FILLER, st.lists(st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=8), max_size=5))
def test_inserted_disguised_term_is_found(pair: tuple[str, str], before: str, after: str, others: list[str]) -> None:
    term, spelled = pair
    # leet conversion needs a letter next to every digit run; a term made only
    # of leet letters whose first letter was kept always satisfies that
    text = f"{before} {spelled} {after}"
    start = len(before) + 1
    end = start + len(spelled)
    found = TermMatcher([term, *others]).find(text)
    assert Finding(start, end, term, 1.0) in found, (text, found)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=string.ascii_lowercase, min_size=4, max_size=10), st.sampled_from([" ", "-", ".", "_", "*"]), FILLER)
def test_spaced_out_term_is_found(term: str, sep: str, before: str) -> None:
    spelled = sep.join(term)
    text = f"{before} {spelled} end"
    start = len(before) + 1
    found = TermMatcher([term]).find(text)
    assert Finding(start, start + len(spelled), term, 1.0) in found


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=6), st.text(max_size=80))
def test_find_never_crashes_and_spans_are_valid(terms: list[str], text: str) -> None:
    for f in TermMatcher(terms).find(text):
        assert 0 <= f.start < f.end <= len(text)
        assert f.entity in terms


# --- issue 14: every listed evasion is caught ---------------------------------

EVASION_TERMS = ["pipe bomb", "developer mode", "counterfeit money", "cocaine"]

EVASIONS = [
    # multi-word terms joined by any separator or none
    ("how to build a pipe-bomb", "pipe-bomb", "pipe bomb"),
    ("enable developer_mode now", "developer_mode", "developer mode"),
    ("enable developer.mode now", "developer.mode", "developer mode"),
    ("enable DeveloperMode now", "DeveloperMode", "developer mode"),
    ("enable developer--mode", "developer--mode", "developer mode"),
    ("print c-o-u-n-t-e-r-f-e-i-t- -m-o-n-e-y", "c-o-u-n-t-e-r-f-e-i-t- -m-o-n-e-y", "counterfeit money"),
    # two separators between letters
    ("buy c. o. c. a. i. n. e today", "c. o. c. a. i. n. e", "cocaine"),
    ("buy c..o..c..a..i..n..e", "c..o..c..a..i..n..e", "cocaine"),
    # one space (or punctuation character) inside a word
    ("buy coc aine today", "coc aine", "cocaine"),
    ("buy co-caine today", "co-caine", "cocaine"),
    ("print counter feit money", "counter feit money", "counterfeit money"),
    ("print counterfeit mon ey", "counterfeit mon ey", "counterfeit money"),
    # markup inside a word
    ("buy co**caine** today", "co**caine", "cocaine"),
    ("buy co<b></b>caine today", "co<b></b>caine", "cocaine"),
    ("buy <i>co</i>caine today", "co</i>caine", "cocaine"),
    ("buy co~~caine~~ today", "co~~caine", "cocaine"),
    ("buy co<!-- x -->caine today", "co<!-- x -->caine", "cocaine"),
    # look-alikes from Unicode's confusables data
    ("buy \u03f2ocaine", "\u03f2ocaine", "cocaine"),  # Greek lunate sigma
    ("buy \u1d04\u1d0f\u1d04\u1d00\u026a\u0274\u1d07", "\u1d04\u1d0f\u1d04\u1d00\u026a\u0274\u1d07", "cocaine"),  # small capitals
    ("buy c\u0585cai\u0578e", "c\u0585cai\u0578e", "cocaine"),  # Armenian oh, vo
    ("buy \u13dfoc\u13aaine", "\u13dfoc\u13aaine", "cocaine"),  # Cherokee
    ("buy cocai\u043fe", "cocai\u043fe", "cocaine"),  # Cyrillic pe
    ("buy c\u2c9fcaine", "c\u2c9fcaine", "cocaine"),  # Coptic o
    # invisible Hangul filler between letters
    ("buy c\u3164o\u3164c\u3164a\u3164i\u3164n\u3164e", "c\u3164o\u3164c\u3164a\u3164i\u3164n\u3164e", "cocaine"),
    # several at once
    ("buy C\u200b0-ca\u0131ne", "C\u200b0-ca\u0131ne", "cocaine"),
]


@pytest.mark.parametrize(("text", "span", "term"), EVASIONS)
def test_listed_evasions_are_caught(text: str, span: str, term: str) -> None:
    assert (span, term) in spans(TermMatcher(EVASION_TERMS), text)


SCUNTHORPE = [
    # a term inside a longer word
    (["rapist"], "see a therapist"),
    (["sue"], "we pursue the issue"),
    (["cocaine"], "cocaines cocainer precocaine"),
    # two real words that would spell a term if joined or split
    (["heroin"], "the hero in this story"),
    (["therapist"], "the rapist was arrested"),
    (["dosage"], "do sage and thyme go together"),
    (["lawsuit"], "the law suits him"),
    # one-letter words broken by a longer one are no spelled term
    (["bomb"], "rows b, o, m and b"),
    # sentence punctuation between the words of a phrase
    (["pipe bomb"], "we fixed the pipe. Bomb squads were not needed"),
    (["pipe bomb"], "the pipe, bomb-proof and new"),
]


@pytest.mark.parametrize(("terms", "text"), SCUNTHORPE)
def test_benign_near_misses_stay_clean(terms: list[str], text: str) -> None:
    assert spans(TermMatcher(terms), text) == []


def test_a_shorter_term_at_the_same_start_is_reported_in_every_form() -> None:
    m = TermMatcher(["pipe", "pipe bomb", "cocaine", "coc"])
    assert spans(m, "pipe-bomb") == [("pipe", "pipe"), ("pipe-bomb", "pipe bomb")]
    assert ("coc aine", "cocaine") in spans(m, "coc aine")
    assert ("coc", "coc") in spans(m, "coc aine")


def test_underscore_separates_words() -> None:
    m = TermMatcher(["cocaine"])
    assert spans(m, "my_cocaine_stash") == [("cocaine", "cocaine")]


def test_block_markup_between_letters_reads_as_a_space() -> None:
    m = TermMatcher(["cocaine"])
    # "co<br>caine" renders as two lines: one split, still caught
    assert spans(m, "co<br>caine") == [("co<br>caine", "cocaine")]
    # but two words on two lines are not glued into a term
    assert TermMatcher(["heroin"]).find("hero<br>in") == []


# --- properties of the new forms ------------------------------------------------

WORD = st.text(alphabet=string.ascii_lowercase, min_size=5, max_size=10)


@settings(max_examples=200, deadline=None)
@given(WORD, st.data(), FILLER, FILLER)
def test_a_word_split_once_is_found(term: str, data: st.DataObject, before: str, after: str) -> None:
    i = data.draw(st.integers(1, len(term) - 1))
    left, right = term[:i], term[i:]
    if left in COMMON_WORDS or right in COMMON_WORDS:
        return  # read as two words on purpose
    split = left + data.draw(st.sampled_from([" ", "-", ".", "_", "/"])) + right
    text = f"{before} {split} {after}"
    start = len(before) + 1
    assert Finding(start, start + len(split), term, 1.0) in TermMatcher([term]).find(text), text


@settings(max_examples=200, deadline=None)
@given(WORD, st.lists(st.sampled_from([" ", "-", ".", "_", ". ", "- -", " . "]), min_size=9, max_size=9), FILLER)
def test_letters_one_to_three_separators_apart_are_found(term: str, gaps: list[str], before: str) -> None:
    spelled = "".join(ch + (gaps[k] if k < len(term) - 1 else "") for k, ch in enumerate(term))
    text = f"{before} {spelled} end"
    start = len(before) + 1
    assert Finding(start, start + len(spelled), term, 1.0) in TermMatcher([term]).find(text), text


@settings(max_examples=200, deadline=None)
@given(st.lists(WORD, min_size=2, max_size=3), st.sampled_from(["", "-", "_", ".", "--", "::"]), FILLER)
def test_phrase_words_joined_are_found(words: list[str], sep: str, before: str) -> None:
    term = " ".join(words)
    joined = sep.join(words)
    text = f"{before} {joined} end"
    start = len(before) + 1
    assert Finding(start, start + len(joined), term, 1.0) in TermMatcher([term]).find(text), text


@settings(max_examples=200, deadline=None)
@given(WORD, st.data(), st.sampled_from(["**", "<b></b>", "</i>", "~~", "`", "<!-- x -->", "<span class='a'>"]))
def test_markup_inside_a_word_is_ignored(term: str, data: st.DataObject, markup: str) -> None:
    i = data.draw(st.integers(1, len(term) - 1))
    written = term[:i] + markup + term[i:]
    text = f"say {written} now"
    assert Finding(4, 4 + len(written), term, 1.0) in TermMatcher([term]).find(text), text


# Evasions the red-team harness found (docs/redteam.md), each caught.
HARNESS_TERMS = ["rm -rf /", "dd if=/dev/zero", "chmod -R 777 /", "mkfs", "internal only", "performance review",
                 "salary", "do not distribute"]
HARNESS_EVASIONS = [
    # a term with punctuation, spelled by its letters and digits, or split once
    ("run r.m -r.f / now", "r.m -r.f", "rm -rf /"),
    ("run d-d i-f=/d-e-v/z-e-r-o", "d-d i-f=/d-e-v/z-e-r-o", "dd if=/dev/zero"),
    ("c/h/m/o/d -R 7/7/7 / please", "c/h/m/o/d -R 7/7/7", "chmod -R 777 /"),
    ("try chm od -R 777 /", "chm od -R 777 /", "chmod -R 777 /"),
    # "*" and "~" between one-letter words separate them
    ("then m*k f s", "m*k f s", "mkfs"),
    ("a s*a.l~~a+r++y rise", "s*a.l~~a+r++y", "salary"),
    # markup at a word's edge inside a phrase
    ("try chmo**d** -R 777 /", "chmo**d** -R 777 /", "chmod -R 777 /"),
    ("INTERNAL <b>ONL</b>Y", "INTERNAL <b>ONL</b>Y", "internal only"),
    # one punctuation character between spaces joins a phrase's words
    ("my performance - review", "performance - review", "performance review"),
    # Cherokee capitals that casefolding keeps capitals
    ("run \uabaf\u13c2mo\u13e7 -R 777 /", "\uabaf\u13c2mo\u13e7 -R 777 /", "chmod -R 777 /"),
]


@pytest.mark.parametrize(("text", "span", "term"), HARNESS_EVASIONS)
def test_evasions_the_harness_found_are_caught(text: str, span: str, term: str) -> None:
    assert (span, term) in spans(TermMatcher(HARNESS_TERMS), text)


@pytest.mark.parametrize(("terms", "text"), [
    (["performance review"], "performance\n\x00\nreview"),  # never across a tool call's argument separator
    (["rm -rf /"], "the rows r, m, r and f"),  # one-letter words more than three separators apart
    (["internal only"], "internal, only"),
    (["rm -rf /"], "Clear the cache with rm -rf /tmp/app-cache and restart."),  # a longer path
    (["chmod -R 777 /"], "chmod -R 777 /srv/www"),
])
def test_the_new_forms_stay_clean(terms: list[str], text: str) -> None:
    assert spans(TermMatcher(terms), text) == []


@pytest.mark.parametrize("text", ["rm -rf /", "sudo rm -rf /*", "rm -rf / --no-preserve-root", "run rm -rf /."])
def test_a_term_ending_in_a_path_separator_still_matches_the_path_itself(text: str) -> None:
    assert [f.entity for f in TermMatcher(["rm -rf /"]).find(text)] == ["rm -rf /"]


# The blind reading (normalize.blind_views): capitals drawn like "l" that fold
# to "i", and the wider leetspeak (1 for l, 8 9 2 for b g z), as the harness
# wrote them (docs/redteam.md).
BLIND_TERMS = ["lawsuit", "legal advice", "salary", "disciplinary", "internal only", "confidential",
               "do not distribute", "diagnosis", "dosage", "dd if=/dev/zero"]
BLIND_EVASIONS = [
    ("I read something about \u0399\u03b1ws\u03c5\u03b9t today", "\u0399\u03b1ws\u03c5\u03b9t", "lawsuit"),  # Greek
    ("\u0455\u0430\u04c0\u0430\u0433\u04af - that is all", "\u0455\u0430\u04c0\u0430\u0433\u04af", "salary"),  # Cyrillic
    ("the \u2c92egal advice", "\u2c92egal advice", "legal advice"),  # Coptic capital for l
    ("\u0501\u04cf\u0455\u0441\u04cf\u0440\u04c0\u04cfn\u0430\u0433\u04af", "\u0501\u04cf\u0455\u0441\u04cf\u0440\u04c0\u04cfn\u0430\u0433\u04af",
     "disciplinary"),  # one script's "I" for both i and l
    ("regarding 1N73RN41 0N1Y before", "1N73RN41 0N1Y", "internal only"),
    ("mentions C0NF1D3N7141 twice", "C0NF1D3N7141", "confidential"),
    ("wrote D0 N07 D157R18U73 here", "D0 N07 D157R18U73", "do not distribute"),
    ("about d149n0515 and", "d149n0515", "diagnosis"),
    ("about d05493 as", "d05493", "dosage"),
    ("said: 5414ry.", "5414ry", "salary"),
    ("dd 1f=/d3v/23r0 - that", "dd 1f=/d3v/23r0", "dd if=/dev/zero"),
    ("about d!@gn0$!$ as", "d!@gn0$!$", "diagnosis"),  # a "!" and "$" at the end of the word
    # digits and spacing marks of other scripts that the confusables data pairs with a letter
    ("know about DO N\u0b66T DISTRIBUTE as", "DO N\u0b66T DISTRIBUTE", "do not distribute"),  # Oriya zero
    ("a diagn\u0e50sis", "diagn\u0e50sis", "diagnosis"),  # Thai zero
    ("\U000118e9onfidential", "\U000118e9onfidential", "confidential"),  # Warang Citi nine
    ("the \u0501\u0d02sage", "\u0501\u0d02sage", "dosage"),  # Malayalam anusvara, with a Cyrillic d
]


@pytest.mark.parametrize(("text", "span", "term"), BLIND_EVASIONS)
def test_l_capitals_and_the_wider_leetspeak_are_caught(text: str, span: str, term: str) -> None:
    assert (span, term) in spans(TermMatcher(BLIND_TERMS), text)


@pytest.mark.parametrize("text", [
    "the iawsuit and the saiary",  # plain letters: only an evasion character lets the blind reading count
    "h264 video, the 2nd row, 2024 sales, covid19 figures",  # numbers stay numbers
    "Take 5413 dosage units",  # a word of digits alone is never read as letters (5413 is no "sale")
    "The law suit is pressed; the dos age was wrong",  # splits into common words, as before
])
def test_the_blind_reading_stays_clean(text: str) -> None:
    found = spans(TermMatcher(["lawsuit", "salary", "sale", "diagnosis"]), text)
    assert found == [], found


def test_the_blind_reading_can_be_turned_off() -> None:
    assert spans(TermMatcher(["lawsuit"], blind=False), "\u0399\u03b1ws\u03c5\u03b9t") == []
