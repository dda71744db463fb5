"""Sessions through the engine: the session builtins, labels, limits and the
store, in memory and in a real redis-server (tests/redis_server.py).

The step-sequence cases of policies/agent-assistant.tests.yaml test the
example policy; these test the engine's own promises: what a decision reads
and writes, exactness across engines, one round trip per decision with a
warm Redis cache, failing closed, and no raw value in the store.
"""

from __future__ import annotations

import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis_server import redis_server  # noqa: F401  (the fixture)

from guardrails import Engine
from guardrails.decision import Outcome
from guardrails.diagnostics import GuardrailsError
from guardrails.sessions.redis_store import RedisStore

SALT = b"a shared key for every replica"

POLICY = """policy "agent" version "1.0.0"
label untrusted
label private
limit refunds = 3 per "1m" by principal.id
tools outbound = ["send_email", "http_post"]

tool_result {
  rule web: label untrusted when tool == "web_fetch"
  rule hr: label private when tool == "hr_lookup"
}

tool_call {
  rule known: allow when tool in ["web_fetch", "hr_lookup", "send_email", "http_post", "refund"]
  rule trifecta: deny "nothing leaves this run" when tool in outbound and labelled(private) and labelled(untrusted)
  rule leak: deny "private content may not leave" when tool in outbound and flows_from(private)
  rule quota: deny "refund limit" when tool == "refund" and over(refunds)
  rule loop: deny "loop" when repeats() >= 3
}
"""

SECRET_TEXT = "Alice Example earns 120000 a year in the Berlin office"


def engine(state=None) -> Engine:
    return Engine.from_source(POLICY, hash_salt=SALT, state=state)


@pytest.fixture
def redis_url(redis_server):  # noqa: F811
    import redis

    redis.Redis.from_url(redis_server.url).flushall()
    return redis_server.url


# ---- the builtins, in memory ---------------------------------------------------


def test_labels_from_earlier_steps_drive_a_later_deny():
    e = engine()
    assert e.check_tool_result("web_fetch", "a page", session="s", at=1.0).labels == ["untrusted"]
    assert e.check_tool_call("send_email", {"to": "x"}, session="s", at=2.0).outcome is Outcome.ALLOW
    e.check_tool_result("hr_lookup", {"salary": SECRET_TEXT}, session="s", at=3.0)
    d = e.check_tool_call("send_email", {"to": "x"}, session="s", at=4.0)
    assert (d.outcome, d.rule_ids) == (Outcome.DENY, ["trifecta"])
    assert d.session == "s"


def test_content_flow_is_matched_on_fingerprints_and_not_on_unrelated_text():
    e = engine()
    e.check_tool_result("hr_lookup", {"salary": SECRET_TEXT}, session="f", at=1.0)
    leak = e.check_tool_call("http_post", {"body": f"FYI: {SECRET_TEXT.upper()}!!"}, session="f", at=2.0)
    assert leak.rule_ids == ["leak"]
    fine = e.check_tool_call("http_post", {"body": "Lunch is at noon on Friday"}, session="f", at=3.0)
    assert fine.outcome is Outcome.ALLOW


def test_sessions_are_kept_apart():
    e = engine()
    e.check_tool_result("web_fetch", "page", session="a", at=1.0)
    e.check_tool_result("hr_lookup", "secret", session="b", at=1.0)
    assert e.check_tool_call("send_email", {}, session="a", at=2.0).outcome is Outcome.ALLOW
    assert e.check_tool_call("send_email", {}, session="b", at=2.0).outcome is Outcome.ALLOW


def test_a_loop_is_counted_on_identical_calls_in_a_row():
    e = engine()
    outs = [e.check_tool_call("web_fetch", {"url": "u", "n": 1}, session="l", at=float(i)).outcome
            for i in range(4)]
    assert outs == [Outcome.ALLOW] * 3 + [Outcome.DENY]
    # 1 and 1.0 are the same argument; another argument breaks the run
    assert e.check_tool_call("web_fetch", {"url": "u", "n": 1.0}, session="l", at=5.0).outcome is Outcome.DENY
    assert e.check_tool_call("web_fetch", {"url": "v"}, session="l", at=6.0).outcome is Outcome.ALLOW


def test_a_limit_counts_forwarded_calls_only_and_slides():
    e = engine()
    calls = [(float(t), e.check_tool_call("refund", {"n": t}, principal={"id": "u"}, session="q", at=float(t)))
             for t in range(5)]
    assert [d.outcome.value for _, d in calls] == ["allow", "allow", "allow", "deny", "deny"]
    assert calls[3][1].rule_ids == ["quota"]
    # slots at 0, 1, 2: the one at 0 leaves the window at 60 (the denied ones took none)
    assert e.check_tool_call("refund", {"n": 9}, principal={"id": "u"}, session="q", at=59.9).denied
    assert e.check_tool_call("refund", {"n": 9}, principal={"id": "u"}, session="q", at=60.0).allowed
    # another principal has its own slots
    assert e.check_tool_call("refund", {"n": 1}, principal={"id": "v"}, session="q", at=60.0).allowed


def test_history_without_a_session_fails_closed_with_the_reason():
    d = engine().check_tool_call("send_email", {"to": "x"})
    assert d.outcome is Outcome.DENY
    assert {e.code for e in d.errors} == {"no-session"}
    assert "named no session" in d.errors[0].message


def test_a_missing_limit_key_fails_the_rule_that_asks():
    d = engine().check_tool_call("refund", {"n": 1}, session="k")
    assert d.outcome is Outcome.DENY
    assert [(e.rule, e.code) for e in d.errors] == [("quota", "missing-attribute")]


