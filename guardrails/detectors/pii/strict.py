"""The opt-in strict PII mode: Presidio's findings with its known misses fixed.

The default mode gives exactly Presidio's spans (tests/test_pii_identity.py).
A policy that sets ``pii_mode = "strict"`` gets those findings, adjusted here
after the analyzer has run, for the entities it asked for:

- ``CREDIT_CARD``: Mastercard's 2-series (BIN 2221-2720), which Presidio's
  card pattern does not admit, found when 16 digits pass the Luhn check;
- ``URL``: Presidio's pattern lists top-level domains as alternatives and
  stops at the first that fits, so ``shop.biz`` is cut to ``shop.bi`` and
  ``acme.museum`` to ``acme.mu``. A URL cut inside a word is extended to the
  whole host (and path), and kept only if the public suffix list bundled
  with tldextract knows its suffix; ``harbor.bizarre`` is then no URL, nor
  is a "host" longer than a host name can be (253 characters).
  Addresses with a scheme or ``www.`` whose suffix Presidio does not list
  at all are added. (Presidio's email pattern already takes any suffix and
  checks it against the same list; a URL inside an address is fixed as any
  other.)
- ``CREDIT_CARD`` written with dots (``4946.3960.2402.4623``), which
  Presidio's pattern does not admit either: found when the 16 digits pass
  the Luhn check;
- ``EMAIL_ADDRESS`` with spaces around the ``@`` (``tomasz @ example.net``),
  kept when the bundled public suffix list knows the domain's suffix;
- ``PHONE_NUMBER``: a finding right after an order, invoice, ticket or
  other reference label (``order #382704``, ``INV-1999-9869``,
  ``ref A-06857``), or one that is a calendar date (``05.06.2014``), is
  dropped.

Nothing here reaches the network; the suffix list is the bundled snapshot.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from guardrails.detectors.base import Finding

__all__ = ["MASTERCARD_2_SCORE", "strict_findings"]

#: The score of a 2-series Mastercard or a card written with dots: Presidio
#: gives a Luhn-valid card 1.0.
MASTERCARD_2_SCORE = 1.0

_MC2 = re.compile(r"\b(2[2-7]\d\d)[- ]?(\d{4})[- ]?(\d{4})[- ]?(\d{4})\b")
_DOTTED_CARD = re.compile(r"(?<![\d.])(\d{4})\.(\d{4})\.(\d{4})\.(\d{4})(?![\d]|\.\d)")
# A local part, spaces, "@", spaces, a domain: the spaces are the disguise.
_SPACED_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}[ \t]+@[ \t]+([a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63})+)\b",
                           re.IGNORECASE)

# The rest of a host label, after a URL that was cut, and an optional path.
_HOST_REST = re.compile(r"[a-z0-9\-]*(?:\.[a-z0-9\-]+)*", re.IGNORECASE)
_PATH = re.compile(r"/[^\s()<>\"']*")
# A host name has at most 253 characters; a longer one has no public suffix.
# The bound also keeps each extension's work bounded: a long run of host
# characters with many cut URLs in it was read to its end once per URL.
_MAX_HOST = 253
# How far past a cut URL's start its host is read: the longest host and a
# scheme with a quote before it.
_HOST_READ = _MAX_HOST + 16
# Addresses Presidio's list of suffixes may miss entirely: with a scheme or www.
_URL = re.compile(r"(?<![\w@.\-])(?:https?://|www\d{0,3}\.)[a-z0-9\-]+(?:\.[a-z0-9\-]+)+(?:/[^\s()<>\"']*)?",
                  re.IGNORECASE)
_URL_TAIL = ".,;:!?)"

# A reference label right before a number: "order #", "INV-", "ticket no. ",
# "ref A-", "case: ".
_LABEL = re.compile(
    r"(?i)\b(?:order|invoice|inv|ticket|tkt|ref|reference|case|booking|confirmation|conf|tracking|sku|po|"
    r"receipt|transaction|txn|claim|serial|item|part|model|rma)\b\.?"
    r"(?:\s*(?:no|num|number|nr|id)\b\.?)?\s*[-:#]?\s*(?:[a-z]{1,4}-)?\s*$"
)
_DATE = re.compile(r"(\d{1,2})[./-](\d{1,2})[./-]((?:19|20)\d\d)(?!\d)|((?:19|20)\d\d)-(\d\d)-(\d\d)(?!\d)")


def strict_findings(text: str, entities: frozenset[str], findings: list[Finding],
                    suffix_of: Callable[[str], str]) -> list[Finding]:
    """``findings`` (the default mode's, for ``entities`` in ``text``) with the
    strict mode's fixes. ``suffix_of(host)`` is the host's public suffix, or
    "" when the bundled list does not know it."""
    out = list(findings)
    if "PHONE_NUMBER" in entities:
        out = [f for f in out if f.entity != "PHONE_NUMBER" or not _labelled_or_date(text, f)]
    if "URL" in entities:
        out = _urls(text, out, suffix_of)
    if "CREDIT_CARD" in entities:
        out.extend(_mastercard_2(text, out))
        if "." in text:
            out.extend(Finding(m.start(), m.end(), "CREDIT_CARD", MASTERCARD_2_SCORE)
                       for m in _DOTTED_CARD.finditer(text) if _luhn("".join(m.groups())))
    if "EMAIL_ADDRESS" in entities and ("@ " in text or "@\t" in text):
        out.extend(_spaced_emails(text, out, suffix_of))
    return sorted(set(out), key=lambda f: (f.start, f.end, f.entity, f.score))


def _labelled_or_date(text: str, f: Finding) -> bool:
    if _LABEL.search(text, max(0, f.start - 40), f.start):
        return True
    m = _DATE.match(text, f.start, f.end)
    if m is None:
        return False
    day, month = (int(m[1]), int(m[2])) if m[1] else (int(m[6]), int(m[5]))
    return (1 <= day <= 31 and 1 <= month <= 12) or (1 <= month <= 31 and 1 <= day <= 12)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _mastercard_2(text: str, findings: list[Finding]) -> list[Finding]:
    cards = [(f.start, f.end) for f in findings if f.entity == "CREDIT_CARD"]
    found = []
    for m in _MC2.finditer(text):
        digits = "".join(m.groups())
        if 2221 <= int(m[1]) <= 2720 and _luhn(digits) and (m.start(), m.end()) not in cards:
            found.append(Finding(m.start(), m.end(), "CREDIT_CARD", MASTERCARD_2_SCORE))
    return found


def _spaced_emails(text: str, findings: list[Finding], suffix_of: Callable[[str], str]) -> list[Finding]:
    taken = [(f.start, f.end) for f in findings if f.entity == "EMAIL_ADDRESS"]
    return [Finding(m.start(), m.end(), "EMAIL_ADDRESS", 1.0) for m in _SPACED_EMAIL.finditer(text)
            if suffix_of(m[1].lower()) and not any(a < m.end() and m.start() < b for a, b in taken)]


def _host(url: str) -> str:
    host = url.split("://", 1)[-1]
    return re.split(r"[/?#:]", host, maxsplit=1)[0].rstrip(".").lower()


def _trim(text: str, start: int, end: int) -> int:
    while end > start and text[end - 1] in _URL_TAIL:
        end -= 1
    return end


def _urls(text: str, findings: list[Finding], suffix_of: Callable[[str], str]) -> list[Finding]:
    out: list[Finding] = []
    for f in findings:
        if f.entity != "URL" or f.end >= len(text) or not (text[f.end].isalnum() or text[f.end] == "-"):
            out.append(f)
            continue
        # Cut inside a word: extend to the whole host, then its path.
        limit = min(len(text), f.start + _HOST_READ)
        end = _HOST_REST.match(text, f.end, limit).end()
        if end >= limit - 1 and limit < len(text):
            continue  # a host longer than any host name (the match stopped at the limit, or next to it)
        path = _PATH.match(text, end)
        end = _trim(text, f.start, path.end() if path else end)
        host = _host(text[f.start:end])
        if len(host) <= _MAX_HOST and suffix_of(host):
            out.append(Finding(f.start, end, "URL", f.score))
    urls = [(f.start, f.end) for f in out if f.entity == "URL"]
    for m in _URL.finditer(text):
        start, end = m.start(), _trim(text, m.start(), m.end())
        if any(a < end and start < b for a, b in urls):
            continue
        host = _host(text[start:end])
        if "." in host and len(host) <= _MAX_HOST and suffix_of(host):
            out.append(Finding(start, end, "URL", 0.6 if "://" in text[start:end] else 0.5))
    return out

