"""Detectors on 10 KB of clean text, against the plain standard-library way.

These were wall-clock asserts in the unit tests (normalize under 5 ms, the
secret scan under 2 ms, 1,000 terms under 50 ms per 10 KB); timings belong
here, where a noisy machine costs a figure, not a failed build. Each row
alternates our call and its peer call by call on the same text:

* ``normalize`` (NFKC, case, confusables, separators, with an offset map)
  against ``unicodedata.normalize("NFKC", text).casefold()``;
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
from ..harness import Context, Row, SectionResult, section, time_alternating

#: The old unit-test bounds, kept as the figures to watch (seconds per 10 KB).
BUDGETS = {"normalize": 0.005, "secrets": 0.002, "terms": 0.05}


@section("detectors", "Detectors on 10 KB of clean text vs the standard library")
def run(ctx: Context, res: SectionResult) -> None:
    from guardrails.detectors import SecretScanner, TermMatcher, normalize

    rnd = random.Random(ctx.seed)
    text = prose(rnd, 10_000)
    n = ctx.pick(5, 100, 300)

    ours, peer = time_alternating(normalize, lambda t: unicodedata.normalize("NFKC", t).casefold(), [text] * n)
    res.rows.append(Row("normalize, 10 KB", ours, "NFKC + casefold", peer, kind="relative",
                        note=f"{ours.median * 1e6:.0f} µs (watch: {BUDGETS['normalize'] * 1e3:g} ms)"))

    scanner = SecretScanner()
    aws = re.compile(r"\bAKIA[0-9A-Z]{16}\b")
    ours, peer = time_alternating(scanner.find, aws.search, [text] * n)
    res.rows.append(Row("secret scan, 10 KB clean", ours, "one re search (AWS key id)", peer, kind="relative",
                        note=f"{ours.median * 1e6:.0f} µs (watch: {BUDGETS['secrets'] * 1e3:g} ms)"))
    res.check("no secret found in clean prose", scanner.find(text) == [])

    terms = sorted({"".join(rnd.choices(string.ascii_lowercase, k=rnd.randint(4, 12))) for _ in range(1000)})
    matcher = TermMatcher(terms)
    words = " ".join("".join(rnd.choices(string.ascii_lowercase, k=rnd.randint(2, 9))) for _ in range(2000))
    soup = words[:10_000]
    ours, peer = time_alternating(matcher.find, lambda t: any(term in t.lower() for term in terms),
                                  [soup] * ctx.pick(3, 20, 60))
    res.rows.append(Row("1,000 terms, 10 KB", ours, "substring test per term", peer, kind="relative",
                        note=f"{ours.median * 1e3:.1f} ms (watch: {BUDGETS['terms'] * 1e3:g} ms)"))
    res.notes.append("calls alternate with their peer call by call on the same text; the 'watch' figures "
                     "are the bounds the unit tests used to assert")
