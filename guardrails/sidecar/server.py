"""The sidecar server: the rpc handlers on gRPC's asyncio server, with
health, reflection, TLS, metrics and hot reload.

    server = SidecarServer(ServerConfig(policies="policies/")).start()
    ...                                  # serve until told to stop
    server.stop()                        # in-flight requests finish first

``guardrails serve`` is a thin command-line layer over :class:`SidecarServer`.
The session store (``--state``) is opened once and handed to every engine
the active set and a canary build, so hot reloads keep every session and
rate-limit count; a shadow candidate gets a private in-memory store, so its
decisions never take a slot of a shared limit.
The server runs on an event loop in a thread of its own, so the class keeps
a plain synchronous API for the command line, tests and embedding.

gRPC's own limit on concurrent rpcs is not set: it counted health Watch
streams (which need no token) with everything else, so a few dozen of them
locked every caller out, and it answered callers that had already gone with
an ERROR traceback in the log. The sidecar's own budgets bound every call
instead: the concurrency slots the checks and streams (:mod:`.admission`),
the health budget health and reflection (:mod:`.health`). gRPC's queue of
calls not yet handed to the server is raised (:data:`MAX_PENDING_CALLS`),
so a burst of calls reaches those budgets and gets their one documented
refusal, rather than a stream reset the client reads as CANCELLED.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Callable

import grpc
from prometheus_client import start_http_server

from guardrails.decision_log import DecisionLog
from guardrails.detectors import DetectorError
from guardrails.detectors.injection.backends import load_backend
from guardrails.diagnostics import GuardrailsError
from guardrails.engine import HASH_SALT_ENV, Engine
from guardrails.pipeline import resolve_ner_model
from guardrails.sessions import MemoryStore, StoreError, open_store
from guardrails.sidecar.admission import serialize
from guardrails.sidecar.auth import TokenAuth, server_credentials
from guardrails.sidecar.config import (
    ListenError,
    ServerConfig,
    check_socket_path,
    is_loopback,
    split_listen,
    unix_socket_path,
)
from guardrails.sidecar.health import HEALTH_SERVICE, REFLECTION_V1, REFLECTION_V1ALPHA, HealthAndReflection
from guardrails.sidecar.metrics import Metrics, StoreStatus
from guardrails.sidecar.reload import PolicySet, Snapshot, Watcher
from guardrails.sidecar.rollout import ShadowRunner
from guardrails.sidecar.rpc import SERVICE, GuardrailsService
from guardrails.sidecar.rpc_stream import guard_stream_handler

log = logging.getLogger("guardrails.sidecar")

# Calls gRPC may hold before the server takes them (its defaults, 1,000 and
# 3,000, reset the streams of a larger burst before the sidecar sees them).
MAX_PENDING_CALLS = 20_000
# A connection must finish its handshake (TLS, HTTP/2 preface) within this.
HANDSHAKE_TIMEOUT_MS = 20_000
# The Guardrails methods and their rpc types, for the per-rpc counters.
METHODS = {"CheckInput": "unary", "CheckOutput": "unary", "CheckRetrieval": "unary", "CheckToolCall": "unary",
           "CheckToolResult": "unary", "ListPolicies": "unary", "GuardStream": "bidi_stream"}
# Policy versions the decision log keeps the log_keep of (the oldest go first).
MAX_REMEMBERED_VERSIONS = 256


def quiet_third_party_loggers() -> None:
    """Presidio's debug output quotes the text it analyses; the sidecar's
    logs must never hold a detected value, whatever the root level is."""
    for name in ("presidio-analyzer", "presidio-anonymizer"):
        lg = logging.getLogger(name)
        if lg.getEffectiveLevel() < logging.WARNING:
            lg.setLevel(logging.WARNING)


def method_label(method: str) -> tuple[str, str, str]:
    """(service, method, type) of a full method name, for the per-rpc
    counters; ``unknown`` for anything the sidecar does not serve."""
    service, _, name = method.lstrip("/").rpartition("/")
    if service == SERVICE and name in METHODS:
        return service, name, METHODS[name]
    if service == HEALTH_SERVICE and name in ("Check", "Watch"):
        return service, name, "unary" if name == "Check" else "server_stream"
    if service in (REFLECTION_V1, REFLECTION_V1ALPHA) and name == "ServerReflectionInfo":
        return service, name, "bidi_stream"
    return "unknown", "unknown", "unknown"


def rpc_handlers(service: GuardrailsService) -> grpc.GenericRpcHandler:
    """The Guardrails service's rpcs: the unary checks and GuardStream."""
    methods = service.unary_handlers()
    methods["GuardStream"] = grpc.stream_stream_rpc_method_handler(guard_stream_handler(service),
                                                                   response_serializer=serialize)
    return grpc.method_handlers_generic_handler(SERVICE, methods)


