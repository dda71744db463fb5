"""The learned half of ``injection()``: a logistic regression over hashed n-grams.

The model reads the evasion-normalised text (:func:`guardrails.detectors.normalize.normalize`)
and turns it into hashed features, all computed with numpy in a few vectorised passes:

- character 3-, 4- and 5-grams of the text padded with one space on each side;
- word unigrams and bigrams. A word is a run of letters or digits; a CJK ideograph,
  kana or hangul syllable is a word of its own, so Chinese gets unigrams and bigrams
  of characters.

Each n-gram is hashed with a position-independent polynomial hash modulo 2**64,
salted by its kind, mixed (the splitmix64 finaliser) and reduced to ``2**BITS``
buckets. A text's score is ``sigmoid(b + sum(w[bucket]) / sqrt(n))`` over its ``n``
feature occurrences. A text longer than ``WINDOW`` characters is scored in windows
of ``WINDOW`` characters every ``STRIDE`` and keeps the highest window, so an
instruction buried in a long document is not diluted by the document around it.

The featuriser here is the one ``scripts/train_injection.py`` trains with; it
imports :func:`features` so training and scoring cannot drift apart.
``FEATURE_VERSION`` is stored in the weights file and checked on load.

Why one module: the featuriser training reads and the two scoring paths that
must reproduce it to the last bit (:func:`short_sum` for a text of one window,
:func:`window_max` for a longer one) share the hash constants, the power and
word tables and the layouts; apart, the scoring paths would reach into the
featuriser's private tables or copy them, and the tests that compare them
would compare two modules' copies.

Nothing here is imported by ``import guardrails``: :func:`load_model` is called
the first time a policy evaluates ``injection()``.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import pathlib
import re
import zipfile
from itertools import pairwise

import numpy as np

from guardrails.detectors.base import DetectorError
from guardrails.detectors.normalize import normalize

__all__ = [
    "BITS",
    "FEATURE_VERSION",
    "MODEL_PATH",
    "STRIDE",
    "WINDOW",
    "InjectionModel",
    "feature_parts",
    "features",
    "load_model",
    "short_sum",
    "window_max",
    "window_scores",
    "window_starts",
]

MODEL_PATH = pathlib.Path(__file__).with_name("weights.npz")

BITS = 18
FEATURE_VERSION = 1
WINDOW = 128
STRIDE = 32
SHORT = 2 * WINDOW  # padded lengths up to this take the few-calls feature path

_SHIFT = 64 - BITS
_P = 0x100000001B3  # FNV-64 prime: odd, so invertible modulo 2**64
_P_INV = pow(_P, -1, 1 << 64)
_Q = 0x9E3779B97F4A7C15  # combines two word hashes into a bigram's
# Each feature kind reduces its 64-bit hash to a bucket with its own odd
# multiplier (multiply-shift hashing: the top BITS bits of h * m), so a word
# and a character n-gram with equal polynomial hashes land in different buckets.
_M_CHAR = {3: 0x243F6A8885A308D3, 4: 0x13198A2E03707345, 5: 0xA4093822299F31D1}
_M_WORD = 0x082EFA98EC4E6C89
_M_BIGRAM = 0x452821E638D01377
# As a numpy scalar: a Python int operand costs a numpy call a conversion.
_SHIFT_U64 = np.uint64(_SHIFT)

# Code points below 128 that belong to words: ASCII letters and digits. Above 127,
# every character belongs to a word except the punctuation and space blocks below.
_ASCII_WORD = np.zeros(128, dtype=bool)
for _c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789":
    _ASCII_WORD[ord(_c)] = True
_NON_WORD_RANGES = (
    (0x80, 0xBF),  # Latin-1 controls, symbols and punctuation
    (0xD7, 0xD7),
    (0xF7, 0xF7),
    (0x2000, 0x2BFF),  # general punctuation, arrows, maths, boxes, shapes
    (0x3000, 0x303F),  # CJK punctuation
    (0xFE30, 0xFE4F),
    (0xFF00, 0xFF20),
    (0xFF3B, 0xFF40),
    (0xFF5B, 0xFF65),
)
# Scripts written without spaces: each character is a word.
_SINGLE_CHAR_RANGES = (
    (0x3040, 0x30FF),  # kana
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xAC00, 0xD7AF),  # hangul syllables
    (0xF900, 0xFAFF),
)


# The same two tests as lookup tables over the Basic Multilingual Plane; a code
# point above it is a word character, never a single-character word.
_BMP = 0x10000
_WORD_TABLE = np.ones(_BMP, dtype=bool)
_WORD_TABLE[:128] = _ASCII_WORD
for _lo, _hi in _NON_WORD_RANGES:
    _WORD_TABLE[_lo : _hi + 1] = False
_SINGLE_TABLE = np.zeros(_BMP, dtype=bool)
for _lo, _hi in _SINGLE_CHAR_RANGES:
    _SINGLE_TABLE[_lo : _hi + 1] = True


class _Powers:
    """P**j and P**-j modulo 2**64 for j < len, grown on demand (not per call)."""

    def __init__(self) -> None:
        self.forward = np.zeros(0, dtype=np.uint64)
        self.inverse = np.zeros(0, dtype=np.uint64)

    def get(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        if self.forward.shape[0] < length:
            size = max(length, 4096, 2 * self.forward.shape[0])
            forward = np.full(size, _P, dtype=np.uint64)
            forward[0] = 1
            inverse = np.full(size, _P_INV, dtype=np.uint64)
            inverse[0] = 1
            self.forward = np.cumprod(forward, dtype=np.uint64)
            self.inverse = np.cumprod(inverse, dtype=np.uint64)
        return self.forward[:length], self.inverse[:length]


_POWERS = _Powers()


def _hashes(folded: str) -> tuple[list[np.ndarray], int, np.ndarray]:
    """The 64-bit hashes of each feature kind present, in the order character 3-,
    4- and 5-grams, words, word bigrams; how many are character kinds; and where
    the words start."""
    padded = " " + folded + " "
    cp32 = np.frombuffer(padded.encode("utf-32-le"), dtype=np.uint32)
    cp = cp32.astype(np.uint64)
    length = cp.shape[0]
    pieces: list[np.ndarray] = []
    forward, inverse = _POWERS.get(length)

    # Character n-grams, h_n[i] = sum cp[i + k] * P**(n - 1 - k). A long text
    # uses Horner's rule, h_n[i] = h_{n-1}[i] * P + cp[i + n - 1]; a short one,
    # where each numpy call's overhead dominates, gets all three kinds at once
    # from one prefix sum R of cp[j] * P**-j: h_n[i] = P**(i + n - 1) * (R[i + n] - R[i]).
    if length > SHORT:
        h = cp
        for n in range(2, 6):
            h = h[:-1] * _P + cp[n - 1 :]
            if n >= 3:
                pieces.append(h)
    elif length >= 3:
        lo, hi, power = _char_layout(length)
        rprefix = np.zeros(length + 1, dtype=np.uint64)
        np.cumsum(cp * inverse, dtype=np.uint64, out=rprefix[1:])
        chars = forward[power] * (rprefix[hi] - rprefix[lo])
        at = 0
        for n in range(3, 6):
            if length >= n:
                pieces.append(chars[at : at + length - n + 1])
                at += length - n + 1

    # Words: maximal runs of word characters; a character of a script written
    # without spaces is a word of its own.
    if folded.isascii():
        # The padding makes the edges alternate: start, end, start, end, ...
        is_word = _ASCII_WORD[cp32]
        edges = np.flatnonzero(is_word[1:] != is_word[:-1]) + 1
        starts, ends = edges[0::2], edges[1::2]
    else:
        bmp = np.minimum(cp32, _BMP - 1)
        is_word = _WORD_TABLE[bmp]
        single = _SINGLE_TABLE[bmp]
        cut = (is_word[1:] != is_word[:-1]) | single[1:] | single[:-1]
        starts = np.flatnonzero(cut & is_word[1:]) + 1
        ends = np.flatnonzero(cut & is_word[:-1]) + 1
    n_chars = len(pieces)
    if starts.shape[0]:
        # Segment hashes from prefix sums: sum cp[j] * P**(j - s) for j in [s, e).
        prefix = np.zeros(length + 1, dtype=np.uint64)
        np.cumsum(cp * forward, dtype=np.uint64, out=prefix[1:])
        words = (prefix[ends] - prefix[starts]) * inverse[starts]
        pieces.append(words)
        if words.shape[0] > 1:
            pieces.append(words[:-1] * _Q + words[1:])
    return pieces, n_chars, starts


# --- the scoring path for short texts -------------------------------------------------
#
# A text of at most WINDOW padded characters is one window, scored from the sum
# of all its features' weights, in about ten numpy calls whatever it says (each
# costs about as much as a few dozen lines of Python, and dominates a short
# text's cost). Its character n-grams: the text, padded to a fixed length, times
# cached powers, one prefix sum, one gather of every n-gram's two ends (the
# length decides their indices, and their powers times their kind's multiplier:
# cached), a multiply into buckets. Its words are few (a dozen in 100 bytes) and
# are read in Python (one split, for ASCII); a word's hash and the terms of its
# buckets are remembered, and a bigram's bucket is then one addition away. All
# the buckets are gathered and summed at once. Multiplication modulo 2**64
# distributes over addition, so the buckets are the trainer's; float64 sums of
# the float16 weights are exact in any order, so the total is too.

_MASK = (1 << 64) - 1


def _ranges_class(ranges: tuple[tuple[int, int], ...]) -> str:
    return "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in ranges)


# A word as _hashes finds one: a character of a script written without spaces,
# or a run of other word characters (ASCII letters and digits, and every
# character above 127 outside the punctuation blocks). An ASCII text's words are
# split by bytes.translate instead (several times cheaper than the regex).
_WORD_RE = re.compile(
    f"[{_ranges_class(_SINGLE_CHAR_RANGES)}]"
    f"|[^\\x00-/:-@\\[-`{{-\\x7f{_ranges_class(_NON_WORD_RANGES)}{_ranges_class(_SINGLE_CHAR_RANGES)}]+"
)
_ASCII_WORD_BYTES = bytes.maketrans(
    bytes(range(256)), bytes(c if c < 128 and _ASCII_WORD[c] else 32 for c in range(256))
)


class _WordTerms(dict):  # type: ignore[type-arg]
    """word (bytes for ASCII, else str) -> (its unigram's bucket, h * Q * M_BIGRAM,
    h * M_BIGRAM) modulo 2**64, where h is the word's hash: a bigram's bucket is
    ``((a + b) mod 2**64) >> SHIFT`` of the first word's second term and the second
    word's third. Bounded: past :data:`_WORD_MEMO` words a new one is hashed and
    not kept (a miss costs about what one numpy call does)."""

    def __missing__(self, word: bytes | str) -> tuple[int, int, int]:
        h = 0
        for c in reversed(word if isinstance(word, bytes) else [ord(ch) for ch in word]):
            h = (h * _P + c) & _MASK  # sum cp[j] * P**j, by Horner's rule from the end
        terms = ((h * _M_WORD & _MASK) >> _SHIFT, h * _Q * _M_BIGRAM & _MASK, h * _M_BIGRAM & _MASK)
        if len(self) < _WORD_MEMO:
            self[word] = terms
        return terms


_WORD_MEMO = 1 << 15
_WORD_TERMS = _WordTerms()


def word_buckets(folded: str) -> list[int]:
    """The buckets of the word unigrams, then of the word bigrams, of normalised
    text (the last two kinds of ``features(folded)``), computed in Python."""
    if folded.isascii():
        words: list = folded.encode().translate(_ASCII_WORD_BYTES).split()
    else:
        words = _WORD_RE.findall(folded)
    terms = list(map(_WORD_TERMS.__getitem__, words))
    out = [u for u, _, _ in terms]
    out += [((a + b) & _MASK) >> _SHIFT for (_, a, _), (_, _, b) in pairwise(terms)]
    return out


# P**-(j - 1) at j = 1 ... WINDOW, after a 0: the text is read one place to the
# right of a code point 0, so that the prefix sum starts at 0 without a copy.
_SHIFTED_INVERSE = np.concatenate([np.zeros(1, dtype=np.uint64), _POWERS.get(WINDOW)[1]])
_SHIFTED_INVERSE.flags.writeable = False


@functools.lru_cache(maxsize=WINDOW + 1)
def _short_layout(length: int) -> tuple[np.ndarray, np.ndarray]:
    """For a padded text of ``3 <= length <= WINDOW`` characters: the rows ``[hi, lo]``
    of every character n-gram's indices into the prefix sum R of ``cp[j] * P**-j``,
    and ``P**(i + n - 1) * M_n`` for each, which turns ``R[hi] - R[lo]`` into the
    n-gram's hash times its kind's multiplier (its bucket before the shift)."""
    lo, hi, power = _char_layout(length)
    forward, _ = _POWERS.get(length)
    kinds = np.array([_M_CHAR[n] for n in (3, 4, 5)], dtype=np.uint64)
    scale = forward[power] * kinds[hi - lo - 3]
    index = np.stack([hi, lo])
    index.flags.writeable = scale.flags.writeable = False
    return index, scale


def short_sum(folded: str, weights: np.ndarray) -> tuple[float, int]:
    """``(sum(weights[features(folded)]), len(features(folded)))`` for normalised
    text whose padded length is at most WINDOW, in float64."""
    words = word_buckets(folded)
    length = len(folded) + 2
    if length < 3:
        if not words:
            return 0.0, 0
        return float(np.add.reduce(weights.take(words), None, np.float64)), len(words)
    # R[k] = sum of cp[j] * P**-j for j < k, read at R[k] = prefix[k] (prefix[0] = 0).
    # (np.add.accumulate and np.add.reduce: the methods' wrappers cost as much again)
    text = ("\0 " + folded + " ").ljust(WINDOW + 1, "\0")
    prefix = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32) * _SHIFTED_INVERSE
    np.add.accumulate(prefix, out=prefix)
    index, scale = _short_layout(length)
    ends = prefix.take(index)
    chars = ends[0] - ends[1]
    chars *= scale
    n = chars.shape[0]
    every = np.empty(n + len(words), dtype=np.uint64)
    np.right_shift(chars, _SHIFT_U64, out=every[:n])
    if words:
        every[n:] = words
    return float(np.add.reduce(weights.take(every.view(np.int64)), None, np.float64)), every.shape[0]


# The multiply-shift multipliers of the kinds present, in the merged array's
# order, by the number of character kinds (fewer than three in a tiny text).
_MULTIPLIERS = {
    k: np.array(
        [_M_CHAR[n] for n in range(3, 3 + k)] + [_M_WORD, _M_BIGRAM], dtype=np.uint64
    )
    for k in range(4)
}


@functools.lru_cache(maxsize=SHORT + 1)
def _char_layout(length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, end and power indices of every character n-gram of a padded text
    of ``3 <= length <= SHORT`` characters (cached: a short text's only cost is the call)."""
    ns = [n for n in range(3, 6) if length >= n]
    lo = np.concatenate([np.arange(length - n + 1) for n in ns])
    width = np.repeat(np.array(ns), [length - n + 1 for n in ns])
    return lo, lo + width, lo + width - 1


