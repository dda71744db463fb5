"""A bounded, thread-safe memo of detector results keyed by text digest."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import cachetools

__all__ = ["DetectorCache"]

T = TypeVar("T")


def _digest(text: str) -> bytes:
    # surrogatepass: lone surrogates are legal in Python str and must not crash
    # hashing; the digest keeps raw text out of the cache's keys.
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class DetectorCache:
    """LRU cache of detector results, shared across threads.

    Keys are ``(detector_key, blake2b-128(text))``: the raw text is never
    stored. ``compute`` runs outside the lock, so a slow detector does not
    block other threads; two threads missing on the same key may both compute,
    which is harmless because detectors are deterministic. Exceptions from
    ``compute`` propagate and are not cached.
    """

    def __init__(self, maxsize: int = 4096) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self._lru: cachetools.LRUCache[tuple[str, bytes], Any] = cachetools.LRUCache(maxsize)
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def get_or_compute(self, detector_key: str, text: str, compute: Callable[[], T]) -> T:
        """Return the cached result for ``(detector_key, text)`` or compute it."""
        key = (detector_key, _digest(text))
        with self._lock:
            try:
                value = self._lru[key]
            except KeyError:
                self._misses += 1
            else:
                self._hits += 1
                return value
        value = compute()
        with self._lock:
            self._lru[key] = value
        return value

    def stats(self) -> dict[str, int]:
        """Counters: ``hits``, ``misses``, ``size`` and ``maxsize``."""
        with self._lock:
            return {
                "hits": self._hits,
                "misses": self._misses,
                "size": len(self._lru),
                "maxsize": int(self._lru.maxsize),
            }

    def clear(self) -> None:
        """Drop every entry and reset the counters."""
        with self._lock:
            self._lru.clear()
            self._hits = self._misses = 0
