"""An append-only, hash-chained decision log that never holds a raw detected value.

    >>> from guardrails.sources import load_paths
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
     "chunks"?: ["allow", "deny"], "labels"?: ["untrusted"]}

``labels`` (present when the decision attached any) are the label names the
rules attached: the policy's own vocabulary, never request content, so they
are always shown.

``hash`` is the SHA-256 of the canonical JSON of the record without ``hash``;
``prev`` is the previous line's ``hash``. :func:`verify_log` (``guardrails log
verify``) recomputes the chain, so any edit, deletion, insertion or
reordering breaks it at a named line. It checks each line's exact bytes: a
line must be the canonical JSON of its record, so one re-serialised (spaces,
key order, ``\\u`` escapes), ending in CR LF, or holding a key twice (readers
disagree on which value wins) fails even when its hash matches. Removing records *from the end* leaves
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
forwarded chunk texts, ``"result"`` (a ``tool_result`` request: what the tool
returned) the forwarded result, in its own shape; where nothing was forwarded
(a deny, a dropped chunk) strings stay masked. A request the engine refused
is logged too: a value JSON cannot hold (NaN, an infinity, an integer of
4,000 digits or more) is always masked, and a field nested deeper than 64
levels is ``{"$masked": KIND, "len": N, "deeper_than": 64}``.

**Sessions.** A request that names a session has ``"session"`` in its
``request``, masked like ``principal`` and ``context`` unless ``log_keep``
lists ``"session"``. The id is an identifier rather than content, but callers
choose it, and one built from a user's name or address would leak it; and
``principal.id``, the same kind of value, is masked by default too. With an
HMAC key (below) the masked session carries the same ``hmac`` in every record
of that session, so the key holder can follow a session
(``guardrails log show --session ID``) without the log holding the id. Markers carry no hash by default: an unsalted hash of a
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

The modules: :mod:`.records` builds a record (with :mod:`.keep` for
``log_keep``), :mod:`.writer` appends it (:class:`DecisionLog`), and
:mod:`.chain` is the file itself: the canonical form and hashing the writer
uses, and reading the file back and checking the chain.
"""

from __future__ import annotations

from guardrails.decision_log.chain import (  # noqa: F401  (all public names stay here)
    FORMAT, FORMAT_VERSION, GENESIS, LogFormatError, LogProblem, VerifyResult, canonical, read_log, record_hash, verify_log,
)
from guardrails.decision_log.keep import KeepSpec  # noqa: F401
from guardrails.decision_log.records import MASK_KEY, build_record, is_masked, value_hmac  # noqa: F401
from guardrails.decision_log.writer import LOG_KEY_ENV, DecisionLog, LogStats  # noqa: F401

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
    "value_hmac",
    "verify_log",
]
