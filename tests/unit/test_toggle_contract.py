"""The toggle contract: a value the lab accepts, every service it restarts accepts; a value a service
refuses, the lab refuses first, with the service's own message (one declaration: stack/toggle_spec.py)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from analysis.stack import toggles
from stack.api.config import ApiConfig
from stack.envconfig import ConfigError
from stack.remediator.app import create_app
from stack.toggle_spec import TOGGLES
from stack.worker.config import WorkerConfig
from truthsync.config import Config as TruthSyncConfig

URLS = {"DATABASE_URL": "postgresql://u@127.0.0.1:1/db", "REDIS_URL": "redis://127.0.0.1:1/0"}

#: each Python service, as its own start reads its environment
READERS = {
    "api": lambda env: ApiConfig.from_env(URLS | env),
    "worker": lambda env: WorkerConfig.from_env(URLS | env),
    "truthsync-1": lambda env: TruthSyncConfig.from_env(URLS | env),
    "remediator": lambda env: create_app(env),
}
SERVICE_TOGGLES = [(name, service) for name, t in TOGGLES.items() for service in READERS if t.affects(service)]

candidates = st.one_of(
    st.sampled_from(["on", "off", "ON", " on ", "", "1.5", "0", "-5", "-1", "1e3", "nan", "inf", "0.0001", "3600"]),
    st.sampled_from(sorted({c for t in TOGGLES.values() for c in t.choices})),
    st.integers(-10**6, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.text(max_size=6),
)


def _service_error(service: str, env: dict[str, str]) -> str | None:
    try:
        READERS[service](env)
    except (ConfigError, ValueError) as exc:
        return str(exc)
    return None


def test_every_python_service_toggle_is_covered():
    covered = {name for name, _ in SERVICE_TOGGLES}
    # Postgres and Nginx read theirs from rendered configs (test_pg_audit, test_truthsync_routing)
    assert covered == {n for n, t in TOGGLES.items() if not (t.affects("postgres") or t.affects("nginx"))}


@pytest.mark.parametrize("name, service", SERVICE_TOGGLES)
@settings(max_examples=60, deadline=None)
@given(value=candidates)
def test_the_lab_and_the_service_agree(name, service, value):
    try:
        clean = toggles.validate({name: value})
    except toggles.ToggleError as exc:
        assert _service_error(service, {name: value}) == str(exc)  # refused first, in the service's words
        return
    assert _service_error(service, {name: value}) is None
    assert _service_error(service, clean) is None  # and what the stack then sets


@pytest.mark.parametrize("pair, accepted", [
    ("TRUTHSYNC_L2_TTL_S=1.5", "a positive whole number (seconds)"),
    ("SENTINEL_CACHE_TTL_S=0", "a number ≥ 0.001 (seconds)"),
    ("SENTINEL_RATELIMIT_PER_MIN=-5", "a positive whole number (requests)"),
    ("PG_LOG_MIN_DURATION_MS=0.5", "a whole number ≥ -1 (ms)"),
])
def test_a_refusal_names_the_toggle_and_its_accepted_range(pair, accepted):
    with pytest.raises(toggles.ToggleError) as refused:
        toggles.parse_assignments([pair])
    assert pair.split("=")[0] in str(refused.value) and accepted in str(refused.value)


def test_every_default_is_accepted_and_the_services_start_from_it():
    assert toggles.validate(toggles.defaults()) == toggles.defaults()
    assert ApiConfig.from_env(URLS).ratelimit_per_min == TOGGLES["SENTINEL_RATELIMIT_PER_MIN"].value == 600
    assert TruthSyncConfig.from_env(URLS).l2_ttl_s == TOGGLES["TRUTHSYNC_L2_TTL_S"].value
