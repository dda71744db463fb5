"""What ``guardrails serve`` can be told: :class:`ServerConfig`, and the
listen addresses it accepts (``HOST:PORT`` or ``unix:PATH``).

Checked before anything starts, so a bad flag is an error message, never a
half-started server. Importing this module does not import gRPC.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guardrails.diagnostics import GuardrailsError

DEFAULT_LISTEN = "127.0.0.1:50051"
DEFAULT_MAX_CONCURRENCY = 32
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
DEFAULT_STREAM_IDLE_TIMEOUT = 30.0
DEFAULT_STREAM_MAX_LIFETIME = 600.0
DEFAULT_HEALTH_BUDGET = 16
CHECK_RESERVE = 4  # health budget units streams can never take: room for health Checks


class ListenError(GuardrailsError):
    """The sidecar cannot listen where it was told to: the address is in use
    or not this machine's, or the socket path cannot be used. One failure
    kind whatever the transport (``guardrails serve`` exits 3)."""


@dataclass
class ServerConfig:
    """Everything `guardrails serve` can set. Only `policies` is required."""

    policies: str | os.PathLike
    listen: str = DEFAULT_LISTEN  # HOST:PORT, or unix:PATH for a Unix domain socket
    socket_mode: int | None = None  # permissions of the unix: socket file, such as 0o660
    metrics: str | None = None  # host:port for the Prometheus endpoint
    bundle_key: str | bytes | None = None
    decision_log: str | os.PathLike | None = None
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    token_file: str | None = None
    shadow: str | os.PathLike | None = None  # candidate path, shadow mode
    candidate: str | os.PathLike | None = None  # candidate path, canary mode
    canary: float | None = None  # percent of requests the candidate answers
    hash_salt: str | bytes | None = None  # default: $GUARDRAILS_HASH_SALT, else random per process
    state: str | None = None  # session store: None/"memory", or redis://HOST:PORT/DB shared by replicas
    ner_model: str | None = None
    injection_model: str | None = None  # module:factory of an opt-in injection() backend
    watch: bool = True  # poll the sources and reload on change
    poll_interval: float = 1.0
    grace: float = 10.0  # seconds in-flight requests get at shutdown
    stream_idle_timeout: float = DEFAULT_STREAM_IDLE_TIMEOUT  # a stream silent this long is ended
    stream_max_lifetime: float = DEFAULT_STREAM_MAX_LIFETIME  # no stream lasts longer (GuardStream, Watch, reflection)
    health_budget: int = DEFAULT_HEALTH_BUDGET  # health and reflection calls at once
    allow_policy_removal: bool = False  # a reload may drop a policy that is being served
    engine_options: dict[str, Any] = field(default_factory=dict)  # passed to every Engine
    tracer_provider: Any = None  # OpenTelemetry spans for decisions (sidecar/tracing.py); default: the global one

    def validate(self) -> None:
        path = unix_socket_path(self.listen)
        if path is None:
            split_listen(self.listen)
        else:
            check_socket_path(path)
        if self.socket_mode is not None and path is None:
            raise GuardrailsError("--socket-mode applies only to --listen unix:PATH")
        if self.socket_mode is not None and not 0 <= self.socket_mode <= 0o777:
            raise GuardrailsError(f"--socket-mode {self.socket_mode:o} is not a file mode (0 to 777, octal)")
        if self.max_concurrency < 1:
            raise GuardrailsError("--max-concurrency must be at least 1")
        if self.max_message_bytes < 1024:
            raise GuardrailsError("--max-message-bytes must be at least 1024")
        if not self.stream_idle_timeout > 0:
            raise GuardrailsError("--stream-idle-timeout must be a positive number of seconds")
        if not self.stream_max_lifetime > 0:
            raise GuardrailsError("--stream-max-lifetime must be a positive number of seconds")
        if self.health_budget < 2 * CHECK_RESERVE:
            raise GuardrailsError(f"--health-budget must be at least {2 * CHECK_RESERVE}")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise GuardrailsError("TLS needs both --tls-cert and --tls-key")
        if self.tls_client_ca and not self.tls_cert:
            raise GuardrailsError("--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key")
        if self.shadow and (self.candidate or self.canary is not None):
            raise GuardrailsError("choose one rollout: --shadow PATH, or --canary PCT --candidate PATH")
        if (self.canary is None) != (self.candidate is None):
            raise GuardrailsError("a canary needs both --canary PCT and --candidate PATH")
        if self.injection_model is not None and ":" not in self.injection_model:
            raise GuardrailsError("--injection-model takes module:factory, such as mypkg.detect:load")
        if self.canary is not None and not 0 <= self.canary <= 100:
            raise GuardrailsError("--canary takes a percentage between 0 and 100")

    @property
    def rollout(self) -> str | None:
        return "shadow" if self.shadow else ("canary" if self.candidate else None)


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_listen(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise GuardrailsError(f"cannot listen on {address!r}: use HOST:PORT, such as {DEFAULT_LISTEN}")
    return host, int(port)


def unix_socket_path(address: str) -> str | None:
    """The socket path of a ``unix:PATH`` (or ``unix://PATH``) address, else None."""
    if not address.startswith("unix:"):
        return None
    path = address[len("unix:"):]
    return path[2:] if path.startswith("//") else path


def check_socket_path(path: str, *, remove_stale: bool = False) -> None:
    """A clear error, before anything starts, for a socket path that cannot
    be served on. A socket file left by a sidecar that died (nothing answers
    on it) is fine, and removed with `remove_stale`; one that a live server
    answers on is an error, as a TCP port in use is."""
    if not path:
        raise GuardrailsError("cannot listen on unix: with no path; use unix:/run/guardrails/sidecar.sock")
    parent = Path(path).parent
    if not parent.is_dir():
        raise ListenError(f"cannot listen on unix:{path}: the directory {parent} does not exist")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ListenError(f"cannot listen on unix:{path}: {exc.strerror or exc}") from None
    if not stat.S_ISSOCK(st.st_mode):
        raise ListenError(f"cannot listen on unix:{path}: the path exists and is not a socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except OSError:
            if remove_stale:
                os.unlink(path)  # nothing answers: a stale socket
            return
    raise ListenError(f"cannot listen on unix:{path}: a server is already listening there")


__all__ = ["CHECK_RESERVE", "DEFAULT_LISTEN", "DEFAULT_MAX_CONCURRENCY", "DEFAULT_MAX_MESSAGE_BYTES", "ListenError", "ServerConfig",
           "check_socket_path", "is_loopback", "split_listen", "unix_socket_path"]
