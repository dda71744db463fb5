"""Numbers, quantities and dates, normalised so that one value written two
ways compares equal: "thirty days" and "30 days", "$1,200" and "1200
dollars", "2 weeks" and "14 days", "4 grams" and "4,000 mg", "14 March 2024"
and "2024-03-14".

A :class:`Quantity` is a value in a base unit of its dimension (days for
durations under a month, months for months and years, grams, bytes, a
currency code, percent, a temperature scale) plus, for a rate, the period it
is per ("19.9% a year"). Two quantities are the same fact when their units
are equal and their values are; a bare number (no unit) matches any
quantity of that value. Dates keep every reading a numeric date allows
("02/03/2024" is 2 March or 3 February) and match when the readings meet.
A price per unit of a measure carries that unit as its rate ("£1.87 per
cubic metre" is not "£1.87 per litre").

Why one module: the unit table, the figure and date finders and the
comparison rules are one vocabulary; every finder feeds Quantity.same, and
splitting them would only move the table away from the rules that read it.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_SMALL = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}
_SCALE = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
_NUMBER_WORD = "|".join(sorted([*_SMALL, *_SCALE, "a", "and"], key=len, reverse=True))

MONTHS = {m: i + 1 for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"])}
MONTHS.update({m[:3]: i for m, i in list(MONTHS.items())})
MONTHS["sept"] = 9

# unit word -> (dimension, factor to the dimension's base unit)
_UNITS: dict[str, tuple[str, float]] = {}


def _unit(dim: str, factor: float, *names: str) -> None:
    for n in names:
        _UNITS[n] = (dim, factor)


_unit("time", 1 / 1440, "minute", "minutes", "min", "mins")
_unit("time", 1 / 86400, "second", "seconds", "sec", "secs")
_unit("time", 1 / 24, "hour", "hours", "hr", "hrs", "h")
_unit("time", 1, "day", "days", "night", "nights", "business day", "business days", "working day",
      "working days", "calendar day", "calendar days")
_unit("time", 7, "week", "weeks", "wk", "wks")
_unit("months", 1, "month", "months")
_unit("months", 12, "year", "years", "yr", "yrs")
_unit("mass", 0.001, "mg", "milligram", "milligrams")
_unit("mass", 1, "g", "gram", "grams")
_unit("mass", 1000, "kg", "kilo", "kilos", "kilogram", "kilograms")
_unit("mass", 453.59237, "lb", "lbs")
_unit("mass", 28.349523125, "oz", "ounce", "ounces")
_unit("mass", 1e6, "tonne", "tonnes", "metric ton", "metric tons")
_unit("length", 0.001, "mm", "millimetre", "millimetres", "millimeter", "millimeters")
_unit("length", 0.01, "cm", "centimetre", "centimetres", "centimeter", "centimeters")
_unit("length", 1, "m", "metre", "metres", "meter", "meters")
_unit("length", 1000, "km", "kilometre", "kilometres", "kilometer", "kilometers")
_unit("length", 0.0254, "inch", "inches", "in.")
_unit("length", 1609.344, "mile", "miles")
_unit("length", 0.3048, "foot", "feet", "ft")
_unit("length", 0.9144, "yard", "yards", "yd", "yds")
_unit("speed", 0.44704, "mph", "miles per hour", "miles an hour")
_unit("speed", 1 / 3.6, "km/h", "kph", "kmh", "kilometres per hour", "kilometers per hour", "kilometres an hour")
_unit("volume", 1000, "m³", "m3", "cubic metre", "cubic metres", "cubic meter", "cubic meters")
_unit("area", 1, "m2", "m²", "sq m", "square metre", "square metres", "square meter", "square meters")
_unit("area", 0.09290304, "sq ft", "square foot", "square feet", "ft2", "ft²", "square-foot", "square-feet",
      "sq-ft")
_unit("area", 1, "square-metre", "square-meter")
_unit("energy", 1, "kwh")
_unit("energy", 1000, "mwh")
_unit("power", 1, "kw", "kilowatt", "kilowatts")
_unit("power", 0.001, "watt", "watts")
_unit("peak power", 1, "kwp")
_unit("data", 1e3, "kb")
_unit("data", 1e6, "mb")
_unit("data", 1e9, "gb")
_unit("data", 1e12, "tb")
_unit("volume", 0.001, "ml", "millilitre", "millilitres", "milliliter", "milliliters")
_unit("volume", 1, "l", "litre", "litres", "liter", "liters")
_unit("volume", 0.56826125, "pint", "pints")  # imperial, as the sources' British pubs and dairies pour
_unit("volume", 4.54609, "gallon", "gallons")
_unit("area", 4046.8564224, "acre", "acres")
_unit("area", 10000, "hectare", "hectares")
_unit("times", 1, "times")
_unit("cent", 0.01, "cent", "cents", "¢")  # of whichever currency: matches any (Quantity.same)
_unit("GBP", 0.01, "pence", "p")
_unit("percent", 1, "%", "percent", "per cent")
_unit("USD", 1, "$", "usd", "dollar", "dollars", "us$", "buck", "bucks")
_unit("EUR", 1, "€", "eur", "euro", "euros")
_unit("GBP", 1, "£", "gbp", "pound", "pounds", "quid")  # spoken: "sixty quid"
_unit("CHF", 1, "chf", "franc", "francs")
_unit("JPY", 1, "¥", "jpy", "yen")
_unit("celsius", 1, "°c", "° c", "degrees celsius", "degree celsius", "celsius", "ºc")
_unit("fahrenheit", 1, "°f", "° f", "degrees fahrenheit", "fahrenheit", "ºf")

CURRENCIES = frozenset(["USD", "EUR", "GBP", "CHF", "JPY"])
_PREFIX = r"(?P<pre>us\$|\$|€|£|¥|(?:chf|usd|eur|gbp|jpy)\s)\s?"
_NUM = r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
_WORDS_NUM = rf"(?P<words>(?:(?:{_NUMBER_WORD})[\s-]+)*(?:{'|'.join(sorted(_SMALL, key=len, reverse=True))}|hundred|thousand))"
_UNIT_NAMES = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True) if u not in ("$", "€", "£", "¥", "us$"))
# A unit may follow one of these words: "30 consecutive days", "5 working days".
_BETWEEN_WORDS = r"(?:(?:consecutive|calendar|full|whole|straight|successive|additional|extra|more|further)\s)?"
_SUFFIX = rf"(?:\s?{_BETWEEN_WORDS}(?P<unit>{_UNIT_NAMES})(?![\w]))?(?P<apos>')?"
_RATE = r"(?:\s+(?:a|an|per|each|every)\s+(?P<per>second|minute|hour|day|night|week|month|year))?"
QUANTITY = re.compile(
    rf"(?<![\w.,])(?:{_PREFIX})?(?:{_NUM}|{_WORDS_NUM})(?:[\s-](?P<scale>thousand|million|billion|k\b|m\b|bn\b)|(?(pre)(?P<glued>k|bn)\b))?"
    rf"(?:-(?=[a-z]))?{_SUFFIX}{_RATE}",
    re.IGNORECASE,
)
# Where a quantity can start: a currency sign or a digit (a character class
# first, which Python's re scans fast), or a number word (_number_word_starts).
# QUANTITY is tried only there: trying it at every character was most of
# the check's cost.
# A character class alone is scanned fast; the start of a figure (no letter,
# digit, "_", "." or "," before it) is checked on what it finds.
_DIGIT_START = re.compile(r"[$€£¥\d]")
# The same on an ASCII text, with the test for a digit inside a word or a
# figure (a letter, digit, "_", "." or "," before it) as a lookbehind: one
# class of ASCII characters first is scanned by a bitmap, where \d asks
# Unicode's tables at every character, and a digit inside a word is passed
# over in C.
_DIGIT_START_ASCII = re.compile(r"[$0-9](?<![a-zA-Z0-9_.,][0-9])")
_CODES = ("chf ", "usd ", "eur ", "gbp ", "jpy ")  # a currency code before a figure, found looking back from it
_ALPHA = re.compile(r"[^\W\d_]+")
_NUMBER_WORDS = frozenset([*_SMALL, *_SCALE])
# "twice" is "2 times", "thrice" "3 times" (as a source or an answer may write either).
_TIMES = re.compile(r"\b(?P<w>twice|thrice)\b" + r"(?:\s+(?:a|an|per|each|every)\s+(?P<per>second|minute|hour|day|night|week|month|year))?",
                    re.IGNORECASE)


def _words(text: str) -> frozenset[str]:
    return frozenset(_ALPHA.findall(text.lower()))


def _number_word_starts(text: str, present: frozenset[str], low: bool | None = None):
    """Where each number word of `present` starts, in order: a literal
    regex per word present is scanned fast, where one alternation of every
    number word was the costliest scan of a source. `low`: text.islower()."""
    hits = []
    for w in present:
        hits.extend(word_starts(text, w, low))
    if "a" in present or "hundred" in present or "thousand" in present:  # "a hundred", "a thousand"
        hits.extend(m.start() for m in _A_SCALE.finditer(text))
    return sorted(hits)


def _inside(ch: str) -> bool:
    return ch.isalnum() or ch in "_.,"


_INSIDE = _inside
_WORD_RX: dict[str, re.Pattern] = {}
_A_SCALE = re.compile(r"\ba\s+(?=hundred\b|thousand\b)", re.IGNORECASE)


def _quantity_matches(text: str, number_words: frozenset[str], lowered: bool = False, low: bool | None = None):
    """QUANTITY matched where a figure, a currency sign or a number word
    starts. `low`: text.islower(), when known."""
    quantity = _QUANTITY_CS if lowered else QUANTITY
    words_at = _number_word_starts(text, number_words, low) if number_words else []
    wi = 0
    pos = 0
    n = len(text)
    ascii_text = text.isascii()
    digit_start = _DIGIT_START_ASCII if ascii_text else _DIGIT_START
    while True:
        c = digit_start.search(text, pos)
        if not ascii_text:
            while c is not None and c.start() > 0 and text[c.start()].isdigit() and _INSIDE(text[c.start() - 1]):
                c = _DIGIT_START.search(text, c.start() + 1)  # a digit inside a word or a figure
        at = c.start() if c is not None else n
        while wi < len(words_at) and words_at[wi] < pos:
            wi += 1
        if wi < len(words_at) and words_at[wi] < at:
            at, end = words_at[wi], words_at[wi] + 1
        elif c is None:
            return
        else:
            end = c.end()
            if text[at] == "$" and text[max(0, at - 2):at].lower() == "us":
                at -= 2
            elif at >= 4 and text[at - 4:at].lower() in _CODES:
                at -= 4
        m = quantity.match(text, at)
        if m is None:
            pos = end
            continue
        yield m
        pos = max(m.end(), end)


# "3 to 5 days", "between 2 and 8 °C", "4-6 hours": the first number takes the second's unit.
# A bare figure before one with a unit takes its unit across these: a range
# ("3 to 5 days"), a choice, or a dimension ("25 × 25 × 30 cm", "2.4 by 1.8 metres").
_RANGE_JOIN = re.compile(r"^\s*(?:to|-|–|and|or|x|×|by)\s*$", re.IGNORECASE)

_MONTH = r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
DATES = [
    re.compile(rf"\b(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\.?(?:,?\s+(?P<y>\d{{4}}))?\b", re.IGNORECASE),
    re.compile(rf"\b{_MONTH}\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<y>\d{{4}}))?\b", re.IGNORECASE),
    re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})\b"),
    re.compile(r"\b(?P<a>\d{1,2})[/.](?P<b>\d{1,2})[/.](?P<y>\d{4})\b"),
    re.compile(rf"\b{_MONTH}\s+(?P<y>\d{{4}})\b", re.IGNORECASE),
]


def _case_sensitive(rx: re.Pattern) -> re.Pattern:
    return re.compile(rx.pattern, rx.flags & ~re.IGNORECASE)


# The same patterns without IGNORECASE, run on the lower-cased text (when
# lower-casing keeps every offset): Python's case-blind matching of a word
# alternation is several times slower, and dates and quantities are most of
# the cost of analysing a source.
_QUANTITY_CS, _TIMES_CS = (_case_sensitive(rx) for rx in (QUANTITY, _TIMES))
_DATES_CS = [_case_sensitive(rx) for rx in DATES]


def _lowered(text: str) -> tuple[str, bool]:
    low = text.lower()
    return (low, True) if len(low) == len(text) else (text, False)


_PERIOD_DAYS = {"day": 1.0, "night": 1.0, "week": 7.0, "year": 365.0}


class Quantity(NamedTuple):
    """One number as a fact: its value in the base unit of `unit` (None: a
    bare number), the period of a rate, and where it was written. A named
    tuple: a source holds many, and a frozen dataclass cost several times
    as much to build."""

    value: float | tuple[tuple[int | None, int, int | None], ...]  # a date: its readings (y, m, d)
    unit: str | None
    per: str | None
    start: int
    end: int
    within: tuple[float, float] | None = None  # one end of a stated range: the range ("between 23 and 32 kg")
    written: float | None = None  # the figure as written, before its unit's conversion ("16" of "16 years")

    @property
    def is_date(self) -> bool:
        """A date or a time of day: a value held as readings."""
        return self.unit == "date" or self.unit == "clock"

    @property
    def always(self) -> bool:
        """A duration per period as long as the period: "24 hours a day",
        "seven days a week" say all the time, not how long something takes."""
        return self.unit == "time" and self.per in _PERIOD_DAYS and abs(self.value - _PERIOD_DAYS[self.per]) < 1e-9

    def same(self, other: Quantity) -> bool:
        """The same fact, once normalised (module docstring)."""
        if self.is_date or other.is_date:
            if self.unit != other.unit:
                return _hour_meets(self, other) or _hour_meets(other, self)
            if self.unit == "date":
                return _dates_meet(self.value, other.value)
            return not set(self.value).isdisjoint(other.value)  # times of day: a reading in common
        if not _units_meet(self.unit, other.unit):
            return False
        if self.per is not None and other.per is not None and self.per != other.per:
            return False
        if (self.per is not None or other.per is not None) and self.always != other.always:
            return False  # "24 hours a day" is all day, not a duration of one day
        a, b = self.value, other.value
        if abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b)):
            return True
        # A value inside a range the other states: "a 28 kg bag" of "bags between 23 kg and 32 kg".
        return other.within is not None and other.within[0] <= a <= other.within[1]


def _hour_meets(bare: Quantity, clock: Quantity) -> bool:
    """A bare number as the hour of a time of day: "opens at 6" and "6 am"."""
    if bare.unit is not None or clock.unit != "clock" or bare.value != int(bare.value):
        return False
    return any(r % 60 == 0 and (r // 60) % 12 == int(bare.value) % 12 for r in clock.value)


def _units_meet(a: str | None, b: str | None) -> bool:
    """Equal units, a bare number against anything, or cents against any currency."""
    if a is None or b is None or a == b:
        return True
    return (a == "cent" and b in CURRENCIES) or (b == "cent" and a in CURRENCIES)


def _dates_meet(a, b) -> bool:
    for ya, ma, da in a:
        for yb, mb, db in b:
            if ma == mb and (ya is None or yb is None or ya == yb) and (da is None or db is None or da == db):
                if da is None and db is None and (ya is None) != (yb is None):
                    continue
                return True
    return False


def words_value(text: str) -> float | None:
    """ "twenty-five" -> 25, "one hundred and fifty" -> 150; None when not a number."""
    total, current, seen = 0, 0, False
    for w in re.split(r"[\s-]+", text.lower()):
        if w in ("and", ""):
            continue
        if w == "a":
            current = current or 1
        elif w in _SMALL:
            current += _SMALL[w]
            seen = True
        elif w in _SCALE:
            current = (current or 1) * _SCALE[w]
            if _SCALE[w] >= 1000:
                total, current = total + current, 0
            seen = True
        else:
            return None
    return float(total + current) if seen else None


_NUMERIC_DATE = re.compile(r"\d[-/.]\d")
_NUMERIC_DATE_ASCII = re.compile(r"[0-9][-/.][0-9]")  # on an ASCII text: a class first is scanned fast
_MONTH_WORDS = frozenset([*MONTHS, "sept"])


def word_starts(text: str, w: str, low: bool | None = None) -> list[int]:
    """Where the word `w` (lower case) starts in `text` as a whole word: by
    str.find when `text` is lower case (a regex with \\b or IGNORECASE has
    no fast literal scan), else by a regex. `low`: text.islower(), when
    the caller knows it (it reads every character)."""
    if not (text.islower() if low is None else low):
        return [m.start() for m in _word_rx(w).finditer(text)]
    out = []
    n, k = len(text), len(w)
    at = text.find(w)
    while at >= 0:
        end = at + k
        if (at == 0 or not _word_char(text[at - 1])) and (end == n or not _word_char(text[end])):
            out.append(at)
        at = text.find(w, at + 1)
    return out


def _word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _word_rx(w: str) -> re.Pattern:
    rx = _WORD_RX.get(w)
    if rx is None:
        rx = _WORD_RX[w] = re.compile(r"\b" + re.escape(w) + r"\b", re.IGNORECASE)
    return rx


def _windows(text: str, anchors, before: int, after: int) -> list[tuple[int, int]]:
    """Merged spans from `before` characters ahead of each anchor to `after`
    past it, widened to whole words."""
    out: list[list[int]] = []
    n = len(text)
    for a in sorted(anchors):
        ws, we = max(0, a - before), min(n, a + after)
        while ws > 0 and not text[ws - 1].isspace():
            ws -= 1
        while we < n and not text[we].isspace():
            we += 1
        if out and ws <= out[-1][1]:
            out[-1][1] = max(out[-1][1], we)
        else:
            out.append([ws, we])
    return [(a, b) for a, b in out]


def find_dates(text: str, words: frozenset[str] | None = None, low: bool | None = None) -> list[Quantity]:
    """Every date in `text`. `low`: text.islower(), when known."""
    given = text
    text, lowered = _lowered(text)
    if low is not None and text != given:
        low = None  # known of the text as given, not of its lower case
    out: list[Quantity] = []
    taken: list[tuple[int, int]] = []
    months = _MONTH_WORDS & (_words(text) if words is None else words)
    # Each form is tried only in windows around where a date can be: a month's
    # name, or digits joined by - / . (a scan of the whole text per form was
    # most of the cost of finding a source's quantities).
    named = _windows(text, (a for w in months for a in word_starts(text, w, low)), 16, 40) if months else []
    numeric = _windows(text, (m.start() for m in (_NUMERIC_DATE_ASCII if text.isascii() else _NUMERIC_DATE)
                              .finditer(text)), 6, 14)
    for i, rx in enumerate(_DATES_CS if lowered else DATES):
        for ws, we in (numeric if i in (2, 3) else named):
            for m in rx.finditer(text, ws, we):
                if any(s < m.end() and m.start() < e for s, e in taken):
                    continue
                g = m.groupdict()
                y = int(g["y"]) if g.get("y") else None
                if g.get("mon"):
                    mon = MONTHS[g["mon"].lower().rstrip(".")[:4] if g["mon"].lower().startswith("sept") else g["mon"].lower()[:3]]
                    d = int(g["d"]) if g.get("d") else None
                    if d is not None and not 1 <= d <= 31:
                        continue
                    readings = ((y, mon, d),)
                elif g.get("m"):
                    readings = ((y, int(g["m"]), int(g["d"])),)
                else:
                    a, b = int(g["a"]), int(g["b"])
                    readings = tuple({(y, mm, dd) for dd, mm in ((a, b), (b, a)) if 1 <= mm <= 12 and 1 <= dd <= 31})
                    if not readings:
                        continue
                if g.get("mon") and y is None and g.get("d") is None:
                    continue
                taken.append((m.start(), m.end()))
                out.append(Quantity(readings, "date", None, m.start(), m.end()))
    return out


_MAY = re.compile(r"\bmay\b")


def _modal_may(text: str, d: Quantity) -> bool:
    """A date without a year whose month is "may" in lower case: the modal
    verb after a figure ("children under 18 may apply"), not 18 May. A
    month's name is written with a capital."""
    return all(y is None for y, _, _ in d.value) and _MAY.search(text, d.start, d.end) is not None