class SidecarServer:
    """Builds and runs the gRPC server for a :class:`ServerConfig`.

    ``start()`` loads the policies (raising :class:`~guardrails.PolicyError`
    if they do not compile: a sidecar never starts without a good set),
    binds the port and starts the watcher and the metrics endpoint.
    """

    def __init__(self, config: ServerConfig):
        config.validate()
        self.config = config
        self.store = self._open_store()
        self.metrics = Metrics(StoreStatus(self.store))
        self.port: int | None = None  # the TCP port bound (None on a Unix socket)
        self.address: str | None = None  # what a client dials: HOST:PORT or unix:PATH
        self._socket_path: str | None = None
        self.metrics_port: int | None = None
        self._salt = self._hash_salt()
        self._injection_model = self._load_injection_model()
        self._log = None
        self._seen_policies: dict[str, Any] = {}
        self._seen_lock = threading.Lock()
        self._server: grpc.aio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._health: HealthAndReflection | None = None
        self.service: GuardrailsService | None = None
        self._watcher: Watcher | None = None
        self._metrics_http: Any = None
        self._stopped = threading.Event()
        self.active: PolicySet | None = None
        self.candidate: PolicySet | None = None
        self.shadow: ShadowRunner | None = None
        self.auth = None

    def _hash_salt(self) -> bytes:
        # One salt for every engine this process builds, so hash() redactions
        # agree across reloads and between the active set and the candidate.
        salt = self.config.hash_salt if self.config.hash_salt is not None else os.environ.get(HASH_SALT_ENV)
        if salt is None:
            return secrets.token_bytes(32)
        return salt.encode() if isinstance(salt, str) else salt

    def _open_store(self) -> Any:
        """The session store every serving engine shares (see the module docstring)."""
        url = self.config.state
        try:
            store = open_store(url)
        except (ValueError, StoreError) as exc:
            raise GuardrailsError(f"--state: {exc}") from None
        if not isinstance(store, MemoryStore) and self.config.hash_salt is None \
                and os.environ.get(HASH_SALT_ENV) is None:
            store.close()
            # A random salt per replica would give each its own session keys
            # and fingerprints: they would never see each other's state.
            raise GuardrailsError(
                f"--state {getattr(store, 'where', 'a shared store')} needs ${HASH_SALT_ENV}: set it to the "
                "same secret on every replica (session keys and content fingerprints are keyed with it)")
        return store

    def _load_injection_model(self) -> Any:
        # Imported and started once: every reload and the candidate share the
        # backend, so a large model is not loaded again per policy change.
        spec = self.config.injection_model
        if spec is None:
            return None
        try:
            return load_backend(spec)
        except DetectorError as exc:
            raise GuardrailsError(f"cannot use the injection model: {exc}") from None

    def _builder(self, with_log: bool, shared_state: bool = True) -> Callable[[str | Path], Engine]:
        cfg = self.config
        options = dict(cfg.engine_options)
        if self._injection_model is not None:
            options.setdefault("injection_model", self._injection_model)
        # A shadow's private store lives as long as the server, across its reloads too.
        state = self.store if shared_state else MemoryStore()

        common = dict(hash_salt=self._salt, decision_log=self._log if with_log else None, **options)

        def build(path: str | Path) -> Engine:
            # Loaded without the store first: an engine that holds a store
            # takes the long way for every decision (evaluate_tools skips its
            # fast paths), and one whose policies keep no state never reads
            # it. (Twice as slow in the sidecar's tool calls: 33 against 15
            # us in service.) Only a set that keeps state gets the shared
            # store, built from the same compiled policies.
            engine = Engine.from_path(path, bundle_key=cfg.bundle_key, ner_model=cfg.ner_model, **common)
            if engine.state is None:
                return engine
            again = {k: v for k, v in common.items() if k != "coverage"}  # (a compile option, already applied)
            return Engine(engine.policies, ner_model=resolve_ner_model(cfg.ner_model), warnings=engine.warnings,
                          state=state, **again)

        return build

    def _on_swap(self, ps: PolicySet, snap: Snapshot) -> None:
        if self._log is None:
            return
        # The log learns every version ever served: a request still running
        # on the previous snapshot keeps its policy's log_keep.
        with self._seen_lock:
            for p in snap.engine.policies:
                self._seen_policies.pop(p.digest, None)
                self._seen_policies[p.digest] = p
            while len(self._seen_policies) > MAX_REMEMBERED_VERSIONS:
                self._seen_policies.pop(next(iter(self._seen_policies)))
            self._log.bind(list(self._seen_policies.values()))

    def start(self) -> "SidecarServer":
        cfg = self.config
        quiet_third_party_loggers()
        if cfg.decision_log is not None:
            self._log = DecisionLog(cfg.decision_log)
            self.metrics.decision_log = self._log
        self.active = PolicySet("active", cfg.policies, self._builder(True), on_swap=self._on_swap,
                                allow_removal=cfg.allow_policy_removal)
        self.active.load_initial()
        candidate_path = cfg.shadow or cfg.candidate
        if candidate_path is not None:
            # Shadow decisions are not returned, so they are not logged either.
            canary = cfg.rollout == "canary"
            self.candidate = PolicySet("candidate", candidate_path, self._builder(canary, shared_state=canary),
                                       on_swap=self._on_swap, allow_removal=cfg.allow_policy_removal)
            self.candidate.load_initial()
            if cfg.rollout == "shadow":
                self.shadow = ShadowRunner(self.metrics)
        sets = [s for s in (self.active, self.candidate) if s is not None]
        self.metrics.watch(sets)

        if cfg.token_file:
            self.auth = TokenAuth(cfg.token_file, self.metrics, label=method_label)
        self.service = GuardrailsService(self.active, self.candidate, cfg, self.metrics, self.shadow)
        self._run_loop()
        try:
            self._on_loop(self._serve())
        except BaseException:
            self._stop_loop()
            raise
        if cfg.metrics:
            self._start_metrics(cfg.metrics)
        if cfg.watch:
            extra = [self.auth] if self.auth is not None else []
            self._watcher = Watcher(sets, interval=cfg.poll_interval, extra=extra)
            self._watcher.start()
        policies = ", ".join(f"{p.name}@{p.version}" for p in self.active.snapshot.engine.policies)
        log.info("serving %s on %s%s (%s; state: %s)", SERVICE, self.address, " with TLS" if cfg.tls_cert else "",
                 policies, self.metrics.state.address)
        self._probe_store()
        return self

    def _probe_store(self) -> None:
        """Say at start when a shared store does not answer. The sidecar serves
        anyway: decisions that need the store fail closed (state-unavailable)
        until it answers, and then resume without a restart."""
        if isinstance(self.store, MemoryStore):
            return
        try:
            # A read of a key nothing writes (session keys are digests): one round trip.
            self.store.load("startup-probe", (), time.time())
        except StoreError as exc:
            log.warning("the session store does not answer (%s); decisions that need it fail closed until "
                        "it does", exc)

    # -- the gRPC server, on an asyncio event loop of its own
    def _run_loop(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=loop.run_forever, name="guardrails-grpc", daemon=True)
        self._loop_thread.start()

    def _on_loop(self, coro: Any, timeout: float | None = None) -> Any:
        """Run a coroutine on the server's loop and wait for its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _serve(self) -> None:
        cfg = self.config
        options = [
            # Up to twice the limit is read, so the handlers refuse (and count) what is over it.
            ("grpc.max_receive_message_length", min(2 * cfg.max_message_bytes, 2**31 - 1)),
            ("grpc.max_send_message_length", cfg.max_message_bytes),
            ("grpc.server.max_pending_requests", MAX_PENDING_CALLS),
            ("grpc.server.max_pending_requests_hard_limit", MAX_PENDING_CALLS),
            ("grpc.server_handshake_timeout_ms", HANDSHAKE_TIMEOUT_MS),
            ("grpc.so_reuseport", 0),  # a port already in use is an error, not a shared port
        ]
        # No maximum_concurrent_rpcs: see the module docstring.
        server = grpc.aio.server(interceptors=[self.auth] if self.auth is not None else None, options=options)
        assert self.service is not None
        self._health = HealthAndReflection(cfg, self.metrics, self.auth, (SERVICE,))
        server.add_generic_rpc_handlers((rpc_handlers(self.service), *self._health.handlers()))

        path = unix_socket_path(cfg.listen)
        host = "localhost" if path is not None else split_listen(cfg.listen)[0]
        bind = f"unix:{path}" if path is not None else cfg.listen
        if path is not None:
            check_socket_path(path, remove_stale=True)
        try:
            if cfg.tls_cert:
                creds = server_credentials(cfg.tls_cert, cfg.tls_key, cfg.tls_client_ca)
                self.port = server.add_secure_port(bind, creds)
            else:
                self.port = server.add_insecure_port(bind)
        except RuntimeError as exc:
            # gRPC's message ends with advice about its own debug logging.
            why = str(exc).split("; set GRPC_VERBOSITY", 1)[0]
            raise ListenError(f"cannot listen on {cfg.listen} (in use, or not an address of this machine): "
                              f"{why}") from None
        if not self.port:
            raise ListenError(f"cannot listen on {cfg.listen} (in use, or not an address of this machine)")
        if path is not None:
            self.port = None  # a socket has no port
            self.address = f"unix:{path}"
            self._socket_path = path
            if cfg.socket_mode is not None:
                os.chmod(path, cfg.socket_mode)
        else:
            self.address = f"{host}:{self.port}"
        if not is_loopback(host) and not cfg.tls_cert:
            log.warning("listening on %s without TLS: anyone who can reach it can query the policies; "
                        "use --tls-cert/--tls-key, or listen on 127.0.0.1", cfg.listen)
        if not is_loopback(host) and not cfg.token_file:
            log.warning("listening on %s without --token-file: requests are not authenticated", cfg.listen)
        await server.start()
        self._server = server
        await self._health.set_serving(("", SERVICE))

    async def _shutdown(self, grace: float) -> None:
        if self._health is not None:
            await self._health.shutting_down()  # health answers NOT_SERVING from now on
        if self._server is not None:
            log.info("shutting down: refusing new requests, waiting up to %.0fs for in-flight ones", grace)
            await self._server.stop(grace)

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._loop_thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        if not thread.is_alive():
            loop.close()
        self._loop = self._loop_thread = None

    def _start_metrics(self, address: str) -> None:
        host, port = split_listen(address)
        try:
            httpd, _thread = start_http_server(port, addr=host.strip("[]"), registry=self.metrics.registry)
        except OSError as exc:
            raise ListenError(f"cannot serve metrics on {address}: {exc.strerror or exc}") from None
        self._metrics_http = httpd
        self.metrics_port = httpd.server_address[1]
        log.info("metrics on http://%s:%d/metrics", host, self.metrics_port)

    # -- operations
    def reload(self) -> bool:
        """Reload every policy set now (what SIGHUP asks for). True when all
        swapped in; a set that fails keeps serving its last good snapshot."""
        return all([ps.reload(force=True) for ps in (self.active, self.candidate) if ps is not None])

    def request_reload(self) -> None:
        """Ask the watcher to reload soon; safe to call from a signal handler."""
        if self._watcher is not None:
            self._watcher.trigger()
        else:
            threading.Thread(target=self.reload, name="guardrails-reload", daemon=True).start()

    def stop(self, grace: float | None = None) -> None:
        """Stop taking requests, let in-flight ones finish (up to `grace`
        seconds), then stop the watcher, the metrics endpoint and the log."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        grace = self.config.grace if grace is None else grace
        if self._loop is not None:
            try:
                self._on_loop(self._shutdown(grace), timeout=grace + 30)
            finally:
                self._stop_loop()
        if self.service is not None:
            self.service.slots.pool.shutdown(wait=False, cancel_futures=True)
        if self._watcher is not None:
            self._watcher.stop()
        if self.shadow is not None:
            self.shadow.stop()
        if self._metrics_http is not None:
            self._metrics_http.shutdown()
            self._metrics_http.server_close()
        if self._log is not None:
            self._log.close(timeout=10)
        self.store.close()
        if self._socket_path is not None:
            try:
                os.unlink(self._socket_path)
            except FileNotFoundError:
                pass  # gRPC removed it
        if self._server is not None:
            log.info("stopped")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until `stop()` has been called (or `timeout`)."""
        return self._stopped.wait(timeout)

    def __enter__(self) -> "SidecarServer":
        return self.start() if self._server is None else self

    def __exit__(self, *exc: Any) -> None:
        self.stop(grace=1.0)


__all__ = ["ServerConfig", "SidecarServer", "rpc_handlers"]
