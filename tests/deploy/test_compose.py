"""deploy/docker-compose.yml: valid compose-spec, every process present, probes everywhere."""

from __future__ import annotations

import subprocess

import yaml

from tests.deploy.conftest import DEPLOY, ROOT, venv_tool

COMPOSE = DEPLOY / "docker-compose.yml"


def load() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_validates_against_the_compose_spec_schema() -> None:
    result = subprocess.run(
        [venv_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_procfile_process_and_the_infrastructure_is_a_service() -> None:
    services = load()["services"]
    procfile_roles = {
        line.split(":", 1)[0]
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert procfile_roles <= set(services)
    assert {"postgres", "redis", "migrate", "nginx"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["redis"]["image"].startswith("redis:7")
    assert services["router"]["deploy"]["replicas"] == 2
    for role in procfile_roles:
        assert services[role]["command"] == [role]


def test_redis_keeps_an_append_only_file_fsynced_every_second() -> None:
    command = load()["services"]["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] == "everysec"


def test_long_running_services_have_a_healthcheck_and_a_restart_policy() -> None:
    for name, service in load()["services"].items():
        if name == "migrate":
            assert service["restart"] == "no"
            continue
        assert service["restart"] == "unless-stopped", name
        assert service["healthcheck"]["test"], name


def test_switchboard_services_start_after_a_successful_migration() -> None:
    services = load()["services"]
    for name in ("web", "router", "sla", "presence", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
