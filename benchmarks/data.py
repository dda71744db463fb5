"""Generated benchmark inputs: prose, PII values, tool-call requests.

Everything is generated from a seed, so two runs see the same inputs, and
every text is distinct, so no cache can answer a repeated question.
"""

from __future__ import annotations

import random
import string

WORDS = (
    "the a an our your this that order shipment refund invoice account customer support team "
    "please could you help me with update check review summarise explain write draft reply "
    "about for from into over under after before during while because although however "
    "delivery package warehouse product item price discount subscription plan feature issue "
    "report meeting schedule project deadline budget manager engineer document policy question "
    "answer weather travel hotel flight booking restaurant recipe garden music movie book "
    "is was are were will would should can may might have has had do does did not very quite "
    "new old late early quick slow happy sorry thanks regards today tomorrow yesterday week month"
).split()


def prose(rnd: random.Random, size: int) -> str:
    """Sentences of everyday words, with now and then a small number (no PII)."""
    out: list[str] = []
    length = 0
    sentence = 0
    while length < size:
        if sentence == 0:
            w = rnd.choice(WORDS).capitalize()
            sentence = rnd.randint(6, 16)
        elif rnd.random() < 0.03:
            w = str(rnd.randint(1, 60))
        else:
            w = rnd.choice(WORDS)
        sentence -= 1
        if sentence == 0:
            w += rnd.choice([".", ".", ".", "?", "!"])
        elif rnd.random() < 0.06:
            w += ","
        out.append(w)
        length += len(w) + 1
    return " ".join(out)[:size].rstrip() + "."


def _luhn(prefix: str, length: int, rnd: random.Random) -> str:
    body = prefix + "".join(rnd.choice(string.digits) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


def pii_value(rnd: random.Random, kind: str | None = None) -> str:
    """A fresh value of a common PII kind, written the way people write it."""
    kind = kind or rnd.choice(PII_KINDS)
    d = lambda n: "".join(rnd.choice(string.digits) for _ in range(n))  # noqa: E731
    if kind == "email":
        name = rnd.choice(["jane", "john.smith", "a.b", "support", "m_lee"]) + d(2)
        return f"{name}@{rnd.choice(['example.com', 'mail.org', 'corp.co.uk', 'shop.io'])}"
    if kind == "phone":
        area = str(rnd.randint(201, 989))
        return rnd.choice(["{}-555-{}", "({}) 555-{}", "+1 {} 555 {}"]).format(area, d(4))
    if kind == "card":
        cc = _luhn(rnd.choice(["4", "51", "55", "6011"]), 16, rnd)
        sep = rnd.choice([" ", "-", ""])
        return sep.join(cc[i:i + 4] for i in range(0, 16, 4))
    if kind == "ssn":
        return f"{rnd.randint(101, 665)}-{rnd.randint(10, 99)}-{rnd.randint(1000, 9999)}"
    if kind == "iban":
        return _iban(rnd)
    if kind == "ip":
        return ".".join(str(rnd.randint(1, 254)) for _ in range(4))
    if kind == "url":
        return f"https://{rnd.choice(['example.com', 'docs.shop.io', 'intranet.corp.net'])}/{d(3)}"
    raise ValueError(kind)


def _iban(rnd: random.Random) -> str:
    """A fresh, valid German or British IBAN, in groups of four."""
    country, bban = rnd.choice([
        ("DE", "".join(rnd.choice(string.digits) for _ in range(18))),
        ("GB", rnd.choice(["WEST", "NWBK", "BARC"]) + "".join(rnd.choice(string.digits) for _ in range(14))),
    ])
    numeric = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    iban = f"{country}{98 - int(numeric) % 97:02d}{bban}"
    return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))


PII_KINDS = ("email", "phone", "card", "ssn", "iban", "ip", "url")
CONTEXT = {"email": "email", "phone": "call", "card": "card", "ssn": "ssn", "iban": "iban", "ip": "ip", "url": "see"}


def pii_text(rnd: random.Random, size: int, count: int) -> str:
    """Prose with `count` PII values, each after a word that names it."""
    words = prose(rnd, size).split(" ")
    for _ in range(count):
        kind = rnd.choice(PII_KINDS)
        at = rnd.randrange(len(words) + 1)
        words[at:at] = [CONTEXT[kind], pii_value(rnd, kind)]
    return " ".join(words)


def everyday_number(rnd: random.Random) -> str:
    """A year, price, date, time or order number, as people write them in prose."""
    year = rnd.randint(1990, 2027)
    month, day = rnd.randint(1, 12), rnd.randint(1, 28)
    kind = rnd.randrange(5)
    if kind == 0:
        return rnd.choice(["in {}", "since {}", "({})", "{}"]).format(year)
    if kind == 1:
        whole, cents = rnd.randint(1, 2500), rnd.randint(0, 99)
        return rnd.choice([f"${whole}.{cents:02d}", f"€{whole}", f"£{whole}.{cents:02d}", f"{whole:,}.00 USD",
                           f"${whole}"])
    if kind == 2:
        name = MONTHS[month - 1]
        return rnd.choice([f"{month:02d}/{day:02d}/{year}", f"{year}-{month:02d}-{day:02d}", f"{day} {name} {year}",
                           f"{name} {day}", f"{day:02d}.{month:02d}.{year}"])
    if kind == 3:
        return rnd.choice([f"{rnd.randint(7, 18)}:{rnd.choice(['00', '15', '30', '45'])}",
                           f"{rnd.randint(1, 12)}:{rnd.randint(0, 59):02d} {rnd.choice(['am', 'pm'])}"])
    digits = lambda n: "".join(rnd.choice(string.digits) for _ in range(n))  # noqa: E731
    return rnd.choice([f"order #{digits(rnd.randint(5, 7))}", f"ref A-{digits(5)}", f"INV-{year}-{digits(4)}",
                       f"ticket {digits(5)}", f"SKU {digits(4)}-{digits(2)}", f"{rnd.randint(2, 40)} items",
                       f"{rnd.randint(5, 80)}%"])


MONTHS = ("January February March April May June July August September October November December").split()


def numbers_text(rnd: random.Random, size: int) -> str:
    """Everyday prose with about one everyday number (year, price, date, time,
    order number) per 50 characters, and no PII value."""
    words = prose(rnd, size * 4 // 5).split(" ")
    for _ in range(max(1, size // 50)):
        at = rnd.randrange(len(words) + 1)
        words[at:at] = [everyday_number(rnd)]
    return " ".join(words)


def novel_prose(rnd: random.Random, size: int) -> str:
    """Prose in which about one word in three is new: letters drawn at random,
    so a tokenizer's vocabulary meets words it has never seen."""
    out = prose(rnd, size).split(" ")
    for i in range(0, len(out), 3):
        out[i] = "".join(rnd.choice(string.ascii_lowercase) for _ in range(rnd.randint(4, 10)))
    return " ".join(out)
