"""Polarity: does the passage closest to a claim say the opposite?

A contradiction is flagged only on positive evidence, against a passage
clearly about the same claim: it holds most of the claim's words, or the
claim holds nearly all of a short passage's and the passage names the
claim's subject. Against the passages that share most words with the claim
and hold its predicate (the first content word after its first auxiliary,
in the main clause: "If you can't use your pass, you can transfer it" is
about transferring), preferring those that also hold its subject:

- the predicate is denied on one side only ("is covered" / "is not
  covered", "allowed" / "prohibited");
- a thing the claim speaks of is under a phrase negation on one side and
  under no negation on the other ("without an exit fee", "outside the
  morning peak", "free" against a price);
- for a claim without an auxiliary ("Unused data rolls over"), the clause is
  denied on one side only, against a passage that denies nothing else.

Every passage as close as the closest must disagree: one that agrees is
support. The subject is not compared, and a negated bound ("No student can
take more than six") is left to the number check.

How strong a finding is, by what this module knows of it: the passage
denies the claim's own predicate (:func:`denies_predicate`), restates the
claim denied (:func:`denies_restated`), the claim denies what the passage
asserts of its object (:func:`asserts_denied`), or both are plain
statements (:func:`plain_flip`, round 7).

Why one module: the finding and the tests of its strength read the same
predicate, subject, clauses and scope of a negation (:func:`_predicate`,
:func:`_governed`, the clause breaks); split apart, each half would import
the other's internals.
"""

from __future__ import annotations

import re
from itertools import pairwise

from guardrails.detectors.grounding.passages import Passage, value_key
from guardrails.detectors.grounding.terms import cycle_values
from guardrails.detectors.grounding.words import (
    FEE,
    NEGATION_WORDS,
    clause_words,
    content_stems,
    polarity,
    stem,
)

_AUX = re.compile(r"\b(?:is|are|was|were|be|been|can|may|must|will|shall|should|has|have|had|does|do|did|"
                  r"cannot|can't|isn't|aren't|won't|doesn't|don't)\b", re.IGNORECASE)
_AUX_CS = re.compile(_AUX.pattern)  # on lower-cased text: several times faster than IGNORECASE
_NEGATED_BOUND = re.compile(r"\b(?:no|not|never|cannot|\w+n't)\b[^,;]*\b(?:(?:more|longer|later|less|fewer|earlier|"
                            r"shorter)\s+than|exceed\w*|(?:below|under|over|above)(?=\s+[$£€\d]))", re.IGNORECASE)
# A negation with nothing after it in its clause denies what the clause before
# said ("Donations can be deducted, but gifts to individuals cannot"): the
# words it denies are not after it, and the passage is not compared.
_ELLIPSIS = re.compile(r"\b(?:cannot|can't|isn't|aren't|won't|don't|doesn't|mustn't|shouldn't|wasn't|weren't|"
                       r"didn't|haven't|hasn't|not)\s*(?:[.;,!?]|$)", re.IGNORECASE)
# "does not need to be approved": the predicate is "approved".
_MODAL_LIKE = re.compile(r"\b(?:need|needs|able|going|want|wants|required|supposed|allowed)\s+to\b", re.IGNORECASE)
_CONDITION = re.compile(r"\W*(?:if|when|whenever|once|unless|even\sif|as\slong\sas)\b[^,;]{1,80},\s*", re.IGNORECASE)
_PAY = frozenset(stem(w) for w in ("pay", "paid", "charge", "cost", "fee"))
#: The share of a claim's content words the passage compared for polarity must hold.
POLARITY_OVERLAP = 2 / 3
#: Or the share of the passage's content words the claim must hold (with its subject).
PASSAGE_OVERLAP = 0.75


