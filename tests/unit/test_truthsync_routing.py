"""TRUTHSYNC_INSTANCES: Nginx routes to the first N running TruthSync instances (0: all of them); a value
above the running instances is refused before anything is written; compose refuses any N but all."""
from __future__ import annotations

import re

import pytest

from analysis.experiment import Study, study_config
from analysis.settings import Settings
from analysis.stack import catalogue, routing, toggles
from analysis.stack.compose import ComposeStack
from analysis.stack.provision import Provision
from analysis.stack.render import CONFIG_SRC, render_configs
from analysis.sweep import Sweep


@pytest.fixture
def provision(tmp_path):
    settings = Settings(run_dir=tmp_path / "run", port_base=27000, truthsync_instances=4)
    return Provision(settings, catalogue.local_services(settings))


def _upstreams(provision, tmp_path, toggle_values) -> list[int]:
    """The ports of the rendered nginx.conf's ``upstream truthsync`` servers, in order."""
    out = tmp_path / "rendered"
    render_configs(CONFIG_SRC, out, provision.context(toggle_values), only={"nginx"})
    block = re.search(r"upstream truthsync \{(.*?)\}", (out / "nginx" / "nginx.conf").read_text(), re.S).group(1)
    return [int(port) for port in re.findall(r"server 127\.0\.0\.1:(\d+)", block)]


@pytest.mark.parametrize("value, routed", [("0", [1, 2, 3, 4]), ("1", [1]), ("2", [1, 2]), ("3", [1, 2, 3]),
                                           ("4", [1, 2, 3, 4])])
def test_nginx_routes_to_the_first_n_instances(provision, tmp_path, value, routed):
    ports = _upstreams(provision, tmp_path, toggles.validate({"TRUTHSYNC_INSTANCES": value}))
    assert ports == [provision.settings.port(f"truthsync-{i}") for i in routed]


def test_the_default_routes_to_every_running_instance(provision, tmp_path):
    assert toggles.defaults()["TRUTHSYNC_INSTANCES"] == str(routing.EVERY)
    assert len(_upstreams(provision, tmp_path, {})) == 4


def test_instances_sort_by_number_not_text():
    names = [f"truthsync-{i}" for i in (10, 2, 1)] + ["nginx", "api"]
    assert routing.instances(names) == ["truthsync-1", "truthsync-2", "truthsync-10"]
    assert routing.routed(names, {"TRUTHSYNC_INSTANCES": "2"}) == ["truthsync-1", "truthsync-2"]


def test_more_than_the_running_instances_is_refused_before_anything_is_written(provision):
    with pytest.raises(toggles.ToggleError, match="LAB_TRUTHSYNC_INSTANCES=5"):
        provision.programs({"TRUTHSYNC_INSTANCES": "5"})
    assert not provision.run.exists()  # no toggles.json, no config, no cluster


@pytest.mark.parametrize("value", ["-1", "1.5", "two"])
def test_a_bad_value_names_the_toggle(value):
    with pytest.raises(toggles.ToggleError, match="TRUTHSYNC_INSTANCES"):
        toggles.validate({"TRUTHSYNC_INSTANCES": value})


def test_a_study_is_refused_before_the_stack_starts():
    with pytest.raises(toggles.ToggleError, match="runs 2 TruthSync instances"):
        routing.check_settings({"TRUTHSYNC_INSTANCES": "4"}, Settings(truthsync_instances=2))
    routing.check_settings({"TRUTHSYNC_INSTANCES": "2"}, Settings(truthsync_instances=2))


def test_compose_refuses_any_n_but_every_instance(tmp_path):
    calls = []
    stack = ComposeStack(Settings(stack="compose", run_dir=tmp_path / "run", truthsync_instances=2),
                         runner=lambda *a, **k: calls.append(a))
    with pytest.raises(toggles.ToggleError, match="DNS round robin"):
        stack.apply({"TRUTHSYNC_INSTANCES": "1"})
    with pytest.raises(toggles.ToggleError, match="DNS round robin"):
        stack.up({"TRUTHSYNC_INSTANCES": "1"})
    assert calls == []  # refused before docker was asked anything
    routing.refuse_in_compose({"TRUTHSYNC_INSTANCES": "0"})


class _Untouchable:
    """A stack a refused study must not use at all."""

    def __getattr__(self, name):
        raise AssertionError(f"the study touched the stack ({name}) before refusing")


def test_a_sweep_past_the_running_instances_is_refused_before_the_stack_is_touched(tmp_path):
    config = study_config(["truthsync-l2"], 2, 8.0, sweep=Sweep.parse("TRUTHSYNC_INSTANCES=1,4"), study_id="refused")
    settings = Settings(run_dir=tmp_path / "run", results_dir=tmp_path / "results", truthsync_instances=2)
    with pytest.raises(toggles.ToggleError, match="start it with LAB_TRUTHSYNC_INSTANCES=4"):
        Study(config, settings, stack=_Untouchable()).run()
    assert not (tmp_path / "results").exists()
