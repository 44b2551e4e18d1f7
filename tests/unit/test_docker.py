"""docker/ stays consistent with the code (Docker itself cannot run on our machines).

The compose file's sitelog commands must parse with the CLI's own parser, every node
config must load with the node's own config loader (with the service's environment),
and every address in them must name a service of the compose file. Its Apache Kafka is
the tests' one: the version pinned for ``engine.dev.ApacheKafka`` and the settings of
``server_properties``, except those listed below with the reason each differs.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from engine.cli import build_parser
from engine.dev.apache_kafka import server_properties
from engine.dev.kafka_jars import KAFKA_VERSION
from engine.node.config import load
from engine.node.tokens import hash_secret

DOCKER = Path(__file__).resolve().parents[2] / "docker"
KAFKA_SERVICES = ("kafka-central", "kafka-paris")

#: Settings about where a broker listens: compose's host names and ports differ from a test's
#: loopback and free ports, so they are compared in shape (listener names, protocols, voter id).
WHERE_IT_LISTENS = {"listeners", "advertised.listeners", "controller.quorum.voters"}
#: Settings naming a path: compose's data volume, a test's temporary directory.
WHERE_IT_KEEPS_FILES = {"log.dirs"}
#: The tests' settings that compose leaves at Kafka's defaults: each makes a test broker start
#: fast or fit a small machine, and the reason production does not want it.
TEST_ONLY = {
    "offsets.topic.num.partitions": "created at once in a test; the default 50 spreads group "
    "coordinators and cannot change once the topic exists",
    "transaction.state.log.num.partitions": "as offsets.topic.num.partitions, for transaction "
    "coordinators",
    "share.coordinator.state.topic.num.partitions": "as offsets.topic.num.partitions, for share "
    "coordinators",
    "group.initial.rebalance.delay.ms": "0 forms a test's group at once; the default 3 s lets "
    "members starting together join one rebalance",
    "log.cleaner.dedupe.buffer.size": "2 MiB fits a 256 MiB test heap; production keeps 128 MiB",
    "log.initial.task.delay.ms": "1 s for tests of a tiny retention.ms; the default is 30 s",
    "log.retention.check.interval.ms": "1 s for tests of a tiny retention.ms; the default 5 min",
    "num.network.threads": "1 on a 2-core test machine; the default is 3",
    "num.io.threads": "2 on a 2-core test machine; the default is 8",
}
#: Settings compose makes and the tests do not: decisions of a deployment.
COMPOSE_ONLY = {
    "log.retention.hours": "how long a site keeps its log: the longest outage a node survives",
}
#: KAFKA_ variables the image reads as JVM or logging options, not broker settings (its
#: KafkaDockerWrapper.ExcludeServerPropsEnv).
NOT_BROKER_SETTINGS = {
    "KAFKA_VERSION",
    "KAFKA_HEAP_OPTS",
    "KAFKA_LOG4J_OPTS",
    "KAFKA_OPTS",
    "KAFKA_JMX_OPTS",
    "KAFKA_JVM_PERFORMANCE_OPTS",
    "KAFKA_GC_LOG_OPTS",
    "KAFKA_LOG4J_ROOT_LOGLEVEL",
    "KAFKA_LOG4J_LOGGERS",
    "KAFKA_TOOLS_LOG4J_LOGLEVEL",
    "KAFKA_JMX_HOSTNAME",
}


def compose() -> dict[str, Any]:
    return yaml.safe_load((DOCKER / "compose.yml").read_text())  # type: ignore[no-any-return]


def sitelog_services() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose()["services"].items() if "build" in s}


def mounted(service: dict[str, Any], inside: str) -> Path:
    volumes: list[str] = service.get("volumes", [])
    for volume in volumes:
        source, target = volume.split(":")[:2]
        if target == inside:
            return (DOCKER / source).resolve()
    raise AssertionError(f"{inside} is not mounted")


def test_compose_has_a_kafka_per_site_postgres_two_nodes_a_poller_and_a_pool_member() -> None:
    services = compose()["services"]
    assert {"kafka-central", "kafka-paris", "postgres"} <= set(services)
    commands = {name: s["command"][0] for name, s in sitelog_services().items()}
    assert sorted(commands.values()) == ["node", "node", "pool-member", "simulate"]
    for name in ("kafka-central", "kafka-paris"):
        env = services[name]["environment"]
        assert "controller" in env["KAFKA_PROCESS_ROLES"]  # KRaft, no ZooKeeper
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"


def test_every_sitelog_command_parses_with_the_cli() -> None:
    for name, service in sitelog_services().items():
        args = build_parser().parse_args(service["command"])
        assert callable(args.run), name


def interpolate(value: str) -> str:
    """Compose's ``${VAR:?message}``, with the variables a user exports before ``up``."""
    exported = {"SITELOG_OPERATOR_SHA256": hash_secret("the operator's secret")}
    return re.sub(r"\$\{(\w+):\?[^}]*\}", lambda m: exported[m[1]], value)