def _most_shared(passages, overlap: dict[Passage, int], extra: str | None, quantities=()) -> list[Passage]:
    """The passages sharing most words with the claim (`overlap`, plus one
    for `extra` when a passage holds it; its quantities break ties), in
    source order."""
    values = frozenset(value_key(q) for q in quantities if not q.is_date)
    best: list[Passage] = []
    best_w = 0.0
    for p in passages:
        n = overlap.get(p, 0) + (extra is not None and extra in p.stems)
        if not n:
            continue
        w = n + (0.5 * len(values & p.values) if values and p.values else 0)
        if w > best_w:
            best, best_w = [p], w
        elif w == best_w:
            best.append(p)
    return best


def _in_the_claim_s_order(closest: list[Passage], bare: str) -> list[Passage]:
    """Of passages sharing as many words with the claim, those holding two
    of its content words next to each other, in either order ("groom cats"
    of "they groom cats as well as dogs": "We do not groom cats", not "Dogs
    that bite ... we may stop a groom"); all of them when none does."""
    mine = content_stems(bare)
    pairs = {frozenset(pair) for pair in pairwise(mine) if pair[0] != pair[1]}
    if not pairs:
        return closest
    kept = []
    for p in closest:
        theirs = content_stems(p.text)
        if any(frozenset(pair) in pairs for pair in pairwise(theirs)):
            kept.append(p)
    return kept or closest


def _flips(p: Passage, cstems, pred, subject, c_clause, c_phrase, c_mixed, c_clause_mixed) -> bool:
    """Whether passage `p` says the opposite of the claim (step 4)."""
    shared = cstems & p.stems
    if pred in _PAY and (pred in c_clause or pred in c_phrase) and FEE in (p.negated | p.mixed):
        return False  # "you won't pay for installation" / "Installation is free": one fact
    ellipsis = _ELLIPSIS.search(p.text)
    if ellipsis is not None:
        # "Donations can be deducted, but gifts to individuals cannot": the negation denies the
        # predicate before it, of the subject of its own clause. Compared only for a claim whose
        # predicate the passage holds and whose subject is that clause's.
        at = max(p.text.rfind(",", 0, ellipsis.start()), p.text.rfind(";", 0, ellipsis.start())) + 1
        denied_of = set(content_stems(p.text[at:ellipsis.start()]))
        if pred is None or pred not in p.stems or not subject or not subject & denied_of:
            return False
        return not (pred in c_clause or pred in c_phrase)
    if pred is not None and pred in p.clause_mixed and not _named_before_verb(p.text, pred):
        # a predicate one clause of the passage denies and another asserts ("You can pause deliveries ...;
        # there is no charge for pausing"): the clauses whose predicate it is say which
        flipped = _clause_flips(p.text, pred, pred in c_clause or pred in c_phrase)
    elif pred is not None and pred in p.stems and not _named_before_verb(p.text, pred):
        # a predicate a passage both denies and asserts ("at no cost to you" beside a price) is not compared
        flipped = (pred in c_clause or pred in c_phrase) != (pred in p.negated) and pred not in p.mixed
    else:  # the predicate put another way: the clause's polarity, on what is said of the subject
        rest = shared - subject
        # (a stem one clause denies and another asserts cannot be told apart here: not compared)
        # A claim that denies, against a passage that denies something else ("No glasses in the photo"
        # / "Glasses must not be worn"), is two ways of saying one thing: flagged only against a passage
        # that denies nothing. A phrase negation on one side meets a clause negation on the other
        # ("is free" / "There is no charge"), either way round.
        c_neg_clause = (c_clause - c_clause_mixed) & rest
        p_neg_clause = (p.clause_negated - p.clause_mixed) & rest
        if p_neg_clause:
            # a clause of the passage clearly about the claim on its own is what is compared ("Patients do
            # not need a referral ..., but those claiming through private health insurance should check")
            about = _clause_about(p.text, cstems)
            if len(about & cstems) >= POLARITY_OVERLAP * len(cstems):
                p_neg_clause &= about
        c_neg = bool(c_neg_clause) or bool(p_neg_clause and c_phrase & rest)
        p_neg = bool(p_neg_clause) or bool(c_neg_clause and p.phrase_negated & rest)
        flipped = bool(rest) and c_neg != p_neg and (p_neg or not p.clause_negated)
    # A thing under a phrase negation on one side and under no negation on the other ("without an exit
    # fee" / "an exit fee of 2%"); "No glasses" against "without glasses" agree.
    phrased = (c_phrase ^ p.phrase_negated) - (c_clause & p.phrase_negated) - (c_phrase & p.clause_negated)
    return flipped or bool((shared - subject - {pred} - c_mixed - p.mixed) & phrased)


