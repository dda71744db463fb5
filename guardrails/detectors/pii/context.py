"""Presidio's context-word boost, on tokens of windows around the findings.

Presidio raises a finding's score when one of the keyword lemmas near it
contains a context word of its recognizer ("card", "ssn", "date"). Its
``LemmaContextAwareEnhancer`` needs the whole text tokenized; here
(:class:`ContextBoost`) only what can change a score is looked at:

1. a finding at the maximum score, or whose context words do not occur in
   the lower-cased text, keeps its score;
2. a *quiet* finding keeps it too: the whitespace-separated words its walk
   through the keywords can reach hold none of its context words
   (:meth:`ContextBoost.quiet`). A date in prose is nearly always quiet, so
   text with everyday numbers costs no tokenization;
3. the rest are decided on spaCy tokens of windows around them, widened
   until every walk ends inside its window, as before.

The walk and the score update mirror Presidio's (``fastpath._MIRRORED``
pins their source); tests/test_fastpath.py compares the scores with
Presidio's on generated texts.
"""

from __future__ import annotations

import bisect
from typing import Any

from guardrails.detectors.pii import prefilter

__all__ = ["ContextBoost", "WindowTokenizer"]

# How far each side of a finding the quiet test reads, in characters and in
# words, before it gives up and leaves the finding to the tokenizer.
QUIET_REACH = 240
QUIET_WORDS = 16
# The longest word the loud test reads; a longer one is left to the tokenizer.
LOUD_WORD = 40


class WindowTokenizer:
    """The pipeline's tokenizer rules over a vocabulary of their own.

    Splitting a text into tokens reads only the rules (special cases,
    prefixes, suffixes, infixes, token and URL matches), never the
    vocabulary, so the tokens are the pipeline's. What differs is the cost
    of a word not seen before, and most PII values are such words: the
    pipeline's vocabulary computes some twenty lexical attributes for each,
    this one only the lower-case form the context walk reads. And it is
    bounded: past `limit` entries it starts afresh.
    """

    def __init__(self, source: Any, limit: int = 200_000):
        self.source, self.limit = source, limit
        self._tokenizer = self._fresh()
        self._base = len(self._tokenizer.vocab)  # the special cases' own entries

    @property
    def learned(self) -> int:
        """Words added to the vocabulary since it was last started afresh."""
        return len(self._tokenizer.vocab) - self._base

    def _fresh(self) -> Any:
        from spacy.attrs import LOWER
        from spacy.tokenizer import Tokenizer
        from spacy.vocab import Vocab

        src = self.source
        tok = Tokenizer(Vocab(lex_attr_getters={LOWER: str.lower}), rules=src.rules, prefix_search=src.prefix_search,
                        suffix_search=src.suffix_search, infix_finditer=src.infix_finditer,
                        token_match=src.token_match, url_match=src.url_match)
        tok.faster_heuristics = src.faster_heuristics
        return tok

    def __call__(self, text: str) -> Any:
        tok = self._tokenizer
        if len(tok.vocab) - self._base > self.limit:
            tok = self._tokenizer = self._fresh()  # a swap: calls under way keep the old one
        return tok(text)


