"""Kafka connection settings: TLS and SASL reach aiokafka; bad settings are named, in
KafkaSettings, in a node's file and on the command line, before any connection.
(On a broker: tests/integration/test_kafka_security.py.)"""

from __future__ import annotations

import asyncio
import copy
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest

from engine.errors import BrokerRefusedError, BrokerUnavailableError, ConfigError, LogError
from engine.log.kafka import KafkaSettings
from engine.log.writer import SiteLogWriter
from engine.node import config as node_config
from tests.support.cli import sitelog


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
    settings = KafkaSettings(
        "broker:9093",
        security_protocol="SSL",
        ssl_cafile=str(cert),
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
    )
    kwargs = settings.client_kwargs()
    context = kwargs["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert len(context.get_ca_certs()) == 1
    assert kwargs["security_protocol"] == "SSL"
    # One context for every client of these settings; a copy builds its own.
    assert settings.client_kwargs()["ssl_context"] is context
    copied = copy.deepcopy(settings)
    assert copied == settings and copied.client_kwargs()["ssl_context"] is not context


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
        (
            {"bootstrap_servers": "b:9092", "ssl_cafile": "/etc/ca.pem"},
            "ssl_cafile is set but security_protocol PLAINTEXT does not use TLS",
        ),
        (
            {"bootstrap_servers": "b:9092", "security_protocol": "SSL", "sasl_username": "u"},
            "sasl_username is set but security_protocol SSL does not use SASL",
        ),
        (
            {"bootstrap_servers": "b:9092", "security_protocol": "SASL_PLAINTEXT"},
            "SASL_PLAINTEXT needs sasl_username and sasl_password",
        ),
        (
            {
                "bootstrap_servers": "b:9092",
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "GSSAPI",
                "sasl_username": "u",
                "sasl_password": "p",
            },
            "sasl_mechanism 'GSSAPI' is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
        ),
        (
            {"bootstrap_servers": "b:9093", "security_protocol": "SSL", "ssl_cafile": "/no/ca"},
            "kafka ssl_cafile /no/ca: No such file or directory",
        ),
    ],
)
def test_bad_settings_are_named(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        KafkaSettings(**kwargs)


def test_a_certificate_that_does_not_load_is_named(
    self_signed: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, _ = self_signed
    not_a_key = tmp_path / "key.pem"
    not_a_key.write_text("-----BEGIN PRIVATE KEY-----\nbm9wZQ==\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigError, match=r"kafka ssl_certfile/ssl_keyfile \(.*key\.pem\)"):
        KafkaSettings(
            "b:9093", security_protocol="SSL", ssl_certfile=str(cert), ssl_keyfile=str(not_a_key)
        )


def test_a_node_file_names_the_site_of_a_bad_kafka_setting(tmp_path: Path) -> None:
    toml = tmp_path / "node.toml"
    toml.write_text(
        '[node]\nname = "c"\nrole = "central"\nsite = "central"\n'
        '[database]\ndsn = "postgresql://x/y"\n'
        '[sites.central]\nbootstrap_servers = "k:9093"\nsecurity_protocol = "SASL_SSL"\n'
        'sasl_username = "central-1"\n'
    )
    with pytest.raises(
        ConfigError, match=r"^sites\.central: kafka security_protocol SASL_SSL needs"
    ):
        node_config.load(toml, env={})
    loaded = node_config.load(toml, env={"SITELOG_SITES_CENTRAL_SASL_PASSWORD": "pw"})
    assert loaded.sites["central"].client_kwargs()["sasl_plain_password"] == "pw"


def test_cli_security_options_are_checked_before_any_connection(tmp_path: Path) -> None:
    base = ("produce", "--site", "paris", "--bootstrap", "127.0.0.1:9", "--spool", str(tmp_path))
    no_user = sitelog(*base, "--security-protocol", "SASL_SSL")
    no_file = sitelog(
        *base,
        *("--security-protocol", "SASL_SSL", "--sasl-username", "u"),
        *("--sasl-password-file", str(tmp_path / "missing")),
    )
    for done, message in [
        (no_user, "kafka security_protocol SASL_SSL needs sasl_username and sasl_password"),
        (no_file, f"--sasl-password-file {tmp_path / 'missing'}: No such file or directory"),
    ]:
        assert done.returncode == 2, done.stderr
        assert done.stderr == f"sitelog: error: {message}\n"


def test_an_ssl_client_really_speaks_tls(bootstrap: str, self_signed: tuple[Path, Path]) -> None:
    # The session broker listens in plain text, so a client that really does TLS fails
    # its handshake there, with one clear error, within the bound: Tansu waits for the
    # rest of a "request" as long as a ClientHello's first bytes say (no answer); Apache
    # Kafka drops it, and then answers in the clear, which the error names.
    cert, _ = self_signed
    settings = KafkaSettings(
        bootstrap, security_protocol="SSL", ssl_cafile=str(cert), connect_timeout=3.0
    )
    with pytest.raises(LogError, match=bootstrap) as caught:
        asyncio.run(SiteLogWriter("paris", settings).start())
    if isinstance(caught.value, BrokerRefusedError):
        assert "speaks plaintext Kafka, not TLS" in str(caught.value)
    else:
        assert isinstance(caught.value, BrokerUnavailableError)