_CLAUSES = re.compile(r"[,;:]\s+|\s+(?:but|while|whereas|though|although|because)\s+", re.IGNORECASE)


def _clause_flips(text: str, pred: str, c_denies_pred: bool) -> bool:
    """Whether the clauses of `text` whose own predicate (:func:`_predicate`)
    is the claim's predicate `pred` all take the other side on it than the
    claim (`c_denies_pred`): "employer contributions are not refunded" of
    "... may request a refund of their own contributions; employer
    contributions are not refunded", not "there is no charge for pausing"
    (a clause about the charge) of "You can pause deliveries ...; there is no
    charge for pausing"."""
    sides = set()
    for piece in _CLAUSES.split(text):
        if _predicate(piece)[0] == pred:
            clause, phrase, _, _ = polarity(piece)
            sides.add(pred in clause or pred in phrase)
    return len(sides) == 1 and c_denies_pred not in sides


def _clause_about(text: str, cstems) -> frozenset[str]:
    """The content stems of the clause of `text` sharing most words with the
    claim (`cstems`); of all its clauses as close as that one."""
    best: set[str] = set()
    best_n = -1
    for piece in _CLAUSES.split(text):
        got = set(content_stems(piece))
        n = len(got & cstems)
        if n > best_n:
            best, best_n = got, n
        elif n == best_n:
            best |= got
    return frozenset(best)


def _named_before_verb(text: str, pred: str) -> bool:
    """Whether `pred` is in the passage only before its first auxiliary, as
    the subject's word ("Cover does not include radiators" holds no
    predicate "covered"): then it says nothing of that predicate."""
    low = text.lower()
    m = (_AUX_CS if len(low) == len(text) else _AUX).search(low)
    return m is not None and pred in content_stems(text[:m.start()]) and pred not in content_stems(text[m.end():])


def _other_days(bare: str, closest) -> bool:
    """Whether the claim names days of the week or months that the closest
    passage's own days or months leave out entirely: it is then about
    another time, and its polarity is not the claim's."""
    if not any(ch.isupper() for ch in bare) and "week" not in bare and "daily" not in bare:
        return False  # no day or month can be named (a cheap test first)
    mine = cycle_values(bare)
    if not mine:
        return False
    for p in closest:
        theirs = cycle_values(p.text)
        for kind in {v[2] for v in mine}:
            a = frozenset().union(*(v[3] for v in mine if v[2] == kind))
            b = [v[3] for v in theirs if v[2] == kind]
            if b and a.isdisjoint(frozenset().union(*b)):
                return True
    return False


def _same_claim(cstems: set[str], p: Passage, subject: frozenset[str]) -> bool:
    """Whether passage `p` is clearly about the claim, so a polarity the two
    disagree on is a contradiction: it holds most of the claim's words
    (POLARITY_OVERLAP), or the claim holds nearly all of a short passage's
    and the passage names the claim's subject ("Linux is not supported" for
    "Linux is supported by the VPN client")."""
    shared = len(cstems & p.stems)
    if shared >= POLARITY_OVERLAP * len(cstems):
        return True
    return shared >= 2 and bool(subject) and subject <= p.stems and shared >= PASSAGE_OVERLAP * len(p.stems)


def _predicate(clause: str) -> tuple[str | None, frozenset[str]]:
    """(the first content word after the clause's first auxiliary verb, the
    content words before it: the subject)."""
    cond = _CONDITION.match(clause)
    if cond is not None:  # "If you can't use your pass, you can transfer it": the claim is the main clause
        clause = clause[cond.end():]
    low = clause.lower()
    m = (_AUX_CS if len(low) == len(clause) else _AUX).search(low)
    if m is None:
        return None, frozenset()
    tail = clause[m.end():]
    rest = content_stems(_MODAL_LIKE.sub(" ", tail) if " to " in tail else tail)
    return (rest[0] if rest else None), frozenset(content_stems(clause[:m.start()]))


