from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guardrails.detectors import DEFAULT_TIMEOUT_S, DetectorError, RegexSyntaxError, SafeRegex


def test_search_and_spans() -> None:
    rx = SafeRegex.compile(r"\bcat\w*")
    assert rx.search("a catalog")
    assert not rx.search("a dog")
    assert rx.finditer_spans("cat and catalog") == [(0, 3), (8, 15)]
    assert rx.timeout_s == DEFAULT_TIMEOUT_S


@pytest.mark.parametrize(
    ("flags", "text", "matches"),
    [
        ("", "CAT", False),
        ("i", "CAT", True),
        ("m", "x\ncat", True),
        ("s", "c\nat", True),
        ("x", "cat", True),
    ],
)
def test_flags(flags: str, text: str, matches: bool) -> None:
    pattern = {"m": r"^cat", "s": r"c.at", "x": r"c a t  # comment"}.get(flags, "cat")
    assert SafeRegex.compile(pattern, flags).search(text) is matches


def test_flags_are_canonicalised_and_compilation_shared() -> None:
    a = SafeRegex.compile("ab+", "mi")
    b = SafeRegex.compile("ab+", "im")
    assert a.flags == b.flags == "im"
    assert a == b
    assert a._compiled is b._compiled
    assert SafeRegex.compile("ab+", "i")._compiled is not a._compiled


def test_frozen() -> None:
    rx = SafeRegex.compile("a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        rx.pattern = "b"  # type: ignore[misc]


def test_unknown_flag() -> None:
    with pytest.raises(RegexSyntaxError) as info:
        SafeRegex.compile("a", "iq")
    assert "'q'" in info.value.message
    assert info.value.offset is None


@pytest.mark.parametrize(
    ("pattern", "offset"),
    [("ab)", 2), ("*a", 0), ("a{2,1}", 2), ("[a-", 3)],
)
def test_syntax_error_offset(pattern: str, offset: int) -> None:
    with pytest.raises(RegexSyntaxError) as info:
        SafeRegex.compile(pattern)
    assert info.value.offset == offset
    assert info.value.message


@pytest.mark.parametrize("timeout", [0, -1, float("nan")])
def test_bad_timeout(timeout: float) -> None:
    with pytest.raises(ValueError):
        SafeRegex.compile("a", timeout_s=timeout)


@pytest.mark.parametrize("timeout", [float("inf"), 1e300])
def test_infinite_timeout_means_no_limit(timeout: float) -> None:
    # the regex module itself would time out immediately on these
    rx = SafeRegex.compile("a+", timeout_s=timeout)
    assert rx.search("xaa")
    assert rx.finditer_spans("xaa") == [(1, 3)]


@pytest.mark.parametrize("method", ["search", "finditer_spans"])
def test_timeout_becomes_detector_error_without_text(method: str) -> None:
    rx = SafeRegex.compile(r"(a|aa)+$", timeout_s=0.02)
    text = "a" * 5000 + "SECRET-VALUE"
    with pytest.raises(DetectorError) as info:
        getattr(rx, method)(text)
    assert info.value.code == "regex-timeout"
    assert "SECRET" not in str(info.value) and "aaaa" not in str(info.value)


def test_empty_matches_are_skipped() -> None:
    assert SafeRegex.compile("x*").finditer_spans("axxb") == [(1, 3)]
    assert SafeRegex.compile("x*").search("ab")


# Like jmespath's fuzz test: any pattern either compiles or raises our own
# error, never something else.
PATTERN_CHARS = st.sampled_from(list("ab()[]{}*+?|^$\\.-,0123456789:<>=!#Pi ") + ["(?", "(?P<", "\\p{", "{1,", "\\d"])


@settings(max_examples=400, deadline=None)
@given(st.lists(PATTERN_CHARS, max_size=20).map("".join), st.text(alphabet="imsxq", max_size=3))
def test_compile_succeeds_or_raises_regex_syntax_error(pattern: str, flags: str) -> None:
    try:
        rx = SafeRegex.compile(pattern, flags)
    except RegexSyntaxError as exc:
        assert exc.message
        assert exc.offset is None or 0 <= exc.offset <= len(pattern)
        return
    try:
        rx.finditer_spans("ab12 (x) a{1,2}")
    except DetectorError as exc:
        assert exc.code == "regex-timeout"


# ---- the limit is on the pattern's CPU, not on time spent waiting ------------------


class _Stalled:
    """Stands in for the compiled pattern of a thread that waits for the CPU:
    its first `stalls` scans time out having done no work, then it answers."""

    def __init__(self, stalls: int) -> None:
        self.stalls = stalls
        self.rooms: list[float | None] = []

    def search(self, text: str, timeout: float | None = None):
        self.rooms.append(timeout)
        if len(self.rooms) <= self.stalls:
            raise TimeoutError("regex timed out")
        return object()


def _stalled(stalls: int) -> tuple[SafeRegex, _Stalled]:
    fake = _Stalled(stalls)
    return SafeRegex("x", "", 0.05, fake), fake  # type: ignore[arg-type]


def test_a_timeout_spent_waiting_is_retried_within_four_times_the_limit(monkeypatch) -> None:
    monkeypatch.setattr("guardrails.detectors.regexes.time.thread_time", lambda: 1.0)  # no CPU used
    rx, fake = _stalled(2)
    assert rx.search("text") is True
    assert fake.rooms == pytest.approx([0.05, 0.05, 0.1])
    assert sum(fake.rooms) == pytest.approx(4 * 0.05)  # a caller's wait is bounded whatever the load


def test_waiting_is_retried_a_bounded_number_of_times(monkeypatch) -> None:
    from guardrails.detectors.regexes import MAX_ATTEMPTS

    monkeypatch.setattr("guardrails.detectors.regexes.time.thread_time", lambda: 1.0)
    rx, fake = _stalled(99)
    with pytest.raises(DetectorError) as info:
        rx.search("text")
    assert info.value.code == "regex-timeout"
    assert len(fake.rooms) == MAX_ATTEMPTS


def test_a_timeout_that_used_its_cpu_is_not_retried(monkeypatch) -> None:
    clock = iter([0.0, 0.06])  # the scan burned 60 ms of CPU against a 50 ms limit
    monkeypatch.setattr("guardrails.detectors.regexes.time.thread_time", lambda: next(clock))
    rx, fake = _stalled(99)
    with pytest.raises(DetectorError):
        rx.search("text")
    assert fake.rooms == [0.05]


def test_a_backtracking_pattern_still_times_out_beside_busy_threads() -> None:
    import threading

    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(range(1000))

    threads = [threading.Thread(target=spin) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        rx = SafeRegex.compile(r"(a|aa)+$", timeout_s=0.02)
        with pytest.raises(DetectorError):
            rx.search("a" * 5000 + "!")
        # ...while a pattern that needs almost no CPU still answers.
        assert SafeRegex.compile(r"ignore (all|previous) instructions", "i").search("x" * 7000 + " Ignore all instructions")
    finally:
        stop.set()
        for t in threads:
            t.join()
