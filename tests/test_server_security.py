"""TLS, mutual TLS and the bearer token. Certificates are made per test run
by a throwaway CA (the `cryptography` package); nothing leaves loopback."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import grpc
import pytest

from guardrails import Outcome
from guardrails.sidecar.client import AuthenticationError, GuardrailsClient, SidecarUnavailableError, TlsConfig
from guardrails.sidecar import ServerConfig, SidecarServer, probe
from guardrails.sidecar._proto import guardrails_pb2 as pb
from guardrails.sidecar._proto import guardrails_pb2_grpc as pb_grpc

x509 = pytest.importorskip("cryptography.x509", reason="the TLS tests make certificates with `cryptography`")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

POLICY = 'policy "p" version "1.0.0"\ntool_call { rule ping: allow when tool == "ping" }\n'


def _name(cn: str):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key, issuer_name, issuer_key, *, ca: bool = False, server: bool = False):
    now = dt.datetime.now(dt.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer_name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                         x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                            critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert=None, key=None) -> Path:
    if cert is not None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("test CA", ca_key, _name("test CA"), ca_key, ca=True)
    files = {"ca": _write(d / "ca.pem", ca)}
    for who, server in (("server", True), ("client", False)):
        key = ec.generate_private_key(ec.SECP256R1())
        files[who] = _write(d / f"{who}.pem", _cert(who, key, ca.subject, ca_key, server=server))
        files[f"{who}_key"] = _write(d / f"{who}.key", key=key)
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = _cert("other CA", other_key, _name("other CA"), other_key, ca=True)
    stranger_key = ec.generate_private_key(ec.SECP256R1())
    files["stranger"] = _write(d / "stranger.pem", _cert("stranger", stranger_key, other.subject, other_key))
    files["stranger_key"] = _write(d / "stranger.key", key=stranger_key)
    return files


@pytest.fixture
def policies(tmp_path):
    d = tmp_path / "policies"
    d.mkdir()
    (d / "p.policy").write_text(POLICY)
    return d


def test_tls(policies, pki):
    cfg = ServerConfig(policies=policies, listen="127.0.0.1:0", watch=False,
                       tls_cert=str(pki["server"]), tls_key=str(pki["server_key"]))
    with SidecarServer(cfg) as s:
        tls = TlsConfig(root_certificates=str(pki["ca"]))
        with GuardrailsClient(f"localhost:{s.port}", tls=tls) as c:
            assert c.check_tool_call("ping").outcome is Outcome.ALLOW
        with GuardrailsClient(f"127.0.0.1:{s.port}", timeout=3) as plain, pytest.raises(SidecarUnavailableError):
            plain.check_tool_call("ping")  # plaintext cannot talk to a TLS port


def test_mutual_tls(policies, pki):
    cfg = ServerConfig(policies=policies, listen="127.0.0.1:0", watch=False, tls_cert=str(pki["server"]),
                       tls_key=str(pki["server_key"]), tls_client_ca=str(pki["ca"]))
    with SidecarServer(cfg) as s:
        good = TlsConfig(root_certificates=str(pki["ca"]), cert_chain=str(pki["client"]),
                         private_key=str(pki["client_key"]))
        with GuardrailsClient(f"localhost:{s.port}", tls=good) as c:
            assert c.check_tool_call("ping").outcome is Outcome.ALLOW
        for bad in (TlsConfig(root_certificates=str(pki["ca"])),  # no client certificate
                    TlsConfig(root_certificates=str(pki["ca"]), cert_chain=str(pki["stranger"]),
                              private_key=str(pki["stranger_key"]))):  # signed by another CA
            with GuardrailsClient(f"localhost:{s.port}", tls=bad, timeout=3) as c:
                with pytest.raises(SidecarUnavailableError):
                    c.check_tool_call("ping")


def test_the_probe_checks_a_mutual_tls_sidecar(policies, pki):
    cfg = ServerConfig(policies=policies, listen="127.0.0.1:0", watch=False, tls_cert=str(pki["server"]),
                       tls_key=str(pki["server_key"]), tls_client_ca=str(pki["ca"]))
    with SidecarServer(cfg) as s:
        base = ["--addr", f"localhost:{s.port}", "--tls-ca", str(pki["ca"]), "--timeout", "5"]
        assert probe.main([*base, "--tls-cert", str(pki["client"]), "--tls-key", str(pki["client_key"])]) == 0
        assert probe.main(base) == 1  # no client certificate: the handshake fails
        assert probe.main([*base, "--tls-cert", str(pki["stranger"]), "--tls-key", str(pki["stranger_key"])]) == 1
        with pytest.raises(SystemExit) as usage:
            probe.main([*base, "--tls-cert", str(pki["client"])])  # a certificate without its key
        assert usage.value.code == 2


def test_the_bearer_scheme_is_case_insensitive_the_token_is_not(policies, tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cr3t-token\n")
    with SidecarServer(ServerConfig(policies=policies, listen="127.0.0.1:0", watch=False,
                                    token_file=str(token))) as s, grpc.insecure_channel(f"127.0.0.1:{s.port}") as ch:
        stub = pb_grpc.GuardrailsStub(ch)
        for header in ("Bearer s3cr3t-token", "bearer s3cr3t-token", "BEARER s3cr3t-token", "Bearer   s3cr3t-token"):
            d = stub.CheckToolCall(pb.CheckToolCallRequest(tool="ping"), metadata=(("authorization", header),),
                                   timeout=5)
            assert d.outcome == pb.OUTCOME_ALLOW, header
        for header in ("Bearer S3CR3T-TOKEN", "Basic s3cr3t-token", "s3cr3t-token", "Bearer", "Bearers3cr3t-token"):
            with pytest.raises(grpc.RpcError) as err:
                stub.CheckToolCall(pb.CheckToolCallRequest(tool="ping"), metadata=(("authorization", header),),
                                   timeout=5)
            assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED, header


def test_method_names_cannot_be_probed_without_the_token(policies, tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cr3t-token\n")
    with SidecarServer(ServerConfig(policies=policies, listen="127.0.0.1:0", watch=False,
                                    token_file=str(token))) as s, grpc.insecure_channel(f"127.0.0.1:{s.port}") as ch:
        for method in ("/guardrails.v1.Guardrails/CheckToolCall", "/guardrails.v1.Guardrails/DeleteEverything",
                       "/other.Service/Method"):
            with pytest.raises(grpc.RpcError) as err:
                ch.unary_unary(method)(b"", timeout=5)
            assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED, method
        with pytest.raises(grpc.RpcError) as err:
            ch.unary_unary("/guardrails.v1.Guardrails/DeleteEverything")(
                b"", metadata=(("authorization", "Bearer s3cr3t-token"),), timeout=5)
        assert err.value.code() is grpc.StatusCode.UNIMPLEMENTED


def test_bearer_token(policies, tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cr3t-token\n")
    with SidecarServer(ServerConfig(policies=policies, listen="127.0.0.1:0", watch=False,
                                    token_file=str(token))) as s:
        target = f"127.0.0.1:{s.port}"
        with GuardrailsClient(target, token="s3cr3t-token") as c:
            assert c.check_tool_call("ping").outcome is Outcome.ALLOW
            assert c.list_policies().active.policies[0].name == "p"
            assert "".join(c.guard_stream(["hello"], policy="p")) == "hello"
        for wrong in (None, "wrong", "s3cr3t-token-but-longer"):
            with GuardrailsClient(target, token=wrong) as c:
                with pytest.raises(AuthenticationError) as err:
                    c.check_tool_call("ping")
                assert err.value.code is grpc.StatusCode.UNAUTHENTICATED
                with pytest.raises(AuthenticationError):
                    list(c.guard_stream(["hello"], policy="p"))
                assert c.health() == "SERVING"  # health checks are exempt

        # the token file is re-read when it changes (a rotated secret)
        token.write_text("rotated\n")
        s.auth.poll()
        with GuardrailsClient(target, token="rotated") as c:
            assert c.check_tool_call("ping").outcome is Outcome.ALLOW
        with GuardrailsClient(target, token="s3cr3t-token") as c, pytest.raises(AuthenticationError):
            c.check_tool_call("ping")


def test_listens_on_loopback_by_default():
    assert ServerConfig(policies=".").listen == "127.0.0.1:50051"
