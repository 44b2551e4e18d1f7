"""Apache Kafka's jars for the embedded broker: Java and Maven found, the jars fetched once.

The pinned ``kafka_dist/pom.xml`` (package data) names the broker and a Log4j 2 binding;
``mvn dependency:copy-dependencies`` copies their runtime jars into a cache outside the
repo: ``$SITELOG_KAFKA_CACHE``, else ``${XDG_CACHE_HOME:-~/.cache}/sitelog/apache-kafka-<v>``.
A fetch fills a temporary sibling directory and renames it into place when complete, so
neither two concurrent fetches nor an interrupted one ever leave a half cache: a cache
directory exists only whole. It holds a copy of the pom it was fetched from, so a cache
made from another pom is fetched again rather than trusted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from engine.dev.process import run_to_completion
from engine.errors import EmbeddedServiceError

__all__ = ["DIST_DIR", "ENV_KAFKA_CACHE", "KAFKA_VERSION", "child_env", "find_java"]
__all__ += ["find_java_and_maven", "find_maven", "kafka_cache_dir", "kafka_classpath"]

logger = logging.getLogger(__name__)

#: The pinned pom and the Log4j 2 configuration, shipped as package data.
DIST_DIR = Path(__file__).with_name("kafka_dist")
POM = DIST_DIR / "pom.xml"
ENV_KAFKA_CACHE = "SITELOG_KAFKA_CACHE"
_POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}
#: Settings a developer's shell would otherwise slip into every JVM we start.
_JVM_ENV_KNOBS = ("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS", "CLASSPATH")
_FETCH_TIMEOUT = 900.0
# Threads of one process fetch one at a time (the demo starts three brokers at once);
# processes race harmlessly through the rename.
_fetch_lock = threading.Lock()


def _kafka_version() -> str:
    """The kafka_2.13 version pinned in the pom: the pom is the one place that names it."""
    for dependency in ElementTree.parse(POM).getroot().iterfind(".//m:dependency", _POM_NS):
        if dependency.findtext("m:artifactId", namespaces=_POM_NS) == "kafka_2.13":
            return dependency.findtext("m:version", default="", namespaces=_POM_NS)
    raise EmbeddedServiceError(f"{POM} does not pin org.apache.kafka:kafka_2.13")


KAFKA_VERSION = _kafka_version()


def child_env() -> dict[str, str]:
    """This process's environment without the JVM option variables."""
    return {k: v for k, v in os.environ.items() if k not in _JVM_ENV_KNOBS}


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_java(override: str | os.PathLike[str] | None = None) -> Path:
    """The ``java`` to run: ``override``, else ``$JAVA_HOME/bin/java``, else ``java`` on PATH."""
    if override is not None:
        if not _executable(Path(override)):
            raise EmbeddedServiceError(f"java given as {override} is not an executable file")
        return Path(override)
    if home := os.environ.get("JAVA_HOME"):
        candidate = Path(home) / "bin" / "java"
        if _executable(candidate):
            return candidate
    if found := shutil.which("java"):
        return Path(found)
    raise EmbeddedServiceError(
        "java not found (JAVA_HOME/bin/java, PATH): Apache Kafka needs Java 17 or later "
        "(Debian: apt-get install openjdk-17-jre-headless)"
    )


def find_maven() -> Path:
    """``mvn`` on PATH, needed once to fetch the jars."""
    if found := shutil.which("mvn"):
        return Path(found)
    raise EmbeddedServiceError(
        "mvn not found on PATH: fetching Apache Kafka's jars needs Maven (Debian: apt-get "
        f"install maven), or a filled cache in ${ENV_KAFKA_CACHE}"
    )


def find_java_and_maven() -> tuple[Path, Path]:
    """Both programs the embedded Apache Kafka needs, or one line naming what is missing."""
    return find_java(), find_maven()


def kafka_cache_dir() -> Path:
    """Where the jars of the pinned Kafka version live (not necessarily fetched yet)."""
    if given := os.environ.get(ENV_KAFKA_CACHE):
        return Path(given).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sitelog" / f"apache-kafka-{KAFKA_VERSION}"


def _complete(cache: Path) -> bool:
    """A whole cache fetched from the pinned pom (a directory renamed into place)."""
    try:
        return (cache / "pom.xml").read_bytes() == POM.read_bytes() and any(
            (cache / "libs").glob(f"kafka_2.13-{KAFKA_VERSION}.jar")
        )
    except OSError:
        return False


def kafka_classpath() -> Path:
    """The directory of the broker's jars (``java -cp 'DIR/*'``), fetched first if missing."""
    cache = kafka_cache_dir()
    if _complete(cache):
        return cache / "libs"
    with _fetch_lock:
        if not _complete(cache):
            _fetch(cache)
    return cache / "libs"


def _fetch(cache: Path) -> None:
    maven = find_maven()
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{cache.name}.partial-", dir=cache.parent))
    except OSError as exc:
        raise EmbeddedServiceError(
            f"cannot create the Apache Kafka jar cache in {cache.parent}: {exc.strerror or exc}"
        ) from exc
    try:
        shutil.copyfile(POM, partial / "pom.xml")
        argv = [str(maven), "-q", "-B", "-f", str(partial / "pom.xml")]
        argv += ["dependency:copy-dependencies", "-DincludeScope=runtime"]
        argv += [f"-DoutputDirectory={partial / 'libs'}"]
        logger.info("fetching Apache Kafka %s jars into %s", KAFKA_VERSION, cache)
        started = time.monotonic()
        try:
            run_to_completion(
                "mvn", argv, partial / "mvn.log", timeout=_FETCH_TIMEOUT, env=child_env()
            )
        except EmbeddedServiceError as exc:
            raise EmbeddedServiceError(
                f"fetching Apache Kafka's jars failed: `{' '.join(argv)}`: {exc}"
            ) from None
        if not _complete(partial):
            raise EmbeddedServiceError(
                f"`{' '.join(argv)}` succeeded but left no kafka_2.13-{KAFKA_VERSION}.jar"
            )
        _move_into_place(partial, cache)
        logger.info("fetched Apache Kafka jars in %.1fs", time.monotonic() - started)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _move_into_place(partial: Path, cache: Path) -> None:
    """Rename the whole fetch to ``cache``; a stale cache (other pom) is set aside first."""
    if cache.exists() and not _complete(cache):
        stale = Path(tempfile.mkdtemp(prefix=f".{cache.name}.stale-", dir=cache.parent))
        with contextlib.suppress(OSError):
            cache.rename(stale / "old")
        shutil.rmtree(stale, ignore_errors=True)
    try:
        partial.rename(cache)
    except OSError as exc:
        # Another process renamed its whole fetch into place first: use that one.
        if not _complete(cache):
            raise EmbeddedServiceError(
                f"cannot move the fetched jars to {cache}: {exc.strerror or exc}"
            ) from exc
