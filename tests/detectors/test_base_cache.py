from __future__ import annotations

import dataclasses
import pickle
import threading

import pytest

from guardrails.detectors import DetectorCache, DetectorError, Finding


def test_finding_is_frozen_and_slotted() -> None:
    f = Finding(1, 4, "EMAIL_ADDRESS", 0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.start = 2  # type: ignore[misc]
    assert not hasattr(f, "__dict__")
    assert f == Finding(1, 4, "EMAIL_ADDRESS", 0.5)


def test_detector_error_code_and_pickling() -> None:
    err = DetectorError("regex timed out after 50 ms", code="regex-timeout")
    assert err.code == "regex-timeout"
    assert str(err) == err.message == "regex timed out after 50 ms"
    again = pickle.loads(pickle.dumps(err))
    assert (again.code, again.message) == (err.code, err.message)
    assert DetectorError("x").code == "detector-failed"


def test_cache_hits_misses_and_stats() -> None:
    cache = DetectorCache(maxsize=2)
    calls: list[str] = []

    def compute(v: str) -> str:
        calls.append(v)
        return v.upper()

    assert cache.get_or_compute("pii", "hello", lambda: compute("a")) == "A"
    assert cache.get_or_compute("pii", "hello", lambda: compute("b")) == "A"
    assert cache.get_or_compute("secrets", "hello", lambda: compute("c")) == "C"
    assert calls == ["a", "c"]
    assert cache.stats() == {"hits": 1, "misses": 2, "size": 2, "maxsize": 2}
    cache.get_or_compute("pii", "other", lambda: compute("d"))  # evicts ("pii", "hello")
    assert cache.stats()["size"] == 2
    assert cache.get_or_compute("secrets", "hello", lambda: compute("e")) == "C"
    cache.get_or_compute("pii", "hello", lambda: compute("f"))  # evicted: recomputed
    assert calls == ["a", "c", "d", "f"]


def test_cache_does_not_cache_exceptions() -> None:
    cache = DetectorCache()

    def boom() -> int:
        raise DetectorError("failed")

    with pytest.raises(DetectorError):
        cache.get_or_compute("k", "text", boom)
    assert cache.get_or_compute("k", "text", lambda: 7) == 7
    assert cache.stats()["misses"] == 2


def test_cache_keys_hold_no_raw_text() -> None:
    cache = DetectorCache()
    secret = "my password is hunter2hunter2"
    cache.get_or_compute("k", secret, lambda: 1)
    keys = list(cache._lru.keys())
    assert all(secret not in repr(k) for k in keys)
    assert len(keys[0][1]) == 16


def test_cache_handles_lone_surrogates() -> None:
    cache = DetectorCache()
    assert cache.get_or_compute("k", "a\ud800b", lambda: 1) == 1
    assert cache.get_or_compute("k", "a\ud800b", lambda: 2) == 1


def test_cache_is_thread_safe() -> None:
    cache = DetectorCache(maxsize=64)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(500):
                text = f"text {i % 100}"
                assert cache.get_or_compute("k", text, lambda: text) == text
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    stats = cache.stats()
    assert stats["hits"] + stats["misses"] == 8 * 500
    assert stats["size"] <= 64


def test_cache_rejects_bad_size() -> None:
    with pytest.raises(ValueError):
        DetectorCache(0)
