"""ComposeStack without a Docker engine: the docker commands it would run, how it reads
`docker compose ps`, and what it says when no engine is reachable."""
from __future__ import annotations

import json
import os
import subprocess

import pytest
from typer.testing import CliRunner

from analysis.cli import app
from analysis.settings import REDIS_USERS, Settings
from analysis.stack import open_stack
from analysis.stack.compose import (COMPOSE_FILE, ONE_SHOT, ComposeStack, compose_services, parse_ps,
                                    redis_password_var)
from analysis.stack.base import StackError


class FakeDocker:
    """Answers the argv ComposeStack runs as a daemon would, and records them."""

    def __init__(self, services: list[str], engine: bool = True, plugin: bool = True, health: str = "healthy"):
        self.calls: list[list[str]] = []
        self.engine, self.plugin, self.health, self.services, self.running = engine, plugin, health, services, False

    def __call__(self, argv, **kwargs):
        self.calls.append(argv)
        if argv[:2] == ["docker", "info"]:
            if not self.engine:
                return subprocess.CompletedProcess(argv, 1, "", "Cannot connect to the Docker daemon at "
                                                                 "unix:///var/run/docker.sock. Is the docker daemon running?")
            return subprocess.CompletedProcess(argv, 0, "27.4.1\n", "")
        if argv[:3] == ["docker", "compose", "version"]:
            return subprocess.CompletedProcess(argv, 0 if self.plugin else 1, "2.32.1\n", "")
        verb = argv[argv.index("compose") + 9]  # after --project-name, --file and two --env-file pairs
        if verb == "up":
            self.running = True
        if verb == "down":
            self.running = False
        if verb == "ps":
            return subprocess.CompletedProcess(argv, 0, self._ps(), "")
        return subprocess.CompletedProcess(argv, 0, "", "")

    def _ps(self) -> str:
        if not self.running:
            return ""
        rows = []
        for s in self.services:
            replicas = 2 if s == "truthsync" else 1
            for i in range(1, replicas + 1):
                row = {"Service": s, "Name": f"sentinel-lab-{s}-{i}", "State": "running", "Health": self.health,
                       "ExitCode": 0, "Publishers": [{"URL": "127.0.0.1", "TargetPort": 80, "PublishedPort": 25080}]
                       if s == "nginx" else []}
                if s in ONE_SHOT:
                    row.update(State="exited", Health="")
                rows.append(json.dumps(row))
        return "\n".join(rows)

    def compose_calls(self) -> list[list[str]]:
        return [c[c.index("compose") + 9:] for c in self.calls if "--project-name" in c]


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(stack="compose", run_dir=tmp_path / "run", truthsync_instances=2)


@pytest.fixture
def env_file(tmp_path):
    path = tmp_path / ".env"
    path.write_text("POSTGRES_PASSWORD=x\n" + "".join(f"{redis_password_var(u)}=pw-{u}\n" for u in REDIS_USERS))
    return path


def make(settings, env_file, **kw) -> tuple[ComposeStack, FakeDocker]:
    docker = FakeDocker(compose_services(settings), **kw)
    return ComposeStack(settings, runner=docker, env_file=env_file, sleep=lambda s: None), docker


def test_the_compose_kind_is_selected_with_stack_compose(settings):
    assert isinstance(open_stack(settings), ComposeStack)


def test_every_command_names_the_project_file_and_both_env_files(settings, env_file):
    stack, _ = make(settings, env_file)
    argv = stack.command("ps")
    assert argv == ["docker", "compose", "--project-name", "sentinel-lab", "--file", str(COMPOSE_FILE),
                    "--env-file", str(env_file), "--env-file", str(settings.run_dir / "compose/lab.env"), "ps"]


def test_without_an_engine_up_says_what_to_do_and_runs_nothing_else(settings, env_file):
    stack, docker = make(settings, env_file, engine=False)
    with pytest.raises(StackError, match=r"no Docker engine is reachable \(Cannot connect.*start it.*--stack local"):
        stack.up()
    assert docker.calls == [["docker", "info", "--format", "{{.ServerVersion}}"]]


def test_without_the_compose_plugin_the_error_names_it(settings, env_file):
    stack, docker = make(settings, env_file, plugin=False)
    with pytest.raises(StackError, match="Compose plugin is missing.*docker-compose-plugin"):
        stack.up()
    assert not (settings.run_dir / "compose").exists()


def test_without_the_docker_command_the_error_says_how_to_install_it(settings, env_file):
    def missing(argv, **kw):
        raise FileNotFoundError(argv[0])
    stack = ComposeStack(settings, runner=missing, env_file=env_file)
    with pytest.raises(StackError, match="docker command is not installed.*--stack local"):
        stack.up()


