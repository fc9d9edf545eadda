"""stack/compose.yml, checked without a Docker engine: schema, catalogue, healthchecks, ports,
variables, images, and every file it mounts."""
from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from packaging.requirements import Requirement

from analysis.settings import REDIS_USERS, REPO, Settings
from analysis.stack import catalogue
from stack.replicas import group_of
from analysis.stack.compose import (COMPOSE_FILE, ENV_EXAMPLE, NOT_IN_COMPOSE, ONE_SHOT, compose_services,
                                    ComposeStack, env_toggled, lab_env, toggle_env, write_env_from_example)

SCHEMA = REPO.parent / "shared" / "schemas" / "compose-spec.json"
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def example_env() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines()
             if "=" in line and not line.lstrip().startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` and ``$$``, strictly."""
    def one(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if env.get(name):
            return env[name]
        if op in (":-", "-"):
            return arg
        raise KeyError(f"{name} is not set ({arg or 'no default'})")
    return VARIABLE.sub(one, value).replace("$$", "$")


def test_compose_file_validates_against_the_compose_specification(compose):
    if not SCHEMA.exists():
        pytest.fail(f"{SCHEMA} is missing: the Compose Specification schema ships in shared/schemas/")
    jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).validate(compose)


def test_every_service_of_the_catalogue_is_in_compose(compose):
    settings = Settings(truthsync_instances=3)
    expected = {group_of(s.name) for s in catalogue.services(settings)}
    assert set(compose["services"]) == (expected - set(NOT_IN_COMPOSE)) | set(ONE_SHOT)
    assert set(compose_services(settings)) == set(compose["services"])


def test_every_long_running_service_has_a_healthcheck_and_one_shots_do_not_restart(compose):
    for name, svc in compose["services"].items():
        if name in ONE_SHOT:
            assert svc.get("restart") == "no", name
            continue
        check = svc.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
        assert svc.get("restart") == "unless-stopped", name


def test_depends_on_uses_conditions_and_names_real_services(compose):
    for name, svc in compose["services"].items():
        deps = svc.get("depends_on", {})
        assert isinstance(deps, dict), f"{name}: depends_on must use conditions"
        for dep, cond in deps.items():
            assert dep in compose["services"], f"{name} depends on unknown {dep}"
            wanted = "service_completed_successfully" if dep in ONE_SHOT else "service_healthy"
            assert cond["condition"] == wanted, f"{name} → {dep}"


def test_no_port_is_published_beyond_loopback(compose):
    published = 0
    for name, svc in compose["services"].items():
        for port in svc.get("ports", []):
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), f"{name} publishes {port!r}"
            published += 1
    assert published >= 5


def test_one_network_and_named_volumes(compose):
    assert list(compose["networks"]) == ["default"]
    for name, svc in compose["services"].items():
        assert "networks" not in svc and svc.get("network_mode") is None, name
        for vol in svc.get("volumes", []):
            source = vol["source"] if isinstance(vol, dict) else vol.split(":", 1)[0]
            kind = vol.get("type") if isinstance(vol, dict) else ("bind" if source[:1] in "./$" else "volume")
            if kind == "volume":
                assert source in compose["volumes"], f"{name} mounts undeclared volume {source}"


def test_every_image_is_pinned_and_matches_the_catalogue(compose):
    by_name = catalogue.by_name(Settings())
    for name, svc in compose["services"].items():
        image = svc["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and re.search(r"\d", tag) and tag != "latest", f"{name}: {image} is not pinned"
        base = svc.get("build", {}).get("args", {}).get("BASE")
        if name in by_name and by_name[name].image:
            assert by_name[name].image in (image, base), f"{name}: compose {image}, catalogue {by_name[name].image}"


def test_env_example_defines_every_variable_compose_uses_and_holds_no_secret(compose, example_env):
    used = set(VARIABLE.findall(COMPOSE_FILE.read_text()))
    assert {name for name, _, _ in used} <= set(example_env)
    for name, value in example_env.items():
        if re.search(r"(PASSWORD|TOKEN|KEY)$", name):
            assert value == "", f".env.example must not carry a value for the secret {name}"
    assert not (REPO / ".env").exists() or ".env" in (REPO / ".gitignore").read_text()


def test_env_example_matches_the_lab_defaults(example_env, tmp_path):
    lab = lab_env(Settings(), tmp_path)
    for name, value in lab.items():
        if name not in ("SENTINEL_CONFIG_DIR", "LAB_UID", "LAB_GID"):  # the last two: whoever runs the lab
            assert example_env[name] == value, f".env.example {name}={example_env[name]}, lab default {value}"


def test_every_service_with_toggles_reads_them_from_its_toggle_file(compose):
    """A toggle added to analysis/stack/toggles.py reaches its compose service with no edit here."""
    wanted = env_toggled(list(compose["services"]))
    assert {"api", "worker", "truthsync", "remediator"} <= set(wanted)
    for name, svc in compose["services"].items():
        files = svc.get("env_file", [])
        files = [files] if isinstance(files, str) else files
        expected = [f for f in files if f.endswith(f"/toggles/{name}.env")]
        assert bool(expected) == (name in wanted), f"{name}: env_file {files}"
        overlap = set(toggle_env(name, {})) & set(svc.get("environment") or {})
        assert not overlap, f"{name} sets toggles {overlap} in compose.yml, which would override the toggle file"


def test_secrets_reach_services_only_from_the_environment(compose):
    checked = 0
    for name, svc in compose["services"].items():
        for key, value in (svc.get("environment") or {}).items():
            if re.search(r"(PASSWORD|TOKEN|KEY)$", key) and not key.endswith("_POLICY"):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]+\}", str(value)), f"{name}: {key}={value!r}"
                checked += 1
            elif "://" in str(value) and "@" in str(value):
                assert re.search(r":\$\{[A-Z0-9_]+PASSWORD(_[A-Z]+)?:\?[^}]+\}@", value), f"{name}: {key} embeds a secret"
    assert checked >= 6


def test_redis_gets_no_password_on_its_command_line_and_each_service_its_own_user(compose):
    """A password on a command line is visible in ``ps`` and ``docker inspect``; the ACL users (REDIS_USERS)
    live in the rendered 0600 config, and each service connects as its own user to both instances."""
    for name in ("redis", "redis-cache"):
        svc = compose["services"][name]
        assert not re.search(r"pass|\$", " ".join(svc["command"]), re.I), f"{name}: {svc['command']}"
        assert "PASSWORD" not in str(svc.get("environment") or {}) and "PASSWORD" not in str(svc["healthcheck"])
    expected = {"api": "api", "worker": "worker", "beat": "worker", "truthsync": "truthsync",
                "remediator": "remediator"}
    for name, user in expected.items():
        env = compose["services"][name]["environment"]
        urls = [env["REDIS_URL"], *([env["REDIS_CACHE_URL"]] if name in ("api", "truthsync", "remediator") else [])]
        assert all(u.startswith(f"redis://{user}:${{REDIS_PASSWORD_{user.upper()}:?") for u in urls), name
        assert user in REDIS_USERS
    for name in ("redis-exporter", "redis-cache-exporter"):
        assert compose["services"][name]["environment"]["REDIS_USER"] == "exporter"


def test_every_mounted_file_exists_after_rendering(compose, example_env, tmp_path):
    write_env_from_example(ENV_EXAMPLE, tmp_path / ".env")
    stack = ComposeStack(Settings(run_dir=tmp_path), runner=None, env_file=tmp_path / ".env")
    stack._prepare({})
    env = {**example_env, "SENTINEL_CONFIG_DIR": str(stack.config_dir)}
    mounts = 0
    for name, svc in compose["services"].items():
        for vol in svc.get("volumes", []):
            if isinstance(vol, dict):
                if vol["type"] != "bind" or vol["source"] == "/":
                    continue
                source = interpolate(vol["source"], env)
            else:
                source = interpolate(vol, env).split(":", 1)[0]
                if source in compose["volumes"]:
                    continue
            path = Path(source) if Path(source).is_absolute() else COMPOSE_FILE.parent / source
            assert path.exists() and any(path.iterdir()), f"{name} mounts {vol} → {path}, missing or empty"
            mounts += 1
        for env_file in [svc["env_file"]] if isinstance(svc.get("env_file"), str) else svc.get("env_file", []):
            assert Path(interpolate(env_file, env)).is_file(), f"{name}: env_file {env_file} is not written"
    build_files = [COMPOSE_FILE.parent / s["build"]["context"] / s["build"].get("dockerfile", "Dockerfile")
                   for s in compose["services"].values() if "build" in s]
    assert mounts >= 10 and all(p.exists() for p in build_files)


def test_service_image_pins_fit_the_projects_dependency_ranges():
    declared = {Requirement(r).name.lower(): Requirement(r)
                for r in __import__("tomllib").loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]}
    pins = [Requirement(line) for line in (REPO / "stack/docker/requirements-services.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    for pin in pins:
        version = next(iter(pin.specifier)).version
        if pin.name.lower() in declared:
            assert declared[pin.name.lower()].specifier.contains(version), f"{pin} is outside pyproject's range"
    assert {"fastapi", "celery", "redis", "psycopg", "supervisor"} <= {p.name.lower() for p in pins}
