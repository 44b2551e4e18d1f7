"""TLS and SASL options of the commands that reach one site's brokers with ``--bootstrap``.

The same settings as a node's ``[sites.NAME]`` table (``engine.node.config``), as
options, each also from an environment variable (``SITELOG_KAFKA_<SETTING>``).
Passwords come from the environment or a file, never from the command line, which
every user of the machine can read (``ps``)::

    SITELOG_KAFKA_SASL_PASSWORD=... sitelog produce --site paris --bootstrap kafka:9093 \\
        --security-protocol SASL_SSL --ssl-cafile ca.pem \\
        --sasl-mechanism SCRAM-SHA-256 --sasl-username poller events.jsonl
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from engine.commands.options import env_option
from engine.errors import ConfigError
from engine.log.kafka import KafkaSettings

__all__ = ["add_kafka_security_arguments", "kafka_settings"]

SASL_PASSWORD_ENV = "SITELOG_KAFKA_SASL_PASSWORD"
SSL_PASSWORD_ENV = "SITELOG_KAFKA_SSL_PASSWORD"


def add_kafka_security_arguments(parser: argparse.ArgumentParser) -> None:
    """``--security-protocol``, ``--ssl-*``, ``--sasl-*`` (see the module's docstring)."""
    env_option(
        parser,
        "--security-protocol",
        "SITELOG_KAFKA_SECURITY_PROTOCOL",
        "how to reach the brokers: PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL",
        "PLAINTEXT",
        metavar="PROTOCOL",
    )
    env_option(
        parser,
        "--ssl-cafile",
        "SITELOG_KAFKA_SSL_CAFILE",
        "PEM file of the CAs that sign the brokers' certificates (default: the system's)",
        metavar="FILE",
    )
    env_option(
        parser,
        "--ssl-certfile",
        "SITELOG_KAFKA_SSL_CERTFILE",
        f"client certificate (PEM), for brokers that ask for one; its key's password in "
        f"${SSL_PASSWORD_ENV}",
        metavar="FILE",
    )
    env_option(
        parser, "--ssl-keyfile", "SITELOG_KAFKA_SSL_KEYFILE", "the client key (PEM)", metavar="FILE"
    )
    env_option(
        parser,
        "--sasl-mechanism",
        "SITELOG_KAFKA_SASL_MECHANISM",
        "PLAIN (default), SCRAM-SHA-256 or SCRAM-SHA-512",
        metavar="MECHANISM",
    )
    env_option(
        parser,
        "--sasl-username",
        "SITELOG_KAFKA_SASL_USERNAME",
        f"SASL user; the password in ${SASL_PASSWORD_ENV} or --sasl-password-file",
        metavar="NAME",
    )
    env_option(
        parser,
        "--sasl-password-file",
        "SITELOG_KAFKA_SASL_PASSWORD_FILE",
        "file whose first line is the SASL password",
        type=Path,
        metavar="FILE",
    )


def _sasl_password(args: argparse.Namespace) -> str | None:
    if (password := os.environ.get(SASL_PASSWORD_ENV)) is not None:
        return password
    path: Path | None = args.sasl_password_file
    if path is None:
        return None
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ConfigError(f"--sasl-password-file {path}: {exc.strerror or exc}") from None
    if not lines or not lines[0]:
        raise ConfigError(f"--sasl-password-file {path}: the first line is empty")
    return lines[0]


def kafka_settings(args: argparse.Namespace, bootstrap: str, **fields: object) -> KafkaSettings:
    """The KafkaSettings of ``bootstrap`` with the security options of ``args``; other
    KafkaSettings ``fields`` (``connect_timeout``...) as given. ConfigError if wrong.

    The passwords are read only where the protocol uses them: a variable exported for
    one cluster does not break a command aimed at another.
    """
    protocol = args.security_protocol.upper()
    return KafkaSettings(
        bootstrap,
        security_protocol=protocol,
        ssl_cafile=args.ssl_cafile,
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
        ssl_password=os.environ.get(SSL_PASSWORD_ENV) if protocol.endswith("SSL") else None,
        sasl_mechanism=args.sasl_mechanism.upper() if args.sasl_mechanism else None,
        sasl_username=args.sasl_username,
        sasl_password=_sasl_password(args) if protocol.startswith("SASL") else None,
        **fields,  # type: ignore[arg-type]
    )