# A time of day: "9 pm", "9:30 a.m.", "21:00", "noon". Its value is its
# readings in minutes after midnight: "9:00" may be 9 am or 9 pm, as a
# numeric date may be read two ways; "21:00" and "9 pm" meet.
_CLOCK = re.compile(r"\b(?P<h>1[0-2]|0?\d)(?:[:.](?P<m>[0-5]\d))?\s?(?P<ap>a\.m\.|p\.m\.|am|pm)(?![a-z])"
                    r"|\b(?P<h2>[01]?\d|2[0-3]):(?P<m2>[0-5]\d)(?![\d:])(?!\s?(?:a\.m|p\.m|am|pm)\b)"
                    r"|\b(?P<w>noon|midday|midnight)\b"
                    r"|\b(?:(?P<fr>half|quarter)\s+(?P<rel>past|to)\s+)?(?P<hw>" + "|".join(
                        sorted(list(_SMALL)[1:13], key=len, reverse=True)) + r"|1[0-2]|[1-9])"
                    r"(?(fr)(?:\s+o'clock)?|\s+o'clock)(?P<part>\s+in\s+the\s+(?:morning|afternoon|evening)|\s+at\s+night)?\b")
class _Lazy:
    """A regex compiled when first used: the spoken forms are read in few
    texts, and compiling them at import cost about 10 ms of the check's
    import."""

    __slots__ = ("args", "rx")

    def __init__(self, *args):
        self.args, self.rx = args, None

    def __getattr__(self, name):
        if self.rx is None:
            self.rx = re.compile(*self.args)
        return getattr(self.rx, name)


