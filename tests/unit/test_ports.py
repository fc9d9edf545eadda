"""Ports and instance names, one table: the local stack, compose's published ports and the URLs agree."""
from __future__ import annotations

import pytest

from analysis.collect.log_source import log_source
from analysis.settings import PORTS, Settings
from analysis.stack import catalogue
from analysis.stack.compose import lab_env, render_context
from stack.replicas import group_of, replica_name, replica_of


def test_compose_only_services_have_urls_at_their_published_ports():
    settings = Settings(port_base=30000)
    assert settings.url("loki") == "http://127.0.0.1:30310"
    assert settings.url("grafana") == "http://127.0.0.1:30300"
    with pytest.raises(KeyError, match="alloy has no port on the host"):
        settings.url("alloy")


def test_compose_publishes_every_service_where_settings_says():
    settings = Settings(port_base=30000)
    env = lab_env(settings, settings.run_dir)
    assert env["HOST_PORT_LOKI"] == str(settings.port("loki"))
    assert env["HOST_PORT_API"] == str(settings.port("api"))


def test_the_compose_loki_collector_reads_where_compose_publishes():
    settings = Settings(stack="compose", port_base=30000)
    assert log_source(settings).url == settings.url("loki")


def test_compose_templates_get_container_ports(compose_redis_passwords):
    svc = render_context(Settings(truthsync_instances=3), {}, compose_redis_passwords)["svc"]
    assert svc["api"] == {"host": "api", "port": PORTS["api"].container}
    assert svc[replica_name("truthsync", 3)] == {"host": "truthsync", "port": 8000}


def test_the_instance_naming_rule():
    assert replica_name("truthsync", 2) == "truthsync-2"
    assert replica_of("truthsync-2") == ("truthsync", 2) and group_of("truthsync-2") == "truthsync"
    assert replica_of("node-exporter") is None and group_of("redis-exporter") == "redis-exporter"
    settings = Settings(truthsync_instances=3)
    assert [s.name for s in catalogue.truthsync_instances(3)] == ["truthsync-1", "truthsync-2", "truthsync-3"]
    assert settings.port("truthsync-2") == settings.port_base + PORTS["truthsync"].offset + 2
