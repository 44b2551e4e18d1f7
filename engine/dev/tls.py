"""Throw-away TLS material for embedded brokers: a test CA and certificates it signs.

Made with the ``openssl`` command line (the project has no X.509 library, and needs
none in production: operators bring their own certificates). Keys are EC P-256 in
unencrypted PKCS#8 (``BEGIN PRIVATE KEY``), what Apache Kafka's PEM keystore reads and
quick to generate. A server certificate names its IP addresses and host names in its
subjectAltName, as Python's hostname check and Kafka's ``https`` endpoint
identification want; a CA certificate carries the basicConstraints and keyUsage that a
strict verifier insists on.

Here in ``engine.dev``, not in the tests: :class:`engine.dev.ApacheKafka` makes its own
CA when asked for TLS, and the tests make a second, foreign CA for a wrong-CA check.
"""

from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass
from pathlib import Path

from engine.errors import EmbeddedServiceError

__all__ = ["CertificateAuthority", "IssuedCertificate", "make_ca"]

_OPENSSL_TIMEOUT = 30.0
_DAYS = "7"  # enough for any test run; short enough never to look like real material


def _openssl(*args: str | Path) -> None:
    argv = ["openssl", *map(str, args)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_OPENSSL_TIMEOUT)
    except FileNotFoundError:
        raise EmbeddedServiceError("cannot make test certificates: no openssl on PATH") from None
    except subprocess.TimeoutExpired:
        raise EmbeddedServiceError(
            f"openssl {args[0]} did not finish within {_OPENSSL_TIMEOUT:g}s"
        ) from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise EmbeddedServiceError(f"openssl {args[0]} failed (exit {done.returncode}): {last}")


def _new_key(path: Path) -> None:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
    path.chmod(0o600)


def _subject_alt_names(names: tuple[str, ...]) -> str:
    entries = []
    for name in names:
        try:
            ipaddress.ip_address(name)
            entries.append(f"IP:{name}")
        except ValueError:
            entries.append(f"DNS:{name}")
    return "subjectAltName=" + ",".join(entries)


@dataclass(frozen=True)
class IssuedCertificate:
    """A server certificate, its key, and the CA certificate that signed it (PEM files)."""

    certificate: Path
    key: Path
    ca_certificate: Path

    def keystore(self, path: Path) -> Path:
        """One PEM file holding the key, then the certificate chain (leaf, then CA): the
        ``ssl.keystore.location`` of a Kafka PEM keystore."""
        parts = (self.key, self.certificate, self.ca_certificate)
        path.write_text("".join(p.read_text() for p in parts))
        path.chmod(0o600)
        return path


@dataclass(frozen=True)
class CertificateAuthority:
    """A self-signed CA in ``directory``: ``certificate`` (give it to clients as their
    ``ssl_cafile``) and its key, used by :meth:`issue`."""

    directory: Path
    certificate: Path
    key: Path

    def issue(self, name: str, *, hosts: tuple[str, ...] = ("127.0.0.1",)) -> IssuedCertificate:
        """A server certificate for ``hosts`` (IP addresses or DNS names), signed by this CA;
        files ``<name>.pem`` and ``<name>-key.pem`` beside the CA's."""
        if not hosts:
            raise ValueError("a server certificate needs at least one host")
        certificate = self.directory / f"{name}.pem"
        key = self.directory / f"{name}-key.pem"
        _new_key(key)
        # ``req -x509 -CA``: sign in one step (OpenSSL 3), no CSR or serial file left over.
        _openssl(
            "req", "-x509", "-new", "-key", key, "-CA", self.certificate, "-CAkey", self.key,
            "-days", _DAYS, "-subj", f"/CN={hosts[0]}",
            "-addext", _subject_alt_names(hosts),
            "-addext", "basicConstraints=critical,CA:FALSE",
            "-addext", "keyUsage=critical,digitalSignature,keyEncipherment",
            "-addext", "extendedKeyUsage=serverAuth,clientAuth",
            "-out", certificate,
        )  # fmt: skip
        return IssuedCertificate(certificate, key, self.certificate)


def make_ca(directory: str | Path, name: str = "sitelog test CA") -> CertificateAuthority:
    """A new CA in ``directory`` (created if missing): ``ca.pem`` and ``ca-key.pem``."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    certificate, key = folder / "ca.pem", folder / "ca-key.pem"
    _new_key(key)
    _openssl(
        "req", "-x509", "-new", "-key", key, "-days", _DAYS, "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-out", certificate,
    )  # fmt: skip
    return CertificateAuthority(folder, certificate, key)