_CLOCK_HINT = re.compile(r"\d:\d\d|\d\s?[ap]\.?m\b|noon|midday|midnight|(?:half|quarter)\s+(?:past|to)\s|o'clock"
                         r"|\bhalf\s+(?:[1-9]|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\b"
                         r"|\b(?:five|ten|twenty|twenty-five)\s+past\s")
# British spoken times: "half six" is 6:30 ("from half six to half eight in
# the evening"), "ten past nine" 9:10. Not before a unit, "of" or a hyphen
# ("half six-packs", "half six months" are no times).
_HOURS = "|".join(sorted(list(_SMALL)[1:13], key=len, reverse=True)) + "|1[0-2]|[1-9]"
_SPOKEN_CLOCK = _Lazy(
    r"\b(?:half\s+|(?P<min>five|ten|twenty-five|twenty)\s+past\s+)(?P<h>" + _HOURS + r")(?![\w-])"
    r"(?P<part>\s+in\s+the\s+(?:morning|afternoon|evening)|\s+at\s+night|\s?(?:a\.m\.|p\.m\.|am|pm)(?![a-z]))?"
    r"(?!\s*%)")
# The word after a spoken time that makes it a figure instead (a unit is looked up in _UNITS).
_NOT_A_TIME = frozenset(["of", "a", "an", "per", "times", "dozen", "hundred", "thousand", "million", "percent"])
_NEXT_WORD = re.compile(r"\s+([^\W\d_][\w.²³]*)")


