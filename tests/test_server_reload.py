"""Hot reload: a broken policy push never takes the sidecar down, and no
request fails or sees a mix of versions while sets are swapped."""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path

import pytest

from guardrails import Outcome
from guardrails.sidecar.client import GuardrailsClient, PolicyNotFoundError
from guardrails.sidecar import ServerConfig, SidecarServer


def good(version: str) -> str:
    # The module and the policy carry the same version: a decision made from a
    # mix of two loads would show it (the rule's message names the module's).
    return f'policy "svc" version "{version}"\nimport "base"\ntool_call {{ rule ping: allow when tool == "ping" }}\n'


def base(version: str) -> str:
    return f'module "base" version "{version}"\ntool_call {{ rule marker: warn "base {version}" when tool == "ping" }}\n'


BROKEN = 'policy "svc" version "9.9.9"\ntool_call { rule ping: allow when tool == = "ping" }\n'


def write(d: Path, version: str, *, broken: bool = False) -> None:
    (d / "svc.policy").write_text(BROKEN if broken else good(version))
    (d / "base.policy").write_text(base(version))


def wait_until(condition, timeout: float = 10.0) -> None:
    """Poll a condition with a deadline, instead of sleeping for a guessed time."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.001)


@pytest.fixture
def policy_dir(tmp_path):
    d = tmp_path / "policies"
    d.mkdir()
    return d


def test_reload_loop_under_load(policy_dir):
    write(policy_dir, "1.0.0")
    with SidecarServer(ServerConfig(policies=policy_dir, listen="127.0.0.1:0", watch=False,
                                    max_concurrency=16)) as s:
        target = f"127.0.0.1:{s.port}"
        stop = threading.Event()
        results: list[list[tuple[str, str]]] = []
        failures: list[BaseException] = []

        def client_loop():
            seen: list[tuple[str, str]] = []
            results.append(seen)
            with GuardrailsClient(target, timeout=10) as c:
                while not stop.is_set():
                    try:
                        d = c.check_tool_call("ping")
                    except BaseException as exc:  # noqa: BLE001 - every request must succeed
                        failures.append(exc)
                        return
                    assert d.outcome is Outcome.ALLOW
                    # the policy's version, and the version of the imported module's rule that fired
                    seen.append((d.policy.version, d.messages()[0].split()[-1]))

        threads = [threading.Thread(target=client_loop) for _ in range(4)]
        for t in threads:
            t.start()
        good_versions = ["1.0.0"]
        try:
            for i in range(1, 51):  # 100 swaps: good, broken, good, broken, ...
                version = f"1.0.{i}"
                write(policy_dir, version)
                assert s.reload() is True
                good_versions.append(version)
                wait_until(lambda: any(r and r[-1][0] == version for r in results))  # a client saw it
                write(policy_dir, version, broken=True)
                assert s.reload() is False
                assert s.active.snapshot.engine.get_policy("svc").version == version  # last good stays
        finally:
            # Clients keep asking after the last broken push, so each ends on the last good set.
            after = sum(len(r) for r in results)
            wait_until(lambda: sum(len(r) for r in results) >= after + 8 or bool(failures))
            stop.set()
            for t in threads:
                t.join()
        assert failures == []
        total = sum(len(r) for r in results)
        assert total > 100, total
        order = {v: i for i, v in enumerate(good_versions)}
        for seen in results:
            for policy_version, module_version in seen:
                assert policy_version == module_version  # one snapshot per request, never a mix
                assert policy_version in order  # never the broken one
            versions = [order[v] for v, _ in seen]
            assert versions == sorted(versions)  # a thread never goes back to an older set
        assert len({v for r in results for v, _ in r}) >= 3  # the clients did see the swaps
        status = s.active.status
        assert (status.successes, status.failures, status.ok) == (51, 50, False)
        assert "error[E001]" in status.error


def test_failed_reload_shows_in_list_policies_metrics_and_logs(policy_dir, caplog):
    write(policy_dir, "1.0.0")
    with SidecarServer(ServerConfig(policies=policy_dir, listen="127.0.0.1:0", metrics="127.0.0.1:0",
                                    watch=False)) as s, GuardrailsClient(f"127.0.0.1:{s.port}") as c:
        write(policy_dir, "1.0.1", broken=True)
        assert s.reload() is False
        listing = c.list_policies()
        assert listing.active.reload.ok is False
        assert "svc.policy:2:" in listing.active.reload.error and "error[E001]" in listing.active.reload.error
        assert listing.active.reload.failures == 1 and listing.active.generation == 1
        assert [p.version for p in listing.active.policies if p.name == "svc"] == ["1.0.0"]
        assert c.check_tool_call("ping").policy.version == "1.0.0"
        body = urllib.request.urlopen(f"http://127.0.0.1:{s.metrics_port}/metrics", timeout=5).read().decode()
        assert 'guardrails_reloads_total{result="failure",set="active"} 1.0' in body
        assert 'guardrails_reload_ok{set="active"} 0.0' in body
        assert 'guardrails_policy_info{digest=' in body and 'version="1.0.0"' in body
        assert "reload of the active policies" in caplog.text and "still serving generation 1" in caplog.text

        write(policy_dir, "1.0.2")
        assert s.reload() is True
        listing = c.list_policies()
        assert listing.active.reload.ok and listing.active.generation == 2
        assert c.check_tool_call("ping").policy.version == "1.0.2"


def test_a_push_that_deletes_a_served_policy_is_refused(policy_dir):
    write(policy_dir, "1.0.0")
    (policy_dir / "other.policy").write_text('policy "other" version "1.0.0"\n'
                                             'tool_call { rule ping: allow when tool == "ping" }\n')
    with SidecarServer(ServerConfig(policies=policy_dir, listen="127.0.0.1:0", watch=False)) as s, \
            GuardrailsClient(f"127.0.0.1:{s.port}") as c:
        (policy_dir / "other.policy").unlink()
        assert s.reload() is False  # compiles, but "other" would vanish from under its callers
        assert c.check_tool_call("ping", policy="other").outcome is Outcome.ALLOW
        listing = c.list_policies()
        assert listing.active.reload.ok is False and "no longer has other" in listing.active.reload.error
        assert "--allow-policy-removal" in listing.active.reload.error
        # Other edits in the same push wait with it; restoring the file lets them through.
        write(policy_dir, "1.0.1")
        assert s.reload() is False and c.check_tool_call("ping", policy="svc").policy.version == "1.0.0"
        (policy_dir / "other.policy").write_text('policy "other" version "1.0.0"\n'
                                                 'tool_call { rule ping: allow when tool == "ping" }\n')
        assert s.reload() is True and c.check_tool_call("ping", policy="svc").policy.version == "1.0.1"


def test_policy_removal_can_be_allowed(policy_dir):
    write(policy_dir, "1.0.0")
    (policy_dir / "other.policy").write_text('policy "other" version "1.0.0"\n'
                                             'tool_call { rule ping: allow when tool == "ping" }\n')
    with SidecarServer(ServerConfig(policies=policy_dir, listen="127.0.0.1:0", watch=False,
                                    allow_policy_removal=True)) as s, GuardrailsClient(f"127.0.0.1:{s.port}") as c:
        (policy_dir / "other.policy").unlink()
        assert s.reload() is True
        with pytest.raises(PolicyNotFoundError) as err:
            c.check_tool_call("ping", policy="other")
        assert err.value.reason == "POLICY_NOT_FOUND"


def test_the_watcher_picks_up_changes(policy_dir):
    write(policy_dir, "1.0.0")
    with SidecarServer(ServerConfig(policies=policy_dir, listen="127.0.0.1:0", poll_interval=0.05)) as s, \
            GuardrailsClient(f"127.0.0.1:{s.port}") as c:
        write(policy_dir, "2.0.0")
        deadline = time.time() + 10
        while c.check_tool_call("ping").policy.version != "2.0.0":
            assert time.time() < deadline, "the change was not picked up"
            time.sleep(0.05)
        write(policy_dir, "2.0.1", broken=True)
        deadline = time.time() + 10
        while s.active.status.ok:
            assert time.time() < deadline, "the broken change was not noticed"
            time.sleep(0.05)
        failures = s.active.status.failures
        time.sleep(0.5)  # ten poll intervals: the behaviour under test is that none of them retries
        assert s.active.status.failures == failures  # a broken source is tried once, not every poll
        assert c.check_tool_call("ping").policy.version == "2.0.0"
        write(policy_dir, "2.0.0")  # undo the broken edit: back to what is served
        deadline = time.time() + 10
        while not s.active.status.ok:
            assert time.time() < deadline
            time.sleep(0.05)
        assert s.active.snapshot.generation == 2


def test_a_broken_initial_set_does_not_start(policy_dir):
    from guardrails import PolicyError

    write(policy_dir, "1.0.0", broken=True)
    with pytest.raises(PolicyError):
        SidecarServer(ServerConfig(policies=policy_dir, listen="127.0.0.1:0", watch=False)).start()


def test_a_configmap_style_symlink_swap_is_picked_up(tmp_path):
    """Kubernetes updates a mounted ConfigMap by re-pointing `..data` at a new
    timestamped directory; the files are symlinks through `..data`."""
    import os

    d = tmp_path / "mounted"
    d.mkdir()

    def publish(name: str, version: str) -> None:
        gen = d / name
        gen.mkdir()
        write(gen, version)
        tmp_link = d / "..data_tmp"
        tmp_link.symlink_to(name)
        os.replace(tmp_link, d / "..data")  # the atomic swap

    publish("..2026_01_01_v1", "1.0.0")
    for f in ("svc.policy", "base.policy"):
        (d / f).symlink_to(f"..data/{f}")
    with SidecarServer(ServerConfig(policies=d, listen="127.0.0.1:0", poll_interval=0.05)) as s, \
            GuardrailsClient(f"127.0.0.1:{s.port}") as c:
        assert c.check_tool_call("ping").policy.version == "1.0.0"
        publish("..2026_01_01_v2", "1.1.0")
        deadline = time.time() + 10
        while c.check_tool_call("ping").policy.version != "1.1.0":
            assert time.time() < deadline, "the swap was not picked up"
            time.sleep(0.05)
        assert s.active.status.failures == 0


def test_serves_and_reloads_a_signed_bundle(tmp_path):
    from guardrails.cli import main as cli

    src = tmp_path / "src"
    src.mkdir()
    key = tmp_path / "rel"
    assert cli(["bundle", "keygen", "--type", "hmac", "-o", str(key)]) == 0
    bundle = tmp_path / "policies.bundle"

    def build(version: str) -> None:
        write(src, version)
        assert cli(["bundle", "build", str(src), "-o", str(bundle), "--key", f"{key}.key"]) == 0

    build("1.0.0")
    with SidecarServer(ServerConfig(policies=bundle, bundle_key=f"{key}.key", listen="127.0.0.1:0",
                                    watch=False)) as s, GuardrailsClient(f"127.0.0.1:{s.port}") as c:
        assert c.check_tool_call("ping").policy.version == "1.0.0"
        build("1.0.1")
        assert s.reload() is True
        assert c.check_tool_call("ping").policy.version == "1.0.1"
        bundle.write_bytes(bundle.read_bytes()[:-40] + b"\0" * 40)  # tampered: does not verify
        assert s.reload() is False
        assert c.check_tool_call("ping").policy.version == "1.0.1"
        assert s.active.status.error
