"""An embedded Apache Kafka 4 (KRaft): one combined broker+controller on loopback ports.

The same surface as the Tansu :class:`engine.dev.tansu.EmbeddedBroker`, but the broker
that production runs, from its Maven Central jars (``engine.dev.kafka_jars``). Unlike
Tansu its logs live on disk, in a directory this service owns: a ``restart()`` keeps
every record. The JVM is a child in its own process group, stopped by its pid (SIGTERM,
which Kafka answers with a controlled shutdown, then SIGKILL after ``stop_timeout``),
also at interpreter exit. Ready means the port answers ApiVersions and a Metadata
request that lists this broker: a KRaft broker lists itself only once it has registered
with its controller and been unfenced, i.e. once it can lead partitions. The client
listener is PLAINTEXT unless ``security`` asks for TLS or SASL_SSL SCRAM-SHA-256
(:mod:`engine.dev.kafka_security`).
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import shutil
import socket
import struct
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

from engine.dev.kafka_jars import DIST_DIR, child_env, find_java, kafka_classpath
from engine.dev.kafka_security import (
    BROKER_USER,
    KafkaSecurity,
    TlsFiles,
    broker_password,
    client_settings,
    listener_properties,
    scram_format_arguments,
    secured_listener_lists_broker,
)
from engine.dev.process import (
    ChildProcess,
    describe_exit,
    free_port,
    log_tail,
    port_accepts,
    register_for_exit,
    run_to_completion,
    service_directory,
    unregister_for_exit,
)
from engine.dev.tansu import api_versions_ok
from engine.errors import EmbeddedServiceError
from engine.log.kafka import KafkaSettings

__all__ = ["ApacheKafka", "KafkaSecurity", "metadata_lists_broker", "server_properties"]

logger = logging.getLogger(__name__)

_API_VERSIONS, _METADATA = 18, 3
_CLIENT_ID = b"sitelog-embedded"
# A small heap, a serial collector and the C1 compiler only: a test broker starts in
# about 3 s and holds a few MB of records; throughput is not what it is for.
_JVM_OPTIONS = ["-Xms64m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]
_JVM_OPTIONS += ["-XX:-UsePerfData", "-Djava.awt.headless=true"]
_FORMAT_TIMEOUT = 60.0


def server_properties(port: int, controller_port: int, log_dir: Path) -> dict[str, str]:
    """Settings of one single-node test cluster: combined roles, a static voter (suits a
    port chosen per run), every internal topic with one replica and one partition."""
    return {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(log_dir),
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "share.coordinator.state.topic.num.partitions": "1",
        "group.initial.rebalance.delay.ms": "0",
        # sitelog creates its topics with their partitions. A broker that creates topics
        # on Metadata requests (Kafka's default) would bring a lost log back with one.
        "auto.create.topics.enable": "false",
        # The log cleaner's buffer is 128 MiB of heap by default; Kafka's own test
        # harnesses use 2 MiB.
        "log.cleaner.dedupe.buffer.size": "2097152",
        # Retention is checked 30 s after boot and every 5 min by default: too late for a
        # test of a tiny retention.ms.
        "log.initial.task.delay.ms": "1000",
        "log.retention.check.interval.ms": "1000",
        "num.network.threads": "1",
        "num.io.threads": "2",
    }


def _new_cluster_id() -> str:
    """What ``StorageTool random-uuid`` prints (Kafka's ``Uuid.randomUuid``), without a JVM:
    16 random bytes in unpadded URL-safe base64, never starting with '-' (it would read as
    an option on a command line)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text


def _frame(api_key: int, version: int, correlation_id: int, body: bytes) -> bytes:
    header = struct.pack(">hhih", api_key, version, correlation_id, len(_CLIENT_ID)) + _CLIENT_ID
    return struct.pack(">i", len(header) + len(body)) + header + body


def _exchange(sock: socket.socket, request: bytes) -> bytes:
    sock.sendall(request)
    (size,) = struct.unpack(">i", _recv(sock, 4))
    return _recv(sock, size)


def _recv(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("connection closed mid-response")
        data.extend(chunk)
    return bytes(data)


def _metadata_version(response: bytes) -> int:
    """The Metadata version to speak, from an ApiVersions v0 response: the oldest one the
    broker serves, at least v1; v1-v8 share the non-flexible layout parsed below."""
    _, error, count = struct.unpack_from(">ihi", response)
    if error:
        raise ConnectionError(f"ApiVersions error {error}")
    for index in range(count):
        key, low, _ = struct.unpack_from(">hhh", response, 10 + 6 * index)
        if key == _METADATA:
            version: int = max(1, low)
            if version > 8:
                raise EmbeddedServiceError(f"broker serves Metadata only from v{low}")
            return version
    raise ConnectionError("broker does not list Metadata in ApiVersions")


def metadata_lists_broker(port: int, timeout: float) -> bool:
    """Whether 127.0.0.1:``port`` answers a Metadata request whose brokers include one on
    ``port`` (raw protocol: ApiVersions v0 to pick the version, then Metadata v1-v8)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            version = _metadata_version(_exchange(sock, _frame(_API_VERSIONS, 0, 1, b"")))
            body = struct.pack(">i", -1)  # null topics: all of them (v1+)
            body += b"\x00" if version >= 4 else b""  # allow_auto_topic_creation
            body += b"\x00\x00" if version >= 8 else b""  # authorized operations
            response = _exchange(sock, _frame(_METADATA, version, 2, body))
        at = 8 if version >= 3 else 4  # correlation id, then throttle_time_ms from v3
        (count,) = struct.unpack_from(">i", response, at)
        at += 4
        for _ in range(count):
            _node, host_length = struct.unpack_from(">ih", response, at)
            at += 6 + host_length
            broker_port, rack_length = struct.unpack_from(">ih", response, at)
            at += 6 + max(0, rack_length)
            if broker_port == port:
                return True
        return False
    except (OSError, struct.error):
        return False


class ApacheKafka:
    """One Apache Kafka broker+controller on ``127.0.0.1:port``, logs on disk.

    ``with ApacheKafka() as kafka:`` starts it and stops it on exit. Its files (the
    settings, the broker's log, the KRaft log directory) are in ``data_dir`` if given
    (always kept), else in a temporary directory removed by ``stop()`` unless
    ``keep_data``. ``restart()`` keeps the ports and every record. ``properties``
    override or extend :func:`server_properties`. ``security``: TLS, or SASL_SSL with
    SCRAM users, on the client listener; ``client_settings()`` then gives the settings
    of a client that gets in, ``ca_file`` the CA it trusts.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        controller_port: int | None = None,
        java: str | None = None,
        data_dir: str | Path | None = None,
        keep_data: bool = False,
        properties: Mapping[str, str] | None = None,
        security: KafkaSecurity | None = None,
        startup_timeout: float = 60.0,
        stop_timeout: float = 15.0,
    ) -> None:
        self._port = port if port is not None else free_port()
        self._controller_port = controller_port if controller_port is not None else free_port()
        self._java_override = java
        self._given_dir = Path(data_dir) if data_dir is not None else None
        self._temp_dir: Path | None = None
        self.keep_data = keep_data
        self._properties = dict(properties or {})
        self.security = security
        self._broker_password = broker_password()
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.cluster_id = _new_cluster_id()
        self._child: ChildProcess | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def controller_port(self) -> int:
        return self._controller_port

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self._port}"

    @property
    def tls_files(self) -> TlsFiles | None:
        """The CA and keystore of a secured listener, once started (None: PLAINTEXT)."""
        if self.security is None or self.home is None:
            return None
        return TlsFiles.at(self.home / "tls")

    @property
    def ca_file(self) -> Path | None:
        """The CA certificate a client of a secured listener trusts (``ssl_cafile``)."""
        files = self.tls_files
        return None if files is None else files.ca_certificate

    def client_settings(
        self, user: str | None = None, *, password: str | None = None, **overrides: object
    ) -> KafkaSettings:
        """Settings of a client of this broker: PLAINTEXT, or trusting its CA and, on
        SASL_SSL, as ``user`` (default the first) with its password (or ``password``);
        ``overrides`` are other KafkaSettings fields (``connect_timeout``...)."""
        if self.security is None:
            return KafkaSettings(self.bootstrap_servers, **overrides)  # type: ignore[arg-type]
        files = self.tls_files
        if files is None:
            raise EmbeddedServiceError(
                f"Apache Kafka on {self.bootstrap_servers} has no TLS files: start it first"
            )
        base = client_settings(self.security, self.bootstrap_servers, files, user, password)
        return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]

    @property
    def pid(self) -> int:
        """Pid of the JVM; raises EmbeddedServiceError if it is not running."""
        if self._child is None or not self._child.running:
            raise EmbeddedServiceError(f"Apache Kafka on {self.bootstrap_servers} is not running")
        return self._child.pid

    @property
    def home(self) -> Path | None:
        """The directory of this broker's files while it has one."""
        return self._given_dir or self._temp_dir

    @property
    def log_path(self) -> Path | None:
        """The broker's own log (its stdout and stderr) while it has one."""
        return None if self.home is None else self.home / f"kafka-{self._port}.log"

    @property
    def data_dir(self) -> Path | None:
        """The KRaft log directory (``log.dirs``): the records and the metadata log."""
        return None if self.home is None else self.home / "data"

    def start(self) -> ApacheKafka:
        """Start the broker and block until it is ready (bounded by ``startup_timeout``,
        after fetching the jars if this machine has none yet)."""
        if self._child is not None and self._child.running:
            raise EmbeddedServiceError(f"Apache Kafka on {self.bootstrap_servers} already runs")
        java = find_java(self._java_override)
        classpath = f"{kafka_classpath()}/*"
        for port in (self._port, self._controller_port):
            if port_accepts(port):
                raise EmbeddedServiceError(f"cannot start Apache Kafka: 127.0.0.1:{port} is in use")
        register_for_exit(self)
        started = time.monotonic()
        try:
            home = self._prepare_home()
            if self.security is not None:
                TlsFiles.at(home / "tls").ensure()
            settings = home / "server.properties"
            self._write_settings(settings)
            jvm = [
                str(java),
                *_JVM_OPTIONS,
                f"-Dlog4j2.configurationFile={DIST_DIR}/log4j2.properties",
            ]
            jvm += ["-cp", classpath]
            if not (home / "data" / "meta.properties").exists():
                tool = ["kafka.tools.StorageTool", "format", "-t", self.cluster_id]
                if self.security is not None:
                    tool += scram_format_arguments(self.security, self._broker_password)
                run_to_completion(
                    "kafka storage format",
                    [*jvm, *tool, "-c", str(settings), "--ignore-formatted"],
                    home / "format.log",
                    timeout=_FORMAT_TIMEOUT,
                    env=child_env(),
                )
            assert self.log_path is not None
            child = ChildProcess(
                "Apache Kafka", [*jvm, "kafka.Kafka", str(settings)], self.log_path, env=child_env()
            )
            child.start()
            self._child = child
            self._wait_ready(child, started + self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        logger.info(
            "Apache Kafka ready on %s (pid %d) in %.2fs",
            self.bootstrap_servers,
            child.pid,
            time.monotonic() - started,
        )
        return self

    def _prepare_home(self) -> Path:
        home = service_directory(
            self._given_dir, self._temp_dir, "sitelog-kafka-", "Apache Kafka directory"
        )
        if self._given_dir is None:
            self._temp_dir = home
        return home

    def _write_settings(self, path: Path) -> None:
        assert self.data_dir is not None
        settings = server_properties(self._port, self._controller_port, self.data_dir)
        if self.security is not None:
            assert self.tls_files is not None
            settings |= listener_properties(
                self.security,
                self._port,
                self._controller_port,
                self.tls_files,
                self._broker_password,
            )
        settings.update(self._properties)
        path.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))

    def _wait_ready(self, child: ChildProcess, deadline: float) -> None:
        child.wait_for_port(self._port, deadline)
        # The listener accepts before the broker is unfenced; poll the protocol. Check the
        # child after each probe: whoever took the port meanwhile could answer for it.
        while True:
            bound = max(0.1, min(1.0, deadline - time.monotonic()))
            answered = self._lists_itself(bound)
            if child.has_exited():
                raise EmbeddedServiceError(
                    f"Apache Kafka {describe_exit(child.exit_code())} while starting on "
                    f"{self.bootstrap_servers}; {log_tail(child.log_path)}"
                )
            if answered:
                return
            if time.monotonic() >= deadline:
                raise EmbeddedServiceError(
                    f"Apache Kafka on {self.bootstrap_servers} did not list itself in Metadata "
                    f"within {self.startup_timeout:.0f}s; {log_tail(child.log_path)}"
                )
            time.sleep(0.05)

    def _lists_itself(self, bound: float) -> bool:
        if self.security is None:
            return api_versions_ok(self._port, bound) and metadata_lists_broker(self._port, bound)
        # Over TLS (and SCRAM, as the broker's own user): the listener clients will use.
        probe = self.client_settings(BROKER_USER, password=self._broker_password)
        return secured_listener_lists_broker(probe, self._port, bound)

    def _stop_child(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.stop(timeout=self.stop_timeout)

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL of its group) and drop a temporary
        directory unless ``keep_data``. Idempotent."""
        self._stop_child()
        temp_dir, self._temp_dir = self._temp_dir, None
        if temp_dir is not None:
            if self.keep_data:
                logger.info("Apache Kafka's files kept in %s", temp_dir)
            else:
                shutil.rmtree(temp_dir, ignore_errors=True)
        unregister_for_exit(self)

    def restart(self, *, wipe: bool = False) -> ApacheKafka:
        """Stop and start again on the same ports; the records on disk stay, unless
        ``wipe``: then the log directory is deleted and formatted anew (a broker that
        lost its disk, with a new cluster id), as an operator would after a disk loss."""
        self._stop_child()
        if wipe and self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.cluster_id = _new_cluster_id()
        return self.start()

    def __enter__(self) -> ApacheKafka:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._child is not None and self._child.running else "stopped"
        return f"ApacheKafka({self.bootstrap_servers}, {state})"
