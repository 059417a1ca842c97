"""``webkit run --https``: a local certificate authority, made once per machine, and the
server certificate it signs for this run's names.

The CA (``rootCA.pem``, its key ``rootCA-key.pem`` readable by the user only) lives in
webkit's data folder (``WEBKIT_CA_DIR``, else ``$XDG_DATA_HOME/webkit/ca`` or
``~/Library/Application Support/webkit/ca`` on macOS). Trusting it once (the commands
:func:`trust_instructions` prints) makes every later run's certificate valid, so the
browser treats the page as a secure context: ``Secure`` cookies, service workers and
``crypto.subtle`` work as in production. The server certificate names ``localhost``,
``127.0.0.1``, ``::1``, the ``--host`` and, on 0.0.0.0, this machine's network address.

Uses ``cryptography`` (``pip install 'webkit-cli[https]'``).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import ipaddress
import os
import ssl
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from webkit_cli.errors import WebkitError

if TYPE_CHECKING:
    from webkit_cli.server.config import ServerConfig

CA_CERT: Final = "rootCA.pem"
CA_KEY: Final = "rootCA-key.pem"
CA_NAME: Final = "webkit development CA"
#: Browsers refuse server certificates valid for longer (Apple: 825 days).
SERVER_DAYS: Final = 800
CA_DAYS: Final = 3650


def ca_dir(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("WEBKIT_CA_DIR"):
        return Path(env["WEBKIT_CA_DIR"])
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "webkit" / "ca"
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "webkit" / "ca"


def _require_cryptography() -> None:
    try:
        import cryptography  # noqa: F401
    except ImportError:
        raise WebkitError(
            "--https needs the cryptography package: pip install 'webkit-cli[https]' "
            "(or pip install cryptography)."
        ) from None


def _write_private(path: Path, data: bytes) -> None:
    """Write ``path`` readable by the user only, atomically (no half-written key)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    tmp.replace(path)


def _new_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def ensure_ca(folder: Path) -> tuple[Path, bool]:
    """The CA certificate's path, made when missing; and whether it was made now."""
    _require_cryptography()
    cert_path = folder / CA_CERT
    if cert_path.is_file() and (folder / CA_KEY).is_file():
        return cert_path, False
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise WebkitError(f"Cannot create the CA folder {folder}: {exc.strerror}.") from exc
    key = _new_key()
    user = os.environ.get("USER") or "developer"
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, CA_NAME),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{CA_NAME} ({user})"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    try:
        _write_private(folder / CA_KEY, _pem_key(key))
        _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        cert_path.chmod(0o644)
    except OSError as exc:
        raise WebkitError(f"Cannot write the CA in {folder}: {exc.strerror}.") from exc
    return cert_path, True


def server_names(host: str, extra: Iterable[str] = ()) -> list[str]:
    names = ["localhost", "127.0.0.1", "::1"]
    for name in (host, *extra):
        if name and name not in ("0.0.0.0", "::") and name not in names:
            names.append(name)
    return names


def ensure_server_cert(folder: Path, names: list[str]) -> tuple[Path, Path]:
    """(certificate, key) for ``names``, signed by the CA; reused while valid."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    digest = hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:12]
    cert_path = folder / f"server-{digest}.pem"
    key_path = folder / f"server-{digest}-key.pem"
    now = datetime.datetime.now(datetime.UTC)
    if cert_path.is_file() and key_path.is_file():
        with contextlib.suppress(ValueError, OSError):
            old = x509.load_pem_x509_certificate(cert_path.read_bytes())
            if old.not_valid_after_utc - now > datetime.timedelta(days=7):
                return cert_path, key_path
    ca_cert = x509.load_pem_x509_certificate((folder / CA_CERT).read_bytes())
    ca_key: Any = serialization.load_pem_private_key((folder / CA_KEY).read_bytes(), None)
    key = _new_key()
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    try:
        _write_private(key_path, _pem_key(key))
        _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    except OSError as exc:
        raise WebkitError(f"Cannot write the certificate in {folder}: {exc.strerror}.") from exc
    return cert_path, key_path


def server_context(cert: str, key: str) -> ssl.SSLContext:
    """The workers' TLS context (TLS 1.2+, HTTP/1.1 only)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["http/1.1"])
    return context


def trust_instructions(ca_cert: Path) -> list[str]:
    """How to make browsers trust the CA (printed when it is made, and on each --https run)."""
    path = str(ca_cert)
    return [
        f"Local CA: {path} (trust it once; its key never leaves this folder)",
        f"  Debian/Ubuntu: sudo cp '{path}' /usr/local/share/ca-certificates/webkit-dev.crt"
        " && sudo update-ca-certificates",
        "  Chrome/Chromium on Linux: certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n webkit-dev"
        f" -i '{path}'",
        "  macOS: sudo security add-trusted-cert -d -r trustRoot "
        f"-k /Library/Keychains/System.keychain '{path}'",
        "  Firefox: Settings > Privacy & Security > Certificates > View Certificates > "
        f"Authorities > Import '{path}'",
    ]


def prepare(config: ServerConfig) -> tuple[ServerConfig, list[str]]:
    """``config`` with the certificate files set, and the lines that say how to trust the
    CA (all of them when it was just made, else the one with its path)."""
    from dataclasses import replace

    from webkit_cli.server.banner import lan_address

    folder = ca_dir()
    ca_cert, made = ensure_ca(folder)
    extra = [lan_address() or ""] if config.host in ("0.0.0.0", "::") else []
    cert, key = ensure_server_cert(folder, server_names(config.host, extra))
    lines = trust_instructions(ca_cert)
    if not made:
        lines = [lines[0]]
    return replace(config, tls_cert=str(cert), tls_key=str(key)), lines
