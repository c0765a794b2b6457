"""compose.yaml and .env.example: parsed and checked as `docker compose` would use them.

There is no Docker engine here. `docker compose config -q` runs when a compose client exists
(it needs no engine); everything else is checked from the YAML itself, including that the
worker's environment, filled from .env.example, is a valid texter-worker configuration.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.support import ALERTS, ROOT
from worker.cli import build_parser
from worker.settings import VARIABLES, Settings
from worker.texter.client import credentials

COMPOSE = ROOT / "compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
SERVICES = {"rabbitmq", "worker", "texter-fake", "prometheus", "grafana"}
OUR_IMAGE = {"worker", "texter-fake"}  # built from the Dockerfile, configured by VARIABLES
SECRETS = {
    "RABBITMQ_PASSWORD",
    "WEBHOOK_SECRET",
    "ADMIN_TOKEN",
    "TEXTER_API_TOKEN",
    "GRAFANA_ADMIN_PASSWORD",
}
# The Compose specification's service keys we may use (a typo would be silently ignored by YAML).
SERVICE_KEYS = {
    "build", "command", "depends_on", "entrypoint", "environment", "env_file", "healthcheck",
    "hostname", "image", "ports", "restart", "stop_grace_period", "user", "volumes",
}  # fmt: skip
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period", "start_interval"}
_VAR = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} against `env`."""

    def one(m: re.Match[str]) -> str:
        name, op, arg = m[1], m[2], m[3]
        if env.get(name):
            return env[name]
        if op in {":?", "?"}:
            raise AssertionError(f"{name} is required: {arg}")
        return arg or ""

    return _VAR.sub(one, value).replace("$$", "$")


def parse_duration(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text))


def test_services_and_keys() -> None:
    top = {k for k in compose() if not k.startswith("x-")}  # x-*: extension fields (anchors)
    assert top <= {"name", "services", "volumes", "networks", "configs", "secrets"}
    assert set(services()) == SERVICES
    for name, service in services().items():
        unknown = set(service) - SERVICE_KEYS
        assert not unknown, f"{name}: unknown keys {unknown}"
        assert "image" in service or "build" in service, name
        assert service.get("restart") == "unless-stopped", name


def test_our_services_are_built_from_the_dockerfile() -> None:
    for name in OUR_IMAGE:
        service = services()[name]
        assert service["build"] == {"context": ".", "dockerfile": "Dockerfile"}, name
        assert (ROOT / service["build"]["dockerfile"]).is_file()
    assert len({services()[n]["image"] for n in OUR_IMAGE}) == 1, "one image for both"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_a_healthcheck(name: str) -> None:
    check = services()[name]["healthcheck"]
    assert set(check) <= HEALTHCHECK_KEYS
    assert check["test"][0] in {"CMD", "CMD-SHELL"}
    for key in ("interval", "timeout", "start_period"):
        assert parse_duration(check[key]) > 0, f"{name}: {key}"
    assert check["retries"] >= 3


def test_healthchecks_probe_the_right_endpoints() -> None:
    probe = {name: " ".join(services()[name]["healthcheck"]["test"]) for name in SERVICES}
    assert "127.0.0.1:8080/readyz" in probe["worker"]
    assert "127.0.0.1:8081/_control/" in probe["texter-fake"]
    assert "check_port_connectivity" in probe["rabbitmq"]
    assert "/-/ready" in probe["prometheus"]
    assert "/api/health" in probe["grafana"]


def test_depends_on_waits_for_health() -> None:
    worker = services()["worker"]["depends_on"]
    assert worker == {
        "rabbitmq": {"condition": "service_healthy"},
        "texter-fake": {"condition": "service_healthy"},
    }
    for name, service in services().items():
        for target, spec in service.get("depends_on", {}).items():
            assert target in SERVICES, f"{name} depends on unknown {target}"
            condition = spec["condition"]
            assert condition in {"service_healthy", "service_started"}
            if condition == "service_healthy":
                assert "healthcheck" in services()[target]
    assert "depends_on" not in services()["texter-fake"], "the fake must not wait for the worker"


def test_volumes_exist_in_the_repo_or_are_declared() -> None:
    declared = set(compose()["volumes"])
    used = set()
    for name, service in services().items():
        for mount in service.get("volumes", []):
            source, target, *mode = mount.split(":")
            assert target.startswith("/"), f"{name}: {mount}"
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source} is not in the repo"
                assert mode == ["ro"], f"{name}: mount {source} read-only"
            else:
                used.add(source)
    assert used == declared


def test_rabbitmq_keeps_its_data_in_a_named_volume() -> None:
    mounts = {m.split(":")[1]: m.split(":")[0] for m in services()["rabbitmq"]["volumes"]}
    assert mounts["/var/lib/rabbitmq"] == "rabbitmq-data"
    assert "rabbitmq-data" in compose()["volumes"], "declared at the top level"


def test_grafana_and_prometheus_wait_for_what_they_read() -> None:
    assert services()["grafana"]["depends_on"] == {"prometheus": {"condition": "service_healthy"}}
    assert services()["prometheus"]["depends_on"] == {
        "rabbitmq": {"condition": "service_healthy"},
        "worker": {"condition": "service_started"},
    }


def test_state_dir_and_rules_file_are_mounted_where_the_worker_looks() -> None:
    worker = services()["worker"]
    env = worker["environment"]
    targets = {m.split(":")[1]: m.split(":")[0] for m in worker["volumes"]}
    assert targets[env["STATE_DIR"]] == "worker-state"
    assert targets[env["RULES_FILE"]] == "./rules.example.yaml"


