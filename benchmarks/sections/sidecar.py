"""The sidecar: `guardrails serve` against a plain grpcio health service.

Both servers run in their own processes on loopback. The floor is a bare
grpcio server answering only ``grpc.health.v1.Health/Check``: what any
Python gRPC round trip costs on this machine. Requests go through the
generated stubs (``GuardrailsClient`` adds conversion to a Decision; one
row shows it).

* Fixed rates: requests are sent on a schedule (open loop, non-blocking
  futures), and latency runs from the scheduled send time to the reply, so
  a late send counts against the server.
* Throughput: concurrent closed-loop clients in a separate process for a
  fixed time; decisions per second are shown as time per decision.
"""

from __future__ import annotations

import multiprocessing as mp
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..harness import Context, Row, SectionResult, Timing, section
from .tools import POLICY, requests, users

PLAIN_SERVER = r"""
import sys
from concurrent import futures
import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
server = grpc.server(futures.ThreadPoolExecutor(max_workers=40), options=[("grpc.so_reuseport", 0)])
h = health.HealthServicer()
h.set("", health_pb2.HealthCheckResponse.SERVING)
health_pb2_grpc.add_HealthServicer_to_server(h, server)
port = server.add_insecure_port("127.0.0.1:0")
server.start()
print(f"port {port}", flush=True)
sys.stdin.read()
server.stop(0)
"""


def _start_sidecar(policy_dir: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "guardrails.cli", "serve", "--policies", policy_dir,
                             "--listen", "127.0.0.1:0", "--no-watch"], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    assert proc.stderr is not None
    for line in proc.stderr:
        m = re.search(r"serving guardrails\.v1\.Guardrails on [\d.]+:(\d+)", line)
        if m:
            # Keep draining stderr so the server never blocks on a full pipe.
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, int(m.group(1))
        if time.time() > deadline:
            break
    proc.kill()
    raise RuntimeError("the sidecar did not start")


def _start_plain() -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-c", PLAIN_SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.match(r"port (\d+)", line)
    if not m:
        proc.kill()
        raise RuntimeError("the plain health server did not start")
    return proc, int(m.group(1))


def _stubs(port: int):
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from guardrails._proto import guardrails_pb2_grpc as pb_grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(channel).result(timeout=30)
    return channel, health_pb2_grpc.HealthStub(channel), pb_grpc.GuardrailsStub(channel), health_pb2


def _tool_requests(n: int):
    import random

    from guardrails._proto import guardrails_pb2 as pb
    from guardrails.server.convert import to_struct

    rnd = random.Random(7)
    out = []
    for a, _ in requests(rnd, users(rnd), n):
        out.append(pb.CheckToolCallRequest(tool=a["tool"], args=to_struct(a["args"]),
                                           principal=to_struct(a["principal"]), context=to_struct(a["context"]),
                                           policy="bench-tools"))
    return out


def paced(call_future, reqs: list, rate: float, seconds: float) -> list[float]:
    """Latencies from each scheduled send time to its reply, at `rate` per second."""
    n = max(1, int(rate * seconds))
    lat: list[float] = [0.0] * n
    done = threading.Semaphore(0)
    start = time.perf_counter() + 0.05
    for i in range(n):
        due = start + i / rate
        wait = due - time.perf_counter()
        if wait > 0:
            # Sleep, never spin: a spinning sender holds the GIL that gRPC's
            # completion threads need, and would delay every reply it times.
            time.sleep(wait)

        def finished(_f, i=i, due=due):
            lat[i] = time.perf_counter() - due
            done.release()

        call_future(reqs[i % len(reqs)]).add_done_callback(finished)
    for _ in range(n):
        done.acquire()
    return lat


