"""`guardrails serve`: run the gRPC sidecar until SIGTERM."""

from __future__ import annotations

import argparse
import gc
import sys
import threading

from guardrails.diagnostics import GuardrailsError, PolicyError
from guardrails.cli.common import UsageError, add_ner_option
from guardrails.sidecar.config import (
    DEFAULT_HEALTH_BUDGET,
    DEFAULT_STREAM_IDLE_TIMEOUT,
    DEFAULT_STREAM_MAX_LIFETIME,
    ListenError,
)

#: `guardrails serve` exits with this when it cannot listen (TCP or Unix socket alike).
EXIT_CANNOT_LISTEN = 3

NAME = "serve"
HELP = "serve decisions over gRPC (the sidecar), with hot reload, health, metrics and auth"


def register(sub) -> None:
    s = sub.add_parser(
        NAME,
        help=HELP,
        description="Serve the policies over gRPC (proto/guardrails/v1/guardrails.proto), with the standard "
        "health service and server reflection. The policies are reloaded when their files change or on "
        "SIGHUP; a set that does not compile is never swapped in. SIGTERM stops taking requests and lets "
        "in-flight ones finish. Exit codes: 0 stopped cleanly, 1 the policies do not load, 2 bad usage, "
        "3 cannot listen (the address or socket is in use or not available, whatever the transport). "
        "See docs/sidecar.md.",
    )
    s.add_argument("--policies", required=True, metavar="DIR|BUNDLE", help="policy directory, file or bundle")
    s.add_argument("--listen", default="127.0.0.1:50051", metavar="HOST:PORT",
                   help="address to serve on (default: 127.0.0.1:50051, loopback only), or unix:PATH for a Unix "
                        "domain socket, which only processes that can open the file reach")
    s.add_argument("--socket-mode", type=_octal_mode, metavar="OCTAL",
                   help="permissions of the unix: socket file, such as 660 (default: as the umask leaves them)")
    s.add_argument("--metrics", metavar="HOST:PORT", help="serve Prometheus metrics on http://HOST:PORT/metrics")
    s.add_argument("--key", metavar="KEYFILE", help="key that verifies a signed bundle")
    s.add_argument("--decision-log", metavar="FILE", help="append a hash-chained record of every decision to FILE")
    s.add_argument("--state", metavar="URL", default=None,
                   help="where session state (histories, labels, rate-limit counts) lives: 'memory' (the default; "
                        "this process only) or redis://HOST:PORT/DB, shared by every replica, which then need the "
                        "same $GUARDRAILS_HASH_SALT. When the store cannot be reached, decisions that need it fail "
                        "closed (state-unavailable) and resume once it answers")
    s.add_argument("--max-concurrency", type=int, default=32, metavar="N",
                   help="requests served at once, and the worker threads that run text checks; more get "
                        "RESOURCE_EXHAUSTED at once (default: 32)")
    s.add_argument("--max-message-bytes", type=int, default=4 * 1024 * 1024, metavar="N",
                   help="largest request or response message (default: 4 MiB)")
    s.add_argument("--tls-cert", metavar="PEM", help="server certificate chain (enables TLS)")
    s.add_argument("--tls-key", metavar="PEM", help="server private key")
    s.add_argument("--tls-client-ca", metavar="PEM", help="require client certificates signed by this CA (mTLS)")
    s.add_argument("--token-file", metavar="FILE",
                   help="require 'authorization: Bearer <token>' (the file's content) on every call but health")
    s.add_argument("--shadow", metavar="PATH", help="evaluate every request under this candidate too; log and "
                   "count differences, return only the active decision")
    s.add_argument("--canary", type=float, metavar="PCT", help="percent of requests (by request key) that the "
                   "candidate answers; needs --candidate")
    s.add_argument("--candidate", metavar="PATH", help="the canary's candidate policies")
    s.add_argument("--poll-interval", type=float, default=1.0, metavar="SECONDS",
                   help="how often to look for changed policy files (default: 1)")
    s.add_argument("--no-watch", action="store_true", help="reload only on SIGHUP")
    s.add_argument("--grace", type=float, default=10.0, metavar="SECONDS",
                   help="how long in-flight requests may take to finish at shutdown (default: 10)")
    s.add_argument("--stream-idle-timeout", type=float, default=DEFAULT_STREAM_IDLE_TIMEOUT, metavar="SECONDS",
                   help="end a GuardStream (or reflection stream) that sends nothing for this long, giving its "
                        f"slot back (DEADLINE_EXCEEDED; default: {DEFAULT_STREAM_IDLE_TIMEOUT:g})")
    s.add_argument("--stream-max-lifetime", type=float, default=DEFAULT_STREAM_MAX_LIFETIME, metavar="SECONDS",
                   help="end any stream (GuardStream, health Watch, reflection) older than this "
                        f"(DEADLINE_EXCEEDED; default: {DEFAULT_STREAM_MAX_LIFETIME:g})")
    s.add_argument("--health-budget", type=int, default=DEFAULT_HEALTH_BUDGET, metavar="N",
                   help="health and reflection calls served at once, apart from the checks' slots; streams take "
                        "all but 4, Watch streams without the token half (default: "
                        f"{DEFAULT_HEALTH_BUDGET})")
    s.add_argument("--allow-policy-removal", action="store_true",
                   help="let a reload drop a policy that is being served (by default such a reload is refused "
                        "and the last good set keeps serving)")
    s.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"),
                   help="debug logs every decision (ids, outcomes, rule ids; never content)")
    s.add_argument("--injection-model", metavar="MODULE:FACTORY",
                   help="score injection() with this importable backend instead of the shipped model: "
                        "FACTORY() returns an object with score(text) -> float and digest (docs/language.md)")
    add_ner_option(s)


