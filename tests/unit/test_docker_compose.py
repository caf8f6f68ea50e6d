"""docker-compose.yml is documentation that must stay true to the code it describes."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from config.settings import Settings
from temporal.dev_server import DYNAMIC_CONFIG
from temporal.search_attributes import ALL as SEARCH_ATTRIBUTES
from tests.conftest import REPO

COMPOSE = REPO / "docker-compose.yml"
# Processes the topology already names whose entry points later work adds. A module that
# starts to exist must leave this set, so the check below then covers it.
PLANNED: set[str] = set()
STORES = {
    "temporal",
    "temporal-db",
    "temporal-ui",
    "postgres",
    "clickhouse",
    "redis",
    "nats",
    "weaviate",
    "arangodb",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _env_names(compose: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for service in compose["services"].values():
        env = service.get("environment") or {}
        names |= set(env) if isinstance(env, dict) else {e.split("=", 1)[0] for e in env}
    return {n for n in names if n.startswith("AITP_")}


def test_every_service_has_an_image_and_the_stores_are_all_there(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) >= STORES
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        for dep in service.get("depends_on") or {}:
            assert dep in services, f"{name} depends on unknown service {dep}"


def test_every_aitp_variable_is_a_real_setting_with_a_valid_value(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = compose["x-platform"]["environment"]
    assert set(_env_names(compose)) == set(env)
    for name in env:
        node: Any = Settings
        for part in name.removeprefix("AITP_").lower().split("__"):
            assert part in node.model_fields, f"{name}: no setting {part!r}"
            node = node.model_fields[part].annotation
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    settings = Settings()
    assert settings.postgres.url == env["AITP_POSTGRES__URL"]
    assert settings.temporal.address == env["AITP_TEMPORAL__ADDRESS"]
    assert settings.arango.password.get_secret_value() == env["AITP_ARANGO__PASSWORD"]


def test_every_store_is_given_by_url_so_nothing_starts_embedded(compose: dict[str, Any]) -> None:
    names = _env_names(compose)
    for required in (
        "AITP_POSTGRES__URL",
        "AITP_REDIS__URL",
        "AITP_CLICKHOUSE__URL",
        "AITP_TEMPORAL__ADDRESS",
    ):
        assert required in names


def test_search_attributes_registered_match_the_code(compose: dict[str, Any]) -> None:
    script = " ".join(compose["services"]["temporal-setup"]["command"])
    listed = re.search(r"for name in ([A-Za-z ]+);", script)
    assert listed is not None
    assert listed.group(1).split() == [key.name for key in SEARCH_ATTRIBUTES]


def test_temporal_gets_the_same_dynamic_config_as_the_embedded_server(
    compose: dict[str, Any],
) -> None:
    mount = compose["services"]["temporal"]["volumes"][0].split(":")[0]
    config = yaml.safe_load((REPO / mount).read_text())
    assert {key: values[0]["value"] for key, values in config.items()} == DYNAMIC_CONFIG


def test_platform_commands_name_modules_that_exist(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        command = service.get("command")
        if not isinstance(command, list) or command[:2] != ["python", "-m"]:
            continue
        module = command[2]
        is_package = (REPO / module.replace(".", "/")).is_dir()
        if importlib.util.find_spec(module) is None:
            exists = False
        elif is_package:
            exists = importlib.util.find_spec(f"{module}.__main__") is not None
        else:  # a module runs as a program only if it has a main()
            exists = hasattr(importlib.import_module(module), "main")
        if module in PLANNED:
            assert not exists, f"{module} exists now: remove it from PLANNED"
            continue
        assert exists, f"service {name} runs `python -m {module}`, which does not exist"
        main = importlib.import_module(f"{module}.__main__" if is_package else module)
        if hasattr(main, "build_parser"):
            main.build_parser().parse_args(command[3:])  # exits (fails the test) when wrong


@pytest.mark.skipif(shutil.which("docker") is None, reason="docker is not installed")
def test_docker_compose_config_accepts_the_file() -> None:
    version = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    if version.returncode != 0:
        pytest.skip("the docker compose plugin is not installed")
    done = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
