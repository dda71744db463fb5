"""The log file: its canonical JSON lines, the hash chain that links them, reading the file back and verifying it.

The writer (:mod:`.writer`) and the reader below share this one definition of
a line and its hash, so what is written is what verifies.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping

GENESIS = "0" * 64
FORMAT = "guardrails-decision-log"
FORMAT_VERSION = 1


def canonical(obj: Any) -> bytes:
    """The one serialisation used for both writing and hashing a record."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 over the canonical JSON of ``record`` without its ``hash``."""
    return hashlib.sha256(canonical({k: v for k, v in record.items() if k != "hash"})).hexdigest()


def timestamp() -> str:
    """The current UTC time as the log writes it: ``2026-03-01T12:00:00.000001Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


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


class _NotCanonical(ValueError):
    """A line that parses, but not as the writer wrote it."""


class _NotARecord(ValueError):
    """A line that is JSON, but not an object."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        # Readers disagree on which of two values to keep (Python keeps the
        # last, others the first), so such a line can say two things at once.
        raise _NotCanonical(f"duplicate key {dup!r}")
    return obj


def _no_constant(name: str) -> Any:
    raise _NotCanonical(f"{name} is not a JSON value")


def parse_line(raw: bytes) -> dict:
    """One log line as the writer wrote it, or ValueError saying why not.

    A line is accepted only if it is exactly :func:`canonical` of the object
    it holds: a JSON object without duplicate keys, NaN or Infinity, and
    byte for byte what the writer hashed (sorted keys, no spaces, ASCII, no
    CR). Anything else was rewritten after the fact, even when it parses
    to a record whose hash still matches.
    """
    if raw.endswith(b"\r"):
        raise _NotCanonical("the line ends in CR LF (the log writes LF only): it was rewritten")
    try:
        rec = json.loads(raw, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except _NotCanonical:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"not JSON ({type(exc).__name__})") from None
    if not isinstance(rec, dict):
        raise _NotARecord("not a JSON object")
    if canonical(rec) != raw:
        raise _NotCanonical("not in the canonical form the log writes (sorted keys, no spaces, ASCII): "
                            "the line was re-serialised, so these are not the bytes that were hashed")
    return rec


def _split_lines(data: bytes) -> tuple[list[bytes], bytes]:
    """Complete lines, and the partial tail (b"" when the file ends in a newline)."""
    lines = data.split(b"\n")
    return lines[:-1], lines[-1]


def read_log(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yield ``(line number, record)`` for each complete line, header included.

    Raises OSError when unreadable and :class:`LogFormatError` for a complete
    line that is not a JSON object, or not one as the writer wrote it (a
    duplicate key, CR LF, re-serialised: :func:`parse_line`). A partial last line is skipped (see
    :func:`verify_log` to find out about it).
    """
    lines, _tail = _split_lines(Path(path).read_bytes())
    for n, line in enumerate(lines, 1):
        try:
            rec = parse_line(line)
        except _NotCanonical as exc:
            raise LogFormatError(f"{path}:{n}: not a record as the log writes it: {exc}") from None
        except ValueError as exc:
            raise LogFormatError(f"{path}:{n}: not a JSON record ({exc})") from None
        yield n, rec


def verify_log(path: str | os.PathLike, *, strict: bool = False, expect_head: str | None = None,
               max_problems: int = 50) -> VerifyResult:
    """Recompute the hash chain of a decision log.

    Every problem names its line: a record whose content no longer matches its
    hash (edited), whose bytes are not exactly what was hashed (re-serialised,
    CR LF line ends, a duplicate key: see :func:`parse_line`), whose ``prev``
    does not match the line before (a record deleted, inserted or moved; the
    ``seq`` numbers say which), or that is not JSON. After a break the check re-anchors on the line's own hash, so one
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
            rec = parse_line(raw)
        except _NotCanonical as exc:
            problem(n, f"record was modified: {exc}")
            rec = _loose(raw)
            if rec is not None and isinstance(rec.get("hash"), str):
                prev_hash = rec["hash"]  # re-anchor, so the next line is judged on its own
                prev_seq = rec["seq"] if isinstance(rec.get("seq"), int) else prev_seq + 1
            continue
        except ValueError:
            rec = None
        if rec is None or not isinstance(rec.get("hash"), str):
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


def _loose(raw: bytes) -> dict | None:
    """A rejected line read as Python would, only to re-anchor the chain on it."""
    try:
        rec = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return rec if isinstance(rec, dict) else None


def _seq_hint(prev_seq: int, seq: Any) -> str:
    if not isinstance(seq, int):
        return ""
    if seq > prev_seq + 1:
        return f" (seq jumps from {prev_seq} to {seq}: record(s) deleted)"
    if seq <= prev_seq:
        return f" (seq {seq} after {prev_seq}: a record was inserted or moved)"
    return " (a record was replaced)"