_CLOCK_WORDS = frozenset(["am", "pm", "m", "noon", "midday", "midnight"])  # "m" of "a.m."


def find_clocks(text: str) -> list[Quantity]:
    """Every time of day in `text` (lower case), as readings in minutes."""
    if _CLOCK_HINT.search(text) is None:
        return []
    out = []
    for m in _CLOCK.finditer(text):
        g = m.groupdict()
        if g["w"]:
            readings = (0,) if g["w"] == "midnight" else (720,)
        elif g["hw"]:  # in words: "half past nine", "quarter to seven", "ten o'clock in the morning"
            h = _SMALL[g["hw"]] if g["hw"] in _SMALL else int(g["hw"])
            minutes = h * 60 + {None: 0, "half": 30, "quarter": 15}[g["fr"]] * (-1 if g["rel"] == "to" else 1)
            part = (g["part"] or "").split()
            if not part:
                readings = tuple(sorted({minutes % 720, minutes % 720 + 720}))
            else:
                readings = ((minutes % 720) + (0 if part[-1] == "morning" else 720),)
        elif g["ap"]:
            h = int(g["h"]) % 12 + (12 if g["ap"][0] == "p" else 0)
            readings = (h * 60 + int(g["m"] or 0),)
        else:
            h, mm = int(g["h2"]), int(g["m2"])
            readings = tuple(sorted({h * 60 + mm, (h % 12 + 12) * 60 + mm})) if 1 <= h <= 11 else (h * 60 + mm,)
        out.append(Quantity(readings, "clock", None, m.start(), m.end()))
    if "half" in text or "past" in text:
        for m in _SPOKEN_CLOCK.finditer(text):
            if any(q.start < m.end() and m.start() < q.end for q in out):
                continue
            nxt = _NEXT_WORD.match(text, m.end())
            if nxt is not None and (nxt.group(1) in _NOT_A_TIME or nxt.group(1) in _UNITS
                                    or nxt.group(1).rstrip(".") in _UNITS):
                continue  # "half six months", "half 5 kg": a figure
            h = _SMALL[m.group("h")] if m.group("h") in _SMALL else int(m.group("h"))
            minutes = h * 60 + (_SMALL.get(m.group("min") or "", 0) if m.group("min") != "twenty-five" else 25)
            if m.group("min") is None:
                minutes += 30
            part = (m.group("part") or "").strip()
            if not part:
                readings = tuple(sorted({minutes % 720, minutes % 720 + 720}))
            else:
                readings = ((minutes % 720) + (0 if part.endswith("morning") or part.startswith("a") else 720),)
            out.append(Quantity(readings, "clock", None, m.start(), m.end()))
        out.sort(key=lambda q: q.start)
    return out


