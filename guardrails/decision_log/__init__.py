"""An append-only, hash-chained decision log that never holds a raw detected value.

    >>> from guardrails.engine import load_paths
    >>> policies = load_paths(["policies/"]).policies
    >>> log = DecisionLog("decisions.jsonl", keep=policies)
    >>> engine = Engine(policies, decision_log=log)

or, when the engine is built first, ``log.bind(engine)`` afterwards::

    log = DecisionLog("decisions.jsonl")
    engine = Engine.from_path("policies/", decision_log=log)
    log.bind(engine)        # until bound, every request field is masked

The engine calls ``log.write(decision, request)`` after every check. Writing
never blocks or fails a decision: the record is built on the caller's thread
(the request is the caller's to mutate afterwards), put on a bounded queue and
appended by one background thread. When the queue is full or the file cannot
be written the record is dropped and counted (:meth:`DecisionLog.stats`).
``close()`` (or leaving a ``with`` block) drains the queue.

**The file.** JSON lines, one canonical JSON object a line (sorted keys, no
spaces, ASCII). Line 1 is a header (``"type": "header"``, ``seq`` 0, ``prev``
= :data:`GENESIS`); every later line is a decision record::

    {"type": "decision", "seq": 7, "prev": "<hash of line 7>", "hash": "...",
     "decision_id": "...", "timestamp": "2026-03-01T12:00:00.000001Z",
     "stage": "tool_call", "policy": {"name", "version", "digest"},
     "outcome": "deny", "rules": ["cap"], "route": null,
     "spans": [{"rule", "entity", "start", "end", "field"?}],
     "errors": [{"rule", "code"}], "elapsed_us": 412,
     "keep": ["tool", "args.amount"], "request": {...}, "scrubbed"?: true,
     "chunks"?: ["allow", "deny"]}

``hash`` is the SHA-256 of the canonical JSON of the record without ``hash``;
``prev`` is the previous line's ``hash``. :func:`verify_log` (``guardrails log
verify``) recomputes the chain, so any edit, deletion, insertion or
reordering breaks it at a named line. Removing records *from the end* leaves
a shorter chain that still verifies: anchor it by keeping the head hash
(``stats().head``, printed by ``verify``) somewhere else and passing
``--head``.

**Masking.** ``request`` mirrors the request the engine saw, with every value
replaced by a marker ``{"$masked": "str", "len": 11}`` unless the deciding
policy's ``log_keep`` lists its path (``"tool"``, ``"args.amount"``,
``"principal.role"``, ``"text"``; a name applied to a list applies to every
element, so ``"chunks.metadata"`` keeps every chunk's metadata). Content the
engine redacts is kept only in its *forwarded* form: ``"text"`` keeps the
redacted text, ``"args.note"`` the redacted argument, ``"chunks"`` the
forwarded chunk texts; where nothing was forwarded (a deny, a dropped chunk)
strings stay masked. Markers carry no hash by default: an unsalted hash of a
short value (an SSN, a card number) is reversed by brute force. Pass
``hmac_key=`` (or set ``GUARDRAILS_LOG_KEY``) to add ``"hmac"``, a keyed
HMAC-SHA256 that lets equal values be correlated across records by whoever
holds the key and by nobody else. Belt and braces: the text of every span in
the decision is read from the raw request, and any kept value containing one
is masked; if one still appears anywhere in the request or span fields, the
whole request is replaced by one marker and the record says ``"scrubbed":
true``.

**Crash safety.** Each batch of records is appended with ``os.write`` on an
``O_APPEND`` descriptor, one complete line per record, so a killed process
loses at most the records still queued and can leave at most one partial
line at the end. :func:`verify_log` reports such a line as a *truncated tail*
(a warning; an error with ``strict=True``) and checks everything before it.
When a writer opens an existing file it cuts off a partial tail and
continues the chain after the last complete record. A failed write is rolled
back with ``ftruncate`` so the file never holds half a record mid-chain.
``fsync=True`` also survives power loss, at the cost of a sync per batch.
One writer per file: the file is locked (``flock``) while open.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import hmac
import json
import os
import queue
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

try:
    import fcntl
except ImportError:  # Windows has no flock: one writer per file is then the caller's job
    fcntl = None  # type: ignore[assignment]

GENESIS = "0" * 64
FORMAT = "guardrails-decision-log"
FORMAT_VERSION = 1
LOG_KEY_ENV = "GUARDRAILS_LOG_KEY"
MASK_KEY = "$masked"

__all__ = [
    "GENESIS",
    "DecisionLog",
    "LogStats",
    "LogFormatError",
    "LogProblem",
    "VerifyResult",
    "build_record",
    "canonical",
    "is_masked",
    "read_log",
    "record_hash",
    "verify_log",
]


# ---- canonical form and hashing ---------------------------------------------


def canonical(obj: Any) -> bytes:
    """The one serialisation used for both writing and hashing a record."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 over the canonical JSON of ``record`` without its ``hash``."""
    return hashlib.sha256(canonical({k: v for k, v in record.items() if k != "hash"})).hexdigest()


