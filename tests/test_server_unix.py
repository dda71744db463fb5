"""The sidecar on a Unix domain socket (`--listen unix:PATH`): the same
service, reachable only by processes that can open the socket file."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from guardrails import GuardrailsError, Outcome
from guardrails.sidecar.client import GuardrailsClient
from guardrails.sidecar import ServerConfig, SidecarServer

ROOT = Path(__file__).resolve().parent.parent
POLICY = 'policy "p" version "1.0.0"\ntool_call { rule ping: allow when tool == "ping" }\n'


@pytest.fixture()
def policies(tmp_path: Path) -> Path:
    d = tmp_path / "policies"
    d.mkdir()
    (d / "p.policy").write_text(POLICY)
    return d


@pytest.fixture()
def sock(tmp_path: Path) -> str:
    # Socket paths are limited to about 100 bytes; pytest's tmp_path can be long.
    short = Path("/tmp") / f"gl-{os.getpid()}-{tmp_path.name[-12:]}"
    short.mkdir(exist_ok=True)
    yield str(short / "sidecar.sock")
    for f in short.iterdir():
        f.unlink()
    short.rmdir()


def test_serves_on_a_socket_with_its_mode_and_removes_it(policies, sock):
    with SidecarServer(ServerConfig(policies=policies, listen=f"unix:{sock}", socket_mode=0o660,
                                    watch=False)) as s:
        assert s.address == f"unix:{sock}" and s.port is None
        assert stat.S_ISSOCK(os.stat(sock).st_mode) and stat.S_IMODE(os.stat(sock).st_mode) == 0o660
        with GuardrailsClient(s.address) as c:
            assert c.health() == "SERVING"
            assert c.check_tool_call("ping").outcome is Outcome.ALLOW
            assert c.check_tool_call("pong").outcome is Outcome.DENY
    assert not os.path.exists(sock)


def test_a_stale_socket_is_replaced(policies, sock):
    # What a sidecar that was killed leaves behind: a socket nobody answers on.
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(sock)
    assert os.path.exists(sock)
    with SidecarServer(ServerConfig(policies=policies, listen=f"unix:{sock}", watch=False)) as s, \
            GuardrailsClient(s.address) as c:
        assert c.check_tool_call("ping").outcome is Outcome.ALLOW


def test_a_live_socket_or_a_bad_path_is_a_clear_error(policies, sock, tmp_path):
    with SidecarServer(ServerConfig(policies=policies, listen=f"unix:{sock}", watch=False)):
        with pytest.raises(GuardrailsError, match="a server is already listening there"):
            SidecarServer(ServerConfig(policies=policies, listen=f"unix:{sock}", watch=False))
    with pytest.raises(GuardrailsError, match="does not exist"):
        ServerConfig(policies=policies, listen=f"unix:{tmp_path}/no/such/dir/s.sock").validate()
    (tmp_path / "plain").write_text("x")
    with pytest.raises(GuardrailsError, match="exists and is not a socket"):
        ServerConfig(policies=policies, listen=f"unix:{tmp_path}/plain").validate()
    with pytest.raises(GuardrailsError, match="only to --listen unix:PATH"):
        ServerConfig(policies=policies, listen="127.0.0.1:0", socket_mode=0o600).validate()
    with pytest.raises(GuardrailsError, match="use HOST:PORT"):
        ServerConfig(policies=policies, listen="localhost").validate()


def test_a_socket_in_use_exits_like_a_port_in_use(policies, sock):
    with SidecarServer(ServerConfig(policies=policies, listen=f"unix:{sock}", watch=False)):
        r = subprocess.run([sys.executable, "-m", "guardrails.cli", "serve", "--policies", str(policies),
                            "--listen", f"unix:{sock}", "--no-watch"],
                           capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 3  # as for a TCP port in use (tests/test_server_cli.py)
    assert "a server is already listening there" in r.stderr and "Traceback" not in r.stderr


def test_the_command_line_and_the_probe(policies, sock):
    proc = subprocess.Popen([sys.executable, "-m", "guardrails.cli", "serve", "--policies", str(policies),
                             "--listen", f"unix:{sock}", "--socket-mode", "600", "--no-watch"],
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "serving guardrails.v1.Guardrails" in line:
                assert f"on unix:{sock}" in line
                break
        else:
            pytest.fail("the sidecar did not start")
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
        probe = subprocess.run([sys.executable, "-m", "guardrails.sidecar.probe", "--addr", f"unix:{sock}"],
                               capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert probe.returncode == 0, probe.stdout + probe.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    bad = subprocess.run([sys.executable, "-m", "guardrails.cli", "serve", "--policies", str(policies),
                          "--listen", f"unix:{sock}", "--socket-mode", "999"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert bad.returncode == 2 and "not an octal file mode" in bad.stderr
