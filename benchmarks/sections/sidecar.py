"""The sidecar: `guardrails serve` against a plain grpcio health service.

Both servers run in their own processes on loopback. The floor is a bare
grpcio asyncio server answering only ``grpc.health.v1.Health/Check`` (the
faster of grpcio's two Python servers on this machine): what any Python
gRPC service costs before it does any work.

Two kinds of client drive them:

* **A native load generator** (``h2load``, from nghttp2) for the fixed
  rates and the throughput, when it is on the PATH. It is what a service
  written in Go, Java or C++ looks like to the sidecar: a client that costs
  the shared two cores little, so the figures are the servers'. Its requests
  are checked: the sidecar's own metrics must count one decision for every
  request h2load saw answered, and no refusal.
* **Python clients** (the generated stubs, and ``GuardrailsClient``) for the
  sequential round trips, and for everything when h2load is missing
  (``--loadgen python`` forces that). A Python client spends about as much
  CPU per call as the server, on the same two cores, so its figures are
  higher and its throughput lower; the notes say which client made each row.

Fixed rates run open loop from a schedule; throughput runs concurrent
closed-loop clients for a fixed time, shown as time per decision. Sequential
round trips alternate the servers request by request; a run under load
cannot, so each repetition makes one run against each server, in an order
drawn at random.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from ..harness import (
    Context,
    Measured,
    SectionResult,
    Timing,
    budget_row,
    fmt_time,
    measure,
    section,
)
from .tools import POLICY, requests, users

PLAIN_SERVER = r"""
import asyncio, sys
import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

