"""Fixtures for the unit tests that read the compose stack's rendered configs."""
from __future__ import annotations

from pathlib import Path

import pytest

from analysis.settings import Settings
from analysis.stack.compose import render_context
from analysis.stack.render import CONFIG_SRC, render_configs


@pytest.fixture(scope="session")
def rendered(tmp_path_factory) -> Path:
    """stack/config/ rendered exactly as ComposeStack renders it (three TruthSync replicas)."""
    out = tmp_path_factory.mktemp("compose-config")
    render_configs(CONFIG_SRC, out, render_context(Settings(truthsync_instances=3), {}))
    return out
