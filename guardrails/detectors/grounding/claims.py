"""From an answer to the claims it makes: sentences, then clauses, with
framing skipped and citations and quotes set aside.

A sentence that only frames the answer ("Hi there!", "I hope this helps",
"Let me know if ...") or says the sources are silent ("The documents do not
say ...") makes no claim about the sources and is skipped. A lead-in such
as "According to the documents," is dropped from the claim it introduces.
A sentence joining two statements ("..., and shipping is free") is checked
clause by clause, so two facts from two chunks each find their own support.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A sentence ends at . ! ? (or a line break) followed by space; not inside
# "e.g.", "i.e.", a decimal, or an initial. The candidates are found first
# and the abbreviations tested on them alone: lookbehinds tried at every
# character made this the costliest regex of the check. One character class
# first (then which it was): Python's re skips to a class fast, but tries an
# alternation at every character ([.!?]+...|\n\s*\n? took 3x as long).
_CANDIDATE_END = re.compile(r"[.!?\n](?:(?<=[.!?])[.!?]*[\"”’')\]]*(?=\s|$)|(?<=\n)\s*\n?)")
_ABBREVIATION = re.compile(r"(?:^|\W)(?:e\.g|i\.e|vs|Mr|Dr|Ms|No|[A-Z])$")


def _sentence_ends(text: str):
    """The matches that end a sentence (module comment above)."""
    for m in _CANDIDATE_END.finditer(text):
        s = m.start()
        if text[s] != "\n" and s and text[s - 1] in _ABBREVIATION_LAST \
                and _ABBREVIATION.search(text, max(0, s - 6), s) is not None:
            continue
        if text[s] == "." and text[s - 1] in "mM\n" and _CLOCK_ABBREVIATION.search(text, max(0, s - 4), s) is not None \
                and _GOES_ON.match(text, m.end()) is not None:
            continue  # "from 10 p.m. to 7 a.m.": a time of day, and the sentence goes on
        yield m


# The last character of every _ABBREVIATION ("\n": its "$" matches before a
# final line break): a sentence end after any other is no abbreviation, and
# the regex is not tried; likewise "m" (or "\n") for _CLOCK_ABBREVIATION.
_ABBREVIATION_LAST = frozenset("gesro\nABCDEFGHIJKLMNOPQRSTUVWXYZ")
_CLOCK_ABBREVIATION = re.compile(r"\b[ap]\.m$", re.IGNORECASE)
_GOES_ON = re.compile(r"\s+(?:[a-z]|\d)")

_FRAMING = re.compile(r"""^\W*(?:
      (?:hi|hello|hey|dear|greetings|good\s(?:morning|afternoon|evening))\b[^.!?]{0,40}
    | (?:thanks|thank\syou|many\sthanks)\b[^.!?]{0,60}
    | (?:sure|certainly|of\scourse|absolutely|great|good|excellent)(?:\s(?:question|point))?\W*
    | (?:(?:i'm|i\sam|we're|we\sare)\s)?(?:happy|glad)\sto\s(?:help|go\sthrough|walk\syou\sthrough|explain|assist)\b.*
    | (?:just\s)?(?:give|drop)\s(?:us|me)\sa\s(?:shout|call|ring|bell|line|message|note|text|email)\b.*
    | (?:feel\sfree\sto\s)?(?:get|keep)\sin\stouch\b.*
    | (?:it\s|that\s)?(?:sounds|looks)\s(?:like\s)?(?:an?\s)?
        (?:(?!(?:is|are|was|were|can|will|must|costs?|has|have|does|do)\b)[^\W\d][\w'-]*\s?){0,5}!
    | (?:we\s)?(?:look\sforward\sto|hope\sto\ssee)\s(?:seeing|welcoming|meeting|hearing)?\s?you\b.*
    | see\syou\s(?:soon|there|then|on\s\w+)\b.*
    | (?:have|enjoy)\s(?:a\s|an\s)?(?:great|good|nice|lovely|fun|fantastic|wonderful|brilliant)?\s?(?:time|fun|visit|trip|stay|party|session)\b[^.!?]{0,30}
    | (?:congratulations|congrats)\b[^.!?]{0,60}
    | what\san?\s(?:great|lovely|wonderful|nice|fantastic|brilliant|fun|exciting|thoughtful|perfect|special)
        \s(?:[\w'-]+\s?){1,4}!
    | how\s(?:exciting|lovely|wonderful|nice|fun|great|thoughtful|exciting|special)!
    | (?:i\s)?hope\s(?:this|that|it)\s(?:helps|answers|clears|makes\ssense).*
    | (?:please\s)?(?:let\sme\sknow|feel\sfree|do\snot\shesitate|don't\shesitate)\b.*
    | (?:is\sthere\s)?anything\selse\b.*
    | (?:have\sa\s(?:great|good|nice|lovely)\s(?:day|week|weekend|evening)).*
    | (?:take\scare|all\sthe\sbest|(?:best|warm|warmest|kind|kindest)\s(?:wishes|regards)|regards|sincerely
        |yours\s(?:sincerely|truly)|cheers|good\sluck|safe\stravels|enjoy\syour\s\w+)\b[^.!?]{0,40}
    | if\syou\shave\s(?:any\s)?(?:more|other|further|additional)?\s?questions\b.*
    | (?:please\s)?(?:check|consult|speak|talk|confirm)\s(?:with\s)?(?:a|your|the)\s
        (?:doctor|pharmacist|physician|lawyer|manager|advisor|adviser|professional|specialist|support\steam)\b.*
)\W*$""", re.IGNORECASE | re.VERBOSE)

_ABSTAIN = re.compile(r"""(?:
      \b(?:the\s)?(?:documents?|sources?|docs|context|provided\s(?:information|documents|text)|knowledge\sbase|
        articles?|policy|policies|materials?|passages?|excerpts?|
        (?:information|text|documents?|details?)\s(?:provided|given|available|above|you\sshared))\s
        (?:do\snot|don't|does\snot|doesn't|did\snot|didn't)\s
        (?:say|mention|cover|specify|state|include|contain|address|discuss|explain|tell)\b
    | \b(?:do|does|did)\s?(?:not|n't)\s(?:say|mention|specify|state|discuss|explain|address|tell\sus)\b
    | \bi\s(?:could\snot|couldn't|can't|cannot|did\snot|didn't|was\snot\sable\sto|wasn't\sable\sto)\s
        (?:find|see|locate)\b
    | \bi\s(?:do\snot|don't)\s(?:know|have\s(?:any\s)?information)\b
    | \bthere\s(?:is|was)\sno\s(?:information|mention|detail)\b
    | \bnot\s(?:mentioned|covered|specified|stated)\sin\sthe\s(?:documents?|sources?|context)\b
    | ^\W*(?:neither|nothing)\b.{0,80}\b(?:say|says|mention|mentions|state|states|specify|specifies)\s
        (?:whether|if|how|when|what)\b
)""", re.IGNORECASE | re.VERBOSE)

_LEAD_IN = re.compile(r"""^\W*(?:
      (?:according\sto|based\son|per|as\sper|from)\s(?:the\s|our\s|your\s)?
        (?:documents?|sources?|docs|context|policy|policies|information|guide|article|knowledge\sbase)
        (?:\s(?:provided|given|above|you\sshared))?\s?,\s
    | (?:according\sto|going\sby|based\son|as\sper|per|under)\s(?:the\s|our\s|your\s)?(?:[\w-]+\s){0,3}
        (?:rules|terms|conditions|regulations|guidelines|polic(?:y|ies)|handbook|guide|documentation|website|faq)
        \s?,\s
    | (?:the\s)?(?:documents?|sources?)\s(?:say|state|show|indicate|confirm)s?\s(?:that\s)?
    | (?:according\sto|going\sby|based\son|as\sper|per)\s(?:the|our|your)\s(?-i:(?:[a-z][\w-]*\s){0,2}[a-z][\w-]*)
        \s?,\s
    | the\s(?-i:(?:[a-z][\w-]*\s){0,2})(?:says|states|shows|explains|notes|mentions|confirms)\s(?:that\s)?
    | (?:good|great|bad|quick)\snews\s?[:,!-]\s
    | (?:yes|no|yep|nope|sure|okay|ok),\s
    | (?:i'm\safraid|i\sam\safraid|unfortunately|sadly|(?:i'm|i\sam|we're|we\sare)\ssorry,?\sbut)(?:\s?,)?\s
)""", re.IGNORECASE | re.VERBOSE)

# A clause boundary: ";", or ", and"/", but"/", though"/"and" when a verb follows.
_CLAUSE = re.compile(r";\s+|,\s+(?:and|but|while|whereas|so|though|although)\s+|\s+(?:and|but)\s+(?=(?:[\w'-]+\s+){0,3}"
                     r"(?:is|are|was|were|can|may|must|will|shall|should|has|have|does|do|cannot|can't)\b)",
                     re.IGNORECASE)

_CLAUSE_CS = re.compile(_CLAUSE.pattern)  # on lower-cased text: faster than IGNORECASE

# Right after a word ("Optional[str]", "items[0].id") brackets are code, unless they
# hold only numbers ("30 days[1]").
CITATION = re.compile(r"(?:(?<!\w)|(?=\[\s*\d[\d\s,;]*\]))\[\s*((?:source|doc|document|ref)?\s?[\w.\-]{1,40}(?:\s*[,;]\s*[\w.\-]{1,40})*)\s*\](?!\()",
                      re.IGNORECASE)
QUOTE = re.compile(r"[\"“]([^\"“”]{3,}?)[\"”]")


def without_citations(text: str, repl=" ") -> str:
    """CITATION.sub(repl, text). A text without "[" holds no citation and is
    returned as it is: the regex's lookarounds, tried at every character,
    cost more than a sentence's framing tests."""
    return CITATION.sub(repl, text) if "[" in text else text


@dataclass(frozen=True, slots=True)
class Clause:
    """A stretch of a claim checked on its own: offsets into the answer."""

    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Claim:
    """One sentence that says something about the sources."""

    start: int
    end: int
    text: str
    clauses: tuple[Clause, ...]
    citations: tuple[str, ...]  # the keys inside [..], as written
    quotes: tuple[str, ...]


def sentences(text: str) -> list[tuple[int, int]]:
    """The (start, end) of each sentence, trimmed of surrounding space."""
    out: list[tuple[int, int]] = []
    start = 0
    for m in _sentence_ends(text):
        out.append((start, m.end()))
        start = m.end()
    out.append((start, len(text)))
    trimmed = []
    for s, e in out:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s < e:
            trimmed.append((s, e))
    return trimmed


def complete_until(text: str) -> int:
    """Where the last complete sentence of `text` ends, the space after it
    included (so the next one starts there); 0 when none is complete. A
    sentence end is complete once something follows it: at the very end,
    "costs $12." may still become "costs $12.50"."""
    last = 0
    n = len(text)
    for m in _sentence_ends(text):
        e = m.end()
        if e == n and not m.group().isspace():
            continue
        while e < n and text[e].isspace():
            e += 1
        last = e
    return last


def is_framing(sentence: str) -> bool:
    """A sentence that makes no claim about the sources (module docstring)."""
    bare = without_citations(sentence, "").strip()
    if not _LETTER.search(bare):
        return True
    # An abstention says something is not there: no negation, no abstention
    # (a case-sensitive scan of the lower-cased text, far cheaper than _ABSTAIN's).
    return bool(_FRAMING.match(bare) or (_DENIES.search(bare.lower()) and _ABSTAIN.search(bare)))


_LETTER = re.compile(r"[^\W\d_]")
_DENIES = re.compile(r"n['’]?t\b|\bno|\bcannot\b|\bneither\b")


def extract_claims(answer: str) -> list[Claim]:
    claims: list[Claim] = []
    for s, e in sentences(answer):
        text = answer[s:e]
        if is_framing(text):
            continue
        lead = _LEAD_IN.match(text)
        body_start = s + (lead.end() if lead else 0)
        cites = tuple(m.group(1) for m in CITATION.finditer(text)) if "[" in text else ()
        quotes = tuple(m.group(1) for m in QUOTE.finditer(text)) if '"' in text or "“" in text else ()
        clauses = tuple(_clauses(answer, body_start, e, lead is None))
        if clauses or cites or quotes:
            claims.append(Claim(s, e, text, clauses or (Clause(body_start, e, answer[body_start:e]),), cites, quotes))
    return claims


def _clauses(answer: str, start: int, end: int, whole_checked: bool = False) -> list[Clause]:
    """The clauses of answer[start:end]; `whole_checked`: that span was
    found to be no framing already (a sentence without a lead-in)."""
    out: list[Clause] = []
    body = answer[start:end]
    at = 0
    low = body.lower()
    for m in (_CLAUSE_CS if len(low) == len(body) else _CLAUSE).finditer(low):
        if low[m.start()] not in ",;" and _NOUN_PHRASE.fullmatch(low, at, m.start()) is not None:
            continue  # "Cemetery plot fees and a headstone are included": one subject of two nouns
        if m.start() > at:
            out.append(Clause(start + at, start + m.start(), body[at:m.start()]))
        at = m.end()
    out.append(Clause(start + at, end, body[at:]))
    if len(out) == 1 and whole_checked:
        return out if _TWO_LETTERS.search(out[0].text) else []
    # A clause that only frames ("..., and feel free to ask") makes no claim either.
    return [c for c in out if _TWO_LETTERS.search(c.text) and not is_framing(c.text)]


_TWO_LETTERS = re.compile(r"[^\W\d_]{2}")
# Up to four words, no figure and no auxiliary verb: what comes before "and"
# is then the first half of a subject, not a clause (lower-cased text).
_NOUN_PHRASE = re.compile(r"\W*(?:(?!(?:is|are|was|were|be|can|may|must|will|shall|should|has|have|had|does|do|"
                          r"did|cannot|can't|won't|isn't|aren't)\b)[^\W\d][\w'-]*\W*){1,4}")

