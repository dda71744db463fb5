"""Session-aware tool decisions against the plain tool decision.

policies/agent-assistant.policy reads its session's history on every tool
call (labels, content flow, loops, an approval gate, a refund limit). Its
stateless twin is the same policy with those rules, labels and limits taken
out: what a decision costs without sessions. Three sides, alternated request
by request in an order drawn at random for each request:

* the twin (stateless, the peer);
* the agent policy with the in-memory store (the default);
* the agent policy with a real redis-server on loopback, when one is
  installed (Debian's ``redis-server``).

The issue's goals: the in-memory decision costs at most 2x the plain one;
with Redis, one round trip per decision once warm (counted by the store).
"""

from __future__ import annotations

import random
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from ..harness import Context, SectionResult, measure, section

ROOT = Path(__file__).resolve().parents[2]
SESSION_RULES = ("lethal-trifecta", "exfiltration-after-untrusted", "private-content-out", "approval-gate",
                 "refund-limit", "runaway-loop", "outside-content", "private-data", "approval-given",
                 "external-document")
TOOLS = ["web_search", "read_file", "send_email", "refund", "repo_read", "payment_status"]
SALT = b"benchmark shared key"


def stateless_twin(source: str) -> str:
    """The policy without its session rules, labels and limits."""
    out = source
    for rid in SESSION_RULES:
        out = re.sub(r"\n  (# [^\n]*\n  )*rule " + rid + r":.*?(?=\n  rule |\n  #|\n\})", "", out, flags=re.S)
    out = re.sub(r"\nlabel [^\n]*", "", out)
    return re.sub(r"\nlimit [^\n]*", "", out)


def requests(rnd: random.Random, n: int, start: float) -> list[dict]:
    out = []
    for i in range(n):
        tool = rnd.choice(TOOLS)
        args = {"q": f"item {rnd.randint(0, 10_000)}"}
        if tool == "send_email":
            args = {"to": "team@example.com", "body": f"Status {rnd.randint(0, 999)}"}
        out.append({"tool": tool, "args": args, "principal": {"id": f"u{rnd.randint(0, 40)}"},
                    "session": f"run-{rnd.randint(0, 49)}", "at": start + i * 0.01})
    return out


class _Redis:
    """A redis-server on a free loopback port, for this section only."""

    def __init__(self, binary: str):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.dir = tempfile.mkdtemp(prefix="bench-redis-")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as c:
                    c.sendall(b"PING\r\n")
                    if c.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@section("sessions", "Session-aware tool decisions vs the plain decision")
def run(ctx: Context, res: SectionResult) -> None:
    from guardrails import Engine

    source = (ROOT / "policies" / "agent-assistant.policy").read_text()
    modules = {"org-baseline": (ROOT / "policies" / "org-baseline.policy").read_text()}
    twin = Engine.from_source(stateless_twin(source), modules=modules, hash_salt=SALT)
    memory = Engine.from_source(source, modules=modules, hash_salt=SALT)
    binary = shutil.which("redis-server")
    server = _Redis(binary) if binary else None
    try:
        sides = [lambda r: twin.check_tool_call(r["tool"], r["args"], principal=r["principal"]),
                 lambda r: memory.check_tool_call(r["tool"], r["args"], principal=r["principal"],
                                                  session=r["session"], at=r["at"])]
        redis_engine = None
        if server is not None:
            redis_engine = Engine.from_source(source, modules=modules, hash_salt=SALT, state=server.url)
            sides.append(lambda r: redis_engine.check_tool_call(r["tool"], r["args"], principal=r["principal"],
                                                                session=r["session"], at=r["at"]))
        rnd = random.Random(ctx.seed)
        reps = ctx.pick(2, 5, 5)
        per_rep = ctx.pick(100, 1000, 3000)
        for r in requests(rnd, 300, 1_000.0):  # warm-up: every session and principal met once
            for side in sides:
                side(r)
        sets = [requests(rnd, per_rep, 10_000.0 * (rep + 1)) for rep in range(reps)]
        trips_before = redis_engine.state.round_trips if redis_engine else 0
        m = measure(sides, lambda rep: [sets[rep]] * len(sides), reps, rnd, keep=True)
        agree = sum(a.outcome == b.outcome for a, b in zip(m.results_of(0), m.results_of(1)))
        total = reps * per_rep
        res.notes.append(f"{total} tool calls over 50 sessions and 41 principals; the stateless twin and the "
                         f"session-aware policy agreed on {agree} (the rest are the session rules at work)")
        res.rows.append(m.row("in-memory store: session-aware decision", "the plain decision", ours=1, peer=0,
                              kind="relative", goal=2.0, note="agent-assistant vs its stateless twin"))
        if redis_engine is not None:
            trips = (redis_engine.state.round_trips - trips_before) / total
            res.rows.append(m.row("Redis store (loopback): session-aware decision", "the plain decision",
                                  ours=2, peer=0, kind="relative",
                                  note="a real redis-server; one Lua commit per decision once warm"))
            res.notes.append(f"Redis round trips per decision, warm: {trips:.2f} (the store's own count)")
            res.extra["redis_round_trips_per_decision"] = round(trips, 3)
            res.check("one Redis round trip per decision once warm", trips <= 1.05)
            redis_engine.close()
        else:
            res.notes.append("redis-server is not installed: the Redis rows were not measured")
    finally:
        if server is not None:
            server.stop()