def _load_worker(port: int, kind: str, seconds: float, threads: int, out) -> None:
    channel, health, stub, health_pb2 = _stubs(port)
    reqs = _tool_requests(200)
    hreq = health_pb2.HealthCheckRequest(service="")
    counts = [0] * threads
    stop = time.perf_counter() + seconds

    def loop(k: int) -> None:
        i = 0
        while time.perf_counter() < stop:
            if kind == "health":
                health.Check(hreq, timeout=10)
            else:
                stub.CheckToolCall(reqs[i % 200], timeout=10)
            i += 1
        counts[k] = i

    ts = [threading.Thread(target=loop, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put(sum(counts))
    channel.close()


def throughput(port: int, kind: str, seconds: float, procs: int = 2, threads: int = 8) -> float:
    q: mp.Queue = mp.get_context("spawn").Queue()
    ctx = mp.get_context("spawn")
    workers = [ctx.Process(target=_load_worker, args=(port, kind, seconds, threads, q)) for _ in range(procs)]
    for w in workers:
        w.start()
    total = sum(q.get(timeout=seconds + 120) for _ in workers)
    for w in workers:
        w.join()
    return total / seconds


@section("sidecar", "Sidecar: gRPC decisions vs a plain grpcio health check", needs=("grpc_health",))
def run(ctx: Context, res: SectionResult) -> None:
    from guardrails.client import GuardrailsClient

    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "tools.policy").write_text(POLICY)
        sidecar, sport = _start_sidecar(tmp)
        plain, pport = _start_plain()
        try:
            s_channel, s_health, stub, health_pb2 = _stubs(sport)
            p_channel, p_health, _, _ = _stubs(pport)
            hreq = health_pb2.HealthCheckRequest(service="")
            reqs = _tool_requests(1000)
            # Sanity: the sidecar decides like the engine.
            from guardrails import Engine

            engine = Engine.from_source(POLICY)
            import random

            rnd = random.Random(7)
            pairs = requests(rnd, users(rnd), 200)
            client = GuardrailsClient(f"127.0.0.1:{sport}")
            same = sum(
                client.check_tool_call(a["tool"], a["args"], principal=a["principal"], context=a["context"],
                                       policy="bench-tools").outcome
                == engine.check_tool_call(a["tool"], a["args"], principal=a["principal"], context=a["context"]).outcome
                for a, _ in pairs)
            res.check("sidecar decisions equal the engine's", same == len(pairs))

            # Sequential round trips.
            n = ctx.pick(200, 2000, 5000)
            for _ in range(200):
                stub.CheckToolCall(reqs[_ % 1000], timeout=10)
                p_health.Check(hreq, timeout=10)
            seq_tool, seq_health, seq_client = [], [], []
            a0 = pairs[0][0]
            for i in range(n):
                t0 = time.perf_counter()
                stub.CheckToolCall(reqs[i % 1000], timeout=10)
                t1 = time.perf_counter()
                p_health.Check(hreq, timeout=10)
                t2 = time.perf_counter()
                client.check_tool_call(a0["tool"], a0["args"], principal=a0["principal"], context=a0["context"],
                                       policy="bench-tools")
                t3 = time.perf_counter()
                seq_tool.append(t1 - t0)
                seq_health.append(t2 - t1)
                seq_client.append(t3 - t2)
            floor = Timing(seq_health)
            res.rows.append(Row("sequential CheckToolCall (stub)", Timing(seq_tool), "plain grpcio health", floor,
                                kind="relative"))
            res.rows.append(Row("sequential check_tool_call (GuardrailsClient)", Timing(seq_client),
                                "plain grpcio health", floor, kind="relative",
                                note="adds Struct conversion and building the Decision"))

            # Fixed request rates, open loop.
            secs = ctx.pick(0.5, 3.0, 10.0)
            for rate in (100, 1000):
                tool_lat = paced(stub.CheckToolCall.future, reqs, rate, secs)
                health_lat = paced(lambda r: p_health.Check.future(hreq), [None], rate, secs)
                t, h = Timing(tool_lat), Timing(health_lat)
                res.rows.append(Row(f"tool decision at {rate:,}/s", t, f"plain health at {rate:,}/s", h,
                                    kind="relative", note=f"{len(tool_lat)} requests, open loop"))
                if rate == 1000:
                    res.rows.append(Row("p50 at 1,000/s vs 0.5 ms budget", Timing([t.median]), "0.5 ms budget",
                                        Timing([0.0005]), kind="relative", goal=1.0))
                    res.rows.append(Row("p99 at 1,000/s vs 2 ms budget", Timing([t.p99]), "2 ms budget",
                                        Timing([0.002]), kind="relative", goal=1.0))

            # Throughput with concurrent clients (2 processes x 8 threads).
            load_secs = ctx.pick(1.0, 4.0, 10.0)
            tput_tool = throughput(sport, "tool", load_secs)
            tput_health = throughput(pport, "health", load_secs)
            res.rows.append(Row("max decisions/s (as time per decision)", Timing([1 / tput_tool]),
                                "plain health, same load", Timing([1 / tput_health]), kind="relative",
                                note=f"{tput_tool:,.0f} decisions/s vs {tput_health:,.0f} health checks/s"))
            res.rows.append(Row("max decisions/s vs 3,000/s budget", Timing([1 / tput_tool]), "3,000/s budget",
                                Timing([1 / 3000]), kind="relative", goal=1.0, note=f"{tput_tool:,.0f} decisions/s"))
            res.extra.update({"decisions_per_second": tput_tool, "health_checks_per_second": tput_health})
            res.notes.append("2 cores shared by the server, the clients and the floor server; "
                             "throughput clients: 2 processes x 8 threads, closed loop, sync stubs")
            client.close()
            s_channel.close()
            p_channel.close()
        finally:
            sidecar.send_signal(signal.SIGTERM)
            try:
                sidecar.wait(timeout=30)
            except subprocess.TimeoutExpired:
                sidecar.kill()
            assert plain.stdin is not None
            plain.stdin.close()
            try:
                plain.wait(timeout=10)
            except subprocess.TimeoutExpired:
                plain.kill()