@pytest.mark.parametrize("session, at, why", [
    ("", None, "session must be a non-empty string"),
    (7, None, "session must be a non-empty string"),
    ("x" * 300, None, "at most 256"),
    ("s", "yesterday", "unix seconds"),
    ("s", float("nan"), "unix seconds"),
])
def test_a_bad_session_or_time_is_an_invalid_request(session, at, why):
    d = engine().check_tool_call("web_fetch", {}, session=session, at=at)
    assert d.request_error is not None and d.request_error.code == "invalid-request"
    assert why in d.request_error.message


def test_a_policy_without_session_rules_never_touches_a_store():
    e = Engine.from_source('policy "p" version "1.0.0"\ntool_call { rule a: allow }\n')
    assert e.state is None
    assert e.check_tool_call("t", {}, session="s").allowed


def test_a_shared_store_needs_a_shared_key(redis_url):
    with pytest.raises(GuardrailsError, match="GUARDRAILS_HASH_SALT"):
        Engine.from_source(POLICY, state=redis_url)


def test_an_unknown_state_url_is_a_clear_error():
    with pytest.raises(GuardrailsError, match="cannot use the state store"):
        Engine.from_source(POLICY, hash_salt=SALT, state="postgres://db/x")


# ---- Redis: many engines, one truth ----------------------------------------------


def test_two_engines_on_one_redis_share_sessions(redis_url):
    a, b = engine(redis_url), engine(redis_url)
    a.check_tool_result("web_fetch", "page", session="r", at=1.0)
    b.check_tool_result("hr_lookup", SECRET_TEXT, session="r", at=2.0)
    # a's cached copy of the session misses b's step: the commit sees the
    # version moved, a reads again and decides again
    d = a.check_tool_call("send_email", {"to": "x"}, session="r", at=3.0)
    assert d.rule_ids == ["trifecta"]


def test_a_warm_engine_makes_one_round_trip_per_decision(redis_url):
    e = engine(redis_url)
    store = e.state
    assert isinstance(store, RedisStore)
    e.check_tool_call("web_fetch", {"url": "0"}, session="rt", at=1.0)  # cold: read + write
    before = store.round_trips
    for i in range(1, 11):
        assert e.check_tool_call("web_fetch", {"url": str(i)}, session="rt", at=1.0 + i).allowed
    assert store.round_trips - before == 10
    # and a limit, warm, too
    e.check_tool_call("refund", {"n": 0}, principal={"id": "w"}, session="rt2", at=1.0)
    before = store.round_trips
    e.check_tool_call("refund", {"n": 1}, principal={"id": "w"}, session="rt2", at=2.0)
    assert store.round_trips - before == 1


QUOTA_ONLY = """policy "quota" version "1.0.0"
limit refunds = 20 per "1m" by principal.id
tool_call {
  rule known: allow when tool == "refund"
  rule quota: deny "refund limit" when tool == "refund" and over(refunds)
}
"""


def test_exactly_the_limit_is_allowed_across_two_engines(redis_url):
    engines = [Engine.from_source(QUOTA_ONLY, hash_salt=SALT, state=redis_url) for _ in range(2)]
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def call(i: int) -> None:
        d = engines[i % 2].check_tool_call("refund", {"n": i}, principal={"id": "p"}, at=1000.0 + i * 1e-4)
        with lock:
            outcomes.append(d.outcome)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count(Outcome.ALLOW) == 20
    assert outcomes.count(Outcome.DENY) == 180


def test_redis_down_fails_closed_and_service_resumes_without_a_restart(redis_server):  # noqa: F811
    e = engine(redis_server.url)
    assert e.check_tool_call("web_fetch", {"url": "a"}, session="down", at=1.0).allowed
    redis_server.kill()
    try:
        d = e.check_tool_call("web_fetch", {"url": "b"}, session="down", at=2.0)
        assert d.outcome is Outcome.DENY
        assert "state-unavailable" in {err.code for err in d.errors}
        assert any("redis at 127.0.0.1" in err.message for err in d.errors)
    finally:
        redis_server.start()
    assert e.check_tool_call("web_fetch", {"url": "c"}, session="down", at=3.0).allowed


# ---- what the store holds -----------------------------------------------------------

# Letters that are not hex digits and do not spell, five in a row, any name the
# store may hold (tool names, labels, outcomes): a word found there was leaked.
_words = st.text(alphabet="gjkmqvwxyz", min_size=5, max_size=10)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["web_fetch", "hr_lookup", "send_email", "refund"]),
                          st.lists(_words, min_size=1, max_size=12)), min_size=1, max_size=8))
def test_no_raw_value_reaches_the_store(redis_url, steps):
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushall()
    e = engine(redis_url)
    raw: set[str] = set()
    for i, (tool, words) in enumerate(steps):
        text = " ".join(words)
        raw.update(words)
        e.check_tool_call(tool, {"body": text}, principal={"id": words[0]}, session=f"run-{words[-1]}", at=10.0 + i)
        e.check_tool_result(tool, {"out": text}, session=f"run-{words[-1]}", at=10.5 + i)
    stored = b""
    for key in client.keys("*"):
        kind = client.type(key)
        stored += key
        if kind == b"list":
            stored += b"".join(client.lrange(key, 0, -1))
        elif kind == b"zset":
            stored += b"".join(m for m, _ in client.zrange(key, 0, -1, withscores=True))
        elif kind == b"string":
            stored += client.get(key) or b""
    held = stored.decode("utf-8", "replace").lower()
    assert held  # something was stored
    assert not [w for w in raw if w in held]
