"""Compose's Postgres has pgaudit, as the local one does, so P7's pgaudit arms mean the same in both.

Checked statically (no Docker engine here): the image compose builds, the package it installs, and
the rendered configs that preload and configure it.
"""
from __future__ import annotations

import re

import pytest
import yaml

from analysis.settings import Settings
from analysis.stack.compose import COMPOSE_FILE, render_context
from analysis.stack.render import CONFIG_SRC, render_configs

DOCKER = COMPOSE_FILE.parent


@pytest.fixture(scope="module")
def postgres() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())["services"]["postgres"]


def test_compose_builds_postgres_from_the_pinned_image_plus_pgaudit(postgres):
    build = postgres["build"]
    dockerfile = (DOCKER / build["context"] / build["dockerfile"]).read_text()
    base = build["args"]["BASE"]
    assert re.fullmatch(r"postgres:\d+\.\d+-bookworm", base), base
    assert re.search(r"^ARG BASE$", dockerfile, re.M) and re.search(r"^FROM \$\{BASE\}$", dockerfile, re.M)
    # the package of the base image's own major version (PG_MAJOR is set by the official image)
    assert '"postgresql-${PG_MAJOR}-pgaudit"' in dockerfile
    assert postgres["image"].startswith("sentinel-lab/postgres:" + base.split(":")[1].split("-")[0])


@pytest.mark.parametrize("arm, log", [("pgaudit-write", "write, ddl, role"), ("pgaudit-all", "all"),
                                      ("none", "none")])
def test_compose_postgres_preloads_pgaudit_and_each_arm_sets_its_classes(tmp_path, arm, log, compose_redis_passwords):
    render_configs(CONFIG_SRC, tmp_path, render_context(Settings(), {"PG_AUDIT": arm}, compose_redis_passwords))
    conf = (tmp_path / "postgres" / "postgresql.conf").read_text()
    assert re.search(r"^shared_preload_libraries = '[^']*\bpgaudit\b", conf, re.M), conf
    audit = (tmp_path / "postgres" / "audit.reload.conf").read_text()
    assert f"pgaudit.log = '{log}'" in audit

