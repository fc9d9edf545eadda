"""``sentinel-lab apply`` refuses a value a service would refuse before it touches the running stack."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from analysis.cli import app
from stack_fixtures import cli_env

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("pair, accepted", [
    ("TRUTHSYNC_L2_TTL_S=1.5", "a positive whole number (seconds)"),
    ("SENTINEL_RATELIMIT_PER_MIN=-5", "a positive whole number (requests)"),
])
def test_a_value_a_service_refuses_leaves_the_running_stack_untouched(lab_stack, pair, accepted):
    before = {s.name: (s.state, s.pid) for s in lab_stack.status()}
    toggles_before = lab_stack.toggles()
    result = CliRunner().invoke(app, ["apply", "--set", pair], env=cli_env(lab_stack.settings))
    assert result.exit_code != 0
    said = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert pair.split("=")[0] in said and accepted in said, said
    assert {s.name: (s.state, s.pid) for s in lab_stack.status()} == before
    assert lab_stack.toggles() == toggles_before


def test_apply_of_an_unchanged_value_restarts_nothing(lab_stack):
    before = {s.name: s.pid for s in lab_stack.status()}
    result = CliRunner().invoke(app, ["apply", "--set", "SENTINEL_CACHE_TTL_S=30"], env=cli_env(lab_stack.settings))
    assert result.exit_code == 0, result.output
    assert "restarted: nothing" in result.stdout
    assert {s.name: s.pid for s in lab_stack.status()} == before