def feature_parts(folded: str) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """The hashed features of normalised text, by kind: ``[(buckets, anchors), ...]``.

    ``buckets`` holds bucket numbers in ``[0, 2**BITS)``. ``anchors`` gives, for
    each, the index in ``" " + folded + " "`` of the character where its n-gram
    starts; ``None`` means ``0, 1, 2, ...`` (character n-grams). The text must
    already be normalised: scoring and training both call :func:`normalize` first.
    """
    pieces, n_chars, starts = _hashes(folded)
    multipliers = _MULTIPLIERS[n_chars]
    parts: list[tuple[np.ndarray, np.ndarray | None]] = []
    for k, piece in enumerate(pieces):
        anchors = None if k < n_chars else starts if k == n_chars else starts[:-1]
        parts.append((((piece * multipliers[k]) >> _SHIFT).astype(np.intp), anchors))
    return parts


def features(folded: str) -> np.ndarray:
    """Every feature occurrence's bucket, concatenated (what training reads)."""
    parts = feature_parts(folded)
    if not parts:
        return np.zeros(0, dtype=np.intp)
    return np.concatenate([buckets for buckets, _ in parts])


def window_starts(length: int) -> np.ndarray:
    """Where the windows of a padded text of ``length > WINDOW`` characters start."""
    starts = np.arange(0, length - WINDOW + 1, STRIDE)
    if starts[-1] != length - WINDOW:
        starts = np.append(starts, length - WINDOW)
    return starts


