"""`guardrails serve` in a child process, its log read on a thread: shared by
the CLI tests and the fault suite."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVING = re.compile(r"serving guardrails\.v1\.Guardrails on 127\.0\.0\.1:(\d+)")


class Serve:
    """`guardrails serve --listen 127.0.0.1:0 ARGS...`. With `max_file_bytes`,
    the child limits the size of every file it writes (RLIMIT_FSIZE), for
    disk-full faults."""

    def __init__(self, *args: str, max_file_bytes: int | None = None):
        command = [sys.executable, "-m", "guardrails.cli", "serve", "--listen", "127.0.0.1:0", *args]
        if max_file_bytes is not None:
            # The limit is set by the child itself (no preexec_fn: forking a process that runs gRPC threads
            # is unsafe); files it writes cannot pass it, and a write that would gets EFBIG (Python ignores
            # SIGXFSZ).
            command[1:3] = ["-c", "import resource, runpy, sys; "
                            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({max_file_bytes}, {max_file_bytes})); "
                            "sys.argv[0] = 'guardrails'; runpy.run_module('guardrails.cli', run_name='__main__')"]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=dict(os.environ, PYTHONUNBUFFERED="1"), cwd=ROOT)
        self.lines: list[str] = []
        self.port: int | None = None
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            m = SERVING.search(line)
            if m:
                self.port = int(m.group(1))
                self._ready.set()
        self._ready.set()

    def wait_ready(self, timeout: float = 60) -> int:
        assert self._ready.wait(timeout), "the server did not start:\n" + self.log
        assert self.port is not None, "the server did not start:\n" + self.log
        return self.port

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
