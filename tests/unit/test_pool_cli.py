"""``sitelog pool`` and ``sitelog pool-member`` bad input: one error line, exit 2, no traceback.

Also the trust store reading: fingerprints are the SHA-256 of each certificate's DER
bytes, computed here independently from the PEM text.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from engine.errors import ConfigError
from engine.member.trust_store import fingerprints
from tests.support.cli import SITELOG, sitelog


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pool-member", "--bootstrap", "127.0.0.1:9"], "no server name"),
        (["pool-member", "--server", "ms-1"], "no Kafka bootstrap servers"),
        (
            ["pool-member", "--server", "a", "--bootstrap", "h:1", "--lease-period", "0"],
            "--lease-period: expected 0 < seconds",
        ),
        (
            ["pool-member", "--server", "a", "--bootstrap", "h:1", "--site", "paris"],
            "--site goes with --role",
        ),
        (
            ["pool-member", "--server", "a", "--bootstrap", "h:1", "--trust-store", "/nonexistent"],
            "--trust-store /nonexistent: not a directory",
        ),
        (
            ["pool-member", "--server", "a", "--bootstrap", "h:1", "--listen", "8090"],
            "--listen '8090': expected HOST:PORT",
        ),
        (["pool", "list"], "no API URL"),
        (["pool", "--url", "http://127.0.0.1:9", "list"], "no API token"),
        (
            ["pool", "--url", "http://127.0.0.1:9", "--token", "t", "show", "P"],
            "cannot reach http://127.0.0.1:9",
        ),
    ],
)
def test_bad_input_is_one_line(args: list[str], message: str) -> None:
    unset = {k: v for k, v in os.environ.items() if not k.startswith("SITELOG_")}
    result = subprocess.run([SITELOG, *args], capture_output=True, text=True, timeout=30, env=unset)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sitelog: error: "), result.stderr
    assert message in lines[0]


def test_argparse_refuses_unknown_choices() -> None:
    result = sitelog("pool", "--url", "u", "--token", "t", "assign", "P", "x", "--kind", "router")
    assert result.returncode == 2 and "invalid choice: 'router'" in result.stderr


def test_trust_store_fingerprints(tmp_path: Path) -> None:
    ders = [b"\x30\x82first certificate", b"\x30\x82second certificate"]

    def pem(der: bytes) -> str:
        body = base64.encodebytes(der).decode()
        return f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n"

    (tmp_path / "roots.pem").write_text(pem(ders[0]) + pem(ders[1]))
    (tmp_path / "again.crt").write_text(pem(ders[0]))
    (tmp_path / "README").write_text("not a certificate, and not read")
    assert fingerprints(tmp_path) == tuple(sorted(hashlib.sha256(d).hexdigest() for d in ders))
    (tmp_path / "empty.pem").write_text("nothing here")
    with pytest.raises(ConfigError, match=r"empty\.pem holds no PEM certificate"):
        fingerprints(tmp_path)
