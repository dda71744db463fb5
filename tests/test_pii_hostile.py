"""Hostile inputs to the PII detector: long runs of URL host characters.

Presidio's URL patterns read up to 253 characters ahead at every start
position; ``"www." * N`` under ``redact [URL, EMAIL_ADDRESS]`` took over a
second at 2 KB and ended in an allow. The detector now tries the patterns
only where a match can start (guardrails/detectors/pii/urls.py). These tests
check that the scan finds exactly what each pattern's ``finditer`` finds,
that the work it does is bounded by the text's domain dots rather than its
length, and that the decisions on such texts are Presidio's.
"""

from __future__ import annotations

import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from guardrails import Engine
from guardrails.detectors import NER_ENTITIES, PiiConfig, get_pii_detector
from guardrails.detectors.pii import strict
from guardrails.detectors.pii.allow import PiiOptions
from guardrails.detectors.pii.presidio import build_analyzer
from guardrails.detectors.pii.urls import BoundedUrlPattern, UrlScan

# The shapes that pinned a CPU, and their siblings.
SHAPES = ("www.", "a.", "a1.", ".a", "a.b-", "www.a", "a.com.", "a@a.", "https://a.", "\"www.a.", "1.", "a-", "a@")

_PIECES = st.sampled_from([
    "a", "w", "x", ".", "-", "/", ":", "1", "\u0663", "\u212a", "!", " ", "'", '"', "com", "co", "uk", "www.",
    "www1.", "www\u0663.", "http://", "https://", ".com", ".co", ".uk", ".museum", "/path", "a." * 40, "x" * 120,
    "b" * 260,
])


def _policy(mode: str) -> str:
    return f"""policy "hostile" version "1.0.0"
config {{ pii_mode = "{mode}" }}
input {{
  rule r: redact [URL, EMAIL_ADDRESS] using replace("<{{entity}}>")
}}
"""


def _url_recognizer(analyzer):
    return next(r for r in analyzer.registry.recognizers if type(r).__name__ == "UrlRecognizer")


def _reference():
    analyzer = build_analyzer("en", None, NER_ENTITIES)
    return analyzer, _url_recognizer(analyzer)


_REF, _REC = _reference()
_SCAN = UrlScan.build(_REC.patterns, _REC.global_regex_flags)
_PLAIN = [regex.compile(p.regex, flags=_REC.global_regex_flags) for p in _REC.patterns]


