"""Hidden carriers, encoded payloads and payload splitting, read on the RAW text.

Normalisation drops invisible characters and keeps markup, so these checks
look at the text as sent. Most of them ask one question of a region: does the
phrase scanner of :mod:`.signals` (passed in as ``phrase_hits``, so this module
never imports it) find an instruction inside? An ordinary HTML comment, a
hidden menu or a base64 image is not evidence; an instruction hidden in one is.

``html-comment`` - hidden-carrier
    A phrase signal inside ``<!-- ... -->``.
``hidden-css`` - hidden-carrier
    A phrase signal inside an element styled invisible: ``display:none``,
    ``visibility:hidden``, ``font-size:0``, ``opacity:0``, white text
    (``color:#fff``/``white``), or ``hidden``/``aria-hidden`` attributes.
``invisible-text`` - hidden-carrier
    Zero-width or invisible format characters between Latin letters (three or
    more: a word split to dodge filters) or a long run of them (a binary
    code); strong when a phrase signal overlaps them.
``unicode-tags`` - hidden-carrier
    Unicode tag characters (U+E0020-E007E), which render as nothing but spell
    ASCII ("ASCII smuggling"). Four or more fire; strong when what they spell
    holds an instruction. A lone flag emoji sequence (tags after U+1F3F4) does not.
``exfil-url`` - hidden-carrier
    A markdown image or link (or ``<img src>``) whose URL carries data: a query
    with a placeholder (``{...}``, ``$VAR``, ``[DATA]``), a parameter named for
    conversation data (``q``/``data``/``chat``/``secret``/...) filled by a
    template, or a long opaque value (40+ base64/hex characters).
``encoded-payload`` - encoded
    Base64 (16+ characters), hex (16+ bytes, plain or ``\\x``-escaped) or
    rot13 that decodes to text holding an instruction; or a request to decode
    something and then follow it. At most 8 candidates of at most 4 KB are
    decoded, each scanned once (decoded text is never decoded again).
``split-payload`` - payload-splitting
    Quoted fragments that form an instruction only when joined, in a text that
    asks to join them (``a + b``, "concatenate", "combine", "join").
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from guardrails.detectors.injection.triggers import Words, finditer, windows
from guardrails.detectors.normalize import NormalizedText

__all__ = ["CARRIER_FAMILIES", "CARRIER_SIGNALS", "Hit", "scan_carriers"]


class Hit(NamedTuple):
    """A signal before its family is attached: name, score, span."""

    name: str
    score: float
    start: int
    end: int


class Located(Protocol):
    start: int
    end: int
    score: float


PhraseScanner = Callable[[str, "NormalizedText | None"], list[Hit]]


@dataclass(frozen=True, slots=True)
class _Raw:
    """The text as the carriers search it: the ``str`` (for spans and regexes),
    its lower case, both as UTF-8 too (for substring tests: on a text with any
    non-Latin-1 character a ``str`` search is several times slower than a
    ``bytes`` one, and UTF-8 keeps every occurrence of a literal), its
    normalised words (distinct) or None (see :class:`_Letters`), and whether
    ``caseless`` holds: the text has none of the four characters (İ ı ſ K) that
    Python's ``re`` matches to an ASCII letter case-insensitively, so
    ``lower`` keeps every position and a case-insensitive pattern of lower-case
    ASCII finds the same spans in ``lower`` without the flag, much faster."""

    text: str
    utf8: bytes
    lower: str
    lower_utf8: bytes
    words: frozenset[bytes] | None
    caseless: bool

    @classmethod
    def of(cls, text: str, words: frozenset[bytes] | None) -> _Raw:
        utf8 = text.encode("utf-8", "surrogatepass")
        lower = text.lower()
        if text.isascii():
            return cls(text, utf8, lower, utf8.lower(), words, True)
        caseless = not any(c in utf8 for c in _CASE_SPECIAL)
        return cls(text, utf8, lower, lower.encode("utf-8", "surrogatepass"), words, caseless)


_CASE_SPECIAL = tuple(c.encode() for c in "\u0130\u0131\u017f\u212a")


def _without_case(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """``pattern`` without IGNORECASE, for :attr:`_Raw.lower` (its letters must be lower case)."""
    if any(c.isupper() for c in pattern.pattern):
        raise ValueError(f"{pattern.pattern[:40]!r}: a pattern run over the lower case must be lower case")
    return re.compile(pattern.pattern, pattern.flags & ~re.IGNORECASE)


CARRIER_SIGNALS: dict[str, str] = {
    "html-comment": "an instruction hidden in an HTML comment",
    "hidden-css": "an instruction in an element styled invisible (display:none, white text, size 0)",
    "invisible-text": "zero-width or invisible characters splitting words or encoding data",
    "unicode-tags": "Unicode tag characters: invisible text that spells ASCII",
    "exfil-url": "a markdown image/link URL built to carry conversation data out",
    "encoded-payload": "base64, hex or rot13 that decodes to an instruction, or 'decode and follow'",
    "split-payload": "quoted fragments that form an instruction when joined",
}
CARRIER_FAMILIES: dict[str, str] = {
    "html-comment": "hidden-carrier",
    "hidden-css": "hidden-carrier",
    "invisible-text": "hidden-carrier",
    "unicode-tags": "hidden-carrier",
    "exfil-url": "hidden-carrier",
    "encoded-payload": "encoded",
    "split-payload": "payload-splitting",
}

MAX_CANDIDATES = 8
MAX_CANDIDATE_CHARS = 4096
_MAX_REGIONS = 64
_HIDDEN_SPAN = 2000
_SCAN = 0


def _inside(found: Sequence[Located], start: int, end: int) -> float:
    """The strongest phrase signal within ``[start, end)``, or 0."""
    return max((f.score for f in found if start <= f.start and f.end <= end), default=0.0)


# --- markup carriers -------------------------------------------------------------

_HIDING_TAG = re.compile(
    r"<(?P<tag>[a-z][a-z0-9]{0,15})\b[^>]{0,512}?(?:style\s*=\s*[\"'][^\"'>]{0,512}?"
    r"(?:display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?![.\d]*[1-9])|"
    r"opacity\s*:\s*0(?![.\d]*[1-9])|(?<![-\w])color\s*:\s*(?:#fff(?:fff)?\b|white\b|"
    r"rgb\(\s*255\s*,\s*255\s*,\s*255\s*\)))|\shidden(?:\s|>|=)|aria-hidden\s*=\s*[\"']true)"
    r"[^>]{0,512}>",
    _SCAN | re.IGNORECASE,
)


def _markup(raw: _Raw, found: Sequence[Located]) -> list[Hit]:
    text = raw.text
    hits: list[Hit] = []
    if b"<" not in raw.utf8:
        return hits
    if b"<!--" in raw.utf8:
        # str.find, not a lazy regex: an unclosed "<!--" repeated must stay linear.
        i = text.find("<!--")
        for _ in range(_MAX_REGIONS):
            if i < 0:
                break
            close = text.find("-->", i + 4)
            end = len(text) if close < 0 else close + 3
            score = _inside(found, i, end)
            if score > 0:
                hits.append(Hit("html-comment", min(0.5 + score, 0.95), i, end))
            i = text.find("<!--", end)
    low, low8 = raw.lower, raw.lower_utf8
    if b"style" in low8 or b"hidden" in low8:
        spans = windows(low, ("style", "hidden"), before=600, after=600)
        tags = (m for s, e in spans for m in _HIDING_TAG.finditer(low, s, e))
        for i, m in enumerate(tags):
            if i >= _MAX_REGIONS:
                break
            close = text.find(f"</{m.group('tag')}", m.end(), m.end() + _HIDDEN_SPAN)
            end = close if close >= 0 else min(len(text), m.end() + _HIDDEN_SPAN)
            score = _inside(found, m.end(), end)
            if score > 0:
                hits.append(Hit("hidden-css", min(0.5 + score, 0.95), m.start(), end))
    return hits


# --- invisible characters and tag characters --------------------------------------

_INVISIBLE = "\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u180e"
_SPLIT_WORD = re.compile(rf"[A-Za-z][{_INVISIBLE}]+(?=[A-Za-z])")
_INVISIBLE_RUN = re.compile(rf"[{_INVISIBLE}]{{16,}}")
_TAGS = re.compile(r"[\U000e0000-\U000e007f]{4,}")
# Whether any occurs: one class scan of the str (ten substring tests of the UTF-8 cost
# several times more, each a pass over it), none at all for an ASCII text.
_INVISIBLE_CHAR = re.compile(f"[{_INVISIBLE}]")
_TAGS_UTF8 = b"\xf3\xa0"  # how U+E0000-U+E0FFF, tag characters included, start in UTF-8


def _invisible(raw: _Raw, found: Sequence[Located], phrase_hits: PhraseScanner) -> list[Hit]:
    text = raw.text
    hits: list[Hit] = []
    if not text.isascii() and _INVISIBLE_CHAR.search(text):
        splits = [m.span() for _, m in zip(range(256), _SPLIT_WORD.finditer(text))]
        if len(splits) >= 3:
            start, end = splits[0][0], splits[-1][1] + 1
            score = _overlap(found, splits)
            hits.append(Hit("invisible-text", 0.95 if score else 0.4, start, end))
        for _, m in zip(range(_MAX_REGIONS), _INVISIBLE_RUN.finditer(text)):
            hits.append(Hit("invisible-text", 0.6, *m.span()))
    if _TAGS_UTF8 in raw.utf8:
        for _, m in zip(range(MAX_CANDIDATES), _TAGS.finditer(text)):
            run = m.group()
            if run[0] != "\U000e0001" and m.start() > 0 and text[m.start() - 1] == "\U0001f3f4":
                continue  # a subdivision flag such as England's
            spelled = "".join(chr(ord(c) - 0xE0000) for c in run[:MAX_CANDIDATE_CHARS])
            inner = max((h.score for h in phrase_hits(spelled, None)), default=0.0)
            hits.append(Hit("unicode-tags", 0.95 if inner >= 0.5 else 0.7, *m.span()))
    return hits


def _overlap(found: Sequence[Located], spans: list[tuple[int, int]]) -> float:
    return max(
        (f.score for f in found for s, e in spans if f.start < e and s < f.end),
        default=0.0,
    )


# --- exfiltration by URL ------------------------------------------------------------

_MD_URL = re.compile(
    r"!?\[[^\]\n]{0,256}\]\(\s*(?P<u>https?://(?:\{[^}\n]{0,64}\}|[^\s)]){1,2048})|"
    r"<img\b[^>]{0,512}?\ssrc\s*=\s*[\"'](?P<i>https?://[^\"'\s>]{1,2048})",
    _SCAN | re.IGNORECASE,
)
_PLACEHOLDER = re.compile(
    r"\{[^}]{0,64}\}|\$\{?[A-Za-z_]|\[[A-Z_ ]{3,40}\]|%7B|<[A-Za-z_ ]{3,40}>|\bINSERT\b|YOUR_",
    _SCAN,
)
_DATA_PARAM = re.compile(
    r"[?&](?:q|d|data|chat|conversation|history|context|memory|secret|password|token|key|"
    r"apikey|api_key|prompt|summary|msg|message|info|payload|email|user)=(?P<v>[^&#\s]*)",
    _SCAN | re.IGNORECASE,
)
_OPAQUE = re.compile(r"[A-Za-z0-9+/_=%-]{40,}")


def _exfil(raw: _Raw) -> list[Hit]:
    text = raw.text
    if b"http" not in raw.utf8:
        return []
    hits: list[Hit] = []
    urls = finditer(_MD_URL, text, ("](", "<img", "<IMG"), before=300, after=2100)
    for _, m in zip(range(_MAX_REGIONS), urls):
        url = m.group("u") or m.group("i")
        if "?" not in url and "{" not in url and "$" not in url:
            continue
        image = m.group().startswith(("!", "<"))
        if _PLACEHOLDER.search(url):
            score = 0.9 if image else 0.75
        elif any(_OPAQUE.fullmatch(p.group("v")) for p in _DATA_PARAM.finditer(url)):
            score = 0.6 if image else 0.45
        else:
            continue
        hits.append(Hit("exfil-url", score, *m.span()))
    return hits


# --- encoded payloads -----------------------------------------------------------------

_BASE64 = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{16,}={0,2}", _SCAN)
_HEX = re.compile(
    r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}){16,}(?![0-9A-Fa-f])|"
    r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[:,]){8,}[0-9A-Fa-f]{2}(?![0-9A-Fa-f])"
)
# Escaped or space-separated hex crosses whitespace: looked for only when the
# text has "\\x" or mentions hex, so prose with numbers skips it.
_SPACED_HEX = re.compile(
    r"(?:\\x[0-9A-Fa-f]{2}){8,}|(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2} ){8,}[0-9A-Fa-f]{2}(?![0-9A-Fa-f])"
)
_DECODE_KEYS = ("ecod", "ase64", "ot13", "ot-13", "hex", "HEX", "ecipher", "ekodier")
_DECODE_KEYS_UTF8 = tuple(k.encode() for k in _DECODE_KEYS)
_DECODE_OTHER_UTF8 = (b"ase64", b"ot13", b"ot-13")
_ROT13_KEYS = ("vtaber", "qvfertneq", "sbetrg", "vafgehpgvbaf", "cerivbhf", "flfgrz", "cebzcg",
               "eriryny", "bireevqr", "ehyrf")
_MEMO = 1 << 14  # words remembered per gate: a bound on memory, not on correctness


class _Letters:
    """Whether an ASCII text may hold one of some lower-case letter literals in
    its lower case, asked of the distinct words of its normalised text
    (:attr:`_Raw.words`): normalising an ASCII text lower-cases it and changes
    no letter, so a run of letters of the text lies inside one of those words.
    A superset: the caller's substring test or regex decides. The words of a text
    that holds none of the literals are remembered, so the common case is one set
    difference over the text's words (cheaper than a substring test per literal
    over the text); only the words not seen before are joined and tested. A
    non-ASCII text (``words`` None) may hold any."""

    __slots__ = ("_plain", "literals")

    def __init__(self, *literals: bytes) -> None:
        if not all(k.isalpha() and k.islower() for k in literals):
            raise ValueError("a word gate's literals are lower-case letters only")
        self.literals = literals
        self._plain: set[bytes] = set()

    def may_hold(self, words: frozenset[bytes] | None) -> bool:
        if words is None:
            return True
        unseen = words.difference(self._plain)
        if not unseen:
            return False
        # new words joined, so that a text of many (ids, hashes) costs C-speed tests
        joined = b" ".join(unseen)
        if any(k in joined for k in self.literals):
            return True
        if len(self._plain) < _MEMO:
            self._plain.update(unseen)
        return False


# The letters of _DECODE_KEYS' letters-only keys (the others are tested as they are).
_DECODE_LETTERS = _Letters(b"ecod", b"hex", b"ecipher", b"ekodier")
_HEX_LETTERS = _Letters(b"hex")
_ROT13_LETTERS = tuple(k.encode() for k in _ROT13_KEYS)
_ROT13_WORDS = _Letters(*_ROT13_LETTERS)


_DECODE_AND_FOLLOW = re.compile(
    r"\b(?:decode|base64|rot-?13|hex|decipher|dekodiere|decodifica|decode[zr]?)\b[^.\n]{0,60}?"
    r"\b(?:and|then|puis|et|und|dann|y|luego)\b[^.\n]{0,20}?\b(?:follow|execute|run|obey|do|"
    r"carry out|act on|apply|suis|suivez|execute[zr]?|befolge|fuhre|sigue|ejecuta)\b",
    _SCAN | re.IGNORECASE,
)
_DECODE_AND_FOLLOW_LOWER = _without_case(_DECODE_AND_FOLLOW)

# Base64 and hex characters (and hex's separators) -> "x", every other byte -> " ".
_ENCODED_BYTES = bytes.maketrans(
    bytes(range(256)),
    bytes(120 if c < 128 and (chr(c).isalnum() or chr(c) in "+/_-:,") else 32 for c in range(256)),
)
_RUN_OF_16 = b"x" * 16


def _printable_text(data: bytes) -> str | None:
    try:
        s = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not s or sum(c.isprintable() or c in "\n\r\t" for c in s) < 0.9 * len(s):
        return None
    return s if sum(c.isalpha() for c in s) >= 0.5 * len(s.replace(" ", "")) else None


def _decode_base64(s: str) -> bytes | None:
    s = s.rstrip("=")
    s += "=" * (-len(s) % 4)
    try:
        if "-" in s or "_" in s:
            return base64.urlsafe_b64decode(s)
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        return None


def _decode_hex(s: str) -> bytes | None:
    digits = re.sub(r"\\x|[ :,]", "", s)
    try:
        return bytes.fromhex(digits)
    except ValueError:
        return None


def _encoded(raw: _Raw, phrase_hits: PhraseScanner) -> list[Hit]:
    text, words = raw.text, raw.words
    hits: list[Hit] = []
    candidates: list[tuple[int, int, bytes | None]] = []
    # Only whitespace-free tokens of 16+ characters can hold a candidate; finding
    # them with str.split is much cheaper than running the regexes over prose.
    # Finding each long token after the previous one is exact: a long token
    # cannot hide inside the short ones between them. Before that, one translate
    # tells whether the text has 16 characters of the two alphabets in a row at
    # all (prose and most URLs do not), without splitting it.
    pos = 0
    long_tokens: list[str] = []
    if _RUN_OF_16 in raw.utf8.translate(_ENCODED_BYTES):
        tokens = text.split()
        long_tokens = [w for w in tokens if len(w) >= 16]
    for token in long_tokens:
        if len(candidates) >= 2 * MAX_CANDIDATES:
            break
        at = text.find(token, pos)
        pos = at + len(token)
        for m in _BASE64.finditer(text, at, pos):
            s = m.group()
            # Words are not base64: a real payload mixes case and digits or symbols.
            if len(s) > MAX_CANDIDATE_CHARS or s.isalpha() and (s.islower() or s.isupper()):
                continue
            if text[max(0, m.start() - 8) : m.start()].endswith("base64,"):
                continue  # a data: URI (an image, a font)
            candidates.append((m.start(), m.end(), _decode_base64(s)))
        for m in _HEX.finditer(text, at, pos):
            if len(m.group()) <= MAX_CANDIDATE_CHARS:
                candidates.append((m.start(), m.end(), _decode_hex(m.group())))
    low8 = raw.lower_utf8
    if b"\\x" in raw.utf8 or (_HEX_LETTERS.may_hold(words) and b"hex" in low8):
        for _, m in zip(range(MAX_CANDIDATES), _SPACED_HEX.finditer(text)):
            if len(m.group()) <= MAX_CANDIDATE_CHARS:
                candidates.append((m.start(), m.end(), _decode_hex(m.group())))
    decoded = 0
    for start, end, data in candidates:
        if data is None or decoded >= MAX_CANDIDATES:
            continue
        decoded += 1
        plain = _printable_text(data)
        if plain is None:
            continue
        inner = max((h.score for h in phrase_hits(plain, None)), default=0.0)
        if inner >= 0.5:
            hits.append(Hit("encoded-payload", min(0.4 + inner, 0.95), start, end))
    rot13 = len(text) <= 8 * MAX_CANDIDATE_CHARS and _ROT13_WORDS.may_hold(words)
    if rot13 and any(k in low8 for k in _ROT13_LETTERS):
        inner = [h for h in phrase_hits(codecs.encode(text, "rot13"), None) if h.score >= 0.5]
        if inner:
            hits.append(Hit("encoded-payload", 0.85, 0, len(text)))
    if (_DECODE_LETTERS.may_hold(words) and any(k in raw.utf8 for k in _DECODE_KEYS_UTF8)) or any(
        k in raw.utf8 for k in _DECODE_OTHER_UTF8
    ):
        hits.extend(Hit("encoded-payload", 0.6, start, end) for start, end in _decode_and_follow(raw))
    return hits


def _decode_and_follow(raw: _Raw) -> list[tuple[int, int]]:
    """The spans of ``_DECODE_AND_FOLLOW.finditer(text)`` (over the lower case
    when :attr:`_Raw.caseless`: the flag makes the search several times slower)."""
    if raw.caseless:
        return [m.span() for m in _DECODE_AND_FOLLOW_LOWER.finditer(raw.lower)]
    return [m.span() for m in _DECODE_AND_FOLLOW.finditer(raw.text)]


# --- payload splitting ------------------------------------------------------------------

# A request to join fragments: a sum of two words, or a verb of joining. Two
# patterns, so that the sum is looked for only around each "+" (searched for
# across a long text, it tries 16 word characters at every word).
_JOIN_SUM = re.compile(r"\b\w{1,16} ?\+ ?\w{1,16}\b")
_JOIN_WORD = re.compile(
    r"\b(?:concatenat\w*|combine|join|put together|merge|assemble|kombiniere|verbinde|concatene[rz]?|"
    r"combina|une|junta)\b",
    _SCAN | re.IGNORECASE,
)
_JOIN_WORD_LOWER = _without_case(_JOIN_WORD)
_SUM_REACH = 16 + 1  # a sum's match holds at most this many characters on each side of its "+"
# A letters-only part of each word _JOIN_WORD names.
_JOIN_LETTERS = _Letters(b"concaten", b"combin", b"join", b"together", b"merge", b"assemble",
                         b"kombiniere", b"verbinde", b"une", b"junta")
_QUOTED = re.compile(r"[\"'“‘]([^\"'“”‘’\n]{1,200})[\"'”’]", _SCAN)
_MAX_FRAGMENTS = 16


def _joins(raw: _Raw) -> bool:
    """Whether the text asks to join fragments: a _JOIN_SUM match (looked for
    around each "+", with room for the boundary after it) or a _JOIN_WORD one."""
    text = raw.text
    i = text.find("+")
    while i >= 0:
        # A match found here that starts after this "+" could end at the window's
        # edge, a boundary the text does not have: only one starting before counts.
        m = _JOIN_SUM.search(text, max(0, i - _SUM_REACH), i + _SUM_REACH + 2)
        if m is not None and m.start() < i:
            return True
        i = text.find("+", i + 1)
    if not _JOIN_LETTERS.may_hold(raw.words):
        return False
    if raw.caseless:
        return _JOIN_WORD_LOWER.search(raw.lower) is not None
    return _JOIN_WORD.search(text) is not None


def _split(raw: _Raw, phrase_hits: PhraseScanner) -> list[Hit]:
    text, utf8 = raw.text, raw.utf8
    if not (b'"' in utf8 or b"'" in utf8 or "“".encode() in utf8):
        return []
    if not _joins(raw):
        return []
    frags = [m for _, m in zip(range(_MAX_FRAGMENTS), _QUOTED.finditer(text))]
    if len(frags) < 2:
        return []
    parts = [m.group(1).strip() for m in frags]
    if any(h.score >= 0.5 for p in parts for h in phrase_hits(p, None)):
        return []  # a fragment says it alone: the phrase signal already covers it
    for sep in (" ", ""):
        joined = sep.join(parts)
        if any(h.score >= 0.5 and h.name in _SPLIT_NAMES for h in phrase_hits(joined, None)):
            return [Hit("split-payload", 0.85, frags[0].start(), frags[-1].end())]
    return []


_SPLIT_NAMES = frozenset({"override", "roleplay", "prompt-leak", "spoofed-system", "exfil-request"})


def scan_carriers(
    text: str, found: Sequence[Located], phrase_hits: PhraseScanner, words: Words | None = None
) -> list[Hit]:
    """The carrier signals of ``text``, in original coordinates.

    ``found`` are the phrase signals already found on the whole text (original
    coordinates); ``phrase_hits(text, None)`` scans a decoded or joined string.
    ``words`` are the words of ``normalize(text).text`` (``triggers.text_words``),
    when the caller has them: an ASCII text's substring tests for letters are
    then asked of its distinct words first (:class:`_Letters`).
    """
    raw = _Raw.of(text, words.words if words is not None and text.isascii() else None)
    hits = _markup(raw, found) + _exfil(raw) + _encoded(raw, phrase_hits)
    hits += _split(raw, phrase_hits)
    if not text.isascii():
        hits += _invisible(raw, found, phrase_hits)
    return hits
