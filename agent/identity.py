"""The agent's identity: a key made on this host, the client certificate the collector
signed at enrollment, and the collector's CA. Nothing else identifies the agent.

Files live in ``<data_dir>/identity``; the key is written owner-only (on Windows the
installer locks the folder down by ACL).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.errors import AgentError
from protos import exwatch_pb2 as pb
from protos import exwatch_pb2_grpc as pb_grpc

ENROLL_TIMEOUT_S = 20.0


class EnrollmentError(AgentError):
    """Enrollment failed, or the stored identity is missing or unusable."""


@dataclass(frozen=True, slots=True)
class IdentityFiles:
    folder: Path

    @property
    def key(self) -> Path:
        return self.folder / "agent.key"

    @property
    def cert(self) -> Path:
        return self.folder / "agent.pem"

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def info(self) -> Path:
        return self.folder / "enrollment.json"


@dataclass(frozen=True, slots=True)
class Enrollment:
    agent_id: str
    tenant: str
    collector: str  # HOST:PORT of the mutual-TLS stream
    key_pem: bytes
    cert_pem: bytes
    ca_pem: bytes

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca_pem, private_key=self.key_pem, certificate_chain=self.cert_pem
        )

    def not_after(self) -> dt.datetime:
        return x509.load_pem_x509_certificate(self.cert_pem).not_valid_after_utc

    def needs_renewal(self, now: dt.datetime | None = None) -> bool:
        """Past half its lifetime: ask for a new one while the old still works."""
        cert = x509.load_pem_x509_certificate(self.cert_pem)
        start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
        return (now or dt.datetime.now(dt.UTC)) >= start + (end - start) / 2


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    tmp.replace(path)  # atomic: a crash never leaves half a key


def make_csr(key_pem: bytes, hostname: str) -> bytes:
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname[:64] or "agent")])
        )
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def new_key() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def enroll(
    collector: str, token: str, ca_file: Path, data_dir: Path, hostname: str = ""
) -> Enrollment:
    """Make a key here, send a CSR with the token over server-authenticated TLS, store the
    signed certificate."""
    try:
        ca_pem = ca_file.read_bytes()
        x509.load_pem_x509_certificate(ca_pem)
    except (OSError, ValueError) as exc:
        raise EnrollmentError(f"cannot use CA certificate {ca_file}: {exc}") from exc
    hostname = hostname or socket.gethostname()
    key_pem = new_key()
    request = pb.EnrollRequest(token=token, csr_pem=make_csr(key_pem, hostname), hostname=hostname)
    creds = grpc.ssl_channel_credentials(root_certificates=ca_pem)
    try:
        with grpc.secure_channel(collector, creds) as channel:
            reply: pb.EnrollResponse = pb_grpc.CollectorStub(channel).Enroll(
                request, timeout=ENROLL_TIMEOUT_S
            )
    except grpc.RpcError as exc:
        detail = exc.details() if isinstance(exc, grpc.Call) else str(exc)
        raise EnrollmentError(f"enrollment at {collector} failed: {detail}") from exc
    host = collector.rpartition(":")[0]
    files = IdentityFiles(data_dir / "identity")
    _write_private(files.key, key_pem)
    files.cert.write_bytes(reply.certificate_pem)
    files.ca.write_bytes(reply.ca_pem or ca_pem)
    stream = f"{host}:{reply.connect_port}" if reply.connect_port else collector
    files.info.write_text(
        json.dumps(
            {"agent_id": reply.agent_id, "tenant": reply.tenant, "collector": stream}, indent=2
        )
    )
    return load(data_dir)  # type: ignore[return-value]


def load(data_dir: Path) -> Enrollment | None:
    """The stored identity, or None when this agent never enrolled."""
    files = IdentityFiles(data_dir / "identity")
    if not files.info.exists():
        return None
    try:
        info = json.loads(files.info.read_text())
        return Enrollment(
            agent_id=str(info["agent_id"]),
            tenant=str(info["tenant"]),
            collector=str(info["collector"]),
            key_pem=files.key.read_bytes(),
            cert_pem=files.cert.read_bytes(),
            ca_pem=files.ca.read_bytes(),
        )
    except (OSError, ValueError, KeyError) as exc:
        raise EnrollmentError(f"stored identity in {files.folder} is unusable: {exc}") from exc


def store_renewed(data_dir: Path, cert_pem: bytes) -> None:
    """Keep a certificate renewed over the stream (same key) for the next connection."""
    x509.load_pem_x509_certificate(cert_pem)  # refuse garbage before replacing a good one
    files = IdentityFiles(data_dir / "identity")
    tmp = files.cert.with_suffix(".pem.tmp")
    tmp.write_bytes(cert_pem)
    tmp.replace(files.cert)
