"""The sidecar's per-request path (issue 16, part 6): what was cut from it
must not change a decision, a metric or a refusal.

- an engine whose policies keep no state is served without the session
  store (the engine then takes its fast paths); a set that keeps state gets
  the server's one store, across reloads too;
"""

from __future__ import annotations

import random
from pathlib import Path

from guardrails import Engine, Outcome
from guardrails.sessions import MemoryStore
from guardrails.sidecar import ServerConfig, SidecarServer
from guardrails.sidecar.client import GuardrailsClient

SALT = b"hotpath-test-salt"

STATELESS = '''policy "shop" version "{version}"

tool_call {{
  rule staff: allow when tool == "refund" and principal.role == "staff" and args.amount <= 100
  rule big: deny "too much" when tool == "refund" and args.amount > 500
  rule flagged: escalate to review "review" when context.flagged == true
  rule lookup: allow when tool == "lookup"
}}
'''

STATEFUL = '''policy "shop" version "{version}"
limit refunds = 2 per "1m" by principal.id

tool_call {{
  rule staff: allow when tool == "refund" and principal.role == "staff"
  rule quota: deny "refund limit reached" when tool == "refund" and over(refunds)
}}
'''


def _server(d: Path, **config) -> SidecarServer:
    config.setdefault("watch", False)
    return SidecarServer(ServerConfig(policies=d, listen="127.0.0.1:0", hash_salt=SALT, **config))


def _write(tmp_path: Path, source: str) -> Path:
    d = tmp_path / "policies"
    d.mkdir(exist_ok=True)
    (d / "shop.policy").write_text(source)
    return d


def _requests(n: int) -> list[dict]:
    rnd = random.Random(16)
    out = []
    for _ in range(n):
        out.append({
            "tool": rnd.choice(["refund", "lookup", "delete", "Refund"]),
            "args": rnd.choice([{"amount": rnd.choice([5, 100, 101, 600, 99.5])}, {}, {"amount": "10"},
                                {"amount": 7, "note": "ok", "tags": ["a", 1]}]),
            "principal": rnd.choice([{"role": "staff", "id": "u1"}, {"role": "guest"}, {}, None]),
            "context": rnd.choice([{"flagged": True}, {"flagged": False}, None, {"x": {"y": 1}}]),
            "session": rnd.choice([None, None, "run-1"]),
        })
    return out


def test_a_stateless_set_is_served_without_the_store(tmp_path):
    d = _write(tmp_path, STATELESS.format(version="1.0.0"))
    with _server(d) as server:
        assert server.active.snapshot.engine.state is None


def test_a_stateless_set_decides_as_an_engine_holding_a_store(tmp_path):
    source = STATELESS.format(version="1.0.0")
    d = _write(tmp_path, source)
    with_store = Engine.from_source(source, hash_salt=SALT, state=MemoryStore())
    assert with_store.state is not None
    with _server(d) as server, GuardrailsClient(f"127.0.0.1:{server.port}") as client:
        for r in _requests(300):
            want = with_store.check_tool_call(r["tool"], r["args"], principal=r["principal"],
                                              context=r["context"], session=r["session"])
            got = client.check_tool_call(r["tool"], r["args"], principal=r["principal"], context=r["context"],
                                         session=r["session"], policy="shop")
            assert (got.outcome, got.rule_ids, got.text, got.session, [e.code for e in got.errors]) == \
                   (want.outcome, want.rule_ids, want.text, want.session, [e.code for e in want.errors]), r


def test_a_set_that_keeps_state_gets_the_one_store_across_reloads(tmp_path):
    d = _write(tmp_path, STATELESS.format(version="1.0.0"))
    staff = {"role": "staff", "id": "u7"}
    with _server(d) as server, GuardrailsClient(f"127.0.0.1:{server.port}") as client:
        (d / "shop.policy").write_text(STATEFUL.format(version="2.0.0"))
        assert server.reload()
        assert server.active.snapshot.engine.state is server.store
        outcomes = [client.check_tool_call("refund", {}, principal=staff, policy="shop").outcome for _ in range(2)]
        assert outcomes == [Outcome.ALLOW, Outcome.ALLOW]
        (d / "shop.policy").write_text(STATEFUL.format(version="2.0.1"))
        assert server.reload()
        # The count made under 2.0.0 is still there: the third refund is over the limit.
        third = client.check_tool_call("refund", {}, principal=staff, policy="shop")
        assert third.outcome is Outcome.DENY and third.rule_ids == ["quota"]
