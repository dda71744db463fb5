"""The background writer: a bounded queue, one thread appending batches, crash recovery on open."""

from __future__ import annotations

import atexit
import functools
import json
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

try:
    import fcntl
except ImportError:  # Windows has no flock: one writer per file is then the caller's job
    fcntl = None  # type: ignore[assignment]

from guardrails.decision_log.chain import FORMAT, FORMAT_VERSION, GENESIS, canonical, record_hash, timestamp
from guardrails.decision_log.keep import KeepResolver, KeepSpec
from guardrails.decision_log.records import build_record

LOG_KEY_ENV = "GUARDRAILS_LOG_KEY"


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
    """Append decision records to ``path``; see :mod:`guardrails.decision_log` for the format.

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
        self._keep = KeepResolver(keep)
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
                header = {"type": "header", "format": FORMAT, "v": FORMAT_VERSION, "created": timestamp(),
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