def alpha_words(tokens) -> frozenset[str]:
    """The runs of letters of a lower-case text split by words.WORD (each
    run lies inside one token): what find_quantities would find itself."""
    out = set()
    for t in tokens:
        if t.isalpha():
            out.add(t)
        else:
            out.update(_ALPHA.findall(t))
    return frozenset(out)


def find_quantities(text: str, words: frozenset[str] | None = None) -> list[Quantity]:
    """Every date, number and quantity in `text`, in order. Ordinals ("first",
    "3rd") and the "a" of "a day" are not numbers; a year inside a date is the
    date's. `words`: the text's runs of letters, lower case, when known
    (alpha_words)."""
    original = text
    text, lowered = _lowered(text)
    digit = _DIGIT_START.search(text) is not None
    if words is None:
        words = _words(text)
    number_words = _NUMBER_WORDS & words
    clock_word = not {"noon", "midnight", "midday"}.isdisjoint(words) or (
        ("past" in words or "to" in words) and ("half" in words or "quarter" in words)) or "o'clock" in text \
        or (("half" in words or "past" in words) and (digit or bool(number_words)))
    spoken = not _SPOKEN_WORDS.isdisjoint(words)
    times = "twice" in words or "thrice" in words
    often = "every" in words or "once" in words or not _RATE_WORDS.isdisjoint(words)
    fraction = not _FRACTION_WORDS.isdisjoint(words)
    if not (digit or number_words or times or clock_word or often or fraction or spoken):
        return []
    # Whether the text is lower case, read once for the word scans below (it
    # reads every character): a lower-cased ASCII text is, once it holds a letter.
    low = bool(words) if lowered and text.isascii() else text.islower()
    dates = find_dates(text, words, low) if digit else []
    if dates and "may" in words:
        dates = [d for d in dates if not _modal_may(original, d)]
    if clock_word or (digit and (":" in text or not _CLOCK_WORDS.isdisjoint(words))):
        dates += find_clocks(text if lowered else text.lower())
    out: list[Quantity] = list(dates)
    if times:
        out.extend(Quantity(2.0 if m.group("w").lower() == "twice" else 3.0, "times",
                            (m.group("per") or "").lower() or None, m.start(), m.end()) for m in (_TIMES_CS if lowered else _TIMES).finditer(text)
                   )
    if spoken:
        said = _spoken_amounts(text)  # "half an hour", "an hour and a half", "a tenner"
        out.extend(said)
        dates = dates + said  # their number words are theirs, as a date's year is
    if fraction:
        fractions = [f for f in _fractions(text) if not any(h.start < f.end and f.start < h.end for h in dates)]
        out.extend(fractions)
        dates = dates + fractions
    pending: list[Quantity] = []  # bare numbers that a range's unit may reach
    last_end = -1
    in_date = {i for d in dates for i in range(d.start, d.end)}  # a set: a whole text may hold many dates
    for m in _quantity_matches(text, number_words, lowered, low):
        if m.start() in in_date:
            continue
        g = m.groupdict()
        if g["num"] is not None:
            if text[m.end("num"):m.end("num") + 2].lower() in ("st", "nd", "rd", "th"):
                continue
            value = float(g["num"].replace(",", ""))
        else:
            value = words_value(g["words"])
            if value is None:
                continue
        scale = (g["scale"] or g["glued"] or "").lower()  # "£1.45k": glued after a currency sign (round 6)
        unit_name = (g["pre"] or g["unit"] or "").lower().strip()
        if scale == "m" and not g["pre"] and not unit_name:
            scale, unit_name = "", "m"  # "2.4 m by 1.8 m": metres; "£3m" is a million
        elif g["pre"] and not scale and (g["unit"] or "").lower() in ("m", "k", "bn"):
            scale = g["unit"].lower()  # "£3m", "$40k"
        value *= {"thousand": 1e3, "k": 1e3, "million": 1e6, "m": 1e6, "billion": 1e9, "bn": 1e9}.get(scale, 1)
        if unit_name == "p" and text[m.end():m.end() + 2].lower() == ".m":
            unit_name = ""  # "3 p.m." is a time, not pence
        unit = None
        written = value
        if unit_name:
            dim, factor = _UNITS[unit_name]
            value, unit = value * factor, dim
        q = Quantity(value, unit, (g["per"] or "").lower() or None, m.start(), m.end(), None,
                     written if unit is not None and factor != 1 else None)
        if unit is None:
            pending = pending if _RANGE_JOIN.match(text[last_end:m.start()] or "x") else []
            pending.append(q)
        else:
            gap = text[last_end:m.start()]
            if pending and _RANGE_JOIN.match(gap or "x") and not (g["pre"] and gap.strip().lower() in ("and", "or")):
                # "under 18 and £120": a price written with its sign is not the other figure's unit
                dim, factor = _UNITS[unit_name]
                out.extend(Quantity(p.value * factor, unit, q.per, p.start, p.end, None,
                                    p.value if factor != 1 else None) for p in pending)
                out = [x for x in out if x not in pending]
            pending = []
        out.append(q)
        last_end = m.end()
    out = sorted(out, key=lambda q: q.start)
    if len(out) > 1:
        out = _compounds(out, text)
    out = _ranges(out, text)
    if not _RATE_WORDS.isdisjoint(words):
        out = _adjective_rates(out, text)
    out = _unit_rates(out, text)
    if not _COUNT_PERIOD_WORDS.isdisjoint(words):
        out = _count_rates(out, text)
    if often or times or "times" in words or not _RATE_WORDS.isdisjoint(words):
        out = _frequencies(out, text, low)
    if "birthday" in words:
        out = _birthdays(out, text)
    return out


