"""Enrollment and mutual TLS with real certificates on loopback: only an enrolled agent
speaks for a host, and its tenant is what enrollment fixed."""

from __future__ import annotations

import datetime as dt
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from collector_harness import RunningCollector
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from test_transport import AgentSide, file_events, stored_ids, wait_for

from agent import identity
from agent.identity import EnrollmentError, IdentityFiles
from collector.pki import PKIPaths, init_pki, load_ca
from collector.store import Store
from protos import exwatch_pb2 as pb
from protos import exwatch_pb2_grpc as pb_grpc


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[RunningCollector]:
    data = tmp_path / "collector"
    init_pki(PKIPaths(data / "pki"), names=["localhost", "127.0.0.1"])
    running = RunningCollector(data, tls=True)
    yield running
    running.stop()


def make_token(c: RunningCollector, tenant: str = "acme", uses: int = 1, ttl_s: int = 3600) -> str:
    return c.server.store.create_token(
        tenant, uses=uses, expires_ns=time.time_ns() + ttl_s * 10**9, now_ns=time.time_ns()
    )


def enroll_address(c: RunningCollector) -> str:
    return f"127.0.0.1:{c.server.enroll_port}"


def ca_file(c: RunningCollector) -> Path:
    return c.config.pki_path / "ca.pem"


def enrolled_agent(tmp_path: Path, c: RunningCollector, name: str = "a", tenant: str = "acme"):
    data = tmp_path / name
    result = identity.enroll(
        enroll_address(c), make_token(c, tenant), ca_file(c), data, f"EXCH-{name}"
    )
    return data, result


def test_enroll_then_stream_over_mutual_tls(tmp_path: Path, collector: RunningCollector) -> None:
    data, result = enrolled_agent(tmp_path, collector)
    assert result.tenant == "acme"
    assert result.collector == collector.address
    key_mode = stat.S_IMODE(IdentityFiles(data / "identity").key.stat().st_mode)
    assert key_mode == 0o600
    agent = AgentSide(data, result.collector, agent_id=result.agent_id, tls_dir=data)
    try:
        events = file_events(20)
        agent.spool.put(events)
        wait_for(lambda: agent.spool.depth()[0] == 0)
    finally:
        agent.stop()
    assert set(stored_ids(collector.config.data_dir)) == {e.id for e in events}
    row = collector.server.store.agent(result.agent_id)
    assert row is not None
    assert row["tenant"] == "acme"
    assert row["hostname"] == "EXCH01"  # the hello keeps the name current


def test_single_use_token_cannot_be_reused(tmp_path: Path, collector: RunningCollector) -> None:
    token = make_token(collector)
    identity.enroll(enroll_address(collector), token, ca_file(collector), tmp_path / "one", "h1")
    with pytest.raises(EnrollmentError, match="not valid"):
        identity.enroll(
            enroll_address(collector), token, ca_file(collector), tmp_path / "two", "h2"
        )
    assert not (tmp_path / "two" / "identity" / "agent.key").exists()


def test_expired_and_unknown_tokens_are_refused(
    tmp_path: Path, collector: RunningCollector
) -> None:
    expired = make_token(collector, ttl_s=-1)
    for token in (expired, "exw_made-up"):
        with pytest.raises(EnrollmentError, match="not valid"):
            identity.enroll(
                enroll_address(collector), token, ca_file(collector), tmp_path / "x", "h"
            )


def test_multi_use_token(tmp_path: Path, collector: RunningCollector) -> None:
    token = make_token(collector, uses=2)
    ids = {
        identity.enroll(
            enroll_address(collector), token, ca_file(collector), tmp_path / n, n
        ).agent_id
        for n in ("a", "b")
    }
    assert len(ids) == 2
    with pytest.raises(EnrollmentError):
        identity.enroll(enroll_address(collector), token, ca_file(collector), tmp_path / "c", "c")


def test_enrollment_needs_the_right_ca(tmp_path: Path, collector: RunningCollector) -> None:
    other = PKIPaths(tmp_path / "other-pki")
    init_pki(other, names=["localhost"])
    with pytest.raises(EnrollmentError, match="failed"):
        identity.enroll(
            enroll_address(collector), make_token(collector), other.ca_cert, tmp_path / "x", "h"
        )


def _stream(
    address: str, creds: grpc.ChannelCredentials, hello: pb.Hello
) -> list[pb.CollectorMessage]:
    with grpc.secure_channel(address, creds) as channel:
        return list(
            pb_grpc.CollectorStub(channel).Connect(iter([pb.AgentMessage(hello=hello)]), timeout=10)
        )


def test_no_client_certificate_is_refused(collector: RunningCollector) -> None:
    creds = grpc.ssl_channel_credentials(root_certificates=ca_file(collector).read_bytes())
    with pytest.raises(grpc.RpcError) as info:
        _stream(collector.address, creds, pb.Hello(agent_id="anyone"))
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE  # the TLS handshake fails
    # the enrollment port never accepts a stream either
    with pytest.raises(grpc.RpcError) as info:
        _stream(enroll_address(collector), creds, pb.Hello(agent_id="anyone"))
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


