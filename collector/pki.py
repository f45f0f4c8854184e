"""The collector's certificate authority: it signs the server certificate and every agent's
client certificate. An agent is identified by its certificate alone (CN = agent id).

Keys are EC P-256 (fast handshakes for large fleets) and written owner-only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from collector.errors import CollectorError

CA_DAYS = 3650
SERVER_DAYS = 825
AGENT_DAYS = 30  # short-lived: renewed over the stream, revocation by deny-list in between


class PKIError(CollectorError):
    """Missing or unusable TLS material, or a CSR that cannot be signed."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def write_private(path: Path, data: bytes) -> None:
    """Write a secret readable by its owner only (created that way, never widened later)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    path.chmod(0o600)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def fingerprint(cert_pem: bytes) -> str:
    """SHA-256 of the DER certificate, hex: the key of the revocation deny-list."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


@dataclass(frozen=True, slots=True)
class PKIPaths:
    folder: Path

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def server_key(self) -> Path:
        return self.folder / "server.key"

    @property
    def server_cert(self) -> Path:
        return self.folder / "server.pem"

    def exists(self) -> bool:
        return all(
            p.exists() for p in (self.ca_key, self.ca_cert, self.server_key, self.server_cert)
        )


def init_pki(paths: PKIPaths, *, names: list[str], force: bool = False) -> None:
    """Create the CA and a server certificate valid for ``names`` (DNS names or IPs)."""
    if paths.ca_key.exists() and not force:
        raise PKIError(f"{paths.ca_key} exists already; refusing to replace the CA (use --force)")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "exwatch collector CA")])
    now = _now()
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    write_private(paths.ca_key, _key_pem(ca_key))
    paths.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    issue_server_certificate(paths, names)


def _san(names: list[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def default_server_names() -> list[str]:
    return ["localhost", "127.0.0.1", "::1", socket.gethostname(), socket.getfqdn()]


def issue_server_certificate(paths: PKIPaths, names: list[str]) -> None:
    ca_key, ca_cert = load_ca(paths)
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
        .add_extension(_san(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    write_private(paths.server_key, _key_pem(key))
    paths.server_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def load_ca(paths: PKIPaths) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    try:
        key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    except (OSError, ValueError) as exc:
        raise PKIError(f"cannot load the CA from {paths.folder}: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PKIError(f"{paths.ca_key} is not an EC key")
    return key, cert


def sign_agent_csr(
    paths: PKIPaths, csr_pem: bytes, *, agent_id: str, tenant: str, days: int = AGENT_DAYS
) -> tuple[bytes, dt.datetime]:
    """Sign an agent's CSR. The identity (CN) is ours to set, whatever the CSR asked for."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise PKIError(f"malformed certificate request: {exc}") from exc
    if not csr.is_signature_valid:
        raise PKIError("certificate request signature does not verify")
    public_key = csr.public_key()
    strong_rsa = isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size >= 2048
    if not isinstance(public_key, ec.EllipticCurvePublicKey) and not strong_rsa:
        raise PKIError("certificate request must use an EC or RSA (>= 2048 bit) key")
    ca_key, ca_cert = load_ca(paths)
    now = _now()
    not_after = now + dt.timedelta(days=days)
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, agent_id),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, tenant),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(f"urn:exwatch:agent:{agent_id}")]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), not_after
