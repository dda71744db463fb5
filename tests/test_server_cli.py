"""`guardrails serve` as a process: health, SIGHUP, SIGTERM."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from guardrails import Outcome
from guardrails.sidecar.client import GuardrailsClient, SidecarUnavailableError
from serve_process import Serve

ROOT = Path(__file__).resolve().parent.parent

SLOW = """policy "p" version "{version}"
config {{ regex_timeout_ms = 1500 }}
pattern slow = /(a|aa)+b/
input {{ rule runaway: deny "slow" when text matches slow }}
tool_call {{ rule ping: allow when tool == "ping" }}
"""


@pytest.fixture
def serve():
    started: list[Serve] = []

    def start(*args: str) -> Serve:
        s = Serve(*args)
        started.append(s)
        return s

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()


def test_serves_the_example_policies_as_healthy(serve):
    s = serve("--policies", "policies", "--metrics", "127.0.0.1:0")
    port = s.wait_ready()
    with GuardrailsClient(f"127.0.0.1:{port}") as c:
        assert c.health() == "SERVING"
        d = c.check_tool_call("issue_refund", {"amount": 50}, policy="support-bot")
        assert d.outcome is Outcome.ALLOW and d.text == {"amount": 50}
    assert s.stop() == 0
    assert "shutting down" in s.log and "stopped" in s.log


def test_sigterm_lets_in_flight_requests_finish_and_refuses_new_ones(serve, tmp_path):
    (tmp_path / "p.policy").write_text(SLOW.format(version="1.0.0"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        metrics_port = sock.getsockname()[1]
    s = serve("--policies", str(tmp_path), "--grace", "10", "--metrics", f"127.0.0.1:{metrics_port}")
    port = s.wait_ready()
    results: dict[str, object] = {}

    def in_flight() -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
            m = re.search(r"^guardrails_inflight_requests (\S+)$", r.read().decode(), re.M)
        return float(m.group(1)) if m else 0.0

    def slow_call():
        with GuardrailsClient(f"127.0.0.1:{port}", timeout=20) as c:
            try:
                results["slow"] = c.check_input("a" * 40 + "!")
            except Exception as exc:  # noqa: BLE001
                results["slow"] = exc

    with GuardrailsClient(f"127.0.0.1:{port}", timeout=5) as c:
        assert c.check_tool_call("ping").outcome is Outcome.ALLOW  # connected before the signal
        t = threading.Thread(target=slow_call)
        t.start()
        deadline = time.time() + 10  # the server itself says the slow request is in flight
        while in_flight() < 1:
            assert time.time() < deadline and t.is_alive(), s.log
            time.sleep(0.01)
        s.proc.send_signal(signal.SIGTERM)
        deadline = time.time() + 10  # poll until the server has taken the signal: new requests are refused
        with pytest.raises(SidecarUnavailableError):
            while time.time() < deadline and t.is_alive():
                c.check_tool_call("ping")
                time.sleep(0.02)
        t.join(timeout=20)
    d = results["slow"]
    assert not isinstance(d, Exception), d
    assert d.outcome is Outcome.DENY and [e.code for e in d.errors] == ["regex-timeout"]  # it finished
    assert s.proc.wait(timeout=20) == 0


def test_sighup_reloads_and_a_broken_set_keeps_the_last_good(serve, tmp_path):
    policy = tmp_path / "p.policy"
    policy.write_text(SLOW.format(version="1.0.0"))
    s = serve("--policies", str(tmp_path), "--no-watch")
    port = s.wait_ready()
    with GuardrailsClient(f"127.0.0.1:{port}") as c:
        policy.write_text(SLOW.format(version="1.0.1"))
        s.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 20
        while c.check_tool_call("ping").policy.version != "1.0.1":
            assert time.time() < deadline, s.log
            time.sleep(0.05)
        policy.write_text("policy \"p\" version \"2.0.0\"\ninput { rule : }\n")
        s.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 20
        while c.list_policies().active.reload.ok:
            assert time.time() < deadline, s.log
            time.sleep(0.05)
        assert c.check_tool_call("ping").policy.version == "1.0.1"
    assert s.stop() == 0
    assert "reload of the active policies" in s.log and "error[E001]" in s.log


def test_policies_that_do_not_load_stop_the_start(tmp_path):
    (tmp_path / "p.policy").write_text("policy \"p\" version \"1\"\ninput { rule : }\n")
    r = subprocess.run([sys.executable, "-m", "guardrails.cli", "serve", "--policies", str(tmp_path), "--listen",
                        "127.0.0.1:0"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 1
    assert "error[" in r.stderr and "not starting" in r.stderr


def test_usage_errors(tmp_path):
    (tmp_path / "p.policy").write_text(SLOW.format(version="1.0.0"))
    r = subprocess.run([sys.executable, "-m", "guardrails.cli", "serve", "--policies", str(tmp_path),
                        "--tls-cert", "x.pem"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 2 and "TLS needs both --tls-cert and --tls-key" in r.stderr


def test_health_probe_module(serve, tmp_path):
    (tmp_path / "p.policy").write_text(SLOW.format(version="1.0.0"))
    s = serve("--policies", str(tmp_path))
    port = s.wait_ready()
    probe = [sys.executable, "-m", "guardrails.sidecar.probe", "--addr", f"127.0.0.1:{port}"]
    assert subprocess.run(probe, capture_output=True, timeout=60).returncode == 0
    assert subprocess.run([*probe, "--service", ""], capture_output=True, timeout=60).returncode == 0
    unknown = subprocess.run([*probe, "--service", "nope"], capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 1 and "NOT_FOUND" in unknown.stderr
    s.stop()
    down = subprocess.run(probe, capture_output=True, text=True, timeout=60)
    assert down.returncode == 1 and "not serving" in down.stderr


def test_kubernetes_examples_use_real_options():
    """The sidecar's args in the manifests parse, and the paths they name are mounted."""
    import yaml

    from guardrails.cli import build_parser

    for name in ("pod.yaml", "pod-bundle.yaml"):
        pod = yaml.safe_load((ROOT / "examples" / "kubernetes" / name).read_text())
        sidecar = next(c for c in pod["spec"]["initContainers"] if c["name"] == "guardrails")
        assert sidecar["restartPolicy"] == "Always"
        args = build_parser().parse_args(sidecar["args"])
        assert args.command == "serve" and args.listen.startswith("127.0.0.1:")
        mounts = [m["mountPath"] for m in sidecar["volumeMounts"]]
        for path in (args.policies, args.key, args.token_file, args.decision_log):
            if path:
                assert any(path == m or path.startswith(m + "/") for m in mounts), (name, path)
        probe = sidecar["readinessProbe"]["exec"]["command"]
        assert probe[:3] == ["python", "-m", "guardrails.sidecar.probe"]
        volumes = {v["name"] for v in pod["spec"]["volumes"]}
        assert {m["name"] for m in sidecar["volumeMounts"]} <= volumes