def is_masked(value: Any) -> bool:
    return isinstance(value, dict) and MASK_KEY in value


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


# ---- which fields a policy lets the log keep --------------------------------

KeepSpec = Any  # None | Mapping[str, Iterable[str]] | Callable[[str, str], Iterable[str] | None] | policies


class _KeepResolver:
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
def _keep_tree(paths: tuple[str, ...]) -> dict:
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


def _element_tree(tree: dict, index: int) -> Any:
    # A name applied to a list reaches into every element: "chunks.metadata".
    by_name = {k: v for k, v in tree.items() if isinstance(k, str)}
    return _merge(tree.get(index), by_name or None)


# ---- masking ----------------------------------------------------------------

_HIDDEN = object()  # stands for a value the log may not show even where its path is kept


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "other"


def _mask(value: Any, key: bytes | None) -> dict:
    marker: dict[str, Any] = {MASK_KEY: _type_name(value)}
    if isinstance(value, (str, list, tuple, dict)):
        marker["len"] = len(value)
    if key is not None:
        try:
            data = json.dumps(value, sort_keys=True, default=repr, ensure_ascii=False).encode("utf-8", "surrogatepass")
        except (TypeError, ValueError):
            data = repr(value).encode("utf-8", "surrogatepass")
        marker["hmac"] = hmac.new(key, b"guardrails-log\x00" + data, hashlib.sha256).hexdigest()[:32]
    return marker


def _hide_strings(value: Any) -> Any:
    if isinstance(value, str):
        return _HIDDEN
    if isinstance(value, dict):
        return {k: _hide_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_hide_strings(v) for v in value]
    return value


def _view(stage: str, request: Mapping[str, Any], decision: Any) -> dict:
    """The request as the log may show it: forwarded values wherever the engine redacts."""
    view = dict(request)
    if stage in ("input", "output"):
        view["text"] = decision.text if isinstance(decision.text, str) else _HIDDEN
    elif stage == "retrieval":
        chunks = request.get("chunks")
        forwarded = {c.index: c.text for c in decision.chunks or ()}
        if isinstance(chunks, list):
            out = []
            for i, ch in enumerate(chunks):
                text = forwarded.get(i)
                shown = text if isinstance(text, str) else _HIDDEN
                if isinstance(ch, dict):
                    out.append({**ch, "text": shown})
                else:
                    out.append(shown)
            view["chunks"] = out
        else:
            view["chunks"] = _HIDDEN
    elif stage == "tool_call":
        # Forwarded args are the redacted copy; on a deny nothing was redacted,
        # so only the non-string values (which no detector reads) may show.
        view["args"] = decision.text if isinstance(decision.text, dict) else _hide_strings(request.get("args"))
    return view


def _leaf(value: Any, key: bytes | None) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else _mask(value, key)
    return _mask(value, key)  # not JSON: never stringified into the log


def _project(raw: Any, view: Any, tree: Any, key: bytes | None) -> Any:
    if raw is None:
        return None  # absence reveals nothing and keeps the request replayable
    if view is _HIDDEN or not tree:
        return _mask(raw, key)
    if isinstance(raw, dict) and isinstance(view, dict):
        return {
            str(k): _project(v, view.get(k, _HIDDEN), True if tree is True else tree.get(k), key)
            for k, v in raw.items()
        }
    if isinstance(raw, (list, tuple)) and isinstance(view, (list, tuple)) and len(raw) == len(view):
        return [
            _project(r, v, True if tree is True else _element_tree(tree, i), key)
            for i, (r, v) in enumerate(zip(raw, view))
        ]
    if tree is True:
        return _leaf(view, key)
    return _mask(raw, key)  # the policy keeps a field inside a value that has none


