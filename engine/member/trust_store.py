"""A server's trust store: the SHA-256 fingerprints of the root certificates it trusts.

A pool member reports them (``TrustAnchorsReported``), so the pool projection can tell
which members could not take over an agent signed by a root they lack.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from pathlib import Path

from engine.errors import ConfigError

__all__ = ["fingerprints"]

_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)


def fingerprints(directory: Path) -> tuple[str, ...]:
    """SHA-256 (hex) of every PEM certificate in a directory's ``*.pem`` and ``*.crt`` files."""
    if not directory.is_dir():
        raise ConfigError(f"--trust-store {directory}: not a directory")
    found = []
    for path in sorted(directory.iterdir()):
        if path.suffix not in (".pem", ".crt"):
            continue
        try:
            blocks = _PEM.findall(path.read_bytes())
            found += [
                hashlib.sha256(base64.b64decode(b, validate=False)).hexdigest() for b in blocks
            ]
        except (OSError, binascii.Error) as exc:
            raise ConfigError(f"--trust-store: cannot read {path}: {exc}") from None
        if not blocks:
            raise ConfigError(f"--trust-store: {path} holds no PEM certificate")
    return tuple(sorted(set(found)))