def test_every_serve_option_is_documented():
    from guardrails.cli import build_parser

    sub = next(a for a in build_parser()._subparsers._group_actions if a.dest == "command")
    serve_parser = sub.choices["serve"]
    doc = (ROOT / "docs" / "sidecar.md").read_text()
    options = [o for a in serve_parser._actions for o in a.option_strings if o.startswith("--") and o != "--help"]
    missing = [o for o in options if f"`{o}" not in doc]
    assert missing == []


def test_a_port_in_use_is_a_clear_error(tmp_path):
    import socket

    (tmp_path / "p.policy").write_text(SLOW.format(version="1.0.0"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "guardrails.cli", "serve", "--policies", str(tmp_path),
                            "--listen", f"127.0.0.1:{port}", "--no-watch"],
                           capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 3  # cannot listen: not 1, which says the policies do not load
    assert f"cannot listen on 127.0.0.1:{port} (in use" in r.stderr
    assert "Traceback" not in r.stderr and "GRPC_VERBOSITY" not in r.stderr


def test_a_metrics_port_in_use_is_the_same_failure(tmp_path):
    (tmp_path / "p.policy").write_text(SLOW.format(version="1.0.0"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "guardrails.cli", "serve", "--policies", str(tmp_path),
                            "--listen", "127.0.0.1:0", "--metrics", f"127.0.0.1:{port}", "--no-watch"],
                           capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 3 and f"cannot serve metrics on 127.0.0.1:{port}" in r.stderr
    assert "Traceback" not in r.stderr
