"""Detectors on 10 KB of clean text, against the plain standard-library way.

These were wall-clock asserts in the unit tests (normalize under 5 ms, the
secret scan under 2 ms, 1,000 terms under 50 ms per 10 KB); timings belong
here, where a noisy machine costs a figure, not a failed build. Each row
alternates our call and its peer call by call on the same texts, in an
order drawn at random for each text:

* ``normalize`` (NFKC, case, confusables, separators, with an offset map)
  against ``unicodedata.normalize("NFKC", text).casefold()``, on prose and
  on text where a quarter of the words are in other scripts or disguised;
* the secret scanner against one ``re`` search for an AWS key id;
* 1,000 terms (one trie-shaped regex) against ``any(t in text for t in terms)``
  over the lower-cased text.
"""

from __future__ import annotations

import random
import re
import string
import unicodedata

from ..data import prose
from ..harness import Context, SectionResult, measure, section

#: Words a quarter of the mixed text is made of: accents, Cyrillic, Greek,
#: CJK, emoji, compatibility forms, invisibles and look-alikes.
MIXED = ("café", "naïve", "Straße", "привет", "спасибо", "καλημέρα", "日本語", "中文文本", "😀", "👍🏽",
         "ﬁle", "ｆｕｌｌ", "d\u200biagnosis", "co\u3164caine", "ᴄᴏᴄᴀɪɴᴇ", "ϲode", "օk", "Zürich", "İstanbul")


def _mixed(rnd: random.Random, size: int) -> str:
    words = prose(rnd, size).split(" ")
    return " ".join(rnd.choice(MIXED) if rnd.random() < 0.25 else w for w in words)[:size]


#: The old unit-test bounds, kept as the figures to watch (seconds per 10 KB).
BUDGETS = {"normalize": 0.005, "secrets": 0.002, "terms": 0.05}


@section("detectors", "Detectors on 10 KB of clean text vs the standard library")
def run(ctx: Context, res: SectionResult) -> None:
    from guardrails.detectors import SecretScanner, TermMatcher, normalize

    rnd = random.Random(ctx.seed)
    reps = ctx.pick(2, 5, 5)
    n = ctx.pick(3, 20, 60)
    texts = [[prose(rnd, 10_000) for _ in range(n)] for _ in range(reps)]

    def same(rep: int) -> list[list[str]]:
        return [texts[rep], texts[rep]]

    m = measure([normalize, lambda t: unicodedata.normalize("NFKC", t).casefold()], same, reps, rnd)
    res.rows.append(m.row("normalize, 10 KB", "NFKC + casefold", kind="relative",
                          note=f"{m.timing(0).median * 1e6:.0f} µs (watch: {BUDGETS['normalize'] * 1e3:g} ms)"))

    # The per-character path (look-alikes, invisibles, diacritics) only runs
    # on non-ASCII text, which the prose above never has.
    mixed = [[_mixed(rnd, 10_000) for _ in range(n)] for _ in range(reps)]
    m = measure([normalize, lambda t: unicodedata.normalize("NFKC", t).casefold()],
                lambda rep: [mixed[rep], mixed[rep]], reps, rnd)
    res.rows.append(m.row("normalize, 10 KB mixed scripts", "NFKC + casefold", kind="relative",
                          note=f"{m.timing(0).median * 1e6:.0f} µs"))

    scanner = SecretScanner()
    aws = re.compile(r"\bAKIA[0-9A-Z]{16}\b")
    m = measure([scanner.find, aws.search], same, reps, rnd, keep=True)
    res.rows.append(m.row("secret scan, 10 KB clean", "one re search (AWS key id)", kind="relative",
                          note=f"{m.timing(0).median * 1e6:.0f} µs (watch: {BUDGETS['secrets'] * 1e3:g} ms)"))
    res.check("no secret found in clean prose", not any(m.results_of(0)))

    terms = sorted({"".join(rnd.choices(string.ascii_lowercase, k=rnd.randint(4, 12))) for _ in range(1000)})
    matcher = TermMatcher(terms)

    def soup() -> str:
        return " ".join("".join(rnd.choices(string.ascii_lowercase, k=rnd.randint(2, 9))) for _ in range(2000))[:10_000]

    soups = [[soup() for _ in range(ctx.pick(2, 5, 12))] for _ in range(reps)]
    m = measure([matcher.find, lambda t: any(term in t.lower() for term in terms)],
                lambda rep: [soups[rep], soups[rep]], reps, rnd)
    res.rows.append(m.row("1,000 terms, 10 KB", "substring test per term", kind="relative",
                          note=f"{m.timing(0).median * 1e3:.1f} ms (watch: {BUDGETS['terms'] * 1e3:g} ms)"))
    res.notes.append("calls alternate with their peer text by text, in an order drawn at random for each text; "
                     "the 'watch' figures are the bounds the unit tests used to assert")