# ---- opposed predicates ------------------------------------------------------
#
# Pairs of predicates that say opposite things of one subject, common in
# policies, terms and FAQs, where a source denies with another word than the
# answer's ("must be accompanied by an adult" / "can go in on their own").
# Each side is a set of words and phrases; a negation before one in its
# clause puts it on the other side ("isn't part of it" is "excluded"). Only
# pairs the other polarity tests do not already read as a word and its
# negative (allowed / prohibited, open / closed, available / unavailable,
# refundable / non-refundable, required / optional, free / a fee: words.py)
# are listed.
OPPOSED: tuple[tuple[str, str, str], ...] = (
    ("included", r"includ(?:e|es|ed|ing)|part\s+of|comes?\s+with",
     r"excluded|at\s+(?:an\s+)?extra\s+(?:cost|charge)|costs?\s+extra|charged\s+(?:separately|extra)"),
    ("accompanied", r"accompanied|supervised|with\s+(?:an?\s+)?(?:adult|parent|guardian)",
     r"unaccompanied|unsupervised|on\s+(?:their|your|his|her)\s+own|by\s+(?:themselves|yourself|himself|herself)"),
    ("provided", r"provided|supplied|provides?|supplies|lent|lends?",
     r"(?:bring|buy)\s+(?:your|their|his|her)\s+own"),
    ("minimum", r"minimum|at\s+least|no\s+fewer\s+than|no\s+less\s+than",
     r"maximum|at\s+most|no\s+more\s+than|up\s+to"),
    ("in person", r"in\s+person|face\s+to\s+face|in[\s-]store",
     r"online|by\s+phone|over\s+the\s+phone|by\s+e-?mail|remotely"),
    ("increase", r"increas(?:e|es|ed|ing)|rais(?:e|es|ed|ing)",
     r"decreas(?:e|es|ed|ing)|reduc(?:e|es|ed|ing)|lower(?:s|ed|ing)?"),
    ("permanent", r"permanent(?:ly)?", r"temporar(?:y|ily)"),
    ("private", r"private(?:ly)?", r"shared|communal"),
)
_OPPOSED_RX = tuple((name, re.compile(rf"\b(?:{a})\b", re.IGNORECASE), re.compile(rf"\b(?:{b})\b", re.IGNORECASE))
                    for name, a, b in OPPOSED)
_ANY_OPPOSED = re.compile("|".join(rf"\b(?:{a}|{b})\b" for _, a, b in OPPOSED), re.IGNORECASE)
_CLAUSE_START = re.compile(r"[,;:.!?]|\b(?:and|but|or|so|while|whereas|though|although|because|which|that)\b",
                           re.IGNORECASE)
# A bound on how long before something: either word of the minimum pair
# says the same ("moved up to 72 hours before", "at least 72 hours before").
_DEADLINE = re.compile(r"[^,;.!?]{0,30}?\b(?:before|beforehand|in\s+advance|prior\s+to|ahead|notice)\b",
                       re.IGNORECASE)
_NEGATION_BEFORE = re.compile(r"\b(?:not|no|never|cannot|without)\b|n[’']t\b", re.IGNORECASE)


# Pairs of adjectives: a negation turns one only right before it ("isn't private"), a negation
# further back denies the clause's verb of a thing it describes (round 5).
_ADJECTIVES = frozenset(["permanent", "private"])


