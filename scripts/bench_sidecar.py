#!/usr/bin/env python3
"""Latency of the sidecar on loopback: CheckToolCall against a bare health check.

    python scripts/bench_sidecar.py [--n 3000] [--policies policies/]

Starts `guardrails serve` in its own process (so client and server do not
share a GIL), warms up, then times sequential round trips on one channel:

* grpc.health.v1 Check: the floor, what any gRPC call costs here;
* CheckToolCall through the generated stub (the wire and the engine);
* CheckToolCall through GuardrailsClient (plus Struct and Decision conversion);
* CheckInput with PII detection, for scale.

Prints p50 / p90 / p99 in microseconds.
"""

from __future__ import annotations

import argparse
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentiles(samples: list[float]) -> str:
    s = sorted(samples)
    q = lambda p: s[min(len(s) - 1, int(p * len(s)))] * 1e6  # noqa: E731
    return f"p50 {q(0.50):7.0f} us   p90 {q(0.90):7.0f} us   p99 {q(0.99):7.0f} us   mean {statistics.mean(s) * 1e6:7.0f} us"


def timed(fn, n: int) -> list[float]:
    for _ in range(min(200, n)):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--policies", default=str(ROOT / "policies"))
    args = ap.parse_args()

    proc = subprocess.Popen([sys.executable, "-m", "guardrails.cli", "serve", "--policies", args.policies,
                             "--listen", "127.0.0.1:0", "--no-watch"], stderr=subprocess.PIPE, text=True, cwd=ROOT)
    port = None
    for line in proc.stderr:
        m = re.search(r"serving guardrails\.v1\.Guardrails on 127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
            break
    if port is None:
        print("the server did not start", file=sys.stderr)
        return 1
    try:
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        from guardrails._proto import guardrails_pb2 as pb
        from guardrails._proto import guardrails_pb2_grpc as pb_grpc
        from guardrails.client import GuardrailsClient
        from guardrails.server.convert import to_struct

        target = f"127.0.0.1:{port}"
        channel = grpc.insecure_channel(target)
        health = health_pb2_grpc.HealthStub(channel)
        stub = pb_grpc.GuardrailsStub(channel)
        client = GuardrailsClient(target)
        hreq = health_pb2.HealthCheckRequest(service="")
        treq = pb.CheckToolCallRequest(tool="issue_refund", args=to_struct({"amount": 50, "order": "ORD-12345678"}),
                                       principal=to_struct({"role": "agent"}), policy="support-bot")
        args_ = {"amount": 50, "order": "ORD-12345678"}
        print(f"{args.n} sequential calls each, one channel, loopback, server in its own process")
        print(f"  health Check               {percentiles(timed(lambda: health.Check(hreq, timeout=5), args.n))}")
        print(f"  CheckToolCall (stub)       {percentiles(timed(lambda: stub.CheckToolCall(treq, timeout=5), args.n))}")
        print("  CheckToolCall (client)     " + percentiles(timed(lambda: client.check_tool_call(
            "issue_refund", args_, principal={"role": "agent"}, policy="support-bot"), args.n)))
        counter = iter(range(10**9))  # a new text each call: no detector cache hits
        print("  CheckInput, PII (client)   " + percentiles(timed(lambda: client.check_input(
            f"Parcel {next(counter)} hasn't arrived, mail me at jo@example.com", policy="support-bot"),
            max(200, args.n // 10))))
        client.close()
        channel.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
