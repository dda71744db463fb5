"""A health probe for containers: exit 0 when the sidecar is SERVING.

    python -m guardrails.sidecar.probe --addr 127.0.0.1:50051

For Kubernetes exec probes when the sidecar listens on loopback (a native
``grpc:`` probe connects to the pod IP instead). Uses the standard
grpc.health.v1 service, so it needs no token.
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
    p.add_argument("--server-name", help="TLS name to verify, when it differs from the host in --addr")
    args = p.parse_args(argv)

    if args.tls_ca:
        with open(args.tls_ca, "rb") as f:
            creds = grpc.ssl_channel_credentials(f.read())
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


if __name__ == "__main__":
    sys.exit(main())