def _sides(text: str) -> dict[str, set[bool]]:
    """For each pair of OPPOSED that `text` speaks of, the sides it takes
    (True: the first), a negation before a word in its clause turning it."""
    if _ANY_OPPOSED.search(text) is None:
        return {}
    out: dict[str, set[bool]] = {}
    for name, a, b in _OPPOSED_RX:
        for side, rx in ((True, a), (False, b)):
            for m in rx.finditer(text):
                if name == "minimum" and _DEADLINE.match(text, m.end()) is not None:
                    continue  # "up to 72 hours before" is "at least 72 hours before": a deadline
                start = max((c.end() for c in _CLAUSE_START.finditer(text, 0, m.start())), default=0)
                if name in _ADJECTIVES:  # "not private": only a negation of the word itself, not of the verb
                    start = max(start, m.start() - 12)  # ("do not accept jobs from private businesses")
                negated = _NEGATION_BEFORE.search(text, start, m.start()) is not None
                out.setdefault(name, set()).add(side != negated)
    return out


def _opposed(bare: str, cstems: set[str], sharing, subject: frozenset[str]) -> Passage | None:
    """A passage about the claim's subject that takes the other side of an
    OPPOSED pair than the claim does, where no passage about it takes the
    claim's side: "Players under 14 can go into the room on their own" /
    "Players under 14 must be accompanied by an adult"."""
    mine = _sides(bare)
    if not mine:
        return None
    words = set()
    for m in _ANY_OPPOSED.finditer(bare):
        words.update(content_stems(m.group()))
    core = cstems - words
    if len(core) < 2:
        return None
    found = None
    for p in sharing:
        if subject and not subject <= p.stems:
            continue
        if len(core & p.stems) < max(2, POLARITY_OVERLAP * len(core)):
            continue
        theirs = _sides(p.text)
        for name, sides in mine.items():
            if len(sides) != 1 or name not in theirs:
                continue
            if theirs[name] & sides:
                return None  # a passage about it agrees
            if found is None:
                found = p
    return found


# A finite verb after a negation starts another predicate, which the negation
# does not govern ("If you cannot repay at 6 months you may renew the loan").
_FINITE = frozenset(["can", "could", "may", "might", "must", "will", "would", "shall", "should", "is", "are",
                     "was", "were"])
_CUES = NEGATION_WORDS - {"free"}


def denies_predicate(bare: str, p: Passage) -> bool:
    """Whether passage `p` denies the claim's predicate itself, which the
    claim asserts: the predicate (:func:`_predicate`) is under a negation
    in the passage, in the clause of the negation and with no other verb
    between them, or is a negative word's ("prohibited" for "allowed"),
    and the claim does not deny it. Then the passage speaks of the same
    act and says it does not happen: the flip is not in other words."""
    pred, _ = _predicate(bare)
    if pred is None or pred not in p.negated or pred in p.mixed or pred in p.clause_mixed:
        return False
    c_clause, c_phrase, _, _ = polarity(bare)
    if pred in c_clause or pred in c_phrase:
        return False
    return _governed(p.text, pred)


def denies_restated(bare: str, cstems: set[str], p: Passage) -> bool:
    """Whether passage `p` is the claim restated under a negation, which the
    claim lacks, short of one word: the passage's negation governs at least
    two of the claim's content words (:func:`_governed`: in its clause, no
    finite verb between; not words it also asserts), the
    passage lacks at most one of them, and that one is not the claim's
    predicate (:func:`_predicate`): "We do not groom cats" / "they groom cats
    as well as dogs". A claim whose own predicate the passage lacks may say
    another act of the same things ("You'll have to use Redwood's own
    markers" / "Players may not bring their own markers")."""
    denied = cstems & p.negated - p.mixed - p.clause_mixed
    if len(denied) < 2 or sum(_governed(p.text, s) for s in denied) < 2:
        return False
    lacking = cstems - p.stems
    if len(lacking) > 1:
        return False
    pred, _ = _predicate(bare)
    return pred is None or pred not in lacking


