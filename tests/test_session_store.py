"""The session stores, against a real redis-server and in memory, with the same tests.

What must hold for both: steps come back in order and trimmed; sessions expire;
the sliding window counts a slot at t + window - ε and not at t + window;
commits take all limits or none and a denied step uses no quota; 200
concurrent commits on a limit of 20 succeed exactly 20 times (for Redis from
two stores, as two replicas would); nothing stored holds a raw word. And for
Redis: one round trip per load and per commit, a clear StoreError while the
server is down or hung, and the same store working again once it is back.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))

from redis_server import redis_server, start_server  # noqa: E402,F401  (redis_server is a fixture)

from guardrails.sessions import (  # noqa: E402
    LimitKey,
    MemoryStore,
    Snapshot,
    Step,
    StoreError,
    call_fingerprint,
    content_prints,
    flows,
    limit_key,
    open_store,
)
from guardrails.sessions import fingerprint  # noqa: E402
from guardrails.sessions.redis_store import RedisStore  # noqa: E402

SECRET = b"test-secret-0123456789"
ROOT = Path(__file__).resolve().parent.parent


def step(at: float, tool: str = "send_email", outcome: str = "allow", labels=(), stage: str = "tool_call",
         prints=frozenset(), call: str | None = None) -> Step:
    return Step(at=at, stage=stage, tool=tool, outcome=outcome, labels=frozenset(labels), call=call, prints=prints)


@pytest.fixture(params=["memory", "redis"])
def make_store(request):
    """make(**bounds) -> a new store of the parametrised kind; Redis stores of one test share a prefix,
    so two of them are two replicas over one Redis."""
    made = []
    prefix = f"test-{uuid.uuid4().hex[:10]}:"

    def make(**kw):
        if request.param == "memory":
            s = MemoryStore(**kw)
        else:
            server = request.getfixturevalue("redis_server")
            s = RedisStore(server.url, prefix=prefix, **kw)
        made.append(s)
        return s

    make.kind = request.param
    yield make
    for s in made:
        s.close()


@pytest.fixture
def raw(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


# ---- order, trimming, sessions ------------------------------------------------------------------

def test_steps_come_back_in_order_and_sessions_are_separate(make_store):
    store = make_store()
    for i in range(3):
        assert store.commit("s1", step(100.0 + i, tool=f"t{i}"), [], 100.0 + i) == ()
    store.commit("s2", step(105.0, tool="other"), [], 105.0)
    snap = store.load("s1", [], 106.0)
    assert isinstance(snap, Snapshot)
    assert [s.tool for s in snap.steps] == ["t0", "t1", "t2"]
    assert [s.tool for s in store.load("s2", [], 106.0).steps] == ["other"]
    assert store.load("nobody", [], 106.0).steps == ()
    assert store.load(None, [], 106.0) == Snapshot((), {})


def test_steps_round_trip_whole(make_store):
    store = make_store()
    full = step(7.25, labels={"private", "untrusted"}, prints=frozenset({1, 2**63 + 5, 99}), call="ab" * 16)
    store.commit("s", full, [], 7.25)
    assert store.load("s", [], 8.0).steps == (full,)


def test_only_the_last_max_steps_are_kept(make_store):
    store = make_store(max_steps=3)
    for i in range(5):
        store.commit("s", step(float(i), tool=f"t{i}"), [], float(i))
    assert [s.tool for s in store.load("s", [], 5.0).steps] == ["t2", "t3", "t4"]


def test_a_commit_without_a_session_appends_nothing_but_takes(make_store):
    store = make_store()
    lk = LimitKey("k", 5, 60.0)
    assert store.commit(None, step(1.0), [lk], 1.0) == ()
    assert store.load(None, [lk], 1.0).counts == {"k": 1}
    assert store.commit(None, None, [], 1.0) == ()


# ---- the sliding window log ------------------------------------------------------------------------

def test_a_slot_counts_until_just_before_t_plus_window(make_store):
    store = make_store()
    lk = LimitKey("k", 2, 8.0)
    assert store.commit(None, None, [lk], 100.0) == ()
    assert store.commit(None, None, [lk], 101.0) == ()
    just_before = math.nextafter(108.0, 0.0)  # 108 - ε: the slot taken at 100 still counts
    assert store.load(None, [lk], just_before).counts == {"k": 2}
    assert store.commit(None, None, [lk], just_before) == ("k",)
    assert store.load(None, [lk], 108.0).counts == {"k": 1}  # t + window: it no longer does
    assert store.load(None, [lk], 109.0).counts == {"k": 0}
    assert store.commit(None, None, [lk], 108.0) == ()
    assert store.load(None, [lk], 108.0).counts == {"k": 2}
    # slots stamped later than `now` (a concurrent request with a later clock) count too:
    # those at 101 and 108 (the one at 100 was dropped when 108 took its slot)
    assert store.load(None, [lk], 99.0).counts == {"k": 2}


def test_fractional_windows_and_times_are_exact(make_store):
    store = make_store()
    lk = LimitKey("frac", 1, 0.25)
    t = 1_700_000_000.125  # a real unix time with a fraction
    assert store.commit(None, None, [lk], t) == ()
    assert store.commit(None, None, [lk], math.nextafter(t + 0.25, 0.0)) == ("frac",)
    assert store.commit(None, None, [lk], t + 0.25) == ()


def test_takes_are_all_or_none_across_limits(make_store):
    store = make_store()
    a, b = LimitKey("a", 1, 60.0), LimitKey("b", 5, 60.0)
    assert store.commit("s", step(1.0), [a, b], 1.0) == ()
    assert store.commit("s", step(2.0), [a, b], 2.0) == ("a",)
    assert store.load(None, [a, b], 2.0).counts == {"a": 1, "b": 1}  # b took nothing
    assert store.commit("s", step(3.0), [b], 3.0) == ()
    assert store.load(None, [a, b], 3.0).counts == {"a": 1, "b": 2}


def test_every_full_limit_is_named(make_store):
    store = make_store()
    a, b, c = LimitKey("a", 0, 60.0), LimitKey("b", 1, 60.0), LimitKey("c", 0, 60.0)
    store.commit(None, None, [b], 1.0)
    assert set(store.commit(None, None, [a, b, c], 2.0)) == {"a", "b", "c"}


def test_a_key_asked_twice_takes_one_slot(make_store):
    store = make_store()
    lk = LimitKey("k", 2, 60.0)
    assert store.commit(None, None, [lk, lk], 1.0) == ()
    assert store.load(None, [lk, lk], 1.0).counts == {"k": 1}


def test_a_denied_step_is_appended_and_uses_no_quota(make_store):
    store = make_store()
    lk = LimitKey("k", 1, 60.0)
    first = step(1.0)
    assert store.commit("s", first, [lk], 1.0, first.denied()) == ()
    second = step(2.0, tool="refund")
    assert store.commit("s", second, [lk], 2.0, second.denied()) == ("k",)
    assert [(s.tool, s.outcome) for s in store.load("s", [], 2.0).steps] == [("send_email", "allow"),
                                                                            ("refund", "deny")]
    # full without a denied step: nothing appended
    assert store.commit("s", step(3.0, tool="x"), [lk], 3.0) == ("k",)
    assert len(store.load("s", [], 3.0).steps) == 2
    assert store.load(None, [lk], 3.0).counts == {"k": 1}


@given(times=st.lists(st.integers(0, 400), min_size=1, max_size=40), cap=st.integers(1, 4),
       window=st.sampled_from([1.0, 2.5, 10.0, 37.0]))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_window_matches_a_brute_force_count(make_store, times, cap, window):
    store = make_store()
    lk = LimitKey(f"w{uuid.uuid4().hex[:8]}", cap, window)
    taken: list[float] = []
    for t in sorted(x / 4 for x in times):
        live = sum(1 for s in taken if t - window < s)
        assert store.load(None, [lk], t).counts[lk.key] == live
        full = store.commit(None, None, [lk], t)
        assert full == ((lk.key,) if live >= cap else ())
        if not full:
            taken.append(t)


# ---- expiry and bounds ---------------------------------------------------------------------------

def test_memory_sessions_expire_ttl_after_their_last_step():
    store = MemoryStore(session_ttl=30.0)
    store.commit("s", step(100.0), [], 100.0)
    store.commit("s", step(110.0), [], 110.0)
    assert len(store.load("s", [], 139.5).steps) == 2  # 30 s after the last step, not the first
    assert store.load("s", [], 140.0).steps == ()
    store.commit("s", step(141.0), [], 141.0)  # a new session under the same key starts empty
    assert [s.at for s in store.load("s", [], 141.0).steps] == [141.0]


def test_memory_evicts_the_least_recently_used_session():
    store = MemoryStore(max_sessions=2)
    store.commit("a", step(1.0), [], 1.0)
    store.commit("b", step(2.0), [], 2.0)
    store.load("a", [], 3.0)  # a is now more recent than b
    store.commit("c", step(4.0), [], 4.0)
    assert store.load("b", [], 5.0).steps == ()
    assert len(store.load("a", [], 5.0).steps) == 1
    assert len(store.load("c", [], 5.0).steps) == 1


def test_memory_drops_dead_limit_logs_and_expired_sessions():
    store = MemoryStore(session_ttl=10.0)
    for i in range(100):
        store.commit(f"s{i}", step(1.0), [LimitKey(f"k{i}", 3, 5.0)], 1.0)
    store.commit("late", step(20.0), [LimitKey("late", 3, 5.0)], 20.0)
    assert len(store._sessions) == 1 and len(store._logs) == 1


def test_memory_limit_logs_hold_at_most_max_entries():
    store = MemoryStore()
    lk = LimitKey("k", 3, 10.0)
    for i in range(100):
        store.commit(None, None, [lk], float(i))
    assert len(store._logs["k"].times) <= 3


def test_redis_sessions_and_limits_expire_on_the_server(redis_server, raw):
    prefix = f"ttl-{uuid.uuid4().hex[:8]}:"
    store = RedisStore(redis_server.url, prefix=prefix, session_ttl=0.3)
    store.commit("s", step(1.0), [LimitKey("k", 5, 0.4)], time.time())
    assert 0 < raw.pttl(prefix + "s:s") <= 300
    assert 0 < raw.pttl(prefix + "l:k") <= 400
    time.sleep(0.5)
    assert store.load("s", [], time.time()).steps == ()
    assert raw.exists(prefix + "s:s", prefix + "l:k") == 0
    store.close()


# ---- concurrency ---------------------------------------------------------------------------------

def test_200_concurrent_commits_on_a_limit_of_20_take_exactly_20(make_store):
    stores = [make_store(), make_store()] if make_store.kind == "redis" else [make_store()]
    lk = LimitKey("refunds", 20, 60.0)
    start = threading.Barrier(16)

    def one(i: int):
        if i < 16:
            start.wait()
        s = step(1000.0 + i / 1000, tool="refund")
        return stores[i % len(stores)].commit("agent", s, [lk], 1000.0 + i / 1000, s.denied())

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(one, range(200)))
    assert sum(r == () for r in results) == 20
    assert all(r in ((), ("refunds",)) for r in results)
    steps = stores[0].load("agent", [lk], 1001.0)
    assert steps.counts == {"refunds": 20}
    assert sorted(s.outcome for s in steps.steps) == ["allow"] * 20 + ["deny"] * 180


# ---- Redis: round trips, failures, recovery ----------------------------------------------------------

@pytest.fixture
def sends(monkeypatch):
    """Counts writes to Redis sockets: each is one request and one wait for its answers."""
    count = [0]
    real = redis.connection.AbstractConnection.send_packed_command

    def counting(self, *a, **kw):
        count[0] += 1
        return real(self, *a, **kw)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)
    return count


def test_redis_load_and_commit_are_one_round_trip_each(redis_server, raw, sends):
    store = RedisStore(redis_server.url, prefix=f"rt-{uuid.uuid4().hex[:8]}:")
    limits = [LimitKey("a", 5, 60.0), LimitKey("b", 5, 60.0), LimitKey("c", 5, 3600.0)]
    store.commit("s", step(1.0), limits, 1.0)  # may load the script (a second trip) once
    for i in range(3):
        before, sent = store.round_trips, sends[0]
        snap = store.load("s", limits, 2.0 + i)
        assert (store.round_trips - before, sends[0] - sent) == (1, 1)
        assert len(snap.steps) == 1 + i and snap.counts["a"] == 1 + i
        before, sent = store.round_trips, sends[0]
        assert store.commit("s", step(2.0 + i), limits, 2.0 + i, step(2.0 + i).denied()) == ()
        assert (store.round_trips - before, sends[0] - sent) == (1, 1)
    # the server forgot the script (restart, SCRIPT FLUSH): NOSCRIPT, then EVAL once
    raw.script_flush()
    before = store.round_trips
    assert store.commit("s", step(9.0), limits, 9.0) == ()
    assert store.round_trips - before == 2
    before = store.round_trips
    store.commit("s", step(9.5), limits, 9.5)
    assert store.round_trips - before == 1
    store.close()


def test_redis_down_then_back_same_store():
    server = start_server()
    try:
        store = RedisStore(server.url, prefix="crash:", timeout=0.3)
        lk = LimitKey("k", 3, 60.0)
        assert store.commit("s", step(1.0), [lk], 1.0) == ()
        server.kill()
        for call in (lambda: store.load("s", [lk], 2.0), lambda: store.commit("s", step(2.0), [lk], 2.0)):
            with pytest.raises(StoreError) as err:
                call()
            message = str(err.value)
            assert message.startswith(f"redis at 127.0.0.1:{server.port}/0: unreachable (")
            assert "Traceback" not in message
        server.start()  # same port, empty: no data, no script cache
        assert store.commit("s", step(3.0), [lk], 3.0) == ()
        snap = store.load("s", [lk], 3.0)
        assert [s.at for s in snap.steps] == [3.0] and snap.counts == {"k": 1}
        store.close()
    finally:
        server.stop()


def test_a_hung_redis_times_out_with_a_clear_error_then_recovers():
    server = start_server()
    try:
        store = RedisStore(server.url, prefix="hang:", timeout=0.2)
        store.commit("s", step(1.0), [], 1.0)
        server.pause()
        t0 = time.monotonic()
        with pytest.raises(StoreError, match=rf"^redis at 127\.0\.0\.1:{server.port}/0: no answer within 0\.2 s$"):
            store.load("s", [], 2.0)
        assert time.monotonic() - t0 < 5  # bounded by the timeout, not hanging
        server.resume()
        assert [s.at for s in store.load("s", [], 3.0).steps] == [1.0]
        store.close()
    finally:
        server.stop()


def test_the_password_never_appears_in_an_error():
    store = open_store("redis://:hunter2-secret@127.0.0.1:1/3", timeout=0.2)  # nothing listens on port 1
    with pytest.raises(StoreError) as err:
        store.load("s", [], 1.0)
    assert "hunter2" not in str(err.value) and str(err.value).startswith("redis at 127.0.0.1:1/3: ")
    with pytest.raises(ValueError) as bad:
        open_store("postgres://me:hunter2@db/1")
    assert "hunter2" not in str(bad.value) and "redis://HOST:PORT/DB" in str(bad.value)


def test_bad_stored_data_is_a_store_error(redis_server, raw):
    store = RedisStore(redis_server.url, prefix=f"bad-{uuid.uuid4().hex[:8]}:")
    raw.rpush(store.prefix + "s:s", b"{not json")
    with pytest.raises(StoreError, match="redis at .*: session s...: a stored step is not JSON"):
        store.load("s", [], 1.0)
    raw.set(store.prefix + "l:k", "a string, not a sorted set")
    with pytest.raises(StoreError, match="WRONGTYPE"):
        store.commit(None, None, [LimitKey("k", 1, 1.0)], 1.0)
    store.close()


def test_open_store_picks_the_backend():
    assert isinstance(open_store(None), MemoryStore)
    assert isinstance(open_store("memory", max_sessions=5), MemoryStore)
    s = open_store("redis://127.0.0.1:6379/2", prefix="p:", timeout=0.1)
    assert isinstance(s, RedisStore) and s.where == "redis at 127.0.0.1:6379/2" and s.prefix == "p:"
    u = open_store("unix:///tmp/redis.sock?db=1")
    assert u.where == "redis at unix:/tmp/redis.sock/1"
    with pytest.raises(ValueError, match="not one of 'memory'"):
        open_store("redis-cluster:7000")


def test_importing_guardrails_does_not_import_redis():
    code = "import sys, guardrails, guardrails.sessions; open_ = guardrails.sessions.open_store(None); " \
           "print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


# ---- no raw values stored ---------------------------------------------------------------------

# Raw words hold a letter from g-z, so they can never hide in hex digests or digits.
WORD = st.from_regex(r"[g-zG-Z][a-zA-Z0-9]{3,10}", fullmatch=True)
TEXT = st.lists(WORD, min_size=1, max_size=30).map(" ".join)
ARGS = st.dictionaries(st.sampled_from(["to", "body", "path", "amount"]),
                       st.one_of(TEXT, st.integers(), st.lists(TEXT, max_size=3)), max_size=4)


def _stored_text_memory(store: MemoryStore) -> str:
    return repr({k: s.steps for k, s in store._sessions.items()}) + repr(
        {k: log.times for k, log in store._logs.items()})


def _stored_text_redis(client: redis.Redis, prefix: str) -> str:
    out = []
    for key in client.scan_iter(match=prefix + "*"):
        out.append(key.decode())
        kind = client.type(key).decode()
        if kind == "list":
            out += [v.decode() for v in client.lrange(key, 0, -1)]
        elif kind == "zset":
            out += [f"{m.decode()} {s!r}" for m, s in client.zrange(key, 0, -1, withscores=True)]
        else:
            out.append(repr(client.dump(key)))
    return "\n".join(out)


def _raw_words(texts: list[str], args: list[dict]) -> set[str]:
    blob = " ".join(texts) + " " + " ".join(repr(a) for a in args)
    return {w.casefold() for w in re.findall(r"[A-Za-z0-9]{4,}", blob) if re.search(r"[g-zG-Z]", w)}


# Names the store itself writes (stages, tools, labels, outcomes, key parts): not raw input.
VOCABULARY = "tool_call tool_result send_email web_fetch private untrusted allow deny test- s: l:"


@given(texts=st.lists(TEXT, min_size=1, max_size=4), args=st.lists(ARGS, min_size=1, max_size=4))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_nothing_stored_holds_a_raw_word(make_store, texts, args):
    store = make_store()
    session = uuid.uuid4().hex
    now = 5000.0
    for i, text in enumerate(texts):  # tool results, labelled: their prints are kept
        store.commit(session, step(now + i, tool="web_fetch", stage="tool_result", labels={"untrusted"},
                                   prints=content_prints(text, SECRET)), [], now + i)
    for j, a in enumerate(args):  # tool calls: a call fingerprint, a limit keyed by a digest
        s = step(now + 10 + j, call=call_fingerprint("send_email", a, SECRET), labels={"private"},
                 prints=content_prints(" ".join(str(v) for v in a.values()), SECRET))
        store.commit(session, s, [LimitKey(uuid.uuid4().hex, 3, 60.0)], now + 10 + j, s.denied())
    if make_store.kind == "memory":
        stored = _stored_text_memory(store)
    else:
        client = store._client
        stored = _stored_text_redis(client, store.prefix)
    assert len(store.load(session, [], now + 20).steps) == len(texts) + len(args)
    stored = stored.casefold()
    leaked = {w for w in _raw_words(texts, args) if w in stored and w not in VOCABULARY}
    assert leaked == set()


# ---- Step ---------------------------------------------------------------------------------------

def test_step_json_is_compact_versioned_and_checked():
    s = step(1.5, labels={"b", "a"}, prints=frozenset({3, 1}), call="c" * 32)
    text = s.to_json()
    assert text.startswith('{"v":1,') and " " not in text and '"l":["a","b"]' in text and '"p":[1,3]' in text
    assert Step.from_json(text) == s and Step.from_json(text.encode()) == s
    for bad, why in [("[]", "not a JSON object"), ('{"v":2}', "version 2"), ("{", "not JSON"),
                     ('{"v":1,"at":"x","s":"input","o":"allow"}', "time"),
                     ('{"v":1,"at":1,"s":"input","o":"allow","p":["x"]}', "prints"),
                     ('{"v":1,"at":1,"s":"nowhere","o":"allow"}', "unknown stage")]:
        with pytest.raises(ValueError, match=why):
            Step.from_json(bad)


def test_an_unlabelled_step_keeps_no_prints():
    assert step(1.0, prints=frozenset({1, 2})).prints == frozenset()
    assert step(1.0, labels={"private"}, prints=frozenset({1, 2})).prints == frozenset({1, 2})


def test_limit_keys_are_checked():
    with pytest.raises(ValueError, match="window must be > 0"):
        LimitKey("k", 1, 0.0)
    with pytest.raises(ValueError, match="max must be an integer >= 0"):
        LimitKey("k", -1, 1.0)


# ---- fingerprints -------------------------------------------------------------------------------

PRIVATE = ("Quarterly compensation review for the platform team. Maria Lopez moves to band seven with a "
           "salary of one hundred forty thousand starting in March. The retention bonus for Jun Park stays "
           "confidential until the board signs off next week. Payroll account 4711-0815-2231 carries the "
           "adjustment, reference HRQ3X77Z. Do not forward this summary outside the people team.")


def test_a_copied_passage_flows_inside_a_larger_text():
    source = content_prints(PRIVATE, SECRET)
    arg = content_prints("Hi all, quick update before Friday: the retention bonus for Jun Park stays "
                         "confidential until the board signs off. Cheers, Al", SECRET)
    assert flows(arg, source) and flows(source, arg)


def test_unrelated_text_does_not_flow_and_one_common_phrase_is_not_enough():
    source = content_prints(PRIVATE, SECRET)
    assert not flows(content_prints("The weather in Lisbon was warm and the trains ran on time all week.",
                                    SECRET), source)
    # one shared 5-word run ("do not forward this summary") is a single shingle: not a flow
    assert not flows(content_prints("Please do not forward this summary, it is a draft of the menu.", SECRET),
                     source)


def test_case_spacing_punctuation_and_lookalikes_do_not_defeat_a_match():
    source = content_prints(PRIVATE, SECRET)
    variants = [
        "THE RETENTION BONUS FOR JUN PARK STAYS CONFIDENTIAL UNTIL THE BOARD",
        "the   retention\nbonus\tfor jun  park stays confidential until the board",
        "the retention-bonus, for 'Jun' Park... stays (confidential) until the board!",
        "ｔｈｅ ｒｅｔｅｎｔｉｏｎ bonus for Jun Pa\u200brk stays confidential until the board",
        "the rеtеntion bonus for Jun Park stays confidential until the board",  # Cyrillic е
    ]
    for text in variants:
        assert flows(content_prints(text, SECRET), source), text


def test_a_rare_token_alone_flows_but_a_date_does_not():
    source = content_prints(PRIVATE, SECRET)
    assert flows(content_prints("wire it to 4711-0815-2231 today", SECRET), source)
    assert flows(content_prints("ref hrq3x77z", SECRET), source)
    dated = content_prints("Meeting notes from 2024-01-15 about lunch.", SECRET)
    assert not flows(content_prints("Reminder: 2024-01-15 is the picnic, bring food.", SECRET), dated)


def test_short_texts_get_one_whole_print():
    a = content_prints("Open Sesame, friend!", SECRET)
    assert len(a) == 1 and flows(content_prints("open sesame friend", SECRET), a)
    assert not flows(content_prints("open sesame", SECRET), a)
    assert content_prints("hi there", SECRET) == frozenset()  # under 12 characters: nothing to match
    assert content_prints("", SECRET) == frozenset()


def test_prints_depend_on_the_secret():
    assert content_prints(PRIVATE, SECRET).isdisjoint(content_prints(PRIVATE, b"another secret"))
    args = {"to": "x@example.com", "amount": 5}
    assert call_fingerprint("pay", args, SECRET) != call_fingerprint("pay", args, b"another secret")
    with pytest.raises(ValueError, match="non-empty bytes secret"):
        content_prints("text", b"")


def test_the_print_count_is_bounded_and_long_sources_still_match_deep_inside():
    words = [f"w{i % 997}x{i % 13}" for i in range(30_000)]
    long = " ".join(words)
    prints = content_prints(long, SECRET)
    assert len(prints) == fingerprint.MAX_PRINTS and all(0 <= p < 2**64 for p in prints)
    excerpt = " ".join(words[-2000:-1940])  # deep inside: past any "first N prints" cut
    # within MAX_CHARS of the text (the bound reads only that much)
    assert excerpt in long[: fingerprint.MAX_CHARS]
    assert flows(content_prints(excerpt, SECRET), prints)


def test_call_fingerprints_are_canonical():
    fp = call_fingerprint("send_email", {"to": "a@b.c", "n": 1, "tags": [1.0, {"x": 2, "y": None}]}, SECRET)
    assert re.fullmatch(r"[0-9a-f]{32}", fp)
    assert fp == call_fingerprint("send_email", {"tags": [1, {"y": None, "x": 2.0}], "n": 1.0, "to": "a@b.c"},
                                  SECRET)
    assert fp != call_fingerprint("send_email", {"to": "a@b.c", "n": 2, "tags": [1, {"x": 2, "y": None}]}, SECRET)
    assert fp != call_fingerprint("post", {"to": "a@b.c", "n": 1, "tags": [1, {"x": 2, "y": None}]}, SECRET)
    assert call_fingerprint("t", {"flag": True}, SECRET) != call_fingerprint("t", {"flag": 1}, SECRET)
    with pytest.raises(ValueError, match=r"send_email's argument\.when is a datetime"):
        call_fingerprint("send_email", {"when": __import__("datetime").datetime(2024, 1, 1)}, SECRET)


def test_limit_keys_hide_their_values():
    key = limit_key("billing", "refunds", ["alice@example.com"], SECRET)
    assert re.fullmatch(r"[0-9a-f]{32}", key)
    assert key == limit_key("billing", "refunds", ["alice@example.com"], SECRET)
    assert key != limit_key("billing", "refunds", ["bob@example.com"], SECRET)
    assert key != limit_key("billing", "refunds", ["alice@example.com"], b"another secret")
