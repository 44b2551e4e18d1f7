"""docker/ stays consistent with the code (Docker itself cannot run on our machines).

The compose file's sitelog commands must parse with the CLI's own parser, every node
config must load with the node's own config loader (with the service's environment),
and every address in them must name a service of the compose file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from engine.cli import build_parser
from engine.node.config import load
from engine.node.tokens import hash_secret

DOCKER = Path(__file__).resolve().parents[2] / "docker"


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