def _governed(text: str, pred: str) -> bool:
    """Whether a negation of `text` governs a word of the stem `pred`: in
    its clause, with no finite verb between them; or, when no word of the
    text has that stem, whether the stem is there at all (a negative
    word's: "prohibited" holds "allowed")."""
    ws, breaks = clause_words(text, text.lower())
    cue, spoken = False, False  # a negation is open in this clause; the predicate's word was seen
    for w, brk in zip(ws, breaks):
        if brk or w in _CLAUSE_BREAKS:
            cue = False
        if w in _CUES or w.endswith("n't"):
            cue = True
            continue
        if w in _FINITE:
            cue = False
            continue
        if pred in content_stems(w):
            spoken = True
            if cue:
                return True
    return not spoken  # only a negative word of the text holds it


def asserts_denied(bare: str, p: Passage) -> bool:
    """Whether passage `p`, which denies nothing, asserts the predicate the
    claim's own negation governs, of the claim's object: the predicate
    (:func:`_predicate`) is under the claim's negation (as
    :func:`denies_predicate` reads it), and a clause of the passage holds
    it, not as its subject's word, together with the word after it in the
    claim (with none, a word of the claim's subject). "Overtime does not
    need to be approved in advance" / "Overtime must be approved in advance
    by a team lead". A denial is general, an assertion specific ("china can
    be hired" says nothing of tableware), so the object is asked for here
    and not of a passage's denial."""
    pred, subject = _predicate(bare)
    if pred is None or pred not in p.stems or pred in p.negated or pred in p.mixed:
        return False
    c_clause, c_phrase, c_mixed, c_clause_mixed = polarity(bare)
    if (pred not in c_clause and pred not in c_phrase) or pred in c_mixed or pred in c_clause_mixed:
        return False
    if _named_before_verb(p.text, pred) or not _governed(bare, pred):
        return False
    seq = content_stems(bare)
    at = seq.index(pred) if pred in seq else len(seq)
    want = {seq[at + 1]} if at + 1 < len(seq) else set(subject)
    if not want:
        return False
    clause: set[str] = set()
    held = False  # the clause being read holds the predicate
    ws, breaks = clause_words(p.text, p.text.lower())
    for w, brk in zip(ws, breaks):
        if brk or w in _CLAUSE_BREAKS:
            if held and want & clause:
                return True
            clause, held = set(), False
        got = content_stems(w)
        clause.update(got)
        held = held or pred in got
    return bool(want & (clause if held else p.stems))


_CLAUSE_BREAKS = frozenset(["and", "but", "or", "while", "whereas", "because", "which", "that", "so", "if",
                            "unless", "when"])


# Round 7: a one-sided negation is hard in a plain statement. A claim stating a duty ("You'll have to use
# Redwood's own markers") restates a prohibition in other words ("Players may not bring their own"), and an
# exception on either side ("except bank holiday Mondays", "rather than the poolside") leaves a part of
# the statement asserted and a part denied.
_DUTY = re.compile(r"\b(?:(?:have|has|had|need|needs)\s+to|must\w*)\b", re.IGNORECASE)
_EXCEPTION = re.compile(r"\b(?:except|unless|rather\s+than|instead|other\s+than|whether|until)\b", re.IGNORECASE)


def plain_flip(bare: str, cstems: set[str], against: Passage, added: bool) -> bool:
    """Whether a polarity finding with the negation on one side only is
    between plain statements: the claim has three content words or more,
    states no duty or need (have to, need to, must), and neither it nor the
    passage makes an exception (except, unless, rather than, instead, other
    than, whether, until). With the passage's negation, it governs a word of
    the claim (:func:`_governed`: in its clause, no finite verb between: "If
    you cannot repay on time you may renew the loan" does not deny
    renewing); the claim's own negation is often a negative word
    ("optional") or a phrase ("without an exit fee") whose predicate the
    passage words positively, and is not asked for that. With the claim's
    negation (`added`), the passage's clauses holding the claim's predicate
    must also hold a word of its subject: "New members pay a joining fee,
    which is waived for juniors" asserts paying of members, not of
    juniors."""
    if len(cstems) < 3 or _DUTY.search(bare) is not None or _EXCEPTION.search(bare) is not None \
            or _EXCEPTION.search(against.text) is not None:
        return False
    if added:
        return _of_subject(bare, against.text)
    denied = cstems & against.negated - against.mixed - against.clause_mixed
    return any(_governed(against.text, s) for s in denied)