# Spoken amounts, a lexicon of forms common in speech and in answers written
# for it (docs/grounding.md, "Normalisation"):
# - a half or a quarter of a unit: "half an hour", "a half-hour", "half a
#   day", "a quarter of an hour", "quarter-hour"; a whole and a half: "an
#   hour and a half", "two and a half hours", "1 and a half days";
# - notes by name: "a fiver" is £5, "a tenner" £10 ("sixty quid" and "ten
#   bucks" are units: _UNITS);
# - pounds and pence said as two figures: "fourteen pounds fifty" is £14.50,
#   "two dollars and 20 cents" $2.20 (_compounds).
_HALF_UNITS = r"(?P<u>second|minute|hour|day|night|week|month|year|mile|kilometre|kilo|metre|litre)s?"
_SPOKEN = _Lazy(
    r"\b(?:(?:an?|one)[\s-]+)?(?P<half>half|quarter)[\s-]+(?:of\s+)?(?:an?\s+)?" + _HALF_UNITS + r"\b"
    r"|\b(?P<n>an?|" + "|".join(sorted(_SMALL, key=len, reverse=True)) + r"|\d+)\s+(?:(?P<u1>second|minute|hour|day|"
    r"night|week|month|year|mile|kilometre|kilo|metre|litre)s?\s+and\s+a\s+half|and\s+a\s+half\s+(?P<u2>second|"
    r"minute|hour|day|night|week|month|year|mile|kilometre|kilo|metre|litre)s?)\b"
    r"|\b(?:an?\s+)?(?P<note>fiver|tenner)s?\b",
    re.IGNORECASE)
_SPOKEN_WORDS = frozenset(["half", "quarter", "fiver", "tenner", "fivers", "tenners"])
_NOTES = {"fiver": 5.0, "tenner": 10.0}


def _spoken_amounts(text: str) -> list[Quantity]:
    out = []
    for m in _SPOKEN.finditer(text):
        if m.group("note"):
            out.append(Quantity(_NOTES[m.group("note").lower()], "GBP", None, m.start(), m.end()))
            continue
        if m.group("half"):
            value, unit = (0.5 if m.group("half").lower() == "half" else 0.25), m.group("u")
        else:
            n = m.group("n").lower()
            value = 1.0 if n in ("a", "an") else float(_SMALL[n]) if n in _SMALL else float(n)
            value, unit = value + 0.5, m.group("u1") or m.group("u2")
        dim, factor = _UNITS[unit.lower()]
        out.append(Quantity(value * factor, dim, None, m.start(), m.end(), None, value if factor != 1 else None))
    return out


_DURATION_UNITS = frozenset(["time", "months"])
_MONEY_WORDS = frozenset(["pound", "pounds", "dollar", "dollars", "euro", "euros", "quid", "bucks"])
_AND_GAP = re.compile(r"\s+(?:and\s+)?")
_CENTS_WORDS = re.compile(r"(?:\d{2}|[a-z]+(?:-[a-z]+)?)\Z", re.IGNORECASE)


def _factor(q: Quantity) -> float:
    """What one of the unit `q` was written in is in its base unit."""
    return q.value / q.written if q.written else 1.0


