"""Fixtures for the unit tests that read the compose stack's rendered configs."""
from __future__ import annotations

from pathlib import Path

import pytest

from analysis.settings import REDIS_USERS, Settings
from analysis.stack.compose import render_context
from analysis.stack.render import CONFIG_SRC, render_configs


#: the Redis users' passwords the rendered compose configs are given (.env's REDIS_PASSWORD_<USER>)
_REDIS_PASSWORDS = {user: f"compose-test-{user}" for user in REDIS_USERS}


@pytest.fixture(scope="session")
def compose_redis_passwords() -> dict[str, str]:
    """{Redis user: password} of the ``rendered`` configs' ACL."""
    return dict(_REDIS_PASSWORDS)


@pytest.fixture(scope="session")
def rendered(tmp_path_factory) -> Path:
    """stack/config/ rendered exactly as ComposeStack renders it (three TruthSync replicas)."""
    out = tmp_path_factory.mktemp("compose-config")
    render_configs(CONFIG_SRC, out, render_context(Settings(truthsync_instances=3), {}, _REDIS_PASSWORDS))
    return out
