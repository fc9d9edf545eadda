"""The REAL n8n (LAB_N8N=1, installed by stack/local/install-n8n.sh) in the local stack: its P3 workflow turns
every hostile answer of a model into an allow-listed action name that the remediator validates, and the
n8n path's dispatch latency is measured next to the direct one. Skipped when n8n is not installed
(make test never installs it); tests/unit/test_p3_model_adversary.py runs the same cases through node.

The model is OllamaDouble, a test double on the stack's Ollama port: never a measurement of Ollama.
"""
from __future__ import annotations

import time

import httpx
import pytest

from analysis import n8n_path
from analysis.stack import n8n
from analysis.stack.local import LocalStack
from hostile_model_answers import CASES, SLOW_OK, unsafe
from ollama_double import Answer, OllamaDouble
from stack_fixtures import TEST_PORT_BASE, standing

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not n8n.installed(), reason=n8n.NOT_INSTALLED)]


@pytest.fixture(scope="module")
def n8n_stack():
    """n8n, Alertmanager and the remediator (dry-run: nothing is restarted), with n8n's first start
    (database migrations: a minute or more on a loaded machine) inside a generous health timeout."""
    with standing("lab-n8n-", ["n8n", "alertmanager"], port_base=TEST_PORT_BASE + 500, n8n=True,
                  health_timeout_s=400.0) as stack:
        yield stack


def _audited(client: httpx.Client, stack: LocalStack, name: str, timeout_s: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for entry in client.get(f"{stack.settings.url('remediator')}/audit").json():
            if entry.get("source") == "api" and str(entry.get("why", "")).startswith(f"{name}: "):
                return entry
        time.sleep(0.2)
    raise AssertionError(f"no remediator audit entry for {name} within {timeout_s}s (see n8n's log)")


def test_the_real_n8n_turns_every_hostile_model_answer_into_an_allow_listed_action(n8n_stack):
    cases = {f"HostileAnswer{i}": c for i, c in enumerate([*CASES, SLOW_OK])}

    def answer(request: dict) -> Answer:  # concurrent requests: answer each by the alert it names
        return next(c.answer for name, c in cases.items() if f'"{name}"' in request.get("prompt", ""))

    settings = n8n_stack.settings
    with OllamaDouble(settings.port("ollama"), answer) as double, httpx.Client(timeout=30) as client:
        n8n_path._wait_for_webhook(client, settings, 120)
        for name in cases:
            body = {"version": "4", "status": "firing",
                    "alerts": [{"status": "firing", "labels": {"alertname": name, "service": "api"}}]}
            assert client.post(n8n.webhook_url(settings), json=body).status_code == 200
        audited = {name: _audited(client, n8n_stack, name) for name in cases}
    assert len(double.requests) == len(cases), "one model call per alert"
    decided = {name: (e["action"], e["params"]) for name, e in audited.items()}
    assert decided == {name: c.expected for name, c in cases.items()}
    assert sum(unsafe(*d) for d in decided.values()) == 0
    # the remediator validated each: nothing the policy does not fix was done (dry-run: skipped or refused)
    assert all(e["outcome"] in {"skipped", "refused"} and e["mode"] == "dry-run" for e in audited.values())


def test_the_n8n_path_dispatch_latency_is_measured_next_to_the_direct_path(n8n_stack):
    with OllamaDouble(n8n_stack.settings.port("ollama"), [Answer('{"action": "record_only"}')]):
        result = n8n_path.measure_dispatch(n8n_stack.settings, trials=3)
    assert result.measured and "reports version 0.0.0-test-double" in result.model
    assert all(t.n8n_decision == "the LLM suggested record_only" for t in result.trials)
    # both paths wait for group_wait; the n8n path then does more (a model call, the decision, a request)
    assert all(t.n8n_s > t.direct_s for t in result.trials)


def test_the_editor_is_owned_and_its_api_closed_to_anonymous_callers(n8n_stack):
    base = n8n_stack.settings.url("n8n")
    claim = httpx.post(f"{base}/rest/owner/setup", json={"email": "x@example.org", "firstName": "x",
                                                          "lastName": "x", "password": "Attacker123"})
    assert claim.status_code == 400 and "already setup" in claim.text
    assert httpx.get(f"{base}/rest/workflows").status_code == 401


def test_without_n8n_the_n8n_path_is_not_measured(n8n_stack):
    """Positive control: n8n stopped, the measurement refuses to report a figure."""
    n8n_stack.supervisor.rpc.stopProcess("n8n", True)
    with pytest.raises(n8n_path.DispatchError, match="does not answer"):
        n8n_path.measure_dispatch(n8n_stack.settings, trials=1)