async def main():
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    h = health.aio.HealthServicer()
    await h.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(h, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"port {port}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.stop(0)

asyncio.run(main())
"""

HEALTH_PATH = "/grpc.health.v1.Health/Check"
TOOL_PATH = "/guardrails.v1.Guardrails/CheckToolCall"


class _Sidecar:
    def __init__(self, proc: subprocess.Popen, port: int, metrics_port: int):
        self.proc, self.port, self.metrics_port = proc, port, metrics_port

    def counters(self) -> tuple[float, float]:
        """(decisions returned, requests refused) from the sidecar's metrics."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as r:
            text = r.read().decode()
        total = {"guardrails_decisions_total": 0.0, "guardrails_rpcs_rejected_total": 0.0}
        for line in text.splitlines():
            name = line.split("{", 1)[0].split(" ", 1)[0]
            if name in total:
                total[name] += float(line.rsplit(" ", 1)[1])
        return total["guardrails_decisions_total"], total["guardrails_rpcs_rejected_total"]


def _start_sidecar(policy_dir: str) -> _Sidecar:
    proc = subprocess.Popen([sys.executable, "-m", "guardrails.cli", "serve", "--policies", policy_dir,
                             "--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--no-watch"],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    metrics_port = 0
    assert proc.stderr is not None
    for line in proc.stderr:
        m = re.search(r"metrics on http://[\d.]+:(\d+)/metrics", line)
        if m:
            metrics_port = int(m.group(1))
        m = re.search(r"serving guardrails\.v1\.Guardrails on [\d.]+:(\d+)", line)
        if m:
            # Keep draining stderr so the server never blocks on a full pipe.
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return _Sidecar(proc, int(m.group(1)), metrics_port)
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

    from guardrails.sidecar._proto import guardrails_pb2_grpc as pb_grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(channel).result(timeout=30)
    return channel, health_pb2_grpc.HealthStub(channel), pb_grpc.GuardrailsStub(channel), health_pb2


def _tool_requests(n: int):
    from guardrails.sidecar._proto import guardrails_pb2 as pb
    from guardrails.sidecar.convert import to_struct

    rnd = random.Random(7)
    out = []
    for a, _ in requests(rnd, users(rnd), n):
        out.append(pb.CheckToolCallRequest(tool=a["tool"], args=to_struct(a["args"]),
                                           principal=to_struct(a["principal"]), context=to_struct(a["context"]),
                                           policy="bench-tools"))
    return out


# ---- the native load generator ------------------------------------------------


def grpc_frame(message_bytes: bytes) -> bytes:
    """One gRPC message on the wire: uncompressed flag, length, bytes."""
    return b"\0" + struct.pack(">I", len(message_bytes)) + message_bytes


class H2Load:
    """h2load sending one gRPC request body, over and over, on loopback."""

    def __init__(self, exe: str, workdir: str):
        self.exe, self.workdir = exe, workdir

    def run(self, port: int, path: str, body: bytes, args: list[str], timeout: float) -> tuple[list[float], float]:
        """(per-request latencies in seconds, requests per second h2load reports)."""
        data = os.path.join(self.workdir, "body.bin")
        log = os.path.join(self.workdir, "h2load.log")
        Path(data).write_bytes(grpc_frame(body))
        if os.path.exists(log):
            os.remove(log)
        cmd = [self.exe, *args, "-d", data, "-H", "content-type: application/grpc", "-H", "te: trailers",
               "--log-file", log, f"http://127.0.0.1:{port}{path}"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        m = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out.stdout)
        if out.returncode != 0 or m is None:
            raise RuntimeError(f"h2load failed ({out.returncode}): {(out.stderr or out.stdout).strip()[:300]}")
        failed = re.search(r"requests: \d+ total, \d+ started, \d+ done, \d+ succeeded, (\d+) failed, (\d+) errored",
                           out.stdout)
        if failed is None or failed.group(1) != "0" or failed.group(2) != "0":
            raise RuntimeError(f"h2load saw failed requests: {failed.group(0) if failed else out.stdout[:300]}")
        # Each line: start time, HTTP status, microseconds from request to response.
        lat = [int(line.split()[2]) / 1e6 for line in Path(log).read_text().splitlines() if line.strip()]
        return lat, float(m.group(1))

    def paced(self, port: int, path: str, body: bytes, rate: int, seconds: float) -> list[float]:
        # One connection, one request at a time, sent on h2load's schedule.
        n = max(1, int(rate * seconds))
        lat, _ = self.run(port, path, body, ["-n", str(n), "-c", "1", "-m", "1", "--rps", str(rate)],
                          timeout=seconds * 3 + 60)
        return lat

    def count(self, port: int, path: str, body: bytes, n: int) -> None:
        # `n` requests as fast as they are answered, on four connections with four streams each.
        self.run(port, path, body, ["-n", str(n), "-c", "4", "-m", "4"], timeout=n / 100 + 60)

    def saturate(self, port: int, path: str, body: bytes, seconds: float) -> float:
        # Four connections with four streams each, for a fixed time after a warm-up.
        secs = max(1, round(seconds))  # h2load takes whole seconds
        _, rps = self.run(port, path, body, ["-c", "4", "-m", "4", "-D", str(secs), "--warm-up-time", "1"],
                          timeout=seconds + 90)
        return rps


def cpu_seconds(pid: int) -> float | None:
    """The CPU time (user and system, all threads) a process has used so far,
    from /proc (Linux); None where that is not readable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pick_loadgen(ctx: Context) -> str | None:
    """The h2load executable to use, or None for the Python clients."""
    choice = ctx.loadgen
    if choice == "python":
        return None
    exe = shutil.which("h2load")
    if exe is None and choice == "h2load":
        raise RuntimeError("--loadgen h2load: h2load is not on the PATH (Debian/Ubuntu: apt install "
                           "nghttp2-client; macOS: brew install nghttp2)")
    return exe


# ---- the Python clients --------------------------------------------------------


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


# ---- the section ---------------------------------------------------------------


@section("sidecar", "Sidecar: gRPC decisions vs a plain grpcio health check", needs=("grpc_health",))
def run(ctx: Context, res: SectionResult) -> None:
    h2exe = pick_loadgen(ctx)
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "tools.policy").write_text(POLICY)
        sidecar = _start_sidecar(tmp)
        plain, pport = _start_plain()
        try:
            _measure(ctx, res, sidecar, pport, H2Load(h2exe, tmp) if h2exe else None, plain.pid)
        finally:
            sidecar.proc.send_signal(signal.SIGTERM)
            try:
                sidecar.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                sidecar.proc.kill()
            assert plain.stdin is not None
            plain.stdin.close()
            try:
                plain.wait(timeout=10)
            except subprocess.TimeoutExpired:
                plain.kill()


def _measure(ctx: Context, res: SectionResult, sidecar: _Sidecar, pport: int, h2: H2Load | None,
             plain_pid: int) -> None:
    from guardrails import Engine
    from guardrails.sidecar.client import GuardrailsClient

    sport = sidecar.port
    s_channel, _s_health, stub, health_pb2 = _stubs(sport)
    p_channel, p_health, _, _ = _stubs(pport)
    hreq = health_pb2.HealthCheckRequest(service="")
    reqs = _tool_requests(1000)
    client = GuardrailsClient(f"127.0.0.1:{sport}")
    try:
        # Sanity: the sidecar decides like the engine.
        engine = Engine.from_source(POLICY)
        rnd = random.Random(7)
        pairs = requests(rnd, users(rnd), 200)
        same = sum(
            client.check_tool_call(a["tool"], a["args"], principal=a["principal"], context=a["context"],
                                   policy="bench-tools").outcome
            == engine.check_tool_call(a["tool"], a["args"], principal=a["principal"], context=a["context"]).outcome
            for a, _ in pairs)
        res.check("sidecar decisions equal the engine's", same == len(pairs))

        # Sequential round trips from Python: the three calls of each request
        # in an order drawn at random.
        for i in range(200):
            stub.CheckToolCall(reqs[i % 1000], timeout=10)
            p_health.Check(hreq, timeout=10)
        a0 = pairs[0][0]
        n = ctx.pick(50, 300, 1000)
        m = measure([lambda r: stub.CheckToolCall(r, timeout=10), lambda _: p_health.Check(hreq, timeout=10),
                     lambda _: client.check_tool_call(a0["tool"], a0["args"], principal=a0["principal"],
                                                      context=a0["context"], policy="bench-tools")],
                    lambda rep: [[reqs[(rep * n + i) % 1000] for i in range(n)]] * 3, reps(ctx), rnd)
        res.rows.append(m.row("sequential CheckToolCall, Python stub", "plain grpcio health", kind="relative"))
        res.rows.append(m.row("sequential check_tool_call, GuardrailsClient", "plain grpcio health", ours=2,
                              kind="relative", note="adds Struct conversion and building the Decision"))

        if h2 is not None:
            _rates_h2load(ctx, res, sidecar, pport, h2, reqs, health_pb2, rnd, plain_pid)
        else:
            _rates_python(ctx, res, sport, pport, stub, p_health, hreq, reqs, rnd)
    finally:
        client.close()
        s_channel.close()
        p_channel.close()


def reps(ctx: Context) -> int:
    return ctx.pick(2, 5, 5)


def runs(ctx: Context, rnd: random.Random, tool_run, health_run, arg) -> Measured:
    """Load runs against both servers, one of each per repetition in an order
    drawn at random (a run under load cannot alternate request by request);
    each run returns its samples."""
    m = measure([tool_run, health_run], lambda rep: [[arg], [arg]], reps(ctx), rnd, keep=True)
    return Measured([[rep[0][0], rep[1][0]] for rep in m.results])


def _rate_rows(ctx: Context, res: SectionResult, rnd: random.Random, tool_at, health_at, how: str) -> Measured:
    """Rows for the fixed request rates (latencies from `tool_at((rate,
    seconds))` and `health_at(...)`); returns the runs at 1,000/s."""
    secs = ctx.pick(0.3, 0.6, 2.0)
    at = {}
    for rate in (100, 1000):
        at[rate] = m = runs(ctx, rnd, tool_at, health_at, (rate, secs))
        res.rows.append(m.row(f"tool decision at {rate:,}/s", f"plain health at {rate:,}/s", kind="relative",
                              goal=P50_VS_FLOOR if rate == 1000 else None,
                              note=f"{len(m.timing(0).samples)} requests in {len(m.samples)} runs, {how}"))
    return at[1000]


P50_VS_FLOOR = 1.2  # issue 16: p50 at 1,000/s within 1.2x of the health floor
TPUT_VS_FLOOR = 0.8  # issue 16: throughput at least 0.8x the floor's


def _budget_rows(res: SectionResult, at_1000: Measured, tput: Measured, client: str) -> None:
    """`tput` holds seconds per request (1 / throughput) of each run."""
    lat = at_1000.timing(0)
    res.rows.append(budget_row("p50 at 1,000/s vs 0.5 ms budget", [statistics.median(r[0]) for r in at_1000.samples],
                               0.0005, "0.5 ms budget", goal=1.0, note=f"{fmt_time(lat.median)} over all runs; "
                                                                        f"{client}"))
    res.rows.append(budget_row("p99 at 1,000/s vs 2 ms budget", [Timing(r[0]).p99 for r in at_1000.samples],
                               0.002, "2 ms budget", goal=1.0, note=f"{fmt_time(lat.p99)} over all runs; {client}"))
    rate, floor = 1 / tput.timing(0).median, 1 / tput.timing(1).median
    res.rows.append(tput.row("max decisions/s (as time per decision)", "plain health, same load", kind="relative",
                             goal=1 / TPUT_VS_FLOOR,
                             note=f"{rate:,.0f} decisions/s vs {floor:,.0f} health checks/s (goal: at least "
                                  f"{TPUT_VS_FLOOR:g}x the floor's rate); {client}"))
    res.rows.append(budget_row("max decisions/s vs 3,000/s budget", [r[0][0] for r in tput.samples], 1 / 3000,
                               "3,000/s budget", goal=1.0, note=f"{rate:,.0f} decisions/s; {client}"))
    res.extra.update({"decisions_per_second": rate, "health_checks_per_second": floor, "load_generator": client})


def _rates_h2load(ctx: Context, res: SectionResult, sidecar: _Sidecar, pport: int, h2: H2Load, reqs,
                  health_pb2, rnd: random.Random, plain_pid: int) -> None:
    from guardrails.sidecar._proto import guardrails_pb2 as pb

    # h2load repeats one body: an allowed refund, which runs the policy's
    # role, amount and flag conditions (the costliest kind of request).
    body = next(r for r in reqs if r.tool == "issue_refund" and _decides(sidecar.port, r) == pb.OUTCOME_ALLOW)
    tool_bytes = body.SerializeToString()
    health_bytes = health_pb2.HealthCheckRequest(service="").SerializeToString()
    before = sidecar.counters()
    sent = [0]

    def tool_at(job: tuple[int, float]) -> list[float]:
        lat = h2.paced(sidecar.port, TOOL_PATH, tool_bytes, *job)
        sent[0] += len(lat)
        return lat

    paced_1000 = _rate_rows(ctx, res, rnd, tool_at, lambda job: h2.paced(pport, HEALTH_PATH, health_bytes, *job),
                            "h2load, one connection")
    load_secs = ctx.pick(1, 1, 2)
    after_paced = sidecar.counters()
    tput = runs(ctx, rnd, lambda secs: [1 / h2.saturate(sidecar.port, TOOL_PATH, tool_bytes, secs)],
                lambda secs: [1 / h2.saturate(pport, HEALTH_PATH, health_bytes, secs)], load_secs)
    after = sidecar.counters()
    cpu_rows = _cpu_rows(ctx, res, rnd, sidecar, pport, h2, plain_pid, tool_bytes, health_bytes)
    after_cpu = sidecar.counters()
    decided, refused = after_paced[0] - before[0], after_cpu[1] - before[1]
    at_load = sum(load_secs / rep[0][0] for rep in tput.samples)
    res.check("every h2load request got a decision, none refused",
              decided == sent[0] and refused == 0 and after[0] - after_paced[0] >= at_load * 0.9
              and after_cpu[0] - after[0] == cpu_rows)
    _budget_rows(res, paced_1000, tput, "h2load")
    res.notes.append("rates and throughput: h2load (nghttp2's HTTP/2 load generator, in C) repeating one "
                     f"CheckToolCall; throughput with 4 connections x 4 streams, {load_secs} s per run after "
                     "1 s of warm-up; sequential rows: Python stubs")
    res.notes.append("2 cores shared by the sidecar, the floor server and the clients; under load the two "
                     "servers' runs alternate, one of each per repetition in an order drawn at random")


def _cpu_rows(ctx: Context, res: SectionResult, rnd: random.Random, sidecar: _Sidecar, pport: int, h2: H2Load,
              plain_pid: int, tool_bytes: bytes, health_bytes: bytes) -> int:
    """The row of each server's CPU time per request, flat out (the steadier
    figure where other work shares the cores: the throughput follows it);
    returns the tool calls sent."""
    n = ctx.pick(300, 4000, 10000)
    if cpu_seconds(sidecar.proc.pid) is None or cpu_seconds(plain_pid) is None:
        res.notes.append("server CPU per request: not measured (no /proc on this system)")
        return 0

    def cpu_per_request(pid: int, port: int, path: str, body: bytes) -> list[float]:
        t0 = cpu_seconds(pid)
        h2.count(port, path, body, n)
        return [(cpu_seconds(pid) - t0) / n]  # type: ignore[operator]

    m = runs(ctx, rnd, lambda _: cpu_per_request(sidecar.proc.pid, sidecar.port, TOOL_PATH, tool_bytes),
             lambda _: cpu_per_request(plain_pid, pport, HEALTH_PATH, health_bytes), None)
    res.rows.append(m.row("server CPU per decision, flat out", "per health check, same load", kind="relative",
                          note=f"user + system time of each server process (all its threads) over {n:,} "
                               f"requests on 4 connections x 4 streams (/proc, in clock ticks of "
                               f"{1000 / os.sysconf('SC_CLK_TCK'):g} ms)"))
    return n * len(m.samples)


def _decides(port: int, msg) -> int:
    _ch, _h, stub, _ = _stubs(port)
    try:
        return stub.CheckToolCall(msg, timeout=10).outcome
    finally:
        _ch.close()


def _rates_python(ctx: Context, res: SectionResult, sport: int, pport: int, stub, p_health, hreq, reqs,
                  rnd: random.Random) -> None:
    paced_1000 = _rate_rows(ctx, res, rnd, lambda job: paced(stub.CheckToolCall.future, reqs, *job),
                            lambda job: paced(lambda r: p_health.Check.future(hreq), [None], *job),
                            "Python client, open loop")
    load_secs = ctx.pick(1.0, 1.0, 2.0)
    tput = runs(ctx, rnd, lambda secs: [1 / throughput(sport, "tool", secs)],
                lambda secs: [1 / throughput(pport, "health", secs)], load_secs)
    _budget_rows(res, paced_1000, tput, "Python clients")
    res.notes.append("load from Python clients (h2load not on the PATH, or --loadgen python): they share the 2 "
                     "cores with the servers and cost about as much per call; throughput clients: 2 processes "
                     f"x 8 threads, closed loop, sync stubs, {load_secs:g} s per run; the two servers' runs "
                     "alternate, one of each per repetition in an order drawn at random")