class ContextBoost:
    """Presidio's context-word boost for the fast path's findings."""

    def __init__(self, analyzer: Any, language: str, tokenizer: Any, by_id: dict[str, Any]):
        from presidio_analyzer import EntityRecognizer, RecognizerResult
        from presidio_analyzer.nlp_engine import NlpArtifacts
        from spacy.attrs import IS_PUNCT, IS_STOP

        self.analyzer = analyzer
        self.language = language
        self.by_id = by_id
        self.tokenizer = WindowTokenizer(tokenizer)
        self._vocab = tokenizer.vocab  # the pipeline's, which set_keywords reads
        getters = self._vocab.lex_attr_getters or {}
        self._is_stop, self._is_punct = getters.get(IS_STOP), getters.get(IS_PUNCT)
        enhancer = analyzer.context_aware_enhancer
        self.prefix = enhancer.context_prefix_count
        self.suffix = enhancer.context_suffix_count
        self.factor = enhancer.context_similarity_factor
        self.min_with_context = enhancer.min_score_with_context_similarity
        self.whole_word = enhancer.context_matching_mode == "whole_word"
        self.pieces: dict[str, list[str]] = {}
        self.colon_memo: dict[str, list[str]] = {}  # a word holding a colon -> its keyword pieces
        self.certain: dict[str, bool] = {}  # a word -> whether it is one token that is a keyword
        self._context_words: dict[str, tuple[str, ...] | None] = {}  # recognizer id -> lower-cased context
        self._max_score = EntityRecognizer.MAX_SCORE
        self._id_key = RecognizerResult.RECOGNIZER_IDENTIFIER_KEY
        self._boosted_key = RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY
        self._set_keywords = NlpArtifacts.set_keywords

    def enhance(self, text: str, raw: list) -> None:
        """Raise the scores of `raw` (results mapped to `text`) as Presidio's enhancer would."""
        # A result already at the maximum score keeps it whatever the context
        # (the boost is capped there), and the explanation, the only other
        # thing the boost changes, never reaches a Finding: skip it.
        todo = [r for r in raw if self.by_id[r.recognition_metadata[self._id_key]].context
                and not r.recognition_metadata.get(self._boosted_key) and r.score < self._max_score]
        if not todo:
            return
        # A context word supports a result only as part of a keyword, and
        # every keyword is a piece of the lower-cased text. A result none of
        # whose (ASCII) context words occurs in it keeps its score: no
        # tokens needed. Nor does a quiet one.
        lowered = text.lower()
        words: dict[str, tuple[str, ...] | None] = {}  # per recognizer, not per result: one scan of the text each
        for r in todo:
            rid = r.recognition_metadata[self._id_key]
            if rid not in words:
                words[rid] = self._context_in(rid, lowered)
        todo = [r for r in todo if words[r.recognition_metadata[self._id_key]] != ()]
        if todo:
            todo = [r for r in todo if not self.quiet(text, r.start, words[r.recognition_metadata[self._id_key]])]
        if todo:
            # A loud one gains for certain: no tokens needed either.
            rest = []
            for r in todo:
                if self.loud(text, r.start, words[r.recognition_metadata[self._id_key]]):
                    self._raise(r)
                else:
                    rest.append(r)
            todo = rest
        if todo:
            self._boost(text, todo, self._colon_pieces(text) if ":" in text else set())

    def _raise(self, r: Any) -> None:
        # LemmaContextAwareEnhancer.enhance_using_context, in its order.
        r.score += self.factor
        r.score = max(r.score, self.min_with_context)
        r.score = min(r.score, self._max_score)

    def _boost(self, text: str, todo: list, extra: set[str]) -> None:
        n = len(text)
        regions = prefilter.merge(
            (prefilter.word_start(text, max(0, r.start - 64)), prefilter.word_end(text, r.start + 1)) for r in todo
        )
        while True:
            c = prefilter.compact(text, regions)
            indices: list[int] = []
            ends: list[int] = []
            lemmas: list[str] = []  # the blank pipeline's lemma is the lower-case text (see presidio.py)
            for t in self.tokenizer(c.text):  # one pass: every step builds a Token object
                i = t.idx
                indices.append(i)
                ends.append(i + len(t))
                lemmas.append(t.lower_)
            keywords = set(extra)
            for lemma in set(lemmas):
                keywords.update(self.keyword_pieces(lemma))
            words, grow = [], set()
            for r in todo:
                i = c.locate_original(r.start)
                t0 = bisect.bisect_left(indices, c.starts[i])
                t1 = bisect.bisect_left(indices, c.starts[i] + c.lengths[i])
                # LemmaContextAwareEnhancer._find_index_of_match_token: the
                # first token that ends after the match starts.
                k = bisect.bisect_right(ends, r.start - c.origins[i] + c.starts[i])
                back, left = self._walk(k, -1, t0, self.prefix + 1, lemmas, keywords)
                fwd, right = self._walk(k, 1, t1, self.suffix + 1, lemmas, keywords)
                if left and c.origins[i] > 0:
                    grow.add((i, True))
                if right and c.origins[i] + c.lengths[i] < n:
                    grow.add((i, False))
                words.append(back + fwd)
            if not grow:
                break
            wider = list(regions)
            for i, to_left in grow:
                a, b = wider[i]
                reach = 2 * (b - a) + 64
                wider[i] = (prefilter.word_start(text, max(0, a - reach)) if to_left else a,
                            b if to_left else prefilter.word_end(text, min(n, b + reach)))
            regions = prefilter.merge(wider)
        for r, context in zip(todo, words):
            rec = self.by_id[r.recognition_metadata[self._id_key]]
            if self._supports(set(context), rec.context):
                self._raise(r)

    def _context_in(self, rec_id: str, lowered: str) -> tuple[str, ...] | None:
        """The recognizer's context words that occur in the lower-cased text
        (``()``: none does), or None when that cannot be told this way."""
        words = self._context_words.get(rec_id)
        if words is None:
            ctx = [w.lower() for w in self.by_id[rec_id].context]
            # Only ASCII words: lower() maps a text piece by piece, except
            # for sigma, so an ASCII word in a lower-cased token is in the
            # lower-cased text. Otherwise: no shortcut.
            words = self._context_words[rec_id] = tuple(ctx) if all(w.isascii() for w in ctx) else None
            if words is None:
                return None
        return tuple(w for w in words if w in lowered)

    def quiet(self, text: str, start: int, context: tuple[str, ...] | None) -> bool:
        """Whether the walk from a finding at `start` reaches no keyword that
        holds one of the (ASCII, lower-cased) `context` words.

        spaCy splits at whitespace first, so every token lies in one
        whitespace-separated word. A *certain* word is one token that is a
        keyword (most words of prose that are not stop words). The walk
        back collects ``prefix + 1`` keywords starting at the finding's
        token, the walk forward ``suffix + 1``: so each ends by the
        ``prefix + 1``-th (``suffix + 1``-th) certain word, counting the
        finding's own word if certain. More keywords (other tokens, the
        pieces of colon words) only end it sooner. If no word in that
        stretch holds a context word, no keyword the walk finds does.
        Bounded by QUIET_REACH characters and QUIET_WORDS words each side:
        further than that, the answer is no.
        """
        n = len(text)
        if context is None or start >= n or text[start].isspace():
            return False
        lo, hi = max(0, start - QUIET_REACH), min(n, start + QUIET_REACH)
        # The finding's own word and the nearest QUIET_WORDS words each
        # side, from splits at whitespace; a word at a slice's inner edge may
        # be cut, and the rest of a split is not read: both are dropped.
        left, right = text[lo:start], text[start:hi]
        before = left.rsplit(None, QUIET_WORDS + 1)
        after = right.split(None, QUIET_WORDS + 1)
        own = after.pop(0)
        if left and not left[-1].isspace():
            if len(before) == 1 and lo > 0:
                return False  # the own word may begin before the slice
            own = before.pop() + own
        if right and not right[-1].isspace() and not after and hi < n:
            return False  # the own word may go on after the slice
        own_certain = self._certain(own)
        edge_before = lo == 0 and len(before) <= QUIET_WORDS
        edge_after = hi == n and len(after) <= QUIET_WORDS
        if before and not edge_before:
            before.pop(0)
        if after and not edge_after:
            after.pop()
        # The words the walks reach, then one test of them all: a context
        # word holds no space, so it is in one of them exactly when it is in
        # them joined by spaces.
        reached = [own]
        memo = self.certain
        for words, want, edge in ((reversed(before), self.prefix + 1, edge_before),
                                  (after, self.suffix + 1, edge_after)):
            want -= own_certain
            if want <= 0:
                continue
            for w in words:
                reached.append(w)
                known = memo.get(w)
                if known is None:
                    known = self._certain(w)
                if known:
                    want -= 1
                    if want == 0:
                        break
            else:
                if not edge:  # the walk may go on past what was read
                    return False
        return not self._holds(" ".join(reached), context)

    def loud(self, text: str, start: int, context: tuple[str, ...] | None) -> bool:
        """Whether the walk back from a finding at `start` certainly collects
        a keyword holding one of the (ASCII, lower-cased) `context` words, as
        in "ssn 078-05-1120": the finding starts a word, and within
        ``prefix`` words back, each *certain* (see `quiet`) and each after a
        single space, one holds a context word.

        Why that is certain: a single space makes no token, so the tokens
        the walk meets after the finding's own are those words, one keyword
        each. The finding's own token may be a keyword too, which leaves
        ``prefix`` of the walk's ``prefix + 1`` for them, and so the
        ``prefix``-th word back is collected. Keywords from colon words
        elsewhere change nothing here: these words are keywords already.
        Substring matching only (Presidio's default).
        """
        if context is None or self.whole_word or not 2 <= start < len(text) or text[start].isspace() \
                or text[start - 1] != " " or text[start - 2].isspace():
            return False
        end = start - 1  # the space before the finding's word
        for _ in range(self.prefix):
            a = end
            while a > 0 and not text[a - 1].isspace():
                a -= 1
                if end - a > LOUD_WORD:
                    return False
            word = text[a:end]
            if not self._certain(word):
                return False
            if self._holds(word, context):
                return True
            if a < 2 or text[a - 1] != " " or text[a - 2].isspace():
                return False
            end = a - 1
        return False

    @staticmethod
    def _holds(word: str, context: tuple[str, ...]) -> bool:
        lowered = word.lower()
        return any(w in lowered for w in context)

    def _certain(self, word: str) -> bool:
        # Only plain words are asked about: a number or a word with
        # punctuation is often several tokens, and is new each time.
        if not (word.isascii() and word.isalpha()):
            return False
        known = self.certain.get(word)
        if known is None:
            known = False
            tokens = self.tokenizer(word)
            if len(tokens) == 1:
                lower = tokens[0].lower_.lower()
                known = lower in self.keyword_pieces(tokens[0].lower_)
            if len(self.certain) >= 100_000:
                self.certain.clear()  # bounded; entries are cheap to recompute
            self.certain[word] = known
        return known

    @staticmethod
    def _walk(k: int, step: int, stop: int, want: int, lemmas: list[str], keywords: set[str]):
        """LemmaContextAwareEnhancer._add_n_words within one window; also
        whether it ran out of window before finding `want` words."""
        found = []
        i = k
        while (i >= stop if step < 0 else i < stop) and want > 0:
            lower = lemmas[i].lower()
            if lower in keywords:
                found.append(lower)
                want -= 1
            i += step
        return found, want > 0

    def _supports(self, context: set[str], words: list[str]) -> bool:
        """LemmaContextAwareEnhancer._find_supportive_word_in_context != ""."""
        lowered = [k.lower() for k in context]
        for w in words:
            w = w.lower()
            if self.whole_word:
                if w in lowered:
                    return True
            elif any(w in k for k in lowered):
                return True
        return False

    def keyword_pieces(self, lemma: str) -> list[str]:
        """What Presidio's NlpArtifacts.set_keywords makes of one lemma (memoised).

        set_keywords asks the pipeline's vocabulary whether the lemma is a
        stop word or punctuation, and a word the vocabulary has not seen is
        added to it, with every lexical attribute computed. For such a word
        the two flags come from the same functions the vocabulary would
        run, and nothing is added."""
        pieces = self.pieces.get(lemma)
        if pieces is None:
            if lemma and lemma not in self._vocab and self._is_stop is not None and self._is_punct is not None:
                keep = not self._is_stop(lemma) and not self._is_punct(lemma) and lemma not in ("-PRON-", "be")
                pieces = lemma.lower().split(":") if keep else []
            else:
                pieces = self._set_keywords(self.analyzer.nlp_engine, [lemma], self.language)
            if len(self.pieces) >= 100_000:
                self.pieces.clear()  # bounded; entries are cheap to recompute
            self.pieces[lemma] = pieces
        return pieces

    def _colon_pieces(self, text: str) -> set[str]:
        """Keyword pieces of every token with a colon, wherever it is in the text.

        Presidio splits keywords at colons, so "the:x" anywhere makes every
        "the" a keyword. Words are split at whitespace, as spaCy does first,
        so each tokenizes alone as it does in the text.
        """
        words = set()
        n = len(text)
        i = text.find(":")
        while i >= 0:
            a = i
            while a > 0 and not text[a - 1].isspace():
                a -= 1
            b = i
            while b < n and not text[b].isspace():
                b += 1
            words.add(text[a:b])
            i = text.find(":", b)
        out: set[str] = set()
        memo = self.colon_memo
        for w in words:
            pieces = memo.get(w)
            if pieces is None:
                pieces = [p for t in self.tokenizer(w) if ":" in t.lower_ for p in self.keyword_pieces(t.lower_)]
                if len(memo) >= 100_000:
                    memo.clear()  # bounded; entries are cheap to recompute
                memo[w] = pieces
            out.update(pieces)
        return out
