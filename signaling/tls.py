"""HTTPS: the TLS context from a configured certificate, and a self-signed one for a clinic LAN.

Browsers give a page the camera and microphone only in a secure context, so a server that
specialists reach by a LAN address must speak TLS. Where no hospital CA issues certificates,
``farlink admin make-cert`` makes a self-signed one (ECDSA P-256) for the names and addresses
the server is reached by; each browser then trusts it once. Behind a reverse proxy that
terminates TLS, none of this is needed (docs/operations.md).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from devices.errors import LocalError


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context (TLS 1.2+); LocalError ``bad_certificate`` when the files do not load."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise LocalError(f"cannot load certificate {cert} / key {key}: {exc}", code="bad_certificate") from exc
    return context


def make_self_signed(names: list[str], cert_path: Path, key_path: Path, days: int = 825) -> None:
    """Write a self-signed certificate for ``names`` (host names or IP addresses) and its key (0600)."""
    if not names:
        raise LocalError("name at least one host name or address", code="bad_field")
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Farlink clinic LAN")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))  # 825 days: the most browsers accept
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.parent.mkdir(parents=True, exist_ok=True)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
