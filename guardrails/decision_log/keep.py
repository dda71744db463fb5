"""Which request fields a policy's ``log_keep`` lets the log show, as a tree of paths."""

from __future__ import annotations

import functools
import re
from typing import Any, Callable, Iterable, Mapping

KeepSpec = Any  # None | Mapping[str, Iterable[str]] | Callable[[str, str], Iterable[str] | None] | policies


class KeepResolver:
    """Maps a decision's policy to its ``log_keep`` paths. Unknown: keep nothing."""

    def __init__(self, spec: KeepSpec = None):
        self._fn: Callable[[str, str], Iterable[str] | None] | None = None
        self._by_digest: dict[str, tuple[str, ...]] = {}
        self._by_name: dict[str, tuple[str, ...]] = {}
        self.set(spec)

    def set(self, spec: KeepSpec) -> None:
        fn, by_digest, by_name = None, {}, {}
        if spec is None:
            pass
        elif callable(spec) and not isinstance(spec, Mapping):
            fn = spec
        elif isinstance(spec, Mapping):
            by_name = {str(k): tuple(v or ()) for k, v in spec.items()}
        else:
            policies = spec.policies if hasattr(spec, "policies") else spec
            for p in policies:
                keep = tuple(p.settings.log_keep)
                by_digest[p.digest] = keep
                by_name[f"{p.name}@{p.version}"] = keep
        # Swapped in one assignment each: readers on other threads see old or new.
        self._fn, self._by_digest, self._by_name = fn, by_digest, by_name

    def __call__(self, name: str, version: str, digest: str) -> tuple[str, ...]:
        if self._fn is not None:
            return tuple(self._fn(name, version) or ())
        if digest in self._by_digest:
            return self._by_digest[digest]
        return self._by_name.get(f"{name}@{version}", self._by_name.get(name, ()))


_PATH_TOKEN = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def _parse_path(path: str) -> list[str | int] | None:
    segs: list[str | int] = []
    pos = 0
    while pos < len(path):
        if path[pos] == "." and segs:
            pos += 1
        m = _PATH_TOKEN.match(path, pos)
        if m is None:
            return None
        segs.append(int(m.group(1)) if m.group(1) is not None else m.group(2))
        pos = m.end()
    return segs or None


@functools.lru_cache(maxsize=256)
def keep_tree(paths: tuple[str, ...]) -> dict:
    """``("args.amount", "tool")`` -> ``{"args": {"amount": True}, "tool": True}``."""
    tree: dict = {}
    for p in paths:
        segs = _parse_path(p)
        if not segs:
            continue
        node = tree
        for s in segs[:-1]:
            nxt = node.get(s)
            if nxt is True:
                break
            node = node.setdefault(s, {})
        else:
            node[segs[-1]] = True
    return tree


def _merge(a: Any, b: Any) -> Any:
    if a is True or b is True:
        return True
    if not a:
        return b
    if not b:
        return a
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out.get(k), v)
    return out


def element_tree(tree: dict, index: int) -> Any:
    """The keep tree for element ``index`` of a list: a name applied to a list reaches every element (``chunks.metadata``)."""
    by_name = {k: v for k, v in tree.items() if isinstance(k, str)}
    return _merge(tree.get(index), by_name or None)
