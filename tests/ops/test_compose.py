"""docker-compose.yml checked as CI can without a Docker daemon: Debian's `docker-compose config` validates it with
.env.example (with and without the monitoring profile); every service has a health check and a restart policy;
every secret comes from the environment, and the placeholders of .env.example are refused where they would land."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from server.config import ConfigError, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = shutil.which("docker-compose")
SECRET = re.compile(r"PASSWORD|SECRET|_KEY|KEYS|TOKEN", re.IGNORECASE)
REFERENCE = re.compile(r"\$\{[A-Z_][A-Z0-9_]*(?::?[?][^}]*|:-)?\}")  # ${VAR}, ${VAR:?why}, ${VAR:-} (no default)

pytestmark = pytest.mark.skipif(
    COMPOSE is None and not os.environ.get("CI"), reason="docker-compose is not installed; CI installs it"
)


def compose_config(*profiles: str) -> dict[str, Any]:
    """The file as docker-compose resolves it with .env.example: validated, interpolated, parsed."""
    if COMPOSE is None:
        pytest.fail("docker-compose is not installed (apt-get install docker-compose)")
    options = [arg for profile in profiles for arg in ("--profile", profile)]
    done = subprocess.run(
        [COMPOSE, "-f", "docker-compose.yml", "--env-file", ".env.example", *options, "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COMPOSE_PROJECT_NAME": "ci"},
    )
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = yaml.safe_load(done.stdout)
    return config


def env_example() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines() if "=" in line)
    return {name: value for name, value in pairs if not name.startswith("#")}


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # KEY=value lines
        env = dict(item.split("=", 1) for item in env)
    return {name: "" if value is None else str(value) for name, value in env.items()}


@pytest.mark.parametrize("profiles", [(), ("monitoring",)], ids=["default", "monitoring"])
def test_every_service_has_a_health_check_and_a_restart_policy(profiles: tuple[str, ...]) -> None:
    services = compose_config(*profiles)["services"]
    assert {"app", "postgres", "redis", "mosquitto", "caddy", "coturn"} <= set(services)
    if profiles:
        assert {"prometheus", "grafana"} <= set(services)
    for name, service in services.items():
        assert service.get("restart") in ("always", "unless-stopped"), name
        check = service.get("healthcheck") or {}
        assert check.get("test"), name
        assert not check.get("disable"), name


def test_secrets_come_from_the_environment_only() -> None:
    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    example = env_example()
    resolved = compose_config("monitoring")["services"]
    secrets_seen = 0
    for name, service in raw["services"].items():
        for variable, value in environment(service).items():
            if SECRET.search(variable):
                secrets_seen += 1
                assert REFERENCE.fullmatch(value), f"{name}: {variable} has a literal value"
                # and what compose makes of it is .env.example's value: nothing else could have set it
                assert environment(resolved[name])[variable] in example.values(), f"{name}: {variable}"
        for argument in service.get("command") or []:
            if SECRET.search(argument.split("=", 1)[0]):
                assert REFERENCE.fullmatch(argument.split("=", 1)[1]), f"{name}: {argument.split('=')[0]}"
    assert secrets_seen >= 9
    # The file has no password, key or secret written out anywhere, commented or not, other than references.
    for line in (ROOT / "docker-compose.yml").read_text().splitlines():
        for assignment in re.findall(r"(?<![\w{])(\w*(?:PASSWORD|SECRET|_KEY)\w*)\s*[:=]\s*(\S+)", line):
            assert assignment[1].startswith(("${", '"${')), line


def test_env_example_names_every_variable_compose_needs_and_holds_no_real_secret() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    needed = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*):\?", text))
    example = env_example()
    assert needed - set(example) == set()
    for variable in needed:
        assert example[variable], variable
    for variable, value in example.items():
        if SECRET.search(variable) and value:
            assert value.startswith("change-me"), variable


def test_the_app_refuses_the_placeholders_compose_would_hand_it() -> None:
    app_environment = environment(compose_config()["services"]["app"])
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(app_environment)
    for variable in ("PGPASSWORD", "TURN_SECRET", "MQTT_ADMIN_PASSWORD", "JWT_SECRET"):
        assert variable in str(refused.value)
