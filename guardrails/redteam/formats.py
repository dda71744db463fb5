"""Secret and PII values drawn from the corpus templates.

A template mixes literal text and generators (``{hex:32}``, ``{card:4:16}``,
``{iban:DE}``; the list is in ``corpus/redteam/secrets.yaml`` and
``pii.yaml``). :func:`render` draws every generator from a seeded
``random.Random`` and returns the text and its *planted* part: what must not
survive a redact rule (the part between ``[[`` and ``]]``, else the whole).
Card numbers pass the Luhn check, IBANs carry valid check digits and social
security numbers fall in the issued ranges, so a miss is the detector's, not
a malformed value's.
"""

from __future__ import annotations

import base64
import random
import string
from collections.abc import Mapping, Sequence

import regex

from guardrails.redteam.corpus import PiiFormat

__all__ = ["iban", "luhn_number", "pii_value", "render"]

_ALPHABETS = {
    "hex": "0123456789abcdef",
    "HEX": "0123456789ABCDEF",
    "alnum": string.ascii_letters + string.digits,
    "upper": string.ascii_uppercase + string.digits,
    "lower": string.ascii_lowercase,
    "digits": string.digits,
    "b64": string.ascii_letters + string.digits + "+/",
    "b64url": string.ascii_letters + string.digits + "-_",
}
# Words for passphrases ({words:N}): plain, so a value is letters only.
_WORDS = ("river", "candle", "orbit", "pepper", "marble", "velvet", "cactus", "harbor", "jigsaw", "lemon",
          "quartz", "saddle", "tunnel", "walnut", "zephyr", "bramble", "falcon", "ginger", "meadow", "pylon")
_TOKEN = regex.compile(r"\{([A-Za-z0-9]+)(?::([^{}]*))?\}")
# IBAN layouts (ISO 13616 registry): the BBAN as character classes.
_BBAN = {"DE": "n18", "GB": "a4n14", "FR": "n23", "NL": "a4n10", "ES": "n20", "IT": "a1n22", "BE": "n12"}


def luhn_number(prefix: str, length: int, rng: random.Random) -> str:
    """A number of ``length`` digits starting with ``prefix`` that passes the Luhn check."""
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # doubled: the check digit will sit to their right
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def iban(country: str, rng: random.Random) -> str:
    """An IBAN for ``country`` with valid check digits (ISO 7064 mod 97-10)."""
    spec = _BBAN.get(country)
    if spec is None:
        raise ValueError(f"no IBAN layout for {country!r}; known: {', '.join(sorted(_BBAN))}")
    bban = ""
    for kind, count in regex.findall(r"([an])(\d+)", spec):
        pool = string.ascii_uppercase if kind == "a" else string.digits
        bban += "".join(rng.choice(pool) for _ in range(int(count)))
    numeric = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    return f"{country}{98 - int(numeric) % 97:02d}{bban}"


def _ssn(rng: random.Random) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}{rng.randint(1, 99):02d}{rng.randint(1, 9999):04d}"


def render(template: str, rng: random.Random, names: Mapping[str, Sequence[str]] | None = None,
           areas: Sequence[str] = ("212",)) -> tuple[str, str]:
    """``(text, planted)``: the template with its generators drawn."""
    names = names or {}

    def draw(m: regex.Match[str]) -> str:
        name, arg = m.group(1), m.group(2)
        if name in _ALPHABETS:
            return "".join(rng.choice(_ALPHABETS[name]) for _ in range(int(arg)))
        if name == "words":
            return "".join(rng.choice(_WORDS) for _ in range(int(arg)))
        if name == "basic":
            secret = "".join(rng.choice(_WORDS) for _ in range(3)) + str(rng.randint(10, 99))
            return base64.b64encode(f"{arg}:{secret}".encode()).decode()
        if name == "card":
            prefix, length = arg.split(":")
            return luhn_number(prefix, int(length), rng)
        if name == "iban":
            return iban(arg, rng)
        if name == "ssn":
            return _ssn(rng)
        if name == "area":
            return rng.choice(list(areas))
        if name == "exchange":
            return str(rng.choice([n for n in range(200, 1000) if n != 555 and n % 100 != 11]))
        if name in names:
            return rng.choice(list(names[name]))
        return m.group()  # not a generator: literal braces (JSON) stay

    text = _TOKEN.sub(draw, template)
    start, end = text.find("[["), text.find("]]")
    if 0 <= start < end:
        planted = text[start + 2:end]
        return text.replace("[[", "", 1).replace("]]", "", 1), planted
    return text, text


def pii_value(fmt: PiiFormat, rng: random.Random, names: Mapping[str, Sequence[str]],
              areas: Sequence[str]) -> tuple[str, str]:
    """``(text with its context words, the value)`` for one PII format."""
    value, _ = render(fmt.value, rng, names, areas)
    if fmt.group:
        chars = [ch for ch in value if ch.isalnum()]
        parts, at = [], 0
        for size in fmt.group:
            parts.append("".join(chars[at:at + size]))
            at += size
        if at < len(chars):
            parts.append("".join(chars[at:]))
        value = fmt.sep.join(p for p in parts if p)
    if fmt.upper:
        value = value.upper()
    if fmt.lower:
        value = value.lower()
    return fmt.text.replace("{}", value), value
