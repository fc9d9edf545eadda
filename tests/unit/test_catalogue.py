"""The catalogue as data: every service of both stacks, and the toggles that restart them."""
from __future__ import annotations

import re

import pytest

from analysis.settings import Settings
from analysis.stack import catalogue, toggles
from analysis.stack.render import CONFIG_SRC, render_configs

DESIGN_SERVICES = {"postgres", "redis", "api", "worker", "beat", "frontend", "nginx", "prometheus", "loki",
                   "grafana", "alloy", "node-exporter", "postgres-exporter", "redis-exporter", "ollama", "n8n",
                   "n8n-loader"}


def test_catalogue_holds_the_design_services_plus_the_lab_additions():
    names = {s.name for s in catalogue.services(Settings(truthsync_instances=3))}
    assert DESIGN_SERVICES | {"alertmanager", "nginx-exporter", "mtail", "remediator"} <= names
    assert {"truthsync-1", "truthsync-2", "truthsync-3"} <= names


def test_services_that_cannot_run_locally_say_why():
    for s in catalogue.services():
        if not s.command:
            assert s.why_not_local, s.name


def test_dependencies_name_services_of_the_catalogue():
    names = {s.name for s in catalogue.services()}
    for s in catalogue.services():
        assert set(s.depends_on) <= names, s.name


def test_every_port_is_distinct_and_off_the_default_ports():
    settings = Settings(truthsync_instances=4)
    ports = [settings.port(s.port) for s in catalogue.services(settings) if s.port]
    assert len(ports) == len(set(ports))
    assert not {5432, 6379, 9090, 80, 8000} & set(ports)


def test_an_unknown_toggle_lists_the_known_ones():
    with pytest.raises(toggles.ToggleError, match="known toggles: .*TRUTHSYNC_L2"):
        toggles.validate({"SENTINEL_CACHEE": "on"})


def test_a_toggle_rejects_a_value_it_does_not_know():
    with pytest.raises(toggles.ToggleError, match="choose one of off, on"):
        toggles.validate({"SENTINEL_CACHE": "maybe"})
    with pytest.raises(toggles.ToggleError, match="must be a number"):
        toggles.validate({"SENTINEL_RATELIMIT_PER_MIN": "lots"})


def test_each_service_sees_only_its_own_toggles():
    assert toggles.for_service("api", {"SENTINEL_CACHE": "on"})["SENTINEL_CACHE"] == "on"
    assert "SENTINEL_CACHE" not in toggles.for_service("worker", {})
    assert toggles.for_service("truthsync-3", {"TRUTHSYNC_L2": "on"})["TRUTHSYNC_L2"] == "on"
    assert toggles.for_service("nginx", {"TRUTHSYNC_L2": "on"}) == {"TRUTHSYNC_INSTANCES": "0"}  # its routing only


def test_parse_assignments_needs_name_equals_value():
    assert toggles.parse_assignments(["SENTINEL_CACHE=on"]) == {"SENTINEL_CACHE": "on"}
    with pytest.raises(toggles.ToggleError, match="NAME=VALUE"):
        toggles.parse_assignments(["SENTINEL_CACHE"])


def test_configs_render_and_never_log_every_statement(tmp_path):
    from analysis.stack.local import LocalStack

    stack = LocalStack(Settings(run_dir=tmp_path / "run"))
    digests = render_configs(CONFIG_SRC, tmp_path / "out", stack.provision.context({}))
    assert "prometheus/prometheus.yml" in digests and "nginx/nginx.conf" in digests
    pg = (tmp_path / "out/postgres/audit.reload.conf").read_text()  # by default; P7's arm "design" logs all
    assert re.search(r"^log_statement = 'none'", pg, re.M) and not re.search(r"^log_statement = 'all'", pg, re.M)
    for text in (p.read_text() for p in (tmp_path / "out").rglob("*") if p.is_file()):
        assert not re.search(r"(?<![\d.])0\.0\.0\.0", text)