def _compounds(qs: list[Quantity], text: str) -> list[Quantity]:
    """ "fourteen pounds fifty" is £14.50: a whole amount in a currency's
    word followed by a figure of 1 to 99 with no unit (or in pence or
    cents) is one amount; likewise a duration and a part of its unit ("6
    hours and 30 minutes" is 6.5 hours)."""
    out: list[Quantity] = []
    i = 0
    while i < len(qs):
        q = qs[i]
        r = qs[i + 1] if i + 1 < len(qs) else None
        if r is not None and q.unit in CURRENCIES and q.per is None and text[q.end - 1].isalpha() \
                and q.value == int(q.value) and _AND_GAP.fullmatch(text, q.end, r.start) is not None:
            cents = None
            if r.unit is None and r.value == int(r.value) and 1 <= r.value <= 99 \
                    and _CENTS_WORDS.search(text, r.start, r.end) is not None:
                cents = r.value / 100
            elif (r.unit == "cent" or (r.unit == q.unit and r.written is not None)) and r.value < 1:
                cents = r.value
            if cents is not None:
                out.append(Quantity(q.value + cents, q.unit, r.per, q.start, r.end))
                i += 2
                continue
        if r is not None and q.unit in _DURATION_UNITS and r.unit == q.unit and q.per is None and r.per is None \
                and r.value < _factor(q) and _factor(r) < _factor(q) \
                and _AND_GAP.fullmatch(text, q.end, r.start) is not None:
            # "6 hours and 30 minutes" is 6.5 hours, "1 year and 6 months" 18 months
            out.append(Quantity(q.value + r.value, q.unit, None, q.start, r.end, None, None))
            i += 2
            continue
        out.append(q)
        i += 1
    return out


# A share in words before "of" is a percentage: "two-fifths of the price" is
# 40%, "a third of the fee" 33.3...%, "half of the deposit" 50%.
_DENOMINATORS = {"half": 2, "halve": 2, "third": 3, "quarter": 4, "fourth": 4, "fifth": 5, "sixth": 6,
                 "eighth": 8, "tenth": 10}
_FRACTION_WORDS = frozenset([*_DENOMINATORS, *(d + "s" for d in _DENOMINATORS)])
_FRACTION = re.compile(r"\b(?:(?P<n>a|one|two|three|four|five|six|seven|nine)[\s-]+)?(?P<d>"
                       + "|".join(_DENOMINATORS) + r")s?\s+of\b", re.IGNORECASE)


def _fractions(text: str) -> list[Quantity]:
    out = []
    for m in _FRACTION.finditer(text):
        n, d = (m.group("n") or "").lower(), m.group("d").lower()
        if not n and d != "half":
            continue  # "third of" alone is an ordinal ("the third of May")
        count = 1 if n in ("", "a", "one") else _SMALL[n]
        out.append(Quantity(100.0 * count / _DENOMINATORS[d], "percent", None, m.start(), m.end("d")))
    return out


_PER_YEAR = {"day": 365.0, "night": 365.0, "week": 52.0, "month": 12.0, "year": 1.0}
_EVERY = re.compile(r"\bevery\s+$", re.IGNORECASE)


def _frequencies(qs: list[Quantity], text: str, low: bool | None = None) -> list[Quantity]:
    """How often, as times a year: "twice a year" and "every six months"
    are one fact (2), as are "every 12 months" and "once a year". A count
    with a period becomes the frequency; "every N <period>" adds one."""
    out = []
    for q in qs:
        if q.unit == "times" and q.per in _PER_YEAR:
            q = Quantity(q.value * _PER_YEAR[q.per], "frequency", None, q.start, q.end, None, q.value)
        elif q.unit in ("time", "months") and q.per is None and q.value and every_before(text, q.start):
            days = q.value * (30.4375 if q.unit == "months" else 1)
            out.append(Quantity(round(365.25 / days, 3), "frequency", None, q.start, q.end))
        out.append(q)
    taken = [(q.start, q.end) for q in out]
    for m in bare_frequencies(text, low):
        if not any(s < m.end() and m.start() < e for s, e in taken):
            period = (m.group(1) or _ADVERB_PERIOD[m.group(2).lower()]).lower()
            out.append(Quantity(_PER_YEAR[period], "frequency", None, m.start(), m.end()))
    out.sort(key=lambda q: q.start)
    return out


_ADVERB_PERIOD = {"daily": "day", "nightly": "night", "weekly": "week", "monthly": "month", "yearly": "year",
                  "annually": "year"}
#: How often without a figure: "every year" is once a year, "once a month" 12
#: times, "collected weekly" 52 (an adverb of frequency after its verb; "a
#: monthly fee" is a price's period, which _adjective_rates reads).
BARE_FREQUENCY = re.compile(r"\b(?:every|once\s+(?:a|an|per|each|every))\s+(day|night|week|month|year)\b(?!s)"
                            rf"|(?<=[a-z] )({'|'.join(_ADVERB_PERIOD)})(?=\s*(?:[.,;:!?)]|$|\s(?:on|in|at|by|from|and|or|until|for)\b))",
                            re.IGNORECASE)
BARE_FREQUENCY_CS = re.compile(BARE_FREQUENCY.pattern)
# Where a match of BARE_FREQUENCY can start: its first word.
_FREQUENCY_FIRST = ("every", "once", *_ADVERB_PERIOD)


def bare_frequencies(text: str, low: bool | None = None):
    """BARE_FREQUENCY's matches in `text`, in order. On a lower-case text it
    is tried only where one of its first words occurs (found by str.find):
    its leading \\b and lookbehind made finditer try it at every character,
    about 25 us a KB of source. `low`: text.islower(), when known."""
    if not (text.islower() if low is None else low):
        return BARE_FREQUENCY.finditer(text)
    starts = []
    for w in _FREQUENCY_FIRST:
        at = text.find(w)
        while at >= 0:
            starts.append(at)
            at = text.find(w, at + 1)
    out = []
    end = 0
    for at in sorted(starts):
        if at >= end and (m := BARE_FREQUENCY_CS.match(text, at)) is not None:
            out.append(m)
            end = m.end()
    return out


