"""A health probe for containers: exit 0 when the sidecar is SERVING.

    python -m guardrails.sidecar.probe --addr 127.0.0.1:50051

For Kubernetes exec probes when the sidecar listens on loopback (a native
``grpc:`` probe connects to the pod IP instead). Uses the standard
grpc.health.v1 service, so it needs no token. Against a sidecar with
mutual TLS (``--tls-client-ca``), give it a client certificate:

    python -m guardrails.sidecar.probe --addr localhost:50051 --tls-ca ca.pem \
        --tls-cert probe.pem --tls-key probe.key

Exit codes: 0 serving; 1 not serving, unreachable or refused; 2 bad usage
(a certificate file that cannot be read, a key without a certificate).
"""

from __future__ import annotations

import argparse
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m guardrails.sidecar.probe", description=__doc__.splitlines()[0])
    p.add_argument("--addr", default="127.0.0.1:50051",
                   help="HOST:PORT of the sidecar, or unix:PATH for its socket (default: 127.0.0.1:50051)")
    p.add_argument("--service", default="guardrails.v1.Guardrails",
                   help="service to ask about; '' for the server as a whole")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds (default: 2)")
    p.add_argument("--tls-ca", metavar="PEM", help="connect with TLS, trusting this CA")
    p.add_argument("--tls-cert", metavar="PEM", help="this probe's certificate chain, for a sidecar that "
                   "requires client certificates (mutual TLS); needs --tls-key")
    p.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")
    p.add_argument("--server-name", help="TLS name to verify, when it differs from the host in --addr")
    args = p.parse_args(argv)

    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("a client certificate needs both --tls-cert and --tls-key")
    if args.tls_cert and not args.tls_ca:
        p.error("--tls-cert and --tls-key need --tls-ca (the CA that signed the sidecar's certificate)")
    if args.tls_ca:
        try:
            ca, key, cert = (_read(path) for path in (args.tls_ca, args.tls_key, args.tls_cert))
        except OSError as exc:
            p.error(f"cannot read {exc.filename}: {exc.strerror}")
        creds = grpc.ssl_channel_credentials(ca, key, cert)
        options = [("grpc.ssl_target_name_override", args.server_name)] if args.server_name else []
        channel = grpc.secure_channel(args.addr, creds, options=options)
    else:
        channel = grpc.insecure_channel(args.addr)
    with channel:
        try:
            resp = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout)
        except grpc.RpcError as exc:
            print(f"not serving: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
    if status != "SERVING":
        print(f"not serving: {status}", file=sys.stderr)
        return 1
    return 0


def _read(path: str | None) -> bytes | None:
    if path is None:
        return None
    with open(path, "rb") as f:
        return f.read()


if __name__ == "__main__":
    sys.exit(main())