def _shaped(shape: str, size: int) -> str:
    return (shape * (size // len(shape) + 1))[:size]


def test_the_scan_is_built_for_presidios_url_patterns() -> None:
    assert _SCAN is not None
    assert len(_REC.patterns) == 4


@settings(max_examples=600, deadline=None)
@given(st.lists(_PIECES, max_size=40).map("".join))
def test_the_scan_finds_what_finditer_finds(text) -> None:
    for i, rx in enumerate(_PLAIN):
        assert [(m.span(), m[0]) for m in _SCAN.finditer(i, text)] == [(m.span(), m[0]) for m in rx.finditer(text)]


def test_the_scan_on_the_shapes_finds_what_finditer_finds() -> None:
    for shape in SHAPES:
        text = _shaped(shape, 600) + " see www.example.com/a and 'https://x.org' then a.co.uk."
        for i, rx in enumerate(_PLAIN):
            assert [m.span() for m in _SCAN.finditer(i, text)] == [m.span() for m in rx.finditer(text)], shape


class _Counting:
    """A compiled pattern that counts the match attempts made with it."""

    def __init__(self, rx):
        self.rx, self.calls = rx, 0

    def match(self, *args, **kw):
        self.calls += 1
        return self.rx.match(*args, **kw)


def _attempts(text: str) -> tuple[int, int, int]:
    """Match attempts over the four patterns, matches found, domain dots."""
    scan = UrlScan.build(_REC.patterns, _REC.global_regex_flags)
    counters = [_Counting(rx) for rx in scan._patterns]
    scan._patterns = counters
    found = sum(len(scan.finditer(i, text)) for i in range(len(counters)))
    dots = len(list(scan._dots.finditer(text)))
    return sum(c.calls for c in counters), found, dots


def test_no_domain_dot_no_attempt() -> None:
    for shape in ("www.", "a.", "a1.", ".a", "a.b-", "www.a.", "a@a."):
        assert _attempts(_shaped(shape, 32_000)) == (0, 0, 0), shape


def test_attempts_are_bounded_by_the_domain_dots_not_the_length() -> None:
    for n in (1_000, 30_000):
        calls, found, dots = _attempts("a." * n + "a.com")
        assert (found, dots) == (1, 1)
        assert calls <= 8  # at most 7 starts between 253 and 260 characters before the dot fail
    for shape in ("www.a", "a.com.", "https://a.com/", "a.co!"):
        small, big = _attempts(_shaped(shape, 2_000)), _attempts(_shaped(shape, 16_000))
        for calls, found, dots in (small, big):
            assert calls <= found + 9 * dots + 2, shape
        assert big[0] <= 9 * small[0], shape  # 8x the text: about 8x the attempts, not 64x


def test_the_detectors_analyzer_scans_urls_with_the_bound_and_the_reference_does_not() -> None:
    detector = get_pii_detector(PiiConfig())
    ours = _url_recognizer(detector._analyzer)
    assert all(isinstance(p.compiled_regex, BoundedUrlPattern) for p in ours.patterns)
    assert not any(isinstance(p.compiled_regex, BoundedUrlPattern) for p in _REC.patterns)
    assert [p.regex for p in ours.patterns] == [p.regex for p in _REC.patterns]


def _reference_spans(text: str, entities: list[str]) -> set:
    return {(r.start, r.end, r.entity_type, round(r.score, 4))
            for r in _REF.analyze(text=text, language="en", entities=entities, score_threshold=0)}


def test_both_paths_find_presidios_spans_on_small_shapes() -> None:
    detector = get_pii_detector(PiiConfig())
    entities = ["EMAIL_ADDRESS", "URL"]
    for shape in SHAPES:
        text = _shaped(shape, 300) + " mail jo@example.com or see https://example.org/x"
        want = _reference_spans(text, entities)
        for found in (detector.analyze(text, entities), detector.analyze_presidio(text, entities)):
            assert {(f.start, f.end, f.entity, round(f.score, 4)) for f in found} == want, shape


def test_decisions_on_long_shapes() -> None:
    for mode in ("default", "strict"):
        engine = Engine.from_source(_policy(mode), cache_size=1)
        for shape in SHAPES:
            text = _shaped(shape, 8_000)
            d = engine.check_input(text)
            assert not d.errors, (mode, shape)
            spans = [s for v in d.violations for s in v.spans]
            has_url = bool(_SCAN.candidates(text)) or "@" in text
            if not has_url:
                assert d.outcome.value == "allow" and not spans, (mode, shape)
            if mode == "default" and shape in ("www.a", "a.com.", "https://a."):
                assert d.outcome.value == "redact" and spans, shape
        d = engine.check_input("a." * 4000 + "a.example.com and more")
        assert d.outcome.value == "redact"
        assert any(s.entity == "URL" for v in d.violations for s in v.spans)


def test_strict_mode_asks_for_no_suffix_of_a_host_longer_than_a_host_name(monkeypatch) -> None:
    from guardrails.detectors.pii import presidio

    asked: list[str] = []
    real = presidio.public_suffix

    def suffix(host: str) -> str:
        asked.append(host)
        return real(host)

    monkeypatch.setattr(presidio, "public_suffix", suffix)
    detector = get_pii_detector(PiiConfig())
    options = PiiOptions(mode="strict")
    for shape in ("www.a", "a.comx", "www.a.comx"):
        asked.clear()
        findings = detector.analyze(_shaped(shape, 8_000), ["URL"], options)
        assert all(len(h) <= strict._MAX_HOST for h in asked), shape
        assert all(f.end - f.start <= strict._MAX_HOST + 16 or f.end == 8_000 for f in findings), shape
    # An ordinary cut URL is still extended to its whole host.
    found = detector.analyze("see acme.museum/x today", ["URL"], options)
    assert [(f.start, f.end) for f in found] == [(4, 17)]
