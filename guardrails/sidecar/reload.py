"""Policy sets that reload themselves without ever serving a broken one.

A :class:`PolicySet` owns one source (a directory, a file or a bundle) and
the engine currently built from it, as an immutable :class:`Snapshot`. A
request reads ``policy_set.snapshot`` once and uses that engine from start
to end, so it can never see a mix of versions. A reload builds a whole new
engine in the background (parse, check, compile, warm up the detectors)
and swaps it in with one assignment, only when every policy compiles.
Otherwise the last good snapshot stays, and the failure is kept in
:class:`ReloadStatus` for logs, metrics and ``ListPolicies``.

A new set that compiles but no longer has a policy the served set has (its
file was deleted, or a push left it out) is refused the same way: that
policy's callers would get NOT_FOUND. A set built with
``allow_removal=True`` (``--allow-policy-removal``) takes such a reload.
Versions are not guarded: a new version of a file replaces the old one, and
callers pinned to the old version (``name@1.0.0``) then get NOT_FOUND.

:class:`Watcher` polls the sources' contents about once a second and
reloads a source whose fingerprint changed and then held still for one
more poll: a half-written file, or a Kubernetes ConfigMap in the middle of
its symlink swap, is not loaded.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from guardrails.diagnostics import Diagnostics, GuardrailsError, PolicyError
from guardrails.engine import Engine
from guardrails.resolve import discover
from guardrails.sources import is_bundle

log = logging.getLogger("guardrails.sidecar")

MAX_ERROR_LINES = 20


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One engine and where it came from; never changes once built."""

    engine: Engine
    generation: int
    loaded_at: float  # time.time()
    fingerprint: str


@dataclass(slots=True)
class ReloadStatus:
    ok: bool = True
    attempted_at: float | None = None
    error: str = ""
    successes: int = 0
    failures: int = 0


def fingerprint(path: str | Path) -> str:
    """A hash of everything a load of `path` reads: names and contents."""
    h = hashlib.sha256()
    p = Path(path)
    files = [p] if is_bundle(p) else discover([p], Diagnostics())
    for f in files:
        h.update(str(f).encode("utf-8", "surrogateescape") + b"\0")
        try:
            h.update(f.read_bytes())
        except OSError as exc:  # gone between listing and reading: still a change
            h.update(f"<unreadable: {exc.errno}>".encode())
        h.update(b"\0")
    if not files:
        h.update(b"<nothing>")
    return h.hexdigest()


def describe_failure(exc: BaseException) -> tuple[str, str]:
    """(one line per problem, for ListPolicies; the full rendering, for logs)."""
    if isinstance(exc, PolicyError):
        errors = [d for d in exc.diagnostics if d.is_error]
        lines = [f"{d.span}: error[{d.code}]: {d.message}" for d in errors[:MAX_ERROR_LINES]]
        if len(errors) > MAX_ERROR_LINES:
            lines.append(f"... and {len(errors) - MAX_ERROR_LINES} more error(s)")
        if not lines:
            lines = [str(exc)]
        return "\n".join(lines), exc.render() or str(exc)
    if isinstance(exc, GuardrailsError):
        return str(exc), str(exc)
    return f"{type(exc).__name__}: {exc}", f"{type(exc).__name__}: {exc}"


def refuse_removal(served: Engine, new: Engine) -> None:
    """Raise when `new` lacks a policy name that `served` has."""
    gone = sorted({p.name for p in served.policies} - {p.name for p in new.policies})
    if gone:
        raise GuardrailsError(
            f"the new set no longer has {', '.join(gone)}, which {'is' if len(gone) == 1 else 'are'} being "
            "served: callers would get NOT_FOUND. Restore the file, or restart the sidecar with "
            "--allow-policy-removal to let a reload drop policies")


