"""Kafka connection settings: TLS and SASL reach aiokafka; bad settings are named."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest

from engine.errors import BrokerUnavailableError, ConfigError
from engine.log.kafka import KafkaSettings
from engine.log.writer import SiteLogWriter


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_ssl_settings_become_a_verifying_ssl_context(self_signed: tuple[Path, Path]) -> None:
    cert, key = self_signed
    kwargs = KafkaSettings(
        "broker:9093",
        security_protocol="SSL",
        ssl_cafile=str(cert),
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
    ).client_kwargs()
    context = kwargs["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert len(context.get_ca_certs()) == 1
    assert kwargs["security_protocol"] == "SSL"


def test_sasl_settings_pass_through() -> None:
    kwargs = KafkaSettings(
        "broker:9092",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username="poller",
        sasl_password="secret",
    ).client_kwargs()
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-256"
    assert (kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == ("poller", "secret")
    assert "ssl_context" not in kwargs


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bootstrap_servers": " "}, "bootstrap_servers is empty"),
        (
            {"bootstrap_servers": "b:9092", "security_protocol": "TLS"},
            "security_protocol 'TLS' is not one of",
        ),
    ],
)
def test_bad_settings_are_named(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        KafkaSettings(**kwargs)


def test_an_ssl_client_really_speaks_tls(bootstrap: str, self_signed: tuple[Path, Path]) -> None:
    # The embedded broker listens in plain text, so a client that really does TLS
    # fails its handshake there; it must fail with one clear error, within the bound.
    cert, _ = self_signed
    settings = KafkaSettings(
        bootstrap, security_protocol="SSL", ssl_cafile=str(cert), connect_timeout=3.0
    )
    with pytest.raises(BrokerUnavailableError, match=bootstrap):
        asyncio.run(SiteLogWriter("paris", settings).start())
