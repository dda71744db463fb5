"""The playground's evaluations run in a child process, so a time limit can be kept.

A Python thread cannot be stopped, and a policy can be slow on a request (a
costly regex within its own limit, a huge text, many session steps). So the
server never evaluates in its own process: it sends each job to one child
(``python -m guardrails.playground.worker``) as a JSON line on its stdin and
waits for the answer line at most the time limit. A child that overruns is
killed; the next job starts a fresh one. Jobs are answered one at a time:
a page has one user, and a second job waits for the first, within its own
limit.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from typing import Any

#: How long a new worker may take to import and warm up, in seconds.
STARTUP_TIMEOUT = 60.0


class WorkerError(Exception):
    """The job was not answered: it overran the time limit, the worker died, or it was busy."""

    def __init__(self, message: str, status: int = 503):
        super().__init__(message)
        self.status = status


class Worker:
    """One child process that runs :data:`guardrails.playground.api.OPERATIONS`."""

    def __init__(self, timeout: float = 10.0):
        self.timeout = timeout
        self._proc: subprocess.Popen | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self.restarts = 0

    def _start(self) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "guardrails.playground.worker"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, encoding="utf-8",
                                bufsize=1)
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            for line in proc.stdout:
                lines.put(line)
            lines.put(None)  # the child is gone

        threading.Thread(target=pump, name="playground-worker-reader", daemon=True).start()
        # The child says it is ready once it has imported and warmed the
        # pipeline, so starting it never counts against a job's time limit.
        try:
            first = lines.get(timeout=STARTUP_TIMEOUT)
        except queue.Empty:
            first = None
        if first is None or json.loads(first) != ["ready", None]:
            proc.kill()
            proc.wait()
            raise WorkerError("the evaluation process did not start", 500)
        self._proc, self._lines = proc, lines
        return proc

    def call(self, op: str, payload: Any, timeout: float | None = None) -> Any:
        """Run `op` on `payload` in the child; ApiError for bad input, WorkerError when unanswered."""
        from guardrails.playground.api import ApiError

        limit = self.timeout if timeout is None else timeout
        started = time.monotonic()
        if not self._lock.acquire(timeout=limit):
            raise WorkerError(f"busy: another evaluation ran for the whole {limit:g} s limit; try again")
        try:
            proc = self._proc if self._proc is not None and self._proc.poll() is None else self._start()
            proc.stdin.write(json.dumps({"op": op, "payload": payload}) + "\n")
            proc.stdin.flush()
            remaining = max(0.05, limit - (time.monotonic() - started))
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                self._kill()
                raise WorkerError(f"the evaluation took longer than the {limit:g} s limit and was stopped "
                                  "(--eval-timeout sets the limit)") from None
            if line is None:
                self._kill()
                raise WorkerError("the evaluation process ended unexpectedly; it restarts on the next request", 500)
            kind, value = json.loads(line)
            if kind == "bad":
                raise ApiError(value)
            if kind == "fail":
                raise WorkerError(f"the evaluation failed: {value}", 500)
            return value
        except (BrokenPipeError, OSError) as exc:
            self._kill()
            raise WorkerError(f"the evaluation process is gone ({exc}); it restarts on the next request", 500) from None
        finally:
            self._lock.release()

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            self.restarts += 1
            proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass

    def close(self) -> None:
        with self._lock:
            self._kill()


def serve(stdin: Any = None, stdout: Any = None) -> None:
    """The child's loop: one JSON job a line in, one ``[kind, value]`` line out."""
    from guardrails.playground.api import OPERATIONS, ApiError

    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    OPERATIONS["check"]({"files": {"warm-up.policy": WARM_UP}})  # the grammar and the checker, loaded once
    stdout.write(json.dumps(["ready", None]) + "\n")
    stdout.flush()
    for line in stdin:
        try:
            job = json.loads(line)
            op = OPERATIONS.get(job.get("op"))
            if op is None:
                raise ApiError(f"unknown operation {job.get('op')!r}")
            if not isinstance(job.get("payload"), dict):
                raise ApiError("the request body must be a JSON object")
            answer = ["ok", op(job["payload"])]
        except ApiError as exc:
            answer = ["bad", str(exc)]
        except Exception as exc:  # noqa: BLE001 - one bad job must not end the worker
            answer = ["fail", f"{type(exc).__name__}: {exc}"]
        stdout.write(json.dumps(answer) + "\n")
        stdout.flush()


WARM_UP = 'policy "warm-up" version "0.1.0"\ninput { rule r: deny "x" when text contains "x" }\n'


if __name__ == "__main__":
    serve()
