"""Fixtures for the detector tests: no network, one shared Presidio engine."""

from __future__ import annotations

import ipaddress
import socket
import sys
from pathlib import Path

import pytest

# Make the repo importable when pytest is run without installing the package.
_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from guardrails.detectors import PiiConfig, get_pii_detector  # noqa: E402

# Every refused attempt is recorded here as well as raised, because libraries
# such as tldextract catch network errors and fall back silently: a test must
# fail even when the error it caused was swallowed.
NETWORK_ATTEMPTS: list[str] = []


class NetworkBlocked(RuntimeError):
    pass


def _is_loopback_host(host: object) -> bool:
    if not isinstance(host, str):
        return False
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse(what: str) -> None:
    NETWORK_ATTEMPTS.append(what)
    raise NetworkBlocked(f"network access attempted in a test: {what}")


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def guarded_connect(self: socket.socket, address: object) -> None:
    if self.family == socket.AF_UNIX or (isinstance(address, tuple) and _is_loopback_host(address[0])):
        return _real_connect(self, address)
    _refuse(f"connect {address!r}")


def guarded_connect_ex(self: socket.socket, address: object) -> int:
    if self.family == socket.AF_UNIX or (isinstance(address, tuple) and _is_loopback_host(address[0])):
        return _real_connect_ex(self, address)
    _refuse(f"connect_ex {address!r}")
    return 1  # unreachable


def guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
    # DNS lookups bypass socket.connect (the resolver is C code), so refuse
    # them before they happen.
    if host is None or _is_loopback_host(host):
        return _real_getaddrinfo(host, *args, **kwargs)
    _refuse(f"getaddrinfo {host!r}")
    return None  # unreachable


def _install(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(socket.socket, "connect", guarded_connect)
    mp.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    mp.setattr(socket, "getaddrinfo", guarded_getaddrinfo)


@pytest.fixture(scope="session", autouse=True)
def _block_network_session() -> object:
    """Covers session-scoped fixtures, such as building the Presidio engine."""
    with pytest.MonkeyPatch.context() as mp:
        _install(mp)
        yield


@pytest.fixture(autouse=True)
def _block_network(monkeypatch: pytest.MonkeyPatch) -> object:
    """Re-installed per test, after any outer conftest's own per-test patch.

    Fails the test if anything tried to reach the network, even when the
    resulting error was caught and swallowed.
    """
    _install(monkeypatch)
    before = len(NETWORK_ATTEMPTS)
    yield
    attempts = NETWORK_ATTEMPTS[before:]
    assert not attempts, f"network access attempted: {attempts}"


@pytest.fixture
def network_guard() -> object:
    """The guard functions and attempt log, for tests of the guard itself."""
    import types

    return types.SimpleNamespace(
        connect=guarded_connect,
        getaddrinfo=guarded_getaddrinfo,
        attempts=NETWORK_ATTEMPTS,
        blocked=NetworkBlocked,
    )


@pytest.fixture(scope="session")
def pii_detector() -> object:
    """The default (no-NER) detector, built once: Presidio takes seconds to load."""
    return get_pii_detector(PiiConfig())