def test_ports_are_published_on_loopback_only() -> None:
    expected = {
        "worker": "8080",
        "texter-fake": "8081",
        "rabbitmq": "15672",
        "prometheus": "9090",
        "grafana": "3000",
    }
    for name, port in expected.items():
        assert f"127.0.0.1:{port}:{port}" in services()[name]["ports"]
    for name, service in services().items():
        for published in service.get("ports", []):
            assert published.startswith("127.0.0.1:"), f"{name}: {published}"


def test_our_services_set_only_known_settings() -> None:
    known = {v.name for v in VARIABLES}
    for name in OUR_IMAGE:
        assert set(services()[name].get("environment", {})) <= known, name


def test_env_example_documents_every_variable_compose_reads() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    read = {m[1] for m in _VAR.finditer(text)}
    example = env_example()
    assert read == set(example), "compose.yaml and .env.example must name the same variables"
    required = {m[1] for m in _VAR.finditer(text) if m[2] in {":?", "?"}}
    assert required >= SECRETS, "secrets must be required, never defaulted"
    assert all("change-me" in example[s] for s in SECRETS), "placeholders, not real secrets"


def test_env_file_is_git_ignored() -> None:
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored


def test_worker_environment_is_a_valid_configuration() -> None:
    example = env_example()
    env = {k: interpolate(str(v), example) for k, v in services()["worker"]["environment"].items()}
    settings = Settings.from_env(env)
    assert settings.amqp_url is not None
    assert settings.amqp_url.startswith("amqp://texter:")
    assert settings.amqp_url.endswith("@rabbitmq:5672/")
    assert settings.texter_base_url == "http://texter-fake:8081/server/api/v2"
    credentials(settings)  # the writer's Texter settings are complete


def test_commands_parse_with_the_cli() -> None:
    example = env_example()
    parser = build_parser()
    worker = parser.parse_args(services()["worker"]["command"])
    assert (worker.command, worker.role) == ("run", "all")
    command = [interpolate(a, example) for a in services()["texter-fake"]["command"]]
    fake = parser.parse_args(command)
    assert fake.command == "simulator"
    assert (fake.host, fake.port) == ("0.0.0.0", 8081)
    secret = example["WEBHOOK_SECRET"]
    assert fake.webhook_url == f"http://worker:8080/webhooks/texter?token={secret}"
    fake_env = services()["texter-fake"]["environment"]
    assert fake_env["TEXTER_API_TOKEN"] == services()["worker"]["environment"]["TEXTER_API_TOKEN"]


def test_stop_grace_period_covers_the_drain() -> None:
    worker = services()["worker"]
    env = worker["environment"]
    drain = parse_duration(env.get("SHUTDOWN_DELAY", "0s")) + parse_duration(
        env["SHUTDOWN_TIMEOUT"]
    )
    assert parse_duration(worker["stop_grace_period"]) > drain


def test_rabbitmq_plugins_and_stable_hostname() -> None:
    rabbit = services()["rabbitmq"]
    assert rabbit["image"].endswith("-management")
    assert rabbit["hostname"] == "rabbitmq", "data is kept per node name"
    plugins = (ROOT / "deploy" / "rabbitmq" / "enabled_plugins").read_text()
    assert re.fullmatch(r"\[rabbitmq_management,rabbitmq_prometheus\]\.\s*", plugins)
    assert "./deploy/rabbitmq/enabled_plugins:/etc/rabbitmq/enabled_plugins:ro" in rabbit["volumes"]


def test_prometheus_scrapes_the_services_compose_runs() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert jobs["texter-worker"]["static_configs"][0]["targets"] == ["worker:8080"]
    rabbit = jobs["rabbitmq"]
    assert rabbit["static_configs"][0]["targets"] == ["rabbitmq:15692"]
    assert rabbit["metrics_path"] == "/metrics/per-object"
    mounts = {m.split(":")[1]: m.split(":")[0] for m in services()["prometheus"]["volumes"]}
    config_dir = Path("/etc/prometheus")
    assert mounts[str(config_dir / "prometheus.yml")] == "./deploy/prometheus/prometheus.yml"
    # The alert rules are loaded: the one rules file, mounted next to the config (relative paths
    # in rule_files are resolved against the config file's directory), and it has alerts in it.
    assert config["rule_files"] == ["alerts.yml"]
    source = mounts[str(config_dir / "alerts.yml")]
    assert (ROOT / source).resolve() == ALERTS.resolve()
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    assert sum(len(group["rules"]) for group in groups) > 0


def test_grafana_datasource_points_at_prometheus() -> None:
    path = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
    source = yaml.safe_load(path.read_text())["datasources"][0]
    assert source["url"] == "http://prometheus:9090"
    grafana = services()["grafana"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in grafana["volumes"]}
    folder, _, file = home.rpartition("/")
    assert (ROOT / mounts[folder] / file).is_file()


def test_docker_compose_config_when_a_client_exists(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client: compose.yaml was checked by the tests above only")
    probe = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, timeout=30, check=False
    )
    if probe.returncode != 0:
        pytest.skip(f"docker has no compose plugin here: {(probe.stdout + probe.stderr)[:120]}")
    done = subprocess.run(
        [docker, "compose", "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = done.stdout + done.stderr
    if done.returncode != 0 and "Cannot connect to the Docker daemon" in output:
        pytest.skip("docker compose config needs no engine, but this client wants one")
    assert done.returncode == 0, output
