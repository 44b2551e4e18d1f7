"""The embedded Apache Kafka's pinned files: the pom pins exactly one version of each
dependency, the files ship as package data, and the jar cache is found, trusted and
refused as ``engine.dev.kafka_jars`` promises (no JVM, no network)."""

from __future__ import annotations

import base64
import os
import re
import shutil
import sys
import tomllib
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from engine.dev import kafka_classpath
from engine.dev.apache_kafka import _new_cluster_id, server_properties
from engine.dev.kafka_jars import DIST_DIR, KAFKA_VERSION, POM, kafka_cache_dir
from engine.errors import EmbeddedServiceError

ROOT = Path(__file__).resolve().parents[2]
NS = {"m": "http://maven.apache.org/POM/4.0.0"}
EXPECTED = {
    ("org.apache.kafka", "kafka_2.13"),
    ("org.apache.logging.log4j", "log4j-slf4j-impl"),
    ("org.apache.logging.log4j", "log4j-core"),
}


def dependencies() -> list[tuple[str, str, list[str]]]:
    root = ElementTree.parse(POM).getroot()
    return [
        (
            d.findtext("m:groupId", default="", namespaces=NS),
            d.findtext("m:artifactId", default="", namespaces=NS),
            [v.text or "" for v in d.findall("m:version", NS)],
        )
        for d in root.iterfind(".//m:dependency", NS)
    ]


def test_the_pom_pins_exactly_one_version_of_each_dependency() -> None:
    found = dependencies()
    assert sorted((g, a) for g, a, _ in found) == sorted(EXPECTED)  # each listed once
    for group, artifact, versions in found:
        assert len(versions) == 1, f"{group}:{artifact} has {len(versions)} versions"
        # A fixed release: no range, property, SNAPSHOT, LATEST or RELEASE.
        assert re.fullmatch(r"\d+(\.\d+)+", versions[0]), f"{group}:{artifact}:{versions[0]}"
    log4j = {v[0] for g, _, v in found if g == "org.apache.logging.log4j"}
    assert len(log4j) == 1, "the binding and log4j-core are the same Log4j release"
    assert [v[0] for _, a, v in found if a == "kafka_2.13"] == [KAFKA_VERSION]
    # Nothing else that could pull in other versions: no parent, no dependencyManagement.
    root = ElementTree.parse(POM).getroot()
    assert root.find("m:parent", NS) is None and root.find("m:dependencyManagement", NS) is None


def test_the_pinned_files_ship_as_package_data() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["engine"]
    assert "dev/kafka_dist/*" in patterns
    shipped = {p.name for p in (ROOT / "engine").glob("dev/kafka_dist/*")}
    assert shipped == {"pom.xml", "log4j2.properties"}
    assert DIST_DIR == ROOT / "engine" / "dev" / "kafka_dist"


def test_the_cache_is_outside_the_repo_and_named_after_the_version(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SITELOG_KAFKA_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert kafka_cache_dir() == tmp_path / "sitelog" / f"apache-kafka-{KAFKA_VERSION}"
    monkeypatch.setenv("SITELOG_KAFKA_CACHE", str(tmp_path / "mine"))
    assert kafka_cache_dir() == tmp_path / "mine"


def test_a_whole_cache_is_used_without_maven_and_another_poms_is_not(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    (cache / "libs").mkdir(parents=True)
    (cache / "libs" / f"kafka_2.13-{KAFKA_VERSION}.jar").touch()
    shutil.copyfile(POM, cache / "pom.xml")
    monkeypatch.setenv("SITELOG_KAFKA_CACHE", str(cache))
    # No mvn on PATH: a whole cache is used as it is, never fetched again.
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    assert kafka_classpath() == cache / "libs"
    # A cache fetched from another pom is not trusted: it would be fetched again.
    (cache / "pom.xml").write_text(POM.read_text().replace("2.24.3", "2.0.0"))
    with pytest.raises(EmbeddedServiceError, match="mvn not found"):
        kafka_classpath()
    assert os.listdir(tmp_path) == ["cache"]  # no partial directory left beside it


def test_server_properties_describe_one_combined_node_on_loopback(tmp_path: Path) -> None:
    settings = server_properties(9092, 9093, tmp_path)
    assert settings["process.roles"] == "broker,controller"
    assert settings["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert settings["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9092"
    assert settings["log.dirs"] == str(tmp_path)
    assert all(v == "1" for k, v in settings.items() if k.endswith("replication.factor"))


def test_cluster_ids_look_like_kafkas() -> None:
    for _ in range(200):
        cluster_id = _new_cluster_id()
        assert len(cluster_id) == 22 and not cluster_id.startswith("-")
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