def test_node_configs_load_and_point_at_compose_services() -> None:
    services = compose()["services"]
    nodes = {n: s for n, s in sitelog_services().items() if s["command"][0] == "node"}
    roles = set()
    for name, service in nodes.items():
        inside = service["command"][service["command"].index("--config") + 1]
        env = {k: interpolate(str(v)) for k, v in (service.get("environment") or {}).items()}
        config = load(mounted(service, inside), env=env)
        roles.add(config.role)
        assert [t.name for t in config.tokens] == ["operator"]
        assert config.listen == "0.0.0.0:8080" and service["ports"][0].endswith(":8080")
        for site, settings in config.sites.items():
            host, port = settings.bootstrap_servers.split(":")
            assert host == f"kafka-{site}" and host in services and port == "9092", name
            assert host in service["depends_on"], name
        database = urlparse(config.dsn)
        assert database.hostname in services and database.hostname in service["depends_on"]
        assert database.path.lstrip("/") in (DOCKER / "initdb" / "databases.sql").read_text()
    assert roles == {"central", "remote"}


def test_the_poller_writes_to_its_own_site_broker() -> None:
    poller = sitelog_services()["poller-paris"]
    args = build_parser().parse_args(poller["command"])
    assert args.site == ["paris"] and args.bootstrap == "kafka-paris:9092"


def test_the_image_installs_every_package_of_the_distribution() -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    for package in ("schemas", "projections", "engine"):
        assert f"COPY {package} {package}" in dockerfile
    assert "pip install" in dockerfile and 'ENTRYPOINT ["sitelog"]' in dockerfile


def broker_settings(environment: dict[str, Any]) -> dict[str, str]:
    """The broker settings the apache/kafka image makes of a service's environment:
    KAFKA_FOO_BAR is foo.bar, a double underscore "_" and a triple one "-"."""
    settings = {}
    for name, value in environment.items():
        if name.startswith("KAFKA_") and name not in NOT_BROKER_SETTINGS:
            key = name.removeprefix("KAFKA_").lower().replace("_", ".")
            settings[key.replace("...", "-").replace("..", "_")] = str(value)
    return settings


def shape(value: str) -> str:
    """A listener list or voter set without its host names and ports."""
    return re.sub(r"(//|@)[\w.-]*:\d+", r"\1HOST:PORT", value)


def test_the_image_mapping_of_variables_to_settings() -> None:
    environment = {"KAFKA_LOG_DIRS": "/d", "KAFKA_A__B___C": "1", "KAFKA_HEAP_OPTS": "-Xmx1g"}
    assert broker_settings(environment) == {"log.dirs": "/d", "a_b-c": "1"}
    assert shape("PLAINTEXT://:9092,CONTROLLER://127.0.0.1:9093") == (
        "PLAINTEXT://HOST:PORT,CONTROLLER://HOST:PORT"
    )
    assert shape("1@kafka-1.site:9093") == "1@HOST:PORT"


def test_compose_runs_the_apache_kafka_version_of_the_tests() -> None:
    services = compose()["services"]
    for name in KAFKA_SERVICES:
        assert services[name]["image"] == f"apache/kafka:{KAFKA_VERSION}", name


def test_compose_brokers_have_the_settings_of_the_tests_broker() -> None:
    tests = server_properties(9092, 9093, Path("/tmp/kafka-test"))
    exempt = WHERE_IT_LISTENS | WHERE_IT_KEEPS_FILES | set(TEST_ONLY)
    assert exempt <= set(tests), f"exempt but no longer a test setting: {exempt - set(tests)}"
    assert not set(COMPOSE_ONLY) & set(tests), "a compose-only setting the tests now make"
    for name in KAFKA_SERVICES:
        settings = broker_settings(compose()["services"][name]["environment"])
        compared = {k: v for k, v in tests.items() if k not in exempt}
        assert {k: settings.get(k) for k in compared} == compared, name
        for key in sorted(WHERE_IT_LISTENS):
            assert shape(settings[key]) == shape(tests[key]), (name, key)
        assert settings["log.dirs"] == "/var/lib/kafka/data", name  # the image's volume
        assert not set(TEST_ONLY) & set(settings), f"{name} copies a test-only setting"
        unknown = set(settings) - set(tests) - set(COMPOSE_ONLY)
        assert not unknown, f"{name} sets {unknown}, neither a test setting nor compose-only"


def test_compose_says_which_settings_differ_from_the_tests_and_why() -> None:
    """Each exemption of the comparison is named in compose.yml's own comments too."""
    comments = "\n".join(
        line for line in (DOCKER / "compose.yml").read_text().splitlines() if line.startswith("#")
    )
    for key in sorted(WHERE_IT_LISTENS | WHERE_IT_KEEPS_FILES | set(TEST_ONLY) | set(COMPOSE_ONLY)):
        assert re.search(rf"(?<![\w.]){re.escape(key)}(?![\w.])", comments), key


def test_each_site_broker_is_its_own_cluster_with_its_own_volume() -> None:
    document = compose()
    services = document["services"]
    ids = {services[name]["environment"]["CLUSTER_ID"] for name in KAFKA_SERVICES}
    assert len(ids) == len(KAFKA_SERVICES)
    for cluster_id in ids:
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16, cluster_id
    for name in KAFKA_SERVICES:
        settings = broker_settings(services[name]["environment"])
        volume, inside = services[name]["volumes"][0].split(":")
        assert inside == settings["log.dirs"] and volume in document["volumes"], name
        voter = settings["controller.quorum.voters"].split(":")[-1]
        assert f"CONTROLLER://:{voter}" in settings["listeners"], name