class PolicySet:
    """A source of policies and the last good engine built from it.

    ``build(path)`` makes the engine (the server passes the decision log,
    the hash salt and any engine options); ``on_swap(set, snapshot)`` is
    called just before each swap. Metrics read ``snapshot`` and ``status`` when
    they are scraped.
    """

    def __init__(self, name: str, path: str | Path, build: Callable[[str | Path], Engine], *,
                 on_swap: Callable[["PolicySet", Snapshot], None] | None = None, allow_removal: bool = False):
        self.name = name  # "active" or "candidate"
        self.path = Path(path)
        self.allow_removal = allow_removal
        self._build = build
        self._on_swap = on_swap
        self._lock = threading.Lock()  # one load at a time; readers never take it
        self.status = ReloadStatus()
        self.snapshot: Snapshot | None = None
        self.failed_fingerprint: str | None = None  # the source as it was when it last failed

    def load_initial(self) -> Snapshot:
        """The first load: failures raise (a sidecar must not start without policies)."""
        with self._lock:
            fp = fingerprint(self.path)
            engine = self._build(self.path)
            snap = Snapshot(engine, 1, time.time(), fp)
            self._notify(snap)
            self.snapshot = snap
            self.status = ReloadStatus(ok=True, attempted_at=snap.loaded_at, successes=1)
        return snap

    def reload(self, *, force: bool = False, expected: str | None = None) -> bool:
        """Load the source again; swap only if everything compiles.

        Returns True when a new snapshot is in service. Without `force`, an
        unchanged source (same fingerprint) is left alone. Never raises.
        """
        with self._lock:
            current = self.snapshot
            try:
                fp = fingerprint(self.path)
            except Exception as exc:  # noqa: BLE001 - a reload must never take the server down
                fp = f"<error {type(exc).__name__}>"
            if expected is not None and fp != expected:
                return False  # changed again since it was seen: wait for it to settle
            if not force and current is not None and fp == current.fingerprint:
                return False
            attempted = time.time()
            try:
                engine = self._build(self.path)
                if current is not None and not self.allow_removal:
                    refuse_removal(current.engine, engine)
            except Exception as exc:  # noqa: BLE001 - keep the last good set whatever happened
                short, full = describe_failure(exc)
                self.failed_fingerprint = fp
                self.status.ok = False
                self.status.attempted_at = attempted
                self.status.error = short
                self.status.failures += 1
                log.error("reload of the %s policies from %s failed; still serving generation %s:\n%s",
                          self.name, self.path, current.generation if current else "-", full)
                failed = True
            else:
                generation = (current.generation if current else 0) + 1
                snap = Snapshot(engine, generation, time.time(), fp)
                self._notify(snap)  # before the swap: the first request on it is logged right
                self.snapshot = snap  # the swap: one assignment, seen whole or not at all
                self.failed_fingerprint = None
                self.status.ok = True
                self.status.attempted_at = attempted
                self.status.error = ""
                self.status.successes += 1
                versions = ", ".join(f"{p.name}@{p.version}" for p in engine.policies)
                log.info("reloaded the %s policies from %s: generation %d (%s)",
                         self.name, self.path, generation, versions)
                failed = False
        return not failed

    def source_matches_snapshot(self) -> None:
        """The source is back to what is served (a broken edit was undone)."""
        with self._lock:
            if self.failed_fingerprint is not None:
                self.failed_fingerprint = None
                self.status.ok = True
                self.status.error = ""
                log.info("the %s policies in %s are back to the served generation %s",
                         self.name, self.path, self.snapshot.generation if self.snapshot else "-")

    def _notify(self, snap: Snapshot) -> None:
        if self._on_swap is not None:
            try:
                self._on_swap(self, snap)
            except Exception:  # noqa: BLE001 - a hook must not stop a good set from serving
                log.exception("after loading the %s policies: a swap hook failed", self.name)


class Watcher:
    """Polls policy sets (and anything else with a ``poll()``) in one thread.

    ``trigger()`` asks for a forced reload of every set at the next moment;
    it only sets an event, so a signal handler may call it.
    """

    def __init__(self, sets: list[PolicySet], *, interval: float = 1.0, extra: list[Any] = ()):
        self.sets = sets
        self.interval = interval
        self.extra = list(extra)
        self._forced = threading.Event()
        self._stop = threading.Event()
        self._seen: dict[str, str] = {}
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="guardrails-policy-watcher", daemon=True)
        self._thread.start()

    def trigger(self) -> None:
        self._forced.set()

    def stop(self) -> None:
        self._stop.set()
        self._forced.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            forced = self._forced.wait(self.interval)
            if self._stop.is_set():
                return
            self._forced.clear()
            for ps in self.sets:
                try:
                    self._check(ps, forced)
                except Exception:  # noqa: BLE001 - the watcher must outlive any surprise
                    log.exception("policy watcher: unexpected error while checking %s", ps.path)
            for thing in self.extra:
                try:
                    thing.poll()
                except Exception:  # noqa: BLE001
                    log.exception("policy watcher: unexpected error in %r", thing)

    def _check(self, ps: PolicySet, forced: bool) -> None:
        if forced:
            log.info("reload requested (SIGHUP): %s policies from %s", ps.name, ps.path)
            ps.reload(force=True)
            self._seen.pop(ps.name, None)
            return
        fp = fingerprint(ps.path)
        snap = ps.snapshot
        if snap is not None and fp == snap.fingerprint:
            self._seen.pop(ps.name, None)
            ps.source_matches_snapshot()
            return
        if self._seen.get(ps.name) == fp:
            # Unchanged for a whole interval: settled. Load it, unless it
            # already failed to load exactly as it is now.
            if ps.failed_fingerprint != fp:
                ps.reload(expected=fp)
            return
        self._seen[ps.name] = fp