def _flatten_strings(value: Any, path: str, out: dict[str, str]) -> None:
    # Mirrors evaluate._flatten, so the paths match the spans' `field`.
    if isinstance(value, str):
        out[path] = value
    elif isinstance(value, dict):
        for k, v in value.items():
            _flatten_strings(v, f"{path}.{k}", out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _flatten_strings(v, f"{path}[{i}]", out)


_CHUNK_FIELD = re.compile(r"chunks\[(\d+)\]\Z")


def _detected_values(decision: Any, request: Mapping[str, Any]) -> set[str] | None:
    """The original text of every span, from the raw request; None if a span cannot be placed."""
    values: set[str] = set()
    args_strings: dict[str, str] | None = None
    for v in decision.violations:
        for s in v.spans:
            source: Any = None
            if s.field is None:
                source = request.get("text")
            elif (m := _CHUNK_FIELD.match(s.field)) is not None:
                chunks = request.get("chunks")
                i = int(m.group(1))
                if isinstance(chunks, list) and i < len(chunks):
                    ch = chunks[i]
                    source = ch.get("text") if isinstance(ch, dict) else ch
            elif s.field.startswith("args"):
                if args_strings is None:
                    args_strings = {}
                    _flatten_strings(request.get("args"), "args", args_strings)
                source = args_strings.get(s.field)
            if not isinstance(source, str):
                return None
            value = source[s.start:s.end]
            if value.strip():
                values.add(value)
    return values


def _contains(serialized: str, values: Iterable[str]) -> bool:
    for v in values:
        if v in serialized or json.dumps(v, ensure_ascii=True)[1:-1] in serialized:
            return True
    return False


def _scrub_leaves(value: Any, values: set[str], key: bytes | None) -> Any:
    """Mask every kept string (or object whose keys) holding a detected value."""
    if isinstance(value, str):
        return _mask(value, key) if any(v in value for v in values) else value
    if isinstance(value, dict):
        if is_masked(value):
            return value
        if any(v in k for k in value for v in values):
            return _mask(value, key)
        return {k: _scrub_leaves(v, values, key) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_leaves(v, values, key) for v in value]
    return value


def _mask_request(raw: dict, decision: Any, keep: tuple[str, ...], key: bytes | None,
                  values: set[str] | None) -> tuple[Any, bool]:
    """The request as the log stores it, and whether the belt-and-braces check fired."""
    view, tree = _view(decision.stage, raw, decision), _keep_tree(keep)
    # The top level is the engine's own shape (text, args, ...): always shown.
    masked = {str(k): _project(v, view.get(k, _HIDDEN), tree.get(k), key) for k, v in raw.items()}
    if values is None:  # a span we cannot place: we cannot prove the kept fields clean
        return _mask(raw, key), True
    if not values:
        return masked, False
    cleaned = _scrub_leaves(masked, values, key)
    if _contains(canonical(cleaned).decode("ascii"), values):
        return _mask(raw, key), True
    return cleaned, cleaned != masked


def build_record(decision: Any, request: Mapping[str, Any], keep: Iterable[str] = (),
                 key: bytes | None = None) -> dict:
    """A decision record without its chain fields (``seq``, ``prev``, ``hash``)."""
    keep = tuple(keep)
    raw = dict(request) if isinstance(request, Mapping) else {}
    values = _detected_values(decision, raw)
    req, scrubbed = _mask_request(raw, decision, keep, key, values)
    spans = []
    for v in decision.violations:
        for s in v.spans:
            span = {"rule": v.rule, "entity": s.entity, "start": s.start, "end": s.end}
            if s.field is not None:
                span["field"] = s.field
            spans.append(span)
    if values and _contains(canonical(spans).decode("ascii"), values):
        # An argument *name* held a detected value; keep the offsets, drop the names.
        spans = [{k: v for k, v in s.items() if k != "field"} for s in spans]
        scrubbed = True
    rules: list[str] = []
    for v in decision.violations:
        if v.rule not in rules:
            rules.append(v.rule)
    record: dict[str, Any] = {
        "type": "decision",
        "decision_id": decision.decision_id,
        "timestamp": _now(),
        "stage": decision.stage,
        "policy": {"name": decision.policy.name, "version": decision.policy.version,
                   "digest": decision.policy.digest},
        "outcome": decision.outcome.value,
        "rules": rules,
        "route": decision.route,
        "spans": spans,
        "errors": [{"rule": e.rule, "code": e.code} for e in decision.errors],
        "elapsed_us": decision.elapsed_us,
        "keep": list(keep),
        "request": req,
    }
    if decision.chunks is not None:
        record["chunks"] = [c.outcome.value for c in decision.chunks]
    if scrubbed:
        record["scrubbed"] = True
    return record


# ---- the writer -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogStats:
    written: int  # decision records appended (the header is not counted)
    dropped: int  # records lost: queue full, unwritable file, or a record that failed to build
    errors: int  # failures (open, write, build); each may drop several records
    pending: int  # records queued, not yet written
    last_error: str | None
    head: str | None  # hash of the last record in the file; None until opened
    seq: int | None  # its sequence number


_STOP = object()
_BATCH = 512
_REOPEN_EVERY = 1.0  # seconds between attempts to open an unwritable log


class DecisionLog:
    """Append decision records to ``path``; see the module docs for the format.

    * ``keep``: how to find the deciding policy's ``log_keep``: the compiled
      policies (or an Engine), a mapping ``{"name" | "name@version": paths}``,
      or a callable ``(name, version) -> paths``. ``None`` masks everything
      until :meth:`bind` is called.
    * ``hmac_key``: adds a keyed HMAC to masked markers (default: the
      ``GUARDRAILS_LOG_KEY`` environment variable; no hash when unset).
    * ``queue_size``: records waiting to be written; more are dropped.
    * ``fsync``: sync the file after every batch.
    """

    def __init__(self, path: str | os.PathLike, *, keep: KeepSpec = None, hmac_key: bytes | str | None = None,
                 queue_size: int = 10_000, fsync: bool = False):
        self.path = Path(path)
        self._keep = _KeepResolver(keep)
        if hmac_key is None:
            hmac_key = os.environ.get(LOG_KEY_ENV) or None
        self._key = hmac_key.encode() if isinstance(hmac_key, str) else hmac_key
        self._fsync = fsync
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, queue_size))
        self._cond = threading.Condition()
        self._pending = 0
        self._written = self._dropped = self._errors = 0
        self._last_error: str | None = None
        self._closed = False
        # Owned by the writer thread only.
        self._fd: int | None = None
        self._offset = 0
        self._seq: int | None = None
        self._prev: str | None = None
        self._next_open = 0.0
        self._thread = threading.Thread(target=self._run, name="guardrails-decision-log", daemon=True)
        self._thread.start()
        # The writer is a daemon thread: drain what is queued at interpreter exit.
        self._atexit = functools.partial(self.close, timeout=5)
        atexit.register(self._atexit)

    # -- public surface
    def bind(self, keep: KeepSpec) -> None:
        """Learn (or replace) the ``log_keep`` lookup, e.g. ``log.bind(engine)``."""
        self._keep.set(keep)

    def write(self, decision: Any, request: Mapping[str, Any]) -> None:
        """Queue one record. Never raises, never blocks."""
        if self._closed:
            self._drop(1, None)
            return
        try:
            p = decision.policy
            record = build_record(decision, request, self._keep(p.name, p.version, p.digest), self._key)
        except Exception as exc:  # a record that cannot be built is dropped, never raised
            self._drop(1, f"cannot build a record: {type(exc).__name__}: {exc}")
            return
        # Under the lock close() takes, so no record can be queued behind the stop marker.
        with self._cond:
            if self._closed:
                self._dropped += 1
                return
            try:
                self._queue.put_nowait(record)
            except queue.Full:
                self._dropped += 1
                return
            self._pending += 1

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued record is written (or dropped). False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float | None = None) -> None:
        """Write what is queued, stop the writer and close the file. Idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
        atexit.unregister(self._atexit)
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def stats(self) -> LogStats:
        with self._cond:
            return LogStats(self._written, self._dropped, self._errors, self._pending,
                            self._last_error, self._prev, self._seq)

    def __enter__(self) -> "DecisionLog":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the writer thread
    def _drop(self, n: int, error: str | None) -> None:
        with self._cond:
            self._dropped += n
            if error is not None:
                self._errors += 1
                self._last_error = error
            self._cond.notify_all()

    def _run(self) -> None:
        stop = False
        while not stop:
            batch = []
            item = self._queue.get()
            while True:
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
                if len(batch) >= _BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                try:
                    self._append(batch)
                except Exception as exc:  # keep the thread alive whatever happens
                    self._drop(len(batch), f"{type(exc).__name__}: {exc}")
                with self._cond:
                    self._pending -= len(batch)
                    self._cond.notify_all()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _append(self, batch: list[dict]) -> None:
        if self._fd is None and not self._open():
            self._drop(len(batch), None)
            return
        seq, prev = self._seq, self._prev
        lines = []
        for record in batch:
            record["seq"], record["prev"] = seq + 1, prev
            try:
                record["hash"] = record_hash(record)
                lines.append(canonical(record) + b"\n")
            except (TypeError, ValueError) as exc:
                self._drop(1, f"cannot serialise a record: {exc}")
                continue
            seq, prev = seq + 1, record["hash"]
        if not lines:
            return
        data = b"".join(lines)
        try:
            _write_all(self._fd, data)
            if self._fsync:
                os.fsync(self._fd)
        except OSError as exc:
            self._rollback()
            self._drop(len(lines), f"cannot write {self.path}: {exc.strerror or exc}")
            return
        self._offset += len(data)
        with self._cond:
            self._seq, self._prev = seq, prev
            self._written += len(lines)

    def _rollback(self) -> None:
        # Never leave half a record mid-file: cut back to the last whole one.
        try:
            os.ftruncate(self._fd, self._offset)
        except OSError:
            os.close(self._fd)
            self._fd = None  # the next open repairs the tail

    def _open(self) -> bool:
        now = time.monotonic()
        if now < self._next_open:
            return False
        self._next_open = now + _REOPEN_EVERY
        fd = None
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise _OpenError("another writer holds this log open") from None
            size = os.fstat(fd).st_size
            end, last = _last_complete_line(fd, size)
            if end < size:
                os.ftruncate(fd, end)  # a partial record left by a killed writer
            if last is None:
                header = {"type": "header", "format": FORMAT, "v": FORMAT_VERSION, "created": _now(),
                          "seq": 0, "prev": GENESIS}
                header["hash"] = record_hash(header)
                data = canonical(header) + b"\n"
                _write_all(fd, data)
                seq, prev, end = 0, header["hash"], len(data)
            else:
                try:
                    rec = json.loads(last)
                    seq, prev = int(rec["seq"]), str(rec["hash"])
                except (ValueError, KeyError, TypeError):
                    raise _OpenError("its last line is not a log record; cannot continue the chain") from None
        except (OSError, _OpenError) as exc:
            if fd is not None:
                os.close(fd)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            with self._cond:
                self._errors += 1
                self._last_error = f"cannot open {self.path}: {reason}"
            return False
        self._fd, self._offset = fd, end
        with self._cond:
            self._seq, self._prev = seq, prev
        return True


class _OpenError(Exception):
    pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _rfind_newline(fd: int, before: int) -> int:
    """Offset of the last newline before ``before``, or -1; reads backwards in blocks."""
    pos = before
    while pos > 0:
        n = min(65536, pos)
        pos -= n
        i = os.pread(fd, n, pos).rfind(b"\n")
        if i != -1:
            return pos + i
    return -1


def _last_complete_line(fd: int, size: int) -> tuple[int, bytes | None]:
    """(end of the last complete line, that line without its newline)."""
    last_nl = _rfind_newline(fd, size)
    if last_nl == -1:
        return 0, None
    start = _rfind_newline(fd, last_nl) + 1
    return last_nl + 1, os.pread(fd, last_nl - start, start)


# ---- reading and verifying --------------------------------------------------


class LogFormatError(Exception):
    """A line of a decision log is not a JSON object."""


@dataclass(frozen=True, slots=True)
class LogProblem:
    line: int
    message: str


@dataclass(slots=True)
class VerifyResult:
    """What :func:`verify_log` found. ``ok`` ignores a truncated tail unless strict."""

    path: str
    records: int = 0  # decision records that verified in place
    problems: list[LogProblem] = field(default_factory=list)
    truncated_line: int | None = None  # a partial last line (no newline)
    head: str | None = None
    strict: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems and not (self.strict and self.truncated_line is not None)


def _split_lines(data: bytes) -> tuple[list[bytes], bytes]:
    """Complete lines, and the partial tail (b"" when the file ends in a newline)."""
    lines = data.split(b"\n")
    return lines[:-1], lines[-1]


def read_log(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yield ``(line number, record)`` for each complete line, header included.

    Raises OSError when unreadable and :class:`LogFormatError` for a complete
    line that is not a JSON object. A partial last line is skipped (see
    :func:`verify_log` to find out about it).
    """
    lines, _tail = _split_lines(Path(path).read_bytes())
    for n, line in enumerate(lines, 1):
        try:
            rec = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            raise LogFormatError(f"{path}:{n}: not a JSON record ({exc})") from None
        if not isinstance(rec, dict):
            raise LogFormatError(f"{path}:{n}: not a JSON object")
        yield n, rec