def test_up_renders_configs_builds_starts_scaled_and_waits_for_health(settings, env_file):
    stack, docker = make(settings, env_file)
    statuses = stack.up({"SENTINEL_CACHE": "on"})
    up = docker.compose_calls()[0]
    assert up == ["up", "--detach", "--build", "--remove-orphans", "--scale", "truthsync=2"]
    assert (settings.run_dir / "compose/config/nginx/nginx.conf").exists()
    lab_env = (settings.run_dir / "compose/lab.env").read_text()
    assert f"HOST_PORT_NGINX={settings.port('nginx')}\n" in lab_env
    api_env = (settings.run_dir / "compose/config/toggles/api.env").read_text()
    assert "SENTINEL_CACHE=on\n" in api_env and "TRUTHSYNC_L2" not in api_env
    names = {s.name for s in statuses}
    assert {"truthsync-1", "truthsync-2", "api", "n8n-loader"} <= names
    assert all(s.state == "healthy" for s in statuses)
    nginx = next(s for s in statuses if s.name == "nginx")
    assert nginx.port == 25080 and nginx.url == "http://127.0.0.1:25080"


def test_up_fails_naming_the_service_that_never_becomes_healthy(settings, env_file):
    stack, docker = make(settings, env_file, health="unhealthy")
    stack.wait_timeout_s = 0
    with pytest.raises(StackError, match=r"(?s)service postgres is unhealthy .*docker compose .* logs postgres"):
        stack.up()


def test_up_creates_env_from_the_example_with_generated_secrets(settings, tmp_path):
    env_file = tmp_path / "new.env"
    stack, _ = make(settings, env_file)
    stack.up()
    values = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line and line[0] != "#")
    redis_passwords = {values[redis_password_var(u)] for u in REDIS_USERS}
    assert len(values["POSTGRES_PASSWORD"]) >= 24 and values["POSTGRES_PASSWORD"] not in redis_passwords
    assert len(redis_passwords) == len(REDIS_USERS)  # each Redis user has its own
    assert env_file.stat().st_mode & 0o077 == 0


def test_an_env_file_without_a_redis_users_password_is_refused_naming_the_variable(settings, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("POSTGRES_PASSWORD=x\nREDIS_PASSWORD=old-single-password\n")
    stack, docker = make(settings, env_file)
    with pytest.raises(StackError, match="REDIS_PASSWORD_API.* in .env"):
        stack.up()
    assert not [c for c in docker.compose_calls() if c[0] == "up"]


def test_redis_configs_holding_the_acl_are_private_and_the_lab_shares_envs_password(settings, env_file):
    stack, _ = make(settings, env_file)
    stack.up()
    confs = sorted((settings.run_dir / "compose" / "config" / "redis").glob("*.conf"))
    assert [c.name for c in confs] == ["redis-cache.conf", "redis.conf"]
    assert all(c.stat().st_mode & 0o077 == 0 for c in confs)
    assert settings.secret("redis_lab") == "pw-lab"
    lab_env = (settings.run_dir / "compose" / "lab.env").read_text()
    assert f"LAB_UID={os.getuid()}\n" in lab_env


@pytest.mark.parametrize("toggle, value, recreated", [
    ("SENTINEL_CACHE", "on", ["api"]),
    ("SENTINEL_CELERY_METRICS", "on", ["worker"]),
    ("TRUTHSYNC_L2", "on", ["truthsync", "nginx"]),
    ("REMEDIATOR_MODE", "on", ["remediator"]),
    ("PG_LOG_MIN_DURATION_MS", "0", ["postgres"]),  # a rendered config value, not an env variable
])
def test_apply_recreates_only_the_services_a_toggle_changes(settings, env_file, toggle, value, recreated):
    stack, docker = make(settings, env_file)
    stack.up()
    docker.calls.clear()
    assert stack.apply({toggle: value}) == recreated
    ups = [c for c in docker.compose_calls() if c[0] == "up"]
    assert ups == [["up", "--detach", "--no-deps", "--force-recreate", "--scale", "truthsync=2", *recreated]]
    assert stack.toggles()[toggle] == value
    written = {p.stem: p.read_text() for p in (settings.run_dir / "compose/config/toggles").glob("*.env")}
    assert sum(f"{toggle}={value}\n" in text for text in written.values()) == (toggle != "PG_LOG_MIN_DURATION_MS")


def test_apply_of_an_unchanged_value_recreates_nothing(settings, env_file):
    stack, docker = make(settings, env_file)
    stack.up({"SENTINEL_CACHE": "on"})
    docker.calls.clear()
    assert stack.apply({"SENTINEL_CACHE": "on"}) == []
    assert not [c for c in docker.compose_calls() if c[0] == "up"]


def test_down_keeps_volumes_and_status_afterwards_says_stopped(settings, env_file):
    stack, docker = make(settings, env_file)
    stack.up()
    stack.down()
    assert docker.compose_calls()[-1] == ["down", "--remove-orphans"]
    assert {s.state for s in stack.status()} == {"stopped"}


def test_ps_output_is_read_in_both_formats_compose_has_used():
    rows = [{"Service": "api", "State": "running"}, {"Service": "redis", "State": "running"}]
    assert parse_ps(json.dumps(rows)) == rows
    assert parse_ps("\n".join(map(json.dumps, rows)) + "\n") == rows
    assert parse_ps("") == []


def test_up_check_is_for_the_compose_stack_and_says_so_before_starting_anything(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_RUN_DIR", str(tmp_path / "run"))
    result = CliRunner().invoke(app, ["up", "--stack", "local", "--check"])
    assert result.exit_code == 1 and "add --stack compose" in result.output
    assert not (tmp_path / "run").exists()
