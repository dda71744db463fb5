"""The playground's HTTP server: the standard library's ThreadingHTTPServer.

It serves the page and its assets from ``static/`` (no CDN: the page works
offline) and a small JSON API. Evaluations run in the worker process
(:mod:`guardrails.playground.worker`) under a time limit; saves run here,
through :class:`~guardrails.playground.files.PolicyDir`.

Safety, in the order a request meets it:

* it listens on loopback unless told otherwise (the CLI refuses another
  address without ``--allow-remote``);
* the ``Host`` header must name a loopback host (or the listen address), so a
  web page cannot reach the server through DNS rebinding;
* a POST must be ``application/json`` (a cross-site form cannot send that
  without a preflight this server never answers) and, when the browser sends
  ``Origin``, come from the page itself;
* a body over the size limit is refused before it is read;
* every page and asset carries a content security policy that allows this
  origin only.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from guardrails.playground.files import ConflictError, PathError, PolicyDir, digest
from guardrails.sidecar.config import is_loopback
from guardrails.playground.worker import Worker, WorkerError

STATIC = Path(__file__).with_name("static")
_ASSET = re.compile(r"^[a-z0-9][a-z0-9_.-]*\.(js|css|html|svg|txt)$")
_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml",
          ".txt": "text/plain"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
#: The API calls the worker answers, by path.
WORKER_CALLS = {"/api/check": "check", "/api/evaluate": "evaluate", "/api/graph": "graph", "/api/test": "test",
                "/api/diff": "diff"}
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True, slots=True)
class Settings:
    """How one playground serves."""

    host: str = "127.0.0.1"
    port: int = 8080
    policy_dir: PolicyDir | None = None
    max_body: int = 1024 * 1024  # bytes of one request body
    eval_timeout: float = 10.0  # seconds one evaluation may take
    allow_remote: bool = False


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) -> (host, port); ValueError says what is wrong."""
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)|([^:\s\[\]]+):(\d+)", text or "")
    if m is None:
        raise ValueError(f"{text!r} is not HOST:PORT (for example 127.0.0.1:8080, or [::1]:8080)")
    host = m.group(1) or m.group(3)
    port = int(m.group(2) or m.group(4))
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} is out of range (0-65535; 0 picks a free port)")
    return host, port


class PlaygroundServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, settings: Settings):
        self.settings = settings
        self.worker = Worker(settings.eval_timeout)
        if ":" in settings.host:
            self.address_family = socket.AF_INET6
        super().__init__((settings.host, settings.port), Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the page went away mid-answer (a closed tab): nothing to report
        super().handle_error(request, client_address)

    def server_close(self) -> None:
        super().server_close()
        self.worker.close()


class Handler(BaseHTTPRequestHandler):
    server: PlaygroundServer
    server_version = "guardrails-playground"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a local tool: no access log on the terminal

    # ---- answers
    def _send(self, status: int, body: bytes, ctype: str, *, cache: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "max-age=60" if cache else "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"),
                   "application/json; charset=utf-8")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message})

    # ---- who may ask
    def _host_ok(self) -> bool:
        if self.server.settings.allow_remote:
            return True
        host = self.headers.get("Host", "")
        name = urlsplit(f"//{host}").hostname or ""
        return name in LOOPBACK_NAMES or name == self.server.settings.host or is_loopback(name)

    def _origin_ok(self) -> bool:
        origin = self.headers.get("Origin")
        return origin is None or origin == f"http://{self.headers.get('Host', '')}"

    # ---- methods
    def do_GET(self) -> None:
        if not self._host_ok():
            return self._error(HTTPStatus.MISDIRECTED_REQUEST, "this server answers only to a loopback host name")
        path = urlsplit(self.path).path
        if path in ("/", "/index.html"):
            return self._asset("index.html")
        if path.startswith("/static/"):
            return self._asset(path[len("/static/"):])
        if path == "/favicon.ico":
            return self._send(204, b"", "image/x-icon", cache=True)
        if path == "/api/files":
            return self._json(200, self._files())
        if path == "/api/language":
            from guardrails.playground.api import language

            return self._json(200, language())
        return self._error(404, f"no such page: {path}")

    do_HEAD = do_GET

    def do_POST(self) -> None:
        if not self._host_ok():
            return self._error(HTTPStatus.MISDIRECTED_REQUEST, "this server answers only to a loopback host name")
        if not self._origin_ok():
            return self._error(403, "cross-origin requests are refused")
        if self.headers.get_content_type() != "application/json":
            return self._error(415, "send the request as application/json")
        if self.headers.get("Transfer-Encoding"):
            return self._error(411, "send a Content-Length (chunked bodies are not accepted)")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return self._error(411, "a Content-Length header is required")
        limit = self.server.settings.max_body
        if length < 0 or length > limit:
            self.close_connection = True
            return self._error(413, f"the request is {length} bytes; the limit is {limit} (--max-request-kb)")
        raw = self.rfile.read(length)
        try:
            payload = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            return self._error(400, f"the body is not JSON: {exc}")
        except RecursionError:
            return self._error(400, "the body is nested too deeply")
        if not isinstance(payload, dict):
            return self._error(400, "the body must be a JSON object")
        path = urlsplit(self.path).path
        if path == "/api/save":
            return self._save(payload)
        op = WORKER_CALLS.get(path)
        if op is None:
            return self._error(404, f"no such endpoint: POST {path}")
        from guardrails.playground.api import ApiError

        try:
            return self._json(200, self.server.worker.call(op, payload))
        except ApiError as exc:
            return self._error(400, str(exc))
        except WorkerError as exc:
            return self._error(exc.status, str(exc))

    def _method_not_allowed(self) -> None:
        self._error(405, f"{self.command} is not supported here")

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _method_not_allowed

    # ---- the routes
    def _asset(self, name: str) -> None:
        target = STATIC / name
        if not _ASSET.match(name) or not target.is_file():
            return self._error(404, f"no such file: {name}")
        self._send(200, target.read_bytes(), _TYPES[target.suffix] + "; charset=utf-8")

    def _files(self) -> dict:
        s = self.server.settings
        files = s.policy_dir.listing() if s.policy_dir is not None else {"scratch.policy": SCRATCH}
        return {
            "dir": s.policy_dir.root.name if s.policy_dir is not None else None,
            "save": s.policy_dir is not None,
            "files": files,
            "digests": {k: digest(v) for k, v in files.items()},
            "limits": {"max_body": s.max_body, "eval_timeout": s.eval_timeout},
        }

    def _save(self, payload: dict) -> None:
        pd = self.server.settings.policy_dir
        if pd is None:
            return self._error(403, "no POLICY_DIR was given, so there is nowhere to save "
                                    "(start `guardrails playground DIR`)")
        expected = payload.get("expected")
        if expected is not None and not isinstance(expected, str):
            return self._error(400, "expected must be the digest the file was loaded with")
        try:
            new = pd.save(payload.get("path"), payload.get("text"), expected)
        except ConflictError as exc:
            return self._error(409, str(exc))
        except PathError as exc:
            return self._error(400, str(exc))
        except OSError as exc:
            return self._error(500, f"cannot save {payload.get('path')}: {exc.strerror or exc}")
        self._json(200, {"path": payload.get("path"), "digest": new})


SCRATCH = """\
# A scratch policy: nothing is saved without a POLICY_DIR.
policy "scratch" version "0.1.0"

entities contact = [EMAIL_ADDRESS, PHONE_NUMBER]

input {
  rule redact-contact: redact contact using replace("<{entity}>")
  rule no-override: deny "Prompt injection attempt"
    when text matches /ignore (all|any|previous) instructions/i
}
"""


def make_server(settings: Settings) -> PlaygroundServer:
    """Bind (raises OSError when the address is taken); serve with ``serve_forever()``."""
    return PlaygroundServer(settings)


__all__ = ["CSP", "SCRATCH", "PlaygroundServer", "Settings", "is_loopback", "make_server", "parse_listen"]
