"""Shadow and canary rollout of a candidate policy version."""

from __future__ import annotations

import logging
import urllib.request

import pytest

from guardrails import Outcome
from guardrails.sidecar.client import GuardrailsClient
from guardrails.sidecar import ServerConfig, SidecarServer
from guardrails.sidecar.rollout import SHADOW_LOG_BURST, LogBudget, bucket

ACTIVE = ('policy "pay" version "1.0.0"\n'
          'tool_call {\n  rule small: allow when tool == "pay" and args.amount <= 100\n}\n')
CANDIDATE = ('policy "pay" version "1.1.0"\n'
             'tool_call {\n  rule small: allow when tool == "pay" and args.amount <= 50\n}\n')


@pytest.fixture
def sets(tmp_path):
    out = []
    for name, source in (("active", ACTIVE), ("candidate", CANDIDATE)):
        d = tmp_path / name
        d.mkdir()
        (d / "pay.policy").write_text(source)
        out.append(d)
    return out


def metrics(server) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=5).read().decode()


def test_shadow_returns_the_active_decision_and_counts_differences(sets, caplog):
    active, candidate = sets
    caplog.set_level(logging.INFO, logger="guardrails.sidecar")
    with SidecarServer(ServerConfig(policies=active, shadow=candidate, listen="127.0.0.1:0",
                                    metrics="127.0.0.1:0", watch=False)) as s, \
            GuardrailsClient(f"127.0.0.1:{s.port}") as c:
        same = c.check_tool_call("pay", {"amount": 20, "memo": "rent for flat 4b"})
        differs = c.check_tool_call("pay", {"amount": 80, "memo": "rent for flat 4b"})
        s.shadow.join()
        assert same.outcome is Outcome.ALLOW and differs.outcome is Outcome.ALLOW  # active answers
        assert same.policy.version == differs.policy.version == "1.0.0"
        assert (s.shadow.compared, s.shadow.differed) == (2, 1)
        body = metrics(s)
        assert 'guardrails_shadow_evaluations_total{stage="tool_call"} 2.0' in body
        assert 'guardrails_shadow_differences_total{field="outcome",stage="tool_call"} 1.0' in body
        assert 'guardrails_policy_info{digest=' in body and 'set="candidate",version="1.1.0"' in body
        listing = c.list_policies()
        assert listing.rollout == "shadow" and [p.version for p in listing.candidate.policies] == ["1.1.0"]
    lines = [r.getMessage() for r in caplog.records if "shadow difference" in r.getMessage()]
    assert len(lines) == 1
    assert "pay@1.0.0 -> pay@1.1.0" in lines[0] and "outcome allow -> deny" in lines[0]
    assert "flat 4b" not in caplog.text and "amount" not in caplog.text


def test_shadow_differences_are_all_counted_but_logged_at_a_bounded_rate(sets, caplog):
    active, candidate = sets
    caplog.set_level(logging.INFO, logger="guardrails.sidecar")
    with SidecarServer(ServerConfig(policies=active, shadow=candidate, listen="127.0.0.1:0",
                                    metrics="127.0.0.1:0", watch=False)) as s, \
            GuardrailsClient(f"127.0.0.1:{s.port}") as c:
        for _ in range(60):
            c.check_tool_call("pay", {"amount": 80})
        s.shadow.join()
        assert s.shadow.differed == 60
        body = metrics(s)
        assert 'guardrails_shadow_differences_total{field="outcome",stage="tool_call"} 60.0' in body
        assert "guardrails_shadow_differences_unlogged_total 50.0" in body
    lines = [r.getMessage() for r in caplog.records if "shadow difference" in r.getMessage()]
    assert len(lines) == SHADOW_LOG_BURST == 10


def test_the_log_budget_refills_and_says_what_it_held_back():
    now = [0.0]
    budget = LogBudget(burst=3, window=60.0, clock=lambda: now[0])
    assert [budget.allow() for _ in range(5)] == [True, True, True, False, False]
    assert budget.held_back == 2
    now[0] += 20.0  # a third of the window: one line's worth
    assert budget.allow() is True and budget.allow() is False
    now[0] += 3600.0  # never more than the burst, however long it was quiet
    assert [budget.allow() for _ in range(4)] == [True, True, True, False]


def test_canary_routes_a_deterministic_share(sets):
    active, candidate = sets
    with SidecarServer(ServerConfig(policies=active, candidate=candidate, canary=25, listen="127.0.0.1:0",
                                    metrics="127.0.0.1:0", watch=False)) as s, \
            GuardrailsClient(f"127.0.0.1:{s.port}") as c:
        keys = [f"user-{i}" for i in range(400)]
        first = {k: c.check_tool_call("pay", {"amount": 10}, request_key=k).policy.version for k in keys}
        again = {k: c.check_tool_call("pay", {"amount": 10}, request_key=k).policy.version for k in keys}
        assert first == again  # the same key always gets the same set
        expected = {k: "1.1.0" if bucket(k.encode()) < 25 else "1.0.0" for k in keys}
        assert first == expected
        share = sum(v == "1.1.0" for v in first.values()) / len(keys)
        assert 0.18 < share < 0.32, share
        # without a key, the request itself is the key: still deterministic
        assert len({c.check_tool_call("pay", {"amount": 10, "n": 1}).policy.version for _ in range(5)}) == 1
        # a pinned version goes to whichever set has it
        assert c.check_tool_call("pay", {"amount": 10}, policy="pay@1.1.0").policy.version == "1.1.0"
        assert c.check_tool_call("pay", {"amount": 10}, policy="pay@1.0.0", request_key=keys[0]).policy.version \
            == "1.0.0"
        body = metrics(s)
        assert 'guardrails_rollout_routed_total{set="candidate"}' in body
        assert c.list_policies().rollout == "canary" and c.list_policies().canary_percent == 25


@pytest.mark.parametrize("percent,share", [(0, 0.0), (100, 1.0)])
def test_canary_edges(sets, percent, share):
    active, candidate = sets
    with SidecarServer(ServerConfig(policies=active, candidate=candidate, canary=percent, listen="127.0.0.1:0",
                                    watch=False)) as s, GuardrailsClient(f"127.0.0.1:{s.port}") as c:
        got = [c.check_tool_call("pay", {"amount": 10}, request_key=str(i)).policy.version for i in range(50)]
    assert sum(v == "1.1.0" for v in got) / 50 == share


def test_rollout_options_are_checked(sets):
    from guardrails import GuardrailsError

    active, candidate = sets
    for bad in ({"shadow": candidate, "candidate": candidate, "canary": 5}, {"canary": 5},
                {"candidate": candidate}, {"candidate": candidate, "canary": 150}):
        with pytest.raises(GuardrailsError):
            SidecarServer(ServerConfig(policies=active, listen="127.0.0.1:0", **bad))


def test_bucket_is_uniform_enough():
    values = [bucket(str(i).encode()) for i in range(10_000)]
    assert all(0 <= v < 100 for v in values)
    assert 2300 < sum(v < 25 for v in values) < 2700
