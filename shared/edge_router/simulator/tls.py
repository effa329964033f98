"""`simulate --tls`: a server TLS context with a self-signed certificate made at start.

For failure drills: a client that verifies certificates (the router does) must refuse it, which
is the "TLS upstream whose certificate fails verification" case of SPEC §5 (a connect failure).
The certificate names `localhost`, `127.0.0.1` and `::1`, so only verification fails, never the
host name check alone. Made with the `openssl` CLI, else with `cryptography` if importable;
imported only when `--tls` is asked for, so normal runs pay nothing.
"""

from __future__ import annotations

import datetime
import shutil
import ssl
import subprocess
import tempfile
from pathlib import Path

__all__ = ["self_signed_context"]

_NAMES = "DNS:localhost,IP:127.0.0.1,IP:::1"


def _with_openssl(openssl: str, cert: Path, key: Path) -> None:
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", "/CN=edge-router simulate", "-addext", f"subjectAltName={_NAMES}"],
        check=True, capture_output=True, timeout=30,
    )


def _with_cryptography(cert: Path, key: Path) -> None:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edge-router simulate")])
    now = datetime.datetime.now(datetime.UTC)
    alt = x509.SubjectAlternativeName([
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ])
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(private.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(alt, critical=False)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))


def self_signed_context() -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate (the files live only meanwhile)."""
    with tempfile.TemporaryDirectory(prefix="edge-sim-tls-") as tmp:
        cert, key = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        openssl = shutil.which("openssl")
        if openssl is not None:
            _with_openssl(openssl, cert, key)
        else:
            try:
                _with_cryptography(cert, key)
            except ImportError as exc:
                raise RuntimeError(
                    "--tls needs the openssl command or the cryptography package"
                ) from exc
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
    return context