def verify_log(path: str | os.PathLike, *, strict: bool = False, expect_head: str | None = None,
               max_problems: int = 50) -> VerifyResult:
    """Recompute the hash chain of a decision log.

    Every problem names its line: a record whose content no longer matches its
    hash (edited), whose ``prev`` does not match the line before (a record
    deleted, inserted or moved; the ``seq`` numbers say which), or that is not
    JSON. After a break the check re-anchors on the line's own hash, so one
    tampered record is reported once. ``expect_head`` (a hash kept elsewhere)
    catches records removed from the end. Raises OSError when unreadable.
    """
    result = VerifyResult(str(path), strict=strict)
    lines, tail = _split_lines(Path(path).read_bytes())
    if tail:
        result.truncated_line = len(lines) + 1

    def problem(line: int, message: str) -> None:
        if len(result.problems) < max_problems:
            result.problems.append(LogProblem(line, message))

    if not lines:
        problem(1, "empty log: no header record")
        return result
    prev_hash, prev_seq = GENESIS, -1
    for n, raw in enumerate(lines, 1):
        try:
            rec = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            rec = None
        if not isinstance(rec, dict) or not isinstance(rec.get("hash"), str):
            problem(n, "not a log record (a line was inserted or corrupted)")
            continue
        seq = rec.get("seq")
        if n == 1 and rec.get("type") != "header":
            problem(1, "the first line is not the log header (the start of the log was removed)")
        elif n > 1 and rec.get("type") == "header":
            problem(n, "a second header record (logs were concatenated)")
        if record_hash(rec) != rec["hash"]:
            problem(n, "record was modified: its content does not match its hash")
        elif rec.get("prev") != prev_hash:
            problem(n, "chain broken: prev does not match the hash of the record before"
                    + _seq_hint(prev_seq, seq))
        elif isinstance(seq, int) and seq != prev_seq + 1:
            problem(n, f"sequence jumps from {prev_seq} to {seq}")
        elif n > 1:
            result.records += 1
        prev_hash = rec["hash"]
        prev_seq = seq if isinstance(seq, int) else prev_seq + 1
    result.head = prev_hash
    if expect_head is not None and prev_hash != expect_head:
        problem(len(lines), f"the last record's hash is {prev_hash[:16]}..., expected {expect_head[:16]}... "
                "(records were removed from the end, or the log was replaced)")
    return result


def _seq_hint(prev_seq: int, seq: Any) -> str:
    if not isinstance(seq, int):
        return ""
    if seq > prev_seq + 1:
        return f" (seq jumps from {prev_seq} to {seq}: record(s) deleted)"
    if seq <= prev_seq:
        return f" (seq {seq} after {prev_seq}: a record was inserted or moved)"
    return " (a record was replaced)"