def _of_subject(bare: str, text: str) -> bool:
    """Whether a clause of `text` holding the claim's predicate holds a word
    of its subject too, or no clause holds the predicate (or the claim has
    no subject)."""
    pred, subject = _predicate(bare)
    if pred is None or not subject:
        return True
    held = False  # a clause holding the predicate was seen
    clause: set[str] = set()
    ws, breaks = clause_words(text, text.lower())
    for w, brk in (*zip(ws, breaks), ("", True)):
        if brk or w in _CLAUSE_BREAKS:
            if pred in clause:
                if clause & subject:
                    return True
                held = True
            clause = set()
        clause.update(content_stems(w))
    return not held


def contradiction(bare: str, cstems: set[str], sharing, overlap: dict[Passage, int], quantities=()
                  ) -> tuple[Passage | None, bool]:
    """(the passage that says the opposite of the claim `bare`, or None;
    whether a passage clearly about the claim was compared at all). `bare`:
    the claim with its quantities blanked; `cstems` its content stems;
    `sharing` the passages sharing a word with it, `overlap` how many each."""
    pred, subject = _predicate(bare)
    c_clause, c_phrase, c_mixed, c_clause_mixed = polarity(bare)
    if pred is not None and not any(pred in p.stems for p in sharing):
        # "can be transferred" against "are not transferable": the predicate as an -able adjective
        alt = next((a for a in (pred + "abl", pred + "ibl") if any(a in p.stems for p in sharing)), None)
        if alt is not None:
            cstems = cstems - {pred} | {alt}
            c_clause = c_clause | {alt} if pred in c_clause else c_clause
            c_phrase = c_phrase | {alt} if pred in c_phrase else c_phrase
            pred = alt
    # "No student can take more than six" is a bound the number check judges, not a denial.
    bound = _NEGATED_BOUND.search(bare) is not None
    cands = [p for p in sharing if pred in p.stems] if pred is not None else []
    partial = False
    if subject and cands:  # about the same subject: all of it, else some of it, else another passage
        whole = [p for p in cands if subject <= p.stems]
        partial = not whole
        cands = whole or [p for p in cands if subject & p.stems]
    if not cands and subject:  # the predicate put another way: the passages about the subject
        cands = [p for p in sharing if subject <= p.stems]
    extra = FEE if FEE in c_phrase and FEE not in cstems else None  # "free" speaks of a fee (passages.analyse)
    pstems = cstems | {FEE} if extra else cstems
    closest = _most_shared(cands or sharing, overlap, extra, quantities)
    if cands and closest and not _same_claim(pstems, closest[0], subject):
        # the passages holding the predicate are about something else ("you must not fly after your
        # last dive"): the passage clearly about the claim may put its predicate another way
        closest, partial = _most_shared(sharing, overlap, extra, quantities), False
    if not bound:
        other = _opposed(bare, cstems, sharing, subject)
        if other is not None:
            return other, True
    # A contradiction needs every passage as close as the closest to say the
    # opposite: one that agrees is support.
    if not closest or bound or not _same_claim(pstems, closest[0], subject):
        return None, False
    if partial and len(pstems & closest[0].stems - {pred}) < 2:
        # a passage holding the predicate and one word of the subject ("Pets under 40 pounds are allowed,
        # ... per unit" for "Renting out your unit ... isn't allowed") is about something else
        return None, False
    if _other_days(bare, closest):
        return None, True  # "closed on Sundays" / "open Monday to Saturday": two times, one fact each
    if len(closest) > 1:
        closest = _in_the_claim_s_order(closest, bare)
    # A passage bounding a figure by a negation ("with no component below 6.0") is the number check's too.
    if all(_flips(p, pstems, pred, subject, c_clause, c_phrase, c_mixed, c_clause_mixed) for p in closest) \
            and not any(p.quantities and _NEGATED_BOUND.search(p.text) for p in closest):
        return closest[0], True
    return None, True