def configure_logging(level: str) -> None:
    """--log-level applies to the sidecar's own logger only. Other libraries
    log at WARNING and above: presidio's debug output quotes the text it
    analyses, and nothing the sidecar logs may hold a detected value."""
    import logging  # here: every command imports this module, and only serve logs

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("guardrails").setLevel(getattr(logging, level.upper()))
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)  # per-start notices about languages
    logging.getLogger("presidio-anonymizer").setLevel(logging.ERROR)


def _octal_mode(value: str) -> int:
    try:
        mode = int(value, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an octal file mode, such as 660") from None
    if not 0 <= mode <= 0o777:
        raise argparse.ArgumentTypeError(f"{value!r} is not a file mode (0 to 777)")
    return mode


def run(args: argparse.Namespace) -> int:
    import signal

    from guardrails.sidecar.server import ServerConfig, SidecarServer

    configure_logging(args.log_level)
    config = ServerConfig(
        policies=args.policies, listen=args.listen, socket_mode=args.socket_mode, metrics=args.metrics,
        bundle_key=args.key, state=args.state,
        decision_log=args.decision_log, max_concurrency=args.max_concurrency,
        max_message_bytes=args.max_message_bytes, tls_cert=args.tls_cert, tls_key=args.tls_key,
        tls_client_ca=args.tls_client_ca, token_file=args.token_file, shadow=args.shadow,
        candidate=args.candidate, canary=args.canary, ner_model=args.ner_model, watch=not args.no_watch,
        injection_model=args.injection_model,
        poll_interval=args.poll_interval, grace=args.grace, stream_idle_timeout=args.stream_idle_timeout,
        stream_max_lifetime=args.stream_max_lifetime, health_budget=args.health_budget,
        allow_policy_removal=args.allow_policy_removal,
    )
    try:
        server = SidecarServer(config)
    except ListenError as err:
        return _cannot_listen(err)
    except GuardrailsError as err:
        raise UsageError(str(err)) from None
    # Handlers first: a signal that arrives while the policies load must not
    # kill the process with the default action.
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda *_: server.request_reload())
    try:
        server.start()
    except PolicyError as err:
        print(err.render() or str(err), file=sys.stderr)
        print("guardrails serve: the policies do not load; not starting", file=sys.stderr)
        server.stop(grace=0)
        return 1
    except ListenError as err:
        server.stop(grace=0)
        return _cannot_listen(err)
    except BaseException:
        server.stop(grace=0)
        raise

    # What start-up built (modules, compiled policies) lives as long as the
    # process: keep it out of the garbage collector's full passes.
    gc.freeze()
    while not stop.wait(0.5):
        pass
    server.stop()
    return 0


def _cannot_listen(err: ListenError) -> int:
    print(f"guardrails serve: error: {err}", file=sys.stderr)
    return EXIT_CANNOT_LISTEN