def window_scores(
    parts: list[tuple[np.ndarray, np.ndarray | None]], weights: np.ndarray, length: int
) -> np.ndarray:
    """Each window's ``sum(w) / sqrt(n)`` over the features anchored in it (no bias).

    ``parts`` is :func:`feature_parts` of a text whose padded length is
    ``length > WINDOW``. Per part, a prefix sum of the weights and the anchors'
    order (a character n-gram's anchor is its index; word anchors ascend) give
    every window's sum and count without a per-position array.
    """
    starts = window_starts(length)
    ends = starts + WINDOW
    total = np.zeros(starts.shape[0])
    count = np.zeros(starts.shape[0])
    for buckets, anchors in parts:
        n = buckets.shape[0]
        prefix = np.zeros(n + 1)
        np.cumsum(weights[buckets], dtype=np.float64, out=prefix[1:])
        if anchors is None:
            lo, hi = np.minimum(starts, n), np.minimum(ends, n)
        else:
            lo, hi = np.searchsorted(anchors, starts), np.searchsorted(anchors, ends)
        total += prefix[hi] - prefix[lo]
        count += hi - lo
    return total / np.sqrt(np.maximum(count, 1.0))


# --- the scoring path for long texts --------------------------------------------------
#
# window_scores (what training reads) builds a prefix sum per feature kind; a
# long text is scored instead from block sums. Every window starts at a multiple
# of STRIDE (the last one perhaps not) and spans WINDOW // STRIDE blocks, so a
# window's sum is the sum of its blocks. About 30 numpy calls whatever the
# length, each over the whole text (a call costs about what a few hundred
# elements do, so the fewer the better up to 10 KB):
#
# - both prefix sums, R of cp[j] * P**-j (for the character n-grams) and F of
#   cp[j] * P**j (for the words), in one multiply and one accumulate of a 2-row
#   array: the text is read after a code point 0, so that each prefix starts at 0
#   without a copy, and padded with 0s to whole blocks;
# - the three character kinds at once: a (3, n) view of R that steps one place per
#   row minus R itself, times cached P**(i + n - 1) * M_n, shifted into buckets
#   (h_n[i] * M_n = P**(i + n - 1) * (R[i + n] - R[i]) * M_n, as in short_sum);
# - a word's three terms (its hash times M_WORD, M_BIGRAM and Q * M_BIGRAM) in one
#   gather of cached P**-s * M and one multiply by F[e] - F[s]; a bigram's bucket
#   is then one addition of two terms (multiplication distributes over addition);
# - every weight from a complex table, weight + 1j (the padding bucket 0 + 0j): the
#   real parts sum the weights and the imaginary parts count the features, so a
#   window's count needs no layout of its own and no bincount.