def every_before(text: str, at: int) -> bool:
    """Whether "every" and some space end at `at`: _EVERY.search(text, 0, at)
    read backwards from `at`, where the search scanned the whole text before
    each figure."""
    j = at
    while j > 0 and text[j - 1].isspace():
        j -= 1
    if j == at or j < 5 or text[j - 5:j].lower() != "every":
        return False
    return j == 5 or not _word_char(text[j - 6])


_BIRTHDAY = re.compile(r"(\d{1,3})(?:st|nd|rd|th)\s+birthday\b", re.IGNORECASE)


def _birthdays(qs: list[Quantity], text: str) -> list[Quantity]:
    """An "Nth birthday" is the age N: "until their 75th birthday" gives the
    75 of "until you turn 75" (an ordinal is otherwise not a number)."""
    out = list(qs)
    for m in _BIRTHDAY.finditer(text):
        n = float(m.group(1))
        out.append(Quantity(n * 12, "months", None, m.start(), m.end(), None, n))
    return sorted(out, key=lambda q: q.start)


_COUNT_PERIOD_WORDS = frozenset(["day", "night", "week", "month", "year", "daily", "nightly", "weekly", "monthly",
                                 "yearly", "annual"])
# A count of things per period: "two guest passes a month", "4 guests a
# year", "8 weekly lessons" (a rate adjective before the things). The words
# between are the things counted (one to three, no function word), and the
# period ends the phrase.
_COUNT_PER = _Lazy(
    r"(?:\s+(?!(?:a|an|the|per|each|every|and|or|to|for|of|in|at|on|with|is|are|was|were|be|can|may|must|will)\b)"
    r"[a-z][\w-]*){1,3}\s+(?:a|an|per|each|every)\s+(day|night|week|month|year)\b"
    r"(?=\s*(?:[.,;:!?)]|$|\s(?:and|or|at|for|with|in|on|from|until|each|per|plus|along)\b))"
    r"|\s+(daily|nightly|weekly|monthly|yearly|annual)\s+(?=\w)",
    re.IGNORECASE)
_ADJECTIVE_PERIOD = {"daily": "day", "nightly": "night", "weekly": "week", "monthly": "month", "yearly": "year",
                     "annual": "year"}


def _count_rates(qs: list[Quantity], text: str) -> list[Quantity]:
    """A bare count followed by what is counted and a period is that rate
    (_COUNT_PER): "two guest passes a month" is not "two ... a year"."""
    out = []
    for q in qs:
        if q.unit is None and q.per is None:
            m = _COUNT_PER.match(text, q.end)
            if m is not None:
                q = q._replace(per=(m.group(1) or _ADJECTIVE_PERIOD[m.group(2).lower()]).lower())
        out.append(q)
    return out


_MEASURES = frozenset(["mass", "length", "area", "volume", "energy", "power", "data"])
_PER_UNIT = re.compile(r"\s*(?:per|a|an|each|/)\s*(" + "|".join(
    re.escape(u) for u in sorted(_UNITS, key=len, reverse=True) if _UNITS[u][0] in _MEASURES)
    + r")(?![\w²³])|\s*per\s+pound\b(?!s)",  # "$9 per pound": after "per", a pound is a weight
    re.IGNORECASE)


def _unit_rates(qs: list[Quantity], text: str) -> list[Quantity]:
    """A price per unit of a measure is that rate: "£1.87 per cubic metre"
    is not "£1.87 per litre", "32p per kWh" not "32p per kW". Its period,
    if any, gives way: the measure is what a reader compares first."""
    out = []
    for q in qs:
        if q.unit in CURRENCIES or q.unit == "cent":
            m = _PER_UNIT.match(text, q.end)
            if m is not None:
                dim, factor = _UNITS[m.group(1).lower()] if m.group(1) else _UNITS["lb"]
                q = q._replace(per=f"{dim}/{factor:g}", end=m.end())  # the unit is the rate's, not a name
        out.append(q)
    return out


_RATE_WORDS = frozenset(["annual", "annually", "yearly", "monthly", "weekly", "daily", "nightly"])
_RATE_PER = {"annual": "year", "annually": "year", "yearly": "year", "monthly": "month", "weekly": "week",
             "daily": "day", "nightly": "night"}
_RATE_BEFORE = re.compile(r"\b(annual|yearly|monthly|weekly|daily|nightly)\b[^,;.\d]{0,30}$", re.IGNORECASE)
_RATE_AFTER = re.compile(r"\s*(annually|yearly|monthly|weekly|daily|nightly)\b", re.IGNORECASE)


def _adjective_rates(qs: list[Quantity], text: str) -> list[Quantity]:
    """A price or a percentage a rate adjective qualifies is that rate: "an
    annual management charge of 0.35%" is 0.35% a year, "$35 monthly" $35
    a month."""
    out = []
    for q in qs:
        if q.per is None and (q.unit in CURRENCIES or q.unit in ("percent", "cent")):
            m = _RATE_AFTER.match(text, q.end) or _RATE_BEFORE.search(text, max(0, q.start - 40), q.start)
            if m is not None:
                q = q._replace(per=_RATE_PER[m.group(1).lower()])
        out.append(q)
    return out


_RANGE = re.compile(r"^\s*(?:to|-|–)\s*$", re.IGNORECASE)
_BETWEEN = re.compile(r"\bbetween\s*$", re.IGNORECASE)


def _ranges(qs: list[Quantity], text: str) -> list[Quantity]:
    """Both ends of "3 to 5 days", "4-6 hours", "between 23 kg and 32 kg" carry the range."""
    out = list(qs)
    for i in range(len(out) - 1):
        a, b = out[i], out[i + 1]
        if a.is_date or b.is_date or a.unit != b.unit or a.value > b.value:
            continue
        gap = text[a.end:b.start]
        if _RANGE.match(gap) or (gap.strip().lower() == "and" and _BETWEEN.search(text, 0, a.start)):
            within = (a.value, b.value)
            out[i] = a._replace(within=within)
            out[i + 1] = b._replace(within=within)
    return out