def _client_cert(
    ca: PKIPaths, cn: str, *, not_before: dt.datetime, not_after: dt.datetime
) -> tuple[bytes, bytes]:
    ca_key, ca_cert = load_ca(ca)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def test_certificate_from_another_ca_or_expired_is_refused(
    tmp_path: Path, collector: RunningCollector
) -> None:
    _, result = enrolled_agent(tmp_path, collector)
    ca_pem = ca_file(collector).read_bytes()
    now = dt.datetime.now(dt.UTC)
    other = PKIPaths(tmp_path / "other-pki")
    init_pki(other, names=["localhost"])
    foreign = _client_cert(
        other,
        result.agent_id,
        not_before=now - dt.timedelta(hours=1),
        not_after=now + dt.timedelta(days=1),
    )
    expired = _client_cert(
        PKIPaths(collector.config.pki_path),
        result.agent_id,
        not_before=now - dt.timedelta(days=10),
        not_after=now - dt.timedelta(days=1),
    )
    for key, cert in (foreign, expired):
        creds = grpc.ssl_channel_credentials(ca_pem, key, cert)
        with pytest.raises(grpc.RpcError) as info:
            _stream(collector.address, creds, pb.Hello(agent_id=result.agent_id))
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_certificate_for_an_unknown_agent_is_refused(
    tmp_path: Path, collector: RunningCollector
) -> None:
    now = dt.datetime.now(dt.UTC)
    key, cert = _client_cert(
        PKIPaths(collector.config.pki_path),
        "never-enrolled",
        not_before=now - dt.timedelta(hours=1),
        not_after=now + dt.timedelta(days=1),
    )
    creds = grpc.ssl_channel_credentials(ca_file(collector).read_bytes(), key, cert)
    with pytest.raises(grpc.RpcError) as info:
        _stream(collector.address, creds, pb.Hello())
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "unknown agent" in info.value.details()


def test_agent_cannot_claim_another_identity(tmp_path: Path, collector: RunningCollector) -> None:
    data_a, a = enrolled_agent(tmp_path, collector, "a", "acme")
    _, b = enrolled_agent(tmp_path, collector, "b", "globex")
    creds = identity.load(data_a).credentials()  # type: ignore[union-attr]
    with pytest.raises(grpc.RpcError) as info:
        _stream(collector.address, creds, pb.Hello(agent_id=b.agent_id))
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "certificate is" in info.value.details()
    # and what it sends under its own name lands in its own tenant, whatever it says
    agent = AgentSide(data_a, a.collector, agent_id=a.agent_id, tls_dir=data_a)
    try:
        agent.spool.put(file_events(3))
        wait_for(lambda: agent.spool.depth()[0] == 0)
    finally:
        agent.stop()
    store = Store(collector.config.store_path)
    try:
        assert {r["tenant"] for r in store.list_agents(tenant="acme")} == {"acme"}
        assert store.count_events(agent_id=a.agent_id) == 3
        assert store.count_events(agent_id=b.agent_id) == 0
    finally:
        store.close()


def test_revocation_cuts_off_a_live_stream_and_later_connections(
    tmp_path: Path, collector: RunningCollector
) -> None:
    data, result = enrolled_agent(tmp_path, collector)
    agent = AgentSide(data, result.collector, agent_id=result.agent_id, tls_dir=data)
    try:
        wait_for(agent.transport.connected.is_set)
        store = Store(collector.config.store_path)  # as the CLI would, from outside
        assert store.revoke_agent(result.agent_id, reason="test", now_ns=time.time_ns()) == 1
        store.close()
        wait_for(lambda: not agent.transport.connected.is_set(), timeout=10)
        agent.spool.put(file_events(2))
        time.sleep(1.5)
        assert agent.spool.depth()[0] == 2  # nothing accepted any more
    finally:
        agent.stop()
    creds = identity.load(data).credentials()  # type: ignore[union-attr]
    with pytest.raises(grpc.RpcError) as info:
        _stream(collector.address, creds, pb.Hello())
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "revoked" in info.value.details()


def test_certificate_is_renewed_over_the_stream(
    tmp_path: Path, collector: RunningCollector
) -> None:
    data, result = enrolled_agent(tmp_path, collector)
    files = IdentityFiles(data / "identity")
    # replace the certificate with one past half its life (same key): renewal is due
    now = dt.datetime.now(dt.UTC)
    key = serialization.load_pem_private_key(files.key.read_bytes(), password=None)
    ca_key, ca_cert = load_ca(PKIPaths(collector.config.pki_path))
    old = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, result.agent_id)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=20))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    files.cert.write_bytes(old.public_bytes(serialization.Encoding.PEM))
    agent = AgentSide(data, result.collector, agent_id=result.agent_id, tls_dir=data)
    try:
        wait_for(lambda: not identity.load(data).needs_renewal())  # type: ignore[union-attr]
    finally:
        agent.stop()
    renewed = identity.load(data)
    assert renewed is not None
    assert renewed.not_after() > now + dt.timedelta(days=25)
    assert (
        x509.load_pem_x509_certificate(renewed.cert_pem)
        .subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0]
        .value
        == result.agent_id
    )