assert WINDOW % STRIDE == 0
_BLOCKS = WINDOW // STRIDE
_PAD = 1 << BITS  # the bucket past the weights, 0 + 0j in the table
_TABLE_CAP = 1 << 14  # the long path's power tables are kept for texts up to this (padded, in blocks)


def _long_tables(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The powers :func:`window_max` reads for a text of ``size`` positions (whole blocks):
    rows P**-(k - 1) and P**(k - 1) at k = 1 ... size + 4 after a 0; P**(i + n - 1) * M_n
    for n = 3, 4, 5 and i < size; P**-s times M_WORD, M_BIGRAM and Q * M_BIGRAM for s < size."""
    forward, inverse = _POWERS.get(size + 8)
    prefix = np.zeros((2, size + 5), dtype=np.uint64)
    prefix[0, 1:] = inverse[: size + 4]
    prefix[1, 1:] = forward[: size + 4]
    at = np.arange(size)
    scale = np.stack([forward[at + n - 1] * np.uint64(_M_CHAR[n]) for n in (3, 4, 5)])
    words = np.array([[_M_WORD], [_M_BIGRAM], [_Q * _M_BIGRAM & _MASK]], dtype=np.uint64) * inverse[:size]
    for table in (prefix, scale, words):
        table.flags.writeable = False
    return prefix, scale, words


# Kept for texts of up to _TABLE_CAP positions (1 MB); a longer text's are made for it.
_LONG_TABLES = _long_tables(_TABLE_CAP)


def complex_table(weights: np.ndarray) -> np.ndarray:
    """The table :func:`window_max` reads: ``weights + 1j``, then the padding bucket's ``0j``."""
    table = np.zeros(weights.shape[0] + 1, dtype=np.complex128)
    table.real[:-1] = weights
    table.imag[:-1] = 1.0
    table.flags.writeable = False
    return table


def window_max(folded: str, table: np.ndarray) -> float:
    """``max(window_scores(feature_parts(folded), weights, len(folded) + 2))``,
    computed from block sums. ``table`` is :func:`complex_table` of the weights;
    ``len(folded) + 2`` must exceed WINDOW.

    Every weight is a float16, a multiple of 2**-24 (the shipped ones below 32
    in magnitude), so float64 sums of up to 2**24 of them are exact in any
    order, and so are the counts: the blocks may be summed in any grouping, and
    the result is the training script's to the last bit."""
    length = len(folded) + 2
    blocks_n = -(-length // STRIDE)
    size = blocks_n * STRIDE
    powers, scale, word_terms = _LONG_TABLES if size <= _TABLE_CAP else _long_tables(size)
    # cp[k] is the padded text's character k - 1 (cp[0] = 0), then 0s to size + 5.
    cp = np.frombuffer(("\0 " + folded + " ").ljust(size + 5, "\0").encode("utf-32-le"), dtype=np.uint32)
    prefix = np.multiply(cp, powers[:, : size + 5])
    np.add.accumulate(prefix, 1, out=prefix)  # prefix[0, k] = R[k], prefix[1, k] = F[k]
    # Character n-grams, row n - 3, anchored at their start i: P**(i + n - 1) * M_n * (R[i + n] - R[i]).
    grams = np.empty((3, size), dtype=np.uint64)
    np.subtract(np.ndarray((3, size), np.uint64, prefix, 24, (8, 8)), prefix[0, :size], out=grams)
    grams *= scale[:, :size]
    grams >>= _SHIFT_U64
    grams[0, length - 2 :] = _PAD
    grams[1, length - 3 :] = _PAD
    grams[2, length - 4 :] = _PAD
    by_position = np.add.reduce(table.take(grams.view(np.int64)), 0)
    # Words: the padded text's word starts s and ends e (cp's pairs (k, k + 1) are
    # the padded text's (k - 1, k)); a word's hash is (F[e] - F[s]) * P**-s.
    if folded.isascii():
        is_word = _ASCII_WORD.take(cp)
        edges = (is_word[1:] != is_word[:-1]).nonzero()[0]  # start, end, start, end, ...
        starts = edges[0::2]
        at_edges = prefix[1].take(edges)
        hashes = at_edges[1::2] - at_edges[0::2]
    else:
        bmp = np.minimum(cp, _BMP - 1)
        is_word = _WORD_TABLE[bmp]
        single = _SINGLE_TABLE[bmp]
        cut = (is_word[1:] != is_word[:-1]) | single[1:] | single[:-1]
        starts = (cut & is_word[1:]).nonzero()[0]
        hashes = prefix[1].take((cut & is_word[:-1]).nonzero()[0]) - prefix[1].take(starts)
    if starts.shape[0]:
        terms = word_terms.take(starts, 1)
        terms *= hashes  # h * M_WORD, h * M_BIGRAM, h * Q * M_BIGRAM
        np.add(terms[2, :-1], terms[1, 1:], out=terms[2, :-1])  # (h * Q + h') * M_BIGRAM
        terms >>= _SHIFT_U64
        terms[2, -1] = _PAD  # the last word starts no bigram
        # a word's weight plus that of the bigram it starts, at the word's start
        by_position[starts] += np.add.reduce(table.take(terms[::2].view(np.int64)), 0)
    blocks = np.add.reduce(by_position.reshape(blocks_n, STRIDE), 1)
    aligned = (length - WINDOW) // STRIDE + 1
    windows = np.add.reduce(np.ndarray((aligned, _BLOCKS), np.complex128, blocks, 0, (16, 16)), 1)
    best = float(np.maximum.reduce(windows.real / np.sqrt(windows.imag)))
    last = length - WINDOW
    if last % STRIDE:  # the last window, off the grid
        tail = complex(np.add.reduce(by_position[last:length]))
        best = max(best, tail.real / math.sqrt(tail.imag))
    return best


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class InjectionModel:
    """Weights loaded from a file, and the score they give a text.

    ``digest`` is the sha256 (hex) of the weights file: the policy digest
    includes it, so a decision names the model that scored it.
    """

    __slots__ = ("bias", "digest", "path", "table", "weights")

    def __init__(
        self, weights: np.ndarray, bias: float, digest: str, path: pathlib.Path
    ) -> None:
        self.weights = weights
        self.table = complex_table(weights)  # what window_max reads: weight + 1j, and the padding bucket
        self.bias = bias
        self.digest = digest
        self.path = path

    @classmethod
    def from_file(cls, path: pathlib.Path) -> InjectionModel:
        """Load weights written by ``scripts/train_injection.py``; DetectorError if unusable."""
        try:
            data = path.read_bytes()

            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                # float32 holds every float16 exactly, in half float64's cache footprint.
                weights = npz["weights"].astype(np.float32)
                bias = float(npz["bias"][0])
                bits = int(npz["bits"][0])
                version = int(npz["feature_version"][0])
        except (OSError, ValueError, KeyError, IndexError, zipfile.BadZipFile) as exc:
            raise DetectorError(
                f"injection model weights unreadable ({type(exc).__name__})"
            ) from None
        if bits != BITS or version != FEATURE_VERSION or weights.shape != (1 << BITS,):
            raise DetectorError(
                "injection model weights do not match this featuriser "
                f"(bits {bits}, feature version {version})"
            )
        return cls(weights, bias, hashlib.sha256(data).hexdigest(), path)

    def score(self, text: str) -> float:
        """The probability, in [0, 1], that ``text`` carries a prompt injection."""
        return self.score_normalized(normalize(text).text)

    def score_normalized(self, folded: str) -> float:
        """:meth:`score` for text that is already ``normalize(text).text``."""
        if len(folded) + 2 <= WINDOW:
            total, n = short_sum(folded, self.weights)
            return _sigmoid(self.bias + total / math.sqrt(n)) if n else _sigmoid(self.bias)
        return _sigmoid(self.bias + window_max(folded, self.table))


@functools.cache
def load_model() -> InjectionModel:
    """The shipped model, loaded once on first use."""
    return InjectionModel.from_file(MODEL_PATH)
