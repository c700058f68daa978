"""A throwaway self-signed certificate for the relay's TLS listener (tlsflv / tlshls)."""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
from pathlib import Path
import ssl
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@functools.cache
def self_signed_pem(host: str = "127.0.0.1") -> tuple[bytes, bytes]:
    """Certificate and key (PEM) for ``host``, ``localhost`` and ``127.0.0.1``; generated once per process."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Ovopark simulator relay")])
    alt: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    try:
        ip = ipaddress.ip_address(host)
        if str(ip) != "127.0.0.1":
            alt.append(x509.IPAddress(ip))
    except ValueError:
        if host != "localhost":
            alt.append(x509.DNSName(host))
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def server_context(host: str = "127.0.0.1") -> ssl.SSLContext:
    """Build a server-side SSL context with the throwaway certificate (files live only while loading)."""
    cert_pem, key_pem = self_signed_pem(host)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory(prefix="ovopark-sim-tls-") as tmp:
        cert_file, key_file = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert_file.write_bytes(cert_pem)
        key_file.write_bytes(key_pem)
        key_file.chmod(0o600)
        ctx.load_cert_chain(cert_file, key_file)
    return ctx


def client_context_trusting(host: str = "127.0.0.1") -> ssl.SSLContext:
    """Build a client context that trusts exactly the throwaway certificate (for tests that verify)."""
    cert_pem, _ = self_signed_pem(host)
    return ssl.create_default_context(cadata=cert_pem.decode())
