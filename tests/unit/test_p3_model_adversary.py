"""The P3 workflow's decision half against an adversarial model (OllamaDouble, a test double, not Ollama):
whatever the model answers, the decision is an allow-listed action NAME with allow-listed parameters.

These run the workflow's own request and Code node in node.js (tests/p3_decision_harness.js);
tests/integration/test_n8n_path.py runs the same cases through the real n8n when it is installed.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from analysis.stack.n8n import WORKFLOW
from hostile_model_answers import CASES, SLOW_LATE, SLOW_OK, unsafe
from ollama_double import Answer, OllamaDouble
from ports import free_port

HARNESS = Path(__file__).resolve().parents[1] / "p3_decision_harness.js"
ALERT = {"version": "4", "status": "firing", "alerts": [
    {"status": "firing", "labels": {"alertname": "ApiHighErrorRate", "service": "api"}}]}


@pytest.fixture(scope="module")
def alert_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("p3") / "alert.json"
    path.write_text(json.dumps(ALERT))
    return path


def _decide(answers: list[Answer], alert_file: Path, timeout_ms: int | None = None,
            workflow: Path = WORKFLOW) -> tuple[list[list[dict]], OllamaDouble]:
    """One node process handles one alert per answer, in order, against a double serving ``answers``."""
    node = shutil.which("node")
    if not node:
        pytest.fail("node is not installed (apt-get install nodejs)")
    with OllamaDouble(free_port(), answers) as double:
        args = [node, str(HARNESS), str(workflow), str(alert_file), double.url, str(timeout_ms or ""),
                str(len(answers))]
        done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"the harness failed: {done.stderr[-2000:]}"
    return json.loads(done.stdout), double


@pytest.fixture(scope="module")
def decided(alert_file) -> tuple[list[list[dict]], OllamaDouble]:
    return _decide([c.answer for c in CASES], alert_file)


@pytest.mark.parametrize("i", range(len(CASES)), ids=[c.answer.label for c in CASES])
def test_any_model_answer_becomes_an_allow_listed_action_name(i, decided):
    decisions = decided[0][i]
    assert [(d["action"], d["params"]) for d in decisions] == [CASES[i].expected]
    assert not any(unsafe(d["action"], d["params"]) for d in decisions)
    assert all(len(d["reason"]) <= 400 and d["reason"].startswith("ApiHighErrorRate: ") for d in decisions)


def test_the_workflow_asks_the_model_once_per_alert_for_a_name_from_the_allow_list(decided):
    requests = decided[1].requests
    assert len(requests) == len(CASES)
    for request in requests:
        assert request["format"] == "json" and request["stream"] is False
        assert all(name in request["prompt"] for name in ("restart_service", "flush_cache", "record_only"))
        assert "ApiHighErrorRate" in request["prompt"]


def test_a_slow_answer_within_the_timeout_is_used_and_a_later_one_is_dropped(alert_file):
    (in_time,), _ = _decide([SLOW_OK.answer], alert_file, timeout_ms=3000)
    (late,), _ = _decide([SLOW_LATE.answer], alert_file, timeout_ms=1000)
    assert [(d["action"], d["params"]) for d in in_time] == [SLOW_OK.expected]
    assert [(d["action"], d["params"]) for d in late] == [SLOW_LATE.expected]


def test_the_unsafe_check_sees_an_unsafe_decision():
    """Positive control of the checker itself: it must flag what the workflow must never emit."""
    assert unsafe("execute_command", {})
    assert unsafe("restart_service", {"service": "api; rm -rf /"})
    assert unsafe("restart_service", {"service": "../../etc/passwd"})
    assert unsafe("flush_cache", {"command": "FLUSHALL"})
    assert not unsafe("restart_service", {"service": "api"}) and not unsafe("record_only", {})


def test_a_workflow_that_trusted_the_model_would_be_caught(alert_file, tmp_path):
    """Positive control of the test: a Code node that passes the model's action through fails it."""
    wf = json.loads(WORKFLOW.read_text())
    trusting = ("const s = JSON.parse($input.all()[0].json.response || '{}');\n"
                "return [{json: {action: s.action, params: {service: s.service}, reason: 'ApiHighErrorRate: x'}}];")
    next(n for n in wf["nodes"] if n["type"] == "n8n-nodes-base.code")["parameters"]["jsCode"] = trusting
    path = tmp_path / "trusting.json"
    path.write_text(json.dumps(wf))
    ((decision,),), _ = _decide([Answer(json.dumps({"action": "restart_service", "service": "api; rm -rf /"}))],
                                alert_file, workflow=path)
    assert unsafe(decision["action"], decision["params"])
